"""A minimal read-only FlatBuffers table reader (enough for AEDAT 4 headers/packets).

A buffer starts with a uint32 offset to its root table (after an optional uint32 size
prefix and a 4-byte file identifier). A table starts with an int32 offset back to its
vtable: uint16 vtable size, uint16 table size, then one uint16 offset per field
(0 = field absent, use the schema default).
"""

from __future__ import annotations

import struct


class FlatTable:
    """A table at byte ``pos`` of ``buf``."""

    def __init__(self, buf: bytes, pos: int) -> None:
        if not 0 <= pos <= len(buf) - 4:
            raise ValueError(f"flatbuffer table offset {pos} outside a {len(buf)}-byte buffer")
        self.buf = buf
        self.pos = pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        if not 0 <= self.vtable <= len(buf) - 4:
            raise ValueError(f"flatbuffer vtable offset {self.vtable} out of range")
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    @classmethod
    def root(cls, buf: bytes, size_prefixed: bool = False) -> FlatTable:
        """The root table of ``buf``."""
        base = 4 if size_prefixed else 0
        return cls(buf, base + struct.unpack_from("<I", buf, base)[0])

    def field_offset(self, index: int) -> int:
        """Byte offset of field ``index`` inside the table, 0 when absent."""
        slot = 4 + 2 * index
        if slot >= self.vtable_size:
            return 0
        return struct.unpack_from("<H", self.buf, self.vtable + slot)[0]

    def scalar(self, index: int, fmt: str, default: int | float = 0) -> int | float:
        """Scalar field ``index`` with struct format ``fmt`` (``"<i"``, ``"<q"``...)."""
        off = self.field_offset(index)
        return default if off == 0 else struct.unpack_from(fmt, self.buf, self.pos + off)[0]

    def _target(self, index: int) -> int | None:
        off = self.field_offset(index)
        if off == 0:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def string(self, index: int) -> str | None:
        """String field ``index`` (UTF-8) or ``None``."""
        at = self._target(index)
        if at is None:
            return None
        n = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4 : at + 4 + n].decode("utf-8")

    def vector(self, index: int) -> tuple[int, int]:
        """``(first_element_byte, length)`` of vector field ``index`` (``(0, 0)`` if absent)."""
        at = self._target(index)
        if at is None:
            return 0, 0
        return at + 4, struct.unpack_from("<I", self.buf, at)[0]
