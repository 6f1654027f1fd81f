"""Figure 3: reports through the Bridge against raw ``ray.tune.report`` inside Tune trials."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from _format import duration, spread, straddles, table, target
from _stats import abba_order, paired_ratios, summarize
from _workload import float_metrics

TARGET_RATIO = 1.10
VARIANTS = {"A": "bridge", "B": "raw"}


def report_trainable(config: dict[str, Any], order: list[str], reports: int, out: str) -> None:
    """Send ``reports`` results in one Tune trial and write the loop's duration to ``out``.

    The ``bridge`` variant builds ``Bridge(backends=["ray"])`` and calls ``epoch_end``, and
    the ``raw`` variant calls ``ray.tune.report`` with the same metrics plus ``epoch``.
    Only the loop is timed, and the Bridge's set-up is timed separately.
    """
    slot = config["slot"]
    variant = order[slot]
    metrics = float_metrics()
    setup = 0.0
    sent = reports

    if variant == "bridge":
        from tune_bridge import Bridge

        start = time.perf_counter()
        bridge = Bridge(backends=["ray"])
        bridge.run_start(name=f"bench-report-{slot}")
        setup = time.perf_counter() - start

        epoch_end = bridge.epoch_end
        cpu_start = time.process_time()
        start = time.perf_counter()
        for epoch in range(1, reports + 1):
            epoch_end(epoch, metrics)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start

        sent = bridge.backends["ray"].reports
        bridge.run_end()
    else:
        from ray import tune

        report = tune.report
        cpu_start = time.process_time()
        start = time.perf_counter()
        for epoch in range(1, reports + 1):
            report({**metrics, "epoch": epoch})
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start

    record = {
        "slot": slot,
        "variant": variant,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "setup": setup,
        "sent": sent,
    }
    Path(out, f"slot-{slot}.json").write_text(json.dumps(record), encoding="utf-8")


def _report_path_cost(calls: int = 1000, repetitions: int = 20) -> dict[str, float]:
    """Time the Bridge's path to Ray outside any trial, with a no-op in place of report.

    Returns the fastest seconds per call of ``Bridge(backends=[RayBackend()]).epoch_end``
    and of building ``{**metrics, "epoch": epoch}`` for a direct call. The backend
    reports only inside a session, so the bench sets its private ``_api`` by hand.
    """
    from tune_bridge import Bridge
    from tune_bridge.backends._ray_session import RayApi
    from tune_bridge.backends.ray import RayBackend

    def report(metrics: dict[str, Any], checkpoint: Any = None) -> None:
        return None

    metrics = float_metrics()
    backend = RayBackend()
    bridge = Bridge(backends=[backend])
    bridge.run_start(name="bench-report-path")
    backend._api = RayApi(report, None, None, "no-op")

    bridge_best = raw_best = float("inf")
    epoch = 1
    for _ in range(repetitions):
        start = time.perf_counter()
        for _ in range(calls):
            bridge.epoch_end(epoch, metrics)
            epoch += 1
        bridge_best = min(bridge_best, (time.perf_counter() - start) / calls)

        start = time.perf_counter()
        for index in range(calls):
            report({**metrics, "epoch": index})
        raw_best = min(raw_best, (time.perf_counter() - start) / calls)
    if backend.reports != epoch - 1:
        raise RuntimeError(f"the no-op report ran {backend.reports} times, expected {epoch - 1}")
    bridge.run_end()
    return {"bridge": bridge_best, "raw": raw_best}


def measure(pairs: int, reports: int, workdir: Path) -> dict[str, Any]:
    """Run ``2 * pairs`` trials one at a time, alternating the variants A B B A."""
    from _ray import run_config, start_ray
    from ray import tune

    start_ray()
    out = workdir / "tune-report"
    out.mkdir(parents=True, exist_ok=True)
    # The first trials after ray.init share the machine with Ray's own start-up, so
    # one trial of each variant runs first and is not recorded.
    warmups = ["bridge", "raw"]
    order = warmups + [VARIANTS[slot] for slot in abba_order(pairs)]

    tuner = tune.Tuner(
        tune.with_parameters(report_trainable, order=order, reports=reports, out=str(out)),
        param_space={"slot": tune.grid_search(list(range(len(order))))},
        # One trial at a time, in grid order, so the two variants never share the CPUs.
        tune_config=tune.TuneConfig(max_concurrent_trials=1),
        run_config=run_config("bench_tune_report", out / "ray_results"),
    )
    results = tuner.fit()

    counts: dict[int, int] = {}
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"a report trial failed: {result.error}")
        counts[result.config["slot"]] = int(result.metrics["training_iteration"])

    records = [
        json.loads((out / f"slot-{slot}.json").read_text(encoding="utf-8"))
        for slot in range(len(warmups), len(order))
    ]
    for record in records:
        if counts[record["slot"]] != reports or record["sent"] != reports:
            raise RuntimeError(
                f"trial {record['slot']} ({record['variant']}) sent {record['sent']} and Tune "
                f"recorded {counts[record['slot']]} results, expected {reports}"
            )

    bridge = [r["seconds"] for r in records if r["variant"] == "bridge"]
    raw = [r["seconds"] for r in records if r["variant"] == "raw"]
    bridge_cpu = [r["cpu_seconds"] for r in records if r["variant"] == "bridge"]
    raw_cpu = [r["cpu_seconds"] for r in records if r["variant"] == "raw"]
    return {
        "pairs": pairs,
        "reports": reports,
        "order": order[len(warmups) :],
        "bridge": summarize(bridge),
        "raw": summarize(raw),
        "bridge_per_report": summarize([seconds / reports for seconds in bridge]),
        "raw_per_report": summarize([seconds / reports for seconds in raw]),
        "setup": summarize([r["setup"] for r in records if r["variant"] == "bridge"]),
        # abba_order yields the variants pairwise, so pair i is (bridge[i], raw[i]).
        "ratio": summarize(paired_ratios(bridge, raw)),
        "bridge_cpu": summarize(bridge_cpu),
        "raw_cpu": summarize(raw_cpu),
        "cpu_ratio": summarize(paired_ratios(bridge_cpu, raw_cpu)),
        "results_per_trial": sorted(set(counts.values())),
        "path_cost": _report_path_cost(),
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the target of figure 3 and whether the run met it."""
    ratio = result["ratio"]["median"]
    return [
        target(
            "3. In-trial report",
            f"ratio ≤ {TARGET_RATIO:.2f}",
            f"{ratio:.3f} (pairs {result['ratio']['min']:.3f} to {result['ratio']['max']:.3f})",
            ratio <= TARGET_RATIO,
            straddles(result["ratio"], TARGET_RATIO),
        )
    ]


