"""Plate fingerprints: a thumbnail small enough to keep per frame in a track, cheap enough to
compare on every rendered frame, so a track proves it belongs to its plate (DESIGN.md §4).

A fingerprint is an `8×8` grid of mean Rec.709 luma over a rectangle of the display window (the
whole frame, or the face's landmark box), sRGB-encoded to 8 bits: 64 bytes, kept as 128 hex
digits. Two fingerprints match when their cells differ by at most `TOLERANCE` 8-bit steps on
average. Measured on the sample plates (tests/engine/test_fingerprint.py): a half-float
re-encode, a denoise-strength blur, noise and a proxy (half or third resolution) differ by
< 0.2; adjacent frames of a handheld shot by ≤ 2.6; another shot by ≥ 60; a quarter stop of
exposure by 8.4 (a regraded plate counts as another plate: analyse it again).

Convention: `pixels` is `H×W×C` scene-linear float (C ≥ 3, RGB first; any strides, read only),
its array pixel `(col, row)` at display-window pixel `(x0 + col, y0 + row)` where `(x0, y0)` =
`origin`; boxes are `(x0, y0, x1, y1)` display-window pixels, exclusive ends. Pixels of a cell
outside the array count as black (what an EXR holds outside its data window). Cells are sampled
every `step` display pixels on both axes (aligned to the display window, so an offset data window
samples the same pixels), which keeps the cost near 1 ms a frame at any resolution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

GRID = 8
TOLERANCE = 6.0  # mean |difference| of the cells, in 8-bit sRGB steps
METHOD = "luma8x8-srgb8"  # recorded in a track's settings: what its fingerprints are
_LUMA = np.asarray([0.2126, 0.7152, 0.0722], np.float64)
_ONE = np.ones(1, np.float64)
SAMPLES = 160  # samples along the box's shorter side at most


def _srgb8(linear: np.ndarray) -> np.ndarray:
    v = np.clip(linear, 0.0, 1.0)
    enc = np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    return np.rint(enc * 255.0).astype(np.uint8)


def _axis(lo: float, hi: float, origin: int, size: int, step: int
          ) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Along one axis: the array's sampled index range `[a0, a1)` (every `step`), the cell
    bounds as indices into those samples, and each cell's sample count over its whole span."""
    edges = np.rint(np.linspace(lo, hi, GRID + 1)).astype(np.int64)  # display pixels
    base = int(edges[0])
    # display coordinate of sample k: base + k*step; array index: that - origin
    cells = np.ceil((edges - base) / step).astype(np.int64)  # sample index of each edge
    end = int(cells[-1])
    first = min(max(0, math.ceil((origin - base) / step)), end)  # first sample in the array
    last = min(max(first, math.ceil((origin + size - base) / step)), end)  # one past the last
    counts = np.diff(cells)
    inner = np.clip(cells, first, last) - first  # into the samples that lie in the array
    a0 = base + first * step - origin
    return a0, (last - first), inner, counts


