"""Scanline EXR pixels decoded by OpenEXR's own Python binding, whole frames (`decode`) and
row ranges (`decode_rows`, a face region): the arrays OpenImageIO gives, for about a third to
a half of its CPU.

Why: a render decodes every plate whole. Measured on a 2-core AMD EPYC (docs/benchmarks.md):
a 4K RGBA half zip plate costs 117–151 ms wall and 223–282 ms CPU through OpenImageIO, 43–52
and 83–86 through the binding (each channel decoded into its own array, interleaved here);
1080p 29 / 56 against 13 / 22.

What it decodes: the header stays OpenImageIO's (engine.io.image opens the file, checks its
layout, reads its attributes and geometry, and reads everything else itself).
The binding decodes the pixels of a single-part scanline file whose channels are all half or
float at full resolution, into the channel order OpenImageIO gives, as float16 or float32 as
asked (half to float is exact; a float channel is not read as half). Anything else, and any
failure of the binding (a truncated or damaged file), gives None: OpenImageIO reads the file
as before, and its error names what is wrong. A file whose chunk table does not fit the file
(truncated, or left by a writer that died) is not given to the binding at all
(`chunks_complete`): it prints its own warnings for those. A chunk damaged inside (its table
and leader intact) reaches the binding, whose warning line on `sys.stdout` is kept off the
command's output (`_stdout_of_others`); OpenEXR's own lines on stderr remain for that case.
tests/engine/test_exr_io.py compares both readers' arrays bit for bit.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import OpenImageIO as oiio

from engine.io import exr_layout
from engine.io.exr_write import DTYPES as _DTYPES
from engine.io.exr_write import LINES, binding, enabled, use_threads


def _formats(spec: oiio.ImageSpec, kind: str) -> list[str] | None:
    """Each channel's type where the binding may decode this file as `kind`, else None."""
    if (not enabled() or kind not in _DTYPES or spec.tile_width or spec.deep
            or spec.get_int_attribute("oiio:subimages", 1) > 1):
        return None
    formats = [str(f) for f in spec.channelformats] or [str(spec.format)] * spec.nchannels
    names = list(spec.channelnames)
    if any(f not in _DTYPES for f in formats) or (kind == "half" and "float" in formats) \
            or len(set(names)) != len(names):
        return None
    return formats


def _decoded(source: str | io.BytesIO, spec: oiio.ImageSpec, kind: str, formats: list[str],
             height: int) -> np.ndarray | None:
    """The binding's decode of `source` (a path, or a file in memory) as `height`×W×C of
    `kind` in `spec`'s channel order; None where it fails or is not what `spec` says."""
    names = list(spec.channelnames)
    use_threads()
    try:
        with _stdout_of_others(), binding().File(source, separate_channels=True) as f:
            if len(f.parts) != 1:
                return None
            channels = f.channels()
            if sorted(channels) != sorted(names):
                return None
            out = np.empty((height, spec.width, len(names)), _DTYPES[kind])
            for k, name in enumerate(names):
                ch = channels[name]
                plane = ch.pixels
                if (ch.xSampling, ch.ySampling) != (1, 1) or plane.shape != out.shape[:2] \
                        or plane.dtype != _DTYPES[formats[k]]:
                    return None
                out[..., k] = plane
    except Exception:  # noqa: BLE001 - the binding could not decode it: OpenImageIO reads it
        return None
    return out


def decode(path: str | os.PathLike[str], spec: oiio.ImageSpec, kind: str
           ) -> np.ndarray | None:
    """The data window's pixels of the EXR at `path` (whose header OpenImageIO read as
    `spec`) as an `H×W×C` array of `kind` ("half": float16, "float": float32) in `spec`'s
    channel order, as `ImageInput.read_image(0, 0, 0, nchannels, kind)` gives them; None
    where the binding does not decode this file (OpenImageIO reads it then)."""
    formats = _formats(spec, kind)
    if formats is None or not chunks_complete(path):
        return None
    return _decoded(str(path), spec, kind, formats, spec.height)


def decode_rows(path: str | os.PathLike[str], spec: oiio.ImageSpec, kind: str, r0: int,
                r1: int) -> np.ndarray | None:
    """Array rows `[r0, r1)` of the data window (`(r1 - r0)×W×C` of `kind`), as
    `ImageInput.read_scanlines` gives them, decoding only the chunks that hold them; None
    where the binding does not decode this file (OpenImageIO reads the rows then).

    How: the binding decodes whole files only, so the chunks holding the rows are given to it
    as a file of their own, in memory: the same header with the data window narrowed to those
    chunks' rows, their offset table, the chunks' bytes as they are (a chunk's leader holds
    its first row's y, which stays valid, and a chunk holds the same rows counted from the
    narrowed window's top). Rows in increasing order only (`lineOrder` increasingY, what
    every writer uses); anything else is OpenImageIO's.
    """
    formats = _formats(spec, kind)
    comp = (spec.get_string_attribute("compression") or "none").split(":")[0]
    lines = LINES.get(comp)
    order = spec.get_string_attribute("openexr:lineOrder") or "increasingY"
    if formats is None or lines is None or order != "increasingY" or not 0 <= r0 < r1 \
            or r1 > spec.height:
        return None
    k0, k1 = r0 // lines, -(-r1 // lines)
    crafted = _chunk_file(path, spec, lines, k0, k1)
    if crafted is None:
        return None
    rows = _decoded(crafted, spec, kind, formats, min(spec.height, k1 * lines) - k0 * lines)
    return None if rows is None else rows[r0 - k0 * lines:r1 - k0 * lines]


