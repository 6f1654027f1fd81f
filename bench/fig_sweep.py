"""Figure 4: a YOLO-cls Tune sweep through tune_bridge against Ultralytics' own callback."""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from _format import spread, straddles, table, target
from _stats import paired_ratios, summarize

TARGET_RATIO = 1.03
MODEL = "yolov8n-cls.yaml"
METRIC = "metrics/accuracy_top1"
LR0_GRID = (5e-4, 1e-3, 2e-3, 4e-3)
CPUS_PER_TRIAL = 1
# The target compares the first variant with the baseline. The metrics-only variant
# separates the cost of reporting a checkpoint every epoch from the rest.
VARIANTS = ("tune_bridge", "ultralytics", "tune_bridge_metrics_only")
BASELINE = "ultralytics"


def ultralytics_trainable(
    config: dict[str, Any], data: str, project: str, train_args: dict[str, Any]
) -> dict[str, Any]:
    """Train one YOLO model with Ultralytics' built-in Ray Tune callback and no adapter.

    Sets ``SETTINGS["raytune"]`` for this process only: ``dict.__setitem__`` skips the
    settings manager's write to ``settings.json``. The arguments mirror those of
    :func:`tune_bridge.adapters.ultralytics.make_tune_trainable`. Returns the setting
    that the process found.
    """
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    before = SETTINGS.get("raytune")
    dict.__setitem__(SETTINGS, "raytune", True)
    yolo = YOLO(MODEL)
    arguments = {"project": project, "name": Path.cwd().name, "exist_ok": True}
    yolo.train(data=data, **arguments, **train_args, **config)
    return {"raytune_before": before}


def timed_trainable(config: dict[str, Any], inner: Any, out: str) -> None:
    """Run ``inner(config)`` and write its wall and CPU time, seen inside the trial, to ``out``."""
    cpu_start = time.process_time()
    start = time.perf_counter()
    details = inner(config) or {}
    details["seconds"] = time.perf_counter() - start
    details["cpu_seconds"] = time.process_time() - cpu_start
    # Ray makes each trial's folder the working folder, so its name is unique.
    Path(out, f"{Path.cwd().name}.json").write_text(json.dumps(details), encoding="utf-8")


def warm_up_trainable(config: dict[str, Any]) -> None:
    """Import Ultralytics and build the model once, to fill the file cache and Ray's workers."""
    from ultralytics import YOLO

    YOLO(MODEL)


def _trainable(
    variant: str, data: Path, project: Path, train_args: dict[str, Any], out: Path
) -> Any:
    from ray import tune

    from tune_bridge.adapters.ultralytics import make_tune_trainable
    from tune_bridge.backends.ray import RayBackend

    if variant == "tune_bridge":
        inner = make_tune_trainable(MODEL, data, backends=["ray"], project=project, **train_args)
    elif variant == "tune_bridge_metrics_only":
        # An epoch number is never a multiple of 10**9, so no checkpoint is reported.
        backend = RayBackend(checkpoint_every=10**9)
        inner = make_tune_trainable(MODEL, data, backends=[backend], project=project, **train_args)
    else:
        inner = functools.partial(
            ultralytics_trainable, data=str(data), project=str(project), train_args=train_args
        )
    trainable = tune.with_parameters(timed_trainable, inner=inner, out=str(out))
    return tune.with_resources(trainable, {"cpu": CPUS_PER_TRIAL})


def _warm_up(workdir: Path, trials: int) -> None:
    from _ray import run_config
    from ray import tune

    tuner = tune.Tuner(
        tune.with_resources(warm_up_trainable, {"cpu": CPUS_PER_TRIAL}),
        param_space={"index": tune.grid_search(list(range(trials)))},
        run_config=run_config("bench_sweep_warm_up", workdir / "warm-up"),
    )
    for result in tuner.fit():
        if result.error is not None:
            raise RuntimeError(f"the warm-up trial failed: {result.error}")


