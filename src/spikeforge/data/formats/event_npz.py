"""Events stored with numpy: ``.npz`` with arrays ``t, x, y, p`` (the layout of common
preprocessed copies of CIFAR10-DVS and other event sets) or ``.npy`` holding a
structured array with those fields. Pickled objects are refused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..events import make_events

FIELDS = ("t", "x", "y", "p")


def read_event_npz(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``.npz`` (arrays ``t, x, y, p``) or ``.npy`` (structured) events.

    Returns:
        ``[N]`` events (x, y, p, t); times are passed through unchanged.
    """
    if Path(path).suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        names = arr.dtype.names or ()
        missing = [k for k in FIELDS if k not in names]
        if missing:
            raise ValueError(f"{path}: event array lacks fields {missing}; has {list(names)}")
        return make_events(arr["x"], arr["y"], arr["p"], arr["t"])
    with np.load(path, allow_pickle=False) as contents:
        missing = [k for k in FIELDS if k not in contents.files]
        if missing:
            raise ValueError(f"{path}: event npz lacks arrays {missing}; has {contents.files}")
        return make_events(contents["x"], contents["y"], contents["p"], contents["t"])
