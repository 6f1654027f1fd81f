"""The workload shared by the figures: an Ultralytics-like metrics dict and a no-op backend."""

from __future__ import annotations

from typing import Any

from tune_bridge import hookimpl

# Ten COCO class names, for per-class mAP keys such as "metrics/mAP50-95(B)/person".
_CLASS_NAMES = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
)

METRICS_MIX = (
    "25 keys: the 15 of an Ultralytics detect epoch (train and val box/cls/dfl losses, "
    "precision, recall, mAP50, mAP50-95, fitness, lr/pg0-2, time) plus a per-class "
    "mAP50-95 for 10 classes. Values: 9 Python floats, 8 numpy scalars (5 float64, "
    "3 float32) and 8 0-d float32 torch tensors (the 6 losses and 2 per-class values)."
)


def detect_epoch_metrics() -> dict[str, Any]:
    """Return the 25-key metrics dict described by :data:`METRICS_MIX`.

    Imports numpy and torch, so call it only where the figure may load them.
    """
    import numpy as np
    import torch

    metrics: dict[str, Any] = {}
    for split, base in (("train", 1.2), ("val", 1.4)):
        metrics[f"{split}/box_loss"] = torch.tensor(base)
        metrics[f"{split}/cls_loss"] = torch.tensor(base + 0.8)
        metrics[f"{split}/dfl_loss"] = torch.tensor(base - 0.1)
    metrics["metrics/precision(B)"] = np.float64(0.61)
    metrics["metrics/recall(B)"] = np.float64(0.52)
    metrics["metrics/mAP50(B)"] = np.float64(0.55)
    metrics["metrics/mAP50-95(B)"] = np.float64(0.38)
    metrics["fitness"] = np.float64(0.397)
    metrics["lr/pg0"] = 0.000991
    metrics["lr/pg1"] = 0.000991
    metrics["lr/pg2"] = 0.000991
    metrics["time"] = 123.4
    for index, name in enumerate(_CLASS_NAMES):
        value = 0.3 + index / 100
        key = f"metrics/mAP50-95(B)/{name}"
        if index < 2:
            metrics[key] = torch.tensor(value)
        elif index < 5:
            metrics[key] = np.float32(value)
        else:
            metrics[key] = value
    return metrics


def float_metrics() -> dict[str, float]:
    """Return the same 25 keys as :func:`detect_epoch_metrics` with plain float values.

    Needs neither numpy nor torch, for the Ray trials of figure 3.
    """
    keys = [
        *(f"{split}/{loss}" for split in ("train", "val") for loss in ("box_loss", "cls_loss")),
        "train/dfl_loss",
        "val/dfl_loss",
        "metrics/precision(B)",
        "metrics/recall(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        "fitness",
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
        "time",
        *(f"metrics/mAP50-95(B)/{name}" for name in _CLASS_NAMES),
    ]
    return {key: 0.25 + index / 100 for index, key in enumerate(keys)}


class NoopBackend:
    """A backend whose ``epoch_end`` does nothing and which implements no other hook.

    The explicit ``version`` keeps the Bridge from looking the version up in the
    installed distributions, which is a set-up cost, not a per-call one.
    """

    version = "bench"

    def __init__(self, index: int) -> None:
        self.name = f"noop{index}"

    @hookimpl
    def tune_bridge_epoch_end(
        self, run: Any, epoch: int, metrics: dict[str, float], checkpoint: Any
    ) -> None:
        return None
