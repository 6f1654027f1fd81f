"""Unit tests of the Ray backend's own logic, with a recording stand-in for Ray's report.

These pin result building, key renaming and checkpoint staging. That the backend
works with Ray itself is shown in test_ray_backend.py, on a real local Ray.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tune_bridge import Bridge
from tune_bridge.backends import ray as ray_backend
from tune_bridge.backends._ray_session import TUNE, RayApi, RaySession
from tune_bridge.backends.ray import MANIFEST_NAME, RENAMED_PREFIX, RayBackend


class _Checkpoint:
    def __init__(self, path: str) -> None:
        self.path = path
        # What Ray would persist: the file names and, for the test, their inodes.
        self.files = {
            name: os.stat(os.path.join(path, name)).st_ino for name in sorted(os.listdir(path))
        }
        self.manifest = json.loads(Path(path, MANIFEST_NAME).read_text())

    @classmethod
    def from_directory(cls, path: str) -> _Checkpoint:
        return cls(path)


class _Recorder:
    def __init__(self) -> None:
        self.reports: list[tuple[dict[str, Any], Any]] = []

    def report(self, metrics: dict[str, Any], *, checkpoint: Any = None) -> None:
        self.reports.append((metrics, checkpoint))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder()
    api = RayApi(recorder.report, _Checkpoint, None, "fake.report")
    monkeypatch.setattr(ray_backend, "probe_session", lambda: RaySession(TUNE, None, "fake"))
    monkeypatch.setattr(ray_backend, "resolve_api", lambda session: api)
    return recorder


def _run(backend: RayBackend, tmp_path: Path) -> Bridge:
    bridge = Bridge(backends=[backend], strict=True)
    bridge.run_start(name="t", run_dir=tmp_path)
    return bridge


def test_report_carries_epoch_and_verbatim_keys(recorder: _Recorder, tmp_path: Path) -> None:
    bridge = _run(RayBackend(), tmp_path)
    bridge.epoch_end(1, {"metrics/mAP50-95(B)": 0.5, "lr/pg0": 0.01})
    metrics, checkpoint = recorder.reports[0]
    assert metrics == {"metrics/mAP50-95(B)": 0.5, "lr/pg0": 0.01, "epoch": 1}
    assert checkpoint is None


@pytest.mark.parametrize(
    "key", ["training_iteration", "time_total_s", "done", "trial_id", "config"]
)
def test_reserved_key_is_renamed(
    recorder: _Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    bridge = _run(RayBackend(), tmp_path)
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        bridge.epoch_end(1, {key: 7.0})
        bridge.epoch_end(2, {key: 8.0})
    assert recorder.reports[0][0] == {RENAMED_PREFIX + key: 7.0, "epoch": 1}
    assert recorder.reports[1][0] == {RENAMED_PREFIX + key: 8.0, "epoch": 2}
    warnings = [r for r in caplog.records if "collides" in r.getMessage()]
    assert len(warnings) == 1


def test_metric_named_epoch_with_other_value_is_renamed(
    recorder: _Recorder, tmp_path: Path
) -> None:
    bridge = _run(RayBackend(), tmp_path)
    bridge.epoch_end(2, {"epoch": 1})
    assert recorder.reports[0][0] == {"user/epoch": 1, "epoch": 2}


def test_file_checkpoint_is_hard_linked(recorder: _Recorder, tmp_path: Path) -> None:
    weights = tmp_path / "last.pt"
    weights.write_bytes(b"x" * 1024)
    bridge = _run(RayBackend(), tmp_path)
    bridge.epoch_end(1, {"loss": 1.0}, checkpoint=weights)

    checkpoint = recorder.reports[0][1]
    assert checkpoint.files["last.pt"] == os.stat(weights).st_ino
    assert checkpoint.manifest == {"epoch": 1, "name": "last.pt", "is_dir": False}


def test_staging_folder_removed_after_report(recorder: _Recorder, tmp_path: Path) -> None:
    weights = tmp_path / "last.pt"
    weights.write_bytes(b"x")
    bridge = _run(RayBackend(), tmp_path)
    bridge.epoch_end(1, {"loss": 1.0}, checkpoint=weights)
    assert not Path(recorder.reports[0][1].path).exists()
    assert weights.exists()


def test_directory_checkpoint_is_staged(recorder: _Recorder, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"m")
    bridge = _run(RayBackend(), tmp_path)
    bridge.epoch_end(1, {"loss": 1.0}, checkpoint=folder)
    checkpoint = recorder.reports[0][1]
    assert checkpoint.manifest == {"epoch": 1, "name": "ckpt", "is_dir": True}
    assert "ckpt" in checkpoint.files


def test_checkpoint_every_n_epochs(recorder: _Recorder, tmp_path: Path) -> None:
    weights = tmp_path / "last.pt"
    weights.write_bytes(b"x")
    bridge = _run(RayBackend(checkpoint_every=2), tmp_path)
    for epoch in range(1, 5):
        bridge.epoch_end(epoch, {"loss": 1.0}, checkpoint=weights)
    with_checkpoint = [m["epoch"] for m, c in recorder.reports if c is not None]
    assert with_checkpoint == [2, 4]
    assert len(recorder.reports) == 4


def test_missing_checkpoint_file_is_an_error(recorder: _Recorder, tmp_path: Path) -> None:
    bridge = _run(RayBackend(), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        bridge.epoch_end(1, {"loss": 1.0}, checkpoint=tmp_path / "missing.pt")


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_invalid_checkpoint_every(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        RayBackend(checkpoint_every=value)


def test_no_should_stop_hook() -> None:
    # Ray's schedulers stop trials themselves; the backend implements no stop hook.
    assert not hasattr(RayBackend, "tune_bridge_should_stop")


def test_idle_outside_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ray_backend, "probe_session", lambda: None)
    backend = RayBackend()
    bridge = _run(backend, tmp_path)
    bridge.epoch_end(1, {"loss": 1.0})
    assert backend.active is False
    assert backend.reports == 0
