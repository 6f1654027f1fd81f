"""Unit tests of the Ray session probe and API choice, with fake Ray modules.

Each fake reproduces the shape of one Ray era, so the probe's decisions are pinned
without installing that release. The real-Ray tests live in test_ray_backend.py.
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from tune_bridge.backends import _ray_session
from tune_bridge.backends._ray_session import TRAIN, TUNE, probe_session, resolve_api


def _install(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    parent_name, _, child = name.rpartition(".")
    if parent_name and parent_name in sys.modules:
        monkeypatch.setattr(sys.modules[parent_name], child, module, raising=False)
    return module


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every real ray module from sys.modules for the test."""
    for name in list(sys.modules):
        if name == "ray" or name.startswith("ray."):
            monkeypatch.delitem(sys.modules, name)
    return monkeypatch


@pytest.fixture(autouse=True)
def warnings_are_errors() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


class _Session:
    def __init__(self, world_rank: int | None) -> None:
        self.world_rank = world_rank


def _raise_runtime_error() -> None:
    raise RuntimeError("ray.train.get_context() called outside a Train worker")


def test_probe_without_ray_imported(no_ray: pytest.MonkeyPatch) -> None:
    assert probe_session() is None


def test_probe_with_ray_but_no_session_modules(no_ray: pytest.MonkeyPatch) -> None:
    _install(no_ray, "ray")
    assert probe_session() is None


def test_probe_legacy_is_session_enabled(no_ray: pytest.MonkeyPatch) -> None:
    _install(no_ray, "ray")
    _install(no_ray, "ray.tune", is_session_enabled=lambda: True)
    session = probe_session()
    assert session is not None
    assert session.kind == TUNE
    assert session.source == "is_session_enabled"


def test_probe_legacy_stub_returns_false(no_ray: pytest.MonkeyPatch) -> None:
    # Ray 2.9 kept is_session_enabled as a stub that always returns False.
    _install(no_ray, "ray")
    _install(no_ray, "ray.tune", is_session_enabled=lambda: False)
    assert probe_session() is None


@pytest.mark.parametrize(
    ("world_rank", "kind"),
    [(None, TUNE), (0, TRAIN), (1, TRAIN)],
)
def test_probe_private_get_session_with_warn(
    no_ray: pytest.MonkeyPatch, world_rank: int | None, kind: str
) -> None:
    def _get_session(warn: bool = True) -> _Session | None:
        return _Session(world_rank)

    _install(no_ray, "ray")
    _install(no_ray, "ray.train._internal.session", _get_session=_get_session)
    session = probe_session()
    assert session is not None
    assert session.kind == kind
    assert session.world_rank == world_rank
    assert session.source == "_get_session"


