"""Backend discovery: built-in backends and third-party plugins from entry points.

Every backend, built in or not, is an entry point in the group ``tune_bridge``::

    [project.entry-points.tune_bridge]
    mine = "my_package.backend:MyBackend"

The entry-point name is the backend name that users enable; the object it points to
is called with no arguments to create the backend. Discovered backends are not
enabled: a run enables them by name, by object or through ``TUNE_BRIDGE_BACKENDS``.
Only built-in backends that set ``default_enabled = True`` are enabled by
``Bridge()`` with no arguments.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tune_bridge._markers import PROJECT_NAME

logger = logging.getLogger("tune_bridge.plugins")

ENTRY_POINT_GROUP = "tune_bridge"
BACKENDS_ENV_VAR = "TUNE_BRIDGE_BACKENDS"

# Used only when this package runs without its distribution metadata (from a source
# tree on sys.path), where its own entry points cannot be found.
_BUILTIN_ENTRY_POINTS = {
    "jsonl": "tune_bridge.backends.jsonl:JsonlBackend",
    "ray": "tune_bridge.backends.ray:RayBackend",
    "optuna": "tune_bridge.backends.optuna:OptunaBackend",
    "mlflow": "tune_bridge.backends.mlflow:MlflowBackend",
}


class BackendConflictError(RuntimeError):
    """Raised when two distributions register backends under the same name."""


class UnknownBackendError(ValueError):
    """Raised when a run enables a backend name that no distribution registers."""


@dataclass(frozen=True)
class BackendPlugin:
    """A discovered backend: where it comes from and how to create it.

    Attributes:
        name: Entry-point name, which is the name that enables the backend.
        target: Entry-point value, ``"module:attribute"``.
        distribution: Name of the distribution that registers it.
        version: Version of that distribution.
        builtin: Whether tune_bridge itself ships it.
        factory: Callable that creates the backend, or ``None`` when loading failed.
        error: Why loading failed, or ``None``.
    """

    name: str
    target: str
    distribution: str
    version: str
    builtin: bool
    factory: Callable[[], Any] | None
    error: str | None = None

    @property
    def default_enabled(self) -> bool:
        """Whether ``Bridge()`` with no arguments enables this backend."""
        return self.builtin and bool(getattr(self.factory, "default_enabled", False))

    @property
    def requires(self) -> tuple[str, ...]:
        """Modules that the backend needs at run time, from its ``requires`` attribute."""
        return tuple(getattr(self.factory, "requires", ()))

    def dependencies_importable(self) -> bool:
        """Return whether every module in :attr:`requires` can be imported.

        Looks the modules up without importing them.
        """
        import importlib.util

        for module in self.requires:
            try:
                if importlib.util.find_spec(module) is None:
                    return False
            except (ImportError, ValueError):
                return False
        return True

    def create(self) -> Any:
        """Create the backend object; raises ``RuntimeError`` when loading failed."""
        if self.factory is None:
            raise RuntimeError(
                f"backend {self.name!r} from {self.distribution} {self.version} could not be "
                f"loaded: {self.error}"
            )
        return self.factory()


_cache: dict[str, BackendPlugin] | None = None
_cache_lock = threading.Lock()


def _normalize(distribution: str) -> str:
    return distribution.lower().replace("-", "_").replace(".", "_")


def _iter_entry_points() -> list[tuple[str, str, str, str]]:
    """List ``(name, target, distribution, version)`` for the group, without loading."""
    # importlib.metadata is imported here, not at module level: it costs more than the
    # rest of tune_bridge's import, and only discovery needs it.
    import importlib.metadata

    found: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "unknown"
        for entry_point in dist.entry_points:
            if entry_point.group != ENTRY_POINT_GROUP:
                continue
            # The same distribution can be on sys.path twice, for example once as an
            # editable install and once from a build folder.
            identity = (entry_point.name, entry_point.value, _normalize(dist_name))
            if identity in seen:
                continue
            seen.add(identity)
            found.append((entry_point.name, entry_point.value, dist_name, dist.version))
    return found


def _load(name: str, target: str, distribution: str, version: str) -> BackendPlugin:
    import importlib.metadata

    builtin = _normalize(distribution) == PROJECT_NAME
    entry_point = importlib.metadata.EntryPoint(name=name, value=target, group=ENTRY_POINT_GROUP)
    try:
        factory = entry_point.load()
    except Exception as error:  # a plugin may fail in any way while it is imported
        message = f"{type(error).__name__}: {error}"
        logger.warning(
            "Skipped tune_bridge backend plugin %r from %s %s: loading %s failed with %s",
            name,
            distribution,
            version,
            target,
            message,
        )
        return BackendPlugin(name, target, distribution, version, builtin, None, message)
    if not callable(factory):
        message = f"{target} is a {type(factory).__name__}, not a class or factory function"
        logger.warning(
            "Skipped tune_bridge backend plugin %r from %s %s: %s",
            name,
            distribution,
            version,
            message,
        )
        return BackendPlugin(name, target, distribution, version, builtin, None, message)
    return BackendPlugin(name, target, distribution, version, builtin, factory)


def _own_version() -> str:
    from tune_bridge import __version__

    return __version__


def discover_backends(refresh: bool = False) -> dict[str, BackendPlugin]:
    """Find and load every backend registered in the ``tune_bridge`` entry-point group.

    The result is cached for the process; ``refresh=True`` scans again, for example
    after installing a plugin in a running interpreter. A plugin that fails to load
    is logged as a warning and kept in the result with ``factory=None``.

    Raises:
        BackendConflictError: Two distributions register the same backend name.
    """
    global _cache
    with _cache_lock:
        if _cache is not None and not refresh:
            return dict(_cache)

        entries = _iter_entry_points()
        if not any(_normalize(dist) == PROJECT_NAME for _, _, dist, _ in entries):
            entries += [
                (name, target, PROJECT_NAME, _own_version())
                for name, target in _BUILTIN_ENTRY_POINTS.items()
            ]

        owners: dict[str, tuple[str, str]] = {}
        for name, _, distribution, version in entries:
            if name in owners and _normalize(owners[name][0]) != _normalize(distribution):
                first = " ".join(owners[name])
                raise BackendConflictError(
                    f"two distributions register a tune_bridge backend named {name!r}: "
                    f"{first} and {distribution} {version}; uninstall one of them"
                )
            owners[name] = (distribution, version)

        plugins: dict[str, BackendPlugin] = {}
        for name, target, distribution, version in entries:
            if name not in plugins:
                plugins[name] = _load(name, target, distribution, version)
        _cache = plugins
        return dict(plugins)


def backend_names_from_env() -> list[str] | None:
    """Return the backend names in ``TUNE_BRIDGE_BACKENDS``, or ``None`` when it is unset.

    The variable contains comma-separated names; an empty value enables no backend.
    """
    value = os.environ.get(BACKENDS_ENV_VAR)
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def default_backend_names() -> list[str]:
    """Return the names that ``Bridge()`` enables when neither argument nor variable is set."""
    return [name for name, plugin in discover_backends().items() if plugin.default_enabled]


def create_backend(name: str) -> Any:
    """Create the discovered backend called ``name``.

    Raises:
        UnknownBackendError: No distribution registers ``name``.
        RuntimeError: The plugin was found but failed to load.
    """
    plugins = discover_backends()
    plugin = plugins.get(name)
    if plugin is None:
        known = ", ".join(sorted(plugins)) or "none"
        raise UnknownBackendError(
            f"unknown tune_bridge backend {name!r}; discovered backends: {known}. "
            "Run 'tune-bridge backends' to see where each comes from."
        )
    return plugin.create()
