"""Summary statistics shared by the figures: min/median/max, paired ratios, a line fit."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Return ``min``, ``median``, ``max`` and ``n`` of a non-empty sample."""
    if not values:
        raise ValueError("cannot summarize an empty sample")
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "n": len(values),
    }


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Divide each measurement by the one taken next to it in the same repetition."""
    if len(numerators) != len(denominators):
        raise ValueError(
            f"paired samples differ in length: {len(numerators)} and {len(denominators)}"
        )
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Fit ``y = slope * x + intercept`` by least squares and return the fit with its R²."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a line fit needs at least two (x, y) pairs of equal count")
    mean_x = statistics.fmean(xs)
    mean_y = statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    r_squared = 1.0 - residual / total if total > 0 else 1.0
    return {"slope": slope, "intercept": intercept, "r_squared": r_squared}


def abba_order(pairs: int) -> list[str]:
    """Return the run order ``A B B A A B B A ...`` for ``pairs`` A/B pairs.

    Alternating which variant goes first cancels a slow drift of the machine's load
    between the two variants.
    """
    order: list[str] = []
    for index in range(pairs):
        order += ["A", "B"] if index % 2 == 0 else ["B", "A"]
    return order
