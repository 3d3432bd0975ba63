"""The structured event array every event parser returns.

Fields: ``x``, ``y`` (pixel, ``uint16``), ``p`` (polarity 0 = OFF, 1 = ON, ``uint8``)
and ``t`` (timestamp in microseconds, ``int64``). Shape ``[N]``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "u1"), ("t", "<i8")])


def make_events(x: ArrayLike, y: ArrayLike, p: ArrayLike, t: ArrayLike) -> np.ndarray:
    """Pack equal-length ``x, y, p, t`` arrays into an ``[N]`` :data:`EVENT_DTYPE` array."""
    cols = [np.asarray(a).reshape(-1) for a in (x, y, p, t)]
    n = cols[0].shape[0]
    if any(c.shape[0] != n for c in cols):
        raise ValueError(
            "x, y, p, t must have the same length, got "
            f"{[c.shape[0] for c in cols]} (expected all {n})"
        )
    events = np.empty(n, dtype=EVENT_DTYPE)
    for name, col in zip(("x", "y", "p", "t"), cols, strict=True):
        events[name] = col
    return events


def check_events(events: np.ndarray, name: str = "events") -> np.ndarray:
    """Check ``events`` is a 1-D structured array with fields ``x, y, p, t``."""
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise TypeError(
            f"{name} must be a structured numpy array with fields x, y, p, t, "
            f"got {type(events).__name__}"
            + (f" of dtype {events.dtype}" if isinstance(events, np.ndarray) else "")
        )
    missing = [f for f in ("x", "y", "p", "t") if f not in events.dtype.names]
    if missing:
        raise ValueError(f"{name} lacks fields {missing}; has {list(events.dtype.names)}")
    if events.ndim != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {events.shape}")
    return events
