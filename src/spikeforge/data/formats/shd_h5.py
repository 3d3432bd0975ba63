"""Spiking Heidelberg Digits (SHD) HDF5 files (``shd_train.h5``, ``shd_test.h5``).

Layout: ``spikes/times`` (variable-length float arrays, seconds), ``spikes/units``
(variable-length integer arrays, channel 0..699) and ``labels`` ``[N]``.
Needs h5py (optional).
"""

from __future__ import annotations

import os

import numpy as np

from .._optional import optional_import
from ..errors import DataFileError, check_not_empty, reading

SHD_CHANNELS = 700


def read_shd(
    path: str | os.PathLike[str],
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Read every sample of an SHD file.

    Returns:
        ``(times, units, labels)``: per-sample float64 spike times in seconds, per-sample
        int64 channel ids (same lengths), and int64 labels ``[N]``.

    Raises:
        DataFileError: naming ``path``: empty, truncated or not HDF5, missing datasets,
            mismatched counts, channel ids outside 0..699 or times not finite and >= 0.
    """
    h5py = optional_import("h5py", "reading SHD .h5 files")
    with reading(path, "SHD HDF5"):
        check_not_empty(path, "SHD HDF5")
        with h5py.File(path, "r") as fh:
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in fh:
                    raise DataFileError(f"missing HDF5 dataset {key!r}")
            times = [np.asarray(a, dtype=np.float64) for a in fh["spikes/times"][()]]
            units = [np.asarray(a, dtype=np.int64) for a in fh["spikes/units"][()]]
            labels = np.asarray(fh["labels"][()], dtype=np.int64).reshape(-1)
        check_shd_samples(times, units, labels)
    return times, units, labels


def check_shd_samples(times: list[np.ndarray], units: list[np.ndarray], labels: np.ndarray) -> None:
    """Equal counts and lengths, channel ids in ``0..699``, finite times ``>= 0``."""
    if not len(times) == len(units) == labels.shape[0]:
        raise DataFileError(
            f"{len(times)} time arrays, {len(units)} unit arrays and "
            f"{labels.shape[0]} labels; expected equal counts"
        )
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        if t.shape != u.shape:
            raise DataFileError(f"sample {i} has {t.size} times but {u.size} units")
        if u.size and (u.min() < 0 or u.max() >= SHD_CHANNELS):
            raise DataFileError(
                f"sample {i} has channel ids {u.min()}..{u.max()}; expected 0..{SHD_CHANNELS - 1}"
            )
        if t.size and not (np.isfinite(t).all() and t.min() >= 0):
            raise DataFileError(f"sample {i} has spike times that are negative or not finite")
