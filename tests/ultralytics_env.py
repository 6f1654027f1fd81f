"""Offline set-up for tests that import Ultralytics or start a process that does.

Ultralytics 8.4.190 can reach the network from ``import ultralytics`` on. It makes a
DNS probe at import unless ``YOLO_OFFLINE=1``. It downloads ``Arial.ttf`` whenever it
checks a detection data set, unless the font file exists in its config folder. It
pip-installs missing requirements unless ``YOLO_AUTOINSTALL=False``. It also writes a
settings file into ``~/.config``. :func:`configure_offline` must therefore run before
the first ``import ultralytics`` of the test process: test modules call it at import
time, before ``pytest.importorskip("ultralytics")``.

Ray workers inherit these variables from the process that calls ``ray.init``.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

_config_dir: Path | None = None


def _matplotlib_font() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    font = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return font if font.is_file() else None


def offline_variables(config_dir: Path) -> dict[str, str]:
    """Return the environment variables that keep Ultralytics, Ray and matplotlib local."""
    return {
        "YOLO_CONFIG_DIR": str(config_dir),
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "False",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(config_dir / "matplotlib"),
        "RAY_USAGE_STATS_ENABLED": "0",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def configure_offline() -> Path:
    """Set the offline variables in ``os.environ``, provide the font and return the config folder.

    The config folder is a temporary folder per test process, removed at exit. The
    font is matplotlib's DejaVu Sans under the name Arial.ttf, because Ultralytics
    only tests that the file exists before it would download it.

    Raises:
        RuntimeError: Ultralytics was imported before this call, so its import-time
            network probe may already have run with the defaults.
    """
    global _config_dir
    if _config_dir is not None:
        return _config_dir

    if "ultralytics" in sys.modules and os.environ.get("YOLO_OFFLINE") != "1":
        raise RuntimeError(
            "ultralytics was imported before configure_offline(), so its import-time "
            "network probe may have run. Call configure_offline() before the first "
            "import of ultralytics in the test process."
        )

    config_dir = Path(tempfile.mkdtemp(prefix="tune_bridge_yolo_config_"))
    atexit.register(shutil.rmtree, config_dir, ignore_errors=True)
    (config_dir / "Ultralytics").mkdir()
    (config_dir / "matplotlib").mkdir()
    font = _matplotlib_font()
    if font is not None:
        shutil.copyfile(font, config_dir / "Ultralytics" / "Arial.ttf")

    os.environ.update(offline_variables(config_dir))
    _config_dir = config_dir
    return config_dir


def font_installed(config_dir: Path) -> bool:
    """Return whether the stand-in ``Arial.ttf`` exists, without which detection downloads it."""
    return (config_dir / "Ultralytics" / "Arial.ttf").is_file()
