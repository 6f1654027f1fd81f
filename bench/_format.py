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


def verdict(met: bool, mixed: bool = False) -> str:
    """Return the status that the page shows for a target.

    ``mixed`` marks a ratio whose paired measurements fall on both sides of the
    target, so that the median alone decides the status.
    """
    status = "met" if met else "**not met**"
    return f"{status} (not in every pair)" if mixed else status


def target(
    figure: str, requirement: str, measured: str, met: bool, mixed: bool = False
) -> dict[str, Any]:
    """Describe one target for the summary table."""
    return {
        "figure": figure,
        "target": requirement,
        "measured": measured,
        "met": met,
        "mixed": mixed,
    }


def straddles(summary: dict[str, Any], limit: float) -> bool:
    """Return whether the smallest and largest paired ratio lie on both sides of ``limit``."""
    return bool(summary["min"] <= limit < summary["max"])
