"""A minimal read-only FlatBuffers table reader (enough for AEDAT 4 headers/packets).

A buffer starts with a uint32 offset to its root table (after an optional uint32 size
prefix and a 4-byte file identifier). A table starts with an int32 offset back to its
vtable: uint16 vtable size, uint16 table size, then one uint16 offset per field
(0 = field absent, use the schema default).

Every read is bounds-checked: an offset outside the buffer (a truncated or corrupt
file) raises :class:`~spikeforge.data.errors.DataFileError` saying so, never a bare
``struct.error``.
"""

from __future__ import annotations

import struct

from ..errors import DataFileError


def unpack(buf: bytes, fmt: str, at: int) -> int | float:
    """The single value of struct format ``fmt`` at byte ``at`` of ``buf``, bounds-checked."""
    size = struct.calcsize(fmt)
    if not 0 <= at <= len(buf) - size:
        raise DataFileError(
            f"flatbuffer: a {size}-byte read at offset {at} is outside the {len(buf)}-byte "
            "buffer (truncated or corrupt data)"
        )
    return struct.unpack_from(fmt, buf, at)[0]


class FlatTable:
    """A table at byte ``pos`` of ``buf``."""

    def __init__(self, buf: bytes, pos: int) -> None:
        if not 0 <= pos <= len(buf) - 4:
            raise DataFileError(
                f"flatbuffer table offset {pos} outside a {len(buf)}-byte buffer "
                "(truncated or corrupt data)"
            )
        self.buf = buf
        self.pos = pos
        self.vtable = pos - int(unpack(buf, "<i", pos))
        if not 0 <= self.vtable <= len(buf) - 4:
            raise DataFileError(
                f"flatbuffer vtable offset {self.vtable} out of range of a {len(buf)}-byte "
                "buffer (truncated or corrupt data)"
            )
        self.vtable_size = int(unpack(buf, "<H", self.vtable))

    @classmethod
    def root(cls, buf: bytes, size_prefixed: bool = False) -> FlatTable:
        """The root table of ``buf``."""
        base = 4 if size_prefixed else 0
        return cls(buf, base + int(unpack(buf, "<I", base)))

    def field_offset(self, index: int) -> int:
        """Byte offset of field ``index`` inside the table, 0 when absent."""
        slot = 4 + 2 * index
        if slot >= self.vtable_size:
            return 0
        return int(unpack(self.buf, "<H", self.vtable + slot))

    def scalar(self, index: int, fmt: str, default: int | float = 0) -> int | float:
        """Scalar field ``index`` with struct format ``fmt`` (``"<i"``, ``"<q"``...)."""
        off = self.field_offset(index)
        return default if off == 0 else unpack(self.buf, fmt, self.pos + off)

    def _target(self, index: int) -> int | None:
        off = self.field_offset(index)
        if off == 0:
            return None
        at = self.pos + off
        return at + int(unpack(self.buf, "<I", at))

    def string(self, index: int) -> str | None:
        """String field ``index`` (UTF-8) or ``None``."""
        at = self._target(index)
        if at is None:
            return None
        n = int(unpack(self.buf, "<I", at))
        if at + 4 + n > len(self.buf):
            raise DataFileError(
                f"flatbuffer: a {n}-byte string at offset {at} runs past the end of the "
                f"{len(self.buf)}-byte buffer (truncated data)"
            )
        try:
            return self.buf[at + 4 : at + 4 + n].decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataFileError(
                f"flatbuffer: string at offset {at} is not UTF-8 ({error})"
            ) from None

    def vector(self, index: int) -> tuple[int, int]:
        """``(first_element_byte, length)`` of vector field ``index`` (``(0, 0)`` if absent)."""
        at = self._target(index)
        if at is None:
            return 0, 0
        return at + 4, int(unpack(self.buf, "<I", at))
