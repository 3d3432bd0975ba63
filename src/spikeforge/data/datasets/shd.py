"""``shd``: Spiking Heidelberg Digits (HDF5), binned into ``[T, channels]`` counts."""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..formats.shd_h5 import SHD_CHANNELS, read_shd
from ..paths import locate_any
from ..registry import DATASETS, check_split
from .base import LazyDataset

SHD_CLASSES = [f"en-{d}" for d in range(10)] + [f"de-{d}" for d in range(10)]
SHD_HINT = (
    "SHD is at https://zenkelab.org/datasets/; gunzip shd_train.h5.gz and shd_test.h5.gz into shd/."
)


@functools.lru_cache(maxsize=2)
def _read(path: str) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    return read_shd(path)


def bin_spikes(
    times_s: np.ndarray,
    units: np.ndarray,
    steps: int,
    bin_ms: float,
    channels: int = SHD_CHANNELS,
    channel_pool: int = 1,
) -> np.ndarray:
    """Spike times (s) and channel ids -> float32 counts ``[steps, ceil(channels / pool)]``.

    Spikes at or after ``steps * bin_ms`` are dropped.
    """
    if steps < 1 or not bin_ms > 0 or channel_pool < 1:
        raise ValueError(
            f"need steps >= 1, bin_ms > 0 and channel_pool >= 1, got {steps}, {bin_ms}, "
            f"{channel_pool}"
        )
    units = np.asarray(units, dtype=np.int64)
    if units.size and (units.min() < 0 or units.max() >= channels):
        raise ValueError(
            f"channel ids must be in 0..{channels - 1}, got {units.min()}..{units.max()}"
        )
    slot = np.floor(np.asarray(times_s, dtype=np.float64) * 1000.0 / bin_ms).astype(np.int64)
    width = -(-channels // channel_pool)
    keep = (slot >= 0) & (slot < steps)
    flat = slot[keep] * width + units[keep] // channel_pool
    counts = np.bincount(flat, minlength=steps * width)
    return counts.astype(np.float32).reshape(steps, width)


@DATASETS.register("shd")
def shd(
    split: str = "train",
    data_dir: str | None = None,
    steps: int = 100,
    bin_ms: float = 10.0,
    channel_pool: int = 1,
) -> LazyDataset:
    """SHD from ``shd/shd_{train,test}.h5`` (or the files directly in the data folder).

    Args:
        steps: number of time bins ``T`` (spikes after ``steps * bin_ms`` are dropped).
        bin_ms: bin width in milliseconds.
        channel_pool: sum groups of this many neighbouring channels (700 -> 700 / pool).

    Samples ``[T, ceil(700 / channel_pool)]`` spike counts; 20 classes. Needs h5py.
    """
    check_split(split)
    bin_spikes(np.zeros(0), np.zeros(0), steps, bin_ms, channel_pool=channel_pool)  # validate
    name = f"shd_{split}.h5"
    alternatives = [[f"shd/{name}"], [name]]
    root, k = locate_any("shd", alternatives, data_dir=data_dir, hint=SHD_HINT)
    path = root / alternatives[k][0]
    times, units, labels = _read(str(path))

    def load(index: int) -> torch.Tensor:
        counts = bin_spikes(times[index], units[index], steps, bin_ms, channel_pool=channel_pool)
        return torch.from_numpy(counts)

    return LazyDataset(load, labels, SHD_CLASSES, temporal=True, files=[path] * len(labels))
