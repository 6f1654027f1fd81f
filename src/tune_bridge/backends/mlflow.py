"""MLflow tracking backend (being written)."""

from __future__ import annotations


class MlflowBackend:
    name = "mlflow"
    default_enabled = False
    requires: tuple[str, ...] = ("mlflow",)
