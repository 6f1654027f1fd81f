"""Contract: the hook names and argument names that backends are written against.

Renaming or removing a hook or an argument breaks every installed backend, so a
change here needs a deliberate update of this table. Adding an argument is safe for
backends (implementations may take fewer arguments) but still updates the table.
"""

from __future__ import annotations

import inspect
import re

import pytest

from tune_bridge import Bridge, hookspecs
from tune_bridge._markers import PROJECT_NAME
from tune_bridge.bridge import HOOK_NAMES

EXPECTED_HOOKS = {
    "tune_bridge_run_start": ("run",),
    "tune_bridge_epoch_end": ("run", "epoch", "metrics", "checkpoint"),
    "tune_bridge_checkpoint_saved": ("run", "epoch", "path"),
    "tune_bridge_run_end": ("run", "status", "metrics"),
    "tune_bridge_should_stop": ("run", "epoch", "metrics"),
}

# The Bridge method that sends each hook, and the arguments it takes from the trainer.
BRIDGE_METHODS = {
    "tune_bridge_run_start": ("run_start", ("name", "config", "run_dir", "framework")),
    "tune_bridge_epoch_end": ("epoch_end", ("epoch", "metrics", "checkpoint")),
    "tune_bridge_checkpoint_saved": ("checkpoint_saved", ("epoch", "path")),
    "tune_bridge_run_end": ("run_end", ("status", "metrics")),
    "tune_bridge_should_stop": ("epoch_end", ("epoch", "metrics", "checkpoint")),
}


def _specs():
    marker = f"{PROJECT_NAME}_spec"
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    }


def test_exactly_five_hooks():
    assert len(_specs()) == 5


def test_hook_names_match():
    assert set(_specs()) == set(EXPECTED_HOOKS)


def test_bridge_hook_names_match():
    assert set(HOOK_NAMES) == set(EXPECTED_HOOKS)
    assert len(HOOK_NAMES) == len(EXPECTED_HOOKS)


@pytest.mark.parametrize(("hook", "arguments"), EXPECTED_HOOKS.items(), ids=list(EXPECTED_HOOKS))
def test_hook_arguments(hook, arguments):
    signature = inspect.signature(_specs()[hook])

    assert tuple(signature.parameters) == arguments


@pytest.mark.parametrize(("hook", "arguments"), EXPECTED_HOOKS.items(), ids=list(EXPECTED_HOOKS))
def test_hook_arguments_plain(hook, arguments):
    kinds = {p.kind for p in inspect.signature(_specs()[hook]).parameters.values()}

    assert kinds == {inspect.Parameter.POSITIONAL_OR_KEYWORD}


@pytest.mark.parametrize(("hook", "arguments"), EXPECTED_HOOKS.items(), ids=list(EXPECTED_HOOKS))
def test_docstring_documents_arguments(hook, arguments):
    doc = inspect.getdoc(_specs()[hook]) or ""

    for argument in arguments:
        assert re.search(rf"^\s+{argument}:\s+\S", doc, re.MULTILINE), f"{argument} in {hook}"


@pytest.mark.parametrize("hook", list(EXPECTED_HOOKS))
def test_docstring_has_summary(hook):
    doc = inspect.getdoc(_specs()[hook]) or ""

    assert doc.splitlines()[0].strip()


@pytest.mark.parametrize(("hook", "method"), BRIDGE_METHODS.items(), ids=list(BRIDGE_METHODS))
def test_bridge_method_arguments(hook, method):
    method_name, arguments = method
    signature = inspect.signature(getattr(Bridge, method_name))

    assert tuple(signature.parameters)[1:] == arguments


def test_hooks_not_firstresult():
    # The Bridge collects the return value of every backend itself, and firstresult would
    # make pluggy stop at the first non-None value.
    marker = f"{PROJECT_NAME}_spec"

    for name, function in _specs().items():
        assert not getattr(function, marker).get("firstresult"), name
