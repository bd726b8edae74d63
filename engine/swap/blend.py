"""Blending the swapped face into the plate, and the face-crop touches before it.

Conventions: images float32 `H×W×C`; masks float32 `H×W` in [0, 1]. `overlay` works in whatever
space it is given (the pipeline gives it scene-linear pixels); `seamless` solves in the crop
(model space) and is exact Poisson in float, no 8-bit round trip.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import SettingsError

BLEND_MODES = ("overlay", "seamless", "hist-overlay")


def overlay(target: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """I_out = M ⊙ I_face + (1 − M) ⊙ I_target (paper Eq. 1), per pixel and channel.

    Example:
        >>> target = np.zeros((2, 3, 3), np.float32)  # H×W×C
        >>> face = np.ones((2, 3, 3), np.float32)
        >>> mask = np.array([[0.0, 0.25, 1.0], [0.0, 0.5, 1.0]], np.float32)  # H×W
        >>> out = overlay(target, face, mask)
        >>> out.shape, out.dtype
        ((2, 3, 3), dtype('float32'))
        >>> out[..., 0]
        array([[0.  , 0.25, 1.  ],
               [0.  , 0.5 , 1.  ]], dtype=float32)
    """
    m = mask[..., None] if mask.ndim == target.ndim - 1 else mask
    return (m * face + (1.0 - m) * target).astype(np.float32)


def overlay_into(face: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Eq. 1 rewritten as target + M ⊙ (face − target), computed in `face`'s buffer (no
    temporaries: this runs over the face's whole plate region every frame).

    Example:
        Same result as `overlay`, but written over `face` (which is returned):

        >>> target = np.full((2, 3, 3), 0.2, np.float32)
        >>> face = np.ones((2, 3, 3), np.float32)
        >>> mask = np.array([[0.0, 0.25, 1.0], [0.0, 0.5, 1.0]], np.float32)
        >>> expected = overlay(target, face, mask)
        >>> out = overlay_into(face, target, mask)
        >>> out is face, np.allclose(out, expected)
        (True, True)
        >>> out[..., 0]
        array([[0.2, 0.4, 1. ],
               [0.2, 0.6, 1. ]], dtype=float32)
    """
    np.subtract(face, target, out=face)
    np.multiply(face, mask[..., None] if mask.ndim == face.ndim - 1 else mask, out=face)
    np.add(face, target, out=face)
    return face


def seamless(target: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson blending (paper Eq. 2): inside M > 0.5 the result has `face`'s gradients and
    meets `target` continuously on the region's boundary; outside it is `target`.

    Example:
        A bright face (0.8) with one brighter pixel (1.0), pasted into a dark plate (0.2): the
        face's flat level is replaced by the plate's, its detail (+0.2 there) is kept:

        >>> target = np.full((7, 7, 1), 0.2, np.float32)
        >>> face = np.full((7, 7, 1), 0.8, np.float32)
        >>> face[3, 3] = 1.0
        >>> mask = np.zeros((7, 7), np.float32)
        >>> mask[1:6, 1:6] = 1.0
        >>> out = seamless(target, face, mask)
        >>> out.shape, out.dtype
        ((7, 7, 1), dtype('float32'))
        >>> np.round(out[..., 0], 3)
        array([[0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
               [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
               [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
               [0.2, 0.2, 0.2, 0.4, 0.2, 0.2, 0.2],
               [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
               [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2],
               [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]], dtype=float32)
    """
    # SciPy only for this blend mode: a host process loads it when a comp asks for seamless,
    # and importing it costs ~0.3 s at the start of every command that imports the swap stages.
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

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
    """Unsharp mask: image + amount · (image − blur(image)); amount 0 returns the input.

    Example:
        An edge from 0.2 to 0.8 gains an undershoot and an overshoot on its two sides:

        >>> edge = np.repeat(np.array([[0.2] * 4 + [0.8] * 4], np.float32), 3, axis=0)  # 3×8
        >>> out = sharpen(edge, amount=1.0)
        >>> out.dtype, np.round(out[1], 2)
        (dtype('float32'), array([0.2 , 0.2 , 0.16, 0.02, 0.98, 0.84, 0.8 , 0.8 ], dtype=float32))
        >>> sharpen(edge, amount=0.0) is edge
        True
    """
    if amount <= 0:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), radius)
    return (image + amount * (image - blurred)).astype(np.float32)


def motion_blur(image: np.ndarray, motion: tuple[float, float]) -> np.ndarray:
    """Blur along a motion vector (pixels, x/y) with a line kernel; tiny motion is a no-op.

    Example:
        A single bright pixel smeared 4 px along x; the total is kept:

        >>> dot = np.zeros((3, 9), np.float32)
        >>> dot[1, 4] = 1.0
        >>> out = motion_blur(dot, (4.0, 0.0))
        >>> out
        array([[0. , 0. , 0. , 0. , 0. , 0. , 0. , 0. , 0. ],
               [0. , 0. , 0.2, 0.2, 0.2, 0.2, 0.2, 0. , 0. ],
               [0. , 0. , 0. , 0. , 0. , 0. , 0. , 0. , 0. ]], dtype=float32)
        >>> round(float(out.sum()), 6), motion_blur(dot, (0.5, 0.5)) is dot
        (1.0, True)
    """
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
    """`mode` if it is one of `BLEND_MODES`, else `SettingsError`.

    Example:
        >>> check_blend_mode("seamless")
        'seamless'
        >>> check_blend_mode("poisson")
        Traceback (most recent call last):
        ...
        engine.errors.SettingsError: blend mode 'poisson' unknown; use one of overlay, ...
    """
    if mode not in BLEND_MODES:
        raise SettingsError(f"blend mode {mode!r} unknown; use one of {', '.join(BLEND_MODES)}")
    return mode
