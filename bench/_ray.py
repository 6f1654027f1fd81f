"""One local Ray instance for figures 3 and 4, and the Tune configuration classes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
NUM_CPUS = 2


def start_ray() -> None:
    """Start a local Ray instance with 2 CPUs, unless this process already has one.

    Trainables live in this folder's modules and Ray pickles them by reference, so
    the workers get the folder on their import path.
    """
    import ray

    if ray.is_initialized():
        return
    python_path = os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")]))
    ray.init(
        num_cpus=NUM_CPUS,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": python_path}},
    )


def stop_ray() -> None:
    """Shut down the Ray instance of this process, if any."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def run_config(name: str, storage: Path) -> Any:
    """Return a quiet RunConfig that stores results under ``storage``.

    Ray 2.41 moved RunConfig from ray.train to ray.tune.
    """
    from ray import train, tune

    config_class = getattr(tune, "RunConfig", None) or train.RunConfig
    return config_class(name=name, storage_path=str(storage), verbose=0)
