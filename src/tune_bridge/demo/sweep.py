"""Ray Tune sweep of a YOLO classifier on the handwritten digits, reported through tune_bridge.

The sweep trains ``yolov8n-cls.yaml`` from scratch (no weight download) on
scikit-learn's bundled digits, searches ``lr0`` (log-uniform), ``momentum`` and
``weight_decay`` with AdamW, and lets ASHA stop weak trials early on
``metrics/accuracy_top1``. It prints a table of the trials and writes:

* ``<out>/trials.png``: top-1 accuracy against epoch for every trial;
* ``<out>/trials.csv``: the table;
* ``<out>/trials/<trial>/``: each trial's Ultralytics run with its JSONL log
  ``tune_bridge.jsonl``;
* ``<out>/ray_results/``: Ray Tune's results.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("tune_bridge.demo")

METRIC = "metrics/accuracy_top1"

# Augmentations that hurt on 8x8 digit scans: a mirrored 2 or 5 is another glyph, and
# colour jitter or erasing removes much of a 32-pixel image.
DIGITS_TRAIN_ARGS: dict[str, Any] = {
    "imgsz": 32,
    "batch": 64,
    "workers": 0,
    "optimizer": "AdamW",
    "fliplr": 0.0,
    "erasing": 0.0,
    "auto_augment": None,
    "hsv_h": 0.0,
    "hsv_s": 0.0,
    "hsv_v": 0.0,
    "warmup_epochs": 0,
    "plots": False,
    "verbose": False,
    "seed": 0,
    "deterministic": True,
}


@dataclass
class TrialSummary:
    """One trial of the sweep, as the table shows it."""

    name: str
    config: dict[str, float]
    epochs: list[int]
    accuracy: list[float]
    status: str

    @property
    def best_accuracy(self) -> float:
        return max(self.accuracy, default=float("nan"))

    @property
    def epochs_run(self) -> int:
        return max(self.epochs, default=0)


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of the sweep."""
    parser = argparse.ArgumentParser(
        prog="tune_yolo_digits",
        description="Ray Tune sweep of YOLO (yolov8n-cls) on scikit-learn's handwritten digits, "
        "reported through tune_bridge.",
    )
    parser.add_argument("--trials", type=int, default=6, help="number of trials (default: 6)")
    parser.add_argument(
        "--epochs", type=int, default=8, help="maximum epochs per trial (default: 8)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="address of a running Ray cluster to join, such as 'auto' or 'ray://host:10001'; "
        "default: RAY_ADDRESS if set, otherwise a new local Ray instance",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("tune_bridge_out"),
        help="output folder for Ray results, trials.png and trials.csv "
        "(default: ./tune_bridge_out)",
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray instance (default: all); ignored with --address",
    )
    parser.add_argument(
        "--cpus-per-trial", type=float, default=1.0, help="CPUs reserved per trial (default: 1)"
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="use at most this many images per digit (default: all, about 180)",
    )
    parser.add_argument(
        "--grace-period",
        type=int,
        default=2,
        help="epochs every trial runs before ASHA may stop it (default: 2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default: 0)")
    parser.add_argument(
        "--show-trial-logs",
        action="store_true",
        help="print the trials' own output (Ultralytics progress bars) in this terminal",
    )
    parser.add_argument(
        "--device", default=None, help="Ultralytics device, such as 'cpu' or '0' (default: auto)"
    )
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject option values that the sweep cannot run with, through ``parser.error``."""
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.grace_period < 1:
        parser.error(f"--grace-period must be at least 1, got {args.grace_period}")
    if args.cpus is not None and args.cpus < 1:
        parser.error(f"--cpus must be at least 1, got {args.cpus}")
    if args.cpus_per_trial <= 0:
        parser.error(f"--cpus-per-trial must be greater than 0, got {args.cpus_per_trial}")
    if args.cpus is not None and args.cpus_per_trial > args.cpus:
        parser.error(
            f"--cpus-per-trial {args.cpus_per_trial} is more than --cpus {args.cpus}: "
            "no trial could start"
        )
    if args.per_class is not None and args.per_class < 5:
        parser.error(f"--per-class must be at least 5, got {args.per_class}")
    if args.seed < 0:
        parser.error(f"--seed must be 0 or greater, got {args.seed}")
    try:
        args.out.resolve().mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"cannot create the output folder --out {args.out}: {error.strerror}")


def _ray_configs() -> tuple[Any, Any, Any]:
    """Return RunConfig, FailureConfig and CheckpointConfig of the installed Ray."""
    from ray import train, tune

    # Ray 2.41 moved these classes to ray.tune; older releases have them in ray.train.
    run_config = getattr(tune, "RunConfig", None) or train.RunConfig
    failure_config = getattr(tune, "FailureConfig", None) or train.FailureConfig
    checkpoint_config = getattr(tune, "CheckpointConfig", None) or train.CheckpointConfig
    return run_config, failure_config, checkpoint_config


def run_sweep(args: argparse.Namespace) -> list[TrialSummary]:
    """Build the data, run the Tuner and return one summary per trial."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    from tune_bridge.adapters.ultralytics import make_tune_trainable
    from tune_bridge.demo.datasets import build_digits_dataset

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = build_digits_dataset(per_class=args.per_class)

    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=args.show_trial_logs)
    else:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=args.show_trial_logs)

    train_args = {**DIGITS_TRAIN_ARGS, "epochs": args.epochs}
    if args.device is not None:
        train_args["device"] = args.device
    trainable = make_tune_trainable("yolov8n-cls.yaml", data, project=out / "trials", **train_args)
    trainable = tune.with_resources(trainable, {"cpu": args.cpus_per_trial})

    param_space = {
        "lr0": tune.loguniform(1e-4, 3e-2),
        "momentum": tune.uniform(0.6, 0.98),
        "weight_decay": tune.loguniform(1e-5, 1e-2),
    }
    scheduler = ASHAScheduler(
        max_t=args.epochs,
        grace_period=min(args.grace_period, args.epochs),
        reduction_factor=2,
    )
    run_config, failure_config, checkpoint_config = _ray_configs()
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            scheduler=scheduler,
            num_samples=args.trials,
            search_alg=BasicVariantGenerator(random_state=args.seed),
        ),
        run_config=run_config(
            name="tune_yolo_digits",
            storage_path=str(out / "ray_results"),
            failure_config=failure_config(max_failures=1),
            checkpoint_config=checkpoint_config(num_to_keep=1),
            verbose=1,
        ),
    )
    started = time.monotonic()
    results = tuner.fit()
    logger.info("Sweep finished in %.0f s", time.monotonic() - started)
    return [_summarize(result, args.epochs) for result in results]


