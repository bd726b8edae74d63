"""Temporal stability of a render against its plate: jitter of landmarks, face colour and mask edge.

Every measure is the frame-to-frame change of the *render relative to the plate*, so the face's
real motion and the plate's own lighting changes cancel: a render that follows the plate exactly
scores 0, a render offset from the plate by a constant also scores 0 (that is an accuracy error,
reported by the landmark and colour metrics), and only wobble, flicker and crawling edges count.
Values are given for frame t when frame t-1 is also measured (consecutive frame numbers only: a
gap in the shot is not a cut to score).

Conventions: landmarks `(68, 2)` image pixels; colours sRGB-encoded in [0, 1] (reported ×255, in
8-bit code values); masks `H×W` in [0, 1] in the plate face's aligned crop (so the face's motion
is removed), edges at 0.5. Landmark and mask jitter are in units of the inter-ocular distance.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import SettingsError


def landmark_jitter(plate_prev: np.ndarray, plate: np.ndarray, render_prev: np.ndarray,
                    render: np.ndarray, iod: float) -> float:
    """Mean over 68 points of |Δ(render − plate)| between consecutive frames, over the IOD."""
    d_prev = np.asarray(render_prev, np.float64) - np.asarray(plate_prev, np.float64)
    d = np.asarray(render, np.float64) - np.asarray(plate, np.float64)
    if d.shape != (68, 2) or d_prev.shape != (68, 2):
        raise SettingsError("landmark_jitter needs (68, 2) landmarks for both frames")
    return float(np.linalg.norm(d - d_prev, axis=1).mean() / iod)


def color_jitter(plate_prev: np.ndarray, plate: np.ndarray, render_prev: np.ndarray,
                 render: np.ndarray) -> float:
    """|Δ(render mean colour − plate mean colour)| (RGB Euclidean) between frames, ×255."""
    d_prev = np.subtract(render_prev, plate_prev, dtype=np.float64)
    d = np.subtract(render, plate, dtype=np.float64)
    return float(np.linalg.norm(d - d_prev) * 255.0)


def mean_color(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean RGB over mask > 0.5 (`(3,)` float64)."""
    sel = np.asarray(mask) > 0.5
    if not sel.any():
        raise SettingsError("face region is empty; cannot measure its colour")
    return np.asarray(image, np.float64)[sel].mean(axis=0)


def _edge(mask: np.ndarray) -> np.ndarray:
    """Boolean map of the boundary pixels of mask > 0.5 (inside pixels with an outside
    4-neighbour)."""
    m = (np.asarray(mask) > 0.5).astype(np.uint8)
    eroded = cv2.erode(m, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8),
                       borderType=cv2.BORDER_REPLICATE)
    return (m - eroded).astype(bool)


def edge_distance(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Symmetric mean distance in pixels between the 0.5-edges of two masks (chamfer).

    NaN when either mask has no edge inside the image (empty or full).
    """
    if mask_a.shape != mask_b.shape:
        raise SettingsError(f"masks differ in shape: {mask_a.shape} vs {mask_b.shape}")
    ea, eb = _edge(mask_a), _edge(mask_b)
    if not ea.any() or not eb.any():
        return float("nan")
    # distanceTransform gives each pixel's distance to the nearest zero: zeros on the edges.
    da = cv2.distanceTransform((~ea).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    db = cv2.distanceTransform((~eb).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(0.5 * (db[ea].mean() + da[eb].mean()))


def worst_frames(frames: list[int], values: list[float], k: int = 5,
                 higher_is_worse: bool = True) -> list[tuple[int, float]]:
    """The `k` worst `(frame, value)` pairs, worst first; NaNs are skipped."""
    pairs = [(f, float(v)) for f, v in zip(frames, values, strict=True) if np.isfinite(v)]
    pairs.sort(key=lambda p: -p[1] if higher_is_worse else p[1])
    return pairs[:k]
