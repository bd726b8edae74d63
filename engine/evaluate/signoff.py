"""Sign-off checks: what a compositor sees at 2–3× zoom, measured per frame (issue 21).

The paper's numbers (SSIM, identity, landmarks) say whether the swap is the right person with the
right expression; these say whether the picture needs paint:

    seam       the L*a*b* step across the mask's edge (inside ring minus outside ring), per
               segment (top, sides, jaw), minus the plate's own step at the same pixels
    fringe     a*, b* of the render minus the plate inside the mask's feathered ring, per segment
    sharpness  high-frequency energy (Laplacian of L*) of the render over the plate's, in the
               inner face
    mouth      when the plate's mouth is open: share of dark pixels and teeth brightness inside
               the plate's inner-lip outline, render and plate
    eyes       L* contrast (p95 − p5: catchlight and sclera against iris and pupil) inside each
               eye outline, render over plate
    pixels     non-finite and negative linear values the render has where the plate has none
Temporal flicker of each is its frame-to-frame change (`flicker`).

Conventions (every function):
- Plate and render are the **same region of plate pixels** (no resampling: sharpness and edges are
  measured as the plate holds them), `H×W×3` float32. `*_srgb`: display-encoded in [0, 1]
  (clipped), as a viewer shows them; `*_linear`: the scene-linear values the files hold.
- Lab is CIE L*a*b* (D65) of the sRGB pixels by OpenCV's float conversion (L* 0–100).
- `mask`: `H×W` float32 in [0, 1], the render's blend mask (`doppel.mask`) over the region; its
  edge is the 0.5 level, its feathered ring 0.05 < mask < 0.95.
- `landmarks`: the **plate's** 68 points `(x, y)` in the region's pixels (iBUG 300-W order): every
  region (segments, inner face, inner mouth, eyes) is the plate's, so an unchanged plate measures
  exactly 0 (differences) or 1 (ratios).
- Segments are named as seen in the image: `top` (above the brows), `left`, `right` (beside the
  face, brows to mouth corners), `jaw-left`, `jaw-right` (below the mouth corners); left/right
  split at the face's vertical midline, in the face's own frame (a tilted head keeps its names).

Example:
    >>> import numpy as np
    >>> plate = np.full((8, 8, 3), 0.5, np.float32)
    >>> float(np.abs(lab(plate) - lab(plate)).max())
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import SettingsError
from engine.geometry.align import ALIGN_POINTS, mean_face, transform_points, umeyama
from engine.geometry.face_measures import mouth_width

SEGMENTS = ("top", "left", "right", "jaw-left", "jaw-right")
MIN_PIXELS = 12  # a segment's ring needs this many pixels on each side to be measured
FEATHER = (0.05, 0.95)  # the mask's feathered ring


def lab(srgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of display-encoded RGB in [0, 1] (clipped first); `H×W×3` float32."""
    x = np.ascontiguousarray(np.clip(np.nan_to_num(srgb, nan=0.0), 0.0, 1.0), np.float32)
    return cv2.cvtColor(x, cv2.COLOR_RGB2LAB)


def _check(name: str, *arrays: np.ndarray) -> None:
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) != 1:
        raise SettingsError(f"{name}: plate, render and mask must cover the same region, got "
                            f"{' vs '.join(str(a.shape) for a in arrays)}")


