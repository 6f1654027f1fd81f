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
    """Keep Ultralytics, Ray and matplotlib local, and quiet; return the variables set.

    Must run before the first ``import ultralytics`` (Ultralytics 8.4 probes the
    network at import unless ``YOLO_OFFLINE=1``) and before ``ray.init``, whose
    workers inherit the variables. ``YOLO_CONFIG_DIR`` points into ``workdir`` so
    that no settings file is written to the home folder.
    """
    config_dir = workdir / "yolo-config"
    (config_dir / "Ultralytics").mkdir(parents=True, exist_ok=True)
    (config_dir / "matplotlib").mkdir(parents=True, exist_ok=True)
    # A detection data-set check downloads Arial.ttf unless a file of that name exists;
    # classification never checks it, so this only guards against surprises.
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


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git failed)"
    return f"{head} with uncommitted changes in src/" if changes else head


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages, or ``"unknown"``."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe_environment() -> dict[str, Any]:
    """Collect the machine, Python, package and source facts that the page lists."""
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
        "revision": _git_revision(),
        "load_start": load_average(),
    }
