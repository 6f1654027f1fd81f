"""Figure 4: a YOLO-cls Tune sweep through tune_bridge against Ultralytics' own callback."""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from _format import spread, table, target
from _stats import abba_order, paired_ratios, summarize

TARGET_RATIO = 1.03
MODEL = "yolov8n-cls.yaml"
METRIC = "metrics/accuracy_top1"
LR0_GRID = (5e-4, 1e-3, 2e-3, 4e-3)
CPUS_PER_TRIAL = 1
VARIANTS = {"A": "tune_bridge", "B": "ultralytics"}


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

    if variant == "tune_bridge":
        inner = make_tune_trainable(MODEL, data, backends=["ray"], project=project, **train_args)
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


def measure(
    pairs: int, trials: int, epochs: int, per_class: int | None, workdir: Path
) -> dict[str, Any]:
    """Run ``2 * pairs`` sweeps one after another, alternating the variants A B B A."""
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
    for index, slot in enumerate(abba_order(pairs)):
        sweeps.append(_sweep(VARIANTS[slot], index, data, train_args, lr0s, workdir))

    bridge = [s for s in sweeps if s["variant"] == "tune_bridge"]
    builtin = [s for s in sweeps if s["variant"] == "ultralytics"]
    bridge_walls = [s["wall"] for s in bridge]
    builtin_walls = [s["wall"] for s in builtin]
    return {
        "pairs": pairs,
        "trials": trials,
        "epochs": epochs,
        "per_class": per_class,
        "lr0s": lr0s,
        "train_args": {key: train_args[key] for key in sorted(train_args)},
        "tune_bridge": summarize(bridge_walls),
        "ultralytics": summarize(builtin_walls),
        # abba_order yields the variants pairwise, so pair i is (bridge[i], builtin[i]).
        "ratio": summarize(paired_ratios(bridge_walls, builtin_walls)),
        "trial_ratio": summarize(paired_ratios(_trial_seconds(bridge), _trial_seconds(builtin))),
        "cpu_ratio": summarize(
            paired_ratios(
                _trial_seconds(bridge, "trial_cpu_seconds"),
                _trial_seconds(builtin, "trial_cpu_seconds"),
            )
        ),
        "tune_bridge_trial_cpu_seconds": summarize(_trial_seconds(bridge, "trial_cpu_seconds")),
        "ultralytics_trial_cpu_seconds": summarize(_trial_seconds(builtin, "trial_cpu_seconds")),
        "tune_bridge_trial_seconds": summarize(_trial_seconds(bridge)),
        "ultralytics_trial_seconds": summarize(_trial_seconds(builtin)),
        "tune_bridge_results": _results_per_trial(bridge),
        "ultralytics_results": _results_per_trial(builtin),
        "tune_bridge_epochs": bridge[0]["trials"][0]["epochs"],
        "ultralytics_epochs": builtin[0]["trials"][0]["epochs"],
        "top1": {
            "tune_bridge": [trial["top1"] for trial in bridge[0]["trials"]],
            "ultralytics": [trial["top1"] for trial in builtin[0]["trials"]],
        },
        "raytune_before": sorted({value for s in builtin for value in s["raytune_before"]}),
    }


def _trial_seconds(sweeps: list[dict[str, Any]], key: str = "trial_seconds") -> list[float]:
    return [sweep[key] for sweep in sweeps]


def _results_per_trial(sweeps: list[dict[str, Any]]) -> list[int]:
    return sorted({trial["results"] for sweep in sweeps for trial in sweep["trials"]})


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the target of figure 4 and whether the run met it."""
    ratio = result["ratio"]["median"]
    return [
        target(
            "4. End-to-end sweep",
            f"wall-time ratio ≤ {TARGET_RATIO:.2f}",
            f"{ratio:.3f} (pairs {result['ratio']['min']:.3f} to {result['ratio']['max']:.3f})",
            ratio <= TARGET_RATIO,
        )
    ]


def section(result: dict[str, Any]) -> list[str]:
    """Return the Markdown section of figure 4."""
    sweeps = 2 * result["pairs"]
    data = "all digits" if result["per_class"] is None else f"{result['per_class']} per digit"
    rows = [
        [
            "tune_bridge (`make_tune_trainable`, backends `['ray']`)",
            spread(result["tune_bridge"], "s", 1),
            spread(result["tune_bridge_trial_seconds"], "s", 1),
            spread(result["tune_bridge_trial_cpu_seconds"], "s", 1),
            ", ".join(map(str, result["tune_bridge_results"])),
        ],
        [
            "Ultralytics' Ray Tune callback",
            spread(result["ultralytics"], "s", 1),
            spread(result["ultralytics_trial_seconds"], "s", 1),
            spread(result["ultralytics_trial_cpu_seconds"], "s", 1),
            ", ".join(map(str, result["ultralytics_results"])),
        ],
        [
            "ratio tune_bridge / Ultralytics",
            spread(result["ratio"], digits=3),
            spread(result["trial_ratio"], digits=3),
            spread(result["cpu_ratio"], digits=3),
            "",
        ],
    ]
    top1 = result["top1"]
    same = all(
        math.isclose(a, b, rel_tol=1e-6)
        for a, b in zip(top1["tune_bridge"], top1["ultralytics"], strict=True)
    )
    arguments = ", ".join(f"`{key}={value!r}`" for key, value in result["train_args"].items())
    return [
        "## 4. End-to-end sweep",
        "",
        f"The same Tune sweep of `{MODEL}` on the handwritten digits ({data}), "
        f"{result['trials']} trials (`tune.grid_search` over lr0 "
        f"{', '.join(f'{lr:g}' for lr in result['lr0s'])}), {_epochs(result['epochs'])}, "
        f"{CPUS_PER_TRIAL} CPU per trial, on a new local Ray instance "
        "(`ray.init(num_cpus=2)`), so two trials run at a time. Training "
        f"arguments: {arguments}.",
        "",
        "**tune_bridge**: `make_tune_trainable(..., backends=['ray'])`, which attaches the "
        "adapter, removes Ultralytics' own Ray Tune callback and reports each epoch with "
        "its last.pt checkpoint. **Ultralytics**: a trainable that calls `YOLO.train` "
        "with the same arguments and no adapter, with `SETTINGS['raytune']` set to True "
        "in the trial process (found before: "
        f"{', '.join(result['raytune_before'])}); it reports metrics only.",
        "",
        f"{sweeps} sweeps, one after another, alternating A B B A, after an unrecorded "
        "warm-up run that builds the model in two trials. Wall time is `Tuner.fit()` in "
        "the driver, which the target uses. Trial time is the sum over the sweep's trials "
        "of the wall time inside each trial, from the trainable's start to its return; "
        "trial CPU time is the same sum of `time.process_time()`, which other processes "
        "on the machine disturb less.",
        "",
        *table(["", "wall time", "trial time", "trial CPU time", "results per trial"], rows),
        "",
        f"Epochs reported per trial: tune_bridge {result['tune_bridge_epochs']}, "
        f"Ultralytics {result['ultralytics_epochs']}. Ultralytics' callback also reports "
        "its final evaluation of best.pt as one more epoch; tune_bridge sends it with the "
        "run end instead. Top-1 after the last epoch, per lr0, in the first sweep of each "
        f"variant: tune_bridge {_rounded(top1['tune_bridge'])}, Ultralytics "
        f"{_rounded(top1['ultralytics'])} ("
        + ("identical, so both variants trained the same models" if same else "they differ")
        + ").",
    ]


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def _rounded(values: list[float]) -> str:
    return "[" + ", ".join(f"{value:.4f}" for value in values) + "]"