def _sweep(
    variant: str,
    index: int,
    data: Path,
    train_args: dict[str, Any],
    lr0s: list[float],
    workdir: Path,
) -> dict[str, Any]:
    """Run one sweep and return its wall time and what Tune recorded per trial."""
    from _ray import run_config
    from ray import tune

    folder = workdir / f"sweep-{index}-{variant}"
    folder.mkdir(parents=True)
    tuner = tune.Tuner(
        _trainable(variant, data, folder / "yolo", train_args, folder),
        param_space={"lr0": tune.grid_search(lr0s)},
        run_config=run_config(f"bench_sweep_{index}_{variant}", folder / "ray_results"),
    )
    start = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - start

    trials = []
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"a {variant} trial failed: {result.error}")
        frame = result.metrics_dataframe
        epochs = [int(epoch) for epoch in frame["epoch"]]
        # The accuracy of the last real epoch: Ultralytics' callback adds a row for its
        # final evaluation, numbered one past the last epoch.
        last = frame[frame["epoch"] == train_args["epochs"]]
        trials.append(
            {
                "lr0": result.config["lr0"],
                "results": len(frame),
                "epochs": epochs,
                "top1": float(last[METRIC].iloc[-1]) if len(last) else math.nan,
            }
        )
    details = [json.loads(path.read_text(encoding="utf-8")) for path in folder.glob("*.json")]
    if len(details) != len(trials):
        raise RuntimeError(f"{len(details)} trials wrote their duration, expected {len(trials)}")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "variant": variant,
        "wall": wall,
        "trial_seconds": sum(detail["seconds"] for detail in details),
        "trial_cpu_seconds": sum(detail["cpu_seconds"] for detail in details),
        "trials": sorted(trials, key=lambda trial: trial["lr0"]),
        "raytune_before": sorted(
            {str(d["raytune_before"]) for d in details if "raytune_before" in d}
        ),
    }


def round_order(rounds: int) -> list[str]:
    """Return the sweep order: the variants forwards in even rounds, backwards in odd ones.

    Reversing every other round cancels a slow drift of the machine's load, like
    A B B A for two variants.
    """
    order: list[str] = []
    for index in range(rounds):
        order += VARIANTS if index % 2 == 0 else VARIANTS[::-1]
    return order


def measure(
    rounds: int, trials: int, epochs: int, per_class: int | None, workdir: Path
) -> dict[str, Any]:
    """Run ``rounds`` rounds of one sweep per variant, one sweep after another."""
    from _ray import start_ray

    from tune_bridge.demo.datasets import build_digits_dataset
    from tune_bridge.demo.sweep import DIGITS_TRAIN_ARGS

    if trials > len(LR0_GRID):
        raise ValueError(f"at most {len(LR0_GRID)} trials, got {trials}")
    data = build_digits_dataset(workdir / "digits", per_class=per_class)
    train_args = {**DIGITS_TRAIN_ARGS, "epochs": epochs}
    lr0s = list(LR0_GRID[:trials])
    start_ray()
    _warm_up(workdir, min(trials, 2))

    sweeps = []
    for index, variant in enumerate(round_order(rounds)):
        sweeps.append(_sweep(variant, index, data, train_args, lr0s, workdir))

    # Each round contains one sweep per variant, so the i-th sweeps of two variants pair up.
    by_variant = {variant: [s for s in sweeps if s["variant"] == variant] for variant in VARIANTS}
    variants = {}
    for variant, runs in by_variant.items():
        baseline = by_variant[BASELINE]
        variants[variant] = {
            "wall": summarize([run["wall"] for run in runs]),
            "trial": summarize(_values(runs, "trial_seconds")),
            "cpu": summarize(_values(runs, "trial_cpu_seconds")),
            "ratio": summarize(_ratios(runs, baseline, "wall")),
            "trial_ratio": summarize(_ratios(runs, baseline, "trial_seconds")),
            "cpu_ratio": summarize(_ratios(runs, baseline, "trial_cpu_seconds")),
            "results": sorted({t["results"] for run in runs for t in run["trials"]}),
            "epochs": runs[0]["trials"][0]["epochs"],
            "top1": [trial["top1"] for trial in runs[0]["trials"]],
        }
    return {
        "rounds": rounds,
        "trials": trials,
        "epochs": epochs,
        "per_class": per_class,
        "lr0s": lr0s,
        "train_args": {key: train_args[key] for key in sorted(train_args)},
        "variants": variants,
        "raytune_before": sorted(
            {value for run in by_variant[BASELINE] for value in run["raytune_before"]}
        ),
    }


def _values(sweeps: list[dict[str, Any]], key: str) -> list[float]:
    return [sweep[key] for sweep in sweeps]


def _ratios(sweeps: list[dict[str, Any]], baseline: list[dict[str, Any]], key: str) -> list[float]:
    return paired_ratios(_values(sweeps, key), _values(baseline, key))


