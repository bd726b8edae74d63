"""Masks from landmarks: the face hull, eyes and mouth (learned and XSeg masks come later).

Convention: masks are float32 `H×W` in [0, 1] in the pixel frame of the landmarks given
(image or aligned crop); polygons are filled with anti-aliased edges at pixel centres.
"""

from __future__ import annotations

import cv2
import numpy as np

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


def hull_points(landmarks: np.ndarray) -> np.ndarray:
    """Convex hull of the face: jaw, plus the brows raised by 1/4 of the brow-to-chin height so
    the forehead skin above the brows is covered (as a compositor would roto it)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    brows = lm[17:27].copy()
    up = lm[8] - lm[27]  # chin minus nose bridge: the face's "down" direction
    brows -= up * 0.25
    pts = np.vstack([lm[0:17], brows]).astype(np.float32)
    return cv2.convexHull(pts).reshape(-1, 2)


def hull_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled face hull, `shape = (H, W)`."""
    return _fill(shape, [hull_points(landmarks)])


def eyes_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Both eye regions (convex hulls of each eye's 6 points)."""
    lm = np.asarray(landmarks, dtype=np.float32)
    return _fill(shape, [cv2.convexHull(lm[i]).reshape(-1, 2) for i in (_EYE_L, _EYE_R)])


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mouth region (convex hull of the outer lip points)."""
    lm = np.asarray(landmarks, dtype=np.float32)
    return _fill(shape, [cv2.convexHull(lm[_MOUTH]).reshape(-1, 2)])
