"""The description of one training run, as backends receive it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pathlib is imported where a Path is built, not for annotations
    from pathlib import Path

RunStatus = Literal["completed", "stopped", "failed"]
RUN_STATUSES: tuple[str, ...] = ("completed", "stopped", "failed")


@dataclass(frozen=True)
class RunInfo:
    """One training run: what every hook receives as ``run``.

    Attributes:
        name: Run name chosen by the caller, for example a trial name.
        config: Hyperparameters and settings of the run. The Bridge stores a shallow
            copy, so later changes to the caller's dict do not reach backends.
        run_dir: Folder where the run writes its outputs, or ``None`` when the
            caller gave none. Backends that write files put them here.
        framework: Name of the code that produced the events: ``"plain"`` for a
            hand-written loop, ``"ultralytics"`` for the Ultralytics adapter.
    """

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    framework: str = "plain"