def _summarize(result: Any, max_epochs: int) -> TrialSummary:
    frame = result.metrics_dataframe
    epochs: list[int] = []
    accuracy: list[float] = []
    if frame is not None and METRIC in frame:
        rows = frame[["epoch", METRIC]].dropna()
        epochs = [int(e) for e in rows["epoch"]]
        accuracy = [float(a) for a in rows[METRIC]]
    config = {key: float(value) for key, value in (result.config or {}).items()}
    name = Path(result.path).name if getattr(result, "path", None) else "?"
    if result.error is not None:
        status = "error"
    elif max(epochs, default=0) < max_epochs:
        status = "stopped early"
    else:
        status = "completed"
    return TrialSummary(name=name, config=config, epochs=epochs, accuracy=accuracy, status=status)


def format_table(trials: list[TrialSummary]) -> str:
    """Return the trials as a fixed-width text table, best first."""
    header = ("trial", "lr0", "momentum", "weight_decay", "epochs", "best top-1", "status")
    rows = [header]
    for trial in sorted(trials, key=lambda t: -_sortable(t.best_accuracy)):
        rows.append(
            (
                _short_name(trial.name),
                f"{trial.config.get('lr0', float('nan')):.2e}",
                f"{trial.config.get('momentum', float('nan')):.3f}",
                f"{trial.config.get('weight_decay', float('nan')):.2e}",
                str(trial.epochs_run),
                f"{trial.best_accuracy:.3f}",
                trial.status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _short_name(name: str) -> str:
    # Ray names trial folders <trainable>_<experiment>_<index>_<config>_<date>.
    parts = name.split("_")
    return "_".join(parts[1:3]) if len(parts) >= 3 else name


def _sortable(value: float) -> float:
    return -1.0 if math.isnan(value) else value


def write_csv(trials: list[TrialSummary], path: Path) -> None:
    """Write one row per trial: config, epochs run, best top-1 and status."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["trial", "lr0", "momentum", "weight_decay", "epochs", "best_top1", "status"]
        )
        for t in trials:
            writer.writerow(
                [
                    t.name,
                    t.config.get("lr0"),
                    t.config.get("momentum"),
                    t.config.get("weight_decay"),
                    t.epochs_run,
                    t.best_accuracy,
                    t.status,
                ]
            )


def plot_trials(trials: list[TrialSummary], path: Path) -> None:
    """Plot top-1 accuracy against epoch for every trial; stopped trials are dashed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for trial in trials:
        if not trial.epochs:
            continue
        stopped = trial.status != "completed"
        label = f"lr0={trial.config.get('lr0', 0):.1e} ({trial.status})"
        (line,) = axes.plot(
            trial.epochs,
            trial.accuracy,
            linestyle="--" if stopped else "-",
            marker="o",
            label=label,
        )
        if stopped:
            axes.plot(
                trial.epochs[-1],
                trial.accuracy[-1],
                marker="x",
                markersize=12,
                color=line.get_color(),
            )
    axes.set_xlabel("epoch")
    axes.set_ylabel("top-1 accuracy (val)")
    axes.set_title("YOLO-cls on handwritten digits: ASHA sweep through tune_bridge")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:  # no legend when no trial reported
        axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep from the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    # With num_to_keep=1 every checkpoint forces an experiment snapshot, and Ray warns
    # about the snapshot rate each time; the rate is fine for a sweep of this size.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

    started = time.monotonic()
    trials = run_sweep(args)
    out = args.out.resolve()
    write_csv(trials, out / "trials.csv")
    plot_trials(trials, out / "trials.png")

    print()
    print(format_table(trials))
    reported = [t for t in trials if t.accuracy]
    print()
    if reported:
        best = max(reported, key=lambda t: _sortable(t.best_accuracy))
        print(f"Best trial: {best.name}")
        print(f"  config: {best.config}")
        print(
            f"  best top-1 on the val split: {best.best_accuracy:.3f} "
            f"after {best.epochs_run} epochs"
        )
    else:
        print("No trial reported an epoch.")
    print(
        f"Wrote {out / 'trials.png'} and {out / 'trials.csv'} in {time.monotonic() - started:.0f} s"
    )
    failed = [t.name for t in trials if t.status == "error"]
    if failed:
        print(f"{len(failed)} trial(s) failed: {', '.join(failed)}")
        return 1
    return 0
