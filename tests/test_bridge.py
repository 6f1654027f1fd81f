"""The Bridge: event flow, hook signatures, stop requests, run state and backend selection."""

from __future__ import annotations

import logging
from pathlib import Path

import pluggy
import pytest

import tune_bridge
from tune_bridge import Bridge, RunInfo, UnknownBackendError, hookimpl
from tune_bridge.plugins import BACKENDS_ENV_VAR

# --- event flow ----------------------------------------------------------------------


def test_flow_sends_events_in_order(recorder, tmp_path):
    bridge = Bridge([recorder])

    bridge.run_start(name="trial-1", config={"lr0": 0.01}, run_dir=tmp_path, framework="plain")
    bridge.epoch_end(epoch=1, metrics={"loss": 1.0})
    bridge.checkpoint_saved(epoch=2, path=tmp_path / "last.pt")
    bridge.epoch_end(epoch=2, metrics={"loss": 0.5}, checkpoint=tmp_path / "last.pt")
    bridge.run_end(status="completed", metrics={"loss": 0.25})

    assert recorder.hooks() == [
        "run_start",
        "epoch_end",
        "should_stop",
        "checkpoint_saved",
        "epoch_end",
        "should_stop",
        "run_end",
    ]


def test_run_start_sends_run_info(recorder, tmp_path):
    bridge = Bridge([recorder])

    returned = bridge.run_start(
        name="trial-1", config={"lr0": 0.01}, run_dir=str(tmp_path), framework="ultralytics"
    )

    run = recorder.arguments("run_start")[0]["run"]
    assert run is returned
    assert run == RunInfo(
        name="trial-1", config={"lr0": 0.01}, run_dir=tmp_path, framework="ultralytics"
    )
    assert isinstance(run.run_dir, Path)
    assert bridge.run is run
    bridge.run_end()


def test_run_start_copies_config(recorder):
    config = {"lr0": 0.01}
    bridge = Bridge([recorder])

    run = bridge.run_start(config=config)
    config["lr0"] = 1.0

    assert run.config == {"lr0": 0.01}
    bridge.run_end()


@pytest.mark.parametrize(
    ("name", "run_dir", "expected"),
    [("given", "runs/x", "given"), (None, "runs/trial-7", "trial-7"), (None, None, "run")],
)
def test_run_start_default_name(recorder, name, run_dir, expected):
    bridge = Bridge([recorder])

    run = bridge.run_start(name=name, run_dir=run_dir)

    assert run.name == expected
    bridge.run_end()


def test_same_run_object_in_every_hook(recorder):
    bridge = Bridge([recorder])
    run = bridge.run_start()
    bridge.epoch_end(1, {"loss": 1.0})
    bridge.checkpoint_saved(1, "last.pt")

    bridge.run_end()

    assert all(arguments["run"] is run for _, arguments in recorder.events)


def test_epoch_end_sends_arguments(recorder, tmp_path):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.epoch_end(epoch=3, metrics={"loss": 0.5}, checkpoint=str(tmp_path / "last.pt"))

    arguments = recorder.arguments("epoch_end")[0]
    assert arguments["epoch"] == 3
    assert arguments["metrics"] == {"loss": 0.5}
    assert arguments["checkpoint"] == tmp_path / "last.pt"
    assert isinstance(arguments["checkpoint"], Path)
    bridge.run_end()


