"""iniVation AEDAT 4.0 files (DV software).

Layout: ``#!AER-DAT4.0\\r\\n``; an int32 size then an ``IOHeader`` flatbuffer
(compression enum, int64 data-table position, XML info node describing each stream);
then packets until the data table: int32 stream id, int32 byte size and a payload, a
size-prefixed flatbuffer, compressed per the header (LZ4 or Zstandard frames).
Event packets (``EVTS``) hold a vector of 16-byte structs: int64 timestamp (µs),
int16 x, int16 y, bool polarity.

LZ4 needs the optional ``lz4`` package, Zstandard the optional ``zstandard`` package.
A file that is empty, truncated (a cut header or packet, or a data table position past
the end) or garbled raises :class:`~spikeforge.data.errors.DataFileError` naming it,
also when the packets are decoded later (:meth:`Aedat4File.events`).
"""

from __future__ import annotations

import contextlib
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .._optional import optional_import
from ..errors import DataFileError, read_file_bytes, reading, require_at_least
from ..events import EVENT_DTYPE
from ._flatbuffer import FlatTable, unpack

MAGIC = b"#!AER-DAT4.0\r\n"
COMPRESSION = {0: "NONE", 1: "LZ4", 2: "LZ4_HIGH", 3: "ZSTD", 4: "ZSTD_HIGH"}
_RAW_EVENT = np.dtype(
    {"names": ["t", "x", "y", "p"], "formats": ["<i8", "<i2", "<i2", "u1"],
     "offsets": [0, 8, 10, 12], "itemsize": 16}
)  # fmt: skip


@dataclass
class Aedat4Stream:
    """One output stream described in the header's XML info node."""

    stream_id: int
    type_identifier: str
    name: str = ""
    width: int | None = None
    height: int | None = None


@dataclass
class Aedat4Packet:
    """Where one packet's (possibly compressed) payload lies in the file."""

    stream_id: int
    offset: int
    size: int


@dataclass
class Aedat4TableEntry:
    """One row of the file's data table (the packet index written at the end)."""

    offset: int
    stream_id: int
    size: int
    num_elements: int
    timestamp_start: int
    timestamp_end: int


@dataclass
class Aedat4File:
    """A parsed AEDAT 4 file: header, streams and packet table (payloads decoded lazily)."""

    buf: bytes
    compression: str
    data_table_position: int
    info_xml: str
    streams: dict[int, Aedat4Stream] = field(default_factory=dict)
    packets: list[Aedat4Packet] = field(default_factory=list)
    source: str | None = None  # the file's path, named by errors of later decoding

    @classmethod
    def from_bytes(cls, buf: bytes, source: str | None = None) -> Aedat4File:
        """Parse the header and enumerate the packets of an AEDAT 4 file's bytes."""
        if not buf.startswith(MAGIC):
            raise DataFileError(f"not an AEDAT 4.0 file: starts with {buf[:14]!r}")
        pos = len(MAGIC)
        require_at_least(len(buf) - pos, 4, "the AEDAT 4 header size")
        header_size = int(unpack(buf, "<i", pos))
        if header_size < 0:
            raise DataFileError(f"bad AEDAT 4 header size {header_size}")
        require_at_least(len(buf) - pos - 4, header_size, "the AEDAT 4 IOHeader")
        header = FlatTable.root(buf[pos + 4 : pos + 4 + header_size])
        code = int(header.scalar(0, "<i", 0))
        if code not in COMPRESSION:
            raise DataFileError(f"unknown AEDAT 4 compression code {code}")
        table_pos = int(header.scalar(1, "<q", -1))
        if table_pos > len(buf):
            raise DataFileError(
                f"truncated: the header puts the data table at byte {table_pos}, "
                f"but the file has {len(buf)} bytes"
            )
        info = header.string(2) or ""
        streams = parse_info_xml(info)
        file = cls(buf, COMPRESSION[code], table_pos, info, streams=streams, source=source)
        end = table_pos if table_pos > 0 else len(buf)
        pos += 4 + header_size
        while pos < end:
            if pos + 8 > end:
                raise DataFileError(
                    f"truncated: AEDAT 4 packet header at byte {pos} needs 8 bytes, "
                    f"found {end - pos}"
                )
            stream_id, size = struct.unpack_from("<ii", buf, pos)
            if size < 0 or pos + 8 + size > end:
                raise DataFileError(
                    f"truncated: AEDAT 4 packet at byte {pos} needs {size} bytes, "
                    f"found {end - pos - 8}"
                )
            file.packets.append(Aedat4Packet(stream_id, pos + 8, size))
            pos += 8 + size
        return file

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Aedat4File:
        """Read and parse ``path`` (errors, also of later decoding, name it)."""
        with reading(path, "AEDAT 4.0"):
            return cls.from_bytes(read_file_bytes(path, "AEDAT 4.0"), source=str(path))

    @contextlib.contextmanager
    def _decoding(self) -> Iterator[None]:
        """Name :attr:`source` in errors raised while decoding packets."""
        if self.source is None:
            yield
            return
        with reading(self.source, "AEDAT 4.0"):
            yield

    def payload(self, packet: Aedat4Packet) -> bytes:
        """The decompressed flatbuffer payload of ``packet``."""
        raw = self.buf[packet.offset : packet.offset + packet.size]
        if self.compression == "NONE":
            return raw
        if self.compression.startswith("LZ4"):
            lz4_frame = optional_import("lz4.frame", "reading LZ4-compressed AEDAT 4", "lz4")
            return lz4_frame.decompress(raw)
        zstd = optional_import("zstandard", "reading Zstandard-compressed AEDAT 4")
        return zstd.ZstdDecompressor().decompressobj().decompress(raw)

    def data_table(self) -> list[Aedat4TableEntry]:
        """The packet index at ``data_table_position`` (``[]`` when the file has none).

        It is a size-prefixed ``FileDataTable`` flatbuffer, compressed like the packets.
        """
        if self.data_table_position <= 0:
            return []
        with self._decoding():
            return self._data_table()

    def _data_table(self) -> list[Aedat4TableEntry]:
        tail = Aedat4Packet(-1, self.data_table_position, len(self.buf) - self.data_table_position)
        buf = self.payload(tail)
        start, count = FlatTable.root(buf, size_prefixed=True).vector(0)
        entries = []
        for i in range(count):
            at = start + 4 * i
            row = FlatTable(buf, at + int(unpack(buf, "<I", at)))
            info = row.field_offset(1)
            stream_id, size = (
                (int(unpack(buf, "<i", row.pos + info)), int(unpack(buf, "<i", row.pos + info + 4)))
                if info
                else (-1, 0)
            )
            entries.append(
                Aedat4TableEntry(
                    offset=int(row.scalar(0, "<q", -1)),
                    stream_id=stream_id,
                    size=size,
                    num_elements=int(row.scalar(2, "<q", 0)),
                    timestamp_start=int(row.scalar(3, "<q", -1)),
                    timestamp_end=int(row.scalar(4, "<q", -1)),
                )
            )
        return entries

    def event_stream_ids(self) -> list[int]:
        """Ids of the streams whose type is ``EVTS`` (polarity events)."""
        return sorted(s for s, info in self.streams.items() if info.type_identifier == "EVTS")

    def events(self, stream_id: int | None = None) -> np.ndarray:
        """All events of ``stream_id`` (default: the first ``EVTS`` stream) as ``[N]``."""
        if stream_id is None:
            ids = self.event_stream_ids()
            if not ids:
                raise DataFileError("AEDAT 4 file has no EVTS (event) stream", self.source)
            stream_id = ids[0]
        elif stream_id in self.streams and self.streams[stream_id].type_identifier != "EVTS":
            raise ValueError(
                f"stream {stream_id} holds {self.streams[stream_id].type_identifier!r}, "
                "expected 'EVTS'"
            )
        with self._decoding():
            chunks = [
                decode_event_packet(self.payload(p))
                for p in self.packets
                if p.stream_id == stream_id
            ]
        return np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)


