"""Backend isolation: a raising backend never stops training or the other backends."""

from __future__ import annotations

import logging

import pytest

from tune_bridge import Bridge, hookimpl

HOOKS = ("run_start", "epoch_end", "checkpoint_saved", "should_stop", "run_end")


class BackendFailure(RuntimeError):
    """The exception that the raising backends below raise."""


class Raising:
    """A backend that raises in every hook, or in the hooks listed in ``failing``.

    ``fail_epochs`` limits the epoch_end failures to those epochs.
    """

    name = "boom"

    def __init__(self, failing=HOOKS, fail_epochs=None):
        self.failing = set(failing)
        self.fail_epochs = fail_epochs
        self.calls = []

    def _maybe_raise(self, hook, epoch=None):
        self.calls.append((hook, epoch))
        if hook not in self.failing:
            return
        if self.fail_epochs is not None and epoch not in self.fail_epochs:
            return
        raise BackendFailure(f"{hook} failed at epoch {epoch}")

    @hookimpl
    def tune_bridge_run_start(self):
        self._maybe_raise("run_start")

    @hookimpl
    def tune_bridge_epoch_end(self, epoch):
        self._maybe_raise("epoch_end", epoch)

    @hookimpl
    def tune_bridge_checkpoint_saved(self, epoch):
        self._maybe_raise("checkpoint_saved", epoch)

    @hookimpl
    def tune_bridge_should_stop(self, epoch):
        self._maybe_raise("should_stop", epoch)
        return False

    @hookimpl
    def tune_bridge_run_end(self):
        self._maybe_raise("run_end")


def _train(bridge, epochs, run_dir=None):
    """Run a plain training loop and return the epochs it finished."""
    finished = []
    with bridge:
        bridge.run_start(name="t", run_dir=run_dir)
        for epoch in range(1, epochs + 1):
            bridge.checkpoint_saved(epoch, f"epoch{epoch}.pt")
            stop = bridge.epoch_end(epoch, {"loss": 1.0 / epoch}, checkpoint=f"epoch{epoch}.pt")
            finished.append(epoch)
            if stop:
                break
    return finished


def _failure_records(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and r.exc_info is not None]


def _error_records(caplog):
    return [r for r in caplog.records if r.levelno == logging.ERROR]


# --- a raising backend beside a recording one -------------------------------------------


@pytest.mark.parametrize("failing_hook", HOOKS)
def test_raising_backend_others_get_events(make_recorder, failing_hook):
    recorder = make_recorder()
    bridge = Bridge([Raising(failing=[failing_hook]), recorder], max_failures=100)

    finished = _train(bridge, epochs=2)

    assert finished == [1, 2]
    assert recorder.hooks() == [
        "run_start",
        "checkpoint_saved",
        "epoch_end",
        "should_stop",
        "checkpoint_saved",
        "epoch_end",
        "should_stop",
        "run_end",
    ]


def test_raising_backend_first_or_last(make_recorder):
    before, after = make_recorder("before"), make_recorder("after")
    bridge = Bridge([before, Raising(), after])

    _train(bridge, epochs=5)

    assert before.hooks() == after.hooks()
    assert len(after.arguments("epoch_end")) == 5


def test_raising_backend_training_completes(make_recorder):
    recorder = make_recorder()
    bridge = Bridge([Raising(), recorder])

    finished = _train(bridge, epochs=5)

    assert finished == [1, 2, 3, 4, 5]
    assert recorder.arguments("run_end")[0]["status"] == "completed"


def test_raising_should_stop_is_not_a_stop(make_recorder):
    bridge = Bridge([Raising(failing=["should_stop"]), make_recorder()])

    finished = _train(bridge, epochs=3)

    assert finished == [1, 2, 3]
    assert bridge.stop_requested_by == []


def test_raising_backend_keeps_other_stop(make_recorder):
    stopper = make_recorder("stopper", stop_at=2)
    bridge = Bridge([Raising(failing=["should_stop"]), stopper])

    finished = _train(bridge, epochs=5)

    assert finished == [1, 2]
    assert bridge.stop_requested_by == ["stopper"]


def test_raising_run_end_still_ends_run(make_recorder):
    bridge = Bridge([Raising(failing=["run_end"]), make_recorder()])
    bridge.run_start()

    bridge.run_end()

    assert bridge.run is None


def test_training_error_wins_over_backend_error(make_recorder):
    recorder = make_recorder()

    bridge = Bridge([Raising(failing=["run_end"]), recorder])

    with pytest.raises(ZeroDivisionError), bridge:
        bridge.run_start()
        1 / 0  # noqa: B018

    assert recorder.arguments("run_end")[0]["status"] == "failed"


# --- logging ---------------------------------------------------------------------------


def test_failure_logged_once(caplog, make_recorder):
    bridge = Bridge([Raising(failing=["epoch_end"], fail_epochs={1}), make_recorder()])
    bridge.run_start(name="t")

    with caplog.at_level(logging.DEBUG, logger="tune_bridge"):
        bridge.epoch_end(1, {"loss": 1.0})

    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1
    bridge.run_end()


def test_failure_log_names_backend(caplog):
    bridge = Bridge([Raising(failing=["epoch_end"], fail_epochs={1})])
    bridge.run_start(name="trial-9")

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        bridge.epoch_end(1, {"loss": 1.0})

    record = _failure_records(caplog)[0]
    message = record.getMessage()
    assert "'boom'" in message
    assert "tune_bridge_epoch_end" in message
    assert "'trial-9'" in message
    assert record.name.startswith("tune_bridge")
    bridge.run_end()


