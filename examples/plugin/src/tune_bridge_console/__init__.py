"""An example tune_bridge backend: print one line per training event.

This package is the template for backend plugins. It shows the three things a
backend needs: a ``name``, methods marked with ``@tune_bridge.hookimpl``, and an
entry point in the ``tune_bridge`` group (see ``pyproject.toml``).
"""

from __future__ import annotations

import sys
from typing import IO

import tune_bridge

__version__ = "0.1.0"


class ConsoleBackend:
    """Print one line per run start, epoch end, checkpoint and run end.

    The Bridge creates the backend by calling the entry point with no arguments,
    so every constructor argument needs a default.

    Args:
        stream: Text stream to print to. ``None`` means ``sys.stdout`` at the time
            of each event, so output capture by the caller keeps working.
        stop_metric: Name of a metric that requests a stop when it reaches
            ``stop_value`` or more; ``None`` never requests a stop.
        stop_value: Threshold for ``stop_metric``.
    """

    name = "console"  # must match the entry-point name
    version = f"tune-bridge-console {__version__}"  # shown in the Bridge's run-start log line
    requires: tuple[str, ...] = ()  # modules needed at run time; `tune-bridge backends` checks them

    def __init__(
        self,
        stream: IO[str] | None = None,
        stop_metric: str | None = None,
        stop_value: float = float("inf"),
    ) -> None:
        self.stream = stream
        self.stop_metric = stop_metric
        self.stop_value = stop_value

    def _print(self, line: str) -> None:
        print(line, file=self.stream if self.stream is not None else sys.stdout, flush=True)

    # An implementation may take any subset of the hook's arguments, in any order.
    # Taking only what it uses keeps a backend working when hooks gain arguments.

    @tune_bridge.hookimpl
    def tune_bridge_run_start(self, run: tune_bridge.RunInfo) -> None:
        self._print(f"[{run.name}] run_start framework={run.framework}")

    @tune_bridge.hookimpl
    def tune_bridge_epoch_end(
        self, run: tune_bridge.RunInfo, epoch: int, metrics: dict[str, float]
    ) -> None:
        # metrics is this backend's own copy: flat, keys verbatim, values int or float.
        values = " ".join(f"{key}={value:g}" for key, value in sorted(metrics.items()))
        self._print(f"[{run.name}] epoch_end epoch={epoch} {values}".rstrip())

    @tune_bridge.hookimpl
    def tune_bridge_checkpoint_saved(
        self, run: tune_bridge.RunInfo, epoch: int, path: object
    ) -> None:
        self._print(f"[{run.name}] checkpoint_saved epoch={epoch} path={path}")

    @tune_bridge.hookimpl
    def tune_bridge_should_stop(self, metrics: dict[str, float]) -> bool:
        if self.stop_metric is None or self.stop_metric not in metrics:
            return False
        return metrics[self.stop_metric] >= self.stop_value

    @tune_bridge.hookimpl
    def tune_bridge_run_end(self, run: tune_bridge.RunInfo, status: str) -> None:
        self._print(f"[{run.name}] run_end status={status}")
