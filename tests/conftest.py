"""Shared fixtures: a backend that records every event, and a clean environment."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from tune_bridge import hookimpl
from tune_bridge.plugins import BACKENDS_ENV_VAR


class Recorder:
    """A backend that stores each event as ``(hook, arguments)`` in ``events``.

    ``stop_at`` is the epoch from which ``should_stop`` returns ``True``.
    """

    version = "recorder 1.0"

    def __init__(self, name: str = "recorder", stop_at: int | None = None) -> None:
        self.name = name
        self.stop_at = stop_at
        self.events: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def tune_bridge_run_start(self, run):
        self.events.append(("run_start", {"run": run}))

    @hookimpl
    def tune_bridge_epoch_end(self, run, epoch, metrics, checkpoint):
        self.events.append(
            (
                "epoch_end",
                {"run": run, "epoch": epoch, "metrics": metrics, "checkpoint": checkpoint},
            )
        )

    @hookimpl
    def tune_bridge_checkpoint_saved(self, run, epoch, path):
        self.events.append(("checkpoint_saved", {"run": run, "epoch": epoch, "path": path}))

    @hookimpl
    def tune_bridge_should_stop(self, run, epoch, metrics):
        self.events.append(("should_stop", {"run": run, "epoch": epoch, "metrics": metrics}))
        return self.stop_at is not None and epoch >= self.stop_at

    @hookimpl
    def tune_bridge_run_end(self, run, status, metrics):
        self.events.append(("run_end", {"run": run, "status": status, "metrics": metrics}))

    def hooks(self) -> list[str]:
        """Return the hook names received, in order."""
        return [hook for hook, _ in self.events]

    def arguments(self, hook: str) -> list[dict[str, Any]]:
        """Return the arguments of every call of ``hook``, in order."""
        return [arguments for name, arguments in self.events if name == hook]


@pytest.fixture(autouse=True)
def _no_backends_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    # A TUNE_BRIDGE_BACKENDS set in the developer's shell would change which
    # backends Bridge() enables.
    monkeypatch.delenv(BACKENDS_ENV_VAR, raising=False)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_recorder() -> type[Recorder]:
    return Recorder


BACKENDS_TABLE_HEADER = [
    "name",
    "distribution",
    "version",
    "kind",
    "default",
    "dependency",
    "status",
]


def _parse_backends_table(output: str) -> dict[str, dict[str, str]]:
    """Parse ``tune-bridge backends`` output into ``{name: {column: cell}}``.

    Cells are separated by two or more spaces, and the last column is not padded.
    """
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    width = len(BACKENDS_TABLE_HEADER)
    rows = [re.split(r"\s{2,}", line, maxsplit=width - 1) for line in lines]
    assert rows[0] == BACKENDS_TABLE_HEADER, output
    assert all(len(row) == width for row in rows), output
    return {row[0]: {BACKENDS_TABLE_HEADER[i]: row[i] for i in range(width)} for row in rows[1:]}


@pytest.fixture
def parse_backends_table():
    return _parse_backends_table


# Sessions that install every extra set TUNE_BRIDGE_NO_SKIPS=1, so that a test module
# skipped by pytest.importorskip (a broken install, a missing companion package) fails
# the run instead of passing silently.
_NO_SKIPS = os.environ.get("TUNE_BRIDGE_NO_SKIPS") == "1"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if _NO_SKIPS and report.skipped:
        report.outcome = "failed"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _NO_SKIPS and report.skipped:
        report.outcome = "failed"
