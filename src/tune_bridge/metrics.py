"""Metric hygiene: turn a trainer's metrics into a flat dict of plain numbers.

The Bridge cleans each metrics dict once, before any backend receives it:

* the caller's dict is never changed: the result is a new dict;
* keys are kept byte for byte (``"metrics/mAP50-95(B)"`` stays as it is), and
  nested mappings are flattened with ``"/"`` between the levels;
* 0-d and one-element torch tensors, numpy scalars and one-element arrays become
  ``float`` or ``int``; ``bool`` becomes ``int``;
* ``None``, strings, sequences and arrays with more than one element are dropped;
* NaN and infinities follow the ``nonfinite`` policy.

Each dropped key is logged once per run. Torch and numpy are recognised by the
methods their objects have, so this module imports neither.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from typing import Any, Literal

logger = logging.getLogger("tune_bridge.metrics")

NonFinitePolicy = Literal["drop", "keep", "raise"]
NONFINITE_POLICIES: tuple[str, ...] = ("drop", "keep", "raise")

Metrics = dict[str, float]

# Kinds of values, decided once per type and cached.
_NUMBER = 0  # int: kept as it is
_FLOAT = 1  # float: kept unless non-finite
_BOOL = 2  # bool: becomes int
_ARRAY = 3  # has .item(): a tensor, an array or numpy.bool_
_REAL = 4  # another numbers.Real, such as numpy.float32, Decimal or Fraction
_INTEGRAL = 5  # another numbers.Integral, such as numpy.int64
_MAPPING = 6  # flattened with "/"
_UNSUPPORTED = 7  # dropped


class NonFiniteMetricError(ValueError):
    """Raised under ``nonfinite="raise"`` when a metric is NaN or infinite."""


def _kind_of(value_type: type) -> int:
    if value_type is bool:
        return _BOOL
    if value_type is int:
        return _NUMBER
    if value_type is float:
        return _FLOAT
    if issubclass(value_type, Mapping):
        return _MAPPING
    if issubclass(value_type, (str, bytes)):
        return _UNSUPPORTED
    # numpy registers its integer and floating scalars as numbers.Integral and
    # numbers.Real, and int() or float() converts them about ten times faster than
    # item() (numpy 2.4), so these checks come before the item() check.
    if issubclass(value_type, numbers.Integral):
        return _INTEGRAL
    if issubclass(value_type, numbers.Real):
        return _REAL
    # Torch tensors, numpy arrays, numpy.bool_ and jax arrays have item(); tensors count
    # their elements with numel(), numpy and jax with the size attribute.
    if callable(getattr(value_type, "item", None)) and (
        hasattr(value_type, "numel") or hasattr(value_type, "size")
    ):
        return _ARRAY
    # Decimal is a numbers.Number but not registered as numbers.Real. It is recognised
    # by name, so that importing tune_bridge does not import the decimal module.
    if any(cls.__module__ == "decimal" and cls.__name__ == "Decimal" for cls in value_type.__mro__):
        return _REAL
    return _UNSUPPORTED


def _element_count(value: Any) -> int:
    numel = getattr(value, "numel", None)
    if callable(numel):
        return int(numel())
    size = value.size
    return int(size() if callable(size) else size)


def describe_type(value: Any) -> str:
    """Return a short type name for messages, such as ``numpy.ndarray`` or ``str``."""
    value_type = type(value)
    module = value_type.__module__
    if module == "builtins":
        return value_type.__qualname__
    return f"{module.split('.')[0]}.{value_type.__qualname__}"


class MetricCleaner:
    """Clean metrics dicts for one run at a time.

    Args:
        nonfinite: What to do with NaN, ``inf`` and ``-inf``: ``"drop"`` removes the
            key and logs a warning once per key per run, ``"keep"`` passes the value
            on, ``"raise"`` raises :class:`NonFiniteMetricError`.
    """

    def __init__(self, nonfinite: NonFinitePolicy = "drop") -> None:
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(
                f"invalid nonfinite policy {nonfinite!r}: expected one of "
                f"{', '.join(repr(p) for p in NONFINITE_POLICIES)}"
            )
        self.nonfinite = nonfinite
        self._kinds: dict[type, int] = {}
        self._warned: set[tuple[str, str]] = set()

    def reset(self) -> None:
        """Forget which keys were warned about, at the start of a new run."""
        self._warned.clear()

    def clean(self, metrics: Mapping[str, Any] | None) -> Metrics:
        """Return a cleaned copy of ``metrics``; ``None`` gives an empty dict."""
        if metrics is None:
            return {}
        if not isinstance(metrics, Mapping):
            raise TypeError(
                f"metrics must be a mapping of names to numbers, got {describe_type(metrics)}"
            )
        cleaned: Metrics = {}
        self._clean_into(cleaned, metrics, "")
        return cleaned

    def _clean_into(self, cleaned: Metrics, metrics: Mapping[Any, Any], prefix: str) -> None:
        kinds = self._kinds
        for raw_key, value in metrics.items():
            key = raw_key if type(raw_key) is str else str(raw_key)
            if prefix:
                key = f"{prefix}/{key}"

            value_type = type(value)
            kind = kinds.get(value_type)
            if kind is None:
                kind = kinds[value_type] = _kind_of(value_type)

            # Plain finite floats and ints, the common case, take the shortest path.
            if kind == _FLOAT:
                if value - value == 0.0 and key not in cleaned:  # finite: inf - inf is nan
                    cleaned[key] = value
                    continue
                number: Any = value
            elif kind == _NUMBER:
                number = value
            elif kind == _BOOL:
                number = int(value)
            elif kind == _MAPPING:
                self._clean_into(cleaned, value, key)
                continue
            elif kind == _ARRAY:
                # A one-element tensor or array that gives a plain float or int takes
                # the short path; everything else goes through _array_to_number.
                try:
                    number = value.item()
                except Exception:
                    number = None
                item_type = type(number)
                if item_type is not float and item_type is not int:
                    number = self._array_to_number(key, value)
                    if number is None:
                        continue
            elif kind == _INTEGRAL:
                number = int(value)
            elif kind == _REAL:
                number = float(value)
            else:
                self._warn_once(key, "unsupported", f"{describe_type(value)} is not a number")
                continue

            if type(number) is float and not math.isfinite(number):
                if self.nonfinite == "raise":
                    raise NonFiniteMetricError(
                        f"metric {key!r} is {number}; pass nonfinite='drop' or 'keep' to the "
                        "Bridge to accept non-finite values"
                    )
                if self.nonfinite == "drop":
                    self._warn_once(key, "nonfinite", f"its value is {number}")
                    continue

            if key in cleaned:
                self._warn_once(
                    key, "duplicate", "it appears twice after flattening; kept the first"
                )
                continue
            cleaned[key] = number

    def _array_to_number(self, key: str, value: Any) -> int | float | None:
        # item() accepts exactly one element and raises otherwise (ValueError in numpy,
        # RuntimeError in torch), so the element count is read only for the message.
        # item() copies a CUDA tensor to the host; numpy scalars give Python scalars.
        try:
            number = value.item()
        except Exception:
            try:
                count = f"{_element_count(value)} elements"
            except Exception:  # an object that only looks like an array
                count = "an unknown number of elements"
            self._warn_once(key, "unsupported", f"{describe_type(value)} has {count}")
            return None

        number_type = type(number)
        if number_type is float or number_type is int:
            return number  # type: ignore[no-any-return]
        if number_type is bool:
            return int(number)
        if isinstance(number, numbers.Integral):
            return int(number)
        if isinstance(number, numbers.Real):
            return float(number)
        self._warn_once(
            key, "unsupported", f"{describe_type(value)} contains {describe_type(number)}"
        )
        return None

    def _warn_once(self, key: str, reason: str, detail: str) -> None:
        if (key, reason) in self._warned:
            return
        self._warned.add((key, reason))
        logger.warning(
            "Dropped metric %r: %s. Later drops of this key in this run are not logged.",
            key,
            detail,
        )
