"""Render one benchmark run as the Markdown results page."""

from __future__ import annotations

from typing import Any

import fig_dispatch
import fig_import
import fig_memory
import fig_sweep
import fig_tune_report
from _format import table, verdict

_TITLES = {
    1: "1. Import",
    2: "2. Dispatch",
    3: "3. Reports inside a Tune trial",
    4: "4. End-to-end sweep",
    5: "5. Memory",
}


def _targets(number: int, result: dict[str, Any]) -> list[dict[str, Any]]:
    module = {
        1: fig_import,
        2: fig_dispatch,
        3: fig_tune_report,
        4: fig_sweep,
        5: fig_memory,
    }[number]
    return module.targets(result)  # type: ignore[no-any-return]


def _section(number: int, result: dict[str, Any]) -> list[str]:
    if number == 1:
        return fig_import.section(result)
    if number == 2:
        return fig_dispatch.section(result, result.get("profile"))
    if number == 3:
        lines = fig_tune_report.section(result)
    elif number == 4:
        lines = fig_sweep.section(result)
    else:
        return fig_memory.section(result)
    if result.get("failed_attempts"):
        lines += [
            "",
            f"This figure needed {result['attempts']} attempts. The failed ones ended with: "
            + ", ".join(f"`{failure}`" for failure in result["failed_attempts"])
            + ".",
        ]
    return lines


def _setup(run: dict[str, Any]) -> list[str]:
    environment = run["environment"]
    packages = ", ".join(f"{name} {version}" for name, version in environment["packages"].items())
    durations = ", ".join(
        f"figure {number}: {seconds:.0f} s" for number, seconds in run["durations"].items()
    )
    return [
        "## Set-up",
        "",
        f"- Command: `{run['command']}` ({run['mode']} mode), from the repository root.",
        f"- Date: {environment['date']}. Measured tune_bridge: {environment['source']}.",
        f"- Machine: {environment['cpu']}, {environment['cpus']} CPUs "
        f"({environment['usable_cpus']} usable), {environment['memory']} memory, "
        f"{environment['platform']}.",
        f"- Python: {environment['python']}.",
        f"- Packages: {packages}.",
        f"- Load average (1 / 5 / 15 min) at the start: {environment['load_start']}, at the "
        f"end: {environment['load_end']}. The machine is shared, so absolute times vary "
        "from run to run, and the ratios compare runs taken side by side.",
        f"- Run time: {run['seconds'] / 60:.1f} min ({durations}).",
    ]


def render(run: dict[str, Any]) -> str:
    """Return the page for ``run``, the dict that ``bench/run.py`` builds."""
    results = {int(number): result for number, result in run["results"].items()}
    errors = {int(number): error for number, error in run["errors"].items()}

    summary_rows = []
    for number, result in sorted(results.items()):
        for row in _targets(number, result):
            summary_rows.append(
                [
                    row["figure"],
                    row["target"],
                    row["measured"],
                    verdict(row["met"], row.get("mixed", False)),
                ]
            )
    for number in sorted(errors):
        summary_rows.append([_TITLES[number], "", "the figure failed to run", "unknown"])

    lines = [
        "# Benchmarks",
        "",
        "What tune_bridge costs against pluggy alone, direct function calls, raw Ray Tune "
        "reports and Ultralytics' own Ray Tune callback. `python bench/run.py` (or "
        "`nox -s bench`) measures everything and rewrites this page, so do not edit it by "
        "hand. Each figure reports min / median / max over repeated runs, and each ratio "
        "pairs two measurements taken next to each other in the same run. A ratio is the "
        "median of those paired ratios.",
        "",
        *_setup(run),
        "",
        "## Targets",
        "",
        *(
            [
                "Quick mode runs every figure at a small size, with one or two pairs per "
                "ratio, so the statuses below only show that the scripts work. The full "
                "run's page is `docs/benchmarks.md`.",
                "",
            ]
            if run["mode"] == "quick"
            else []
        ),
        *table(["figure", "target", "measured (median)", "status"], summary_rows),
    ]
    for number in sorted(set(results) | set(errors)):
        lines.append("")
        if number in errors:
            lines += [
                f"## {_TITLES[number]}",
                "",
                "The figure failed to run:",
                "",
                "```text",
                errors[number].rstrip(),
                "```",
            ]
        else:
            lines += _section(number, results[number])
    return "\n".join(lines) + "\n"
