"""Scanline EXR files written by OpenEXR's own Python binding from planar channels, with the
header OpenImageIO would write: the same bytes as OpenImageIO's writer, for less CPU.

Why: OpenImageIO hands OpenEXR interleaved pixels (`R G B A m R G B A m …`), which OpenEXR
copies sample by sample into its per-channel lines before compressing. The binding takes one
contiguous array per channel and copies lines whole. Measured on a 2-core AMD EPYC, one 1080p
frame of R, G, B, A and `doppel.mask` in half (docs/benchmarks.md): 122 → 82 ms of CPU with
zip, 58 → 23 ms uncompressed; a 4K frame 456 → 322 ms. A render spends most of its CPU in the
write, so this is most of what a frame costs on a CPU-bound farm node.

How the bytes stay OpenImageIO's: the header is not rebuilt here (OpenImageIO maps its names
and types to OpenEXR's: `ImageDescription` is written as `comments`, `DateTime` as `capDate`,
an `oiio:` name not at all…). For each distinct header, OpenImageIO writes a 1×1 file of it
to memory (`template_header`); the binding reads that header back and writes the same file
from it, and the header is used only if the two are identical, byte for byte (0.3 ms). Once
per process for each compression and set of channel types, a probe of seeded noise (two
chunks and a bit, `_codec_checked`) is written by both the same way: the pixels' conversion to
each channel's type (numpy rounds float32 to half to nearest even, as OpenImageIO does) and the
compressed bytes (the two libraries' own builds of OpenEXR) must be identical too. What fails
either (an attribute the binding reads as another type, such as a keycode; a compression level
OpenImageIO passes to OpenEXR outside the header) is written by OpenImageIO as before
(`encode` returns None).
The `type` attribute the binding always adds is taken out again (`_drop_type`).
tests/engine/test_exr_io.py compares whole files.

`DOPPEL_EXR_IO=oiio` in the environment writes (and reads, engine.io.exr_read) every EXR
through OpenImageIO alone (a way to compare, or to step around a problem of the binding).
"""

from __future__ import annotations

import functools
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import OpenImageIO as oiio

from engine.io import exr_layout

DTYPES = {"half": np.float16, "float": np.float32}
_CACHE_SIZE = 16  # distinct headers remembered (a render's frames usually share one)

_lock = threading.Lock()
_templates: OrderedDict[tuple[Any, ...], dict[str, Any] | None] = OrderedDict()
_binding: Any = None  # the OpenEXR module once imported; False when it cannot be


def binding() -> Any:
    """OpenEXR's Python module, or None where it is not installed (OpenImageIO writes then)."""
    global _binding
    if _binding is None:
        try:
            import OpenEXR

            _binding = OpenEXR
        except Exception:  # noqa: BLE001 - not installed, or broken: OpenImageIO does it all
            _binding = False
    return _binding or None


def enabled() -> bool:
    """True when EXR files go through the binding (installed, not turned off)."""
    return os.environ.get("DOPPEL_EXR_IO", "").lower() != "oiio" and binding() is not None


def use_threads() -> None:
    """OpenEXR's threads for the binding's encodes and decodes: OpenImageIO's `exr_threads`
    setting, so one setting (engine.shot.render.set_io_threads) governs both libraries. The
    binding encodes on its global pool only (a File's own `num_threads` does not spread a
    write, measured)."""
    exr = binding()
    # OpenImageIO's meaning: 0 = one per core, -1 = none (OpenEXR's 0 is none).
    wanted = int(oiio.get_int_attribute("exr_threads", 0))
    wanted = (os.cpu_count() or 1) if wanted == 0 else max(0, wanted)
    if exr.global_thread_count() != wanted:
        exr.set_global_thread_count(wanted)


def _channel_types(spec: oiio.ImageSpec) -> list[str] | None:
    """Each channel's type name ('half' or 'float'), or None for any other type."""
    formats = list(spec.channelformats) or [spec.format] * spec.nchannels
    kinds = []
    for f in formats:
        name = str(f)
        if name not in DTYPES:
            return None
        kinds.append(name)
    return kinds


def _key(spec: oiio.ImageSpec, kinds: list[str]) -> tuple[Any, ...]:
    """Everything of `spec` that its header depends on, except the data window's size."""
    attribs = tuple((a.name, str(a.type), repr(a.value)) for a in spec.extra_attribs)
    return (tuple(spec.channelnames), tuple(kinds), spec.x, spec.y, spec.full_x, spec.full_y,
            spec.full_width, spec.full_height, spec.alpha_channel, spec.z_channel, attribs)


