"""Meta-tests: every hook has a test and a docs entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tune_bridge.bridge import HOOK_NAMES

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DOCS = ROOT / "docs"
DOC_SUFFIXES = {".md", ".rst", ".txt"}


def _test_sources():
    this_file = Path(__file__).resolve()
    return [
        path.read_text(encoding="utf-8")
        for path in TESTS.rglob("test_*.py")
        if path.resolve() != this_file
    ]


def _doc_sources():
    if not DOCS.is_dir():
        return []
    return [
        path.read_text(encoding="utf-8")
        for path in DOCS.rglob("*")
        if path.is_file() and path.suffix in DOC_SUFFIXES
    ]


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_has_test(hook):
    # A test either implements the hook in a backend or calls the Bridge method that
    # sends it (run_start for tune_bridge_run_start, and so on).
    method_call = "." + hook.removeprefix("tune_bridge_") + "("
    sources = _test_sources()

    assert any(hook in source or method_call in source for source in sources)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_documented(hook):
    sources = _doc_sources()

    assert sources, f"no documentation files ({', '.join(sorted(DOC_SUFFIXES))}) under {DOCS}"
    assert any(hook in source for source in sources), f"{hook} is not mentioned under {DOCS}"
