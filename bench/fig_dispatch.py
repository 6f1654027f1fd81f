"""Figure 2: ``Bridge.epoch_end`` with 0 to 16 no-op backends against direct calls."""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _format import duration, spread, straddles, table, target
from _stats import linear_fit, paired_ratios, summarize
from _workload import METRICS_MIX, NoopBackend, detect_epoch_metrics

from tune_bridge import Bridge

BACKEND_COUNTS = (0, 1, 4, 16)
TARGET_BACKENDS = 4
TARGET_RATIO = 3.0
PROFILED_BACKENDS = 4

# bridge: Bridge.epoch_end. direct_copy: one dict(metrics), then each backend's
# function (the baseline of the target). direct_float: one {key: float(value)} conversion,
# then each function: the least a caller must do to hand plain numbers on.
VARIANTS = ("bridge", "direct_copy", "direct_float")

_Function = Callable[..., None]


def _started_bridge(backends: int) -> Bridge:
    bridge = Bridge(backends=[NoopBackend(index) for index in range(backends)])
    bridge.run_start(name=f"bench-{backends}-backends")
    return bridge


def _timed(loop: Callable[[], None], calls: int) -> float:
    """Run ``loop`` with the garbage collector off and return seconds per call."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        loop()
        elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed / calls


def _bridge_loop(bridge: Bridge, metrics: dict[str, Any], first: int, calls: int) -> float:
    epoch_end = bridge.epoch_end

    def loop() -> None:
        for epoch in range(first, first + calls):
            epoch_end(epoch, metrics)

    return _timed(loop, calls)


def _copy_loop(functions: list[_Function], run: Any, metrics: dict[str, Any], calls: int) -> float:
    def loop() -> None:
        for epoch in range(1, calls + 1):
            copied = dict(metrics)
            for function in functions:
                function(run, epoch, copied, None)

    return _timed(loop, calls)


def _float_loop(functions: list[_Function], run: Any, metrics: dict[str, Any], calls: int) -> float:
    def loop() -> None:
        for epoch in range(1, calls + 1):
            converted = {key: float(value) for key, value in metrics.items()}
            for function in functions:
                function(run, epoch, converted, None)

    return _timed(loop, calls)


def measure(repetitions: int, calls: int, seed: int = 0) -> dict[str, Any]:
    """Time ``calls`` calls per block, ``repetitions`` blocks per variant, in shuffled order.

    Every repetition runs each (backend count, variant) block once, in a new random
    order, after one unrecorded warm-up repetition. Ratios pair the blocks of the
    same repetition.
    """
    metrics = detect_epoch_metrics()
    bridges = {count: _started_bridge(count) for count in BACKEND_COUNTS}
    functions = {
        count: [backend.tune_bridge_epoch_end for backend in bridge.backends.values()]
        for count, bridge in bridges.items()
    }
    next_epoch = dict.fromkeys(BACKEND_COUNTS, 1)
    samples: dict[tuple[int, str], list[float]] = {
        (count, variant): [] for count in BACKEND_COUNTS for variant in VARIANTS
    }
    blocks = list(samples)
    shuffler = random.Random(seed)

    for repetition in range(repetitions + 1):
        shuffler.shuffle(blocks)
        for count, variant in blocks:
            bridge = bridges[count]
            if variant == "bridge":
                # The Bridge drops an epoch that is not greater than the last one, so
                # epochs keep increasing across blocks.
                per_call = _bridge_loop(bridge, metrics, next_epoch[count], calls)
                next_epoch[count] += calls
            elif variant == "direct_copy":
                per_call = _copy_loop(functions[count], bridge.run, metrics, calls)
            else:
                per_call = _float_loop(functions[count], bridge.run, metrics, calls)
            if repetition > 0:
                samples[(count, variant)].append(per_call)

    for count, bridge in bridges.items():
        if bridge.last_epoch != next_epoch[count] - 1:
            raise RuntimeError(
                f"the Bridge with {count} backends sent epoch {bridge.last_epoch}, "
                f"expected {next_epoch[count] - 1}: some calls were dropped"
            )
        bridge.run_end()

    rows = []
    for count in BACKEND_COUNTS:
        bridge_times = samples[(count, "bridge")]
        summaries = {variant: summarize(samples[(count, variant)]) for variant in VARIANTS}
        rows.append(
            {
                "backends": count,
                **summaries,
                "ratio_copy": summarize(
                    paired_ratios(bridge_times, samples[(count, "direct_copy")])
                ),
                "ratio_float": summarize(
                    paired_ratios(bridge_times, samples[(count, "direct_float")])
                ),
                "ratio_copy_of_minimums": summaries["bridge"]["min"]
                / summaries["direct_copy"]["min"],
                "ratio_float_of_minimums": summaries["bridge"]["min"]
                / summaries["direct_float"]["min"],
            }
        )
    # The fit uses the fastest block per count because on a shared machine the slower
    # blocks mostly measure other processes, as the documentation of Python's timeit notes.
    minimums = {variant: [row[variant]["min"] for row in rows] for variant in VARIANTS}
    return {
        "repetitions": repetitions,
        "calls": calls,
        "rows": rows,
        "fit": {
            variant: linear_fit(list(BACKEND_COUNTS), minimums[variant]) for variant in VARIANTS
        },
    }


def profile(calls: int, output_dir: Path | None = None) -> dict[str, Any]:
    """Profile ``calls`` epoch_end calls with 4 no-op backends under cProfile.

    Returns the functions with the largest own time. When pyinstrument is installed
    and ``output_dir`` is given, also writes its call tree as text there.
    """
    metrics = detect_epoch_metrics()
    bridge = _started_bridge(PROFILED_BACKENDS)
    epoch_end = bridge.epoch_end

    profiler = cProfile.Profile()
    profiler.enable()
    for epoch in range(1, calls + 1):
        epoch_end(epoch, metrics)
    profiler.disable()

    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    functions = []
    for (filename, line, name), (_, calls_made, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        functions.append(
            {
                "function": _short_location(filename, line, name),
                "calls_per_epoch_end": calls_made / calls,
                "own_share": own / total,
                "cumulative_share": cumulative / total,
            }
        )
    functions.sort(key=lambda row: -row["own_share"])

    tree_path = None
    if output_dir is not None:
        tree_path = _pyinstrument_tree(bridge, metrics, calls, output_dir)
    bridge.run_end()
    return {"calls": calls, "functions": functions[:12], "pyinstrument": tree_path}


def _short_location(filename: str, line: int, name: str) -> str:
    if filename == "~":  # a built-in function or method
        return name
    marker = "/src/"
    short = filename.split(marker, 1)[1] if marker in filename else Path(filename).name
    return f"{short}:{line} {name}"


def _pyinstrument_tree(
    bridge: Bridge, metrics: dict[str, Any], calls: int, output_dir: Path
) -> str | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    first = bridge.last_epoch + 1
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for epoch in range(first, first + calls):
        bridge.epoch_end(epoch, metrics)
    profiler.stop()
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "profile-dispatch.txt"
    path.write_text(
        profiler.output_text(unicode=True, color=False, show_all=True), encoding="utf-8"
    )
    return str(path)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the targets of figure 2 and whether the run met them."""
    row = next(row for row in result["rows"] if row["backends"] == TARGET_BACKENDS)
    ratio = row["ratio_copy"]["median"]
    fit = result["fit"]["bridge"]
    return [
        target(
            "2. Dispatch",
            f"{TARGET_BACKENDS} backends ≤ {TARGET_RATIO:g}x direct calls on dict(metrics)",
            f"{ratio:.1f}x (against float() conversion: {row['ratio_float']['median']:.2f}x)",
            ratio <= TARGET_RATIO,
            straddles(row["ratio_copy"], TARGET_RATIO),
        ),
        target(
            "2. Dispatch",
            "linear in backends (R² of a line fit ≥ 0.95)",
            f"R² {fit['r_squared']:.3f}, {duration(fit['slope'], 'µs')} per backend",
            fit["r_squared"] >= 0.95,
        ),
    ]


