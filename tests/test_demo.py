"""Tests of the demo sweep: the main job end to end with tiny settings, and its table."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ultralytics_env import configure_offline, offline_variables

CONFIG_DIR = configure_offline()

from tune_bridge.demo.sweep import TrialSummary, format_table  # noqa: E402

pytestmark = [pytest.mark.ultralytics]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "tune_yolo_digits.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The words of the table's header line, where the column "best top-1" contains a space.
TABLE_HEADER_WORDS = [
    "trial",
    "lr0",
    "momentum",
    "weight_decay",
    "epochs",
    "best",
    "top-1",
    "status",
]


def _environment(tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(offline_variables(CONFIG_DIR))
    environment["TUNE_BRIDGE_CACHE"] = str(tmp_path / "cache")
    environment.pop("RAY_ADDRESS", None)  # the sweep must start its own local instance
    return environment


def _summary(name: str, accuracy: list[float], status: str = "completed") -> TrialSummary:
    return TrialSummary(
        name=name,
        config={"lr0": 0.001, "momentum": 0.9, "weight_decay": 0.0005},
        epochs=list(range(1, len(accuracy) + 1)),
        accuracy=accuracy,
        status=status,
    )


def test_format_table_best_trial_first() -> None:
    trials = [
        _summary("trainable_a_00000_0_lr0", [0.2, 0.4], "stopped early"),
        _summary("trainable_a_00001_1_lr0", []),
        _summary("trainable_a_00002_2_lr0", [0.5, 0.9, 0.8]),
    ]

    lines = format_table(trials).splitlines()

    assert lines[0].split() == TABLE_HEADER_WORDS
    assert [line.split()[0] for line in lines[1:]] == ["a_00002", "a_00000", "a_00001"]
    best = lines[1].split()
    assert best[4:6] == ["3", "0.900"]
    assert lines[2].split()[-2:] == ["stopped", "early"]
    assert lines[3].split()[4:6] == ["0", "nan"]
    assert math.isnan(trials[1].best_accuracy)


def test_cli_demo_help_lists_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tune_bridge.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    for option in ("--trials", "--epochs", "--address", "--out", "--per-class", "--cpus"):
        assert option in completed.stdout


def test_cli_demo_passes_options_on() -> None:
    # An invalid value that the sweep rejects before it imports Ray or Ultralytics.
    completed = subprocess.run(
        [sys.executable, "-m", "tune_bridge.cli", "demo", "--trials", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2, completed.stderr
    assert "--trials must be at least 1, got 0" in completed.stderr


@pytest.mark.ray
def test_main_job_tiny_sweep(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    pytest.importorskip("ray.tune")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    command = [
        sys.executable,
        str(SCRIPT),
        "--trials",
        "2",
        "--epochs",
        "2",
        "--per-class",
        "20",
        "--out",
        str(out),
        "--cpus",
        "2",
    ]

    completed = subprocess.run(
        command,
        cwd=tmp_path,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert (out / "trials.png").read_bytes()[:8] == PNG_SIGNATURE
    with open(out / "trials.csv", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2
    assert {row["status"] for row in rows} <= {"completed", "stopped early"}
    assert all(1 <= int(row["epochs"]) <= 2 for row in rows)
    lines = completed.stdout.splitlines()
    assert TABLE_HEADER_WORDS in [line.split() for line in lines]
    assert "Best trial" in completed.stdout
    assert len(list((out / "trials").rglob("tune_bridge.jsonl"))) == 2
