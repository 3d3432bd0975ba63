"""Events stored with numpy: ``.npz`` with arrays ``t, x, y, p`` (the layout of common
preprocessed copies of CIFAR10-DVS and other event sets) or ``.npy`` holding a
structured array with those fields. Pickled objects are refused."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading
from ..events import make_events

FIELDS = ("t", "x", "y", "p")


def read_event_npz(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``.npz`` (arrays ``t, x, y, p``) or ``.npy`` (structured) events.

    Returns:
        ``[N]`` events (x, y, p, t); times are passed through unchanged.

    Raises:
        DataFileError: naming ``path``: empty, truncated or not npz/npy, missing fields.
    """
    npy = Path(path).suffix.lower() == ".npy"
    with reading(path, "an event .npy" if npy else "an event .npz"):
        buf = io.BytesIO(read_file_bytes(path, "event .npy" if npy else "event .npz"))
        if npy:
            arr = np.load(buf, allow_pickle=False)
            names = arr.dtype.names or ()
            missing = [k for k in FIELDS if k not in names]
            if missing:
                raise DataFileError(f"event array lacks fields {missing}; has {list(names)}")
            return make_events(arr["x"], arr["y"], arr["p"], arr["t"])
        with np.load(buf, allow_pickle=False) as contents:
            missing = [k for k in FIELDS if k not in contents.files]
            if missing:
                raise DataFileError(f"event npz lacks arrays {missing}; has {contents.files}")
            return make_events(contents["x"], contents["y"], contents["p"], contents["t"])
