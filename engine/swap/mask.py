"""Masks from landmarks: the face hull, eyes and mouth (learned and XSeg masks come later).

Convention: masks are float32 `H×W` in [0, 1] in the pixel frame of the landmarks given
(image or aligned crop); polygons are filled with anti-aliased edges at pixel centres.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import SettingsError

# Hull of the jaw line plus the brows lifted towards the forehead (see `hull_points`).
_EYE_L, _EYE_R = np.arange(36, 42), np.arange(42, 48)
_MOUTH = np.arange(48, 60)


def _fill(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    shift = 4  # sub-pixel precision for cv2.fillPoly (1/16 px)
    canvas = np.zeros(shape, np.uint8)
    for poly in polygons:
        pts = np.round(np.asarray(poly, np.float64) * (1 << shift)).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_AA, shift=shift)
    return canvas.astype(np.float32) / 255.0


def hull_points(landmarks: np.ndarray, lift: float = 0.25) -> np.ndarray:
    """Convex hull of the face: jaw, plus the brows raised by `lift` (default 1/4) of the
    brow-to-chin height so the forehead skin above the brows is covered (as a compositor would
    roto it).

    Example:
        >>> from engine.geometry.align import mean_face
        >>> lm = mean_face() * 6 + [2.5, 2]  # a tiny face: (68, 2) (x, y) in a 12×12 image
        >>> pts = hull_points(lm)  # (K, 2) float32 hull vertices
        >>> pts.shape, pts.dtype
        ((25, 2), dtype('float32'))
        >>> bool(pts[:, 1].min() < lm[17:27, 1].min())  # reaches above the brows (y is down)
        True
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    brows = lm[17:27].copy()
    up = lm[8] - lm[27]  # chin minus nose bridge: the face's "down" direction
    brows -= up * lift
    pts = np.vstack([lm[0:17], brows]).astype(np.float32)
    return cv2.convexHull(pts).reshape(-1, 2)


def hull_mask(landmarks: np.ndarray, shape: tuple[int, int], lift: float = 0.25) -> np.ndarray:
    """Filled face hull, `shape = (H, W)` (`lift`: see `hull_points`).

    Example:
        >>> from engine.geometry.align import mean_face
        >>> lm = mean_face() * 6 + [2.5, 2]  # a tiny face: (68, 2) (x, y) in a 12×12 image
        >>> m = hull_mask(lm, (12, 12))
        >>> m.shape, m.dtype, float(m.min()), float(m.max())  # anti-aliased edges in between
        ((12, 12), dtype('float32'), 0.0, 1.0)
        >>> (m > 0.5).astype(np.uint8)
        array([[0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
               [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0],
               [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=uint8)
    """
    return _fill(shape, [hull_points(landmarks, lift)])


def edge_ring(mask: np.ndarray, width: float) -> np.ndarray:
    """The inner ring of a mask: pixels with mask ≥ 0.5 within `width` pixels of its 0.5 edge
    (0/1 float32, same shape); the image's border counts as outside."""
    inside = (np.asarray(mask) >= 0.5).astype(np.uint8)
    if not inside.any():
        return inside.astype(np.float32)
    d = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return ((inside > 0) & (d <= width)).astype(np.float32)


