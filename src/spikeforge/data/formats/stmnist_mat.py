"""ST-MNIST tactile recordings (MATLAB ``.mat`` with a ``spiketrain`` matrix).

``spiketrain`` is ``[101, N]``: rows 0..99 are the 10x10 taxels (row-major, taxel
``k`` at ``x = k % 10``, ``y = k // 10``) holding +1 (ON), -1 (OFF) or 0 per column,
and row 100 holds each column's time in seconds. Needs SciPy (optional).
"""

from __future__ import annotations

import os

import numpy as np

from .._optional import optional_import
from ..errors import DataFileError, check_not_empty, reading
from ..events import EVENT_DTYPE

TAXELS = 100
GRID = 10


def spiketrain_to_events(spiketrain: np.ndarray) -> np.ndarray:
    """Convert a ``[101, N]`` ST-MNIST ``spiketrain`` into ``[M]`` events (t in µs)."""
    spiketrain = np.asarray(spiketrain)
    if spiketrain.ndim != 2 or spiketrain.shape[0] != TAXELS + 1:
        raise DataFileError(
            f"spiketrain must be [{TAXELS + 1}, N] (100 taxels + time row), "
            f"got shape {spiketrain.shape}"
        )
    taxel, column = np.nonzero(spiketrain[:TAXELS])
    order = np.lexsort((taxel, column))  # by time column, then taxel
    taxel, column = taxel[order], column[order]
    events = np.empty(taxel.shape[0], dtype=EVENT_DTYPE)
    events["x"] = taxel % GRID
    events["y"] = taxel // GRID
    events["p"] = spiketrain[taxel, column] > 0
    events["t"] = np.round(spiketrain[TAXELS, column] * 1e6).astype(np.int64)
    return events


def read_stmnist_mat(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an ST-MNIST ``.mat`` file into ``[M]`` events on a 10x10 grid (t in µs).

    Raises:
        DataFileError: naming ``path``: empty, truncated or not a MATLAB file, or no
            ``[101, N]`` ``spiketrain``.
    """
    sio = optional_import("scipy.io", "reading ST-MNIST .mat files", "scipy")
    with reading(path, "a MATLAB .mat file"):
        check_not_empty(path, "MATLAB .mat")
        contents = sio.loadmat(path)
        if "spiketrain" not in contents:
            keys = [k for k in contents if not k.startswith("__")]
            raise DataFileError(f"no 'spiketrain' variable; found {keys}")
        return spiketrain_to_events(contents["spiketrain"])
