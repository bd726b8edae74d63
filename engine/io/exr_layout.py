"""The byte layout of a single-part scanline OpenEXR file, as far as Doppel edits or checks it
without decoding: the header's attributes and where the chunk offset table begins.

Layout (OpenEXR, "OpenEXR File Layout"): magic `76 2f 31 01`, a version field whose flag
bits say tiled (0x200), deep (0x800) and multi-part (0x1000); attributes, each
`name\\0 type\\0 size:int32 value[size]`; a `\\0` closing the header; one uint64 offset per
chunk; the chunks, each `y:int32 packed_size:int32 bytes`. engine.io.exr_write drops an
attribute from a header (`type`), engine.io.exr_read checks the chunk table and narrows a
data window; both read the header through `header` here.
"""

from __future__ import annotations

from typing import NamedTuple

MAGIC = b"\x76\x2f\x31\x01"
_NOT_SCANLINE = 0x2 | 0x8 | 0x10  # tiled, deep, multi-part: the version field's byte 1
HEAD_LIMIT = 1 << 20  # a header is looked for in this many bytes (they hold a few KiB)


class Attribute(NamedTuple):
    """One header attribute: its name and type, and byte offsets in the file of its start,
    its value and its end."""

    name: bytes
    kind: bytes
    start: int
    value: int
    end: int


def header(data: bytes | memoryview) -> tuple[list[Attribute], int] | None:
    """The attributes of a single-part scanline file's header and the offset just after its
    closing `\\0` (where the chunk offset table begins); None for anything else (not an EXR,
    tiled, deep, multi-part, a header cut short or longer than `HEAD_LIMIT`)."""
    head = bytes(data[:HEAD_LIMIT])
    if len(head) < 9 or head[:4] != MAGIC or head[5] & _NOT_SCANLINE:
        return None
    attributes, pos = [], 8
    while pos < len(head):
        name_end = head.find(b"\0", pos)
        if name_end < 0:
            return None
        if name_end == pos:
            return attributes, pos + 1
        type_end = head.find(b"\0", name_end + 1)
        if type_end < 0 or type_end + 5 > len(head):
            return None
        size = int.from_bytes(head[type_end + 1:type_end + 5], "little", signed=True)
        if size < 0 or type_end + 5 + size > len(head):
            return None
        attributes.append(Attribute(head[pos:name_end], head[name_end + 1:type_end], pos,
                                    type_end + 5, type_end + 5 + size))
        pos = type_end + 5 + size
    return None


def find(attributes: list[Attribute], name: bytes, kind: bytes) -> Attribute | None:
    """The attribute of that name and type, or None."""
    return next((a for a in attributes if a.name == name and a.kind == kind), None)


def table_length(data: bytes | memoryview, end: int, size: int) -> int | None:
    """The number of chunk offsets in the table that begins at `end`, from its first offset
    (the chunks begin right after the table in every file written in increasing-y order), or
    None where that offset does not fit a table in a file of `size` bytes."""
    if end + 8 > len(data):
        return None
    first = int.from_bytes(data[end:end + 8], "little")
    count, rest = divmod(first - end, 8)
    return count if count >= 1 and not rest and first <= size else None
