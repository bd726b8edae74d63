"""Whole scanline EXR frames decoded by OpenEXR's own Python binding: the pixels OpenImageIO's
`read_image` gives, for about a third of its CPU.

Why: a render decodes every plate whole. Measured on a 2-core AMD EPYC (docs/benchmarks.md):
a 4K RGBA half zip plate costs 117–151 ms wall and 223–282 ms CPU through OpenImageIO, 43–52
and 83–86 through the binding (each channel decoded into its own array, interleaved here);
1080p 29 / 56 against 13 / 22.

What it decodes: the header stays OpenImageIO's (engine.io.image opens the file, checks its
layout, reads its attributes and geometry, and reads row ranges and everything else itself).
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

import numpy as np
import OpenImageIO as oiio

from engine.io.exr_write import binding, enabled, use_threads

_DTYPES = {"half": np.float16, "float": np.float32}


def decode(path: str | os.PathLike[str], spec: oiio.ImageSpec, kind: str
           ) -> np.ndarray | None:
    """The data window's pixels of the EXR at `path` (whose header OpenImageIO read as
    `spec`) as an `H×W×C` array of `kind` ("half": float16, "float": float32) in `spec`'s
    channel order, as `ImageInput.read_image(0, 0, 0, nchannels, kind)` gives them; None
    where the binding does not decode this file (OpenImageIO reads it then)."""
    if (not enabled() or kind not in _DTYPES or spec.tile_width or spec.deep
            or spec.get_int_attribute("oiio:subimages", 1) > 1):
        return None
    formats = [str(f) for f in spec.channelformats] or [str(spec.format)] * spec.nchannels
    if any(f not in _DTYPES for f in formats) or (kind == "half" and "float" in formats):
        return None
    names = list(spec.channelnames)
    if not chunks_complete(path):
        return None
    use_threads()
    try:
        with _stdout_of_others(), binding().File(str(path), separate_channels=True) as f:
            if len(f.parts) != 1:
                return None
            channels = f.channels()
            if sorted(channels) != sorted(names) or len(set(names)) != len(names):
                return None
            out = np.empty((spec.height, spec.width, len(names)), _DTYPES[kind])
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


def chunks_complete(path: str | os.PathLike[str]) -> bool:
    """True when the single-part scanline EXR at `path` has a chunk table whose every chunk
    lies inside the file, each starting with a leader (`y`, packed size) that fits it.

    Layout (OpenEXR file layout): magic and version (8 bytes); attributes `name\\0 type\\0
    size:int32 value`, a `\\0`; one uint64 offset per chunk (the count follows from the data
    window and the compression's lines per chunk; here from the first offset, where the chunks
    begin); each chunk `y:int32 size:int32` then its bytes.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 16)
            size = os.fstat(fh.fileno()).st_size
            pos = _header_end(data)
            if pos is None or pos + 8 > len(data):
                return False
            first = int.from_bytes(data[pos:pos + 8], "little")
            count, rest = divmod(first - pos, 8)
            if count < 1 or rest or first > size:
                return False
            fh.seek(pos)
            offsets = np.frombuffer(fh.read(8 * count), "<u8")
            if len(offsets) != count or offsets.min() < first or offsets.max() + 8 > size:
                return False
            order = np.sort(offsets)
            ends = np.append(order[1:], size)
            for start, end in zip(order.tolist(), ends.tolist(), strict=True):
                fh.seek(start + 4)
                packed = int.from_bytes(fh.read(4), "little", signed=True)
                if packed < 0 or start + 8 + packed > end:
                    return False
    except (OSError, ValueError):
        return False
    return True


def _header_end(data: bytes) -> int | None:
    """The offset just after a single-part scanline header's closing `\\0`, or None."""
    if len(data) < 9 or data[:4] != b"\x76\x2f\x31\x01" or (data[5] & (0x2 | 0x8 | 0x10)):
        return None
    pos = 8
    while pos < len(data):
        name_end = data.find(b"\0", pos)
        if name_end < 0:
            return None
        if name_end == pos:
            return pos + 1
        type_end = data.find(b"\0", name_end + 1)
        if type_end < 0 or type_end + 5 > len(data):
            return None
        size = int.from_bytes(data[type_end + 1:type_end + 5], "little", signed=True)
        if size < 0:
            return None
        pos = type_end + 5 + size
    return None


class _OthersOnly(io.TextIOBase):
    """`sys.stdout` for the block: other threads' text goes on to `target`; the decoding
    thread's (the binding's warning for a damaged chunk) is dropped."""

    def __init__(self, target: object, thread: int):
        self._target, self._thread = target, thread

    def write(self, text: str) -> int:
        if threading.get_ident() != self._thread:
            return self._target.write(text)  # type: ignore[attr-defined]
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self._target.flush()  # type: ignore[attr-defined]


_STDOUT = threading.Lock()


@contextlib.contextmanager
def _stdout_of_others():
    """Drop what this thread prints on `sys.stdout` in the block (one block at a time: each
    restores the stream it found)."""
    with _STDOUT, contextlib.redirect_stdout(_OthersOnly(sys.stdout, threading.get_ident())):
        yield
