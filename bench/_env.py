"""The benchmark environment: offline settings, and the machine and package facts of the page."""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent

PACKAGES = (
    "tune_bridge",
    "pluggy",
    "ray",
    "torch",
    "numpy",
    "ultralytics",
    "pandas",
    "scikit-learn",
    "pyinstrument",
)


def configure_offline(workdir: Path) -> dict[str, str]:
    """Set the variables that keep Ultralytics, Ray and matplotlib offline and quiet.

    Returns the variables that it set.

    Must run before the first ``import ultralytics`` (Ultralytics 8.4 probes the
    network at import unless ``YOLO_OFFLINE=1``) and before ``ray.init``, whose
    workers inherit the variables. ``YOLO_CONFIG_DIR`` points into ``workdir`` so
    that no settings file is written to the home folder.
    """
    config_dir = workdir / "yolo-config"
    (config_dir / "Ultralytics").mkdir(parents=True, exist_ok=True)
    (config_dir / "matplotlib").mkdir(parents=True, exist_ok=True)
    # A detection data-set check downloads Arial.ttf unless a file of that name exists.
    # Classification never checks it, so this only guards against surprises.
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:
        font = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if font.is_file():
            shutil.copyfile(font, config_dir / "Ultralytics" / "Arial.ttf")

    variables = {
        "YOLO_CONFIG_DIR": str(config_dir),
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "False",
        "YOLO_VERBOSE": "False",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(config_dir / "matplotlib"),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    os.environ.update(variables)
    # A backend list in the caller's shell would change what Bridge() enables.
    os.environ.pop("TUNE_BRIDGE_BACKENDS", None)
    return variables


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _git(arguments: list[str]) -> str | None:
    """Return the stripped output of a git command in this checkout, or None on failure."""
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip()


def _git_revision() -> str:
    head = _git(["rev-parse", "--short", "HEAD"])
    if head is None:
        return "unknown (git failed)"
    changes = _git(["status", "--porcelain", "--", "src"])
    return f"{head} with uncommitted changes in src/" if changes else head


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages, or ``"unknown"``."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _source(revision: str | None) -> str:
    """Describe the tune_bridge that the figures import, without importing it."""
    spec = importlib.util.find_spec("tune_bridge")
    if spec is None or spec.origin is None:
        return "tune_bridge not found"
    package = Path(spec.origin).resolve().parent
    if revision is not None:
        commit = _git(["rev-parse", "--short", revision]) or revision
        return f"`src/` of git revision {commit}, exported to a temporary folder"
    if package.is_relative_to(REPOSITORY):
        return f"this checkout at revision {_git_revision()}"
    return f"{package} (outside this checkout)"


def describe_environment(revision: str | None = None) -> dict[str, Any]:
    """Collect the machine, Python, package and source facts that the page lists.

    ``revision`` is the git revision whose ``src/`` the run measures, if any.
    """
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    memory = _memory_gib()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "memory": f"{memory:.0f} GiB" if memory is not None else "unknown",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "source": _source(revision),
        "load_start": load_average(),
    }
