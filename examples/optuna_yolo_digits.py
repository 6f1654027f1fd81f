"""Optuna study of YOLO's learning rate on the handwritten digits, with pruning through tune_bridge.

Each trial trains ``yolov8n-cls.yaml`` from scratch on scikit-learn's bundled digits
with AdamW. Optuna's TPE sampler picks the learning rate ``lr0`` on a log scale from
1e-5 to 1e-1, a range that includes rates too small to learn in a few epochs.
The Ultralytics adapter carries each epoch to two backends: ``jsonl`` writes
``tune_bridge.jsonl`` into the trial's folder, and ``optuna`` reports top-1 accuracy
to the trial, whose ``MedianPruner`` decides whether training goes on. A pruned
trial stops after the current epoch through Ultralytics' normal stop path, and the
objective then raises ``optuna.TrialPruned``::

    with trial_context(trial, metric="metrics/accuracy_top1") as report:
        model.train(data=data, epochs=6, lr0=lr0, optimizer="AdamW")
    report.raise_if_pruned()
    return max(report.values.values())

The script prints one line per trial, the number of pruned trials, the best value
and the wall time, and writes ``<out>/trials.csv`` and each trial's Ultralytics run
under ``<out>/trials/``. ``--help`` lists the options. Needs the extras
``ultralytics`` and ``optuna``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

METRIC = "metrics/accuracy_top1"
ULTRALYTICS_MLFLOW_MODULE = "ultralytics.utils.callbacks.mlflow"


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of the study."""
    parser = argparse.ArgumentParser(
        prog="optuna_yolo_digits",
        description="Optuna study of lr0 for YOLO (yolov8n-cls) on scikit-learn's handwritten "
        "digits, with a MedianPruner fed through tune_bridge.",
    )
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default: 8)")
    parser.add_argument(
        "--epochs", type=int, default=6, help="maximum epochs per trial (default: 6)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("optuna_yolo_out"),
        help="output folder for the trials' runs and trials.csv (default: ./optuna_yolo_out)",
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="use at most this many images per digit (default: all, about 180)",
    )
    parser.add_argument(
        "--startup-trials",
        type=int,
        default=2,
        help="trials that complete before the pruner may prune (default: 2)",
    )
    parser.add_argument(
        "--warmup-epochs",
        type=int,
        default=1,
        help="the pruner may prune from this epoch on (MedianPruner's n_warmup_steps, default: 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler (default: 0)")
    parser.add_argument(
        "--device", default="cpu", help="Ultralytics device, such as 'cpu' or '0' (default: cpu)"
    )
    return parser


def _check_args(args: argparse.Namespace) -> None:
    if args.trials < 1:
        raise SystemExit(f"error: --trials must be at least 1, got {args.trials}")
    if args.epochs < 1:
        raise SystemExit(f"error: --epochs must be at least 1, got {args.epochs}")
    if args.per_class is not None and args.per_class < 5:
        raise SystemExit(f"error: --per-class must be at least 5, got {args.per_class}")
    if args.startup_trials < 0 or args.warmup_epochs < 0:
        raise SystemExit("error: --startup-trials and --warmup-epochs must not be negative")


def drop_ultralytics_mlflow(trainer: Any) -> None:
    """Remove Ultralytics' own MLflow callback from a trainer.

    With MLflow installed, Ultralytics 8.4 logs every training run into MLflow's
    default store (``./mlflow.db`` with MLflow 3) and turns on ``mlflow.autolog()``.
    A study should leave the working folder as it is.
    """
    for functions in trainer.callbacks.values():
        functions[:] = [
            function
            for function in functions
            if getattr(function, "__module__", "") != ULTRALYTICS_MLFLOW_MODULE
        ]


def make_objective(data: Path, trials_dir: Path, epochs: int, device: str) -> Any:
    """Build the objective: one YOLO training per trial, reported through tune_bridge."""
    from ultralytics import YOLO

    from tune_bridge.adapters.ultralytics import attach
    from tune_bridge.backends.optuna import trial_context
    from tune_bridge.demo.sweep import DIGITS_TRAIN_ARGS

    def objective(trial: Any) -> float:
        lr0 = trial.suggest_float("lr0", 1e-5, 1e-1, log=True)
        name = f"trial{trial.number:03d}"
        trial.set_user_attr("save_dir", str(trials_dir / name))

        model = YOLO("yolov8n-cls.yaml")
        model.add_callback("on_pretrain_routine_start", drop_ultralytics_mlflow)
        attach(model, backends=["jsonl", "optuna"])
        with trial_context(trial, metric=METRIC) as report:
            model.train(
                data=str(data),
                project=str(trials_dir),
                name=name,
                exist_ok=True,
                **{**DIGITS_TRAIN_ARGS, "epochs": epochs, "lr0": lr0, "device": device},
            )
        report.raise_if_pruned()
        return max(report.values.values())

    return objective


def epochs_run(save_dir: Path) -> int:
    """Return the number of epochs in a trial's results.csv: one row per finished epoch."""
    path = save_dir / "results.csv"
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8", newline="") as file:
        return sum(1 for _ in csv.DictReader(file))


def run_study(args: argparse.Namespace) -> Any:
    """Build the data, run the study and return it."""
    import optuna

    from tune_bridge.demo.datasets import build_digits_dataset

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = build_digits_dataset(per_class=args.per_class)

    study = optuna.create_study(
        study_name="optuna_yolo_digits",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=args.startup_trials, n_warmup_steps=args.warmup_epochs
        ),
    )
    objective = make_objective(data, out / "trials", args.epochs, args.device)
    study.optimize(objective, n_trials=args.trials)
    return study


def write_table(study: Any, path: Path) -> list[list[str]]:
    """Write one row per trial to ``path`` and return the rows, header first."""
    rows = [["trial", "lr0", "state", "epochs", "best_top1", "save_dir"]]
    for trial in study.trials:
        save_dir = Path(trial.user_attrs.get("save_dir", ""))
        values = list(trial.intermediate_values.values())
        rows.append(
            [
                str(trial.number),
                f"{trial.params.get('lr0', float('nan')):.2e}",
                trial.state.name,
                str(epochs_run(save_dir)),
                f"{max(values):.3f}" if values else "-",
                str(save_dir),
            ]
        )
    with open(path, "w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study from the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    _check_args(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Ultralytics probes the network at import unless YOLO_OFFLINE is set.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")

    started = time.monotonic()
    study = run_study(args)
    elapsed = time.monotonic() - started
    out = args.out.resolve()
    rows = write_table(study, out / "trials.csv")

    print()
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)))
    pruned = sum(1 for trial in study.trials if trial.state.name == "PRUNED")
    print()
    print(f"Trials pruned: {pruned} of {len(study.trials)}")
    completed = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    if completed:
        best = study.best_trial
        print(
            f"Best value: {study.best_value:.3f} top-1 on the val split "
            f"(trial {best.number}, lr0={best.params['lr0']:.2e})"
        )
    else:
        print("Best value: none, no trial completed")
    print(f"Wall time: {elapsed:.0f} s; wrote {out / 'trials.csv'}")
    return 0 if completed else 1


if __name__ == "__main__":
    sys.exit(main())
