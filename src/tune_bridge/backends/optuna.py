"""The Optuna backend: report one target metric per epoch to an Optuna trial and prune.

Each epoch's value of the target metric becomes ``trial.report(value, step=epoch)``,
and the stop hook returns ``trial.should_prune()``, so a pruned trial ends after the
current epoch through the trainer's normal stop path. The backend never raises inside
the training loop. After training, the objective raises ``optuna.TrialPruned`` itself
with :meth:`TrialReport.raise_if_pruned` or :meth:`OptunaBackend.raise_if_pruned`.
Raising from inside a callback would skip the trainer's own clean-up, and under
distributed training it would stop one rank while the others wait.

The trial comes from the constructor or from :func:`trial_context` around the
training call, which lets ``Bridge(backends=["optuna"])`` and the Ultralytics adapter
create the backend with no arguments::

    def objective(trial):
        lr0 = trial.suggest_float("lr0", 1e-4, 1e-1, log=True)
        with trial_context(trial, metric="metrics/accuracy_top1") as report:
            model = YOLO("yolov8n-cls.yaml")
            attach(model, backends=["jsonl", "optuna"])
            model.train(data=data, epochs=6, lr0=lr0, optimizer="AdamW")
        report.raise_if_pruned()
        return max(report.values.values())

Steps are 1-based epochs, while Optuna's pruners count warm-up steps from 0:
``MedianPruner(n_warmup_steps=k)`` can prune from epoch ``k`` on (epochs 1 to k-1
are warm-up).

Ranks: only the process of global rank 0 reports and decides. The rank comes from
``torch.distributed`` when it is initialized, otherwise from the ``RANK`` environment
variable, otherwise ``LOCAL_RANK``; a process with any other rank stays idle. A plain
loop under ``torch.distributed`` has to broadcast rank 0's stop decision to the other
ranks itself. Ultralytics already broadcasts ``trainer.stop`` from rank 0.

NOTE: Ultralytics' multi-GPU training runs the callbacks in child processes started
by ``torch.distributed.run``. The ContextVar of :func:`trial_context` does not reach
them, so the backend stays idle there; train each trial on one GPU.

``optuna`` is never imported by this module except in :meth:`TrialReport.raise_if_pruned`.
The backend only calls methods of the trial object that it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tune_bridge._markers import hookimpl
from tune_bridge._rank import process_rank
from tune_bridge.run import RunInfo

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger("tune_bridge.backends.optuna")


@dataclass
class TrialReport:
    """The values reported to one Optuna trial, and the epoch at which it was pruned.

    One object serves every run of the trial, so that a second training call in the
    same trial cannot report a step twice.

    Attributes:
        trial: The ``optuna.trial.Trial`` that receives the values.
        metric: Name of the target metric, or ``None`` until a backend's own
            ``metric`` fills it in.
        values: Reported values by epoch (the Optuna step), in report order.
        pruned_epoch: The epoch after which the pruner pruned the trial, or ``None``.
    """

    trial: optuna.trial.Trial
    metric: str | None = None
    values: dict[int, float] = field(default_factory=dict)
    pruned_epoch: int | None = None

    @property
    def pruned(self) -> bool:
        """Whether the pruner has pruned the trial."""
        return self.pruned_epoch is not None

    @property
    def last_step(self) -> int | None:
        """The last reported epoch, or ``None`` before the first report."""
        return max(self.values) if self.values else None

    def raise_if_pruned(self) -> None:
        """Raise ``optuna.TrialPruned`` when the pruner pruned the trial; otherwise do nothing.

        Call it in the objective after training, outside the training loop.
        """
        epoch = self.pruned_epoch
        if epoch is None:
            return
        import optuna

        number = getattr(self.trial, "number", "?")
        raise optuna.TrialPruned(
            f"trial {number} was pruned after epoch {epoch}: "
            f"{self.metric} = {self.values.get(epoch)}"
        )


_CURRENT_TRIAL: ContextVar[TrialReport | None] = ContextVar(
    "tune_bridge_optuna_trial", default=None
)


@contextmanager
def trial_context(trial: optuna.trial.Trial, metric: str | None = None) -> Iterator[TrialReport]:
    """Make ``trial`` the trial of every Optuna backend that starts a run inside the block.

    The trial is held in a :class:`contextvars.ContextVar`, so each thread of
    ``study.optimize(n_jobs=...)`` gets only its own trial. Backends that have a
    trial from their constructor ignore it.

    Args:
        trial: The trial that the objective received.
        metric: Name of the target metric, such as ``"metrics/accuracy_top1"``. An
            ``OptunaBackend(metric=...)`` overrides it.

    Yields:
        The :class:`TrialReport` of the trial; call its ``raise_if_pruned()`` after
        training.

    Raises:
        TypeError: ``trial`` is ``None`` or ``metric`` is not a string.
    """
    if trial is None:
        raise TypeError("trial_context() needs the optuna.trial.Trial of the objective, got None")
    _check_metric(metric)
    report = TrialReport(trial=trial, metric=metric)
    token = _CURRENT_TRIAL.set(report)
    try:
        yield report
    finally:
        _CURRENT_TRIAL.reset(token)


def current_trial_report() -> TrialReport | None:
    """Return the :class:`TrialReport` of the innermost :func:`trial_context`, or ``None``."""
    return _CURRENT_TRIAL.get()


def _check_metric(metric: object) -> None:
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise TypeError(f"metric must be a non-empty metric name (str), got {metric!r}")


class OptunaBackend:
    """Report a target metric to an Optuna trial each epoch and request a stop when pruned.

    Args:
        trial: The ``optuna.trial.Trial`` to report to. ``None`` takes the trial of
            the enclosing :func:`trial_context` at each run start.
        metric: Name of the target metric, as the Bridge receives it (for example
            ``"metrics/accuracy_top1"``). ``None`` takes the metric of the enclosing
            :func:`trial_context`. When neither names one, the backend stays idle
            and warns once per run.

    Raises:
        TypeError: ``metric`` is not a string.
    """

    name = "optuna"
    default_enabled = False
    requires: tuple[str, ...] = ("optuna",)

    def __init__(self, trial: optuna.trial.Trial | None = None, metric: str | None = None) -> None:
        _check_metric(metric)
        self.metric = metric
        self._own_report = TrialReport(trial=trial, metric=metric) if trial is not None else None
        self._report: TrialReport | None = None
        self._run_metric = ""
        self._reported_epoch: int | None = None
        self._warned: set[str] = set()

    @property
    def active(self) -> bool:
        """Whether the current run reports to a trial."""
        return self._report is not None

    @property
    def report(self) -> TrialReport | None:
        """The trial report of the current or last active run, or ``None``."""
        return self._report if self._report is not None else self._own_report

    def raise_if_pruned(self) -> None:
        """Raise ``optuna.TrialPruned`` when the pruner pruned this backend's trial."""
        report = self.report
        if report is not None:
            report.raise_if_pruned()

    # --- hooks ------------------------------------------------------------------------

    @hookimpl
    def tune_bridge_run_start(self, run: RunInfo) -> None:
        self._report = None
        self._reported_epoch = None
        self._warned.clear()

        rank = process_rank()
        if rank != 0:
            logger.debug("Run %r is on rank %d; only rank 0 reports to Optuna", run.name, rank)
            return
        report = self._own_report or _CURRENT_TRIAL.get()
        if report is None:
            logger.debug(
                "Run %r has no Optuna trial: pass trial= to OptunaBackend or train inside "
                "tune_bridge.backends.optuna.trial_context(trial); the backend stays idle",
                run.name,
            )
            return
        metric = self.metric or report.metric
        if metric is None:
            logger.warning(
                "Run %r reports nothing to Optuna trial %s: no target metric is named. "
                "Pass metric= to OptunaBackend or to trial_context().",
                run.name,
                _trial_number(report),
            )
            return
        if _is_multi_objective(report.trial):
            logger.warning(
                "Run %r reports nothing to Optuna trial %s: Optuna supports intermediate "
                "values and pruning only in single-objective studies",
                run.name,
                _trial_number(report),
            )
            return

        if report.metric is None:
            report.metric = metric
        self._report = report
        self._run_metric = metric
        logger.debug(
            "Run %r reports %r to Optuna trial %s", run.name, metric, _trial_number(report)
        )

    @hookimpl
    def tune_bridge_epoch_end(self, run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
        report = self._report
        self._reported_epoch = None
        if report is None:
            return

        value = metrics.get(self._run_metric)
        if value is None:
            self._warn_once(
                "missing",
                "Metric %r is missing from epoch %d of run %r, so that epoch is not reported "
                "to Optuna trial %s. Available keys: %s. Later epochs without it are not logged.",
                self._run_metric,
                epoch,
                run.name,
                _trial_number(report),
                ", ".join(sorted(metrics)) or "none",
            )
            return

        last_step = report.last_step
        if last_step is not None and epoch <= last_step:
            self._warn_once(
                "step",
                "Epoch %d of run %r was not reported to Optuna trial %s: the trial already "
                "has step %d, and Optuna keeps only the first value of a step. Later "
                "epochs up to that step are not logged.",
                epoch,
                run.name,
                _trial_number(report),
                last_step,
            )
            return

        try:
            report.trial.report(float(value), step=epoch)
        except Exception as error:
            self._log_failure("trial.report", run, epoch, error)
            return
        report.values[epoch] = float(value)
        self._reported_epoch = epoch

    @hookimpl
    def tune_bridge_should_stop(self, run: RunInfo, epoch: int) -> bool | None:
        report = self._report
        if report is None:
            return None
        if report.pruned:
            return True
        # The pruner decides on reported values only: an epoch that was not
        # reported changes nothing.
        if self._reported_epoch != epoch:
            return None

        try:
            prune = bool(report.trial.should_prune())
        except Exception as error:
            self._log_failure("trial.should_prune", run, epoch, error)
            return None
        if not prune:
            return False

        report.pruned_epoch = epoch
        logger.info(
            "Optuna pruned trial %s after epoch %d of run %r (%s = %g)",
            _trial_number(report),
            epoch,
            run.name,
            self._run_metric,
            report.values[epoch],
        )
        return True

    @hookimpl
    def tune_bridge_run_end(self, run: RunInfo, status: str) -> None:
        report = self._report
        self._reported_epoch = None
        if report is None:
            return
        logger.debug(
            "Run %r ended (%s): Optuna trial %s has %d reported values, pruned after epoch %s",
            run.name,
            status,
            _trial_number(report),
            len(report.values),
            report.pruned_epoch,
        )

    # --- helpers ----------------------------------------------------------------------

    def _warn_once(self, reason: str, message: str, *arguments: Any) -> None:
        if reason in self._warned:
            return
        self._warned.add(reason)
        logger.warning(message, *arguments)

    def _log_failure(self, call: str, run: RunInfo, epoch: int, error: Exception) -> None:
        # The training loop must go on, so the error is logged instead of raised: in
        # full once per run, then at DEBUG.
        report = self._report
        number = _trial_number(report) if report is not None else "?"
        if "failure" in self._warned:
            logger.debug("%s failed again at epoch %d of run %r: %r", call, epoch, run.name, error)
            return
        self._warned.add("failure")
        logger.warning(
            "%s for Optuna trial %s failed at epoch %d of run %r; training goes on. Later "
            "failures in this run are logged at DEBUG.",
            call,
            number,
            epoch,
            run.name,
            exc_info=(type(error), error, error.__traceback__),
        )


def _trial_number(report: TrialReport) -> Any:
    return getattr(report.trial, "number", "?")


def _is_multi_objective(trial: Any) -> bool:
    try:
        return len(trial.study.directions) > 1
    except Exception:  # a trial object without a study, such as a test double
        return False
