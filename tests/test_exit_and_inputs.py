"""SystemExit from a backend, stop values that are not bool, and invalid backend objects."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tune_bridge import Bridge, hookimpl


class _ExitingBackend:
    """Ends the process's work from epoch_end, as Ray's report does for a stopped trial."""

    name = "exiting"

    def __init__(self, code: Any = 0) -> None:
        self.code = code

    @hookimpl
    def tune_bridge_epoch_end(self, epoch: int) -> None:
        if epoch == 2:
            raise SystemExit(self.code)


class _Answer:
    name = "answer"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def tune_bridge_should_stop(self) -> Any:
        return self.answer


def test_exit_reaches_later_backends(recorder: Any) -> None:
    bridge = Bridge(backends=[_ExitingBackend(), recorder])
    bridge.run_start(name="t")
    bridge.epoch_end(1, {"loss": 1.0})
    with pytest.raises(SystemExit):
        bridge.epoch_end(2, {"loss": 0.5})
    epochs = [args["epoch"] for event, args in recorder.events if event == "epoch_end"]
    assert epochs == [1, 2]
    assert bridge.exit_requested_by == "exiting"


def test_clean_exit_ends_run_stopped(recorder: Any) -> None:
    with pytest.raises(SystemExit), Bridge(backends=[_ExitingBackend(), recorder]) as bridge:
        bridge.run_start(name="t")
        for epoch in range(1, 4):
            bridge.epoch_end(epoch, {"loss": 1.0 / epoch})
    statuses = [args["status"] for event, args in recorder.events if event == "run_end"]
    assert statuses == ["stopped"]


def test_error_exit_ends_run_failed(recorder: Any) -> None:
    with pytest.raises(SystemExit), Bridge(backends=[_ExitingBackend(code=3), recorder]) as bridge:
        bridge.run_start(name="t")
        for epoch in range(1, 4):
            bridge.epoch_end(epoch, {"loss": 1.0 / epoch})
    statuses = [args["status"] for event, args in recorder.events if event == "run_end"]
    assert statuses == ["failed"]


def test_exit_skips_stop_hook(recorder: Any) -> None:
    bridge = Bridge(backends=[_ExitingBackend(), recorder])
    bridge.run_start(name="t")
    with pytest.raises(SystemExit):
        bridge.epoch_end(2, {"loss": 0.5})
    assert [event for event, _ in recorder.events].count("should_stop") == 0


@pytest.mark.parametrize("answer", ["False", "yes", 1, 0.0, [True]])
def test_non_bool_stop_answer_ignored(answer: Any, caplog: pytest.LogCaptureFixture) -> None:
    bridge = Bridge(backends=[_Answer(answer)])
    bridge.run_start(name="t")
    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        first = bridge.epoch_end(1, {"loss": 1.0})
        second = bridge.epoch_end(2, {"loss": 1.0})
    assert first is False
    assert second is False
    warnings = [r for r in caplog.records if "tune_bridge_should_stop" in r.getMessage()]
    assert len(warnings) == 1


def test_numpy_true_stops() -> None:
    numpy = pytest.importorskip("numpy")
    bridge = Bridge(backends=[_Answer(numpy.True_)])
    bridge.run_start(name="t")
    assert bridge.epoch_end(1, {"loss": 1.0}) is True


def test_backend_class_rejected() -> None:
    with pytest.raises(TypeError, match=r"_Answer\(\)"):
        Bridge(backends=[_Answer])


@pytest.mark.parametrize("item", [None, 42, 1.5, True, b"jsonl"])
def test_invalid_backend_object_rejected(item: Any) -> None:
    with pytest.raises(TypeError, match="invalid backend"):
        Bridge(backends=[item])


class _Model:
    """Stands in for a YOLO model: attach only needs add_callback."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Any]] = {}

    def add_callback(self, event: str, callback: Any) -> None:
        self.callbacks.setdefault(event, []).append(callback)


def test_attach_rejects_model_class() -> None:
    from tune_bridge.adapters.ultralytics import attach

    with pytest.raises(TypeError, match="model instance"):
        attach(_Model)


@pytest.mark.parametrize("bridge", ["jsonl", 123, ["jsonl"]])
def test_attach_rejects_non_bridge(bridge: Any) -> None:
    from tune_bridge.adapters.ultralytics import attach

    with pytest.raises(TypeError, match=r"backends=\[\.\.\.\]"):
        attach(_Model(), bridge)
