"""Tests of the Ultralytics adapter with real YOLO training, under real Ray Tune where marked.

Every training run here is small enough for two CPU cores: a 100-image subset of
scikit-learn's digits at 32 pixels for classification, and 40 generated 64-pixel
images of rectangles for detection. The offline set-up of ``ultralytics_env`` runs
before Ultralytics is imported, so no test makes Ultralytics reach the network.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ultralytics_env import configure_offline, font_installed

CONFIG_DIR = configure_offline()

pytest.importorskip("ultralytics")
pytest.importorskip("sklearn")

import tune_bridge.adapters.ultralytics as adapter_module  # noqa: E402
from tune_bridge import hookimpl  # noqa: E402
from tune_bridge.adapters.ultralytics import (  # noqa: E402
    FINAL_PREFIX,
    attach,
    make_tune_trainable,
)
from tune_bridge.backends.jsonl import DEFAULT_FILE_NAME  # noqa: E402
from tune_bridge.demo.datasets import build_boxes_dataset, build_digits_dataset  # noqa: E402

pytestmark = [pytest.mark.ultralytics]

RAYTUNE_CALLBACK_MODULE = "ultralytics.utils.callbacks.raytune"

# Ultralytics 8.4.190 writes these columns to a classification run's results.csv.
CLASSIFY_CSV_COLUMNS = [
    "epoch",
    "time",
    "train/loss",
    "metrics/accuracy_top1",
    "metrics/accuracy_top5",
    "val/loss",
    "lr/pg0",
    "lr/pg1",
    "lr/pg2",
]

# Small, CPU-only and quiet. An explicit optimizer keeps lr0 as given, because
# Ultralytics' optimizer="auto" replaces it.
CLASSIFY_ARGS: dict[str, Any] = {
    "imgsz": 32,
    "batch": 16,
    "workers": 0,
    "optimizer": "AdamW",
    "lr0": 0.002,
    "device": "cpu",
    "plots": False,
    "verbose": False,
}

DETECT_ARGS: dict[str, Any] = {
    "imgsz": 64,
    "batch": 8,
    "workers": 0,
    "optimizer": "AdamW",
    "device": "cpu",
    "plots": False,
    "verbose": False,
}

MAP_KEY = "metrics/mAP50-95(B)"


# --- helpers -----------------------------------------------------------------------


def read_events(path: Path) -> list[dict[str, Any]]:
    """Return the JSON objects of a JSONL log, one per line."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def read_results_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Return the column names and the rows of an Ultralytics results.csv."""
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file, skipinitialspace=True)
        columns = [name.strip() for name in reader.fieldnames or []]
        rows = [{key.strip(): value for key, value in row.items()} for row in reader]
    return columns, rows


def only_file(folder: Path, pattern: str) -> Path:
    """Return the single file under ``folder`` that matches ``pattern``."""
    matches = sorted(folder.rglob(pattern))
    assert len(matches) == 1, f"expected one {pattern} under {folder}, found {matches}"
    return matches[0]


def callback_modules(trainer: Any) -> set[str]:
    """Return the modules of every callback registered on an Ultralytics trainer."""
    return {
        getattr(function, "__module__", "") or ""
        for functions in trainer.callbacks.values()
        for function in functions
    }


def ray_config_classes() -> tuple[Any, Any]:
    """Return RunConfig and FailureConfig of the installed Ray."""
    from ray import train, tune

    # Ray 2.60 has both classes in ray.tune, and older releases only in ray.train.
    run_config = getattr(tune, "RunConfig", None) or train.RunConfig
    failure_config = getattr(tune, "FailureConfig", None) or train.FailureConfig
    return run_config, failure_config


