"""Tests of the Optuna backend with real Optuna studies, and a pruned study of YOLO trials.

The unit tests drive a real in-memory study through the Bridge with ``strict=True``,
which re-raises any backend exception, so a passing test also shows that the backend
did not raise. The Ultralytics test runs a 6-trial study on a 200-image digits subset
(about a minute on 2 CPU cores) and compares the study with each trial's JSONL log.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tune_bridge import Bridge, RunInfo
from tune_bridge.backends.jsonl import DEFAULT_FILE_NAME
from tune_bridge.backends.optuna import (
    OptunaBackend,
    TrialReport,
    current_trial_report,
    process_rank,
    trial_context,
)
from ultralytics_env import configure_offline

CONFIG_DIR = configure_offline()

METRIC = "val/acc"
YOLO_METRIC = "metrics/accuracy_top1"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "optuna_yolo_digits.py"


# --- helpers -----------------------------------------------------------------------


def train(bridge: Bridge, values: list[float], run_dir: Path | None = None) -> list[int]:
    """Run one epoch per value of the target metric; return the epochs that ran."""
    epochs = []
    with bridge:
        bridge.run_start(name="trial", run_dir=run_dir)
        for epoch, value in enumerate(values, start=1):
            epochs.append(epoch)
            if bridge.epoch_end(epoch, {METRIC: value, "train/loss": 1.0 / epoch}):
                break
    return epochs


def read_events(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def results_csv_rows(save_dir: Path) -> int:
    with open(save_dir / "results.csv", encoding="utf-8", newline="") as file:
        return sum(1 for _ in csv.DictReader(file))


def optuna_messages(caplog: Any, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "tune_bridge.backends.optuna" and record.levelno == level
    ]


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def optuna() -> Any:
    module = pytest.importorskip("optuna")
    module.logging.set_verbosity(module.logging.WARNING)
    return module


@pytest.fixture
def study(optuna: Any) -> Any:
    # With 1 startup trial, the second trial may be pruned from epoch 1 on.
    return optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
    )


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("RANK", "LOCAL_RANK"):
        monkeypatch.delenv(variable, raising=False)


# --- reporting ----------------------------------------------------------------------


def test_constructor_trial_gets_each_epoch(study: Any, make_recorder: Any) -> None:
    recorder = make_recorder()
    trial = study.ask()
    backend = OptunaBackend(trial, metric=METRIC)

    train(Bridge(backends=[recorder, backend], strict=True), [0.2, 0.5, 0.4])

    sent = {call["epoch"]: call["metrics"][METRIC] for call in recorder.arguments("epoch_end")}
    frozen = study.trials[trial.number]
    assert frozen.intermediate_values == sent
    assert backend.report is not None
    assert backend.report.values == sent


def test_trial_context_supplies_trial(study: Any) -> None:
    trial = study.ask()

    with trial_context(trial, metric=METRIC) as report:
        assert current_trial_report() is report
        train(Bridge(backends=["optuna"], strict=True), [0.3, 0.6])

    assert current_trial_report() is None
    assert study.trials[trial.number].intermediate_values == {1: 0.3, 2: 0.6}
    assert report.values == {1: 0.3, 2: 0.6}


def test_constructor_metric_overrides_context(study: Any) -> None:
    trial = study.ask()

    with trial_context(trial, metric="absent") as report:
        train(Bridge(backends=[OptunaBackend(metric=METRIC)], strict=True), [0.3])

    assert report.values == {1: 0.3}


def test_threads_keep_their_own_trial(optuna: Any) -> None:
    # Optuna's default MedianPruner could prune the 6th trial and cut its values short.
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())

    def objective(trial: Any) -> float:
        offset = trial.suggest_float("offset", 0.0, 1.0)
        values = [offset + 0.01 * epoch for epoch in range(1, 5)]
        with trial_context(trial, metric=METRIC) as report:
            train(Bridge(backends=["optuna"], strict=True), values)
        return max(report.values.values())

    study.optimize(objective, n_trials=6, n_jobs=3)

    for frozen in study.trials:
        offset = frozen.params["offset"]
        expected = {epoch: offset + 0.01 * epoch for epoch in range(1, 5)}
        assert frozen.intermediate_values == pytest.approx(expected)


# --- warnings and idle cases --------------------------------------------------------


def test_missing_metric_warns_once(study: Any, caplog: Any) -> None:
    trial = study.ask()
    bridge = Bridge(backends=[OptunaBackend(trial, metric="val/acc_top1")], strict=True)

    with caplog.at_level(logging.DEBUG, logger="tune_bridge.backends.optuna"):
        train(bridge, [0.1, 0.2, 0.3])

    warnings = optuna_messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "'val/acc_top1'" in warnings[0]
    assert "Available keys: train/loss, val/acc" in warnings[0]
    assert study.trials[trial.number].intermediate_values == {}


def test_missing_metric_warns_again_next_run(study: Any, caplog: Any) -> None:
    trial = study.ask()
    bridge = Bridge(backends=[OptunaBackend(trial, metric="absent")], strict=True)

    with caplog.at_level(logging.WARNING, logger="tune_bridge.backends.optuna"):
        train(bridge, [0.1, 0.2])
        train(bridge, [0.1, 0.2])

    assert len(optuna_messages(caplog, logging.WARNING)) == 2


def test_second_run_reports_only_new_steps(study: Any, caplog: Any) -> None:
    trial = study.ask()
    backend = OptunaBackend(trial, metric=METRIC)
    bridge = Bridge(backends=[backend], strict=True)

    with caplog.at_level(logging.WARNING, logger="tune_bridge.backends.optuna"):
        train(bridge, [0.1, 0.2, 0.3])
        train(bridge, [0.9, 0.8, 0.7, 0.6])

    # The second run restarts at epoch 1: epochs 1 to 3 are steps the trial already has.
    assert study.trials[trial.number].intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.6}
    warnings = optuna_messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "already has step 3" in warnings[0]


def test_decreasing_step_not_reported(study: Any) -> None:
    # The Bridge drops decreasing epochs itself, so the hooks are called directly.
    trial = study.ask()
    backend = OptunaBackend(trial, metric=METRIC)
    run = RunInfo(name="direct")
    backend.tune_bridge_run_start(run)

    for epoch, value in ((2, 0.2), (1, 0.9), (2, 0.8), (3, 0.3)):
        backend.tune_bridge_epoch_end(run, epoch, {METRIC: value})
        backend.tune_bridge_should_stop(run, epoch)

    assert study.trials[trial.number].intermediate_values == {2: 0.2, 3: 0.3}


@pytest.mark.parametrize("variable", ["RANK", "LOCAL_RANK"])
def test_rank_nonzero_idle(study: Any, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    trial = study.ask()
    backend = OptunaBackend(trial, metric=METRIC)

    epochs = train(Bridge(backends=[backend], strict=True), [0.1, 0.2])

    assert process_rank() == 1
    assert epochs == [1, 2]
    assert not backend.active
    assert study.trials[trial.number].intermediate_values == {}


def test_rank_zero_reports(study: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    trial = study.ask()

    train(Bridge(backends=[OptunaBackend(trial, metric=METRIC)], strict=True), [0.1])

    assert study.trials[trial.number].intermediate_values == {1: 0.1}


def test_invalid_rank_variable_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "first")
    monkeypatch.setenv("LOCAL_RANK", "2")

    assert process_rank() == 2


def test_no_trial_idle_with_debug_log(caplog: Any) -> None:
    backend = OptunaBackend(metric=METRIC)

    with caplog.at_level(logging.DEBUG, logger="tune_bridge.backends.optuna"):
        epochs = train(Bridge(backends=[backend], strict=True), [0.1, 0.2, 0.3])

    assert epochs == [1, 2, 3]
    assert not backend.active
    debug = optuna_messages(caplog, logging.DEBUG)
    assert len(debug) == 1
    assert "no Optuna trial" in debug[0]
    assert optuna_messages(caplog, logging.WARNING) == []
    backend.raise_if_pruned()  # nothing was pruned: no exception


def test_no_metric_named_warns(study: Any, caplog: Any) -> None:
    trial = study.ask()

    logs = caplog.at_level(logging.WARNING, logger="tune_bridge.backends.optuna")
    with logs, trial_context(trial) as report:
        train(Bridge(backends=["optuna"], strict=True), [0.1, 0.2])

    warnings = optuna_messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "no target metric is named" in warnings[0]
    assert report.values == {}


def test_multi_objective_study_idle(optuna: Any, caplog: Any) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()

    with caplog.at_level(logging.WARNING, logger="tune_bridge.backends.optuna"):
        train(Bridge(backends=[OptunaBackend(trial, metric=METRIC)], strict=True), [0.1])

    warnings = optuna_messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "single-objective" in warnings[0]


def test_trial_errors_do_not_reach_loop(caplog: Any) -> None:
    class BrokenTrial:
        number = 7

        def report(self, value: float, step: int) -> None:
            raise RuntimeError("storage is read-only")

        def should_prune(self) -> bool:
            raise AssertionError("should_prune must not run without a new report")

    with caplog.at_level(logging.DEBUG, logger="tune_bridge.backends.optuna"):
        epochs = train(
            Bridge(backends=[OptunaBackend(BrokenTrial(), metric=METRIC)], strict=True),
            [0.1, 0.2, 0.3],
        )

    assert epochs == [1, 2, 3]
    warnings = optuna_messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "trial.report for Optuna trial 7 failed" in warnings[0]


def test_invalid_metric_argument() -> None:
    with pytest.raises(TypeError, match="metric must be a non-empty metric name"):
        OptunaBackend(metric=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"needs the optuna\.trial\.Trial"):  # noqa: SIM117
        with trial_context(None):  # type: ignore[arg-type]
            pass


def test_import_leaves_optuna_unimported(tmp_path: Path) -> None:
    code = (
        "import sys, tune_bridge.backends.optuna\n"
        "from tune_bridge import Bridge\n"
        "bridge = Bridge(backends=['optuna'])\n"
        "bridge.run_start(name='t')\n"
        "bridge.epoch_end(1, {'val/acc': 0.5})\n"
        "bridge.run_end()\n"
        "print('optuna' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


# --- pruning ------------------------------------------------------------------------


def test_pruned_trial_stops_and_raises(study: Any, optuna: Any, make_recorder: Any) -> None:
    finished = study.ask()
    train(Bridge(backends=[OptunaBackend(finished, metric=METRIC)], strict=True), [0.5] * 5)
    study.tell(finished, 0.5)
    recorder = make_recorder()
    trial = study.ask()
    backend = OptunaBackend(trial, metric=METRIC)

    epochs = train(Bridge(backends=[recorder, backend], strict=True), [0.4, 0.3, 0.2, 0.1])

    assert epochs == [1]
    assert recorder.arguments("run_end")[0]["status"] == "stopped"
    assert backend.report is not None
    assert backend.report.pruned_epoch == 1
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1"):
        backend.raise_if_pruned()


def test_objective_prunes_through_context(optuna: Any) -> None:
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
    )
    for start in (0.8, 0.7, 0.1, 0.9):
        study.enqueue_trial({"start": start})
    epochs_run: dict[int, int] = {}

    def objective(trial: Any) -> float:
        start = trial.suggest_float("start", 0.0, 1.0)
        with trial_context(trial, metric=METRIC) as report:
            epochs = train(Bridge(backends=["optuna"], strict=True), [start] * 6)
        epochs_run[trial.number] = len(epochs)
        report.raise_if_pruned()
        return max(report.values.values())

    study.optimize(objective, n_trials=4)

    states = [trial.state.name for trial in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]
    # n_warmup_steps=2: epoch 1 is warm-up, epoch 2 is the first that may prune.
    assert epochs_run == {0: 6, 1: 6, 2: 2, 3: 6}
    assert study.trials[2].intermediate_values == {1: 0.1, 2: 0.1}
    assert study.best_value == 0.9


def test_unpruned_report_raises_nothing(study: Any) -> None:
    report = TrialReport(trial=study.ask(), metric=METRIC, values={1: 0.5})

    report.raise_if_pruned()

    assert not report.pruned
    assert report.last_step == 1


# --- Ultralytics ---------------------------------------------------------------------


@pytest.mark.ultralytics
@pytest.mark.slow
def test_ultralytics_study_matches_jsonl(optuna: Any, tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    pytest.importorskip("sklearn")
    from ultralytics import YOLO

    from tune_bridge.adapters.ultralytics import attach
    from tune_bridge.demo.datasets import build_digits_dataset
    from tune_bridge.demo.sweep import DIGITS_TRAIN_ARGS

    # 20 images per digit: 160 train and 40 val images; batch 16 gives 10 steps per epoch.
    data = build_digits_dataset(tmp_path / "digits", per_class=20)
    project = tmp_path / "trials"
    epochs = 6
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    # Two good rates complete first and set the median; 1e-5 and 3e-5 learn nothing in
    # 6 epochs (top-1 stays at chance, 0.1). TPE picks the last two.
    for lr0 in (3e-3, 1e-3, 1e-5, 3e-5):
        study.enqueue_trial({"lr0": lr0})

    def objective(trial: Any) -> float:
        lr0 = trial.suggest_float("lr0", 1e-5, 1e-1, log=True)
        name = f"trial{trial.number}"
        trial.set_user_attr("save_dir", str(project / name))
        model = YOLO("yolov8n-cls.yaml")
        attach(model, backends=["jsonl", "optuna"], strict=True)
        with trial_context(trial, metric=YOLO_METRIC) as report:
            model.train(
                data=str(data),
                project=str(project),
                name=name,
                exist_ok=True,
                **{**DIGITS_TRAIN_ARGS, "batch": 16, "epochs": epochs, "lr0": lr0},
                device="cpu",
            )
        report.raise_if_pruned()
        return max(report.values.values())

    study.optimize(objective, n_trials=6)

    states = {trial.number: trial.state.name for trial in study.trials}
    assert len(states) == 6
    assert set(states.values()) <= {"COMPLETE", "PRUNED"}
    assert states[0] == states[1] == "COMPLETE"
    assert states[2] == states[3] == "PRUNED"

    best_by_trial: dict[int, float] = {}
    for trial in study.trials:
        save_dir = Path(trial.user_attrs["save_dir"])
        events = read_events(save_dir / DEFAULT_FILE_NAME)
        logged = {
            event["epoch"]: event["metrics"][YOLO_METRIC]
            for event in events
            if event["event"] == "epoch_end"
        }
        assert trial.intermediate_values == logged, f"trial {trial.number}"
        rows = results_csv_rows(save_dir)
        assert rows == len(logged)
        status = events[-1]["status"]
        if trial.state.name == "PRUNED":
            assert rows < epochs, f"pruned trial {trial.number} ran all {epochs} epochs"
            assert status == "stopped"
        else:
            assert rows == epochs
            assert status == "completed"
            best_by_trial[trial.number] = max(logged.values())

    assert study.best_value == max(best_by_trial.values())
    assert study.best_trial.number in best_by_trial
    assert best_by_trial[study.best_trial.number] == study.best_value


@pytest.mark.ultralytics
def test_example_runs(optuna: Any, tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    pytest.importorskip("sklearn")
    out = tmp_path / "out"
    environment = {**os.environ, "TUNE_BRIDGE_CACHE": str(tmp_path / "cache")}

    arguments = ["--trials", "2", "--epochs", "1", "--per-class", "10", "--out", str(out)]

    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *arguments],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Trials pruned: 0 of 2" in result.stdout
    assert "Best value:" in result.stdout
    with open(out / "trials.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["state"] for row in rows] == ["COMPLETE", "COMPLETE"]
    assert all(Path(row["save_dir"], DEFAULT_FILE_NAME).is_file() for row in rows)
    assert not (tmp_path / "mlflow.db").exists()
