"""The pluggy markers of the ``tune_bridge`` project."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "tune_bridge"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function in :mod:`tune_bridge.hookspecs` as a hook specification."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a backend method as the implementation of a tune_bridge hook."""