def fit_one_trial(
    trainable: Any,
    storage: Path,
    name: str,
    *,
    scheduler: Any = None,
    max_failures: int = 0,
) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``trainable`` as the only trial of a Tuner.

    Returns the trial's Result and every result that Tune received, in order. The
    results come from a Tune callback in this process: after a restart, Ray 2.60's
    ``Result.metrics_dataframe`` held only the results since the restart in some runs.
    """
    from ray import tune

    class ResultRecorder(tune.Callback):
        def __init__(self) -> None:
            self.results: list[dict[str, Any]] = []

        def on_trial_result(
            self,
            iteration: int,
            trials: list[Any],
            trial: Any,
            result: dict[str, Any],
            **info: Any,
        ) -> None:
            self.results.append(dict(result))

    recorder = ResultRecorder()
    run_config_class, failure_config_class = ray_config_classes()
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(num_samples=1, scheduler=scheduler),
        run_config=run_config_class(
            name=name,
            storage_path=str(storage),
            failure_config=failure_config_class(max_failures=max_failures),
            callbacks=[recorder],
            verbose=0,
        ),
    )
    grid = tuner.fit()
    assert len(grid) == 1
    return grid[0], recorder.results


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100-image digits subset: 80 train and 20 val images of 32 pixels."""
    return build_digits_dataset(tmp_path_factory.mktemp("data") / "digits", per_class=10)


@pytest.fixture(scope="module")
def boxes_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated detection data set: 32 train and 8 val images of 64 pixels."""
    assert font_installed(CONFIG_DIR), "without Arial.ttf Ultralytics would download it"
    return build_boxes_dataset(tmp_path_factory.mktemp("data") / "boxes")


@pytest.fixture(scope="module")
def ray_instance() -> Any:
    """A local Ray instance with 2 CPUs, shared by the module's Tune tests."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_ultralytics_configured_offline() -> None:
    from ultralytics.utils import ONLINE, SETTINGS

    assert ONLINE is False
    assert Path(SETTINGS.file).is_relative_to(CONFIG_DIR)
    assert font_installed(CONFIG_DIR)


# --- under Ray Tune ----------------------------------------------------------------


@pytest.mark.ray
def test_classify_tune_reports_each_epoch(
    ray_instance: Any, digits_data: Path, tmp_path: Path
) -> None:
    project = tmp_path / "yolo"
    trainable = make_tune_trainable(
        "yolov8n-cls.yaml", digits_data, project=project, epochs=3, **CLASSIFY_ARGS
    )

    result, reported = fit_one_trial(trainable, tmp_path / "ray_results", "classify")

    assert result.error is None
    # Ultralytics' final evaluation of best.pt would be a 4th result with epoch 4.
    assert len(reported) == 3
    assert [row["epoch"] for row in reported] == [1, 2, 3]
    assert [row["training_iteration"] for row in reported] == [1, 2, 3]
    for key in ("train/loss", "metrics/accuracy_top1", "lr/pg0", "fitness"):
        missing = [row["epoch"] for row in reported if key not in row]
        assert missing == [], f"{key} is missing in the results of epochs {missing}"
    final_keys = [key for row in reported for key in row if key.startswith(FINAL_PREFIX)]
    assert final_keys == []

    columns, rows = read_results_csv(only_file(project, "results.csv"))
    assert columns == CLASSIFY_CSV_COLUMNS
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    # results.csv contains the values that Tune received, to 6 significant digits.
    for key in CLASSIFY_CSV_COLUMNS[2:]:
        sent = [float(row[key]) for row in reported]
        written = [float(row[key]) for row in rows]
        assert written == pytest.approx(sent, rel=1e-5, abs=1e-9), key

    events = read_events(only_file(project, DEFAULT_FILE_NAME))
    run_end = events[-1]
    assert run_end["event"] == "run_end"
    assert run_end["status"] == "completed"
    assert FINAL_PREFIX + "metrics/accuracy_top1" in run_end["metrics"]


