"""Tests of the MLflow backend against a real MLflow with local SQLite stores.

Every test reads the runs back with ``MlflowClient`` and compares them with what a
``Recorder`` backend beside the MLflow backend received from the Bridge. No test
starts a tracking server or uses an ``http`` URI: the stores are SQLite files under
``tmp_path``. The Ultralytics test trains 2 epochs on a 100-image digits subset.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tune_bridge import Bridge
from tune_bridge.backends.mlflow import (
    CHECKPOINT_EPOCH_TAG,
    METRIC_KEY_MAP_TAG,
    PARAM_KEY_MAP_TAG,
    STATUS_TAG,
    MlflowBackend,
    mlflow_key,
    read_key_map,
)
from ultralytics_env import configure_offline

CONFIG_DIR = configure_offline()
# Without this, importing MLflow 3.17 starts its usage telemetry client, which writes
# ~/.config/mlflow/telemetry.json. Ultralytics' own integration also imports MLflow.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

# MLflow 3.17.2's SQLite store uses a loader strategy that SQLAlchemy 2.1 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

ULTRALYTICS_MLFLOW_MODULE = "ultralytics.utils.callbacks.mlflow"

# Keys that MLflow rejects as they are, each with the name of the documented rule.
KEY_CASES = {
    "metrics/mAP50-95(B)": "metrics/mAP50-95_B_",
    "val/acc:top1": "val/acc_top1",
    "loss[0]": "loss_0_",
    "/leading": "_/leading",
    "trailing/": "trailing/_",
    "a//b": "a/_/b",
    "a/./b": "a/_/b",
    "a/../b": "a/__/b",
    "..": "__",
    "": "_",
    "größe": "größe",  # word characters of any script are allowed
    "plain/key-1.5 x": "plain/key-1.5 x",
}


# --- helpers -----------------------------------------------------------------------


def mlflow_history(client: Any, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Return ``{original key: [(step, value), ...]}`` of a run, read back from MLflow."""
    run = client.get_run(run_id)
    key_map = read_key_map(run.data.tags, METRIC_KEY_MAP_TAG)
    history: dict[str, list[tuple[int, float]]] = {}
    for name in run.data.metrics:
        original = key_map.get(name, name)
        assert original not in history, f"two MLflow metrics hold {original!r}"
        entries = client.get_metric_history(run_id, name)
        history[original] = sorted((entry.step, entry.value) for entry in entries)
    return history


def bridge_history(recorder: Any) -> dict[str, list[tuple[int, float]]]:
    """Return what the Bridge sent, in the form that the MLflow backend logs it.

    Epoch metrics are logged at their epoch; run-end metrics that are new or differ
    from the last epoch's are logged at the last epoch.
    """
    history: dict[str, list[tuple[int, float]]] = {}
    last_epoch, last_metrics = 0, {}
    for arguments in recorder.arguments("epoch_end"):
        last_epoch, last_metrics = arguments["epoch"], arguments["metrics"]
        for key, value in last_metrics.items():
            history.setdefault(key, []).append((last_epoch, float(value)))
    for arguments in recorder.arguments("run_end"):
        for key, value in arguments["metrics"].items():
            if key not in last_metrics or last_metrics[key] != value:
                history.setdefault(key, []).append((last_epoch, float(value)))
    return {key: sorted(entries) for key, entries in history.items()}


