"""N-MNIST event datasets: ``nmnist-small`` (shared 1,100-sample subset) and ``nmnist``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import DataFileError, reading
from ..formats.nmnist_bin import read_nmnist_bin
from ..paths import locate_any
from ..registry import DATASETS, check_split
from .base import LazyDataset, check_frame_options, event_frames

SENSOR = (34, 34)  # height, width
DIGITS = [str(d) for d in range(10)]
NMNIST_HINT = (
    "N-MNIST is at https://www.garrickorchard.com/datasets/n-mnist; unzip Train.zip and "
    "Test.zip so the files are nmnist/Train/<digit>/<id>.bin and nmnist/Test/<digit>/<id>.bin."
)


def read_id_label_file(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """Read ``<id> <label>`` lines (``#`` starts a comment), e.g. ``train1K.txt``.

    Raises:
        DataFileError: naming ``path`` and the line that is not two integers.
    """
    pairs: list[tuple[int, int]] = []
    with reading(path, "an id/label list"), open(path) as fh:
        for number, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
                raise DataFileError(f"line {number}: expected '<id> <label>', got {line!r}")
            pairs.append((int(parts[0]), int(parts[1])))
    return pairs


def _frames_dataset(
    files: list[Path], labels: list[int], frames: int, mode: str, window_ms: float | None
) -> LazyDataset:
    check_frame_options(frames, mode, window_ms)

    def load(index: int) -> torch.Tensor:
        return event_frames(read_nmnist_bin(files[index]), *SENSOR, frames, mode, window_ms)

    return LazyDataset(load, np.asarray(labels), DIGITS, temporal=True, files=files)


@DATASETS.register("nmnist-small")
def nmnist_small(
    split: str = "train",
    data_dir: str | None = None,
    frames: int = 10,
    mode: str = "count",
    window_ms: float | None = None,
) -> LazyDataset:
    """The SLAYER N-MNIST subset: 1,000 train / 100 test recordings as frames.

    Files ``nmnist_small/<id>.bs2`` listed with labels in ``train1K.txt`` / ``test100.txt``.

    Args:
        frames: number of frames ``T``.
        mode: ``"count"`` (equal event counts), ``"duration"`` (equal time spans) or
            ``"window"`` (``window_ms`` per frame from the first event).
        window_ms: frame duration for ``mode="window"``.

    Samples ``[T, 2, 34, 34]`` event counts (channel 0 OFF, 1 ON).
    """
    check_split(split)
    listing = "nmnist_small/" + ("train1K.txt" if split == "train" else "test100.txt")
    root, _ = locate_any("nmnist-small", [[listing]], data_dir=data_dir)
    pairs = read_id_label_file(root / listing)
    files = [root / "nmnist_small" / f"{sample_id}.bs2" for sample_id, _ in pairs]
    return _frames_dataset(files, [label for _, label in pairs], frames, mode, window_ms)


@DATASETS.register("nmnist")
def nmnist(
    split: str = "train",
    data_dir: str | None = None,
    frames: int = 10,
    mode: str = "count",
    window_ms: float | None = None,
) -> LazyDataset:
    """Full N-MNIST from ``nmnist/{Train,Test}/<digit>/*.bin``; options as ``nmnist-small``."""
    check_split(split)
    folder = "nmnist/" + ("Train" if split == "train" else "Test")
    expected = [f"{folder}/{d}" for d in DIGITS]
    root, _ = locate_any("nmnist", [expected], data_dir=data_dir, hint=NMNIST_HINT)
    files: list[Path] = []
    labels: list[int] = []
    for digit in range(10):
        found = sorted((root / folder / str(digit)).glob("*.bin"))
        files.extend(found)
        labels.extend([digit] * len(found))
    return _frames_dataset(files, labels, frames, mode, window_ms)
