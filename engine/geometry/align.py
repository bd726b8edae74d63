"""Alignment: Umeyama similarity, canonical mean face, face types, warps to and from crops.

Conventions:
- Matrices are `2×3 float64` similarities mapping **image pixels → aligned-crop pixels**
  (`img_to_crop`); the inverse is derived with `invert_similarity`, never stored.
- Pixel centres sit at integer coordinates (OpenCV convention), so a crop of size S spans
  [-0.5, S-0.5] and the canonical frame below maps [0, 1] onto that span.
- Landmarks are `(68, 2)` float32 `(x, y)`, iBUG 300-W order.

Face types (coverage grows outward from the inner face; `padding` is the margin added on each side
of the half-face box as a fraction of it, `shift` moves the crop centre up by a fraction of the
crop so forehead and hair fit):
    half      inner face (brows to mouth)          padding 0.0
    mid-full  half + cheeks                         padding 0.0675
    full      eyebrows to chin, ears excluded       padding 0.2109   (default)
    whole     full + forehead, jaw to jaw           padding 0.40, shift 0.05
    head      whole head and hair                   padding 0.70, shift 0.12
The padding numbers follow DeepFaceLab's published coverage so facesets are comparable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from engine.errors import SettingsError

# Left/right swap of the 68 iBUG points under a horizontal mirror.
FLIP_68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)

# Points used to fit the similarity: everything but the jaw line, whose outline slides with yaw.
ALIGN_POINTS = np.arange(17, 68)


@dataclass(frozen=True)
class FaceType:
    name: str
    padding: float
    shift: float = 0.0


FACE_TYPES: dict[str, FaceType] = {
    "half": FaceType("half", 0.0),
    "mid-full": FaceType("mid-full", 0.0675),
    "full": FaceType("full", 0.2109375),
    "whole": FaceType("whole", 0.40, 0.05),
    "head": FaceType("head", 0.70, 0.12),
}


def face_type(name: str) -> FaceType:
    """The `FaceType` called `name` (one of `FACE_TYPES`); `SettingsError` if unknown.

    Example:
        >>> face_type("full")
        FaceType(name='full', padding=0.2109375, shift=0.0)
        >>> face_type("head").shift  # crop centre moved up by 12% of the crop for the hair
        0.12
        >>> face_type("big")
        Traceback (most recent call last):
        ...
        engine.errors.SettingsError: face type 'big' unknown; use one of half, mid-full, full, ...
    """
    try:
        return FACE_TYPES[name]
    except KeyError:
        raise SettingsError(
            f"face type {name!r} unknown; use one of {', '.join(FACE_TYPES)}"
        ) from None


@lru_cache(maxsize=1)
def mean_face() -> np.ndarray:
    """Canonical 68-point mean face `(68, 2)` float64 in the unit half-face frame.

    The inner points 17-67 span [0, 1] on both axes. Derived by generalised Procrustes over the
    sample faces and their mirror images (tools/make_mean_face.py), so it is symmetric.

    Example:
        >>> mf = mean_face()
        >>> mf.shape, mf.dtype
        ((68, 2), dtype('float64'))
        >>> np.round(mf[17:].min(axis=0), 6), np.round(mf[17:].max(axis=0), 6)  # inner points
        (array([0., 0.]), array([1., 1.]))
        >>> bool(mf[8, 1] > 1.0)  # the chin (jaw line) lies outside the unit square
        True
    """
    data = json.loads((Path(__file__).parents[1] / "data" / "mean_face_68.json").read_text())
    return np.asarray(data["points"], dtype=np.float64)


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping `src` points onto `dst`; `2×3` float64.

    `src`, `dst`: `(N, 2)` corresponding points, N ≥ 2. Reflections are excluded.

    Example:
        A unit square rotated by -90° (y down: clockwise on screen), scaled by 2 and moved:

        >>> src = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
        >>> dst = np.array([[10, 20], [10, 18], [12, 20], [12, 18]], dtype=np.float64)
        >>> m = umeyama(src, dst)
        >>> m.shape, m.dtype
        ((2, 3), dtype('float64'))
        >>> np.round(m, 6) + 0.0  # [[s*R | t]]; + 0.0 folds -0. into 0.
        array([[ 0.,  2., 10.],
               [-2.,  0., 20.]])
        >>> np.round(umeyama(src, dst, estimate_scale=False), 6) + 0.0  # rotation only
        array([[ 0. ,  1. , 10.5],
               [-1. ,  0. , 19.5]])
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise SettingsError(f"umeyama needs two (N≥2, 2) arrays, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / src.shape[0]
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1.0
    rot = u @ fix @ vt
    var_s = (s**2).sum() / src.shape[0]
    scale = (sig * np.diag(fix)).sum() / var_s if estimate_scale else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def invert_similarity(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a `2×3` affine (crop → image when given image → crop).

    Example:
        >>> img_to_crop = np.array([[0.0, 2.0, 10.0], [-2.0, 0.0, 20.0]])
        >>> crop_to_img = invert_similarity(img_to_crop)
        >>> crop_to_img
        array([[ 0. , -0.5, 10. ],
               [ 0.5,  0. , -5. ]])
        >>> transform_points(transform_points([[3, 4]], img_to_crop), crop_to_img)
        array([[3., 4.]], dtype=float32)
    """
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a `2×3` matrix to `(N, 2)` points; float32 out.

    Example:
        >>> m = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, 20.0]])  # scale 2, then move (10, 20)
        >>> transform_points([[0, 0], [5, 5]], m)
        array([[10., 20.],
               [20., 30.]], dtype=float32)
    """
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def canonical_to_crop(size: int, ftype: FaceType) -> np.ndarray:
    """`2×3` matrix from the unit half-face frame to pixels of a `size` crop of `ftype`.

    Example:
        For `half` the unit square [0, 1]² fills the crop edge to edge (pixel centres at
        0 … size-1, edges at -0.5 and size-0.5); wider types add padding and shift it down:

        >>> canonical_to_crop(96, face_type("half"))
        array([[96. ,  0. , -0.5],
               [ 0. , 96. , -0.5]])
        >>> transform_points([[0, 0], [1, 1]], canonical_to_crop(96, face_type("half")))
        array([[-0.5, -0.5],
               [95.5, 95.5]], dtype=float32)
        >>> canonical_to_crop(96, face_type("head"))
        array([[40.  ,  0.  , 27.5 ],
               [ 0.  , 40.  , 39.02]])
    """
    extent = 1.0 + 2.0 * ftype.padding
    k = size / extent
    # Unit-frame u in [-padding, 1+padding] spans the crop's pixel edges [-0.5, size-0.5].
    return np.array([[k, 0.0, k * ftype.padding - 0.5],
                     [0.0, k, k * ftype.padding - 0.5 + ftype.shift * size]])


def align_matrix(landmarks: np.ndarray, size: int, ftype: str | FaceType = "full") -> np.ndarray:
    """`img_to_crop` matrix placing a face's landmarks onto the mean face in a `size` crop.

    Example:
        A face 200 px wide at (300, 150) in a frame, aligned into a 96 px `full` crop: the
        matrix maps **image pixels → crop pixels**, so `transform_points` lands the landmarks
        in the crop, where they sit on the mean face (eyes level, nose on the centre line).

        >>> lm = mean_face() * 200 + [300, 150]  # (68, 2) landmarks in image pixels
        >>> m = align_matrix(lm, 96)
        >>> m.shape, round(float(np.sqrt(np.linalg.det(m[:, :2]))), 4)  # crop px per image px
        ((2, 3), 0.3376)
        >>> np.round(transform_points(lm, m)[[36, 45, 30]], 1)  # outer eye corners, nose tip
        array([[22.1, 29.8],
               [72.9, 29.8],
               [47.5, 47.4]], dtype=float32)
        >>> transform_points([[47.5, 47.5]], invert_similarity(m))  # crop centre -> image
        array([[400., 250.]], dtype=float32)
        >>> np.round(transform_points(lm, align_matrix(lm, 96, "head"))[[36, 45, 30]], 1)
        array([[32.5, 48.6],
               [62.5, 48.6],
               [47.5, 59. ]], dtype=float32)
    """
    ft = face_type(ftype) if isinstance(ftype, str) else ftype
    if size < 8:
        raise SettingsError(f"crop size must be at least 8 px, got {size}")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise SettingsError(f"landmarks must be finite (68, 2), got shape {lm.shape}")
    img_to_unit = umeyama(lm[ALIGN_POINTS], mean_face()[ALIGN_POINTS])
    c = canonical_to_crop(size, ft)
    return c[:, :2] @ np.vstack([img_to_unit, [0, 0, 1]])[:2] + np.hstack(
        [np.zeros((2, 2)), c[:, 2:]]
    )


SUPERSAMPLE = 2  # samples per crop pixel and axis when the crop shrinks the frame


def crop_read_box(img_to_crop: np.ndarray, size: int,
                  image_shape: tuple[int, ...] | None = None) -> tuple[int, int, int, int]:
    """The frame region `(x0, y0, x1, y1)` (exclusive ends) that `warp_to_crop` reads: the crop's
    footprint plus the bicubic kernel's margin; clipped to `image_shape` when given (else it may
    reach outside the frame).

    Example:
        >>> to_crop = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -20.0]])  # crop = image - (10, 20)
        >>> crop_read_box(to_crop, 4)  # crop pixels 0..3 read image x 10..13, y 20..23, + margin
        (7, 17, 17, 27)
        >>> crop_read_box(to_crop, 4, image_shape=(24, 15, 3))  # clipped to a 15×24 frame
        (7, 17, 15, 24)
    """
    x0, y0, x1, y1 = crop_roi(img_to_crop, size, None, margin=2)
    if image_shape is None:
        return x0, y0, x1, y1
    h, w = image_shape[:2]
    return max(x0, 0), max(y0, 0), max(min(x1, w), 0), max(min(y1, h), 0)


def warp_to_crop(image: np.ndarray, img_to_crop: np.ndarray, size: int,
                 border: int = cv2.BORDER_REPLICATE, origin: tuple[int, int] = (0, 0)
                 ) -> np.ndarray:
    """Resample `image` (`H×W×C` float32, any colour space) into a `size×size` aligned crop.

    The one crop function: extraction (faceset crops, hence training) and render (the model's
    input) both call it, so a model sees at render time the resampling it was trained on.
    `image` is the frame, or a region of it whose pixel (0, 0) is frame pixel `origin` and which
    holds `crop_read_box`; both give the same crop, bit for bit, because only that box is read
    and every coordinate is computed from frame pixels.

    Rule: bicubic when enlarging; when the crop shrinks the frame (scale < 1), bilinear at 2× the
    crop's size, then each 2×2 block averaged (`INTER_AREA`): a prefilter in crop space like the
    area resize the trainer applies to faceset crops. Plain bicubic (or OpenCV's warp Lanczos,
    which does not prefilter either) aliases there (docs/engine.md has the measurements).

    Example:
        An image whose value is `40 * y + x`, cropped by a pure shift (crop = image - (10, 20)):

        >>> image = np.arange(30 * 40, dtype=np.float32).reshape(30, 40, 1)
        >>> to_crop = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -20.0]])
        >>> crop = warp_to_crop(image, to_crop, 4)
        >>> crop.shape, crop.dtype
        ((4, 4, 1), dtype('float32'))
        >>> crop[..., 0]  # image rows 20-23, columns 10-13
        array([[810., 811., 812., 813.],
               [850., 851., 852., 853.],
               [890., 891., 892., 893.],
               [930., 931., 932., 933.]], dtype=float32)

        Reading only `crop_read_box` from the frame gives the same crop, bit for bit:

        >>> x0, y0, x1, y1 = crop_read_box(to_crop, 4, image.shape)
        >>> region = image[y0:y1, x0:x1]
        >>> np.array_equal(warp_to_crop(region, to_crop, 4, origin=(x0, y0)), crop)
        True
    """
    m = np.asarray(img_to_crop, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    k = SUPERSAMPLE if scale < 1.0 else 1
    h, w = image.shape[:2]
    ox, oy = origin
    fx0, fy0, fx1, fy1 = crop_read_box(m, size)
    x0, y0 = max(fx0, ox), max(fy0, oy)
    x1, y1 = min(fx1, ox + w), min(fy1, oy + h)
    if x1 <= x0 or y1 <= y0:  # the crop lies wholly outside: replicate the image's edge
        x0, y0, x1, y1 = ox, oy, ox + w, oy + h
    region = image[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    # region pixels -> crop pixels, then crop -> supersampled crop: pixel u of the big crop
    # covers crop x = (u - (k-1)/2) / k, so k×k samples are centred on every crop pixel.
    rm = np.hstack([m[:, :2], (m[:, :2] @ np.array([x0, y0], np.float64) + m[:, 2])[:, None]])
    if k > 1:
        rm = rm * k + np.array([[0.0, 0.0, (k - 1) / 2], [0.0, 0.0, (k - 1) / 2]])
    # At 2× density a bilinear sample is enough (with the box it forms a tent prefilter) and
    # measured closer to the training crop than bicubic: 50.8 vs 50.3 dB (docs/engine.md).
    out = cv2.warpAffine(region, rm, (size * k, size * k),
                         flags=cv2.INTER_LINEAR if k > 1 else cv2.INTER_CUBIC, borderMode=border)
    if k > 1:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    return out if out.ndim == image.ndim else out[..., None]


def roi_matrix(img_to_crop: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
    """The `img_to_crop` matrix for an image region whose pixel (0, 0) is image pixel `origin`
    (`(x0, y0)`): region pixels → crop pixels. The one place this algebra lives.

    Example:
        >>> to_crop = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -20.0]])
        >>> roi_matrix(to_crop, (10, 20))  # region pixel (0, 0) is image pixel (10, 20)
        array([[1., 0., 0.],
               [0., 1., 0.]])
        >>> to_crop = np.array([[0.5, 0.0, 3.0], [0.0, 0.5, 4.0]])
        >>> m = roi_matrix(to_crop, (10, 20))
        >>> transform_points([[0, 0]], m), transform_points([[10, 20]], to_crop)
        (array([[ 8., 14.]], dtype=float32), array([[ 8., 14.]], dtype=float32))
    """
    m = np.asarray(img_to_crop, dtype=np.float64)
    t = m[:, :2] @ np.asarray(origin, dtype=np.float64) + m[:, 2]
    return np.hstack([m[:, :2], t[:, None]])


def crop_roi(img_to_crop: np.ndarray, size: int, image_shape: tuple[int, ...] | None,
             margin: int = 2, box: tuple[float, float, float, float] | None = None
             ) -> tuple[int, int, int, int]:
    """Integer image region `(x0, y0, x1, y1)` (exclusive ends) covered by the crop, clipped to
    `image_shape` (`(H, W, …)`; None: not clipped, may reach outside the image).

    `box` narrows it to a part of the crop, `(x0, y0, x1, y1)` in crop pixels (edges).

    Example:
        >>> to_crop = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -20.0]])  # crop = image - (10, 20)
        >>> crop_roi(to_crop, 4, (30, 40, 3))
        (7, 17, 17, 27)
        >>> crop_roi(to_crop, 4, None, margin=0)  # pixel edges -0.5..3.5 floor/ceil outwards
        (9, 19, 15, 25)
        >>> crop_roi(to_crop, 4, (30, 40), margin=0, box=(-0.5, -0.5, 1.5, 1.5))  # top-left 2×2
        (9, 19, 13, 23)
    """
    bx0, by0, bx1, by1 = box if box is not None else (-0.5, -0.5, size - 0.5, size - 0.5)
    corners = np.array([[bx0, by0], [bx1, by0], [bx0, by1], [bx1, by1]], dtype=np.float64)
    pts = transform_points(corners, invert_similarity(img_to_crop))
    x0 = int(np.floor(pts[:, 0].min()) - margin)
    y0 = int(np.floor(pts[:, 1].min()) - margin)
    x1 = int(np.ceil(pts[:, 0].max()) + margin + 1)
    y1 = int(np.ceil(pts[:, 1].max()) + margin + 1)
    if image_shape is None:
        return x0, y0, x1, y1
    h, w = image_shape[:2]
    return (int(np.clip(x0, 0, w)), int(np.clip(y0, 0, h)), int(np.clip(x1, 0, w)),
            int(np.clip(y1, 0, h)))


def warp_from_crop(crop: np.ndarray, img_to_crop: np.ndarray,
                   roi: tuple[int, int, int, int]) -> np.ndarray:
    """Resample a crop back into the image over `roi` only; returns `(y1-y0)×(x1-x0)×C`.

    Pixels outside the crop's footprint are 0 (pair with a mask warped the same way).

    Example:
        The inverse of the `warp_to_crop` example: the 4×4 crop goes back to image pixels
        x 10..13, y 20..23; the one-pixel ring of the roi around it is outside the crop, so 0.

        >>> to_crop = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -20.0]])
        >>> crop = np.arange(16, dtype=np.float32).reshape(4, 4, 1) + 1
        >>> roi = crop_roi(to_crop, 4, (30, 40), margin=0)
        >>> roi
        (9, 19, 15, 25)
        >>> back = warp_from_crop(crop, to_crop, roi)
        >>> back.shape, back.dtype
        ((6, 6, 1), dtype('float32'))
        >>> back[..., 0]
        array([[ 0.,  0.,  0.,  0.,  0.,  0.],
               [ 0.,  1.,  2.,  3.,  4.,  0.],
               [ 0.,  5.,  6.,  7.,  8.,  0.],
               [ 0.,  9., 10., 11., 12.,  0.],
               [ 0., 13., 14., 15., 16.,  0.],
               [ 0.,  0.,  0.,  0.,  0.,  0.]], dtype=float32)
    """
    x0, y0, x1, y1 = roi
    out = cv2.warpAffine(crop, roi_matrix(img_to_crop, (x0, y0)), (x1 - x0, y1 - y0),
                         flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out if out.ndim == crop.ndim else out[..., None]


def mirror_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally mirrored image (x → width-1-x, left/right relabelled).

    Example:
        >>> lm = mean_face() * 100 + [50, 40]
        >>> mirrored = mirror_landmarks(lm, 200)
        >>> mirrored.shape, mirrored.dtype
        ((68, 2), dtype('float32'))
        >>> np.round(lm[16], 2), np.round(mirrored[0], 2)  # right jaw end becomes the left one
        (array([161.85,  74.8 ]), array([37.15, 74.8 ], dtype=float32))
        >>> bool(np.allclose(mirror_landmarks(mirrored, 200), lm))
        True
    """
    pts = np.asarray(landmarks, dtype=np.float32).copy()
    pts[:, 0] = (width - 1) - pts[:, 0]
    return pts[FLIP_68]
