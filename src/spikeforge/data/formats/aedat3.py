"""iniVation / cAER AEDAT 3.1 files (e.g. DVS128 Gesture ``userNN_<light>.aedat``).

Layout: ASCII header lines starting with ``#`` from ``#!AER-DAT3.1`` to
``#!END-HEADER``; then packets, each a 28-byte little-endian header (int16 event type,
int16 source, int32 event size, int32 timestamp offset, int32 timestamp overflow,
int32 capacity, int32 number, int32 valid) followed by ``capacity * size`` bytes.
Polarity events (type 1, 8 bytes) are uint32 data (bit 0 valid, bit 1 polarity,
bits 2-16 y, bits 17-31 x) and int32 timestamp; the full time in µs is
``overflow << 31 | timestamp``. Other packet types are skipped.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading
from ..events import EVENT_DTYPE
from .aedat2 import split_hash_header

MAGIC = b"#!AER-DAT3.1"
END_HEADER = "#!END-HEADER"
PACKET_HEADER = struct.Struct("<hhiiiiii")
POLARITY_EVENT = 1


def parse_aedat3(buf: bytes) -> tuple[list[str], np.ndarray]:
    """Decode AEDAT 3.1 bytes; see :func:`read_aedat3`."""
    if not buf.startswith(MAGIC):
        raise DataFileError(f"not an AEDAT 3.1 file: starts with {buf[:12]!r}, expected {MAGIC!r}")
    header, pos = split_hash_header(buf)
    if not header or header[-1] != END_HEADER:
        raise DataFileError(f"AEDAT 3.1 header does not end with {END_HEADER!r}: truncated?")
    chunks: list[np.ndarray] = []
    while pos < len(buf):
        if pos + PACKET_HEADER.size > len(buf):
            raise DataFileError(
                f"truncated: AEDAT 3.1 packet header at byte {pos} needs {PACKET_HEADER.size} "
                f"bytes, found {len(buf) - pos}"
            )
        etype, _src, esize, _tsoff, overflow, capacity, number, _valid = PACKET_HEADER.unpack_from(
            buf, pos
        )
        start = pos
        pos += PACKET_HEADER.size
        nbytes = capacity * esize
        if esize <= 0 or number < 0 or capacity < number:
            raise DataFileError(
                f"bad AEDAT 3.1 packet at byte {start}: event size {esize}, "
                f"capacity {capacity}, number {number}"
            )
        if pos + nbytes > len(buf):
            raise DataFileError(
                f"bad AEDAT 3.1 packet at byte {start}: truncated: its {capacity} events of "
                f"{esize} bytes need {nbytes} bytes, found {len(buf) - pos}"
            )
        if etype == POLARITY_EVENT:
            if esize != 8:
                raise DataFileError(f"polarity events must be 8 bytes, packet says {esize}")
            raw = np.frombuffer(buf, dtype="<u4", count=2 * number, offset=pos).reshape(-1, 2)
            data = raw[:, 0]
            keep = (data & 1).astype(bool)
            data = data[keep]
            ev = np.empty(data.shape[0], dtype=EVENT_DTYPE)
            ev["x"] = (data >> 17) & 0x7FFF
            ev["y"] = (data >> 2) & 0x7FFF
            ev["p"] = (data >> 1) & 1
            ev["t"] = raw[keep, 1].view("<i4").astype(np.int64) | (np.int64(overflow) << 31)
            chunks.append(ev)
        pos += nbytes
    events = np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)
    return header, events


def read_aedat3(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read the polarity events of an AEDAT 3.1 file.

    Returns:
        ``(header_lines, events)``: ``[N]`` valid polarity events (x, y, p, t in µs). A
        header without packets is a valid (empty) recording.

    Raises:
        DataFileError: naming ``path``: empty, not AEDAT 3.1, a bad or truncated packet.
    """
    with reading(path, "AEDAT 3.1"):
        return parse_aedat3(read_file_bytes(path, "AEDAT 3.1"))
