"""Temporal smoothing of landmark tracks that removes jitter without lagging real motion.

Method: a bilateral filter in time. Each frame's smoothed landmarks are a weighted mean of the
frames within ±`radius` (contiguous frame numbers only), weighted by a Gaussian of the time offset
times a Gaussian of how far the whole face moved between the two frames, measured relative to the
face's own size. Detector jitter (a pixel or two) is small against `motion_sigma`, so it is
averaged out; a real move (a head turn, a cut-like jolt) is large, so frames across it get little
weight and the step is followed within a frame or two. The window is centred (the whole shot is
known when smoothing offline), so steady motion is not delayed at all.

Convention: `landmarks` is `(T, 68, 2)` float32 in image pixels, `frames` their frame numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.errors import SettingsError


def face_scale(landmarks: np.ndarray) -> float:
    """RMS distance of the landmarks from their centroid, in pixels (≈ 0.37 × box side)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return float(np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=1).mean()))


def smooth_landmarks(frames: Sequence[int], landmarks: np.ndarray, radius: int = 3,
                     motion_sigma: float = 0.08, time_sigma: float | None = None) -> np.ndarray:
    """Bilaterally smooth a landmark track; returns a new `(T, 68, 2)` float32 array.

    `radius`: frames on each side (0 disables). `motion_sigma`: whole-face RMS displacement, as a
    fraction of face scale, at which a neighbour's weight falls to e^-1/2. `time_sigma` defaults
    to `radius / 2`.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2) or lm.shape[0] != len(frames):
        raise SettingsError(
            f"landmarks must be (T, 68, 2) with T = {len(frames)} frames, got {lm.shape}"
        )
    if radius < 0 or motion_sigma <= 0:
        raise SettingsError(
            f"radius must be ≥ 0 and motion_sigma > 0, got {radius}, {motion_sigma}"
        )
    if radius == 0 or len(frames) < 2:
        return lm.astype(np.float32)
    ts = time_sigma if time_sigma is not None else max(radius / 2.0, 0.5)
    index = {int(f): i for i, f in enumerate(frames)}
    out = np.empty_like(lm)
    for i, f in enumerate(frames):
        scale = max(face_scale(lm[i]), 1e-6)
        acc = np.zeros((68, 2))
        total = 0.0
        for dt in range(-radius, radius + 1):
            j = index.get(int(f) + dt)
            if j is None:
                continue
            move = np.sqrt(((lm[j] - lm[i]) ** 2).sum(axis=1).mean()) / scale
            w = np.exp(-0.5 * (dt / ts) ** 2) * np.exp(-0.5 * (move / motion_sigma) ** 2)
            acc += w * lm[j]
            total += w
        out[i] = acc / total
    return out.astype(np.float32)