def test_probe_private_get_session_outside_passes_warn_false(
    no_ray: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []

    def _get_session(warn: bool = True) -> None:
        calls.append(warn)
        if warn:
            warnings.warn("Session not detected", UserWarning, stacklevel=2)

    _install(no_ray, "ray")
    _install(no_ray, "ray.train._internal.session", _get_session=_get_session)
    assert probe_session() is None
    assert calls == [False]


@pytest.mark.parametrize(("world_rank", "kind"), [(None, TUNE), (3, TRAIN)])
def test_probe_get_session(no_ray: pytest.MonkeyPatch, world_rank: int | None, kind: str) -> None:
    _install(no_ray, "ray")
    _install(no_ray, "ray.train._internal.session", get_session=lambda: _Session(world_rank))
    session = probe_session()
    assert session is not None
    assert session.kind == kind
    assert session.world_rank == world_rank
    assert session.source == "get_session"


def test_probe_get_session_outside(no_ray: pytest.MonkeyPatch) -> None:
    _install(no_ray, "ray")
    _install(no_ray, "ray.train._internal.session", get_session=lambda: None)
    assert probe_session() is None


def test_probe_get_session_that_raises(no_ray: pytest.MonkeyPatch) -> None:
    _install(no_ray, "ray")
    _install(no_ray, "ray.train._internal.session", get_session=_raise_runtime_error)
    assert probe_session() is None


def test_probe_train_v2_worker(no_ray: pytest.MonkeyPatch) -> None:
    context = types.SimpleNamespace(get_world_rank=lambda: 1)
    utils = types.SimpleNamespace(get_context=lambda: context, is_distributed=lambda: True)
    _install(no_ray, "ray")
    # ray.train.get_context raises outside a worker in Train V2; the probe must not call it.
    _install(no_ray, "ray.train", get_context=_raise_runtime_error)
    _install(no_ray, "ray.train.v2._internal.execution.train_fn_utils", _train_fn_utils=utils)
    session = probe_session()
    assert session is not None
    assert session.kind == TRAIN
    assert session.world_rank == 1
    assert session.source == "train-v2"


def test_probe_train_v2_module_without_utils_falls_back(no_ray: pytest.MonkeyPatch) -> None:
    _install(no_ray, "ray")
    _install(no_ray, "ray.train", get_context=_raise_runtime_error)
    _install(no_ray, "ray.train.v2._internal.execution.train_fn_utils", _train_fn_utils=None)
    _install(no_ray, "ray.train._internal.session", get_session=lambda: _Session(None))
    session = probe_session()
    assert session is not None
    assert session.kind == TUNE
    assert session.source == "get_session"


def test_probe_train_v2_context_that_raises(no_ray: pytest.MonkeyPatch) -> None:
    utils = types.SimpleNamespace(get_context=_raise_runtime_error)
    _install(no_ray, "ray")
    _install(no_ray, "ray.train.v2._internal.execution.train_fn_utils", _train_fn_utils=utils)
    session = probe_session()
    assert session is not None
    assert session.kind == TRAIN
    assert session.world_rank == 0


def test_probe_session_module_without_getters(no_ray: pytest.MonkeyPatch) -> None:
    _install(no_ray, "ray")
    _install(no_ray, "ray.train._internal.session")
    assert probe_session() is None


# --- choice of the report function -------------------------------------------------


def _new_style_report(metrics: dict[str, Any], *, checkpoint: Any = None) -> None:
    """The report signature of ray.tune and ray.train from Ray 2.7 on."""


def _legacy_tune_report(_metric: Any = None, **kwargs: Any) -> None:
    """The stub of Ray 2.9, which raises when called."""
    raise DeprecationWarning("tune.report is deprecated")


def _fake_ray_with(
    monkeypatch: pytest.MonkeyPatch,
    tune_report: Callable[..., Any] | None,
    train_report: Callable[..., Any] | None,
) -> None:
    _install(monkeypatch, "ray", __version__="0.0-fake")
    tune_attributes: dict[str, Any] = {"Checkpoint": type("TuneCheckpoint", (), {})}
    if tune_report is not None:
        tune_attributes["report"] = tune_report
        tune_attributes["get_checkpoint"] = lambda: None
    _install(monkeypatch, "ray.tune", **tune_attributes)
    train_attributes: dict[str, Any] = {"Checkpoint": type("TrainCheckpoint", (), {})}
    if train_report is not None:
        train_attributes["report"] = train_report
        train_attributes["get_checkpoint"] = lambda: None
    _install(monkeypatch, "ray.train", **train_attributes)


def test_api_tune_trial_uses_tune_report(no_ray: pytest.MonkeyPatch) -> None:
    _fake_ray_with(no_ray, _new_style_report, _new_style_report)
    api = resolve_api(_ray_session.RaySession(TUNE, None, "get_session"))
    assert api is not None
    assert api.name == "ray.tune.report"
    assert api.checkpoint_class.__name__ == "TuneCheckpoint"


def test_api_tune_trial_skips_legacy_tune_report(no_ray: pytest.MonkeyPatch) -> None:
    _fake_ray_with(no_ray, _legacy_tune_report, _new_style_report)
    api = resolve_api(_ray_session.RaySession(TUNE, None, "get_session"))
    assert api is not None
    assert api.name == "ray.train.report"
    assert api.checkpoint_class.__name__ == "TrainCheckpoint"


def test_api_tune_trial_without_tune_report(no_ray: pytest.MonkeyPatch) -> None:
    # Ray 2.35: ray.tune has no report; Tune function trainables use ray.train.report.
    _fake_ray_with(no_ray, None, _new_style_report)
    api = resolve_api(_ray_session.RaySession(TUNE, None, "get_session"))
    assert api is not None
    assert api.name == "ray.train.report"


def test_api_train_worker_uses_train_report(no_ray: pytest.MonkeyPatch) -> None:
    _fake_ray_with(no_ray, _new_style_report, _new_style_report)
    api = resolve_api(_ray_session.RaySession(TRAIN, 0, "train-v2"))
    assert api is not None
    assert api.name == "ray.train.report"


def test_api_falls_back_to_air_session(no_ray: pytest.MonkeyPatch) -> None:
    _fake_ray_with(no_ray, None, None)
    _install(no_ray, "ray.air")
    _install(no_ray, "ray.air.session", report=lambda metrics, checkpoint=None: None)
    api = resolve_api(_ray_session.RaySession(TUNE, None, "is_session_enabled"))
    assert api is not None
    assert api.name == "ray.air.session.report"


def test_api_none_when_ray_has_no_report(
    no_ray: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_ray_with(no_ray, None, None)
    _install(no_ray, "ray.air")
    api = resolve_api(_ray_session.RaySession(TUNE, None, "get_session"))
    assert api is None
    assert "no report function" in caplog.text
