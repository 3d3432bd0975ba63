"""Spiking Heidelberg Digits (SHD) HDF5 files (``shd_train.h5``, ``shd_test.h5``).

Layout: ``spikes/times`` (variable-length float arrays, seconds), ``spikes/units``
(variable-length integer arrays, channel 0..699) and ``labels`` ``[N]``.
Needs h5py (optional).
"""

from __future__ import annotations

import os

import numpy as np

from .._optional import optional_import

SHD_CHANNELS = 700


def read_shd(
    path: str | os.PathLike[str],
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Read every sample of an SHD file.

    Returns:
        ``(times, units, labels)``: per-sample float64 spike times in seconds, per-sample
        int64 channel ids (same lengths), and int64 labels ``[N]``.
    """
    h5py = optional_import("h5py", "reading SHD .h5 files")
    with h5py.File(path, "r") as fh:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in fh:
                raise ValueError(f"{path}: missing HDF5 dataset {key!r}")
        times = [np.asarray(a, dtype=np.float64) for a in fh["spikes/times"][()]]
        units = [np.asarray(a, dtype=np.int64) for a in fh["spikes/units"][()]]
        labels = np.asarray(fh["labels"][()], dtype=np.int64).reshape(-1)
    if not len(times) == len(units) == labels.shape[0]:
        raise ValueError(
            f"{path}: {len(times)} time arrays, {len(units)} unit arrays and "
            f"{labels.shape[0]} labels; expected equal counts"
        )
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        if t.shape != u.shape:
            raise ValueError(f"{path}: sample {i} has {t.size} times but {u.size} units")
    return times, units, labels
