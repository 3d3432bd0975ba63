"""Class-per-folder image trees (``<root>/<class>/<file>.jpg``), e.g. the CIFAR-10 JPEGs.

Decoding needs Pillow (optional: ``pip install pillow``). A truncated or corrupt image
raises :class:`~spikeforge.data.errors.DataFileError` naming it when it is decoded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._optional import optional_import
from ..errors import check_not_empty, reading

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_image_folder(
    root: str | os.PathLike[str], classes: list[str] | None = None
) -> tuple[list[Path], np.ndarray, list[str]]:
    """List ``<root>/<class>/*`` images, sorted by class then file name.

    Args:
        root: the split folder (``cifar10_jpg/train``).
        classes: class folder names in label order (default: sorted sub-folders).

    Returns:
        ``(paths, labels, classes)``; ``labels`` is int64 ``[N]``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if classes is None:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise FileNotFoundError(f"class folder {folder} does not exist")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths.extend(files)
        labels.extend([label] * len(files))
    return paths, np.asarray(labels, dtype=np.int64), list(classes)


def read_image(path: str | os.PathLike[str], mode: str = "RGB") -> np.ndarray:
    """Decode one image to uint8 ``[H, W, 3]`` (``mode="RGB"``) or ``[H, W]`` (``"L"``).

    Raises:
        DataFileError: naming ``path``: empty, truncated, or not an image Pillow decodes.
    """
    image_mod = optional_import("PIL.Image", "decoding JPEG/PNG images", "pillow")
    with reading(path, "an image"):
        check_not_empty(path, "image")
        with image_mod.open(path) as img:
            return np.asarray(img.convert(mode), dtype=np.uint8)