@pytest.mark.ray
def test_detect_tune_map_key_verbatim_asha(
    ray_instance: Any, boxes_data: Path, tmp_path: Path
) -> None:
    from ray.tune.schedulers import ASHAScheduler

    project = tmp_path / "yolo"
    trainable = make_tune_trainable(
        "yolov8n.yaml", boxes_data, project=project, epochs=2, **DETECT_ARGS
    )
    scheduler = ASHAScheduler(metric=MAP_KEY, mode="max", grace_period=1, max_t=2)

    # tuner.fit() raises TuneError when a result lacks the scheduler's metric.
    result, reported = fit_one_trial(
        trainable, tmp_path / "ray_results", "detect", scheduler=scheduler
    )

    assert result.error is None
    assert [row["epoch"] for row in reported] == [1, 2]
    assert all(MAP_KEY in row for row in reported)
    frame = result.metrics_dataframe
    assert MAP_KEY in frame.columns
    assert frame[MAP_KEY].notna().all()

    # Every metric of the JSONL log reached Tune under the same key with the same value.
    events = read_events(only_file(project, DEFAULT_FILE_NAME))
    logged = [event["metrics"] for event in events if event["event"] == "epoch_end"]
    assert len(logged) == 2
    for row, metrics in zip(reported, logged, strict=True):
        assert MAP_KEY in metrics
        assert {key: row.get(key) for key in metrics} == metrics
    for key in ("train/box_loss", "metrics/mAP50(B)", "val/box_loss", "lr/pg0", "fitness"):
        assert key in logged[0]

    _, rows = read_results_csv(only_file(project, "results.csv"))
    written = [float(row[MAP_KEY]) for row in rows]
    assert written == pytest.approx([row[MAP_KEY] for row in reported], rel=1e-5, abs=1e-9)


@pytest.mark.ray
def test_restarted_trial_resumes_from_checkpoint(
    ray_instance: Any, digits_data: Path, tmp_path: Path
) -> None:
    project = tmp_path / "yolo"
    marker = tmp_path / "failed_once"
    start_epochs_file = tmp_path / "start_epochs.txt"
    inner = make_tune_trainable(
        "yolov8n-cls.yaml", digits_data, project=project, epochs=4, **CLASSIFY_ARGS
    )

    def crash_at_epoch_3_once(trainer: Any) -> None:
        if trainer.epoch == 2 and not marker.exists():  # 0-based: the 3rd epoch
            marker.touch()
            raise RuntimeError("injected failure at the start of epoch 3")

    def record_start_epoch(trainer: Any) -> None:
        with open(start_epochs_file, "a", encoding="utf-8") as file:
            file.write(f"{trainer.start_epoch}\n")

    def trainable(config: dict[str, Any]) -> None:
        # Runs in the Ray worker. YOLO() copies Ultralytics' default callbacks into each
        # new model, so the fresh model and the resumed one both get the test callbacks.
        from ultralytics.utils.callbacks import base

        added = [
            ("on_train_start", record_start_epoch),
            ("on_train_epoch_start", crash_at_epoch_3_once),
        ]
        for event, callback in added:
            base.default_callbacks[event].append(callback)
        try:
            inner(config)
        finally:
            for event, callback in added:
                base.default_callbacks[event].remove(callback)

    result, reported = fit_one_trial(trainable, tmp_path / "ray_results", "resume", max_failures=1)

    assert marker.exists(), "the injected failure never happened"
    assert result.error is None
    assert [row["epoch"] for row in reported] == [1, 2, 3, 4]
    assert start_epochs_file.read_text().split() == ["0", "2"]

    _, rows = read_results_csv(only_file(project, "results.csv"))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]

    events = read_events(only_file(project, DEFAULT_FILE_NAME))
    kinds = [event["event"] for event in events]
    starts = [index for index, kind in enumerate(kinds) if kind == "run_start"]
    assert len(starts) == 2
    first_epoch_after_restart = next(
        event["epoch"] for event in events[starts[1] :] if event["event"] == "epoch_end"
    )
    assert first_epoch_after_restart == 3
    statuses = [event["status"] for event in events if event["event"] == "run_end"]
    assert statuses == ["failed", "completed"]


# --- outside Ray Tune --------------------------------------------------------------


class StopAtEpoch:
    """A backend that requests a stop once ``epoch`` has finished."""

    name = "stop_at_epoch"

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    @hookimpl
    def tune_bridge_should_stop(self, epoch: int) -> bool:
        return epoch >= self.epoch


