"""The MLflow backend: log each run as MLflow params, metrics by epoch, checkpoints and a status.

At run start the backend joins the active MLflow run (``mlflow.active_run()``) or
creates a new one. A new run goes to the backend's ``tracking_uri`` when it has one,
otherwise to the URI that MLflow is configured with (``MLFLOW_TRACKING_URI`` or
``mlflow.set_tracking_uri``). Without either, it goes to a SQLite store
``<run_dir>/mlflow.db`` with artifacts under ``<run_dir>/mlartifacts``, which needs
no server. SQLite is the
local default because MLflow 3.17 refuses the ``./mlruns`` file store unless
``MLFLOW_ALLOW_FILE_STORE=true`` is set.

The run receives:

* the run config as params, nested dicts flattened with ``/`` and every value
  converted with ``str()`` and cut to MLflow's length limit (6,000 characters in
  MLflow 3.17);
* each epoch's metrics with ``step`` = the 1-based epoch, and the run-end metrics
  that differ from the last epoch's at the step of the last epoch;
* the checkpoint files as artifacts under ``checkpoints/`` when
  ``log_checkpoints=True``;
* the tags ``tune_bridge.framework``, ``tune_bridge.status`` and the key maps below.

A run that the backend created ends with status FINISHED (run end ``completed``),
KILLED (``stopped``) or FAILED (``failed``, which the Bridge sends when training
raises). A joined run is left running; only its ``tune_bridge.status`` tag is set.

Key mapping: MLflow accepts metric and param names made of word characters, ``/``,
``.``, ``-``, space and, except on Windows, ``:``. :func:`mlflow_key` replaces every
other character, ``:`` included so that the names are the same on every platform,
with ``_`` (``metrics/mAP50-95(B)`` becomes ``metrics/mAP50-95_B_``). When two keys
of a run map to the same name, the later one gets the suffix ``_2``, ``_3``, and so on.
Every renamed key is listed in the tag ``tune_bridge.metric_key_map`` or
``tune_bridge.param_key_map``, a JSON object from the MLflow name to the original;
:func:`read_key_map` reads it back.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_bridge import __version__
from tune_bridge._markers import hookimpl
from tune_bridge._rank import process_rank
from tune_bridge.backends._mlflow_keys import (
    METRIC_KEY_MAP_TAG,
    PARAM_KEY_MAP_TAG,
    _KeyMapper,
    _limit,
    _split_key_map,
    mlflow_key,
    read_key_map,
)
from tune_bridge.run import RunInfo

__all__ = [
    "CHECKPOINT_EPOCH_TAG",
    "METRIC_KEY_MAP_TAG",
    "MLFLOW_STATUS",
    "PARAM_KEY_MAP_TAG",
    "STATUS_TAG",
    "MlflowBackend",
    "mlflow_key",
    "read_key_map",
]

logger = logging.getLogger("tune_bridge.backends.mlflow")

MLFLOW_STATUS = {"completed": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}
"""MLflow run status for each tune_bridge run-end status."""

STATUS_TAG = "tune_bridge.status"
CHECKPOINT_EPOCH_TAG = "tune_bridge.checkpoint_epoch"
CHECKPOINT_ARTIFACT_PATH = "checkpoints"
DEFAULT_EXPERIMENT_NAME = "tune_bridge"
LOCAL_DATABASE_NAME = "mlflow.db"
LOCAL_ARTIFACTS_NAME = "mlartifacts"


@dataclass
class _ActiveRun:
    """The MLflow run that the current tune_bridge run logs to."""

    client: Any
    run_id: str
    started: bool  # created by the backend, which therefore ends it
    entities: Any  # the mlflow.entities module
    metric_keys: _KeyMapper = field(default_factory=_KeyMapper)
    param_keys: _KeyMapper = field(default_factory=_KeyMapper)
    written_key_maps: dict[str, dict[str, str]] = field(default_factory=dict)


class MlflowBackend:
    """Log every run to MLflow: config as params, epoch metrics by step, and a final status.

    Args:
        tracking_uri: Store for new runs, such as ``"sqlite:///runs/mlflow.db"``.
            ``None`` uses MLflow's configured URI when one is set, otherwise a SQLite
            store in the run's ``run_dir`` (the current folder when it has none).
        experiment_name: Experiment of new runs, created when missing. ``None`` uses
            ``MLFLOW_EXPERIMENT_NAME``, then ``MLFLOW_EXPERIMENT_ID`` (except in the
            default store in the run folder), then ``"tune_bridge"``.
        log_checkpoints: Upload each checkpoint file or folder that the trainer
            announces to the artifact folder ``checkpoints/``. A file replaces the
            earlier upload of the same name, so ``last.pt`` contains the newest state.
        nested: When an MLflow run is active, create a child run of it instead of
            logging into it.

    Raises:
        TypeError: An argument has the wrong type.
    """

    name = "mlflow"
    default_enabled = False
    requires: tuple[str, ...] = ("mlflow",)

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        *,
        log_checkpoints: bool = False,
        nested: bool = False,
    ) -> None:
        for argument, value in (
            ("tracking_uri", tracking_uri),
            ("experiment_name", experiment_name),
        ):
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{argument} must be a non-empty str or None, got {value!r}")
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.log_checkpoints = bool(log_checkpoints)
        self.nested = bool(nested)
        self.run_id: str | None = None
        self._run: _ActiveRun | None = None
        self._last_epoch = 0
        self._last_metrics: dict[str, float] = {}
        self._uploaded: set[tuple[int, str]] = set()
        self._warned: set[str] = set()

    @property
    def active(self) -> bool:
        """Whether the current run logs to MLflow."""
        return self._run is not None

    # --- hooks ------------------------------------------------------------------------

    @hookimpl
    def tune_bridge_run_start(self, run: RunInfo) -> None:
        self._run = None
        self._last_epoch = 0
        self._last_metrics = {}
        self._uploaded.clear()
        self._warned.clear()

        rank = process_rank()
        if rank != 0:
            logger.debug("Run %r is on rank %d; only rank 0 logs to MLflow", run.name, rank)
            return

        active = self._open_run(run)
        self._run = active
        self.run_id = active.run_id
        self._log_params(run, active)
        self._write_key_maps(active)

    @hookimpl
    def tune_bridge_epoch_end(
        self, epoch: int, metrics: dict[str, float], checkpoint: Path | None
    ) -> None:
        active = self._run
        if active is None:
            return
        self._log_metrics(active, metrics, epoch)
        self._last_epoch = epoch
        self._last_metrics = dict(metrics)
        if checkpoint is not None:
            self._upload_checkpoint(active, epoch, checkpoint)

    @hookimpl
    def tune_bridge_checkpoint_saved(self, epoch: int, path: Path) -> None:
        active = self._run
        if active is not None:
            self._upload_checkpoint(active, epoch, path)

    @hookimpl
    def tune_bridge_run_end(self, run: RunInfo, status: str, metrics: dict[str, float]) -> None:
        active = self._run
        if active is None:
            return
        self._run = None
        try:
            final = {
                key: value
                for key, value in metrics.items()
                if key not in self._last_metrics or self._last_metrics[key] != value
            }
            self._log_metrics(active, final, self._last_epoch)
            _log_batch(active, tags=[active.entities.RunTag(STATUS_TAG, status)])
        finally:
            # The run ends even when logging failed, so that it never stays RUNNING.
            if active.started:
                active.client.set_terminated(active.run_id, status=MLFLOW_STATUS[status])
        logger.debug("Run %r ended MLflow run %s as %s", run.name, active.run_id, status)

    # --- run set-up -------------------------------------------------------------------

    def _open_run(self, run: RunInfo) -> _ActiveRun:
        import mlflow
        import mlflow.entities
        from mlflow.tracking import MlflowClient

        tags = {
            "tune_bridge.framework": run.framework,
            "tune_bridge.version": __version__,
        }
        if run.run_dir is not None:
            tags["tune_bridge.run_dir"] = str(run.run_dir)

        parent = mlflow.active_run()
        if parent is not None and not self.nested:
            client = MlflowClient()
            active = _ActiveRun(client, parent.info.run_id, False, mlflow.entities)
            _reserve_existing_keys(active)
            _log_batch(active, tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])
            logger.info("Run %r logs to the active MLflow run %s", run.name, active.run_id)
            return active

        if parent is not None:
            client = MlflowClient()
            experiment_id = parent.info.experiment_id
            tags["mlflow.parentRunId"] = parent.info.run_id
        else:
            tracking_uri, artifact_location = self._store(run)
            client = MlflowClient(tracking_uri=tracking_uri)
            experiment_id = self._experiment_id(client, artifact_location)
        created = client.create_run(experiment_id, run_name=run.name, tags=tags)
        logger.info(
            "Run %r logs to MLflow run %s in experiment %s of %s",
            run.name,
            created.info.run_id,
            experiment_id,
            client.tracking_uri,
        )
        return _ActiveRun(client, created.info.run_id, True, mlflow.entities)

    def _store(self, run: RunInfo) -> tuple[str, str | None]:
        """Return the tracking URI for a new run, and the artifact folder of a local store."""
        if self.tracking_uri is not None:
            return self.tracking_uri, None
        configured = _configured_tracking_uri()
        if configured is not None:
            return configured, None

        folder = (run.run_dir if run.run_dir is not None else Path.cwd()).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / LOCAL_DATABASE_NAME
        return f"sqlite:///{database.as_posix()}", (folder / LOCAL_ARTIFACTS_NAME).as_uri()

    def _experiment_id(self, client: Any, artifact_location: str | None) -> str:
        """Return the id of the experiment for a new run, creating the experiment if needed.

        ``artifact_location`` is set only for the default store in the run folder,
        whose database contains no experiment that ``MLFLOW_EXPERIMENT_ID`` could name.
        """
        from mlflow.exceptions import MlflowException

        name = self.experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name is None:
            experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
            if experiment_id and artifact_location is None:
                return experiment_id
            name = DEFAULT_EXPERIMENT_NAME

        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return str(client.create_experiment(name, artifact_location=artifact_location))
            except MlflowException:
                # Another process may have created it between the two calls.
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage != "active":
            raise ValueError(
                f"MLflow experiment {name!r} is deleted; restore it with 'mlflow experiments "
                "restore' or pass another experiment_name to MlflowBackend"
            )
        return str(experiment.experiment_id)

    # --- logging ----------------------------------------------------------------------

    def _log_params(self, run: RunInfo, active: _ActiveRun) -> None:
        limit = _limit("MAX_PARAM_VAL_LENGTH")
        existing: dict[str, str] = {}
        if not active.started:
            existing = dict(active.client.get_run(active.run_id).data.params)

        params = []
        cut: list[str] = []
        conflicting: list[str] = []
        for key, value in _flatten_config(run.config).items():
            name = active.param_keys.map(key)
            if len(value) > limit:
                value = value[:limit]
                cut.append(key)
            if name in existing:
                if existing[name] != value:
                    conflicting.append(key)
                continue
            params.append(active.entities.Param(name, value))
        _log_batch(active, params=params)

        if cut:
            logger.warning(
                "Config values of %s in run %r were cut to %d characters, MLflow's limit for "
                "a param value",
                ", ".join(cut),
                run.name,
                limit,
            )
        if conflicting:
            logger.warning(
                "Config values of %s in run %r were not logged: MLflow run %s already has "
                "other values for them, and MLflow params cannot change. Pass nested=True to "
                "MlflowBackend to log each run as a child run.",
                ", ".join(conflicting),
                run.name,
                active.run_id,
            )

    def _log_metrics(self, active: _ActiveRun, metrics: dict[str, float], step: int) -> None:
        if not metrics:
            return
        timestamp = int(time.time() * 1000)
        entities = [
            active.entities.Metric(active.metric_keys.map(key), float(value), timestamp, step)
            for key, value in metrics.items()
        ]
        _log_batch(active, metrics=entities)
        self._write_key_maps(active)

    def _write_key_maps(self, active: _ActiveRun) -> None:
        tags = []
        for tag, mapper in (
            (METRIC_KEY_MAP_TAG, active.metric_keys),
            (PARAM_KEY_MAP_TAG, active.param_keys),
        ):
            renamed = mapper.renamed()
            if not renamed or renamed == active.written_key_maps.get(tag):
                continue
            active.written_key_maps[tag] = renamed
            for name, value in _split_key_map(tag, renamed).items():
                tags.append(active.entities.RunTag(name, value))
        _log_batch(active, tags=tags)

    def _upload_checkpoint(self, active: _ActiveRun, epoch: int, path: Path) -> None:
        if not self.log_checkpoints:
            return
        # The Ultralytics adapter announces last.pt twice per epoch: checkpoint_saved,
        # then epoch_end with the same file.
        identity = (epoch, str(path))
        if identity in self._uploaded:
            return
        self._uploaded.add(identity)

        path = Path(path)
        if not path.exists():
            if "checkpoint" not in self._warned:
                self._warned.add("checkpoint")
                logger.warning(
                    "Checkpoint %s of epoch %d does not exist and was not uploaded to MLflow; "
                    "later missing checkpoints in this run are not logged",
                    path,
                    epoch,
                )
            return
        if path.is_dir():
            active.client.log_artifacts(
                active.run_id, str(path), f"{CHECKPOINT_ARTIFACT_PATH}/{path.name}"
            )
        else:
            active.client.log_artifact(active.run_id, str(path), CHECKPOINT_ARTIFACT_PATH)
        active.client.set_tag(active.run_id, CHECKPOINT_EPOCH_TAG, str(epoch))


# --- helpers --------------------------------------------------------------------------


def _configured_tracking_uri() -> str | None:
    import mlflow

    is_set = getattr(mlflow.tracking, "is_tracking_uri_set", None)
    if callable(is_set):
        return str(mlflow.get_tracking_uri()) if is_set() else None
    # MLflow releases without is_tracking_uri_set: only the environment can be checked.
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def _flatten_config(config: Mapping[Any, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings with ``/`` and convert values with ``str()``; the first key wins."""
    flat: dict[str, str] = {}
    for raw_key, value in config.items():
        key = f"{prefix}/{raw_key}" if prefix else str(raw_key)
        nested = _flatten_config(value, key) if isinstance(value, Mapping) else {key: str(value)}
        for flat_key, flat_value in nested.items():
            if flat_key in flat:
                logger.warning(
                    "Config key %r appears twice after flattening; kept the first", flat_key
                )
                continue
            flat[flat_key] = flat_value
    return flat


