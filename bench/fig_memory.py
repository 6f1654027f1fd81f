"""Figure 5: memory of many ``epoch_end`` calls with the JSONL backend.

Each run is a new interpreter (``python bench/fig_memory.py CALLS WARMUP FOLDER``), so
that the peak RSS belongs to this workload alone and not to earlier figures.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

TARGET_GROWTH_BYTES = 1024**2
MIB = 1024**2


def _rss_bytes() -> int:
    """Return the current resident set size, read from /proc/self/statm."""
    with open("/proc/self/statm", encoding="ascii") as file:
        pages = int(file.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(calls: int, warmup: int, folder: Path) -> dict[str, Any]:
    """Run the workload in this process and return its measurements."""
    from _workload import detect_epoch_metrics

    from tune_bridge import Bridge

    metrics = detect_epoch_metrics()
    bridge = Bridge(backends=["jsonl"])
    bridge.run_start(name="bench-memory", run_dir=folder)

    tracemalloc.start()
    for epoch in range(1, warmup + 1):
        bridge.epoch_end(epoch, metrics)
    gc.collect()
    heap_before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    rss_before = _rss_bytes()

    start = time.perf_counter()
    for epoch in range(warmup + 1, warmup + calls + 1):
        bridge.epoch_end(epoch, metrics)
    elapsed = time.perf_counter() - start

    gc.collect()
    heap_after, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _rss_bytes()
    path = folder / "tune_bridge.jsonl"
    bridge.run_end()
    lines = sum(1 for _ in path.open(encoding="utf-8"))
    return {
        "calls": calls,
        "heap_growth": heap_after - heap_before,
        "heap_peak_above_start": heap_peak - heap_before,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "peak_rss": _peak_rss_bytes(),
        "seconds_per_call": elapsed / calls,
        "file_bytes": path.stat().st_size,
        "file_lines": lines,
    }


def measure(runs: int, calls: int, warmup: int, workdir: Path) -> dict[str, Any]:
    """Run the workload ``runs`` times, each in a new interpreter, and summarize."""
    from _stats import summarize

    samples = []
    for index in range(runs):
        folder = workdir / f"memory-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(calls), str(warmup), str(folder)],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-10:])
            raise RuntimeError(
                f"memory run {index} exited with status {result.returncode}:\n{tail}"
            )
        sample = json.loads(result.stdout.strip().splitlines()[-1])
        # run_start and run_end add one line each around the epochs.
        expected_lines = warmup + calls + 2
        if sample["file_lines"] != expected_lines:
            raise RuntimeError(
                f"the JSONL file has {sample['file_lines']} lines, expected {expected_lines}"
            )
        samples.append(sample)
        (folder / "tune_bridge.jsonl").unlink()

    keys = ("heap_growth", "heap_peak_above_start", "rss_before", "peak_rss", "seconds_per_call")
    return {
        "runs": runs,
        "calls": calls,
        "warmup": warmup,
        "file_bytes": samples[0]["file_bytes"],
        **{key: summarize([sample[key] for sample in samples]) for key in keys},
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the target of figure 5 and whether the run met it."""
    from _format import target

    growth = result["heap_growth"]["max"]
    return [
        target(
            "5. Memory",
            f"tracemalloc growth < 1 MiB after {result['calls']:,} calls",
            f"{growth / 1024:.1f} KiB (largest of {result['runs']} runs)",
            growth < TARGET_GROWTH_BYTES,
        )
    ]


def section(result: dict[str, Any]) -> list[str]:
    """Return the Markdown section of figure 5."""
    from _format import spread, table
    from _workload import METRICS_MIX

    def kib(summary: dict[str, Any]) -> str:
        return (
            spread({key: summary[key] / 1024 for key in ("min", "median", "max")}, digits=1)
            + " KiB"
        )

    def mib(summary: dict[str, Any]) -> str:
        return (
            spread({key: summary[key] / MIB for key in ("min", "median", "max")}, digits=0) + " MiB"
        )

    rows = [
        ["tracemalloc growth (after − before)", kib(result["heap_growth"])],
        ["tracemalloc peak above the start of the loop", kib(result["heap_peak_above_start"])],
        ["RSS after the warm-up", mib(result["rss_before"])],
        ["peak RSS of the process (`ru_maxrss`)", mib(result["peak_rss"])],
        ["time per call", spread(result["seconds_per_call"], "µs", 1)],
    ]
    return [
        "## 5. Memory",
        "",
        f"`Bridge(backends=['jsonl']).epoch_end` called {result['calls']:,} times after a "
        f"warm-up of {result['warmup']:,} calls, appending to a JSONL file in a temporary "
        f"folder ({result['file_bytes'] / MIB:.0f} MiB per run). Metrics: " + METRICS_MIX,
        "",
        f"Each of the {result['runs']} runs is a new interpreter that imports numpy and torch "
        "for the metrics, so the RSS is mostly theirs. tracemalloc traces from before the "
        "warm-up. Growth is the traced size after the loop minus the size before it, both "
        "after `gc.collect()`. Time per call includes tracemalloc's overhead and one "
        "flushed write per call. There is no baseline, so there is no ratio.",
        "",
        *table(["", "min / median / max"], rows),
    ]


if __name__ == "__main__":
    # Run as a script, this folder is sys.path[0], so _workload imports.
    print(json.dumps(child(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))))
