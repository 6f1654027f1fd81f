"""The event vocabulary: the hooks that every tune_bridge backend may implement.

A backend is a plain object whose methods carry ``@tune_bridge.hookimpl`` and are
named after the specifications below. An implementation may accept any subset of a
hook's arguments, in any order: the Bridge passes only the names that it declares.
New arguments can therefore be added to a hook without breaking existing backends.

Call order within one run::

    run_start
    (epoch_end, then should_stop) once per epoch, with checkpoint_saved in between
    whenever the trainer writes a checkpoint
    run_end

Ranks: the Bridge runs the hooks in the process that calls it. Adapters call it on
the reporting process only (rank 0, or the single process of non-distributed
training). A Ray Train loop calls it on every worker, because Ray Train's report is
a barrier that every worker has to reach.

Every hook receives metrics that the Bridge has already cleaned: a new flat dict
whose keys are the caller's keys byte for byte and whose values are plain ``int`` or
``float``. A backend may keep or change that dict; no other backend receives the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tune_bridge._markers import hookspec
from tune_bridge.run import RunInfo

if TYPE_CHECKING:  # pathlib is imported where a Path is built, not for annotations
    from pathlib import Path

# --- run start -------------------------------------------------------------------


@hookspec
def tune_bridge_run_start(run: RunInfo) -> None:
    """Start a run: called once, before the first epoch.

    Ranks: every process that calls the Bridge; adapters call it on rank 0 only, a
    Ray Train loop on every worker.

    Args:
        run: The run that starts. The same object is passed to every later hook of
            this run, so a backend may use it as a key.
    """


# --- epoch end -------------------------------------------------------------------


@hookspec
def tune_bridge_epoch_end(
    run: RunInfo, epoch: int, metrics: dict[str, float], checkpoint: Path | None
) -> None:
    """Report the metrics of one finished epoch.

    Called once per epoch, after training and validation of that epoch, with epochs
    strictly increasing: the Bridge drops an epoch that is not greater than the
    previous one before any backend receives it. Ranks: as ``run_start``; in Ray Train
    every worker calls it, because Ray Train's report is a barrier.

    Args:
        run: The current run.
        epoch: Number of the finished epoch, 1-based (the first epoch is 1).
        metrics: Cleaned metrics of the epoch: flat ``{key: int | float}``, keys
            verbatim (for example ``"metrics/mAP50-95(B)"``), nested dicts flattened
            with ``"/"``. Losses and accuracies are in the trainer's own units;
            learning rates are per step; times, when present, are in seconds.
        checkpoint: File or folder that contains the model state after this epoch, or
            ``None`` when the trainer saved none for this epoch.
    """


# --- checkpoint saved ------------------------------------------------------------


@hookspec
def tune_bridge_checkpoint_saved(run: RunInfo, epoch: int, path: Path) -> None:
    """Announce a checkpoint that the trainer has written to disk.

    Called after the file or folder is complete, and before ``epoch_end`` of the
    same epoch when the trainer saves during the epoch. Ranks: the process that wrote
    the checkpoint (rank 0 in Ultralytics).

    Args:
        run: The current run.
        epoch: The 1-based epoch whose state the checkpoint holds.
        path: The checkpoint file or folder.
    """


# --- run end ---------------------------------------------------------------------


@hookspec
def tune_bridge_run_end(run: RunInfo, status: str, metrics: dict[str, float]) -> None:
    """End a run: called once, after the last epoch or when training fails.

    Ranks: as ``run_start``.

    Args:
        run: The run that ends.
        status: ``"completed"`` when training ran to its end, ``"stopped"`` when a
            stop request or the trainer's own early stopping ended it, ``"failed"``
            when training raised an exception.
        metrics: Cleaned final metrics, in the same form as in ``epoch_end``: the
            metrics that the caller passed to ``run_end``, or the last epoch's
            metrics when it passed none. Empty when no epoch finished.
    """


# --- stop request ----------------------------------------------------------------


@hookspec
def tune_bridge_should_stop(run: RunInfo, epoch: int, metrics: dict[str, float]) -> bool | None:
    """Ask the trainer to stop after the current epoch.

    Called right after ``epoch_end`` of every epoch, on the same ranks. The Bridge calls
    every backend and returns ``True`` to the trainer when at least one backend returns
    ``True`` (numpy's ``True_`` counts too). ``None`` and ``False`` both mean "go on",
    and any other value is ignored with a warning. A stop request cannot be taken back:
    later epochs, if the trainer runs any, keep reporting ``True``.

    Args:
        run: The current run.
        epoch: The 1-based epoch that just finished.
        metrics: The same cleaned metrics that ``epoch_end`` received.

    Returns:
        ``True`` to request a stop.
    """
