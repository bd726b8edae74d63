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
    """RMS distance of the landmarks from their centroid, in pixels (≈ 0.37 × box side).

    Example:
        >>> from engine.geometry.align import mean_face
        >>> round(face_scale(mean_face() * 100), 2)
        50.12
        >>> round(face_scale(mean_face() * 200 + [300, 150]), 2)  # scales with size, not place
        100.24
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    return float(np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=1).mean()))


def smooth_landmarks(frames: Sequence[int], landmarks: np.ndarray, radius: int = 3,
                     motion_sigma: float = 0.08, time_sigma: float | None = None) -> np.ndarray:
    """Bilaterally smooth a landmark track; returns a new `(T, 68, 2)` float32 array.

    `radius`: frames on each side (0 disables). `motion_sigma`: whole-face RMS displacement, as a
    fraction of face scale, at which a neighbour's weight falls to e^-1/2. `time_sigma` defaults
    to `radius / 2`.

    Example:
        A still face with ±1 px detector jitter in x, which at frame 1007 jumps 40 px (a real
        move): the jitter shrinks to a few tenths of a pixel, the jump is followed at once.

        >>> from engine.geometry.align import mean_face
        >>> face = mean_face() * 100 + [200, 150]
        >>> dx = np.array([11, 9, 11, 9, 11, 9, 51, 49, 51, 49, 51, 49])
        >>> track = np.repeat(face[None], 12, axis=0)  # (T, 68, 2), T = 12 frames
        >>> track[:, :, 0] += dx[:, None]
        >>> out = smooth_landmarks(range(1001, 1013), track)
        >>> out.shape, out.dtype
        ((12, 68, 2), dtype('float32'))
        >>> np.round(out[:, 30, 0] - face[30, 0], 1)  # nose tip's x offset per frame
        array([10.3, 10. , 10.1,  9.9, 10. ,  9.7, 50.3, 50. , 50.1, 49.9, 50. , 49.7])
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
