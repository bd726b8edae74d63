"""Frames as analysis sees them: the display encoding a detector takes, made without a
scene-linear float copy of the whole frame, and scene-linear pixels of a region on demand.

Detectors and the landmarker take sRGB uint8 (`to_display_uint8` of the frame's scene-linear
RGB after the non-finite rule); extraction's crops are resampled from scene-linear pixels. Made
the obvious way, a 1080p frame is decoded to float, sRGB-decoded to linear, encoded back to sRGB
for the detector, and decoded again for the crop: about half of `doppel extract`'s time, for
values that are mostly known beforehand. `DisplayFrame` keeps the frame as the file holds it
(`native`) and converts only what is asked:
- 8/16-bit files and video hold sRGB codes: `srgb8` is the 8-bit codes themselves (for 16 bits a
  table of 65,536 entries); `linear(box)` looks the box's codes up in a table of their linear
  values;
- half-float EXR holds one of 65,536 values per sample: `srgb8` is a table lookup by the half's
  bits; `linear(box)` widens the box to float32;
- float32 EXR/TIFF: the functions themselves (`to_display_uint8`, the finite rule).
Every table is made by the very functions the float path runs (`srgb_to_linear`,
`to_display_uint8`; the 8/16-bit to float scaling of OpenImageIO or of the video decoder), over
all codes at once, so both paths give the same values bit for bit (tested over every code and
half value).

Convention: `native` is `H×W×3` RGB, channels last, in the file's own sample type (uint8 /
uint16 sRGB codes, float16 / float32 scene-linear); boxes are `(x0, y0, x1, y1)` in its pixels,
exclusive ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np

from engine.io.colorspace import srgb_to_linear, to_display_uint8
from engine.io.finite import count_nonfinite, finite_rgb
from engine.io.image import Geometry
from engine.types import Box

# How integer codes became floats on the float path: OpenImageIO multiplies by 1/(2^bits - 1)
# (files); the video reader divides by 255 (OpenCV's frames). The two differ in the last bit.
Scaling = Literal["oiio", "divide"]


@cache
def code_to_linear(bits: int, scaling: Scaling) -> np.ndarray:
    """Scene-linear float32 of every `bits`-bit sRGB code, as the float path computes it."""
    n = 1 << bits
    if scaling == "divide":
        unit = np.arange(n, dtype=np.float32) / float(n - 1)
    else:
        import OpenImageIO as oiio

        side = 16 if bits == 8 else 256
        codes = np.arange(n, dtype=np.uint8 if bits == 8 else np.uint16).reshape(side, side, 1)
        buf = oiio.ImageBuf(oiio.ImageSpec(side, side, 1, "uint8" if bits == 8 else "uint16"))
        buf.set_pixels(oiio.ROI(0, side, 0, side, 0, 1, 0, 1), codes)
        unit = np.asarray(buf.get_pixels("float"), np.float32).reshape(-1)
    return srgb_to_linear(unit)


@cache
def code_to_display(bits: int, scaling: Scaling) -> np.ndarray:
    """`to_display_uint8` of every `bits`-bit code's linear value."""
    return to_display_uint8(code_to_linear(bits, scaling))


@cache
def codes_are_display(scaling: Scaling) -> bool:
    """True when every 8-bit code comes back as itself through linear and `to_display_uint8`
    (so a detector can take an 8-bit frame's codes as they are)."""
    return bool(np.array_equal(code_to_display(8, scaling), np.arange(256, dtype=np.uint8)))


@cache
def half_to_display() -> np.ndarray:
    """`to_display_uint8` of every float16 bit pattern widened to float32 (NaN/Inf by the
    finite rule, as `to_display_uint8` applies it)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return to_display_uint8(np.arange(1 << 16, dtype=np.uint16).view(np.float16)
                                .astype(np.float32))


@dataclass
class DisplayFrame:
    """One frame for analysis: `native` pixels as stored, `srgb8` (what a detector takes) and
    `linear(box)` (what a crop is resampled from) derived from them on demand.

    `srgb8` equals `to_display_uint8(finite_rgb(rgb)[0])` and `linear(box)` equals
    `finite_rgb(rgb)[0][y0:y1, x0:x1]`, bit for bit, where `rgb` is the `Frame.rgb` the float
    path reads (`FrameSource.read`). `nonfinite` counts the NaN/Inf values of the RGB as read.
    """

    number: int
    native: np.ndarray
    path: str
    geometry: Geometry | None = None
    scaling: Scaling = "oiio"  # integer codes only: how the float path scaled them
    nonfinite: int = field(default=-1)
    _srgb8: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.native.ndim != 3 or self.native.shape[2] != 3:
            raise ValueError(f"DisplayFrame takes H×W×3 pixels, got {self.native.shape}")
        if self.nonfinite < 0:
            self.nonfinite = (0 if self.native.dtype.kind == "u"
                              else count_nonfinite(self.native))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.native.shape[0]), int(self.native.shape[1])

    @property
    def srgb8(self) -> np.ndarray:
        """`H×W×3` uint8 sRGB codes, as `to_display_uint8` gives them (computed once)."""
        if self._srgb8 is None:
            px = self.native
            if px.dtype == np.uint8 and codes_are_display(self.scaling):
                self._srgb8 = np.ascontiguousarray(px)
            elif px.dtype.kind == "u":
                self._srgb8 = code_to_display(8 * px.dtype.itemsize, self.scaling)[px]
            elif px.dtype == np.float16:
                self._srgb8 = half_to_display()[px.view(np.uint16)]
            else:
                self._srgb8 = to_display_uint8(finite_rgb(px.astype(np.float32, copy=False))[0])
        return self._srgb8

    def linear(self, box: Box | None = None) -> np.ndarray:
        """Scene-linear RGB float32 over `box` (the whole frame when None), the finite rule
        applied."""
        px = self.native
        if box is not None:
            x0, y0, x1, y1 = box
            px = px[y0:y1, x0:x1]
        if px.dtype.kind == "u":
            return code_to_linear(8 * px.dtype.itemsize, self.scaling)[px]
        return finite_rgb(np.ascontiguousarray(px, dtype=np.float32))[0]
