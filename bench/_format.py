"""Markdown helpers for the results page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_SCALES = {"s": 1.0, "ms": 1e3, "µs": 1e6}


def duration(seconds: float, unit: str, digits: int = 2) -> str:
    """Format a duration in ``unit`` (``s``, ``ms`` or ``µs``)."""
    return f"{seconds * _SCALES[unit]:.{digits}f} {unit}"


def spread(summary: dict[str, Any], unit: str | None = None, digits: int = 2) -> str:
    """Format a summary as ``min / median / max``, as durations when ``unit`` is given."""
    values = (summary["min"], summary["median"], summary["max"])
    if unit is None:
        return " / ".join(f"{value:.{digits}f}" for value in values)
    scale = _SCALES[unit]
    return " / ".join(f"{value * scale:.{digits}f}" for value in values) + f" {unit}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Return the lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def verdict(met: bool) -> str:
    """Return the word that the page uses for a target."""
    return "met" if met else "**not met**"


def target(figure: str, wanted: str, measured: str, met: bool) -> dict[str, Any]:
    """Describe one target for the summary table."""
    return {"figure": figure, "target": wanted, "measured": measured, "met": met}
