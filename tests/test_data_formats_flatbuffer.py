import struct

import pytest

from spikeforge.data.errors import DataFileError
from spikeforge.data.formats._flatbuffer import FlatTable


def test_table_fields_and_defaults() -> None:
    # root offset 12 -> table at 12; vtable at 4: size 8, table size 8, fields at 4 and (absent)
    buf = struct.pack("<I", 12) + struct.pack("<HHHH", 8, 8, 4, 0) + struct.pack("<ii", 8, 77)
    table = FlatTable.root(buf)
    assert table.scalar(0, "<i") == 77
    assert table.scalar(1, "<i", -5) == -5  # absent: schema default
    assert table.scalar(9, "<q", 3) == 3  # beyond the vtable: default too
    assert table.string(1) is None and table.vector(1) == (0, 0)


def test_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        FlatTable(b"\0" * 8, 100)


def test_reads_past_the_end_say_so() -> None:
    buf = struct.pack("<I", 12) + struct.pack("<HHHH", 8, 8, 4, 0) + struct.pack("<ii", 8, 77)
    table = FlatTable.root(buf)
    with pytest.raises(DataFileError, match=r"8-byte read at offset 16 is outside the 20-byte"):
        table.scalar(0, "<q")  # a 4-byte field read as 8 bytes runs past the end
    with pytest.raises(DataFileError, match="outside"):
        FlatTable.root(buf[:2])  # not even the root offset
    # a string whose length runs past the buffer (a truncated file)
    strbuf = struct.pack("<I", 12) + struct.pack("<HHHH", 8, 8, 4, 0)
    strbuf += struct.pack("<iI", 8, 4) + struct.pack("<I", 100) + b"abc"
    with pytest.raises(DataFileError, match="100-byte string .* runs past the end"):
        FlatTable.root(strbuf).string(0)
