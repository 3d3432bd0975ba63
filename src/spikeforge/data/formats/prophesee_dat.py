"""Prophesee / ATIS ``.dat`` files, version 2 (e.g. N-CARS).

Layout: ASCII header lines starting with ``%``; then one byte event type and one byte
event size (8); then little-endian 8-byte events: uint32 timestamp (µs) and uint32
packed ``x`` (bits 0-13), ``y`` (bits 14-27) and polarity (bits 28-31).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataFileError, read_file_bytes, reading
from ..events import EVENT_DTYPE


@dataclass
class DatHeader:
    """Parsed header of a ``.dat`` file."""

    lines: list[str] = field(default_factory=list)
    version: int | None = None
    event_type: int = 0
    event_size: int = 8
    data_offset: int = 0


def parse_dat_header(buf: bytes) -> DatHeader:
    """Parse the ``%`` header lines and the type/size bytes that follow them."""
    header = DatHeader()
    pos = 0
    while pos < len(buf) and buf[pos : pos + 1] == b"%":
        end = buf.find(b"\n", pos)
        end = len(buf) if end < 0 else end
        line = buf[pos + 1 : end].decode("latin-1").strip()
        header.lines.append(line)
        if line.lower().startswith("version"):
            parts = line.split()
            if len(parts) > 1 and parts[1].isdigit():
                header.version = int(parts[1])
        pos = end + 1
    if pos + 2 > len(buf):
        raise DataFileError("truncated: DAT file ends before the event type/size bytes")
    header.event_type, header.event_size = buf[pos], buf[pos + 1]
    header.data_offset = pos + 2
    if header.event_size != 8:
        raise DataFileError(f"DAT event size is {header.event_size} bytes; expected 8")
    return header


def parse_prophesee_dat(buf: bytes) -> tuple[DatHeader, np.ndarray]:
    """Decode a DAT file's bytes; see :func:`read_prophesee_dat`."""
    header = parse_dat_header(buf)
    body = len(buf) - header.data_offset
    if body % 8:
        raise DataFileError(
            f"truncated: DAT event data is {body} bytes, not a multiple of 8 "
            "(the last event is cut short)"
        )
    raw = np.frombuffer(buf, dtype="<u4", offset=header.data_offset).reshape(-1, 2)
    packed = raw[:, 1]
    events = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
    events["t"] = raw[:, 0]
    events["x"] = packed & 0x3FFF
    events["y"] = (packed >> 14) & 0x3FFF
    events["p"] = (packed >> 28) & 0xF
    return header, events


def read_prophesee_dat(path: str | os.PathLike[str]) -> tuple[DatHeader, np.ndarray]:
    """Read a Prophesee DAT v2 file.

    Returns:
        ``(header, events)`` with ``events`` an ``[N]`` x, y, p, t (µs) array; a header
        without events is a valid (empty) recording.

    Raises:
        DataFileError: naming ``path``: empty, truncated, or an unexpected event size.
    """
    with reading(path, "Prophesee DAT"):
        return parse_prophesee_dat(read_file_bytes(path, "Prophesee DAT"))
