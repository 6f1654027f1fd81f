"""MLflow metric and param names for tune_bridge keys, and the tags that map them back.

MLflow rejects some characters in names, such as the parentheses of
``metrics/mAP50-95(B)``. :func:`mlflow_key` maps a key to an accepted name, the
key mapper resolves collisions, and the run's tags record each renamed key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

METRIC_KEY_MAP_TAG = "tune_bridge.metric_key_map"
PARAM_KEY_MAP_TAG = "tune_bridge.param_key_map"

# Limits of MLflow 3.17 (mlflow/utils/validation.py). The installed MLflow's values are
# read at run time where it has them; these are the fallbacks.
MAX_KEY_LENGTH = 250
_FALLBACK_LIMITS = {
    "MAX_PARAM_VAL_LENGTH": 500,  # MLflow before 2.0 allowed only 500 characters
    "MAX_TAG_VAL_LENGTH": 5000,
    "MAX_PARAMS_TAGS_PER_BATCH": 100,
    "MAX_METRICS_PER_BATCH": 1000,
}

_DISALLOWED_CHARACTER = re.compile(r"[^\w/.\- ]")


def mlflow_key(key: str) -> str:
    """Return ``key`` as a name that MLflow accepts, before collisions are resolved.

    Each character other than a word character, ``/``, ``.``, ``-`` and space becomes
    ``_``. MLflow also rejects names that change under path normalisation, so an
    empty path segment (a leading, trailing or double ``/``) becomes ``_`` and a
    segment ``.`` or ``..`` becomes ``_`` or ``__``. Names longer than 250 characters
    are cut to 250. Names that MLflow accepts are returned unchanged.
    """
    name = _DISALLOWED_CHARACTER.sub("_", key)
    name = "/".join(_safe_segment(segment) for segment in name.split("/"))
    if len(name) <= MAX_KEY_LENGTH:
        return name

    # Cutting can leave an empty, "." or ".." last segment; each fix keeps the length.
    name = name[:MAX_KEY_LENGTH]
    head, slash, last = name.rpartition("/")
    if last == "":
        return head + "_"  # in place of the trailing "/"
    if last in (".", ".."):
        return head + slash + "_" * len(last)
    return name


def _safe_segment(segment: str) -> str:
    if segment in ("", ".", ".."):
        return "_" * max(1, len(segment))
    return segment


def read_key_map(tags: Mapping[str, str], tag: str = METRIC_KEY_MAP_TAG) -> dict[str, str]:
    """Return ``{MLflow name: original key}`` from a run's tags.

    A long map is split over the tags ``tag``, ``tag.2``, ``tag.3``, ...; they are
    merged here.

    Args:
        tags: The run's tags, for example ``MlflowClient().get_run(run_id).data.tags``.
        tag: :data:`METRIC_KEY_MAP_TAG` or :data:`PARAM_KEY_MAP_TAG`.
    """
    merged: dict[str, str] = {}
    for name, value in tags.items():
        suffix = name[len(tag) + 1 :] if name.startswith(tag + ".") else None
        if name == tag or (suffix is not None and suffix.isdigit()):
            merged.update(json.loads(value))
    return merged


class _KeyMapper:
    """The MLflow names of one run's keys: first come, first served."""

    def __init__(self) -> None:
        self._by_original: dict[str, str] = {}
        self._originals: dict[str, str] = {}  # MLflow name -> original key

    def reserve(self, renamed: Mapping[str, str], existing: Sequence[str]) -> None:
        """Record the names that a joined run already holds."""
        for name in existing:
            original = renamed.get(name, name)
            self._by_original.setdefault(original, name)
            self._originals.setdefault(name, original)

    def map(self, key: str) -> str:
        name = self._by_original.get(key)
        if name is not None:
            return name
        base = mlflow_key(key)
        name = base
        number = 2
        while name in self._originals:
            suffix = f"_{number}"
            name = base[: MAX_KEY_LENGTH - len(suffix)] + suffix
            number += 1
        self._by_original[key] = name
        self._originals[name] = key
        return name

    def renamed(self) -> dict[str, str]:
        return {name: key for name, key in self._originals.items() if name != key}


def _limit(name: str) -> int:
    from mlflow.utils import validation

    return int(getattr(validation, name, _FALLBACK_LIMITS[name]))


def _split_key_map(tag: str, renamed: dict[str, str]) -> dict[str, str]:
    """Write ``renamed`` as JSON tags ``tag``, ``tag.2``, ... that fit MLflow's tag limit."""
    limit = _limit("MAX_TAG_VAL_LENGTH")
    chunks: list[list[str]] = [[]]
    length = 2  # the braces
    for name in sorted(renamed):
        entry = json.dumps({name: renamed[name]}, separators=(",", ":"))[1:-1]
        # NOTE: an original key longer than the tag limit still gets a tag of its own.
        # MLflow cuts that tag value, which breaks its JSON.
        if chunks[-1] and length + 1 + len(entry) > limit:
            chunks.append([])
            length = 2
        length += len(entry) + (1 if chunks[-1] else 0)
        chunks[-1].append(entry)
    return {
        tag if index == 0 else f"{tag}.{index + 1}": "{" + ",".join(entries) + "}"
        for index, entries in enumerate(chunks)
    }
