"""The N-MNIST binary event format (``.bin`` / SLAYER's ``.bs2``).

Each event is 5 bytes: byte 0 = x, byte 1 = y, then the top bit of byte 2 is the
polarity and the remaining 23 bits (bytes 2..4, big-endian) the timestamp in µs.

The format has no header: a file is nothing but its events. :func:`read_nmnist_bin`
therefore refuses a 0-byte file (it holds no recording at all: every N-MNIST recording,
three saccades over a digit, has thousands of events, so an empty file is a failed
copy or download, not a blank sample) and a size that is not a multiple of 5 (the last
event is cut short). :func:`parse_nmnist_bin` on bytes accepts ``b""`` (zero events).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading
from ..events import EVENT_DTYPE

EVENT_BYTES = 5


def parse_nmnist_bin(buf: bytes) -> np.ndarray:
    """Decode N-MNIST bytes into an ``[N]`` :data:`~spikeforge.data.events.EVENT_DTYPE` array."""
    if len(buf) % EVENT_BYTES:
        raise DataFileError(
            f"truncated: N-MNIST data must be a multiple of {EVENT_BYTES} bytes (one event "
            f"each), got {len(buf)} bytes: the last event is cut short"
        )
    raw = np.frombuffer(buf, dtype=np.uint8).reshape(-1, EVENT_BYTES)
    events = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
    events["x"] = raw[:, 0]
    events["y"] = raw[:, 1]
    events["p"] = raw[:, 2] >> 7
    events["t"] = (
        (raw[:, 2].astype(np.int64) & 0x7F) << 16
        | raw[:, 3].astype(np.int64) << 8
        | raw[:, 4].astype(np.int64)
    )
    return events


def read_nmnist_bin(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one N-MNIST recording; returns ``[N]`` events (x, y, p, t in µs).

    Raises:
        DataFileError: naming ``path``: an empty (0-byte) file, or a truncated one.
    """
    with reading(path, "N-MNIST events"):
        return parse_nmnist_bin(read_file_bytes(path, "N-MNIST event"))