def _results_per_trial(sweeps: list[dict[str, Any]]) -> list[int]:
    return sorted({trial["results"] for sweep in sweeps for trial in sweep["trials"]})


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the target of figure 4 and whether the run met it."""
    summary = result["variants"]["tune_bridge"]["ratio"]
    ratio = summary["median"]
    return [
        target(
            "4. End-to-end sweep",
            f"wall-time ratio ≤ {TARGET_RATIO:.2f}",
            f"{ratio:.3f} (rounds {summary['min']:.3f} to {summary['max']:.3f})",
            ratio <= TARGET_RATIO,
            straddles(summary, TARGET_RATIO),
        )
    ]


DISPLAY_ORDER = ("tune_bridge", "tune_bridge_metrics_only", "ultralytics")
_LABELS = {
    "tune_bridge": "tune_bridge (`make_tune_trainable`, backends `['ray']`)",
    "tune_bridge_metrics_only": "tune_bridge without checkpoints",
    "ultralytics": "Ultralytics' Ray Tune callback",
}


def section(result: dict[str, Any]) -> list[str]:
    """Return the Markdown section of figure 4."""
    variants = result["variants"]
    data = "all digits" if result["per_class"] is None else f"{result['per_class']} per digit"
    rows = []
    for variant in DISPLAY_ORDER:
        summary = variants[variant]
        rows.append(
            [
                _LABELS[variant],
                spread(summary["wall"], "s", 1),
                spread(summary["trial"], "s", 1),
                spread(summary["cpu"], "s", 1),
                ", ".join(map(str, summary["results"])),
            ]
        )
    for variant in DISPLAY_ORDER:
        if variant == BASELINE:
            continue
        summary = variants[variant]
        rows.append(
            [
                f"ratio {_LABELS[variant].split(' (')[0]} / Ultralytics",
                spread(summary["ratio"], digits=3),
                spread(summary["trial_ratio"], digits=3),
                spread(summary["cpu_ratio"], digits=3),
                "",
            ]
        )
    top1 = {variant: variants[variant]["top1"] for variant in VARIANTS}
    same = all(
        math.isclose(a, b, rel_tol=1e-6)
        for variant in VARIANTS
        for a, b in zip(top1[variant], top1[BASELINE], strict=True)
    )
    arguments = ", ".join(f"`{key}={value!r}`" for key, value in result["train_args"].items())
    sweeps = len(VARIANTS) * result["rounds"]
    return [
        "## 4. End-to-end sweep",
        "",
        f"The same Tune sweep of `{MODEL}` on the handwritten digits ({data}): "
        f"{result['trials']} trials (`tune.grid_search` over lr0 "
        f"{', '.join(f'{lr:g}' for lr in result['lr0s'])}) of "
        f"{_count(result['epochs'], 'epoch')}. Each trial has {CPUS_PER_TRIAL} CPU of a new "
        "local Ray instance (`ray.init(num_cpus=2)`), so two trials run at a time. "
        f"Training arguments: {arguments}.",
        "",
        "**tune_bridge**: `make_tune_trainable(..., backends=['ray'])`, which attaches the "
        "adapter, removes Ultralytics' own Ray Tune callback and reports each epoch with "
        "its last.pt checkpoint. **tune_bridge without checkpoints**: the same with "
        "`backends=[RayBackend(checkpoint_every=10**9)]`, which reports metrics only. "
        "**Ultralytics**: a trainable that calls `YOLO.train` with the same arguments and "
        "no adapter, with `SETTINGS['raytune']` set to True in the trial process (found "
        f"before: {', '.join(result['raytune_before'])}). It reports metrics only.",
        "",
        f"{sweeps} sweeps, one after another, in {_count(result['rounds'], 'round')} of one "
        "sweep per variant, the order reversed in every other round, after an unrecorded warm-up "
        "run that builds the model in two trials. Wall time is `Tuner.fit()` in the "
        "driver, which the target uses. Trial time is the sum over the sweep's trials of "
        "the wall time inside each trial, from the trainable's start to its return. Trial "
        "CPU time is the same sum of `time.process_time()`, which other processes on the "
        "machine disturb less. Ratios pair the sweeps of one round.",
        "",
        *table(["", "wall time", "trial time", "trial CPU time", "results per trial"], rows),
        "",
        "Ultralytics' callback also reports its final evaluation of best.pt as one more "
        "epoch, and tune_bridge sends that evaluation with the run end instead. The "
        "first sweep of each variant reported these epochs and top-1 accuracies after the "
        "last epoch, per lr0:",
        "",
        *table(
            ["variant", "epochs reported per trial", "top-1 per lr0"],
            [
                [_LABELS[v].split(" (")[0], str(variants[v]["epochs"]), _rounded(top1[v])]
                for v in DISPLAY_ORDER
            ],
        ),
        "",
        "The top-1 values are "
        + ("identical, so all variants trained the same models." if same else "different."),
    ]


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _rounded(values: list[float]) -> str:
    return "[" + ", ".join(f"{value:.4f}" for value in values) + "]"
