"""The Bridge: one method per training event, with cleaning, isolation and stop requests."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Union

from tune_bridge._registry import HOOK_NAMES, BackendSet, EnabledBackend
from tune_bridge.metrics import MetricCleaner, Metrics, NonFinitePolicy
from tune_bridge.run import RUN_STATUSES, RunInfo

__all__ = ["DEFAULT_MAX_FAILURES", "HOOK_NAMES", "Bridge"]

logger = logging.getLogger("tune_bridge")

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_MAX_FAILURES = 3


def _check_epoch(epoch: Any) -> int:
    if type(epoch) is int and epoch >= 1:
        return epoch
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
        raise TypeError(
            f"epoch must be an int (1-based), got {epoch!r} of type {type(epoch).__name__}"
        )
    if epoch < 1:
        raise ValueError(f"epoch must be 1 or greater (epochs are 1-based), got {epoch}")
    return int(epoch)


class Bridge:
    """Send training events to every enabled backend.

    A training loop creates one Bridge per run and calls :meth:`run_start`, then
    :meth:`epoch_end` after each epoch (and :meth:`checkpoint_saved` when it writes a
    checkpoint), then :meth:`run_end`. Used as a context manager, the Bridge ends the
    run when the block ends: with status ``"failed"`` when the block raises (and the
    exception propagates), otherwise ``"stopped"`` or ``"completed"``.

    An exception raised by a backend does not reach the training loop and does not
    keep other backends from the event. The Bridge logs it with its traceback. A
    backend whose hook fails ``max_failures`` times in a row is disabled for the rest
    of the run.

    Args:
        backends: Backends to enable: backend objects, or names of discovered backends
            (``tune-bridge backends`` lists them). ``None`` enables the names in the
            ``TUNE_BRIDGE_BACKENDS`` environment variable (comma-separated) when it is
            set, otherwise the built-in defaults: ``jsonl`` and ``ray``. An explicit
            list wins over the variable. A string is read as comma-separated names.
        nonfinite: What to do with NaN and infinite metric values: ``"drop"`` (the
            default) removes them with one warning per key per run, ``"keep"`` passes
            them on, ``"raise"`` raises
            :class:`~tune_bridge.metrics.NonFiniteMetricError`.
        strict: Re-raise backend exceptions instead of isolating them. Meant for tests.
        max_failures: Consecutive failures of one hook after which its backend is
            disabled for the run.

    Raises:
        UnknownBackendError: A name is not a discovered backend.
        ValueError: Two enabled backends have the same name, or an argument is invalid.
        pluggy.PluginValidationError: A backend's hook takes an argument that the
            hook does not have.
    """

    def __init__(
        self,
        backends: Iterable[Any] | None = None,
        *,
        nonfinite: NonFinitePolicy = "drop",
        strict: bool = False,
        max_failures: int = DEFAULT_MAX_FAILURES,
    ) -> None:
        if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1:
            raise ValueError(f"max_failures must be a positive int, got {max_failures!r}")
        self.strict = strict
        self.max_failures = max_failures
        self._cleaner = MetricCleaner(nonfinite)
        backend_set = BackendSet(BackendSet.resolve(backends))
        self._plugin_manager = backend_set.plugin_manager
        self._backends = backend_set.backends
        self._calls = backend_set.calls

        self._run: RunInfo | None = None
        self._last_epoch = 0
        self._last_metrics: Metrics = {}
        self._stop_requested = False
        self._stop_requested_by: list[str] = []
        self._exit_requested_by: str | None = None
        self._warned_epoch_order = False
        self._warned_stop_answers: set[str] = set()

    # --- public state --------------------------------------------------------------

    @property
    def backends(self) -> dict[str, Any]:
        """The enabled backend objects by name, in the order of calls."""
        return {backend.name: backend.obj for backend in self._backends}

    @property
    def run(self) -> RunInfo | None:
        """The active run, or ``None`` before :meth:`run_start` and after :meth:`run_end`."""
        return self._run

    @property
    def last_epoch(self) -> int:
        """The last epoch sent to backends in this run; 0 before the first."""
        return self._last_epoch

    @property
    def last_metrics(self) -> Metrics:
        """A copy of the cleaned metrics of the last epoch sent in this run."""
        return dict(self._last_metrics)

    @property
    def stop_requested(self) -> bool:
        """Whether a backend has asked the trainer to stop during this run."""
        return self._stop_requested

    @property
    def stop_requested_by(self) -> list[str]:
        """Names of the backends that asked to stop, in the order they asked."""
        return list(self._stop_requested_by)

    @property
    def exit_requested_by(self) -> str | None:
        """Name of the backend whose hook raised ``SystemExit`` in this run, if any.

        Ray's report raises ``SystemExit(0)`` to end a trial that its scheduler stopped.
        The Bridge lets the other backends receive the event first, then re-raises.
        """
        return self._exit_requested_by

    def disabled_backends(self) -> list[str]:
        """Return the names of backends disabled after repeated failures in this run."""
        return [backend.name for backend in self._backends if backend.disabled]

    # --- events ----------------------------------------------------------------------

    def run_start(
        self,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        run_dir: PathLike | None = None,
        framework: str = "plain",
    ) -> RunInfo:
        """Start a run and send ``tune_bridge_run_start`` to every backend.

        Args:
            name: Run name; defaults to the name of ``run_dir``, or ``"run"``.
            config: Hyperparameters of the run; a shallow copy is kept.
            run_dir: Folder for the run's outputs. File-writing backends put their
                files here.
            framework: Who produces the events: ``"plain"`` for a hand-written loop.

        Returns:
            The :class:`~tune_bridge.RunInfo` that every hook of this run receives.

        Raises:
            RuntimeError: A run is already active; call :meth:`run_end` first.
        """
        if self._run is not None:
            raise RuntimeError(
                f"run {self._run.name!r} is still active; call run_end() before starting another"
            )
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping, got {type(config).__name__}")
        # pathlib is imported here, not at module level, to keep `import tune_bridge` light.
        from pathlib import Path

        directory = Path(run_dir) if run_dir is not None else None
        if name is None:
            name = directory.name if directory is not None and directory.name else "run"

        run = RunInfo(
            name=str(name), config=dict(config or {}), run_dir=directory, framework=framework
        )
        self._run = run
        self._last_epoch = 0
        self._last_metrics = {}
        self._stop_requested = False
        self._stop_requested_by = []
        self._exit_requested_by = None
        self._warned_epoch_order = False
        self._warned_stop_answers.clear()
        self._cleaner.reset()
        for backend in self._backends:
            backend.disabled = False
            backend.consecutive_failures.clear()

        described = ", ".join(f"{b.name} ({b.version})" for b in self._backends) or "none"
        logger.info("Run %r started with backends: %s", run.name, described)
        self._call("tune_bridge_run_start", {"run": run})
        return run

    def epoch_end(
        self,
        epoch: int,
        metrics: Mapping[str, Any] | None = None,
        checkpoint: PathLike | None = None,
    ) -> bool:
        """Send one finished epoch's metrics to every backend, then ask about stopping.

        Args:
            epoch: The finished epoch, 1-based. An epoch that is not greater than the
                previous one is not sent again; the Bridge warns once per run.
            metrics: The epoch's metrics. The Bridge cleans a copy and never changes
                the caller's dict.
            checkpoint: File or folder with the model state after this epoch, if any.

        Returns:
            ``True`` when a backend has asked the trainer to stop, in this epoch or
            an earlier one of this run.
        """
        run = self._require_run("epoch_end")
        epoch = _check_epoch(epoch)
        if epoch <= self._last_epoch:
            if not self._warned_epoch_order:
                self._warned_epoch_order = True
                logger.warning(
                    "Epoch %d of run %r was not sent: it is not greater than the previous "
                    "epoch %d. Later repeats in this run are not logged.",
                    epoch,
                    run.name,
                    self._last_epoch,
                )
            return self._stop_requested

        cleaned = self._cleaner.clean(metrics)
        checkpoint_path = None
        if checkpoint is not None:
            from pathlib import Path

            checkpoint_path = Path(checkpoint)
        self._last_epoch = epoch
        self._last_metrics = cleaned
        self._call(
            "tune_bridge_epoch_end",
            {"run": run, "epoch": epoch, "metrics": cleaned, "checkpoint": checkpoint_path},
        )

        if not self._calls["tune_bridge_should_stop"]:  # no backend can request a stop
            return self._stop_requested
        answers = self._call(
            "tune_bridge_should_stop", {"run": run, "epoch": epoch, "metrics": cleaned}
        )
        for backend_name, answer in answers:
            if not self._is_stop_request(backend_name, answer):
                continue
            if backend_name not in self._stop_requested_by:
                self._stop_requested_by.append(backend_name)
                logger.info(
                    "Backend %r asked run %r to stop after epoch %d", backend_name, run.name, epoch
                )
            self._stop_requested = True
        return self._stop_requested

    def _is_stop_request(self, backend_name: str, answer: Any) -> bool:
        if answer is None or answer is False:
            return False
        if answer is True:
            return True
        # numpy's bool (bool_ before numpy 2) is not a bool subclass; other types are a
        # backend bug.
        answer_type = type(answer)
        if answer_type.__module__ == "numpy" and answer_type.__name__ in ("bool", "bool_"):
            return bool(answer)
        if backend_name not in self._warned_stop_answers:
            self._warned_stop_answers.add(backend_name)
            logger.warning(
                "Backend %r returned %r from tune_bridge_should_stop; expected True, False or "
                "None. The answer is ignored.",
                backend_name,
                answer,
            )
        return False

    def checkpoint_saved(self, epoch: int, path: PathLike) -> None:
        """Announce a checkpoint file or folder that the trainer has written.

        Args:
            epoch: The 1-based epoch whose state the checkpoint holds.
            path: The checkpoint file or folder.
        """
        run = self._require_run("checkpoint_saved")
        epoch = _check_epoch(epoch)
        from pathlib import Path

        self._call("tune_bridge_checkpoint_saved", {"run": run, "epoch": epoch, "path": Path(path)})

    def run_end(self, status: str = "completed", metrics: Mapping[str, Any] | None = None) -> None:
        """End the run and send ``tune_bridge_run_end`` to every backend.

        Calling it when no run is active does nothing, so an explicit call inside a
        ``with`` block is safe.

        Args:
            status: ``"completed"``, ``"stopped"`` or ``"failed"``.
            metrics: Final metrics; ``None`` sends the last epoch's metrics.
        """
        if status not in RUN_STATUSES:
            raise ValueError(
                f"invalid run status {status!r}: expected one of "
                f"{', '.join(repr(s) for s in RUN_STATUSES)}"
            )
        run = self._run
        if run is None:
            logger.debug("run_end(%r) ignored: no run is active", status)
            return
        try:
            if metrics is not None:
                cleaned = self._cleaner.clean(metrics)
            else:
                cleaned = dict(self._last_metrics)
            self._call("tune_bridge_run_end", {"run": run, "status": status, "metrics": cleaned})
        finally:
            # The run ends even when cleaning raises, so that a new run can start.
            self._run = None
        logger.info(
            "Run %r ended with status %r after epoch %d", run.name, status, self._last_epoch
        )

    # --- context manager ----------------------------------------------------------

    def __enter__(self) -> Bridge:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._run is None:
            return
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            # A clean exit, such as Ray ending a trial that its scheduler stopped.
            self.run_end("stopped")
        elif exc is not None:
            self.run_end("failed")
        elif self._stop_requested:
            self.run_end("stopped")
        else:
            self.run_end("completed")

    # --- dispatch -----------------------------------------------------------------

    def _require_run(self, method: str) -> RunInfo:
        if self._run is None:
            raise RuntimeError(f"{method}() called with no active run; call run_start() first")
        return self._run

    def _call(self, hook_name: str, arguments: dict[str, Any]) -> list[tuple[str, Any]]:
        """Call each backend's implementation of a hook, isolating their failures.

        pluggy stops a hook call at the first exception, so the Bridge calls every
        implementation itself. Each backend gets its own copy of the metrics.
        """
        results: list[tuple[str, Any]] = []
        metrics = arguments.get("metrics")
        pending_exit: SystemExit | None = None
        for backend, function, argnames, takes_metrics in self._calls[hook_name]:
            if backend.disabled:
                continue
            if takes_metrics and metrics is not None:
                arguments["metrics"] = dict(metrics)
            try:
                result = function(*[arguments[argname] for argname in argnames])
            except SystemExit as exit_request:
                # Ray's report ends a trial that its scheduler stopped with sys.exit(0).
                # The other backends still get the event before the exit goes on.
                pending_exit = exit_request
                self._exit_requested_by = backend.name
                continue
            except Exception as error:
                if self.strict:
                    raise
                self._record_failure(backend, hook_name, error)
                continue
            if backend.consecutive_failures:
                backend.consecutive_failures.pop(hook_name, None)
            results.append((backend.name, result))
        if pending_exit is not None:
            logger.info(
                "Backend %r ended run %r with SystemExit(%r) in %s, as Ray does for a trial "
                "that its scheduler stopped",
                self._exit_requested_by,
                self._run.name if self._run is not None else "?",
                pending_exit.code,
                hook_name,
            )
            raise pending_exit
        return results

    def _record_failure(self, backend: EnabledBackend, hook_name: str, error: Exception) -> None:
        failures = backend.consecutive_failures.get(hook_name, 0) + 1
        backend.consecutive_failures[hook_name] = failures
        run_name = self._run.name if self._run is not None else "?"
        logger.warning(
            "Backend %r raised %s in %s of run %r; training and the other backends go on",
            backend.name,
            type(error).__name__,
            hook_name,
            run_name,
            exc_info=(type(error), error, error.__traceback__),
        )
        if failures >= self.max_failures:
            backend.disabled = True
            logger.error(
                "Disabled backend %r for the rest of run %r after %d consecutive failures in %s",
                backend.name,
                run_name,
                failures,
                hook_name,
            )