def section(result: dict[str, Any]) -> list[str]:
    """Return the Markdown section of figure 3."""
    rows = [
        [
            "Bridge(backends=['ray']).epoch_end",
            spread(result["bridge"], "ms", 0),
            spread(result["bridge_per_report"], "µs", 0),
            spread(result["bridge_cpu"], "ms", 0),
        ],
        [
            "ray.tune.report",
            spread(result["raw"], "ms", 0),
            spread(result["raw_per_report"], "µs", 0),
            spread(result["raw_cpu"], "ms", 0),
        ],
        [
            "ratio Bridge / raw",
            spread(result["ratio"], digits=3),
            "",
            spread(result["cpu_ratio"], digits=3),
        ],
    ]
    trials = 2 * result["pairs"]
    path = result["path_cost"]
    raw_per_report = result["raw_per_report"]["median"]
    return [
        "## 3. Reports inside a Tune trial",
        "",
        f"{trials} function trials on one local Ray instance (`ray.init(num_cpus=2)`), one "
        "at a time, alternating A B B A, after one unrecorded warm-up trial of each "
        f"variant. Each sends {result['reports']} results: through "
        "`Bridge(backends=['ray']).epoch_end(epoch, metrics)`, or by calling "
        "`ray.tune.report({**metrics, 'epoch': epoch})`. The metrics are 25 plain floats "
        "with the keys of figure 2 (figure 2 covers the cost of converting tensors). Both "
        "times are taken inside the trial around the loop only. The target uses the wall "
        "time. The CPU time of the trial process (`time.process_time()`) is disturbed less "
        "by other processes on the machine, but it leaves out the driver's share of each "
        "report. Tune recorded "
        f"{', '.join(map(str, result['results_per_trial']))} results per trial.",
        "",
        *table(
            ["", f"wall time of {result['reports']} reports", "per report", "trial CPU time"],
            rows,
        ),
        "",
        "Set-up of the Bridge inside the trial (`Bridge(...)` and `run_start`, not part "
        f"of the loop): {spread(result['setup'], 'ms', 1)}.",
        "",
        "What the Bridge adds per report is measured outside Ray, with a no-op in place of "
        "`ray.tune.report` (fastest of 20 blocks of 1,000 calls). A call through the Bridge "
        f"and its Ray backend took {duration(path['bridge'], 'µs')}, and building the result "
        f"dict for a direct call took {duration(path['raw'], 'µs')}. The difference is "
        f"{(path['bridge'] - path['raw']) / raw_per_report:.2%} of the median time of one "
        "real report above, so ratios further from 1 than that come from the machine, not "
        "from the Bridge.",
    ]
