"""The local JSONL backend: one JSON object per event, appended to a file.

Each line contains ``event``, ``run``, ``epoch``, ``time`` (Unix time in seconds) and
``metrics``; ``run_start`` adds ``config``, ``framework`` and ``run_dir``,
``checkpoint_saved`` adds ``path`` and ``run_end`` adds ``status``. Every line is
flushed as soon as it is written, so a crash loses no completed line.
``pandas.read_json(path, lines=True)`` reads the file. NaN and infinities, which
the Bridge passes on only under ``nonfinite="keep"``, are written as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` so that every line stays valid JSON.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import IO, Any

from tune_bridge._markers import hookimpl
from tune_bridge.run import RunInfo

logger = logging.getLogger("tune_bridge.backends.jsonl")

DEFAULT_FILE_NAME = "tune_bridge.jsonl"


def _json_number(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _json_metrics(metrics: dict[str, float]) -> dict[str, float | str]:
    return {
        key: _json_number(value) if type(value) is float else value
        for key, value in metrics.items()
    }


class JsonlBackend:
    """Append every event of a run to a JSON Lines file.

    Args:
        path: File to append to. ``None`` writes ``tune_bridge.jsonl`` in the run's
            ``run_dir``, or in the current directory when the run has none.
    """

    name = "jsonl"
    default_enabled = True
    requires: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self._file: IO[str] | None = None
        self._open_path: Path | None = None
        self._last_epoch: int | None = None

    @property
    def current_path(self) -> Path | None:
        """The file that the current run writes to, or ``None`` outside a run."""
        return self._open_path

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError("the JSONL file is not open: run_start failed or was not called")
        line = json.dumps(record, default=str, allow_nan=False)
        self._file.write(line + "\n")
        self._file.flush()

    @hookimpl
    def tune_bridge_run_start(self, run: RunInfo) -> None:
        self._close()
        if self.path is not None:
            path = self.path
        elif run.run_dir is not None:
            path = run.run_dir / DEFAULT_FILE_NAME
        else:
            path = Path.cwd() / DEFAULT_FILE_NAME
            logger.info("Run %r has no run_dir; writing events to %s", run.name, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Line buffering plus an explicit flush: each completed line reaches the OS.
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._open_path = path
        self._last_epoch = None
        self._write(
            {
                "event": "run_start",
                "run": run.name,
                "epoch": None,
                "time": time.time(),
                "metrics": {},
                "config": _json_config(run.config),
                "framework": run.framework,
                "run_dir": str(run.run_dir) if run.run_dir is not None else None,
            }
        )

    @hookimpl
    def tune_bridge_epoch_end(
        self, run: RunInfo, epoch: int, metrics: dict[str, float], checkpoint: Path | None
    ) -> None:
        self._last_epoch = epoch
        self._write(
            {
                "event": "epoch_end",
                "run": run.name,
                "epoch": epoch,
                "time": time.time(),
                "metrics": _json_metrics(metrics),
                "checkpoint": str(checkpoint) if checkpoint is not None else None,
            }
        )

    @hookimpl
    def tune_bridge_checkpoint_saved(self, run: RunInfo, epoch: int, path: Path) -> None:
        self._write(
            {
                "event": "checkpoint_saved",
                "run": run.name,
                "epoch": epoch,
                "time": time.time(),
                "metrics": {},
                "path": str(path),
            }
        )

    @hookimpl
    def tune_bridge_run_end(self, run: RunInfo, status: str, metrics: dict[str, float]) -> None:
        try:
            self._write(
                {
                    "event": "run_end",
                    "run": run.name,
                    "epoch": self._last_epoch,
                    "time": time.time(),
                    "metrics": _json_metrics(metrics),
                    "status": status,
                }
            )
        finally:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._open_path = None


def _json_config(config: dict[str, Any]) -> Any:
    # Configs can hold paths, enums or tuner search objects; json.dumps(default=str)
    # writes those as strings. Non-finite floats become strings like in metrics.
    def convert(value: Any) -> Any:
        if type(value) is float:
            return _json_number(value)
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return convert(config)
