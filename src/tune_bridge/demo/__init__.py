"""The demo sweep: Ray Tune over YOLO classification on the handwritten digits."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo sweep with command-line arguments ``argv``; return the exit code."""
    from tune_bridge.demo.sweep import main as sweep_main

    return sweep_main(argv)