def drop_ultralytics_mlflow(trainer: Any) -> None:
    # Ultralytics 8.4 turns its own MLflow callback on in any test whose id contains
    # "test_mlflow"; it would log into ./mlflow.db a second time.
    for functions in trainer.callbacks.values():
        functions[:] = [
            f for f in functions if getattr(f, "__module__", "") != ULTRALYTICS_MLFLOW_MODULE
        ]


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_module() -> Any:
    return pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def shared_uri(mlflow_module: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store shared by the module: creating one costs 1 to 5 seconds.

    Its experiment ``tune_bridge`` keeps artifacts next to the database; without an
    artifact location MLflow would put them into ``./mlruns``.
    """
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    client_for(uri).create_experiment(
        "tune_bridge", artifact_location=(folder / "artifacts").as_uri()
    )
    return uri


@pytest.fixture(autouse=True)
def _clean_mlflow_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    # The developer's MLflow settings must not redirect the runs, and a bug must not
    # write ./mlflow.db into the repository. MLflow 3 sends usage telemetry over the
    # network from tracking calls unless MLFLOW_DISABLE_TELEMETRY is set.
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(variable, raising=False)
    for variable in ("RANK", "LOCAL_RANK"):
        monkeypatch.delenv(variable, raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
    assert not (work / "mlflow.db").exists()
    assert not (work / "mlruns").exists()


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def train_plain(bridge: Bridge, epochs: int, run_dir: Path, **run_start: Any) -> None:
    """Run a plain loop of ``epochs`` epochs with keys that MLflow rejects as they are."""
    bridge.run_start(name=run_dir.name, run_dir=run_dir, **run_start)
    for epoch in range(1, epochs + 1):
        metrics = {
            "train/loss": 1.0 / epoch,
            "metrics/mAP50-95(B)": 0.1 * epoch,
            "val/acc:top1": 0.05 * epoch,
            "lr/pg0": 0.01,
            "batches": 10 * epoch,  # an int
        }
        if bridge.epoch_end(epoch, metrics):
            break


# --- key mapping --------------------------------------------------------------------


@pytest.mark.parametrize(("key", "expected"), KEY_CASES.items(), ids=list(KEY_CASES))
def test_mlflow_key_rule(key: str, expected: str) -> None:
    assert mlflow_key(key) == expected


def test_mlflow_key_cuts_long_names() -> None:
    assert len(mlflow_key("x" * 300)) == 250
    assert mlflow_key("a" * 249 + "/b") == "a" * 249 + "_"
    assert mlflow_key("a" * 248 + "/..x") == "a" * 248 + "/_"


def test_read_key_map_merges_split_tags() -> None:
    tags = {
        METRIC_KEY_MAP_TAG: json.dumps({"a_": "a("}),
        METRIC_KEY_MAP_TAG + ".2": json.dumps({"b_": "b("}),
        METRIC_KEY_MAP_TAG + ".x": json.dumps({"c_": "c("}),  # not a continuation
        PARAM_KEY_MAP_TAG: json.dumps({"d_": "d("}),
    }

    assert read_key_map(tags) == {"a_": "a(", "b_": "b("}
    assert read_key_map(tags, PARAM_KEY_MAP_TAG) == {"d_": "d("}


def test_import_leaves_mlflow_unimported(tmp_path: Path) -> None:
    code = (
        "import sys, tune_bridge.backends.mlflow\n"
        "from tune_bridge import Bridge\n"
        "Bridge(backends=['mlflow'])\n"
        "print('mlflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- plain loop ---------------------------------------------------------------------


def test_plain_loop_metrics_match_bridge(
    shared_uri: str, tmp_path: Path, make_recorder: Any
) -> None:
    recorder = make_recorder()
    backend = MlflowBackend(tracking_uri=shared_uri)

    with Bridge(backends=[recorder, backend], strict=True) as bridge:
        train_plain(bridge, 4, tmp_path / "plain")
        bridge.run_end("completed", metrics={"test/acc(top1)": 0.9, "train/loss": 0.25})

    client = client_for(shared_uri)
    run = client.get_run(backend.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[STATUS_TAG] == "completed"
    assert run.info.run_name == "plain"
    assert mlflow_history(client, backend.run_id) == bridge_history(recorder)


def test_key_map_tag_lists_renamed_keys(
    shared_uri: str, tmp_path: Path, make_recorder: Any
) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)
    # "x(y)" comes first and takes "x_y_", so the valid key "x_y_" becomes "x_y__2".
    metrics = {"x(y)": 1.0, "x_y_": 2.0, "x[y]": 3.0, **{key: 4.0 for key in KEY_CASES}}

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="keys", run_dir=tmp_path / "keys")
        bridge.epoch_end(1, metrics)

    client = client_for(shared_uri)
    run = client.get_run(backend.run_id)
    key_map = read_key_map(run.data.tags)
    assert key_map["x_y_"] == "x(y)"
    assert key_map["x_y__2"] == "x_y_"
    assert key_map["x_y__3"] == "x[y]"
    assert key_map["metrics/mAP50-95_B_"] == "metrics/mAP50-95(B)"
    assert "plain/key-1.5 x" not in key_map
    restored = {key_map.get(name, name): value for name, value in run.data.metrics.items()}
    assert restored == metrics


def test_key_map_split_over_tags(shared_uri: str, tmp_path: Path) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)
    # 60 renamed keys of about 200 characters give about 24,000 characters of JSON.
    # One tag value takes at most 8,000 characters in MLflow 3.17.
    metrics = {f"{index:03d}(" + "k" * 200 + ")": float(index) for index in range(60)}

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="long-keys", run_dir=tmp_path / "long")
        bridge.epoch_end(1, metrics)

    run = client_for(shared_uri).get_run(backend.run_id)
    map_tags = [name for name in run.data.tags if name.startswith(METRIC_KEY_MAP_TAG)]
    assert len(map_tags) >= 3
    key_map = read_key_map(run.data.tags)
    restored = {key_map.get(name, name): value for name, value in run.data.metrics.items()}
    assert restored == metrics


@pytest.mark.parametrize(
    ("status", "mlflow_status"),
    [("completed", "FINISHED"), ("stopped", "KILLED"), ("failed", "FAILED")],
)
def test_run_end_status(shared_uri: str, tmp_path: Path, status: str, mlflow_status: str) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)
    bridge = Bridge(backends=[backend], strict=True)

    train_plain(bridge, 2, tmp_path / status)
    bridge.run_end(status)

    run = client_for(shared_uri).get_run(backend.run_id)
    assert run.info.status == mlflow_status
    assert run.data.tags[STATUS_TAG] == status


def test_stop_request_ends_run_killed(shared_uri: str, tmp_path: Path, make_recorder: Any) -> None:
    recorder = make_recorder(stop_at=2)
    backend = MlflowBackend(tracking_uri=shared_uri)

    with Bridge(backends=[recorder, backend], strict=True) as bridge:
        train_plain(bridge, 5, tmp_path / "stopped")

    client = client_for(shared_uri)
    assert client.get_run(backend.run_id).info.status == "KILLED"
    history = mlflow_history(client, backend.run_id)
    assert history == bridge_history(recorder)
    assert [step for step, _ in history["train/loss"]] == [1, 2]


def test_training_error_ends_run_failed(
    shared_uri: str, tmp_path: Path, make_recorder: Any
) -> None:
    recorder = make_recorder()
    backend = MlflowBackend(tracking_uri=shared_uri)

    bridge = Bridge(backends=[recorder, backend], strict=True)
    with pytest.raises(RuntimeError, match="out of memory"), bridge:
        train_plain(bridge, 3, tmp_path / "crash")
        raise RuntimeError("out of memory")

    client = client_for(shared_uri)
    run = client.get_run(backend.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags[STATUS_TAG] == "failed"
    assert mlflow_history(client, backend.run_id) == bridge_history(recorder)


def test_run_ends_when_logging_fails(
    shared_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)
    bridge = Bridge(backends=[backend])
    train_plain(bridge, 1, tmp_path / "broken-store")
    client = backend._run.client  # type: ignore[union-attr]

    def fail(*arguments: Any, **options: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(client, "log_batch", fail)
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        bridge.run_end("completed", metrics={"test/acc": 0.9})

    assert client_for(shared_uri).get_run(backend.run_id).info.status == "FINISHED"
    assert any("OSError" in record.getMessage() for record in caplog.records)


def test_config_logged_as_params(shared_uri: str, tmp_path: Path, caplog: Any) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)
    config = {
        "lr0": 0.01,
        "optimizer": "AdamW",
        "cache": None,
        "imgsz": [32, 32],
        "augment": {"fliplr(p)": 0.0, "hsv": {"h": 0.1}},
        "notes": "n" * 7000,
        **{f"extra_{index:03d}": index for index in range(150)},  # more than one batch
    }

    bridge = Bridge(backends=[backend], strict=True)
    with caplog.at_level(logging.WARNING, logger="tune_bridge.backends.mlflow"), bridge:
        bridge.run_start(name="params", config=config, run_dir=tmp_path / "params")

    run = client_for(shared_uri).get_run(backend.run_id)
    params = run.data.params
    assert params["lr0"] == "0.01"
    assert params["optimizer"] == "AdamW"
    assert params["cache"] == "None"
    assert params["imgsz"] == "[32, 32]"
    assert params["augment/fliplr_p_"] == "0.0"
    assert params["augment/hsv/h"] == "0.1"
    assert params["notes"] == "n" * 6000
    assert params["extra_149"] == "149"
    assert len(params) == 7 + 150
    assert read_key_map(run.data.tags, PARAM_KEY_MAP_TAG) == {
        "augment/fliplr_p_": "augment/fliplr(p)"
    }
    assert [r.getMessage() for r in caplog.records if "notes" in r.getMessage()]


def test_checkpoint_uploaded_once_per_epoch(shared_uri: str, tmp_path: Path) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri, log_checkpoints=True)
    run_dir = tmp_path / "ckpt"
    checkpoint = run_dir / "weights" / "last.pt"

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="ckpt", run_dir=run_dir)
        for epoch in (1, 2):
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            checkpoint.write_text(f"state after epoch {epoch}")
            bridge.checkpoint_saved(epoch, checkpoint)
            bridge.epoch_end(epoch, {"loss": 1.0}, checkpoint=checkpoint)

    client = client_for(shared_uri)
    artifacts = [item.path for item in client.list_artifacts(backend.run_id, "checkpoints")]
    assert artifacts == ["checkpoints/last.pt"]
    downloaded = client.download_artifacts(backend.run_id, "checkpoints/last.pt", str(tmp_path))
    assert Path(downloaded).read_text() == "state after epoch 2"
    assert client.get_run(backend.run_id).data.tags[CHECKPOINT_EPOCH_TAG] == "2"


def test_checkpoints_not_uploaded_by_default(shared_uri: str, tmp_path: Path) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_text("state")

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="no-ckpt", run_dir=tmp_path / "no-ckpt")
        bridge.checkpoint_saved(1, checkpoint)
        bridge.epoch_end(1, {"loss": 1.0}, checkpoint=checkpoint)

    assert client_for(shared_uri).list_artifacts(backend.run_id) == []


# --- stores and runs ----------------------------------------------------------------


def test_default_store_in_run_dir(mlflow_module: Any, tmp_path: Path) -> None:
    backend = MlflowBackend(log_checkpoints=True)
    run_dir = tmp_path / "default"
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_text("state")

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="default", run_dir=run_dir)
        bridge.epoch_end(1, {"loss": 0.5}, checkpoint=checkpoint)

    database = run_dir / "mlflow.db"
    assert database.is_file()
    client = client_for(f"sqlite:///{database.as_posix()}")
    run = client.get_run(backend.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"loss": 0.5}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "tune_bridge"
    assert (run_dir / "mlartifacts").is_dir()
    assert list((run_dir / "mlartifacts").rglob("last.pt"))


def test_tracking_uri_from_environment(
    mlflow_module: Any, shared_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    backend = MlflowBackend()
    run_dir = tmp_path / "env"

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="env", run_dir=run_dir)
        bridge.epoch_end(1, {"loss": 0.5})

    assert not (run_dir / "mlflow.db").exists()
    client = client_for(shared_uri)
    run = client.get_run(backend.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "from-env"
    assert run.info.status == "FINISHED"


def test_experiment_id_from_environment(
    mlflow_module: Any, shared_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment_id = client_for(shared_uri).create_experiment("by-id")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    in_store = MlflowBackend(tracking_uri=shared_uri)
    in_run_dir = MlflowBackend()

    for backend, name in ((in_store, "by-id"), (in_run_dir, "local")):
        with Bridge(backends=[backend], strict=True) as bridge:
            bridge.run_start(name=name, run_dir=tmp_path / name)

    assert client_for(shared_uri).get_run(in_store.run_id).info.experiment_id == experiment_id
    local = client_for(f"sqlite:///{(tmp_path / 'local' / 'mlflow.db').as_posix()}")
    local_run = local.get_run(in_run_dir.run_id)
    assert local.get_experiment(local_run.info.experiment_id).name == "tune_bridge"


def test_joins_active_run(
    mlflow_module: Any, shared_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_uri)
    backend = MlflowBackend()

    with mlflow_module.start_run(run_name="outer") as outer:
        mlflow_module.log_param("lr0", "0.01")
        with Bridge(backends=[backend], strict=True) as bridge:
            bridge.run_start(name="joined", config={"lr0": 0.01}, run_dir=tmp_path / "j")
            bridge.epoch_end(1, {"acc(top1)": 0.5})
        status_after_bridge = client_for(shared_uri).get_run(outer.info.run_id).info.status

    assert backend.run_id == outer.info.run_id
    assert status_after_bridge == "RUNNING"
    run = client_for(shared_uri).get_run(outer.info.run_id)
    assert run.info.status == "FINISHED"  # ended by its owner, the with block
    assert run.data.tags[STATUS_TAG] == "completed"
    assert run.data.metrics == {"acc_top1_": 0.5}
    assert read_key_map(run.data.tags) == {"acc_top1_": "acc(top1)"}


def test_joined_run_keeps_conflicting_params(
    mlflow_module: Any,
    shared_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_uri)
    backend = MlflowBackend()

    logs = caplog.at_level(logging.WARNING, logger="tune_bridge.backends.mlflow")
    with logs, mlflow_module.start_run() as outer:
        mlflow_module.log_param("lr0", "0.5")
        with Bridge(backends=[backend], strict=True) as bridge:
            bridge.run_start(name="conflict", config={"lr0": 0.01, "epochs": 3})

    params = client_for(shared_uri).get_run(outer.info.run_id).data.params
    assert params == {"lr0": "0.5", "epochs": "3"}
    warnings = [r.getMessage() for r in caplog.records if "cannot change" in r.getMessage()]
    assert len(warnings) == 1
    assert "lr0" in warnings[0]


def test_nested_run_is_child(
    mlflow_module: Any, shared_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_uri)
    backend = MlflowBackend(nested=True)

    with mlflow_module.start_run() as outer:
        with Bridge(backends=[backend], strict=True) as bridge:
            bridge.run_start(name="child", config={"lr0": 0.01}, run_dir=tmp_path / "child")
            bridge.epoch_end(1, {"loss": 0.5})
        outer_status = client_for(shared_uri).get_run(outer.info.run_id).info.status

    child = client_for(shared_uri).get_run(backend.run_id)
    assert backend.run_id != outer.info.run_id
    assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert child.info.experiment_id == outer.info.experiment_id
    assert child.info.status == "FINISHED"
    assert outer_status == "RUNNING"


@pytest.mark.parametrize("variable", ["RANK", "LOCAL_RANK"])
def test_rank_nonzero_idle(
    mlflow_module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    backend = MlflowBackend()
    run_dir = tmp_path / "rank1"

    with Bridge(backends=[backend], strict=True) as bridge:
        bridge.run_start(name="rank1", run_dir=run_dir)
        bridge.epoch_end(1, {"loss": 0.5})

    assert backend.run_id is None
    assert not (run_dir / "mlflow.db").exists()


def test_deleted_experiment_is_reported(shared_uri: str, tmp_path: Path) -> None:
    client = client_for(shared_uri)
    client.delete_experiment(client.create_experiment("deleted-one"))
    backend = MlflowBackend(tracking_uri=shared_uri, experiment_name="deleted-one")
    bridge = Bridge(backends=[backend], strict=True)

    with pytest.raises(ValueError, match="'deleted-one' is deleted"):
        bridge.run_start(name="deleted", run_dir=tmp_path / "deleted")


def test_nonfinite_kept_values_round_trip(shared_uri: str, tmp_path: Path) -> None:
    backend = MlflowBackend(tracking_uri=shared_uri)

    with Bridge(backends=[backend], strict=True, nonfinite="keep") as bridge:
        bridge.run_start(name="nan", run_dir=tmp_path / "nan")
        bridge.epoch_end(1, {"loss": float("nan"), "acc": 0.5})

    metrics = client_for(shared_uri).get_run(backend.run_id).data.metrics
    assert math.isnan(metrics["loss"])
    assert metrics["acc"] == 0.5


# --- Ultralytics ---------------------------------------------------------------------


@pytest.mark.ultralytics
def test_ultralytics_run_matches_bridge(
    mlflow_module: Any, tmp_path: Path, make_recorder: Any
) -> None:
    pytest.importorskip("ultralytics")
    pytest.importorskip("sklearn")
    from ultralytics import YOLO

    from tune_bridge.adapters.ultralytics import attach
    from tune_bridge.demo.datasets import build_digits_dataset

    data = build_digits_dataset(tmp_path / "digits", per_class=10)
    recorder = make_recorder()
    backend = MlflowBackend(log_checkpoints=True)
    model = YOLO("yolov8n-cls.yaml")
    model.add_callback("on_pretrain_routine_start", drop_ultralytics_mlflow)
    attach(model, backends=[recorder, backend], strict=True)

    model.train(
        data=str(data),
        project=str(tmp_path / "yolo"),
        name="mlflow",
        epochs=2,
        imgsz=32,
        batch=16,
        workers=0,
        optimizer="AdamW",
        lr0=0.002,
        device="cpu",
        plots=False,
        verbose=False,
    )

    save_dir = Path(model.trainer.save_dir)
    client = client_for(f"sqlite:///{(save_dir / 'mlflow.db').as_posix()}")
    run = client.get_run(backend.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["tune_bridge.framework"] == "ultralytics"
    history = mlflow_history(client, backend.run_id)
    assert history == bridge_history(recorder)
    assert [step for step, _ in history["metrics/accuracy_top1"]] == [1, 2]
    assert [step for step, _ in history["final/metrics/accuracy_top1"]] == [2]
    params = run.data.params
    assert params["lr0"] == "0.002"
    assert params["epochs"] == "2"
    assert params["optimizer"] == "AdamW"
    artifacts = [item.path for item in client.list_artifacts(backend.run_id, "checkpoints")]
    assert artifacts == ["checkpoints/last.pt"]
    assert run.data.tags[CHECKPOINT_EPOCH_TAG] == "2"
