"""Blending the swapped face into the plate, and the face-crop touches before it.

Conventions: images float32 `H×W×C`; masks float32 `H×W` in [0, 1]. `overlay` works in whatever
space it is given (the pipeline gives it scene-linear pixels); `seamless` solves in the crop
(model space) and is exact Poisson in float, no 8-bit round trip.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from engine.errors import SettingsError

BLEND_MODES = ("overlay", "seamless", "hist-overlay")


def overlay(target: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """I_out = M ⊙ I_face + (1 − M) ⊙ I_target (paper Eq. 1), per pixel and channel."""
    m = mask[..., None] if mask.ndim == target.ndim - 1 else mask
    return (m * face + (1.0 - m) * target).astype(np.float32)


def overlay_into(face: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Eq. 1 rewritten as target + M ⊙ (face − target), computed in `face`'s buffer (no
    temporaries: this runs over the face's whole plate region every frame)."""
    np.subtract(face, target, out=face)
    np.multiply(face, mask[..., None] if mask.ndim == face.ndim - 1 else mask, out=face)
    np.add(face, target, out=face)
    return face


def seamless(target: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson blending (paper Eq. 2): inside M > 0.5 the result has `face`'s gradients and
    meets `target` continuously on the region's boundary; outside it is `target`."""
    region = mask > 0.5
    region[[0, -1], :] = False
    region[:, [0, -1]] = False  # the crop border is always boundary
    ys, xs = np.nonzero(region)
    n = ys.size
    out = target.astype(np.float64).copy()
    if n == 0:
        return out.astype(np.float32)
    index = -np.ones(region.shape, np.int64)
    index[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
    rhs = 4.0 * face[ys, xs].astype(np.float64)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        rhs -= face[ny, nx]
        inside = index[ny, nx] >= 0
        rows.append(np.nonzero(inside)[0])
        cols.append(index[ny[inside], nx[inside]])
        vals.append(np.full(inside.sum(), -1.0))
        rhs[~inside] += target[ny[~inside], nx[~inside]]
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n))
    solve = spla.factorized(a.tocsc())
    for c in range(target.shape[2]):
        out[ys, xs, c] = solve(rhs[:, c])
    return out.astype(np.float32)


def sharpen(image: np.ndarray, amount: float, radius: float = 1.0) -> np.ndarray:
    """Unsharp mask: image + amount · (image − blur(image)); amount 0 returns the input."""
    if amount <= 0:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), radius)
    return (image + amount * (image - blurred)).astype(np.float32)


def motion_blur(image: np.ndarray, motion: tuple[float, float]) -> np.ndarray:
    """Blur along a motion vector (pixels, x/y) with a line kernel; tiny motion is a no-op."""
    length = float(np.hypot(*motion))
    if length < 1.0:
        return image
    k = int(np.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    c = (k - 1) / 2
    ux, uy = motion[0] / length, motion[1] / length
    for t in np.linspace(-length / 2, length / 2, max(k * 2, 3)):
        kernel[int(round(c + uy * t)), int(round(c + ux * t))] = 1.0
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def check_blend_mode(mode: str) -> str:
    if mode not in BLEND_MODES:
        raise SettingsError(f"blend mode {mode!r} unknown; use one of {', '.join(BLEND_MODES)}")
    return mode
