"""Landmark measures: inter-ocular distance, landmark distance, mouth opening and width, eye
opening.

Convention: landmarks are `(68, 2)` float `(x, y)` image pixels, iBUG 300-W order. The
inter-ocular distance (IOD) is the 300-W normaliser: the distance between the outer eye corners
(points 36 and 45). Distances are returned as fractions of the plate face's IOD, so they do not
depend on the plate's resolution or the face's size.
"""

from __future__ import annotations

import numpy as np

from engine.errors import SettingsError

# Inner-lip pairs (upper, lower) and eye-lid pairs (upper, lower), with each eye's corners.
_MOUTH_PAIRS = ((61, 67), (62, 66), (63, 65))
_EYES = (((37, 41), (38, 40), (36, 39)), ((43, 47), (44, 46), (42, 45)))


def _pts(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, np.float64)
    if pts.shape != (68, 2):
        raise SettingsError(f"expected 68 landmarks (68, 2), got shape {pts.shape}")
    return pts


def inter_ocular(landmarks: np.ndarray) -> float:
    """Outer-eye-corner distance in pixels (300-W normalisation)."""
    pts = _pts(landmarks)
    iod = float(np.linalg.norm(pts[45] - pts[36]))
    if iod <= 1e-6:
        raise SettingsError("degenerate landmarks: the eye corners coincide")
    return iod


def landmark_distance(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean point-to-point distance of `other` from `reference`, in units of reference's IOD."""
    a, b = _pts(reference), _pts(other)
    return float(np.linalg.norm(a - b, axis=1).mean() / inter_ocular(a))


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap (mean of the three upper/lower pairs) over the IOD; ≈0 with lips closed."""
    pts = _pts(landmarks)
    gap = np.mean([np.linalg.norm(pts[u] - pts[d]) for u, d in _MOUTH_PAIRS])
    return float(gap / inter_ocular(pts))


def mouth_width(landmarks: np.ndarray) -> float:
    """Mouth-corner distance (points 48, 54) over the IOD; SettingsError where degenerate."""
    pts = _pts(landmarks)
    return float(np.linalg.norm(pts[54] - pts[48]) / inter_ocular(pts))


def eye_opening(landmarks: np.ndarray) -> float:
    """Eye aspect ratio (Soukupová & Čech 2016) averaged over both eyes; ≈0.3 open, ≈0 shut."""
    pts = _pts(landmarks)
    ratios = []
    for (a, b), (c, d), (l, r) in _EYES:
        lids = np.linalg.norm(pts[a] - pts[b]) + np.linalg.norm(pts[c] - pts[d])
        ratios.append(lids / (2.0 * max(np.linalg.norm(pts[l] - pts[r]), 1e-6)))
    return float(np.mean(ratios))


def correlation(reference: np.ndarray, other: np.ndarray, min_std: float = 1e-3
                ) -> float:
    """Pearson correlation of two per-frame series; NaN when either barely moves or < 3 frames.

    `min_std` is in the series' own units (e.g. mouth opening in IOD): a plate whose mouth never
    moves says nothing about expression transfer, and a correlation of noise would mislead.
    """
    x = np.asarray(reference, np.float64)
    y = np.asarray(other, np.float64)
    if x.shape != y.shape:
        raise SettingsError(f"series differ in length: {x.shape} vs {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or x.std() < min_std or y.std() < min_std:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])
