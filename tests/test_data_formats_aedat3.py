import struct
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.aedat3 import parse_aedat3, read_aedat3

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def polarity_packet(events: list[tuple[int, int, int, int, bool]], overflow: int = 0) -> bytes:
    """(x, y, p, ts, valid) -> one AEDAT 3.1 polarity packet."""
    head = struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, len(events), len(events), len(events))
    body = b"".join(
        struct.pack("<Ii", x << 17 | y << 2 | p << 1 | int(valid), ts)
        for x, y, p, ts, valid in events
    )
    return head + body


def special_packet() -> bytes:
    return struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, 2, 2, 2) + bytes(16)


def write(path: Path) -> None:
    first = polarity_packet([(0, 0, 1, 10, True), (127, 5, 0, 20, True), (3, 3, 1, 25, False)])
    last = polarity_packet([(64, 127, 1, 7, True)], overflow=1)
    path.write_bytes(HEADER + first + special_packet() + last)


def test_round_trip(tmp_path: Path) -> None:
    write(tmp_path / "user01_fluorescent.aedat")
    header, events = read_aedat3(tmp_path / "user01_fluorescent.aedat")
    assert header[0] == "#!AER-DAT3.1" and header[-1] == "#!END-HEADER"
    assert events.tolist() == [(0, 0, 1, 10), (127, 5, 0, 20), (64, 127, 1, (1 << 31) + 7)]
    assert np.all(np.diff(events["t"]) > 0)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an AEDAT 3.1"):
        parse_aedat3(b"#!AER-DAT2.0\r\n")
    with pytest.raises(ValueError, match="END-HEADER"):
        parse_aedat3(b"#!AER-DAT3.1\r\n")
    with pytest.raises(ValueError, match="bad AEDAT 3.1 packet"):
        parse_aedat3(HEADER + polarity_packet([(1, 1, 1, 1, True)])[:-4])
    assert parse_aedat3(HEADER)[1].shape == (0,)


def test_garbled_packet_header_is_refused_not_looped_on(tmp_path: Path) -> None:
    # a negative capacity once moved the read position backwards (an endless loop)
    bad = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, -5, -10, 0) + bytes(16)
    path = tmp_path / "user01_led.aedat"
    path.write_bytes(HEADER + bad)
    with pytest.raises(DataFileError, match=r"user01_led\.aedat: bad AEDAT 3.1 packet at byte"):
        read_aedat3(path)
    path.write_bytes(HEADER + polarity_packet([(1, 1, 1, 1, True)] * 3)[:-5])
    with pytest.raises(DataFileError, match=r"user01_led\.aedat: .* truncated: .* found 19"):
        read_aedat3(path)