def eyes_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Both eye regions (convex hulls of each eye's 6 points).

    Example:
        >>> from engine.geometry.align import mean_face
        >>> lm = mean_face() * 6 + [2.5, 2]  # a tiny face: (68, 2) (x, y) in a 12×12 image
        >>> m = eyes_mask(lm, (12, 12))
        >>> m.shape, m.dtype
        ((12, 12), dtype('float32'))
        >>> (m[3:5] > 0.5).astype(np.uint8)  # rows 3-4; all other rows are 0
        array([[0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0],
               [0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0]], dtype=uint8)
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    return _fill(shape, [cv2.convexHull(lm[i]).reshape(-1, 2) for i in (_EYE_L, _EYE_R)])


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mouth region (convex hull of the outer lip points).

    Example:
        >>> from engine.geometry.align import mean_face
        >>> lm = mean_face() * 6 + [2.5, 2]  # a tiny face: (68, 2) (x, y) in a 12×12 image
        >>> m = mouth_mask(lm, (12, 12))
        >>> m.shape, m.dtype
        ((12, 12), dtype('float32'))
        >>> (m[7:9] > 0.5).astype(np.uint8)  # rows 7-8; all other rows are 0
        array([[0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
               [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]], dtype=uint8)
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    return _fill(shape, [cv2.convexHull(lm[_MOUTH]).reshape(-1, 2)])


# -- Combining and refining masks for the swap --------------------------------------------------
MASK_TERMS = ("learned-prd", "learned-dst", "hull", "xseg-prd", "xseg-dst", "full")


def parse_mask_mode(mode: str) -> tuple[str, list[str]]:
    """A mode is terms joined by `*` (product) or `+` (union, clipped sum), e.g.
    `learned-prd*learned-dst`, `learned-prd+learned-dst`, `hull`, `xseg-prd*xseg-dst`.

    Example:
        >>> parse_mask_mode("learned-prd*learned-dst")
        ('*', ['learned-prd', 'learned-dst'])
        >>> parse_mask_mode("hull")  # a single term is a one-term union
        ('+', ['hull'])
        >>> parse_mask_mode("hull*learned-prd+full")  # * and + cannot be mixed
        Traceback (most recent call last):
        ...
        engine.errors.SettingsError: mask mode 'hull*learned-prd+full': unknown term(s) ...
    """
    op = "*" if "*" in mode else "+"
    terms = [t.strip() for t in mode.split(op)]
    bad = [t for t in terms if t not in MASK_TERMS]
    if bad or ("*" in mode and "+" in mode):
        raise SettingsError(f"mask mode {mode!r}: unknown term(s) {', '.join(bad) or '(none)'}; "
                            f"combine {', '.join(MASK_TERMS)} with * or +")
    return op, terms


def combine_masks(mode: str, sources: dict[str, np.ndarray]) -> np.ndarray:
    """Combine named `H×W` masks per `mode` (see `parse_mask_mode`); `full` is all ones.

    Example:
        >>> prd = np.array([[0.0, 0.5, 1.0]], np.float32)  # 1×3 masks
        >>> dst = np.array([[0.5, 0.25, 0.0]], np.float32)
        >>> masks = {"learned-prd": prd, "learned-dst": dst}
        >>> combine_masks("learned-prd*learned-dst", masks)  # product: where both agree
        array([[0.   , 0.125, 0.   ]], dtype=float32)
        >>> combine_masks("learned-prd+learned-dst", masks)  # union: sum clipped to [0, 1]
        array([[0.5 , 0.75, 1.  ]], dtype=float32)
        >>> combine_masks("learned-prd*full", masks)
        array([[0. , 0.5, 1. ]], dtype=float32)
        >>> combine_masks("xseg-prd", masks)
        Traceback (most recent call last):
        ...
        engine.errors.SettingsError: mask mode 'xseg-prd' needs 'xseg-prd', which is not ...
    """
    op, terms = parse_mask_mode(mode)
    shape = next(iter(sources.values())).shape
    out = None
    for t in terms:
        if t == "full":
            m = np.ones(shape, np.float32)
        elif t not in sources:
            raise SettingsError(f"mask mode {mode!r} needs {t!r}, which is not available "
                                "(xseg terms need an XSeg model)")
        else:
            m = sources[t]
        out = m.copy() if out is None else (out * m if op == "*" else np.maximum(out, 0) + m)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def mask_px_scale(units: str, img_to_crop: np.ndarray, size: int, padding: float) -> float:
    """How many crop pixels one unit of erode/blur spans (`refine_mask`'s `px_scale`).

    `units` "px": one plate pixel, the crop's scale √det of the image→crop matrix
    `img_to_crop` (2×3, plate pixels → crop pixels). "face": one percent of the face's size,
    the unit of the canonical face (its inner landmarks span [0, 1]: brow end to brow end
    across, brows to lower lip down), which a `size`-pixel crop of a face type with `padding`
    holds `size / (1 + 2·padding)` pixels of: the same crop pixels on every frame whatever
    the face's size on the plate, the render scale or the plate's resolution.

    Example:
        A full-face (padding 0.2109375) 96 px crop of a face at 0.5 crop px per plate px:

        >>> m = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
        >>> mask_px_scale("px", m, 96, 0.2109375)
        0.5
        >>> round(mask_px_scale("face", m, 96, 0.2109375), 4)  # 1 % of 67.5 crop px
        0.6752
    """
    if units == "px":
        return float(np.sqrt(abs(np.linalg.det(np.asarray(img_to_crop, np.float64)[:, :2]))))
    if units == "face":
        return size / (1.0 + 2.0 * padding) / 100.0
    raise SettingsError(f"mask_units {units!r} unknown; use px or face")


def _morph(mask: np.ndarray, radius: int, erode: bool) -> np.ndarray:
    """`mask` eroded (or dilated) by a disc of `radius` pixels (0: the mask itself)."""
    if radius == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask, kernel) if erode else cv2.dilate(mask, kernel)


def refine_mask(mask: np.ndarray, erode_px: float, blur_px: float, px_scale: float
                ) -> np.ndarray:
    """Erode (>0) / dilate (<0) then feather a mask, sizes given in units of `px_scale` mask
    pixels each (`mask_px_scale`: plate pixels, or % of the face).

    For plate pixels `px_scale` is how many mask pixels one plate pixel spans (the crop's
    scale, √det of the image→crop matrix), so an erode of 10 plate pixels means 10 plate pixels
    whether the model crop is 96 or 512 px. Blur is a Gaussian whose ±2σ span is `blur_px`.

    Example:
        A 5×5 square in a 9×9 mask; eroding 1 plate pixel at 1 mask px per plate px leaves the
        3×3 centre, at 2 mask px per plate px (a crop twice as dense) only the middle pixel;
        a fractional erode goes that part of the way between the whole-pixel ones:

        >>> square = np.zeros((9, 9), np.float32)
        >>> square[2:7, 2:7] = 1.0
        >>> out = refine_mask(square, erode_px=1, blur_px=0, px_scale=1.0)
        >>> out.dtype, float(out.sum()), float(refine_mask(square, 1, 0, px_scale=2.0).sum())
        (dtype('float32'), 9.0, 1.0)
        >>> float(refine_mask(square, erode_px=-1, blur_px=0, px_scale=1.0).sum())  # dilate
        45.0
        >>> float(refine_mask(square, erode_px=0.25, blur_px=0, px_scale=1.0).sum())  # 25 − 16/4
        21.0
        >>> np.round(refine_mask(square, erode_px=0, blur_px=4, px_scale=1.0)[4], 2)  # feather
        array([0.06, 0.3 , 0.69, 0.93, 0.98, 0.93, 0.69, 0.3 , 0.06], dtype=float32)
    """
    out = np.asarray(mask, np.float32)
    er = erode_px * px_scale
    if abs(er) > 1e-6:
        # A fractional radius lerps the two whole-pixel ones round it, so the knob acts
        # continuously: a 96 px crop's pixel is several plate pixels, and rounding made Erode
        # a staircase (nothing over a 2.5 px drag, then a jump; docs/engine.md).
        n, frac = int(abs(er)), abs(er) - int(abs(er))
        inner = _morph(out, n, er > 0)
        out = inner if frac < 1e-6 else inner + np.float32(frac) * (
            _morph(out, n + 1, er > 0) - inner)
    bl = blur_px * px_scale
    if bl >= 0.5:
        sigma = bl / 4.0
        out = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return np.clip(out, 0.0, 1.0)
