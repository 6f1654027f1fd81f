"""Figure 1: ``import tune_bridge`` against ``import pluggy``, each in a new interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _format import duration, spread, straddles, table, target
from _stats import abba_order, paired_ratios, summarize

HEAVY_MODULES = ("ray", "torch", "numpy", "ultralytics", "pandas")
TARGET_RATIO = 1.5

# Times only the import statement, so that interpreter start-up, which both variants
# share, does not dilute the ratio.
_TIMING_CODE = """\
import time
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""

_MODULES_CODE = """\
import sys
import pluggy
before = set(sys.modules)
import tune_bridge
print("\\n".join(sorted(set(sys.modules) - before)))
"""


def _python(code: str, cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    # An editable install has no .pyc files for tune_bridge, and with
    # PYTHONDONTWRITEBYTECODE set every run would compile it from source while pluggy
    # loads the .pyc files that pip wrote. Both modules therefore cache bytecode in
    # one folder of the work directory, which the first, unrecorded runs fill.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
    result = subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise RuntimeError(f"python -c {code!r} exited with status {result.returncode}:\n{tail}")
    return result


def _time_import(module: str, cwd: Path) -> tuple[float, float]:
    """Return (seconds of the import statement, seconds of the whole process)."""
    start = time.perf_counter()
    result = _python(_TIMING_CODE.format(module=module), cwd)
    process = time.perf_counter() - start
    return float(result.stdout.strip().splitlines()[-1]), process


def _heavy(modules: list[str]) -> list[str]:
    return sorted(
        {
            heavy
            for name in modules
            for heavy in HEAVY_MODULES
            if name == heavy or name.startswith(heavy + ".")
        }
    )


def _import_time_leaders(cwd: Path, added: set[str], count: int = 8) -> list[dict[str, Any]]:
    """Rank the modules that tune_bridge adds by cumulative ``-X importtime`` cost."""
    result = _python("import pluggy\nimport tune_bridge", cwd, "-X", "importtime")
    ranked: list[dict[str, Any]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        self_us, cumulative_us, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        # The header line has words in place of numbers.
        if name in added and self_us.isdigit():
            ranked.append(
                {"module": name, "self_us": int(self_us), "cumulative_us": int(cumulative_us)}
            )
    ranked.sort(key=lambda row: -row["cumulative_us"])
    return ranked[:count]


def measure(runs: int, workdir: Path) -> dict[str, Any]:
    """Time ``runs`` imports of each module, alternating A/B, and list the added modules."""
    cwd = workdir / "import"
    cwd.mkdir(parents=True, exist_ok=True)
    # One unrecorded run each fills the file cache and the bytecode cache.
    _time_import("pluggy", cwd)
    _time_import("tune_bridge", cwd)

    samples: dict[str, list[float]] = {"tune_bridge": [], "pluggy": []}
    processes: dict[str, list[float]] = {"tune_bridge": [], "pluggy": []}
    for slot in abba_order(runs):
        module = "tune_bridge" if slot == "A" else "pluggy"
        statement, process = _time_import(module, cwd)
        samples[module].append(statement)
        processes[module].append(process)

    added = _python(_MODULES_CODE, cwd).stdout.split()
    heavy = _heavy(
        _python("import sys, tune_bridge\nprint('\\n'.join(sys.modules))", cwd).stdout.split()
    )
    ratios = paired_ratios(samples["tune_bridge"], samples["pluggy"])
    return {
        "runs": runs,
        "tune_bridge": summarize(samples["tune_bridge"]),
        "pluggy": summarize(samples["pluggy"]),
        "ratio": summarize(ratios),
        "process_tune_bridge": summarize(processes["tune_bridge"]),
        "process_pluggy": summarize(processes["pluggy"]),
        "process_ratio": summarize(paired_ratios(processes["tune_bridge"], processes["pluggy"])),
        "added_modules": added,
        "heavy_modules": heavy,
        "import_time_leaders": _import_time_leaders(cwd, set(added)),
    }


def _ratio_of_minimums(result: dict[str, Any]) -> float:
    return float(result["tune_bridge"]["min"] / result["pluggy"]["min"])


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the targets of figure 1 and whether the run met them."""
    ratio = result["ratio"]["median"]
    heavy = result["heavy_modules"]
    measured = (
        f"{ratio:.2f} (pairs {result['ratio']['min']:.2f} to {result['ratio']['max']:.2f}, "
        f"ratio of minimums {_ratio_of_minimums(result):.2f})"
    )
    return [
        target(
            "1. Import",
            f"ratio ≤ {TARGET_RATIO}",
            measured,
            ratio <= TARGET_RATIO,
            straddles(result["ratio"], TARGET_RATIO),
        ),
        target(
            "1. Import",
            "no heavy module (" + ", ".join(HEAVY_MODULES) + ")",
            ", ".join(heavy) if heavy else "none imported",
            not heavy,
        ),
    ]


def section(result: dict[str, Any]) -> list[str]:
    """Return the Markdown section of figure 1."""
    runs = result["runs"]
    rows = [
        [
            "`import pluggy`",
            spread(result["pluggy"], "ms"),
            spread(result["process_pluggy"], "ms", 0),
        ],
        [
            "`import tune_bridge`",
            spread(result["tune_bridge"], "ms"),
            spread(result["process_tune_bridge"], "ms", 0),
        ],
        [
            "ratio tune_bridge / pluggy",
            spread(result["ratio"]),
            spread(result["process_ratio"]),
        ],
    ]
    lines = [
        "## 1. Import",
        "",
        f"Each import runs in a new interpreter, {runs} times per module, alternating "
        "A B B A. The first column times the import statement alone with "
        "`time.perf_counter()`, and the second times the whole process from start to exit, "
        "interpreter start-up included. `import tune_bridge` imports pluggy itself, so "
        "its time includes pluggy's. Ratios are taken per pair of neighbouring runs. "
        "Every run reads bytecode from one cache folder (`PYTHONPYCACHEPREFIX`) that an "
        "unrecorded first run of each module fills. The editable install has no `.pyc` "
        "files for tune_bridge, so where `PYTHONDONTWRITEBYTECODE` is set, every import "
        "would otherwise compile tune_bridge from source while pluggy loads the `.pyc` "
        "files that pip wrote.",
        "",
        *table(["", "import statement (min / median / max)", "whole process"], rows),
        "",
        "Ratio of the fastest import statements, the estimate least disturbed by other "
        f"processes: {_ratio_of_minimums(result):.2f}.",
        "",
    ]
    heavy = result["heavy_modules"]
    lines.append(
        "Heavy modules after `import tune_bridge`: "
        + (", ".join(f"`{name}`" for name in heavy) if heavy else "none")
        + " (checked: "
        + ", ".join(f"`{name}`" for name in HEAVY_MODULES)
        + ", with their submodules)."
    )
    added = result["added_modules"]
    lines += [
        "",
        f"Modules that `import tune_bridge` adds to `sys.modules` after `import pluggy` "
        f"({len(added)}):",
        "",
        ", ".join(f"`{name}`" for name in added) + ".",
        "",
        "The largest of them by cumulative import time, from one run of "
        "`python -X importtime -c 'import pluggy; import tune_bridge'` (a single run, "
        "so only the order is reliable):",
        "",
    ]
    leaders = [
        [
            f"`{row['module']}`",
            duration(row["self_us"] / 1e6, "ms"),
            duration(row["cumulative_us"] / 1e6, "ms"),
        ]
        for row in result["import_time_leaders"]
    ]
    lines += table(["module", "self", "cumulative"], leaders)
    return lines
