"""jAER AEDAT 2.0 files (e.g. CIFAR10-DVS ``.aedat``, recorded with a DVS128).

Layout: ASCII header lines starting with ``#`` (the first is ``#!AER-DAT2.0``), then
8-byte big-endian events: uint32 address, uint32 timestamp (µs). DVS128 addresses
pack polarity in bit 0, x in bits 1-7 and y in bits 8-14.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading
from ..events import EVENT_DTYPE

MAGIC = b"#!AER-DAT2.0"


def split_hash_header(buf: bytes) -> tuple[list[str], int]:
    """Return the ``#`` header lines and the offset of the first data byte."""
    lines: list[str] = []
    pos = 0
    while buf[pos : pos + 1] == b"#":
        end = buf.find(b"\n", pos)
        if end < 0:
            raise DataFileError(f"truncated: header line at byte {pos} has no newline")
        lines.append(buf[pos:end].decode("latin-1").rstrip("\r"))
        pos = end + 1
    return lines, pos


def unwrap_timestamps(ts: np.ndarray, bits: int = 32) -> np.ndarray:
    """Undo counter wrap-around of unsigned ``bits``-bit timestamps (int64 out)."""
    ts = ts.astype(np.int64)
    if ts.size < 2:
        return ts
    wraps = np.concatenate(([0], np.cumsum(np.diff(ts) < -(1 << (bits - 1)))))
    return ts + (wraps << bits)


def parse_aedat2(buf: bytes) -> tuple[list[str], np.ndarray]:
    """Decode AEDAT 2.0 bytes; see :func:`read_aedat2`."""
    if not buf.startswith(MAGIC):
        raise DataFileError(f"not an AEDAT 2.0 file: starts with {buf[:12]!r}, expected {MAGIC!r}")
    header, offset = split_hash_header(buf)
    body = len(buf) - offset
    if body % 8:
        raise DataFileError(
            f"truncated: AEDAT 2.0 event data is {body} bytes, not a multiple of 8 "
            "(the last event is cut short)"
        )
    raw = np.frombuffer(buf, dtype=">u4", offset=offset).reshape(-1, 2)
    address = raw[:, 0]
    events = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
    events["p"] = address & 0x1
    events["x"] = (address >> 1) & 0x7F
    events["y"] = (address >> 8) & 0x7F
    events["t"] = unwrap_timestamps(raw[:, 1])
    return header, events


def read_aedat2(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read a DVS128 AEDAT 2.0 recording.

    Returns:
        ``(header_lines, events)``; ``events`` holds the *raw* DVS128 address fields
        (x, y in 0..127 as the sensor reports them, p = address bit 0, t in µs).
        A header without events is a valid (empty) recording.

    Raises:
        DataFileError: naming ``path``: empty, not AEDAT 2.0, or truncated.
    """
    with reading(path, "AEDAT 2.0"):
        return parse_aedat2(read_file_bytes(path, "AEDAT 2.0"))