def thumbnail(pixels: np.ndarray, box: tuple[float, float, float, float],
              origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The `GRID×GRID` uint8 thumbnail of `box` (see module doc for the conventions).

    Example:
        A frame black on the left half and white on the right:

        >>> img = np.zeros((64, 64, 3), np.float32)
        >>> img[:, 32:] = 1.0
        >>> t = thumbnail(img, (0, 0, 64, 64))
        >>> t.shape, t.dtype, t[0].tolist()
        ((8, 8), dtype('uint8'), [0, 0, 0, 0, 255, 255, 255, 255])
        >>> thumbnail(img[:, 16:], (0, 0, 64, 64), origin=(16, 0))[0].tolist()  # cropped
        [0, 0, 0, 0, 255, 255, 255, 255]
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (np.isfinite([x0, y0, x1, y1]).all() and x1 - x0 >= 1 and y1 - y0 >= 1):
        raise ValueError(f"fingerprint box {box} is empty or not finite")
    step = max(1, int(min(x1 - x0, y1 - y0) // SAMPLES))
    h, w = pixels.shape[:2]
    cx0, nx, xin, xcount = _axis(x0, x1, origin[0], w, step)
    cy0, ny, yin, ycount = _axis(y0, y1, origin[1], h, step)
    sums = np.zeros((GRID, GRID), np.float64)
    # RGB first; a one- or two-channel plate (Y, YA) is its first channel, as analysis sees it
    chans, weights = (slice(0, 3), _LUMA) if pixels.shape[2] >= 3 else (slice(0, 1), _ONE)
    if nx > 0 and ny > 0:
        cols = slice(cx0, cx0 + (nx - 1) * step + 1, step)
        for i in range(GRID):
            r0, r1 = yin[i], yin[i + 1]
            if r1 <= r0:
                continue
            rows = slice(cy0 + r0 * step, cy0 + (r1 - 1) * step + 1, step)
            band = pixels[rows, cols, chans].sum(axis=0, dtype=np.float64) @ weights  # (nx,)
            if not np.isfinite(band).all():  # the one NaN/Inf rule (engine.io.finite)
                part = np.nan_to_num(pixels[rows, cols, chans], nan=0.0, posinf=1.0,
                                     neginf=0.0)
                band = part.sum(axis=0, dtype=np.float64) @ weights
            cum = np.concatenate([[0.0], np.cumsum(band)])
            sums[i] = cum[xin[1:]] - cum[xin[:-1]]
    area = np.maximum(np.outer(ycount, xcount), 1)
    return _srgb8(sums / area)


def encode(thumb: np.ndarray) -> str:
    """A thumbnail as the hex text a track stores."""
    return np.ascontiguousarray(thumb, np.uint8).tobytes().hex()


def decode(text: object, where: str) -> np.ndarray:
    """Inverse of `encode`; ValueError naming `where` for anything else."""
    if not isinstance(text, str) or len(text) != 2 * GRID * GRID:
        raise ValueError(f"{where}: fingerprint must be {2 * GRID * GRID} hex digits")
    try:
        return np.frombuffer(bytes.fromhex(text), np.uint8).reshape(GRID, GRID)
    except ValueError:
        raise ValueError(f"{where}: fingerprint is not hex") from None


def covered(box: tuple[float, float, float, float], origin: tuple[int, int],
            shape: tuple[int, ...]) -> np.ndarray:
    """`GRID×GRID` bool: the cells of `box` lying wholly inside an array of `shape` at
    `origin` (display pixels). A host that hands over only part of a frame (a region of
    interest, a tile) or a face-region read is compared on these cells alone.

    Example:
        >>> int(covered((0, 0, 64, 64), (0, 0), (64, 64)).sum())
        64
        >>> covered((0, 0, 64, 64), (32, 0), (64, 32))[0].tolist()  # the right half
        [False, False, False, False, True, True, True, True]
    """
    def inside(lo: float, hi: float, start: int, size: int) -> np.ndarray:
        edges = np.rint(np.linspace(lo, hi, GRID + 1)).astype(np.int64)
        return (edges[:-1] >= start) & (edges[1:] <= start + size)

    x0, y0, x1, y1 = box
    return np.outer(inside(y0, y1, origin[1], shape[0]), inside(x0, x1, origin[0], shape[1]))


def distance(a: np.ndarray, b: np.ndarray, cells: np.ndarray | None = None) -> float:
    """Mean absolute difference of two thumbnails' cells (only `cells`, when given), in
    8-bit steps."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff[cells].mean() if cells is not None else diff.mean())


def mismatch(pixels: np.ndarray, box: tuple[float, float, float, float],
             origin: tuple[int, int], want: np.ndarray) -> float | None:
    """`distance` between the thumbnail of `box` in `pixels` (an array at `origin`, display
    pixels) and the stored thumbnail `want`, over the cells the pixels cover; None when they
    cover too little of the box (under a quarter of its cells) to judge."""
    cells = covered(box, origin, pixels.shape)
    if cells.sum() < GRID * GRID // 4:
        return None
    return distance(thumbnail(pixels, box, origin), want, cells)


def plate_window(pixels: np.ndarray, geometry: Any, rows: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, tuple[int, int], tuple[float, float, float, float]]:
    """`(pixels, origin, display box)` of a plate frame for fingerprinting: the array rows that
    hold the plate (`rows`: a partial read), their origin in the display window (an
    `engine.io.Geometry`'s data offset, or (0, 0) without one), and the display window's box
    in the same pixels (the array's own size without a geometry)."""
    origin = geometry.offset if geometry is not None else (0, 0)
    if rows is not None:
        pixels = pixels[rows[0]:rows[1]]
        origin = (origin[0], origin[1] + rows[0])
    if geometry is not None:
        w, h = geometry.display[2], geometry.display[3]
    else:
        h, w = pixels.shape[:2]
    return pixels, origin, (0.0, 0.0, float(w), float(h))


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The box a face fingerprint covers: the landmarks' bounding box (display pixels)."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]) + 1.0, float(hi[1]) + 1.0)