def _reserve_existing_keys(active: _ActiveRun) -> None:
    data = active.client.get_run(active.run_id).data
    active.metric_keys.reserve(read_key_map(data.tags, METRIC_KEY_MAP_TAG), list(data.metrics))
    active.param_keys.reserve(read_key_map(data.tags, PARAM_KEY_MAP_TAG), list(data.params))
    active.written_key_maps[METRIC_KEY_MAP_TAG] = active.metric_keys.renamed()
    active.written_key_maps[PARAM_KEY_MAP_TAG] = active.param_keys.renamed()


def _log_batch(
    active: _ActiveRun,
    *,
    metrics: Sequence[Any] = (),
    params: Sequence[Any] = (),
    tags: Sequence[Any] = (),
) -> None:
    """Call ``log_batch`` as often as MLflow's per-request limits require."""
    for entities, keyword, limit_name in (
        (metrics, "metrics", "MAX_METRICS_PER_BATCH"),
        (params, "params", "MAX_PARAMS_TAGS_PER_BATCH"),
        (tags, "tags", "MAX_PARAMS_TAGS_PER_BATCH"),
    ):
        size = _limit(limit_name)
        for start in range(0, len(entities), size):
            active.client.log_batch(
                active.run_id, **{keyword: list(entities[start : start + size])}
            )
