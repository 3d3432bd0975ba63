import struct
from pathlib import Path

import numpy as np
import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats.aedat4 import MAGIC, Aedat4File, decode_event_packet, read_aedat4
from spikeforge.data.paths import find_shared_data

SHARED = find_shared_data()

INFO = """<dv version="2.0"><node name="outInfo" path="/outInfo/">
<node name="0" path="/outInfo/0/"><attr key="compression" type="string">NONE</attr>
<attr key="originalOutputName" type="string">events</attr>
<attr key="typeIdentifier" type="string">EVTS</attr>
<node name="info" path="/outInfo/0/info/"><attr key="sizeX" type="int">64</attr>
<attr key="sizeY" type="int">48</attr></node></node>
<node name="1" path="/outInfo/1/"><attr key="typeIdentifier" type="string">IMUS</attr></node>
</node></dv>"""


@pytest.fixture(scope="module")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("shared data folder (shared/data above the repo) not found")
    return SHARED


def io_header(compression: int, table_pos: int, info: str) -> bytes:
    """An IOHeader flatbuffer: vtable at 4, table at 16, string after the table."""
    text = info.encode()
    vtable = struct.pack("<HHHHH", 10, 20, 4, 12, 8) + b"\0\0"
    table = struct.pack("<iiIq", 12, compression, 36 - 24, table_pos)
    string = struct.pack("<I", len(text)) + text + b"\0"
    return struct.pack("<I", 16) + vtable + table + string + b"\0" * (-len(string) % 4)


def event_packet(events: np.ndarray) -> bytes:
    """A size-prefixed EventPacket flatbuffer holding ``events`` (x, y, p, t)."""
    body = struct.pack("<I4s", 16, b"EVTS") + struct.pack("<HHH", 6, 8, 4) + b"\0\0"
    body += struct.pack("<iII", 8, 4, events.shape[0])
    for e in events:
        body += struct.pack("<qhh?3x", int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
    return struct.pack("<I", len(body)) + body


def write_aedat4(path: Path, chunks: list[np.ndarray], code: int, compress=lambda b: b) -> None:
    header = io_header(code, -1, INFO)
    out = MAGIC + struct.pack("<i", len(header)) + header
    for chunk in chunks:
        payload = compress(event_packet(chunk))
        out += struct.pack("<ii", 0, len(payload)) + payload
        imu = compress(b"\x10\0\0\0\x10\0\0\0IMUS" + bytes(8))
        out += struct.pack("<ii", 1, len(imu)) + imu
    path.write_bytes(out)


def some_events(n: int, start: int) -> np.ndarray:
    from spikeforge.data.events import make_events

    rng = np.random.default_rng(start)
    return make_events(
        rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n),
        start + np.arange(n) * 7,
    )  # fmt: skip


@pytest.mark.parametrize("codec", ["NONE", "LZ4", "ZSTD"])
def test_synthetic_round_trip(tmp_path: Path, codec: str) -> None:
    compress, code = (lambda b: b), 0
    if codec == "LZ4":
        compress, code = pytest.importorskip("lz4.frame").compress, 1
    elif codec == "ZSTD":
        compress, code = pytest.importorskip("zstandard").ZstdCompressor().compress, 3
    chunks = [some_events(5, 1_000), some_events(0, 2_000), some_events(9, 3_000)]
    write_aedat4(tmp_path / "x.aedat4", chunks, code, compress)
    file = Aedat4File.open(tmp_path / "x.aedat4")
    assert file.compression == codec
    assert file.streams[0].width == 64 and file.streams[0].height == 48
    assert file.streams[1].type_identifier == "IMUS"
    assert len(file.packets) == 6 and file.data_table() == []
    assert np.array_equal(file.events(), np.concatenate(chunks))
    with pytest.raises(ValueError, match="expected 'EVTS'"):
        file.events(1)


def test_real_sample(shared: Path) -> None:
    path = shared / "event_format_samples/sample.aedat4"
    pytest.importorskip("lz4", reason="the sample's packets are LZ4-compressed")
    file = Aedat4File.open(path)
    assert file.compression == "LZ4"
    assert file.event_stream_ids() == [0]
    assert (file.streams[0].width, file.streams[0].height) == (320, 240)
    assert {s.type_identifier for s in file.streams.values()} == {"EVTS", "IMUS", "TRIG"}
    assert len(file.packets) == 118
    events = read_aedat4(path)
    assert events["x"].max() < 320 and events["y"].max() < 240
    assert np.all(np.diff(events["t"]) >= 0)
    assert 0.3 < events["p"].mean() < 0.7
    # the file's own packet index agrees with the packets we decoded
    table = [e for e in file.data_table() if e.stream_id == 0]
    assert sum(e.num_elements for e in table) == events.shape[0] == 111954
    assert table[0].timestamp_start == events["t"][0]
    assert table[-1].timestamp_end == events["t"][-1]
    assert [e.offset for e in file.data_table()] == [p.offset for p in file.packets]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an AEDAT 4.0"):
        Aedat4File.from_bytes(b"#!AER-DAT3.1\r\n")
    with pytest.raises(ValueError, match="EVTS"):
        decode_event_packet(b"\x10\0\0\0\x10\0\0\0IMUS" + bytes(8))


def test_truncated_or_corrupt_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.aedat4"
    header = io_header(0, 10_000, INFO)  # the data table would be at byte 10000
    path.write_bytes(MAGIC + struct.pack("<i", len(header)) + header)
    with pytest.raises(DataFileError, match=r"x\.aedat4: truncated: .* data table at byte 10000"):
        Aedat4File.open(path)
    # a broken LZ4 payload fails when the events are decoded, still naming the file
    lz4 = pytest.importorskip("lz4.frame")

    def spoil(data: bytes) -> bytes:
        return lz4.compress(data)[:-10]  # an incomplete frame inside a whole packet

    write_aedat4(path, [some_events(50, 0)], 1, spoil)
    file = Aedat4File.open(path)  # the packet layout is intact
    with pytest.raises(DataFileError, match=r"x\.aedat4: cannot be read as AEDAT 4\.0"):
        file.events()
    with pytest.raises(DataFileError, match=r"x\.aedat4: "):
        read_aedat4(path)
