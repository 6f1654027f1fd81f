"""Optuna pruning backend (being written)."""

from __future__ import annotations


class OptunaBackend:
    name = "optuna"
    default_enabled = False
    requires: tuple[str, ...] = ("optuna",)
