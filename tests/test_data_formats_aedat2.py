from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.formats.aedat2 import parse_aedat2, read_aedat2, unwrap_timestamps

HEADER = (
    b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
    b"# Data format is int32 address, int32 timestamp (8 bytes total)\r\n"
)


def write(path: Path, rows: list[tuple[int, int, int, int]]) -> None:
    """(x, y, p, t) -> a DVS128 AEDAT 2.0 file (big-endian address, timestamp)."""
    body = np.array([(y << 8 | x << 1 | p, t) for x, y, p, t in rows], dtype=">u4")
    path.write_bytes(HEADER + body.tobytes())


def test_round_trip(tmp_path: Path) -> None:
    rows = [(0, 0, 0, 5), (127, 3, 1, 6), (12, 127, 1, 1000)]
    write(tmp_path / "cifar10_cat_0.aedat", rows)
    header, events = read_aedat2(tmp_path / "cifar10_cat_0.aedat")
    assert header[0] == "#!AER-DAT2.0" and len(header) == 3
    assert events.tolist() == rows


def test_timestamp_wrap() -> None:
    ts = np.array([(1 << 32) - 10, (1 << 32) - 1, 3, 20], dtype=np.uint32)
    assert np.diff(unwrap_timestamps(ts)).tolist() == [9, 4, 17]


def test_errors() -> None:
    with pytest.raises(ValueError, match="not an AEDAT 2.0"):
        parse_aedat2(b"#!AER-DAT3.1\r\n")
    with pytest.raises(ValueError, match="multiple of 8"):
        parse_aedat2(HEADER + bytes(5))
