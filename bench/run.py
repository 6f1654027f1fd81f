"""Run the tune_bridge benchmarks and write the results page.

    python bench/run.py            # full run: rewrites docs/benchmarks.md
    python bench/run.py --quick    # small run for CI: writes bench/results/quick.md

On a shared 2-core machine the full run took about 7 minutes at a low load and longer
under load, and the quick run 1 to 2 minutes.

Figures: 1 import, 2 dispatch (with a profile), 3 reports inside a Tune trial, 4 an
end-to-end YOLO sweep, 5 memory. Missed targets are reported in the page, and the exit
status is non-zero only when a figure fails to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIR.parent
PUBLISHED_PAGE = REPOSITORY / "docs" / "benchmarks.md"
RESULTS_DIR = BENCH_DIR / "results"

FIGURES = (1, 2, 3, 4, 5)
# Figures that start Ray run in a child interpreter: a Ray instance that dies (for
# example when another process on the machine runs `ray stop`) terminates its driver.
CHILD_FIGURES = (3, 4)


@dataclass(frozen=True)
class Plan:
    """Sizes of every figure for one mode."""

    import_runs: int
    dispatch_repetitions: int
    dispatch_calls: int
    profile_calls: int
    report_pairs: int
    reports: int
    sweep_rounds: int
    sweep_trials: int
    sweep_epochs: int
    sweep_per_class: int | None
    memory_runs: int
    memory_calls: int
    memory_warmup: int


FULL = Plan(
    import_runs=20,
    dispatch_repetitions=150,
    dispatch_calls=200,
    profile_calls=20000,
    report_pairs=5,
    reports=500,
    sweep_rounds=3,
    sweep_trials=4,
    sweep_epochs=3,
    sweep_per_class=None,
    memory_runs=3,
    memory_calls=100_000,
    memory_warmup=1000,
)

QUICK = Plan(
    import_runs=6,
    dispatch_repetitions=30,
    dispatch_calls=100,
    profile_calls=5000,
    report_pairs=1,
    reports=100,
    sweep_rounds=1,
    sweep_trials=2,
    sweep_epochs=1,
    sweep_per_class=20,
    memory_runs=2,
    memory_calls=10_000,
    memory_warmup=1000,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Run the tune_bridge benchmarks and write a Markdown results page.",
    )

    parser.add_argument(
        "--quick",
        action="store_true",
        help="run every figure at a small size for CI and write bench/results/quick.md",
    )

    parser.add_argument(
        "--figures",
        default=",".join(map(str, FIGURES)),
        help="comma-separated figure numbers to run (default: all). A subset is never "
        "written to docs/benchmarks.md unless --out names it",
    )

    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Markdown page to write (default: docs/benchmarks.md for a full run of all "
        "figures, otherwise bench/results/<quick|partial>.md)",
    )

    parser.add_argument(
        "--revision",
        default=None,
        help="measure the src/ folder of this git commit (exported with git archive) in "
        "place of the installed tune_bridge, for example HEAD while the working tree has "
        "uncommitted changes (default: the installed tune_bridge)",
    )

    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="extra attempts for a Ray figure whose child process fails (default: 1)",
    )

    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="write the page again from the raw results of an earlier run (the JSON file "
        "that each run writes to bench/results/) without measuring anything",
    )

    # Internal: run one figure in this process and write its result as JSON.
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)

    return parser


def _figures(text: str) -> list[int]:
    try:
        numbers = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise SystemExit(
            f"error: --figures must be numbers separated by commas, got {text!r}"
        ) from error
    unknown = [number for number in numbers if number not in FIGURES]
    if unknown or not numbers:
        raise SystemExit(f"error: --figures takes numbers from {FIGURES}, got {text!r}")
    return numbers


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_figure(number: int, plan: Plan, workdir: Path) -> dict[str, Any]:
    """Run one figure in this process and return its result."""
    if number == 1:
        import fig_import

        return fig_import.measure(plan.import_runs, workdir)
    if number == 2:
        import fig_dispatch

        result = fig_dispatch.measure(plan.dispatch_repetitions, plan.dispatch_calls)
        result["profile"] = fig_dispatch.profile(plan.profile_calls, RESULTS_DIR)
        return result
    if number == 3:
        import fig_tune_report

        return fig_tune_report.measure(plan.report_pairs, plan.reports, workdir)
    if number == 4:
        import fig_sweep

        return fig_sweep.measure(
            plan.sweep_rounds, plan.sweep_trials, plan.sweep_epochs, plan.sweep_per_class, workdir
        )
    import fig_memory

    return fig_memory.measure(plan.memory_runs, plan.memory_calls, plan.memory_warmup, workdir)


def measure_in_child(number: int, quick: bool, workdir: Path, retries: int) -> dict[str, Any]:
    """Run one figure in a new interpreter, retrying when the child fails."""
    output = workdir / f"figure-{number}.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(number),
        "--child-output",
        str(output),
    ]
    if quick:
        command.append("--quick")
    failures: list[str] = []
    for attempt in range(1, retries + 2):
        attempt_dir = workdir / f"figure-{number}-attempt-{attempt}"
        attempt_dir.mkdir(parents=True)
        completed = subprocess.run(
            [*command, "--workdir", str(attempt_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode == 0 and output.is_file():
            result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
            result["attempts"] = attempt
            result["failed_attempts"] = failures
            return result
        lines = completed.stderr.strip().splitlines()
        last_line = lines[-1] if lines else "no output on stderr"
        failures.append(f"exit status {completed.returncode}: {last_line}")
        tail = "\n".join(lines[-15:])
        _log(f"figure {number}, attempt {attempt}: exit status {completed.returncode}\n{tail}")
    raise RuntimeError(f"figure {number} failed in {retries + 1} attempts: {failures}")


def _use_revision(revision: str, folder: Path) -> None:
    """Export ``src/`` of ``revision`` into ``folder`` and import tune_bridge from there.

    The folder goes first on ``sys.path`` and on ``PYTHONPATH``, which the child
    interpreters and the Ray workers inherit.
    """
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision, "src"],
        cwd=REPOSITORY,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise SystemExit(f"error: git archive of revision {revision!r} failed: {message}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    source = str(folder / "src")
    sys.path.insert(0, source)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))


def _render_again(raw: Path, out: Path | None) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    from _page import render

    try:
        run = json.loads(raw.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: cannot read the raw results {raw}: {error}") from error
    figures = sorted(int(number) for number in (*run["results"], *run["errors"]))
    page = (out or _default_page(run["mode"] == "quick", figures)).resolve()
    page.write_text(render(run), encoding="utf-8")
    _log(f"wrote {page} from {raw}")
    return 0


def _default_page(quick: bool, figures: list[int]) -> Path:
    if quick:
        return RESULTS_DIR / "quick.md"
    if figures != list(FIGURES):
        return RESULTS_DIR / "partial.md"
    return PUBLISHED_PAGE


def _run_child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    from _env import configure_offline

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tune_bridge_bench_"))
    configure_offline(workdir)
    result = measure_figure(args.child, QUICK if args.quick else FULL, workdir)
    args.child_output.write_text(json.dumps(result), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the selected figures, write the page and the raw JSON, and return the exit status."""
    args = build_parser().parse_args(argv)
    if args.child is not None:
        return _run_child(args)
    if args.render is not None:
        return _render_again(args.render, args.out)
    figures = _figures(args.figures)
    if args.retries < 0:
        raise SystemExit(f"error: --retries must be 0 or more, got {args.retries}")

    sys.path.insert(0, str(BENCH_DIR))
    from _env import configure_offline, describe_environment, load_average
    from _page import render

    plan = QUICK if args.quick else FULL
    page = (args.out or _default_page(args.quick, figures)).resolve()
    command = shlex.join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()

    results: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}
    durations: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="tune_bridge_bench_") as temporary:
        workdir = Path(temporary)
        if args.revision is not None:
            _use_revision(args.revision, workdir / "source")
        environment = describe_environment(args.revision)
        configure_offline(workdir)
        for number in figures:
            _log(f"figure {number}: started")
            figure_started = time.perf_counter()
            try:
                if number in CHILD_FIGURES:
                    results[number] = measure_in_child(number, args.quick, workdir, args.retries)
                else:
                    results[number] = measure_figure(number, plan, workdir)
            except Exception:
                errors[number] = traceback.format_exc()
                _log(f"figure {number}: failed\n{errors[number]}")
            durations[number] = time.perf_counter() - figure_started
            _log(f"figure {number}: finished in {durations[number]:.0f} s")

    environment["load_end"] = load_average()
    run = {
        "mode": "quick" if args.quick else "full",
        "command": command,
        "plan": asdict(plan),
        "environment": environment,
        "seconds": time.perf_counter() - started,
        "durations": durations,
        "results": results,
        "errors": errors,
    }
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(run), encoding="utf-8")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = RESULTS_DIR / f"{page.stem}.json"
    raw.write_text(json.dumps(run, indent=1, default=str), encoding="utf-8")
    _log(f"wrote {page} and {raw} after {run['seconds']:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