def _chunk_file(path: str | os.PathLike[str], spec: oiio.ImageSpec, lines: int, k0: int,
                k1: int) -> io.BytesIO | None:
    """A single-part EXR in memory holding chunks `[k0, k1)` of the file at `path` (see
    `decode_rows`), or None where the file's table or chunks do not allow it."""
    count = -(-spec.height // lines)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(exr_layout.HEAD_LIMIT)
            parsed = exr_layout.header(head)
            if parsed is None or k1 > count:
                return None
            attributes, end = parsed
            first = end + 8 * count
            fh.seek(end)
            offsets = np.frombuffer(fh.read(8 * count), "<u8").astype(np.int64)
            if len(offsets) != count or offsets[0] != first:
                return None
            chunks = []
            for k in range(k0, k1):
                start = int(offsets[k])
                if not first <= start <= size - 8:
                    return None
                fh.seek(start)
                leader = fh.read(8)
                y = int.from_bytes(leader[:4], "little", signed=True)
                packed = int.from_bytes(leader[4:], "little", signed=True)
                if y != spec.y + k * lines or packed < 0 or start + 8 + packed > size:
                    return None
                chunks.append(leader + fh.read(packed))
    except OSError:
        return None
    window = exr_layout.find(attributes, b"dataWindow", b"box2i")
    if window is None or window.end - window.value != 16:
        return None
    y0 = spec.y + k0 * lines
    y1 = min(spec.y + spec.height, spec.y + k1 * lines) - 1
    header = bytearray(head[:end])
    header[window.value + 4:window.value + 8] = y0.to_bytes(4, "little", signed=True)
    header[window.value + 12:window.value + 16] = y1.to_bytes(4, "little", signed=True)
    table, pos = [], end + 8 * len(chunks)
    for chunk in chunks:
        table.append(pos)
        pos += len(chunk)
    return io.BytesIO(bytes(header) + np.asarray(table, "<u8").tobytes() + b"".join(chunks))


def chunks_complete(path: str | os.PathLike[str]) -> bool:
    """True when the single-part scanline EXR at `path` has a chunk table whose every chunk
    lies inside the file, each starting with a leader (`y`, packed size) that fits it
    (engine.io.exr_layout; the table's length from its first offset)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(exr_layout.HEAD_LIMIT)
            size = os.fstat(fh.fileno()).st_size
            parsed = exr_layout.header(data)
            count = None if parsed is None else exr_layout.table_length(data, parsed[1], size)
            if parsed is None or count is None:
                return False
            end = parsed[1]
            first = end + 8 * count
            fh.seek(end)
            offsets = np.frombuffer(fh.read(8 * count), "<u8")
            if len(offsets) != count or offsets.min() < first or offsets.max() + 8 > size:
                return False
            order = np.sort(offsets)
            ends = np.append(order[1:], size)
            for start, stop in zip(order.tolist(), ends.tolist(), strict=True):
                fh.seek(start + 4)
                packed = int.from_bytes(fh.read(4), "little", signed=True)
                if packed < 0 or start + 8 + packed > stop:
                    return False
    except (OSError, ValueError):
        return False
    return True


class _Muting:
    """`sys.stdout` while binding decodes run: the text of the threads decoding (the binding's
    warning for a damaged chunk) is dropped, every other thread's goes to `target`, and every
    other attribute (`buffer`, `fileno`, `encoding`…) is the target's."""

    def __init__(self, target: Any):
        self.target = target
        self.muted: set[int] = set()

    def write(self, text: str) -> int:
        if threading.get_ident() in self.muted or self.target is None:
            return len(text)
        return self.target.write(text)

    def flush(self) -> None:
        if self.target is not None:
            with contextlib.suppress(Exception):
                self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_STDOUT = threading.Lock()  # held to install, join, leave and remove the proxy, not meanwhile


@contextlib.contextmanager
def _stdout_of_others() -> Iterator[None]:
    """Drop what this thread prints on `sys.stdout` in the block. Concurrent blocks share one
    proxy and decode in parallel; the last to leave puts back the stream the proxy wraps, and
    only if `sys.stdout` is still the proxy (a redirect made meanwhile by someone else stays
    theirs; the proxy it may later restore passes everything on)."""
    me = threading.get_ident()
    with _STDOUT:
        proxy = sys.stdout if isinstance(sys.stdout, _Muting) else _Muting(sys.stdout)
        sys.stdout = proxy
        proxy.muted.add(me)
    try:
        yield
    finally:
        with _STDOUT:
            proxy.muted.discard(me)
            if not proxy.muted and sys.stdout is proxy:
                sys.stdout = proxy.target