def section(result: dict[str, Any], profiled: dict[str, Any] | None) -> list[str]:
    """Return the Markdown section of figure 2, with the profile when one was taken."""
    rows = []
    for row in result["rows"]:
        rows.append(
            [
                str(row["backends"]),
                spread(row["bridge"], "µs"),
                spread(row["direct_copy"], "µs"),
                spread(row["direct_float"], "µs"),
                spread(row["ratio_copy"], digits=1),
                f"{row['ratio_copy_of_minimums']:.1f}",
                spread(row["ratio_float"]),
                f"{row['ratio_float_of_minimums']:.2f}",
            ]
        )
    fits = []
    for variant, label in (
        ("bridge", "Bridge.epoch_end"),
        ("direct_copy", "direct, dict copy"),
        ("direct_float", "direct, float() conversion"),
    ):
        fit = result["fit"][variant]
        fits.append(
            [
                label,
                duration(fit["intercept"], "µs"),
                duration(fit["slope"], "µs"),
                f"{fit['r_squared']:.4f}",
            ]
        )
    lines = [
        "## 2. Dispatch",
        "",
        "`Bridge.epoch_end(epoch, metrics)` with 0, 1, 4 and 16 backends whose only hook is "
        "a no-op `tune_bridge_epoch_end` (`tune_bridge_should_stop` is not implemented), "
        "against calling the same bound methods directly. Metrics: " + METRICS_MIX,
        "",
        "Baselines: **direct, dict copy** makes one `dict(metrics)` per call and passes it "
        "to every function, the baseline of the target. **direct, "
        "float()** builds `{key: float(value)}` once per call instead, the least a caller "
        "must do to hand plain numbers on. The Bridge cleans the dict once and gives each "
        "backend its own copy. Epochs increase on every call, so the Bridge drops none.",
        "",
        f"Each block times {result['calls']} calls with the garbage collector off. Each of "
        f"{result['repetitions']} repetitions runs every block once in a new random order, "
        "after one unrecorded warm-up repetition. Times are per call, min / median / max "
        "over repetitions. Ratios pair the blocks of one repetition, and the ratio of "
        "minimums divides the fastest blocks, which is steadier on a busy machine.",
        "",
        *table(
            [
                "backends",
                "Bridge",
                "direct, dict copy",
                "direct, float()",
                "ratio to dict copy",
                "of minimums",
                "ratio to float()",
                "of minimums",
            ],
            rows,
        ),
        "",
        "Least-squares line through the fastest time per call against the number of "
        "backends (the fastest block is the one least disturbed by other processes):",
        "",
        *table(["variant", "intercept", "per backend", "R²"], fits),
    ]
    if profiled is not None:
        lines += ["", *_profile_lines(profiled)]
    return lines


def _profile_lines(profiled: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"`{row['function']}`",
            f"{row['calls_per_epoch_end']:.2f}",
            f"{row['own_share']:.0%}",
            f"{row['cumulative_share']:.0%}",
        ]
        for row in profiled["functions"]
    ]
    lines = [
        "### Profile",
        "",
        f"cProfile over {profiled['calls']} calls with {PROFILED_BACKENDS} no-op backends "
        "and the same metrics. cProfile adds a fixed cost to every Python call, so the "
        "shares overstate small functions: read them as an order, not as times.",
        "",
        *table(["function", "calls per epoch_end", "own time", "with callees"], rows),
    ]
    if profiled.get("pyinstrument"):
        lines += [
            "",
            "The run also writes a pyinstrument call tree of the same workload to "
            "`bench/results/profile-dispatch.txt`, which is not committed.",
        ]
    return lines