def test_failure_log_has_traceback(caplog):
    bridge = Bridge([Raising(failing=["epoch_end"], fail_epochs={1})])
    bridge.run_start()

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        bridge.epoch_end(1, {"loss": 1.0})

    exc_type, exc, traceback = _failure_records(caplog)[0].exc_info
    assert exc_type is BackendFailure
    assert "epoch 1" in str(exc)
    assert traceback is not None
    assert "_maybe_raise" in caplog.text
    bridge.run_end()


def test_one_record_per_failure(caplog):
    bridge = Bridge([Raising(failing=["epoch_end"], fail_epochs={1, 3})])
    bridge.run_start()

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        for epoch in (1, 2, 3, 4):
            bridge.epoch_end(epoch, {"loss": 1.0})

    failures = _failure_records(caplog)
    assert [r.exc_info[1].args[0] for r in failures] == [
        "epoch_end failed at epoch 1",
        "epoch_end failed at epoch 3",
    ]
    bridge.run_end()


# --- disabling after repeated failures ---------------------------------------------------


def test_disabled_after_three_failures(caplog, make_recorder):
    raising = Raising(failing=["epoch_end"])
    recorder = make_recorder()
    bridge = Bridge([raising, recorder])

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        finished = _train(bridge, epochs=6)

    epoch_end_calls = [epoch for hook, epoch in raising.calls if hook == "epoch_end"]
    assert epoch_end_calls == [1, 2, 3]
    assert len(_failure_records(caplog)) == 3
    assert finished == [1, 2, 3, 4, 5, 6]
    assert len(recorder.arguments("epoch_end")) == 6


def test_disable_logs_one_error(caplog):
    bridge = Bridge([Raising(failing=["epoch_end"])])

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        _train(bridge, epochs=6)

    errors = _error_records(caplog)
    assert len(errors) == 1
    assert "'boom'" in errors[0].getMessage()
    assert "3" in errors[0].getMessage()


def test_disabled_backend_gets_no_calls():
    raising = Raising(failing=["epoch_end"])
    bridge = Bridge([raising])
    bridge.run_start()
    for epoch in (1, 2, 3):
        bridge.epoch_end(epoch)
    calls_when_disabled = len(raising.calls)

    bridge.epoch_end(4)
    bridge.checkpoint_saved(4, "last.pt")
    bridge.run_end()

    assert bridge.disabled_backends() == ["boom"]
    assert len(raising.calls) == calls_when_disabled
    assert raising.calls[-1] == ("epoch_end", 3)


def test_two_failures_keep_backend():
    raising = Raising(failing=["epoch_end"])
    bridge = Bridge([raising])
    bridge.run_start()

    bridge.epoch_end(1)
    bridge.epoch_end(2)

    assert bridge.disabled_backends() == []
    bridge.run_end()


def test_success_resets_failure_count():
    raising = Raising(failing=["epoch_end"], fail_epochs={1, 2, 4, 5, 7})
    bridge = Bridge([raising])
    bridge.run_start()

    for epoch in range(1, 8):
        bridge.epoch_end(epoch)

    epoch_end_calls = [epoch for hook, epoch in raising.calls if hook == "epoch_end"]
    assert epoch_end_calls == [1, 2, 3, 4, 5, 6, 7]
    assert bridge.disabled_backends() == []
    bridge.run_end()


def test_max_failures_setting():
    raising = Raising(failing=["epoch_end"])
    bridge = Bridge([raising], max_failures=1)
    bridge.run_start()

    bridge.epoch_end(1)
    bridge.epoch_end(2)

    assert [epoch for hook, epoch in raising.calls if hook == "epoch_end"] == [1]
    bridge.run_end()


def test_reenabled_at_next_run_start(caplog):
    raising = Raising(failing=["epoch_end"])
    bridge = Bridge([raising])
    _train(bridge, epochs=4)
    calls_after_first_run = len(raising.calls)

    bridge.run_start(name="second")

    assert bridge.disabled_backends() == []
    assert len(raising.calls) == calls_after_first_run + 1
    assert raising.calls[-1] == ("run_start", None)
    bridge.run_end()


def test_failure_count_resets_at_run_start():
    raising = Raising(failing=["epoch_end"])
    bridge = Bridge([raising])
    for name in ("first", "second"):
        bridge.run_start(name=name)
        bridge.epoch_end(1)
        bridge.epoch_end(2)
        bridge.run_end()

    bridge.run_start(name="third")
    bridge.epoch_end(1)

    assert bridge.disabled_backends() == []
    bridge.run_end()


# --- strict mode -------------------------------------------------------------------------


@pytest.mark.parametrize("failing_hook", HOOKS)
def test_strict_reraises(failing_hook):
    bridge = Bridge([Raising(failing=[failing_hook])], strict=True)

    with pytest.raises(BackendFailure, match=failing_hook), bridge:
        bridge.run_start()
        bridge.checkpoint_saved(1, "last.pt")
        bridge.epoch_end(1)
        bridge.run_end()


def test_strict_logs_no_failure(caplog):
    bridge = Bridge([Raising(failing=["epoch_end"])], strict=True)
    bridge.run_start()

    with caplog.at_level(logging.WARNING, logger="tune_bridge"), pytest.raises(BackendFailure):
        bridge.epoch_end(1)

    assert _failure_records(caplog) == []
    bridge.run_end()


def test_strict_does_not_catch_training_error(make_recorder):
    recorder = make_recorder()

    with pytest.raises(ZeroDivisionError), Bridge([recorder], strict=True) as bridge:
        bridge.run_start()
        1 / 0  # noqa: B018

    assert recorder.arguments("run_end")[0]["status"] == "failed"
