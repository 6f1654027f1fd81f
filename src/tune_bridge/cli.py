"""The ``tune-bridge`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tune_bridge.plugins import BackendConflictError, discover_backends


def _list_backends(args: argparse.Namespace) -> int:
    try:
        plugins = discover_backends()
    except BackendConflictError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    header = ("name", "distribution", "version", "kind", "default", "dependency", "status")
    rows = [header]
    for name in sorted(plugins):
        plugin = plugins[name]
        if plugin.factory is None:
            status = f"failed to load: {plugin.error}"
            dependency = "-"
        else:
            status = "ok"
            requires = ", ".join(plugin.requires) or "-"
            if plugin.requires:
                state = "importable" if plugin.dependencies_importable() else "missing"
                dependency = f"{requires} ({state})"
            else:
                dependency = "-"
        rows.append(
            (
                name,
                plugin.distribution,
                plugin.version,
                "built-in" if plugin.builtin else "plugin",
                "yes" if plugin.default_enabled else "no",
                dependency,
                status,
            )
        )

    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from tune_bridge.demo import main as demo_main

    return demo_main(args.demo_args)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``tune-bridge``."""
    parser = argparse.ArgumentParser(
        prog="tune-bridge",
        description="Inspect tune_bridge backends and run the demo sweep.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    backends = commands.add_parser(
        "backends",
        help="list discovered backends",
        description="List every backend found in the 'tune_bridge' entry-point group: name, "
        "distribution and version, built-in or plugin, enabled by default or not, and whether "
        "the module it needs can be imported.",
    )
    backends.set_defaults(handler=_list_backends)

    demo = commands.add_parser(
        "demo",
        help="run the Ray Tune sweep of YOLO on the handwritten digits",
        description="Run examples/tune_yolo_digits.py; arguments after 'demo' are passed on.",
        add_help=False,
    )
    demo.set_defaults(handler=_run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    parser = build_parser()
    # Options after "demo" belong to the sweep, which has a parser of its own, so
    # they are passed on instead of being parsed here.
    args, unknown = parser.parse_known_args(argv)
    if args.command == "demo":
        args.demo_args = unknown
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