def test_epoch_end_checkpoint_defaults_none(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.epoch_end(1, {"loss": 0.5})

    assert recorder.arguments("epoch_end")[0]["checkpoint"] is None
    bridge.run_end()


def test_should_stop_gets_epoch_metrics(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.epoch_end(2, {"loss": 0.5, "note": None})

    arguments = recorder.arguments("should_stop")[0]
    assert arguments["epoch"] == 2
    assert arguments["metrics"] == {"loss": 0.5}
    bridge.run_end()


def test_checkpoint_saved_sends_path(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.checkpoint_saved(epoch=4, path="runs/x/last.pt")

    arguments = recorder.arguments("checkpoint_saved")[0]
    assert arguments["epoch"] == 4
    assert arguments["path"] == Path("runs/x/last.pt")
    bridge.run_end()


@pytest.mark.parametrize("status", ["completed", "stopped", "failed"])
def test_run_end_sends_status(recorder, status):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.run_end(status=status)

    assert recorder.arguments("run_end")[0]["status"] == status


def test_run_end_cleans_metrics(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.run_end(metrics={"val": {"acc": True}, "note": None})

    assert recorder.arguments("run_end")[0]["metrics"] == {"val/acc": 1}


def test_run_end_defaults_to_last_metrics(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()
    bridge.epoch_end(1, {"loss": 1.0})
    bridge.epoch_end(2, {"loss": 0.5})

    bridge.run_end()

    assert recorder.arguments("run_end")[0]["metrics"] == {"loss": 0.5}


def test_run_end_without_epochs_sends_empty(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.run_end()

    assert recorder.arguments("run_end")[0]["metrics"] == {}


def test_run_end_clears_run(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.run_end()

    assert bridge.run is None


def test_second_run_resets_epochs(recorder):
    bridge = Bridge([recorder])
    bridge.run_start(name="a")
    bridge.epoch_end(5, {"loss": 1.0})
    bridge.run_end()

    bridge.run_start(name="b")
    bridge.epoch_end(1, {"loss": 2.0})
    bridge.run_end()

    assert [a["epoch"] for a in recorder.arguments("epoch_end")] == [5, 1]
    assert recorder.arguments("run_end")[1]["metrics"] == {"loss": 2.0}


# --- run state errors ----------------------------------------------------------------


def test_epoch_end_before_run_start_raises(recorder):
    bridge = Bridge([recorder])

    with pytest.raises(RuntimeError, match="run_start"):
        bridge.epoch_end(1, {"loss": 1.0})

    assert recorder.events == []


def test_checkpoint_saved_before_run_start_raises(recorder):
    bridge = Bridge([recorder])

    with pytest.raises(RuntimeError, match="run_start"):
        bridge.checkpoint_saved(1, "last.pt")


def test_run_start_twice_raises(recorder):
    bridge = Bridge([recorder])
    bridge.run_start(name="first")

    with pytest.raises(RuntimeError, match="first"):
        bridge.run_start(name="second")

    assert recorder.hooks() == ["run_start"]
    bridge.run_end()


@pytest.mark.parametrize("status", ["done", "COMPLETED", "", None])
def test_run_end_rejects_invalid_status(recorder, status):
    bridge = Bridge([recorder])
    bridge.run_start()

    with pytest.raises(ValueError, match="status"):
        bridge.run_end(status=status)

    assert recorder.arguments("run_end") == []
    bridge.run_end()


def test_run_end_twice_sends_once(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.run_end()
    bridge.run_end("failed")

    assert len(recorder.arguments("run_end")) == 1


def test_run_end_without_run_does_nothing(recorder):
    bridge = Bridge([recorder])

    bridge.run_end()

    assert recorder.events == []


def test_run_start_rejects_non_mapping_config(recorder):
    bridge = Bridge([recorder])

    with pytest.raises(TypeError, match="config"):
        bridge.run_start(config=[("lr0", 0.01)])


# --- epoch rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (1.0, TypeError),
        (True, TypeError),
        ("1", TypeError),
        (None, TypeError),
    ],
    ids=["0", "-1", "1.5", "1.0", "True", "str", "None"],
)
def test_epoch_end_rejects_bad_epoch(recorder, epoch, error):
    bridge = Bridge([recorder])
    bridge.run_start()

    with pytest.raises(error, match="epoch"):
        bridge.epoch_end(epoch, {"loss": 1.0})

    assert recorder.arguments("epoch_end") == []
    bridge.run_end()


@pytest.mark.parametrize("epoch", [0, 1.5, True])
def test_checkpoint_saved_rejects_bad_epoch(recorder, epoch):
    bridge = Bridge([recorder])
    bridge.run_start()

    with pytest.raises((TypeError, ValueError), match="epoch"):
        bridge.checkpoint_saved(epoch, "last.pt")

    bridge.run_end()


def test_epoch_end_accepts_numpy_int(recorder):
    np = pytest.importorskip("numpy")
    bridge = Bridge([recorder])
    bridge.run_start()

    bridge.epoch_end(np.int64(2), {"loss": 1.0})

    epoch = recorder.arguments("epoch_end")[0]["epoch"]
    assert epoch == 2
    assert type(epoch) is int
    bridge.run_end()


def test_non_increasing_epoch_not_sent(recorder, caplog):
    bridge = Bridge([recorder])
    bridge.run_start()

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        for epoch in (1, 2, 2, 1, 3, 3):
            bridge.epoch_end(epoch, {"loss": 1.0 / epoch})

    assert [a["epoch"] for a in recorder.arguments("epoch_end")] == [1, 2, 3]
    assert [a["epoch"] for a in recorder.arguments("should_stop")] == [1, 2, 3]
    assert bridge.last_epoch == 3
    assert len([r for r in caplog.records if "not sent" in r.getMessage()]) == 1
    bridge.run_end()


def test_non_increasing_epoch_keeps_last_metrics(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()
    bridge.epoch_end(2, {"loss": 0.5})

    bridge.epoch_end(1, {"loss": 9.0})
    bridge.run_end()

    assert recorder.arguments("run_end")[0]["metrics"] == {"loss": 0.5}


def test_non_increasing_epoch_warns_each_run(recorder, caplog):
    bridge = Bridge([recorder])

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        for name in ("a", "b"):
            bridge.run_start(name=name)
            bridge.epoch_end(1)
            bridge.epoch_end(1)
            bridge.run_end()

    assert len([r for r in caplog.records if "not sent" in r.getMessage()]) == 2


def test_epochs_may_skip(recorder):
    bridge = Bridge([recorder])
    bridge.run_start()

    for epoch in (1, 5, 10):
        bridge.epoch_end(epoch, {"loss": 1.0})

    assert [a["epoch"] for a in recorder.arguments("epoch_end")] == [1, 5, 10]
    bridge.run_end()


# --- hook implementations with other signatures --------------------------------------


def test_hookimpl_with_fewer_arguments():
    class EpochOnly:
        name = "epoch-only"

        def __init__(self):
            self.epochs = []

        @hookimpl
        def tune_bridge_epoch_end(self, epoch):
            self.epochs.append(epoch)

        @hookimpl
        def tune_bridge_run_end(self):
            self.epochs.append("end")

    backend = EpochOnly()
    bridge = Bridge([backend])
    bridge.run_start()

    bridge.epoch_end(1, {"loss": 1.0})
    bridge.epoch_end(2, {"loss": 0.5})
    bridge.run_end()

    assert backend.epochs == [1, 2, "end"]


def test_hookimpl_with_reordered_arguments():
    class Reordered:
        name = "reordered"

        def __init__(self):
            self.calls = []

        @hookimpl
        def tune_bridge_epoch_end(self, checkpoint, metrics, epoch, run):
            self.calls.append((checkpoint, metrics, epoch, run.name))

    backend = Reordered()
    bridge = Bridge([backend])
    bridge.run_start(name="r")

    bridge.epoch_end(3, {"loss": 0.5}, checkpoint="c.pt")
    bridge.run_end()

    assert backend.calls == [(Path("c.pt"), {"loss": 0.5}, 3, "r")]


def test_hookimpl_unknown_argument_rejected():
    class WrongArgument:
        name = "wrong"

        @hookimpl
        def tune_bridge_epoch_end(self, epoch, step):
            pass

    with pytest.raises(pluggy.PluginValidationError):
        Bridge([WrongArgument()])


def test_unknown_hook_name_warns(caplog):
    class Typo:
        name = "typo"

        @hookimpl
        def tune_bridge_epoch_start(self, epoch):
            pass

        @hookimpl
        def tune_bridge_run_end(self, status):
            pass

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        Bridge([Typo()])

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "'typo'" in messages[0]
    assert "tune_bridge_epoch_start" in messages[0]


def test_optional_unknown_hook_no_warning(caplog):
    class FutureHook:
        name = "future"

        @hookimpl(optionalhook=True)
        def tune_bridge_future_hook(self):
            pass

        @hookimpl
        def tune_bridge_run_end(self, status):
            pass

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        Bridge([FutureHook()])

    assert caplog.records == []


def test_backend_without_hookimpl_warns(caplog):
    class Unmarked:
        name = "unmarked"

        def tune_bridge_epoch_end(self, epoch):
            pass

    with caplog.at_level(logging.WARNING, logger="tune_bridge"):
        Bridge([Unmarked()])

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "'unmarked'" in messages[0]
    assert "hookimpl" in messages[0]


def test_wrapper_hookimpl_rejected():
    class Wrapper:
        name = "wrapper"

        @hookimpl(wrapper=True)
        def tune_bridge_epoch_end(self, epoch):
            return (yield)

    with pytest.raises(ValueError, match="wrapper"):
        Bridge([Wrapper()])


def test_module_as_backend(tmp_path, monkeypatch):
    module_file = tmp_path / "module_backend.py"
    module_file.write_text(
        "from tune_bridge import hookimpl\n"
        "epochs = []\n"
        "@hookimpl\n"
        "def tune_bridge_epoch_end(epoch):\n"
        "    epochs.append(epoch)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import module_backend

    bridge = Bridge([module_backend])
    bridge.run_start()
    bridge.epoch_end(1)
    bridge.run_end()

    assert list(bridge.backends) == ["module_backend"]
    assert module_backend.epochs == [1]


# --- stop requests -------------------------------------------------------------------


def _stopper(name, answers):
    """A backend whose should_stop returns ``answers[epoch - 1]``."""

    class Stopper:
        @hookimpl
        def tune_bridge_should_stop(self, epoch):
            return answers[epoch - 1]

    backend = Stopper()
    backend.name = name
    return backend


@pytest.mark.parametrize(
    ("answers_a", "answers_b", "expected"),
    [
        ([None], [None], False),
        ([False], [None], False),
        ([False], [False], False),
        ([True], [None], True),
        ([False], [True], True),
        ([True], [True], True),
    ],
)
def test_should_stop_aggregation(answers_a, answers_b, expected):
    bridge = Bridge([_stopper("a", answers_a), _stopper("b", answers_b)])
    bridge.run_start()

    stop = bridge.epoch_end(1, {"loss": 1.0})

    assert stop is expected
    assert bridge.stop_requested is expected
    bridge.run_end()


def test_should_stop_is_sticky():
    bridge = Bridge([_stopper("a", [False, True, False, None])])
    bridge.run_start()

    answers = [bridge.epoch_end(epoch, {"loss": 1.0}) for epoch in (1, 2, 3, 4)]

    assert answers == [False, True, True, True]
    bridge.run_end()


def test_stop_requested_by_lists_backends():
    bridge = Bridge(
        [
            _stopper("a", [False, True, True]),
            _stopper("b", [None, None, None]),
            _stopper("c", [True, True, True]),
        ]
    )
    bridge.run_start()

    for epoch in (1, 2, 3):
        bridge.epoch_end(epoch)

    assert bridge.stop_requested_by == ["c", "a"]
    bridge.run_end()


def test_repeated_epoch_returns_stop_state():
    bridge = Bridge([_stopper("a", [True])])
    bridge.run_start()
    bridge.epoch_end(1)

    assert bridge.epoch_end(1) is True
    bridge.run_end()


def test_stop_resets_at_run_start():
    bridge = Bridge([_stopper("a", [True, False])])
    bridge.run_start()
    bridge.epoch_end(1)
    bridge.run_end("stopped")

    bridge.run_start()

    assert bridge.stop_requested is False
    assert bridge.stop_requested_by == []
    bridge.run_end()


def test_stop_request_logged_at_info(caplog):
    bridge = Bridge([_stopper("asha", [True, True])])
    bridge.run_start(name="t")

    with caplog.at_level(logging.INFO, logger="tune_bridge"):
        bridge.epoch_end(1)
        bridge.epoch_end(2)

    stop_records = [r for r in caplog.records if "asked" in r.getMessage()]
    assert len(stop_records) == 1
    assert "'asha'" in stop_records[0].getMessage()
    bridge.run_end()


# --- context manager -----------------------------------------------------------------


def test_context_exception_sends_failed(recorder):
    with pytest.raises(ZeroDivisionError), Bridge([recorder]) as bridge:
        bridge.run_start()
        bridge.epoch_end(1, {"loss": 1.0})
        1 / 0  # noqa: B018

    assert recorder.hooks()[-1] == "run_end"
    assert recorder.arguments("run_end")[0]["status"] == "failed"


def test_context_keyboard_interrupt_sends_failed(recorder):
    with pytest.raises(KeyboardInterrupt), Bridge([recorder]) as bridge:
        bridge.run_start()
        raise KeyboardInterrupt

    assert recorder.arguments("run_end")[0]["status"] == "failed"


def test_context_normal_exit_sends_completed(recorder):
    with Bridge([recorder]) as bridge:
        bridge.run_start()
        bridge.epoch_end(1, {"loss": 1.0})

    assert recorder.arguments("run_end")[0]["status"] == "completed"
    assert bridge.run is None


def test_context_stop_sends_stopped(make_recorder):
    recorder = make_recorder(stop_at=2)

    with Bridge([recorder]) as bridge:
        bridge.run_start()
        for epoch in range(1, 10):
            if bridge.epoch_end(epoch, {"loss": 1.0}):
                break

    assert recorder.arguments("run_end")[0]["status"] == "stopped"
    assert len(recorder.arguments("epoch_end")) == 2


def test_context_after_run_end_sends_nothing(recorder):
    with Bridge([recorder]) as bridge:
        bridge.run_start()
        bridge.run_end("stopped")

    assert len(recorder.arguments("run_end")) == 1
    assert recorder.arguments("run_end")[0]["status"] == "stopped"


def test_context_without_run_sends_nothing(recorder):
    with Bridge([recorder]):
        pass

    assert recorder.events == []


def test_context_returns_bridge(recorder):
    bridge = Bridge([recorder])

    with bridge as entered:
        assert entered is bridge


# --- logging at run start ------------------------------------------------------------


def test_run_start_logs_backends_once(recorder, caplog, tmp_path):
    bridge = Bridge([recorder, "jsonl"])

    with caplog.at_level(logging.INFO, logger="tune_bridge"):
        bridge.run_start(name="t", run_dir=tmp_path)

    started = [r for r in caplog.records if r.name == "tune_bridge" and "started" in r.getMessage()]
    assert len(started) == 1
    assert started[0].levelno == logging.INFO
    message = started[0].getMessage()
    assert "recorder (recorder 1.0)" in message
    assert f"jsonl (tune_bridge {tune_bridge.__version__})" in message
    bridge.run_end()


def test_run_start_logs_no_backends(caplog):
    bridge = Bridge([])

    with caplog.at_level(logging.INFO, logger="tune_bridge"):
        bridge.run_start(name="t")

    assert "none" in caplog.records[0].getMessage()
    bridge.run_end()


# --- metrics copies per backend --------------------------------------------------------


def test_each_backend_gets_own_metrics(make_recorder):
    class Mutator:
        name = "a-mutator"

        @hookimpl
        def tune_bridge_epoch_end(self, metrics):
            metrics["loss"] = -1.0
            metrics["added"] = 1.0

        @hookimpl
        def tune_bridge_should_stop(self, metrics):
            metrics.clear()

        @hookimpl
        def tune_bridge_run_end(self, metrics):
            metrics.clear()

    recorder = make_recorder()
    bridge = Bridge([Mutator(), recorder])
    bridge.run_start()

    bridge.epoch_end(1, {"loss": 0.5})
    bridge.run_end()

    assert recorder.arguments("epoch_end")[0]["metrics"] == {"loss": 0.5}
    assert recorder.arguments("should_stop")[0]["metrics"] == {"loss": 0.5}
    assert recorder.arguments("run_end")[0]["metrics"] == {"loss": 0.5}


def test_backends_get_distinct_dicts(make_recorder):
    first, second = make_recorder("first"), make_recorder("second")
    bridge = Bridge([first, second])
    bridge.run_start()

    bridge.epoch_end(1, {"loss": 0.5})
    bridge.run_end()

    assert (
        first.arguments("epoch_end")[0]["metrics"]
        is not second.arguments("epoch_end")[0]["metrics"]
    )


# --- choosing backends ---------------------------------------------------------------


def test_backends_in_given_order(make_recorder):
    bridge = Bridge([make_recorder("b"), make_recorder("a"), "jsonl"])

    assert list(bridge.backends) == ["b", "a", "jsonl"]


def test_backends_called_in_given_order():
    calls = []

    def named(name):
        class Appender:
            @hookimpl
            def tune_bridge_run_start(self):
                calls.append(name)

        backend = Appender()
        backend.name = name
        return backend

    bridge = Bridge([named("z"), named("a"), named("m")])
    bridge.run_start()
    bridge.run_end()

    assert calls == ["z", "a", "m"]


def test_backend_name_defaults_to_class_name():
    class MyBackend:
        @hookimpl
        def tune_bridge_run_start(self):
            pass

    assert list(Bridge([MyBackend()]).backends) == ["mybackend"]


@pytest.mark.parametrize(
    "backends",
    [["jsonl", "jsonl"], "jsonl,jsonl"],
    ids=["list", "string"],
)
def test_duplicate_backend_names_rejected(backends):
    with pytest.raises(ValueError, match="'jsonl'"):
        Bridge(backends)


def test_duplicate_object_names_rejected(make_recorder):
    with pytest.raises(ValueError, match="'x'"):
        Bridge([make_recorder("x"), make_recorder("x")])


def test_object_named_like_builtin_rejected(make_recorder):
    with pytest.raises(ValueError, match="'jsonl'"):
        Bridge([make_recorder("jsonl"), "jsonl"])


@pytest.mark.parametrize("backends", ["jsonl,ray", " jsonl , ray ", "jsonl,,ray,"])
def test_backends_from_string(backends):
    bridge = Bridge(backends)

    assert list(bridge.backends) == ["jsonl", "ray"]


def test_backends_string_creates_objects():
    from tune_bridge.backends.jsonl import JsonlBackend

    bridge = Bridge("jsonl")

    assert isinstance(bridge.backends["jsonl"], JsonlBackend)


def test_backends_from_env_var(monkeypatch):
    monkeypatch.setenv(BACKENDS_ENV_VAR, "jsonl")

    assert list(Bridge().backends) == ["jsonl"]


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
def test_backends_env_var_empty_enables_none(monkeypatch, value):
    monkeypatch.setenv(BACKENDS_ENV_VAR, value)

    assert Bridge().backends == {}


def test_explicit_list_wins_over_env(monkeypatch, recorder):
    monkeypatch.setenv(BACKENDS_ENV_VAR, "jsonl,ray")

    bridge = Bridge([recorder])

    assert list(bridge.backends) == ["recorder"]


def test_explicit_empty_list_wins_over_env(monkeypatch):
    monkeypatch.setenv(BACKENDS_ENV_VAR, "jsonl")

    assert Bridge([]).backends == {}


def test_defaults_without_env():
    assert set(Bridge().backends) == {"jsonl", "ray"}


def test_env_var_unknown_name_raises(monkeypatch):
    monkeypatch.setenv(BACKENDS_ENV_VAR, "jsonl,nope")

    with pytest.raises(UnknownBackendError, match="'nope'"):
        Bridge()


def test_unknown_backend_lists_known():
    with pytest.raises(UnknownBackendError) as raised:
        Bridge(["nope"])

    message = str(raised.value)
    assert "'nope'" in message
    assert "jsonl" in message
    assert "ray" in message


def test_unknown_backend_error_is_value_error():
    assert issubclass(UnknownBackendError, ValueError)


@pytest.mark.parametrize("backends", [{"jsonl": {}}, 3])
def test_backends_rejects_other_types(backends):
    with pytest.raises(TypeError, match="backends"):
        Bridge(backends)


@pytest.mark.parametrize("max_failures", [0, -1, 1.5, True, "3"])
def test_max_failures_rejects_invalid(max_failures):
    with pytest.raises(ValueError, match="max_failures"):
        Bridge([], max_failures=max_failures)
