"""The Ray Tune backend: report each epoch to Ray Tune or Ray Train, only inside a session.

Outside a Tune trial or a Train worker the backend does nothing: no exception, no
warning, one DEBUG log line per run. When Ray is not installed it does nothing as
well, and ``tune-bridge backends`` lists its dependency as missing.

Inside a session, every ``epoch_end`` becomes one report whose metrics are the
cleaned metrics plus ``epoch``. A metric whose key Tune fills itself (such as
``training_iteration`` or ``time_total_s``) is renamed to ``user/<key>`` with a
one-time warning. A checkpoint given to ``epoch_end`` travels in the same report.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tune_bridge._markers import hookimpl
from tune_bridge.backends._ray_session import RayApi, RaySession, probe_session, resolve_api
from tune_bridge.run import RunInfo

logger = logging.getLogger("tune_bridge.backends.ray")

RENAMED_PREFIX = "user/"
"""Prefix of metric keys that would collide with a result key that Tune fills."""

MANIFEST_NAME = "tune_bridge_checkpoint.json"

# Result keys that Tune sets itself; ray.tune.result.AUTO_RESULT_KEYS of the
# installed Ray is added at run time.
_TUNE_RESULT_KEYS = frozenset(
    {
        "training_iteration",
        "done",
        "time_total_s",
        "time_this_iter_s",
        "time_since_restore",
        "timesteps_total",
        "timesteps_since_restore",
        "episodes_total",
        "iterations_since_restore",
        "trial_id",
        "experiment_tag",
        "config",
        "timestamp",
        "date",
        "pid",
        "hostname",
        "node_ip",
        "checkpoint_dir_name",
        "should_checkpoint",
        "__duplicate__",
        "__trial_info__",
    }
)


def _reserved_result_keys() -> frozenset[str]:
    try:
        from ray.tune import result
    except ImportError:
        return _TUNE_RESULT_KEYS
    auto_keys = getattr(result, "AUTO_RESULT_KEYS", ())
    extra = {
        getattr(result, name, None)
        for name in ("DONE", "TRIAL_ID", "EXPERIMENT_TAG", "SHOULD_CHECKPOINT", "RESULT_DUPLICATE")
    }
    return _TUNE_RESULT_KEYS | {key for key in (*auto_keys, *extra) if isinstance(key, str)}


class RayBackend:
    """Report epochs to Ray Tune (in a trial) or Ray Train (in a worker).

    Args:
        checkpoint_every: Report the checkpoint of every N-th epoch (epochs whose
            number is a multiple of N); epochs in between report metrics only. The
            default, 1, reports every checkpoint that ``epoch_end`` carries.
    """

    name = "ray"
    default_enabled = True
    requires: tuple[str, ...] = ("ray",)

    def __init__(self, checkpoint_every: int = 1) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
            raise TypeError(f"checkpoint_every must be an int, got {checkpoint_every!r}")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be 1 or greater, got {checkpoint_every}")
        self.checkpoint_every = checkpoint_every
        self.session: RaySession | None = None
        self._api: RayApi | None = None
        self._reserved: frozenset[str] = _TUNE_RESULT_KEYS
        self._renamed_warned: set[str] = set()
        self.reports = 0

    @property
    def active(self) -> bool:
        """Whether the current run reports to Ray."""
        return self._api is not None

    @hookimpl
    def tune_bridge_run_start(self, run: RunInfo) -> None:
        self._api = None
        self._renamed_warned.clear()
        self.reports = 0
        self.session = probe_session()
        if self.session is None:
            logger.debug(
                "Run %r is not in a Ray Tune trial or Ray Train worker; the ray backend stays idle",
                run.name,
            )
            return
        self._api = resolve_api(self.session)
        if self._api is None:
            return
        self._reserved = _reserved_result_keys()
        logger.debug(
            "Run %r reports to Ray through %s (session %s, rank %s)",
            run.name,
            self._api.name,
            self.session.source,
            self.session.world_rank,
        )

    @hookimpl
    def tune_bridge_epoch_end(
        self, run: RunInfo, epoch: int, metrics: dict[str, float], checkpoint: Path | None
    ) -> None:
        api = self._api
        if api is None:
            return
        result = self._build_result(epoch, metrics)

        if checkpoint is None or epoch % self.checkpoint_every != 0:
            api.report(result, checkpoint=None)
            self.reports += 1
            return
        if api.checkpoint_class is None:
            logger.warning(
                "The installed Ray has no Checkpoint class; epoch %d is reported "
                "without its checkpoint",
                epoch,
            )
            api.report(result, checkpoint=None)
            self.reports += 1
            return

        staging = _stage_checkpoint(Path(checkpoint), epoch)
        try:
            api.report(result, checkpoint=api.checkpoint_class.from_directory(str(staging)))
            self.reports += 1
        finally:
            # Ray has copied the checkpoint into the trial's storage when report returns.
            shutil.rmtree(staging, ignore_errors=True)

    def _build_result(self, epoch: int, metrics: dict[str, float]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in metrics.items():
            if key in self._reserved or (key == "epoch" and value != epoch):
                renamed = RENAMED_PREFIX + key
                if key not in self._renamed_warned:
                    self._renamed_warned.add(key)
                    logger.warning(
                        "Metric %r collides with a result key that Ray Tune sets; "
                        "it is reported as %r",
                        key,
                        renamed,
                    )
                key = renamed
            result[key] = value
        result["epoch"] = epoch
        return result


def _stage_checkpoint(source: Path, epoch: int) -> Path:
    """Make a folder for Ray that contains ``source`` without copying file contents.

    Files are hard-linked into a temporary folder; a file on another file system,
    where hard links are impossible, is copied. The folder also contains a manifest
    that names the original file or folder, so a restarted trial can find it.
    """
    if not source.exists():
        raise FileNotFoundError(f"checkpoint {source} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f"tune_bridge_epoch{epoch}_"))
    target = staging / source.name
    if source.is_dir():
        shutil.copytree(source, target, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(source), str(target))
    manifest = {"epoch": epoch, "name": source.name, "is_dir": source.is_dir()}
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return staging


def _link_or_copy(source: str, target: str) -> str:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


@dataclass(frozen=True)
class RestoredCheckpoint:
    """A checkpoint that Ray handed to a restarted trial.

    Attributes:
        path: Local path of the file or folder that the run passed to ``epoch_end``.
        epoch: The 1-based epoch whose state it holds, or ``None`` when the
            checkpoint was not written by tune_bridge.
        directory: The local folder of the whole Ray checkpoint.
    """

    path: Path
    epoch: int | None
    directory: Path


def restored_checkpoint(target_dir: str | None = None) -> RestoredCheckpoint | None:
    """Return the checkpoint to resume from inside a restarted Ray trial, or ``None``.

    Returns ``None`` outside a session and in a trial that starts fresh. A checkpoint
    on local storage is used where it is; one on remote storage is downloaded into
    ``target_dir`` (default: a new temporary folder).
    """
    session = probe_session()
    if session is None:
        return None
    api = resolve_api(session)
    if api is None or api.get_checkpoint is None:
        return None
    checkpoint = api.get_checkpoint()
    if checkpoint is None:
        return None

    directory = _local_directory(checkpoint, target_dir)
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        return RestoredCheckpoint(path=directory, epoch=None, directory=directory)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return RestoredCheckpoint(
        path=directory / manifest["name"], epoch=int(manifest["epoch"]), directory=directory
    )


def restored_checkpoint_path(target_dir: str | None = None) -> Path | None:
    """Return the local path of the restored checkpoint file or folder, or ``None``."""
    restored = restored_checkpoint(target_dir)
    return restored.path if restored is not None else None


def _local_directory(checkpoint: Any, target_dir: str | None) -> Path:
    filesystem = getattr(checkpoint, "filesystem", None)
    path = getattr(checkpoint, "path", None)
    is_local = getattr(filesystem, "type_name", "local") == "local"
    if path is not None and is_local and Path(path).is_dir():
        return Path(path)
    target = target_dir or tempfile.mkdtemp(prefix="tune_bridge_restored_")
    return Path(checkpoint.to_directory(target))