def parse_info_xml(info: str) -> dict[int, Aedat4Stream]:
    """Streams described by the IOHeader's XML ``outInfo`` node."""
    if not info.strip():
        return {}
    try:
        root = ET.fromstring(info)
    except ET.ParseError as error:
        raise DataFileError(
            f"the AEDAT 4 header's XML stream info is malformed ({error})"
        ) from None
    streams: dict[int, Aedat4Stream] = {}
    for node in root.iter("node"):
        name = node.get("name", "")
        if not name.isdigit():
            continue
        attrs = {a.get("key"): (a.text or "") for a in node.iter("attr")}
        if "typeIdentifier" not in attrs:
            continue
        width, height = attrs.get("sizeX"), attrs.get("sizeY")
        streams[int(name)] = Aedat4Stream(
            stream_id=int(name),
            type_identifier=attrs["typeIdentifier"],
            name=attrs.get("originalOutputName", ""),
            width=int(width) if width else None,
            height=int(height) if height else None,
        )
    return streams


def decode_event_packet(payload: bytes) -> np.ndarray:
    """Decode a size-prefixed ``EventPacket`` flatbuffer into ``[N]`` events."""
    if len(payload) < 12 or payload[8:12] != b"EVTS":
        raise DataFileError(f"not an EventPacket: identifier {payload[8:12]!r}, expected b'EVTS'")
    start, count = FlatTable.root(payload, size_prefixed=True).vector(0)
    if start + 16 * count > len(payload):
        raise DataFileError(
            f"truncated: EventPacket claims {count} events but holds {len(payload)} bytes"
        )
    raw = np.frombuffer(payload, dtype=_RAW_EVENT, count=count, offset=start) if count else None
    events = np.empty(count, dtype=EVENT_DTYPE)
    if raw is not None:
        events["x"], events["y"] = raw["x"], raw["y"]
        events["p"], events["t"] = raw["p"] != 0, raw["t"]
    return events


def read_aedat4(path: str | os.PathLike[str], stream_id: int | None = None) -> np.ndarray:
    """Read the polarity events of an AEDAT 4 file (first ``EVTS`` stream by default).

    Raises:
        DataFileError: naming ``path``: empty, not AEDAT 4, truncated or corrupt.
    """
    return Aedat4File.open(path).events(stream_id)