# Scanlines per chunk of each compression (OpenEXR file layout).
LINES = {"none": 1, "rle": 1, "zips": 1, "zip": 16, "pxr24": 16, "piz": 32, "b44": 32,
         "b44a": 32, "dwaa": 32, "dwab": 256}
_PROBE_WIDTH = 8


def _probe(compression: str, nchannels: int) -> np.ndarray | None:
    """Pixels for the codec check: two chunks and a partial third of `compression`, 8 px
    wide, seeded noise (so compressed bytes are compared), a value beyond half's range and an
    exact zero among them; None for a compression not in `LINES`."""
    lines = LINES.get(compression)
    if lines is None:
        return None
    rng = np.random.default_rng(20261207)
    px = (rng.standard_normal((2 * lines + 1, _PROBE_WIDTH, nchannels)) * 4).astype(np.float32)
    px[0, 0] = 0.0
    px[-1, -1] = 1e6
    return px


def _written_by_oiio(spec: oiio.ImageSpec, px: np.ndarray) -> bytes | None:
    """The bytes of an EXR of `spec`'s header holding `px` (its data window that size, at the
    spec's origin), written by OpenImageIO in memory; None where that cannot be done (no
    memfd)."""
    probe = oiio.ImageSpec(spec)
    probe.height, probe.width = px.shape[:2]
    try:
        fd = os.memfd_create("doppel-exr-header", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return None
    try:
        path = f"/proc/self/fd/{fd}"
        if not os.path.exists(path):
            return None
        out = oiio.ImageOutput.create("exr")
        if out is None:
            return None
        ok = out.open(path, probe) and out.write_image(px)
        ok = out.close() and ok
        if not ok:
            return None
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)


def _drop_type(data: memoryview) -> list[bytes | memoryview] | None:
    """`data`, a single-part scanline EXR, as the pieces of the same file without its `type`
    attribute: the header (without it), the chunk offset table (each offset moved back by the
    attribute's length) and the chunks, as they are. None for anything else (tiled, deep,
    multi-part, an offset table that does not lead to the chunks) or no `type` to drop.

    Why: the binding always writes `type` ("scanlineimage"); OpenImageIO does not in a
    single-part scanline file, where the attribute is optional (OpenEXR file layout), and
    cannot be told to. Dropping it gives OpenImageIO's bytes exactly.
    """
    parsed = exr_layout.header(data)
    if parsed is None:
        return None
    attributes, end = parsed
    dropped = exr_layout.find(attributes, b"type", b"string")
    count = exr_layout.table_length(data, end, len(data))
    if dropped is None or count is None:
        return None
    first = end + 8 * count
    offsets = np.frombuffer(data[end:first], "<u8")
    if offsets.min() < first or offsets.max() >= len(data):
        return None
    removed = np.uint64(dropped.end - dropped.start)
    head = bytes(data[:dropped.start]) + bytes(data[dropped.end:end])
    return [head, (offsets - removed).astype("<u8").tobytes(), data[first:]]


def _encoded(exr: Any, header: dict[str, Any], names: Sequence[str],
             planes: Sequence[np.ndarray]) -> list[bytes | memoryview] | None:
    """The pieces of the file the binding writes of `header` and `planes`, as OpenImageIO
    would write it (`_drop_type`); None where that cannot be made."""
    stream = io.BytesIO()
    with exr.File(header, dict(zip(names, planes, strict=True))) as f:
        f.write(stream)
    return _drop_type(stream.getbuffer())


def _joined(pieces: Sequence[bytes | memoryview]) -> bytes:
    return b"".join(bytes(p) for p in pieces)


def template_header(spec: oiio.ImageSpec) -> dict[str, Any] | None:
    """The binding's header dict for `spec` (its data window to be set per file), when the
    binding writes exactly OpenImageIO's bytes for it (the probe of `_checked_header`); None
    otherwise (OpenImageIO writes)."""
    kinds = _channel_types(spec)
    exr = binding()
    if kinds is None or exr is None:
        return None
    names = list(spec.channelnames)
    if len(set(names)) != len(names) or len(names) != spec.nchannels or spec.tile_width:
        return None
    key = _key(spec, kinds)
    with _lock:
        if key in _templates:
            _templates.move_to_end(key)
            return _templates[key]
    header = _checked_header(exr, spec, names, kinds)
    with _lock:
        _templates[key] = header
        while len(_templates) > _CACHE_SIZE:
            _templates.popitem(last=False)
    return header


