"""The Ray backend on a real local Ray instance: Tune trials, ASHA, restarts, Ray Train.

Each trainable records the warnings raised while it runs and writes them to a file in
the test's folder, so a warning inside a trial fails the test in the driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

from tune_bridge import Bridge  # noqa: E402
from tune_bridge.backends.ray import RayBackend, restored_checkpoint  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

METRIC = "metrics/mAP50-95(B)"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Trainables defined here are pickled by reference to this module, so the workers
    # need the tests folder on their import path. Workers of a local instance inherit
    # the driver's environment; a runtime_env would need Ray's runtime-env agent,
    # which Ray 2.9 does not start without ray[default].
    tests_dir = str(Path(__file__).parent)
    original = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests_dir, original]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    if original is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = original
    yield
    ray.shutdown()


def _config_classes() -> tuple[Any, Any]:
    """Return RunConfig and FailureConfig; Ray 2.41 moved them from ray.train to ray.tune."""
    from ray import train

    run_config = getattr(tune, "RunConfig", None) or train.RunConfig
    failure_config = getattr(tune, "FailureConfig", None) or train.FailureConfig
    return run_config, failure_config


def _run_config(tmp_path: Path, name: str, max_failures: int = 0) -> Any:
    run_config, failure_config = _config_classes()
    return run_config(
        name=name,
        storage_path=str(tmp_path / "ray_results"),
        failure_config=failure_config(max_failures=max_failures),
        verbose=0,
    )


def _write_warnings(out_dir: str, recorded: list[warnings.WarningMessage]) -> None:
    messages = [f"{w.category.__name__}: {w.message}" for w in recorded]
    with open(os.path.join(out_dir, "warnings.jsonl"), "a", encoding="utf-8") as file:
        file.write(json.dumps(messages) + "\n")


def _read_warnings(out_dir: Path) -> list[str]:
    lines = (out_dir / "warnings.jsonl").read_text(encoding="utf-8").splitlines()
    return [message for line in lines for message in json.loads(line)]


# --- a plain loop in a Tune function trainable ------------------------------------------


def _plain_loop(config: dict[str, Any]) -> None:
    run_dir = Path(config["out_dir"]) / f"run-{config['quality']}"
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        try:
            # Ray first: when Tune stops the trial, its report raises SystemExit, and
            # the JSONL backend must still receive that epoch.
            with Bridge(backends=["ray", "jsonl"], strict=True) as bridge:
                bridge.run_start(name="plain", config=config, run_dir=run_dir)
                for epoch in range(1, config["epochs"] + 1):
                    quality = config["quality"]
                    bridge.epoch_end(
                        epoch,
                        {
                            METRIC: quality * epoch / config["epochs"],
                            "train/box_loss": 1.0 / epoch,
                            "lr/pg0": 0.01,
                            "val/dfl-loss.v2": 0.5,
                        },
                    )
        finally:
            _write_warnings(config["out_dir"], recorded)


def _jsonl_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_tune_trial_reports_each_epoch(local_ray: None, tmp_path: Path) -> None:
    tuner = tune.Tuner(
        _plain_loop,
        param_space={"epochs": 5, "quality": 0.5, "out_dir": str(tmp_path)},
        run_config=_run_config(tmp_path, "plain"),
    )
    results = tuner.fit()
    result = results[0]
    assert result.error is None

    frame = result.metrics_dataframe
    assert len(frame) == 5
    assert list(frame["epoch"]) == [1, 2, 3, 4, 5]
    assert list(frame["training_iteration"]) == [1, 2, 3, 4, 5]
    for key in (METRIC, "train/box_loss", "lr/pg0", "val/dfl-loss.v2"):
        assert key in frame.columns
    assert _read_warnings(tmp_path) == []


def test_asha_stops_bad_trials(local_ray: None, tmp_path: Path) -> None:
    from ray.tune.schedulers import ASHAScheduler

    epochs = 8
    scheduler = ASHAScheduler(max_t=epochs, grace_period=1, reduction_factor=2)
    tuner = tune.Tuner(
        _plain_loop,
        # One trial at a time, best first: every worse trial meets a rung that a better
        # trial filled, so ASHA's decisions do not depend on timing.
        param_space={
            "epochs": epochs,
            "quality": tune.grid_search([0.9, 0.8, 0.2, 0.1]),
            "out_dir": str(tmp_path),
        },
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", scheduler=scheduler, max_concurrent_trials=1
        ),
        run_config=_run_config(tmp_path, "asha"),
    )
    results = tuner.fit()

    epochs_run = {}
    for result in results:
        assert result.error is None
        epochs_run[result.config["quality"]] = int(result.metrics_dataframe["epoch"].max())
    assert epochs_run[0.9] == epochs
    assert epochs_run[0.2] < epochs
    assert epochs_run[0.1] < epochs

    # Each stopped trial's JSONL log has every epoch that Tune received and ends with
    # status "stopped", not "failed".
    for quality in (0.2, 0.1):
        events = _jsonl_events(tmp_path / f"run-{quality}" / "tune_bridge.jsonl")
        logged = [event["epoch"] for event in events if event["event"] == "epoch_end"]
        assert logged == list(range(1, epochs_run[quality] + 1))
        assert events[-1]["event"] == "run_end"
        assert events[-1]["status"] == "stopped"
    assert _read_warnings(tmp_path) == []


# --- outside any session ------------------------------------------------------------------


def test_no_report_outside_session(local_ray: None, tmp_path: Path) -> None:
    backend = RayBackend()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Bridge(backends=[backend], strict=True) as bridge:
            bridge.run_start(name="driver", run_dir=tmp_path)
            for epoch in range(1, 4):
                bridge.epoch_end(epoch, {METRIC: 0.1 * epoch}, checkpoint=None)
    assert backend.session is None
    assert backend.active is False
    assert backend.reports == 0


def test_no_warning_outside_session_in_fresh_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, warnings
        # Ray 2.9 warns while it is imported; only the Bridge calls are under test.
        import ray, ray.tune, ray.train
        from tune_bridge import Bridge
        warnings.simplefilter("error")
        bridge = Bridge(backends=["ray", "jsonl"], strict=True)
        bridge.run_start(name="plain", run_dir=sys.argv[1])
        for epoch in range(1, 4):
            bridge.epoch_end(epoch, {"metrics/mAP50-95(B)": 0.5})
        bridge.run_end()
        assert bridge.backends["ray"].reports == 0
        print("ok")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


# --- fault tolerance ------------------------------------------------------------------------


def _failing_once(config: dict[str, Any]) -> None:
    out_dir = Path(config["out_dir"])
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        bridge = Bridge(backends=["ray"], strict=True)
        bridge.run_start(name="restarts", config=config)

        restored = restored_checkpoint()
        if restored is None:
            trained: list[int] = []
        else:
            trained = json.loads(restored.path.read_text())
        start = len(trained) + 1

        for epoch in range(start, config["epochs"] + 1):
            marker = out_dir / "failed-once"
            if epoch == config["fail_at"] and not marker.exists():
                marker.touch()
                raise RuntimeError(f"simulated failure at the start of epoch {epoch}")
            trained.append(epoch)
            with open(out_dir / "trained.log", "a", encoding="utf-8") as log:
                log.write(f"{epoch}\n")
            state = out_dir / f"state-{epoch}.json"
            state.write_text(json.dumps(trained))
            bridge.epoch_end(epoch, {METRIC: 0.1 * epoch}, checkpoint=state)
        bridge.run_end()
    _write_warnings(config["out_dir"], recorded)


def test_restarted_trial_resumes_from_checkpoint(local_ray: None, tmp_path: Path) -> None:
    tuner = tune.Tuner(
        _failing_once,
        param_space={"epochs": 5, "fail_at": 3, "out_dir": str(tmp_path)},
        run_config=_run_config(tmp_path, "restarts", max_failures=1),
    )
    result = tuner.fit()[0]
    assert result.error is None

    trained = (tmp_path / "trained.log").read_text().split()
    assert trained == ["1", "2", "3", "4", "5"]
    frame = result.metrics_dataframe
    assert list(frame["epoch"]) == [1, 2, 3, 4, 5]
    # The last checkpoint contains the state of the whole run: epochs 1 and 2 from the
    # first attempt, 3 to 5 from the restarted one.
    with result.checkpoint.as_directory() as directory:
        state = json.loads((Path(directory) / "state-5.json").read_text())
    assert state == [1, 2, 3, 4, 5]
    assert _read_warnings(tmp_path) == []


# --- Ray Train --------------------------------------------------------------------------------


def _train_loop(config: dict[str, Any]) -> None:
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        bridge = Bridge(backends=["ray"], strict=True)
        bridge.run_start(name="train-worker")
        session = bridge.backends["ray"].session
        rank = session.world_rank if session is not None else -1
        for epoch in range(1, 4):
            # Ray Train V2 keeps the metrics of reports that carry a checkpoint; as in
            # most data-parallel loops, rank 0 saves it and every rank reports.
            checkpoint = None
            if rank == 0:
                checkpoint = Path(config["out_dir"]) / f"weights-{epoch}.txt"
                checkpoint.write_text(str(epoch))
            bridge.epoch_end(
                epoch,
                {
                    "train/loss": 1.0 / epoch,
                    "in_train_session": int(session is not None and session.kind == "train"),
                    "world_rank": rank,
                },
                checkpoint=checkpoint,
            )
        bridge.run_end()
    _write_warnings(config["out_dir"], recorded)


def _data_parallel_trainer() -> Any:
    try:
        from ray.train.v2._internal.constants import is_v2_enabled
    except ImportError:  # releases before Ray Train V2
        return None, False
    if is_v2_enabled():
        from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

        return DataParallelTrainer, True
    return None, False


def test_ray_train_workers_report(local_ray: None, tmp_path: Path) -> None:
    from ray import train

    trainer_class, is_v2 = _data_parallel_trainer()
    if trainer_class is None:
        from ray.train.data_parallel_trainer import DataParallelTrainer as trainer_class

    scaling = {"num_workers": 2, "use_gpu": False, "resources_per_worker": {"CPU": 1}}
    if not is_v2:
        # Ray Train V1 reserves a CPU for its trainer actor; two workers need both CPUs.
        scaling["trainer_resources"] = {"CPU": 0}
    trainer = trainer_class(
        _train_loop,
        train_loop_config={"out_dir": str(tmp_path)},
        scaling_config=train.ScalingConfig(**scaling),
        run_config=train.RunConfig(name="train", storage_path=str(tmp_path / "ray_results")),
    )
    result = trainer.fit()

    assert result.error is None
    assert result.metrics["epoch"] == 3
    assert result.metrics["train/loss"] == pytest.approx(1 / 3)
    assert result.metrics["in_train_session"] == 1
    assert result.metrics["world_rank"] == 0
    with result.checkpoint.as_directory() as directory:
        assert (Path(directory) / "weights-3.txt").read_text() == "3"
    assert _read_warnings(tmp_path) == []
