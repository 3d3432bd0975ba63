import struct
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.formats.prophesee_dat import parse_prophesee_dat, read_prophesee_dat
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def test_ncars_sample(shared: Path) -> None:
    path = shared / "event_format_samples/sample_ncars.dat"
    header, events = read_prophesee_dat(path)
    assert header.version == 2
    assert any("Date" in line for line in header.lines)
    assert (header.event_type, header.event_size) == (0, 8)
    assert events.shape[0] == (path.stat().st_size - header.data_offset) // 8
    # N-CARS samples are crops of the 304x240 ATIS sensor, at most 120x100
    assert events["x"].max() < 120 and events["y"].max() < 100
    assert set(np.unique(events["p"]).tolist()) == {0, 1}
    assert np.all(np.diff(events["t"]) >= 0)
    assert events["t"][-1] <= 100_000  # 100 ms samples


def test_synthetic_packing() -> None:
    rows = [(5, 303, 239, 1), (9, 0, 0, 0), (12, 16383, 16383, 1)]
    body = b"".join(struct.pack("<II", t, x | y << 14 | p << 28) for t, x, y, p in rows)
    header, events = parse_prophesee_dat(b"% Version 2\n% Height 240\n" + bytes([0, 8]) + body)
    assert header.lines == ["Version 2", "Height 240"]
    assert events.tolist() == [(x, y, p, t) for t, x, y, p in rows]
    with pytest.raises(ValueError, match="multiple of 8"):
        parse_prophesee_dat(b"% v\n" + bytes([0, 8]) + body[:-1])
    with pytest.raises(ValueError, match="expected 8"):
        parse_prophesee_dat(b"% v\n" + bytes([0, 16]))
