"""The backends that one Bridge enables: their resolution, registration and hook table."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy

from tune_bridge import hookspecs
from tune_bridge._markers import PROJECT_NAME
from tune_bridge.plugins import (
    backend_names_from_env,
    create_backend,
    default_backend_names,
    discover_backends,
)

logger = logging.getLogger("tune_bridge")

HOOK_NAMES: tuple[str, ...] = (
    "tune_bridge_run_start",
    "tune_bridge_epoch_end",
    "tune_bridge_checkpoint_saved",
    "tune_bridge_run_end",
    "tune_bridge_should_stop",
)


class EnabledBackend:
    """An enabled backend and its failure bookkeeping for the current run."""

    __slots__ = ("consecutive_failures", "disabled", "name", "obj", "version")

    def __init__(self, name: str, obj: Any, version: str) -> None:
        self.name = name
        self.obj = obj
        self.version = version
        self.disabled = False
        # Consecutive failures per hook name: a success of the same hook resets it.
        self.consecutive_failures: dict[str, int] = {}


# (backend, implementation, names of the arguments that the implementation takes,
# whether "metrics" is one of them)
HookCall = tuple[EnabledBackend, Callable[..., Any], tuple[str, ...], bool]


def _backend_name(obj: Any) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(obj, type(sys)):
        return obj.__name__
    return type(obj).__name__.lower()


@functools.lru_cache(maxsize=1)
def _distributions_by_package() -> Mapping[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()


def _object_version(obj: Any) -> str:
    version = getattr(obj, "version", None)
    if isinstance(version, str) and version:
        return version
    import importlib.metadata

    module = obj.__name__ if isinstance(obj, type(sys)) else type(obj).__module__
    top_level = module.split(".")[0]
    # The distribution name can differ from the package name (scikit-learn, sklearn).
    for distribution in _distributions_by_package().get(top_level, [top_level]):
        try:
            return f"{distribution} {importlib.metadata.version(distribution)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown version"


def _check_backend_object(item: Any) -> None:
    if isinstance(item, type):
        raise TypeError(
            f"backend {item.__name__} is a class; pass an instance, such as {item.__name__}()"
        )
    if item is None or isinstance(item, (bool, int, float, complex, bytes)):
        raise TypeError(
            f"invalid backend {item!r}: expected a backend object with @hookimpl methods or "
            "the name of a discovered backend"
        )


class BackendSet:
    """Register the enabled backends with pluggy and list each hook's implementations.

    The table of implementations is built once, so that a hook call does no lookups.

    Args:
        items: Backend objects and names of discovered backends, in call order.
    """

    def __init__(self, items: list[Any]) -> None:
        self.plugin_manager = pluggy.PluginManager(PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        self.backends: list[EnabledBackend] = []
        for item in items:
            self._register(item)
        self.calls: dict[str, list[HookCall]] = {
            name: self._build_calls(name) for name in HOOK_NAMES
        }

    @staticmethod
    def resolve(backends: Iterable[Any] | None) -> list[Any]:
        """Return the backend objects and names that ``Bridge(backends=...)`` enables."""
        if backends is None:
            names = backend_names_from_env()
            return names if names is not None else default_backend_names()
        if isinstance(backends, str):
            return [name.strip() for name in backends.split(",") if name.strip()]
        if isinstance(backends, Mapping) or not isinstance(backends, Iterable):
            raise TypeError(
                "backends must be a list of backend objects or names, "
                f"got {type(backends).__name__}"
            )
        return list(backends)

    def _register(self, item: Any) -> None:
        if isinstance(item, str):
            name = item
            obj = create_backend(name)
            plugin = discover_backends()[name]
            version = f"{plugin.distribution} {plugin.version}"
        else:
            _check_backend_object(item)
            obj = item
            name = _backend_name(obj)
            version = _object_version(obj)

        if any(backend.name == name for backend in self.backends):
            raise ValueError(
                f"two enabled backends are named {name!r}; give one of them another "
                "'name' attribute"
            )
        self.plugin_manager.register(obj, name=name)
        self.backends.append(EnabledBackend(name, obj, version))
        self._check_hooks(name, obj)

    def _check_hooks(self, name: str, obj: Any) -> None:
        implemented = 0
        for caller in self.plugin_manager.get_hookcallers(obj) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is not obj:
                    continue
                if getattr(impl, "wrapper", False) or impl.hookwrapper:
                    raise ValueError(
                        f"backend {name!r}: {caller.name} is declared as a wrapper; "
                        "tune_bridge hooks take plain implementations only"
                    )
                if not caller.has_spec():
                    if not impl.optionalhook:
                        logger.warning(
                            "Backend %r implements %r, which is not a tune_bridge hook; it is "
                            "ignored. Known hooks: %s",
                            name,
                            caller.name,
                            ", ".join(HOOK_NAMES),
                        )
                    continue
                implemented += 1
        if implemented == 0:
            logger.warning(
                "Backend %r implements no tune_bridge hook; mark its methods with "
                "@tune_bridge.hookimpl",
                name,
            )

    def _build_calls(self, hook_name: str) -> list[HookCall]:
        caller = getattr(self.plugin_manager.hook, hook_name)
        by_plugin = {id(impl.plugin): impl for impl in caller.get_hookimpls()}
        calls: list[HookCall] = []
        for backend in self.backends:  # the order in which the run enabled them
            impl = by_plugin.get(id(backend.obj))
            if impl is not None:
                argnames = tuple(impl.argnames)
                calls.append((backend, impl.function, argnames, "metrics" in argnames))
        return calls
