"""Ultralytics YOLO adapter: turn a YOLO model's training callbacks into Bridge calls.

:func:`attach` registers callbacks on a ``ultralytics.YOLO`` model:

=========================== ================================================
Ultralytics event           Bridge call
=========================== ================================================
``on_pretrain_routine_start`` ``run_start`` (config from the trainer's args,
                            run_dir from its save_dir)
``on_model_save``           ``checkpoint_saved`` with the path of last.pt
``on_fit_epoch_end``        ``epoch_end`` with ``epoch = trainer.epoch + 1``
                            and the results.csv row; a stop request sets
                            ``trainer.stop``
``on_train_end``            ``run_end`` with ``"completed"`` or ``"stopped"``
``teardown`` without a      ``run_end`` with ``"failed"``
preceding ``on_train_end``
=========================== ================================================

After the last epoch Ultralytics validates best.pt and fires ``on_fit_epoch_end`` once
more, with ``trainer.epoch`` advanced past the last epoch (Ultralytics 8.4). That call
is not an epoch: the adapter recognises it because no ``on_train_epoch_end`` came
before it, and sends its metrics with the run end, each key prefixed with
``final/`` (for example ``final/metrics/accuracy_top1``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tune_bridge.bridge import Bridge

logger = logging.getLogger("tune_bridge.adapters.ultralytics")

FINAL_PREFIX = "final/"
"""Prefix of the run-end metrics that come from the final evaluation of best.pt."""

_RAYTUNE_CALLBACK_MODULE = "ultralytics.utils.callbacks.raytune"
_ATTACHED = "_tune_bridge_adapter"


def _rank() -> int:
    try:
        from ultralytics.utils import RANK
    except ImportError:  # an Ultralytics release without the constant: not distributed
        return -1
    return int(RANK)


def epoch_metrics(trainer: Any) -> dict[str, Any]:
    """Return the metrics of the epoch that just finished, as in Ultralytics' results.csv.

    That row contains the train losses (``train/...``), the validation metrics
    (``metrics/...`` and ``val/...``), the learning rates (``lr/pg0`` ...) and the
    seconds since training started (``time``). ``time`` is measured when the epoch is
    reported, after the checkpoint is saved, so it is a little larger than the
    ``time`` column of results.csv. ``fitness`` is added when the
    validation metrics lack it. The trainer's own dicts are not changed.
    """
    metrics: dict[str, Any] = {}
    if getattr(trainer, "tloss", None) is not None:
        metrics.update(trainer.label_loss_items(trainer.tloss, prefix="train"))
    metrics.update(getattr(trainer, "metrics", None) or {})
    metrics.update(getattr(trainer, "lr", None) or {})
    start = getattr(trainer, "train_time_start", None)
    if isinstance(start, (int, float)):
        metrics["time"] = time.time() - start
    fitness = getattr(trainer, "fitness", None)
    if "fitness" not in metrics and fitness is not None:
        metrics["fitness"] = fitness
    return metrics


def _trainer_config(trainer: Any) -> dict[str, Any]:
    args = getattr(trainer, "args", None)
    if args is None:
        return {}
    try:
        return dict(vars(args))
    except TypeError:
        return {}


def _devices_requested(device: Any) -> int:
    if device is None:
        return 0
    if isinstance(device, (list, tuple)):
        return len(device)
    text = str(device).strip()
    if not text or text.lower() in {"cpu", "mps"}:
        return 0
    return len([part for part in text.split(",") if part.strip()])


def _warn_if_ddp_in_ray(model: Any, device: Any) -> None:
    from tune_bridge.backends._ray_session import probe_session

    if probe_session() is None:
        return
    # Ultralytics 8.4 starts DDP only for a device list with several entries, such as
    # "0,1" or [0, 1]; the default device picks one GPU.
    requested = _devices_requested(
        device if device is not None else getattr(model, "overrides", {}).get("device")
    )
    if requested > 1:
        logger.warning(
            "This Ray trial trains with several GPUs. Ultralytics then trains in DDP child "
            "processes that torch.distributed.run starts outside Ray, where no Tune session "
            "exists, so no epoch would reach Ray Tune. Give each trial one GPU (resources "
            "{'gpu': 1} and device=0), or use Ray Train's TorchTrainer for data-parallel "
            "training."
        )


class UltralyticsAdapter:
    """Callbacks that forward one YOLO model's training events to a Bridge.

    Create it with :func:`attach`. One adapter serves every ``model.train()`` call on
    its model; each call is one run.
    """

    def __init__(
        self, bridge: Bridge, run_name: str | None = None, keep_ultralytics_raytune: bool = False
    ) -> None:
        self.bridge = bridge
        self.run_name = run_name
        self.keep_ultralytics_raytune = keep_ultralytics_raytune
        self.final_metrics: dict[str, Any] = {}
        self._in_epoch = False
        self._saved_epoch: int | None = None
        self._stopped_by_request = False

    def callbacks(self) -> dict[str, Any]:
        """Return the Ultralytics event names and the callbacks to register for them."""
        return {
            "on_pretrain_routine_start": self.on_pretrain_routine_start,
            "on_train_epoch_end": self.on_train_epoch_end,
            "on_model_save": self.on_model_save,
            "on_fit_epoch_end": self.on_fit_epoch_end,
            "on_train_end": self.on_train_end,
            "teardown": self.on_teardown,
        }

    # --- Ultralytics callbacks ----------------------------------------------------

    def on_pretrain_routine_start(self, trainer: Any) -> None:
        if _rank() not in (-1, 0):
            return
        if not self.keep_ultralytics_raytune:
            self._remove_ultralytics_raytune(trainer)
        if self.bridge.run is not None:  # a previous train() call that never ended
            self.bridge.run_end("failed")
        self.final_metrics = {}
        self._in_epoch = False
        self._saved_epoch = None
        self._stopped_by_request = False

        save_dir = getattr(trainer, "save_dir", None)
        name = self.run_name or (Path(save_dir).name if save_dir is not None else None)
        self.bridge.run_start(
            name=name, config=_trainer_config(trainer), run_dir=save_dir, framework="ultralytics"
        )

    def on_train_epoch_end(self, trainer: Any) -> None:
        self._in_epoch = True

    def on_model_save(self, trainer: Any) -> None:
        if _rank() not in (-1, 0) or self.bridge.run is None:
            return
        last = getattr(trainer, "last", None)
        if last is None or not Path(last).exists():
            return
        epoch = int(trainer.epoch) + 1
        self._saved_epoch = epoch
        self.bridge.checkpoint_saved(epoch=epoch, path=last)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if _rank() not in (-1, 0) or self.bridge.run is None:
            return
        if not self._in_epoch:
            # The final evaluation of best.pt: not an epoch.
            self.final_metrics = {
                FINAL_PREFIX + key: value
                for key, value in (getattr(trainer, "metrics", None) or {}).items()
            }
            return
        self._in_epoch = False

        epoch = int(trainer.epoch) + 1
        checkpoint = getattr(trainer, "last", None) if self._saved_epoch == epoch else None
        stop = self.bridge.epoch_end(
            epoch=epoch, metrics=epoch_metrics(trainer), checkpoint=checkpoint
        )
        if stop and not trainer.stop:
            self._stopped_by_request = True
            trainer.stop = True
            logger.info(
                "Training of run %r stops after epoch %d at a backend's request",
                self.bridge.run.name if self.bridge.run else "?",
                epoch,
            )

    def on_train_end(self, trainer: Any) -> None:
        if _rank() not in (-1, 0) or self.bridge.run is None:
            return
        epochs = int(getattr(trainer, "epochs", 0) or 0)
        ended_early = self.bridge.last_epoch < epochs
        status = "stopped" if self._stopped_by_request or ended_early else "completed"
        # Explicit run_end metrics replace the last epoch's, so both are merged here.
        metrics = {**self.bridge.last_metrics, **self.final_metrics}
        self.bridge.run_end(status=status, metrics=metrics)

    def on_teardown(self, trainer: Any) -> None:
        # Ultralytics runs teardown in a finally block: a run that is still active
        # here ended by an exception. Ray ends a trial that its scheduler stopped with
        # SystemExit(0) from its report, which is a stop, not a failure.
        if _rank() not in (-1, 0) or self.bridge.run is None:
            return
        if self.bridge.exit_requested_by is None:
            self.bridge.run_end(status="failed")
            return
        epochs = int(getattr(trainer, "epochs", 0) or 0)
        status = "completed" if self.bridge.last_epoch >= epochs else "stopped"
        self.bridge.run_end(status=status)

    # --- helpers ----------------------------------------------------------------------

    @staticmethod
    def _remove_ultralytics_raytune(trainer: Any) -> None:
        callbacks = getattr(trainer, "callbacks", None)
        if not isinstance(callbacks, dict):
            return
        removed = 0
        for functions in callbacks.values():
            kept = [
                f for f in functions if getattr(f, "__module__", None) != _RAYTUNE_CALLBACK_MODULE
            ]
            removed += len(functions) - len(kept)
            functions[:] = kept
        if removed:
            logger.debug("Removed %d Ultralytics Ray Tune callback(s) from the trainer", removed)


def attach(
    model: Any,
    bridge: Bridge | None = None,
    *,
    run_name: str | None = None,
    device: Any = None,
    keep_ultralytics_raytune: bool = False,
    **bridge_options: Any,
) -> Bridge:
    """Report a YOLO model's training through a Bridge.

    Args:
        model: An ``ultralytics.YOLO`` model (anything with ``add_callback``).
        bridge: The Bridge to call; ``None`` creates ``Bridge(**bridge_options)``,
            which enables the default backends.
        run_name: Run name; default: the name of the trainer's save_dir.
        device: The ``device`` that will be passed to ``model.train``, used only to
            warn when a Ray trial would train with DDP child processes that cannot
            report.
        keep_ultralytics_raytune: Keep Ultralytics' own Ray Tune callback. By
            default it is removed from this model's trainer, so that no epoch is
            reported twice; Ultralytics' other integrations stay.
        **bridge_options: Passed to :class:`~tune_bridge.Bridge` when ``bridge`` is
            ``None``, for example ``backends=["jsonl"]``.

    Returns:
        The Bridge that receives the events.

    Raises:
        TypeError: ``model`` has no ``add_callback`` method, or both ``bridge`` and
            ``bridge_options`` are given.
    """
    if isinstance(model, type) or not callable(getattr(model, "add_callback", None)):
        shown = model.__name__ if isinstance(model, type) else type(model).__name__
        raise TypeError(
            f"attach() expects an ultralytics YOLO model instance, such as "
            f"YOLO('yolov8n.yaml'), got {shown}"
        )
    if bridge is not None and not isinstance(bridge, Bridge):
        raise TypeError(
            f"bridge must be a tune_bridge.Bridge, got {type(bridge).__name__}; to choose "
            "backends by name, pass backends=[...] instead"
        )
    if bridge is not None and bridge_options:
        raise TypeError(
            "pass either a bridge or Bridge options, not both: "
            f"got bridge and {sorted(bridge_options)}"
        )
    if getattr(model, _ATTACHED, None) is not None:
        raise RuntimeError("a tune_bridge adapter is already attached to this model")

    bridge = bridge if bridge is not None else Bridge(**bridge_options)
    adapter = UltralyticsAdapter(
        bridge, run_name=run_name, keep_ultralytics_raytune=keep_ultralytics_raytune
    )
    for event, callback in adapter.callbacks().items():
        model.add_callback(event, callback)
    setattr(model, _ATTACHED, adapter)
    _warn_if_ddp_in_ray(model, device)
    return bridge


def make_tune_trainable(
    model: str,
    data: str | Path,
    *,
    backends: Any = None,
    project: str | Path | None = None,
    **train_args: Any,
) -> Any:
    """Build a Ray Tune function trainable that trains one YOLO model per trial.

    Each trial builds ``YOLO(model)``, attaches a Bridge and calls
    ``model.train(data=data, **train_args, **config)``, so the trial's config
    overrides the fixed training arguments. A trial that Tune restarts after a
    failure resumes from the last.pt of its last reported checkpoint
    (``YOLO(last.pt).train(resume=True)``), continuing at the next epoch.

    Args:
        model: Model file that Ultralytics accepts, such as ``"yolov8n-cls.yaml"``.
        data: Data set folder or YAML file.
        backends: Backends of each trial's Bridge; ``None`` enables the defaults
            (``jsonl`` and ``ray``).
        project: Folder for Ultralytics' outputs, one subfolder per trial named
            after the trial folder; default: ``yolo/train`` in the trial's working
            folder (Ray makes the trial folder the working folder).
        **train_args: Fixed arguments of ``model.train``, such as ``epochs`` and
            ``imgsz``. Set ``optimizer`` explicitly when the config tunes ``lr0`` or
            ``momentum``: Ultralytics' ``optimizer="auto"`` replaces both.

    Returns:
        A function ``trainable(config)`` for ``ray.tune.Tuner``.
    """
    if str(train_args.get("optimizer", "auto")).lower() == "auto":
        logger.warning(
            "optimizer is 'auto': Ultralytics then picks lr0 and momentum itself, so "
            "tuning them has no effect. Pass optimizer='AdamW' or 'SGD'."
        )
    fixed_args = dict(train_args)

    def trainable(config: dict[str, Any]) -> None:
        from ultralytics import YOLO

        from tune_bridge.backends.ray import restored_checkpoint

        restored = restored_checkpoint()
        if restored is not None and restored.path.is_file():
            logger.info("Resuming the trial from %s (epoch %s)", restored.path, restored.epoch)
            yolo = YOLO(str(restored.path))
            attach(yolo, backends=backends)
            yolo.train(resume=True)
            return

        yolo = YOLO(model)
        attach(yolo, backends=backends)
        # Ray makes the trial folder the working folder, so its name identifies the trial.
        if project is None:
            output, name = Path.cwd() / "yolo", "train"
        else:
            output, name = Path(project), Path.cwd().name
        arguments = {
            "project": str(output.resolve()),
            "name": name,
            "exist_ok": True,
            **fixed_args,
            **config,
        }
        yolo.train(data=str(data), **arguments)

    return trainable