def face_coordinates(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Every pixel's position in the face's own unit frame, `H×W×2` float32 `(u, v)`.

    Convention: the similarity (Umeyama, no reflection) that maps the landmarks' rigid inner
    points onto the mean face, whose inner points 17–67 span [0, 1] on both axes: u grows to the
    image's right of the face, v downwards (brows ≈ 0, lower lip ≈ 1)."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise SettingsError(f"landmarks must be finite (68, 2), got {lm.shape}")
    m = umeyama(lm[ALIGN_POINTS], mean_face()[ALIGN_POINTS])
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return np.stack([u, v], axis=-1).astype(np.float32)


def segment_map(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`H×W` int8: the index in `SEGMENTS` of each pixel's side of the face (see module doc)."""
    uv = face_coordinates(landmarks, shape)
    unit = transform_points(landmarks, umeyama(np.asarray(landmarks, np.float64)[ALIGN_POINTS],
                                               mean_face()[ALIGN_POINTS]))
    brow_v = float(unit[17:27, 1].mean())
    mouth_v = float(unit[[48, 54], 1].mean())
    mid_u = float(unit[[27, 28, 29, 30, 33, 51, 57, 8], 0].mean())
    u, v = uv[..., 0], uv[..., 1]
    right = u >= mid_u
    seg = np.where(right, 2, 1).astype(np.int8)
    seg[v > mouth_v] = np.where(right, 4, 3)[v > mouth_v]
    seg[v < brow_v] = 0
    return seg


@dataclass(frozen=True)
class Rings:
    """Boolean maps around a mask's 0.5 edge: `inside`/`outside` within `width` px of it, and
    the feathered ring."""

    inside: np.ndarray
    outside: np.ndarray
    feather: np.ndarray


def rings(mask: np.ndarray, width: float) -> Rings:
    """Inside and outside rings of `width` pixels along the mask's 0.5 edge, and the feathered
    ring (FEATHER). A mask with no edge gives empty rings."""
    m = np.asarray(mask, np.float32)
    inner = (m >= 0.5).astype(np.uint8)
    # distanceTransform: each non-zero pixel's distance to the nearest zero pixel
    d_in = cv2.distanceTransform(inner, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - inner, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    if not inner.any() or inner.all():
        empty = np.zeros(m.shape, bool)
        return Rings(empty, empty, (m > FEATHER[0]) & (m < FEATHER[1]))
    return Rings((inner > 0) & (d_in <= width), (inner == 0) & (d_out <= width),
                 (m > FEATHER[0]) & (m < FEATHER[1]))


def seam(plate_lab: np.ndarray, render_lab: np.ndarray, mask: np.ndarray,
         landmarks: np.ndarray, width: float, *, ring: Rings | None = None,
         seg: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per segment, the render's Lab step across the mask edge minus the plate's own step at the
    same pixels: `(ΔL*, Δa*, Δb*)` float64, where step = mean(inside ring) − mean(outside ring).

    0 where the comp continues the plate's own transition across the edge; a band of darker
    swap inside the mask's top gives a negative ΔL* on `top`. Segments whose rings hold fewer
    than MIN_PIXELS pixels on either side are left out."""
    _check("seam", plate_lab, render_lab, mask)
    r = ring if ring is not None else rings(mask, width)
    seg = seg if seg is not None else segment_map(landmarks, mask.shape)
    out = {}
    for i, name in enumerate(SEGMENTS):
        a, b = r.inside & (seg == i), r.outside & (seg == i)
        if a.sum() < MIN_PIXELS or b.sum() < MIN_PIXELS:
            continue
        step_r = render_lab[a].mean(0, dtype=np.float64) - render_lab[b].mean(0, dtype=np.float64)
        step_p = plate_lab[a].mean(0, dtype=np.float64) - plate_lab[b].mean(0, dtype=np.float64)
        out[name] = step_r - step_p
    return out


def plate_step(plate_lab: np.ndarray, mask: np.ndarray, landmarks: np.ndarray, width: float,
               segment: str, *, ring: Rings | None = None, seg: np.ndarray | None = None
               ) -> float:
    """The plate's own L* step (inside − outside ring) on one segment, for reports."""
    r = ring if ring is not None else rings(mask, width)
    seg = seg if seg is not None else segment_map(landmarks, mask.shape)
    sel = seg == SEGMENTS.index(segment)
    a, b = r.inside & sel, r.outside & sel
    if a.sum() < MIN_PIXELS or b.sum() < MIN_PIXELS:
        return float("nan")
    return float(plate_lab[a][:, 0].mean() - plate_lab[b][:, 0].mean())


def fringe(plate_lab: np.ndarray, render_lab: np.ndarray, mask: np.ndarray,
           landmarks: np.ndarray, *, seg: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per segment, mean `(Δa*, Δb*)` (render − plate) over the mask's feathered ring: a colour
    the edge gains that neither side has (violet: Δa* > 0, Δb* < 0)."""
    _check("fringe", plate_lab, render_lab, mask)
    ring = (mask > FEATHER[0]) & (mask < FEATHER[1])
    seg = seg if seg is not None else segment_map(landmarks, mask.shape)
    out = {}
    for i, name in enumerate(SEGMENTS):
        sel = ring & (seg == i)
        if sel.sum() < MIN_PIXELS:
            continue
        out[name] = (render_lab[sel][:, 1:] - plate_lab[sel][:, 1:]).mean(0, dtype=np.float64)
    return out


def inner_face(landmarks: np.ndarray, shape: tuple[int, int], inset: float) -> np.ndarray:
    """Boolean map of the plate's landmark hull (jaw line and brows), shrunk by `inset` pixels
    so that no mask edge falls inside it."""
    lm = np.asarray(landmarks, np.float32)
    hull = cv2.convexHull(lm[:27]).reshape(-1, 2)
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(hull * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    k = int(round(inset))
    if k > 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    return m.astype(bool)


def hf_energy(l_star: np.ndarray, where: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of L* over `where` (L* units² per pixel)."""
    lap = cv2.Laplacian(np.ascontiguousarray(l_star, np.float32), cv2.CV_32F, ksize=1,
                        borderType=cv2.BORDER_REPLICATE)
    return float(np.mean(lap[where].astype(np.float64) ** 2)) if where.any() else float("nan")


def sharpness_ratio(plate_lab: np.ndarray, render_lab: np.ndarray, landmarks: np.ndarray,
                    inset: float) -> float:
    """High-frequency energy of the render's face over the plate's (1 = as sharp, 0.5 = half
    the detail energy), over the inner face (`inner_face`). NaN when the plate has none."""
    _check("sharpness", plate_lab, render_lab)
    where = inner_face(landmarks, plate_lab.shape[:2], inset)
    ep = hf_energy(plate_lab[..., 0], where)
    if not np.isfinite(ep) or ep <= 1e-9:
        return float("nan")
    return hf_energy(render_lab[..., 0], where) / ep


def _polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(points, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(m, [pts], 1, cv2.LINE_8, shift=4)
    return m.astype(bool)


def inner_mouth(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean map inside the inner-lip outline (points 60–67)."""
    return _polygon(np.asarray(landmarks)[60:68], shape)


def mouth_interior(lab_img: np.ndarray, landmarks: np.ndarray, dark_l: float
                   ) -> tuple[float, float]:
    """Inside the plate's inner-lip outline: (share of pixels with L* < `dark_l`, teeth
    brightness = the 95th percentile of L*). NaN, NaN when the outline holds < 4 pixels."""
    sel = inner_mouth(landmarks, lab_img.shape[:2])
    if sel.sum() < 4:
        return float("nan"), float("nan")
    values = lab_img[..., 0][sel]
    return float((values < dark_l).mean()), float(np.percentile(values, 95))


EYES = (slice(36, 42), slice(42, 48))  # the image-left and image-right eye outlines


def eye_contrasts(lab_img: np.ndarray, landmarks: np.ndarray) -> list[float]:
    """L* contrast inside each eye outline (`EYES`): p95 − p5 (catchlight and sclera against
    iris and pupil); NaN for an eye whose outline holds < 4 pixels."""
    lm = np.asarray(landmarks)
    values = []
    for idx in EYES:
        sel = _polygon(lm[idx], lab_img.shape[:2])
        L = lab_img[..., 0][sel]
        values.append(float(np.percentile(L, 95) - np.percentile(L, 5)) if L.size >= 4
                      else float("nan"))
    return values


def eye_contrast(lab_img: np.ndarray, landmarks: np.ndarray) -> float:
    """`eye_contrasts` averaged over the eyes that could be measured."""
    values = [v for v in eye_contrasts(lab_img, landmarks) if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def skin_lightness(plate_lab: np.ndarray, landmarks: np.ndarray, inset: float) -> float:
    """Median L* of the plate's inner face: the reference a dark mouth interior is judged by."""
    where = inner_face(landmarks, plate_lab.shape[:2], inset)
    return float(np.median(plate_lab[..., 0][where])) if where.any() else float("nan")


def bad_pixels(render_linear: np.ndarray, plate_linear: np.ndarray) -> tuple[int, int, float]:
    """(non-finite values, negative values, lowest finite value) the render has where the plate
    has a finite, non-negative value: values a comp's later operations (log, divide, grade)
    turn into artefacts. Counts are of channel values, RGB."""
    _check("bad_pixels", render_linear, plate_linear)
    r = np.asarray(render_linear, np.float32)
    p = np.asarray(plate_linear, np.float32)
    fine = np.isfinite(p) & (p >= 0)
    bad_nf = fine & ~np.isfinite(r)
    with np.errstate(invalid="ignore"):
        bad_neg = fine & np.isfinite(r) & (r < 0)
    low = float(r[bad_neg].min()) if bad_neg.any() else 0.0
    return int(bad_nf.sum()), int(bad_neg.sum()), low


def flicker(frames: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Frame-to-frame |change| of a per-frame measure (already relative to the plate), at each
    frame whose previous frame number was measured too; NaN elsewhere."""
    v = np.asarray(values, np.float64)
    out = np.full(v.shape, np.nan)
    for i in range(1, len(frames)):
        if frames[i] - frames[i - 1] == 1 and np.isfinite(v[i]) and np.isfinite(v[i - 1]):
            out[i] = abs(v[i] - v[i - 1])
    return out


# -- One frame ---------------------------------------------------------------------------------
RING = 0.1  # ring width and inner-face inset, in inter-ocular distances (outer eye corners)
DARK = 0.75  # a mouth-interior pixel is dark below this fraction of the plate's skin L*


def whiteness(lab_img: np.ndarray) -> np.ndarray:
    """WID, the CIELAB whiteness index for teeth (Pérez et al., J. Dent. 2016):
    0.511 L* − 2.324 a* − 1.100 b*. Teeth score high; lips, tongue and skin low."""
    return 0.511 * lab_img[..., 0] - 2.324 * lab_img[..., 1] - 1.100 * lab_img[..., 2]


@dataclass
class FrameSignoff:
    """One frame's sign-off measures (`values`, NaN where not measurable) and, per check, the
    point `(x, y)` (region pixels) its worst place lies at, for close-ups."""

    values: dict[str, float]
    focus: dict[str, tuple[float, float]]


def measure_frame(plate_linear: np.ndarray, render_linear: np.ndarray, mask: np.ndarray,
                  landmarks: np.ndarray) -> FrameSignoff:
    """Every per-frame sign-off measure of a render against its plate (module doc).

    Keys of `values`: `seam_<segment>_{L,a,b}` (render step − plate step), `step_<segment>_L`
    (the plate's own L* step), `seam` (the largest ΔE*ab over the segments); `fringe_<segment>_
    {a,b}`, `fringe` (the largest a*b* distance); `sharpness` (Laplacian RMS of L*, render over
    plate, inner face); `mouth_dark_{plate,render}` (share of the inner mouth darker than
    DARK × the plate's skin L*), `teeth_{plate,render}` (95th percentile of `whiteness` there),
    `mouth_width_plate`; `eye_contrast` (render over plate); `bad_nonfinite`, `bad_negative`
    (value counts), `bad_min` (lowest such value, 0 if none)."""
    from engine.io.colorspace import linear_to_srgb

    _check("measure_frame", plate_linear, render_linear, mask)
    lm = np.asarray(landmarks, np.float64)
    iod = float(np.linalg.norm(lm[45] - lm[36]))
    if not iod > 1.0:
        raise SettingsError(f"landmarks: eye corners {iod:.2f} px apart; cannot measure a face")
    width = RING * iod
    pl = lab(linear_to_srgb(np.nan_to_num(plate_linear, nan=0.0, posinf=1.0, neginf=0.0)))
    rl = lab(linear_to_srgb(np.nan_to_num(render_linear, nan=0.0, posinf=1.0, neginf=0.0)))
    v: dict[str, float] = {}
    focus: dict[str, tuple[float, float]] = {}
    nan = float("nan")
    seg = segment_map(lm, mask.shape)
    r = rings(mask, width)

    def centre(sel: np.ndarray) -> tuple[float, float]:
        ys, xs = np.nonzero(sel)
        return (float(xs.mean()), float(ys.mean())) if xs.size else tuple(lm[30])

    steps = seam(pl, rl, mask, lm, width, ring=r, seg=seg)
    worst, worst_seg = nan, None
    for name in SEGMENTS:
        d = steps.get(name, np.full(3, nan))
        for k, c in enumerate("Lab"):
            v[f"seam_{name}_{c}"] = float(d[k])
        v[f"step_{name}_L"] = (plate_step(pl, mask, lm, width, name, ring=r, seg=seg)
                               if name in steps else nan)
        de = float(np.linalg.norm(d))
        if np.isfinite(de) and not de <= worst:
            worst, worst_seg = de, name
    v["seam"] = worst
    if worst_seg is not None:
        focus["seam"] = centre(r.inside & (seg == SEGMENTS.index(worst_seg)))
    chroma = fringe(pl, rl, mask, lm, seg=seg)
    worst, worst_seg = nan, None
    for name in SEGMENTS:
        d = chroma.get(name, np.full(2, nan))
        v[f"fringe_{name}_a"], v[f"fringe_{name}_b"] = float(d[0]), float(d[1])
        dc = float(np.linalg.norm(d))
        if np.isfinite(dc) and not dc <= worst:
            worst, worst_seg = dc, name
    v["fringe"] = worst
    if worst_seg is not None:
        focus["fringe"] = centre(r.feather & (seg == SEGMENTS.index(worst_seg)))
    v["sharpness"] = float(np.sqrt(sharpness_ratio(pl, rl, lm, width)))
    focus["sharpness"] = tuple(lm[29])
    skin = skin_lightness(pl, lm, width)
    v["mouth_dark_plate"], _ = mouth_interior(pl, lm, DARK * skin)
    v["mouth_dark_render"], _ = mouth_interior(rl, lm, DARK * skin)
    sel = inner_mouth(lm, mask.shape)
    ok = sel.sum() >= 4
    v["teeth_plate"] = float(np.percentile(whiteness(pl)[sel], 95)) if ok else nan
    v["teeth_render"] = float(np.percentile(whiteness(rl)[sel], 95)) if ok else nan
    v["mouth_width_plate"] = mouth_width(lm)
    focus["mouth"] = tuple(lm[60:68].mean(0))
    ec = eye_contrast(pl, lm)
    v["eye_contrast"] = eye_contrast(rl, lm) / ec if ec > 1e-6 else nan
    per_eye = [r / p if p > 1e-6 else np.inf
               for r, p in zip(eye_contrasts(rl, lm), eye_contrasts(pl, lm), strict=True)]
    focus["eyes"] = tuple(lm[EYES[int(np.nanargmin(per_eye))]].mean(0))
    v["bad_nonfinite"], v["bad_negative"], v["bad_min"] = (float(x) for x in
                                                           bad_pixels(render_linear,
                                                                      plate_linear))
    if v["bad_negative"] or v["bad_nonfinite"]:
        bad = ~np.isfinite(render_linear) | (np.nan_to_num(render_linear, nan=-1.0) < 0)
        focus["pixels"] = centre(bad.any(-1) & np.isfinite(plate_linear).all(-1))
    else:
        focus["pixels"] = tuple(lm[30])
    return FrameSignoff(v, {k: (float(x), float(y)) for k, (x, y) in focus.items()})
