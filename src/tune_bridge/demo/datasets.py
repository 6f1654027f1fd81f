"""Small real and generated image data sets that need no download.

* :func:`build_digits_dataset` writes scikit-learn's bundled handwritten digits
  (1,797 real 8x8 scans, 10 classes) as an Ultralytics classification folder.
* :func:`build_boxes_dataset` draws filled rectangles on noisy backgrounds and writes
  them with their YOLO box labels as an Ultralytics detection data set.

Both write into a cache folder once and reuse it while a marker file records that
the same parameters produced it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Union

logger = logging.getLogger("tune_bridge.demo.datasets")

PathLike = Union[str, "os.PathLike[str]"]
_MARKER = "tune_bridge_dataset.json"


def default_cache_dir() -> Path:
    """Return the data cache folder: ``$TUNE_BRIDGE_CACHE`` or ``~/.cache/tune_bridge``."""
    configured = os.environ.get("TUNE_BRIDGE_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "tune_bridge"


def _is_cached(root: Path, parameters: dict[str, Any]) -> bool:
    marker = root / _MARKER
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text(encoding="utf-8")) == parameters)
    except (OSError, ValueError):
        return False


def _write_atomically(root: Path, parameters: dict[str, Any], write: Any) -> Path:
    """Build the data set in a temporary sibling folder, then rename it into place.

    Two trials that build the same data set at once both succeed: the second rename
    fails, and that process uses the folder that the first one finished.
    """
    temporary = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    write(temporary)
    (temporary / _MARKER).write_text(json.dumps(parameters), encoding="utf-8")
    if root.exists() and not _is_cached(root, parameters):
        shutil.rmtree(root, ignore_errors=True)
    try:
        temporary.rename(root)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        if not _is_cached(root, parameters):
            raise
    return root


def build_digits_dataset(
    root: PathLike | None = None,
    *,
    image_size: int = 32,
    val_fraction: float = 0.2,
    per_class: int | None = None,
    seed: int = 0,
) -> Path:
    """Write the handwritten digits as an Ultralytics classification data set.

    The layout is ``root/train/<digit>/<index>.png`` and ``root/val/<digit>/<index>.png``,
    RGB images upscaled from 8x8 with nearest-neighbour sampling. The split is
    stratified, so every digit has the same share of validation images.

    Args:
        root: Output folder; default ``<cache>/digits-<image_size>px-<per_class>``.
        image_size: Side of the written images in pixels.
        val_fraction: Share of images in the validation split, between 0 and 1.
        per_class: Keep at most this many images of each digit (the full set has
            about 180 per digit); ``None`` keeps all.
        seed: Seed of the subset choice and the split.

    Returns:
        The data set folder, which Ultralytics takes as ``data=``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    if per_class is not None and per_class < 2:
        raise ValueError(
            f"per_class must be at least 2 (one train and one val image), got {per_class}"
        )

    parameters = {
        "kind": "digits",
        "image_size": image_size,
        "val_fraction": val_fraction,
        "per_class": per_class,
        "seed": seed,
    }
    if root is None:
        root = default_cache_dir() / f"digits-{image_size}px-{per_class or 'all'}-seed{seed}"
    root = Path(root).resolve()
    if _is_cached(root, parameters):
        logger.debug("Reusing the digits data set in %s", root)
        return root

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images  # (1797, 8, 8) floats from 0 to 16
    labels = digits.target
    indices = np.arange(len(labels))
    if per_class is not None:
        rng = np.random.default_rng(seed)
        indices = np.concatenate(
            [rng.permutation(np.flatnonzero(labels == digit))[:per_class] for digit in range(10)]
        )
    train_indices, val_indices = train_test_split(
        indices, test_size=val_fraction, stratify=labels[indices], random_state=seed
    )

    def write(folder: Path) -> None:
        for split, split_indices in (("train", train_indices), ("val", val_indices)):
            for digit in range(10):
                (folder / split / str(digit)).mkdir(parents=True, exist_ok=True)
            for index in split_indices:
                pixels = np.round(images[index] / 16.0 * 255.0).astype(np.uint8)
                image = Image.fromarray(pixels, mode="L")
                size = (image_size, image_size)
                image = image.resize(size, Image.Resampling.NEAREST).convert("RGB")
                image.save(folder / split / str(labels[index]) / f"{index}.png")

    logger.info(
        "Writing the digits data set (%d train, %d val images) to %s",
        len(train_indices),
        len(val_indices),
        root,
    )
    return _write_atomically(root, parameters, write)


def build_boxes_dataset(
    root: PathLike | None = None,
    *,
    train_images: int = 32,
    val_images: int = 8,
    image_size: int = 64,
    seed: int = 0,
) -> Path:
    """Write a tiny detection data set: rectangles with known boxes on noisy images.

    Each image contains one to three filled rectangles of two classes (``bright``,
    ``dark``), and its label file lists them in YOLO format (class, centre x, centre y,
    width, height, all relative to the image size).

    Args:
        root: Output folder; default ``<cache>/boxes-<image_size>px-<counts>``.
        train_images: Number of training images.
        val_images: Number of validation images.
        image_size: Side of the square images in pixels.
        seed: Seed of the drawing.

    Returns:
        The path of the data set's ``data.yaml``, which Ultralytics takes as ``data=``.
    """
    if train_images < 1 or val_images < 1:
        raise ValueError("train_images and val_images must be at least 1")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")

    parameters = {
        "kind": "boxes",
        "train_images": train_images,
        "val_images": val_images,
        "image_size": image_size,
        "seed": seed,
    }
    if root is None:
        name = f"boxes-{image_size}px-{train_images}-{val_images}-seed{seed}"
        root = default_cache_dir() / name
    root = Path(root).resolve()
    if _is_cached(root, parameters):
        return root / "data.yaml"

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)

    def draw(folder: Path, split: str, count: int) -> None:
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
        for number in range(count):
            pixels = rng.integers(90, 160, size=(image_size, image_size, 3), dtype=np.uint8)
            lines = []
            for _ in range(int(rng.integers(1, 4))):
                width, height = rng.integers(image_size // 6, image_size // 2, size=2)
                left = int(rng.integers(0, image_size - width))
                top = int(rng.integers(0, image_size - height))
                class_id = int(rng.integers(0, 2))
                pixels[top : top + height, left : left + width] = 240 if class_id == 0 else 20
                lines.append(
                    f"{class_id} {(left + width / 2) / image_size:.6f} "
                    f"{(top + height / 2) / image_size:.6f} "
                    f"{width / image_size:.6f} {height / image_size:.6f}"
                )
            Image.fromarray(pixels).save(folder / "images" / split / f"{number}.png")
            (folder / "labels" / split / f"{number}.txt").write_text("\n".join(lines) + "\n")

    def write(folder: Path) -> None:
        draw(folder, "train", train_images)
        draw(folder, "val", val_images)
        # Ultralytics resolves train and val relative to path, which must be absolute
        # after the rename; the YAML is written with the final location.
        (folder / "data.yaml").write_text(
            f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: bright\n  1: dark\n"
        )

    _write_atomically(root, parameters, write)
    return root / "data.yaml"