def _checked_header(exr: Any, spec: oiio.ImageSpec, names: list[str], kinds: list[str]
                    ) -> dict[str, Any] | None:
    """The header the binding reads from OpenImageIO's 1×1 file of `spec`, if the binding
    writes that file back byte for byte and its codec passes `_codec_checked`."""
    if not _codec_checked(spec.get_string_attribute("compression") or "none", tuple(kinds)):
        return None
    return _header_if_same(exr, spec, names, kinds, np.zeros((1, 1, len(kinds)), np.float32))


@functools.lru_cache(maxsize=64)
def _codec_checked(compression: str, kinds: tuple[str, ...]) -> bool:
    """True when the binding compresses `_probe`'s noise in `compression` with these channel
    types into OpenImageIO's bytes exactly (the pixels' conversion and the two libraries'
    codecs); checked once per process: 0.5–60 ms (DWA sets up its tables)."""
    exr = binding()
    px = _probe(compression, len(kinds))
    if exr is None or px is None:
        return False
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], len(kinds), kinds[0])
    spec.channelnames = tuple(f"c{i:02d}" for i in range(len(kinds)))
    if len(set(kinds)) > 1:  # (alike, OpenImageIO takes the spec's format, not these)
        spec.channelformats = tuple(oiio.TypeDesc(k) for k in kinds)
    spec.attribute("compression", compression)
    spec.attribute("DateTime", "")
    return _header_if_same(exr, spec, list(spec.channelnames), kinds, px) is not None


def _header_if_same(exr: Any, spec: oiio.ImageSpec, names: list[str], kinds: Sequence[str],
                    px: np.ndarray) -> dict[str, Any] | None:
    """OpenImageIO's file of `spec` holding `px`, and the binding's of the header it reads
    from that file and the same pixels: the header dict when the two are the same bytes, else
    None (also where either library fails on it)."""
    reference = _written_by_oiio(spec, px)
    if reference is None:
        return None
    try:
        with exr.File(io.BytesIO(reference), header_only=True) as f:
            header = dict(f.header())
        header.pop("channels", None)  # the binding writes them from the pixels
        pieces = _encoded(exr, header, names, _planes([px], kinds))
    except Exception:  # noqa: BLE001 - any failure of the binding on this header: OIIO writes
        return None
    return header if pieces is not None and _joined(pieces) == reference else None


def _planes(layers: Sequence[np.ndarray], kinds: Sequence[str]) -> list[np.ndarray]:
    """One contiguous array per channel, of its type (numpy rounds float32 to half to nearest
    even as OpenImageIO does; beyond half's range: ±inf, as OpenImageIO)."""
    planes: list[np.ndarray] = []
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in layers:
            for k in range(layer.shape[2]):
                kind = DTYPES[kinds[len(planes)]]
                planes.append(np.ascontiguousarray(layer[..., k], dtype=kind))
    return planes


def encode(layers: Sequence[np.ndarray], spec: oiio.ImageSpec
           ) -> list[bytes | memoryview] | None:
    """The bytes of the scanline EXR OpenImageIO would write for `spec` and `layers` (`H×W×k`
    each, side by side in `spec`'s channel order), in pieces to write one after the other;
    None where the binding cannot make exactly that file (not installed or turned off, a
    channel type other than half/float, a tiled spec, a header it does not carry): the caller
    writes it with OpenImageIO. Raises the binding's error where encoding itself fails (the
    caller then writes with OpenImageIO)."""
    if not enabled():
        return None
    header = template_header(spec)
    if header is None:
        return None
    kinds = _channel_types(spec) or []
    if sum(layer.shape[2] for layer in layers) != len(kinds):
        return None
    planes = _planes(layers, kinds)
    x0, y0 = spec.x, spec.y
    header = dict(header)
    header["dataWindow"] = (np.array([x0, y0], np.int32),
                            np.array([x0 + spec.width - 1, y0 + spec.height - 1], np.int32))
    use_threads()
    return _encoded(binding(), header, list(spec.channelnames), planes)
