"""``cifar10-dvs``: CIFAR10-DVS (DVS128 recordings of CIFAR-10 images), 10 x 1,000."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..events import EVENT_DTYPE
from ..formats.aedat2 import read_aedat2
from ..formats.aedat4 import read_aedat4
from ..formats.event_npz import read_event_npz
from ..paths import locate_any
from ..registry import DATASETS, check_split
from .base import LazyDataset, check_frame_options, event_frames
from .cifar import CIFAR10_CLASSES

SENSOR = (128, 128)
SUFFIXES = (".aedat", ".aedat4", ".npz", ".npy")
CIFAR10_DVS_HINT = (
    "CIFAR10-DVS is at https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671; "
    "unzip each class so files are cifar10_dvs/<class>/cifar10_<class>_<n>.aedat "
    "(.aedat4 or t,x,y,p .npz also work)."
)


def orient_dvs128(raw: np.ndarray) -> np.ndarray:
    """Map raw DVS128 AEDAT 2.0 address fields to image orientation.

    Uses the convention of the MNIST-DVS/CIFAR10-DVS ``dat2mat`` tools as commonly
    applied: ``x' = 127 - y``, ``y' = 127 - x``, ``p' = 1 - p``.
    """
    out = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
    out["x"] = 127 - raw["y"].astype(np.int64)
    out["y"] = 127 - raw["x"].astype(np.int64)
    out["p"] = 1 - raw["p"]
    out["t"] = raw["t"]
    return out


def read_cifar10_dvs_file(path: Path) -> np.ndarray:
    """Events of one CIFAR10-DVS recording (AEDAT 2.0, AEDAT 4, or ``t,x,y,p`` npz/npy)."""
    suffix = path.suffix.lower()
    if suffix == ".aedat":
        return orient_dvs128(read_aedat2(path)[1])
    if suffix == ".aedat4":
        return read_aedat4(path)
    return read_event_npz(path)


def _number(path: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else -1, path.name)


@DATASETS.register("cifar10-dvs")
def cifar10_dvs(
    split: str = "train",
    data_dir: str | None = None,
    frames: int = 10,
    mode: str = "count",
    window_ms: float | None = None,
    downsample: int = 1,
    train_fraction: float = 0.9,
) -> LazyDataset:
    """CIFAR10-DVS from ``cifar10_dvs/<class>/*.aedat`` (or ``.aedat4`` / ``.npz``).

    There is no official split: per class, files sorted by their number, the first
    ``train_fraction`` are train and the rest test. Samples
    ``[T, 2, 128 // downsample, 128 // downsample]``.
    """
    check_split(split)
    check_frame_options(frames, mode, window_ms, downsample)
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    alternatives = [
        [f"{base}/{c}" for c in CIFAR10_CLASSES] for base in ("cifar10_dvs", "CIFAR10DVS")
    ]
    root, k = locate_any("cifar10-dvs", alternatives, data_dir=data_dir, hint=CIFAR10_DVS_HINT)
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(alternatives[k]):
        found = sorted(
            (p for p in (root / folder).iterdir() if p.suffix.lower() in SUFFIXES), key=_number
        )
        cut = round(len(found) * train_fraction)
        chosen = found[:cut] if split == "train" else found[cut:]
        files.extend(chosen)
        labels.extend([label] * len(chosen))

    def load(index: int) -> torch.Tensor:
        events = read_cifar10_dvs_file(files[index])
        events = events[np.argsort(events["t"], kind="stable")]
        return event_frames(events, *SENSOR, frames, mode, window_ms, downsample)

    return LazyDataset(
        load, np.asarray(labels), CIFAR10_CLASSES, temporal=True, cache=False, files=files
    )
