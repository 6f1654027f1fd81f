"""Find out whether this process runs inside a Ray Tune trial or a Ray Train worker.

Every public Ray getter either warns or raises when called outside a session (Ray 2.60:
``ray.tune.get_context().get_trial_id()`` warns, ``ray.train.get_context()`` raises
outside a Train V2 worker). The probe therefore reads the objects that Ray keeps for
the current session, newest layout first, and imports nothing. A process that runs a
trial or a Train worker has already imported those modules, and a process that has
not cannot be in a session. Each step reads attributes with ``getattr`` and
skips to the next step when one is missing, so the probe never raises and never
triggers a warning.

Layouts, newest first:

1. Train V2 (default from Ray 2.43 on; Ray 2.60 checked): a worker holds
   ``ray.train.v2._internal.execution.train_fn_utils._train_fn_utils``.
2. Tune trials and Train V1 workers (Ray 2.9 to 2.60 checked): the session object
   returned by ``ray.train._internal.session.get_session()``; ``world_rank`` is
   ``None`` in a Tune function trainable and the worker's rank in Train. Releases
   before 2.41 also had the private ``_get_session``.
3. Releases before Ray 2.7: ``ray.tune.is_session_enabled()`` (a stub that returns
   ``False`` in 2.9, removed in 2.10).
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("tune_bridge.backends.ray")

TUNE = "tune"
TRAIN = "train"


@dataclass(frozen=True)
class RaySession:
    """The Ray session of this process, as found by :func:`probe_session`.

    Attributes:
        kind: ``"tune"`` for a Tune function trainable, ``"train"`` for a Ray Train
            worker.
        world_rank: The Train worker's rank; ``None`` in a Tune trial.
        source: The layout of Ray that the session was found in, for DEBUG logs and tests.
    """

    kind: str
    world_rank: int | None
    source: str


def _module(name: str) -> Any:
    return sys.modules.get(name)


def _call_quietly(function: Callable[[], Any]) -> Any:
    try:
        return function()
    except Exception:  # a private helper of another Ray release may raise anything
        return None


def _probe_train_v2() -> RaySession | None:
    module = _module("ray.train.v2._internal.execution.train_fn_utils")
    if module is None:
        return None
    utils = getattr(module, "_train_fn_utils", None)
    if utils is None:
        return None
    # Ray 2.60 sets DistributedTrainFnUtils in each worker and LocalTrainFnUtils in
    # Train's local mode; both accept ray.train.report and have a world rank.
    context = _call_quietly(utils.get_context) if hasattr(utils, "get_context") else None
    get_rank = getattr(context, "get_world_rank", None)
    rank = _call_quietly(get_rank) if callable(get_rank) else None
    return RaySession(TRAIN, rank if isinstance(rank, int) else 0, "train-v2")


def _session_from(session: Any, source: str) -> RaySession | None:
    if session is None:
        return None
    rank = getattr(session, "world_rank", None)
    if rank is None:
        return RaySession(TUNE, None, source)
    return RaySession(TRAIN, int(rank), source)


def _probe_session_holder() -> RaySession | None:
    module = _module("ray.train._internal.session")
    if module is None:
        return None
    get_session = getattr(module, "get_session", None)
    if callable(get_session):
        return _session_from(_call_quietly(get_session), "get_session")
    # Releases before Ray 2.41 named the getter _get_session; some versions take a
    # warn argument and warn when no session exists.
    private_getter = getattr(module, "_get_session", None)
    if callable(private_getter):
        takes_warn = "warn" in _parameters(private_getter)
        session = _call_quietly(
            (lambda: private_getter(warn=False)) if takes_warn else private_getter
        )
        return _session_from(session, "_get_session")
    holder = getattr(module, "_session", None)
    return _session_from(holder, "_session")


def _probe_legacy_tune() -> RaySession | None:
    tune = _module("ray.tune")
    is_session_enabled = getattr(tune, "is_session_enabled", None)
    if callable(is_session_enabled) and _call_quietly(is_session_enabled) is True:
        return RaySession(TUNE, None, "is_session_enabled")
    return None


def _parameters(function: Callable[..., Any]) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()


def probe_session() -> RaySession | None:
    """Return the Ray session of this process, or ``None`` outside Tune and Train.

    Never raises and never warns; imports nothing.
    """
    if "ray" not in sys.modules:
        return None
    for probe in (_probe_train_v2, _probe_session_holder, _probe_legacy_tune):
        session = probe()
        if session is not None:
            return session
    return None


@dataclass(frozen=True)
class RayApi:
    """The report functions of the installed Ray for one kind of session.

    Attributes:
        report: Called as ``report(metrics, checkpoint=checkpoint_or_none)``.
        checkpoint_class: Class with ``from_directory(path)``; ``None`` when the
            installed Ray has none, and then checkpoints are not reported.
        get_checkpoint: Returns the checkpoint that a restarted trial resumes from.
        name: Dotted name of the report function, for logs.
    """

    report: Callable[..., Any]
    checkpoint_class: Any
    get_checkpoint: Callable[[], Any] | None
    name: str


def _takes_metrics_and_checkpoint(function: Any) -> bool:
    parameters = _parameters(function)
    return "metrics" in parameters and "checkpoint" in parameters


def resolve_api(session: RaySession) -> RayApi | None:
    """Pick the report functions for ``session`` from the installed Ray.

    A Tune trial uses ``ray.tune.report`` where it takes ``(metrics, checkpoint=)``
    (Ray 2.41 and later; in Ray 2.9 the name is an old stub that raises), otherwise
    ``ray.train.report``. A Train worker uses ``ray.train.report``: Ray 2.60 raises
    when a Tune trial calls it. ``ray.air.session.report`` serves releases that have
    neither.
    """
    import ray

    tune = _optional_import("ray.tune")
    train = _optional_import("ray.train")

    if session.kind == TUNE and tune is not None:
        report = getattr(tune, "report", None)
        if callable(report) and _takes_metrics_and_checkpoint(report):
            checkpoint_class = getattr(tune, "Checkpoint", None) or getattr(
                train, "Checkpoint", None
            )
            return RayApi(
                report, checkpoint_class, getattr(tune, "get_checkpoint", None), "ray.tune.report"
            )

    if train is not None:
        report = getattr(train, "report", None)
        if callable(report) and _takes_metrics_and_checkpoint(report):
            return RayApi(
                report,
                getattr(train, "Checkpoint", None),
                getattr(train, "get_checkpoint", None),
                "ray.train.report",
            )

    air_session = _optional_import("ray.air.session")
    report = getattr(air_session, "report", None)
    if callable(report):
        checkpoint_module = _optional_import("ray.air.checkpoint")
        return RayApi(
            report,
            getattr(checkpoint_module, "Checkpoint", None),
            getattr(air_session, "get_checkpoint", None),
            "ray.air.session.report",
        )

    logger.warning(
        "Ray %s offers no report function that tune_bridge knows; nothing is reported",
        getattr(ray, "__version__", "?"),
    )
    return None


def _optional_import(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None