def test_backend_stop_request_ends_training(digits_data: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    model = YOLO("yolov8n-cls.yaml")
    bridge = attach(model, backends=[StopAtEpoch(2), "jsonl"])
    stop_flags: list[bool] = []

    # Registered after attach, so it reads the flag that the adapter has just set.
    def record_stop_flag(trainer: Any) -> None:
        stop_flags.append(bool(trainer.stop))

    model.add_callback("on_fit_epoch_end", record_stop_flag)

    model.train(
        data=str(digits_data), project=str(tmp_path), name="stop", epochs=5, **CLASSIFY_ARGS
    )

    # The last flag belongs to the final evaluation of best.pt, which runs after the stop.
    assert stop_flags[:2] == [False, True]
    assert model.trainer.epoch == 1  # 0-based: the 2nd epoch was the last trained
    assert bridge.stop_requested_by == ["stop_at_epoch"]
    save_dir = Path(model.trainer.save_dir)
    _, rows = read_results_csv(save_dir / "results.csv")
    assert len(rows) == 2

    events = read_events(save_dir / DEFAULT_FILE_NAME)
    epochs = [event["epoch"] for event in events if event["event"] == "epoch_end"]
    assert epochs == [1, 2]
    assert events[-1]["event"] == "run_end"
    assert events[-1]["status"] == "stopped"
    # Ultralytics still evaluated best.pt after the stop.
    assert FINAL_PREFIX + "metrics/accuracy_top1" in events[-1]["metrics"]


def _train_recording(model: Any, data: Path, project: Path, name: str) -> dict[str, Any]:
    """Train 3 epochs and return each epoch's trainer.metrics keys and the caught warnings."""
    metric_keys: list[list[str]] = []

    def record_metric_keys(trainer: Any) -> None:
        metric_keys.append(sorted(trainer.metrics))

    model.add_callback("on_fit_epoch_end", record_metric_keys)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.train(data=str(data), project=str(project), name=name, epochs=3, **CLASSIFY_ARGS)
    return {"metric_keys": metric_keys, "warnings": caught}


def _mentions_ray(warning: warnings.WarningMessage) -> bool:
    text = str(warning.message)
    if "ray" in Path(warning.filename).parts or "get_trial_id" in text:
        return True
    return re.search(r"\bray\b", text, re.IGNORECASE) is not None


def test_train_outside_tune_warns_nothing(
    digits_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    import ray.util.debug
    from ultralytics import YOLO

    # Ray warns about get_trial_id outside a session only once per process (log_once).
    # A fresh record makes the warning fire here if anything calls it.
    monkeypatch.setattr(ray.util.debug, "_logged", set())
    model = YOLO("yolov8n-cls.yaml")
    bridge = attach(model)
    assert list(bridge.backends) == ["jsonl", "ray"]

    attached = _train_recording(model, digits_data, tmp_path, "attached")

    ray_warnings = [str(w.message) for w in attached["warnings"] if _mentions_ray(w)]
    assert ray_warnings == []
    assert bridge.backends["ray"].active is False

    events = read_events(Path(model.trainer.save_dir) / DEFAULT_FILE_NAME)
    kinds = [event["event"] for event in events]
    assert kinds == ["run_start", *["checkpoint_saved", "epoch_end"] * 3, "run_end"]
    epochs = [event["epoch"] for event in events if event["event"] == "epoch_end"]
    assert epochs == [1, 2, 3]
    assert events[-1]["status"] == "completed"

    attached_trainer = model.trainer
    modules = callback_modules(attached_trainer)
    assert RAYTUNE_CALLBACK_MODULE not in modules

    # The same training without the adapter, for comparison.
    plain = YOLO("yolov8n-cls.yaml")
    baseline = _train_recording(plain, digits_data, tmp_path, "plain")

    baseline_modules = callback_modules(plain.trainer)
    assert RAYTUNE_CALLBACK_MODULE in baseline_modules, "the comparison run lacks the callback"
    integrations = {m for m in baseline_modules if m.startswith("ultralytics.")}
    integrations -= {RAYTUNE_CALLBACK_MODULE, "ultralytics.utils.callbacks.base"}
    assert integrations, "the comparison run has no other integration callbacks"
    assert integrations <= modules

    assert attached["metric_keys"] == baseline["metric_keys"]
    assert sorted(attached_trainer.metrics) == sorted(plain.trainer.metrics)

    columns, rows = read_results_csv(Path(attached_trainer.save_dir) / "results.csv")
    baseline_columns, baseline_rows = read_results_csv(Path(plain.trainer.save_dir) / "results.csv")
    assert columns == baseline_columns
    assert len(rows) == len(baseline_rows) == 3


# --- unit tests with a fake trainer ------------------------------------------------


class FakeTrainer:
    """The attributes of an Ultralytics trainer that the adapter reads."""

    def __init__(self, save_dir: Path, epochs: int) -> None:
        self.save_dir = save_dir
        self.args = SimpleNamespace(epochs=epochs, lr0=0.01)
        self.epochs = epochs
        self.epoch = 0
        self.stop = False
        self.tloss = 0.5
        self.metrics: dict[str, float] = {}
        self.lr = {"lr/pg0": 0.01}
        self.fitness = 0.0
        self.last = save_dir / "weights" / "last.pt"
        self.callbacks: dict[str, list[Any]] = {}

    def label_loss_items(self, loss: float, prefix: str = "train") -> dict[str, float]:
        return {f"{prefix}/loss": float(loss)}


def _run_fake_training(adapter: Any, trainer: FakeTrainer, accuracies: list[float]) -> None:
    """Drive the adapter like Ultralytics: epochs, then the final evaluation of best.pt."""
    adapter.on_pretrain_routine_start(trainer)
    for index, accuracy in enumerate(accuracies):
        trainer.epoch = index
        trainer.metrics = {"metrics/accuracy_top1": accuracy, "val/loss": 1.0 - accuracy}
        trainer.fitness = accuracy
        adapter.on_train_epoch_end(trainer)
        adapter.on_fit_epoch_end(trainer)
    # The final evaluation: on_fit_epoch_end again, epoch advanced, no train epoch end.
    trainer.epoch = len(accuracies)
    trainer.metrics = {"metrics/accuracy_top1": max(accuracies)}
    adapter.on_fit_epoch_end(trainer)
    adapter.on_train_end(trainer)
    adapter.on_teardown(trainer)


def test_adapter_silent_on_other_ranks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_recorder: Any
) -> None:
    from tune_bridge import Bridge

    recorder = make_recorder()
    adapter = adapter_module.UltralyticsAdapter(Bridge(backends=[recorder]))
    monkeypatch.setattr(adapter_module, "_rank", lambda: 1)

    _run_fake_training(adapter, FakeTrainer(tmp_path, epochs=2), [0.5, 0.7])

    assert recorder.events == []


@pytest.mark.parametrize("rank", [-1, 0])
def test_adapter_final_eval_becomes_run_end(
    rank: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_recorder: Any
) -> None:
    from tune_bridge import Bridge

    recorder = make_recorder()
    adapter = adapter_module.UltralyticsAdapter(Bridge(backends=[recorder]))
    monkeypatch.setattr(adapter_module, "_rank", lambda: rank)

    _run_fake_training(adapter, FakeTrainer(tmp_path, epochs=2), [0.5, 0.7])

    epochs = [arguments["epoch"] for arguments in recorder.arguments("epoch_end")]
    assert epochs == [1, 2]
    run_ends = recorder.arguments("run_end")
    assert len(run_ends) == 1
    assert run_ends[0]["status"] == "completed"
    assert run_ends[0]["metrics"][FINAL_PREFIX + "metrics/accuracy_top1"] == 0.7
    # The last epoch's metrics stay, unprefixed, beside the final ones.
    assert run_ends[0]["metrics"]["metrics/accuracy_top1"] == 0.7
    assert run_ends[0]["metrics"]["val/loss"] == pytest.approx(0.3)
