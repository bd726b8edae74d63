"""Measuring one rendered shot against its plate, frame by frame (the `doppel evaluate` core).

Inputs: the plate (sequence/video), the render (sequence, same frame numbers and size), and the
source identity (from the source faceset). For each frame both images are analysed with the same
detector and landmarker; the render's face is the one at the plate face's place. Then:

    ssim, gmsd           face region (plate landmarks' hull) in the plate face's aligned crop
    id_source, id_plate  dlib distances of the render face to the source centroid / the plate face
    landmarks            68-point distance, in plate inter-ocular distances
    pose                 Euler-angle distance of expression-free pose fits (head_pose.rigid_pose)
    mouth_*, eye_*       mouth and eye opening of plate and render (series for correlation)
    brow_da, brow_db     Lab a*, b* of the render minus the plate over the brow-to-eye band
    jitter_*             temporal measures (temporal.py) against the previous frame

A measure that cannot be taken on a frame (no face on the plate or render, no mask layer) is NaN
there, and every summary states how many frames it rests on.
Convention: pixels are compared display-encoded (sRGB, clipped to [0, 1]), as a viewer sees them;
EXR frames are scene-linear and encoded first, 8/16-bit files are taken as sRGB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from engine.errors import InputError, MediaError
from engine.evaluate import signoff, temporal
from engine.evaluate.acceptance import CHECKS, Limits, WorstTiles, badness
from engine.evaluate.head_pose import pose_difference, rigid_pose
from engine.evaluate.identity import SourceIdentity, distance
from engine.evaluate.image_metrics import gmsd, ssim
from engine.geometry import face_measures as geo
from engine.geometry.align import align_matrix, crop_roi, transform_points, warp_to_crop
from engine.io import FrameSource, format_frame_range, read_image
from engine.io.colorspace import linear_to_srgb, srgb_to_linear
from engine.io.image import ImageData
from engine.swap.mask import hull_mask, mask_px_scale, refine_mask
from engine.swap.settings import SwapLook
from engine.types import Detection, Face

CROP = 256  # aligned crop for image metrics and mask edges ("full" face type)
THUMB = 128  # contact-sheet tiles kept per frame
MASK_LAYER = "doppel.mask"

# name: (label, higher is better, unit) -- the order of the table's columns
METRICS: dict[str, tuple[str, bool, str]] = {
    "ssim": ("SSIM", True, ""),
    "gmsd": ("GMSD", False, ""),
    "id_source": ("verification (to source)", False, "dlib"),
    "id_plate": ("distance to plate identity", True, "dlib"),
    "landmarks": ("landmarks", False, "IOD"),
    "pose": ("pose", False, "deg"),
    "jitter_landmarks": ("landmark jitter", False, "IOD"),
    "jitter_color": ("colour flicker", False, "8-bit"),
    "jitter_mask": ("mask-edge jitter", False, "IOD"),
}


@dataclass
class PlateFrame:
    """What the plate contributes to every evaluation of one frame (computed once)."""

    frame: int
    size: tuple[int, int]  # (w, h)
    face: Face | None
    anchor: Face | None = None  # the full-frame detection whose window both faces are found in
    matrix: np.ndarray | None = None  # image -> CROP aligned crop
    crop: np.ndarray | None = None  # CROP×CROP×3 sRGB float32
    region: np.ndarray | None = None  # CROP×CROP face hull in the crop
    pose: tuple[float, float, float] | None = None
    color: np.ndarray | None = None  # mean sRGB over the region
    band: np.ndarray | None = None  # CROP×CROP bool: brows down to the eyes (cast check)
    band_lab: np.ndarray | None = None  # mean Lab of the plate over `band`
    error: str | None = None  # the plate frame could not be read
    roi: tuple[int, int, int, int] | None = None  # plate region the measurements read
    path: str = ""  # the plate frame's file: sign-off measures re-read its linear pixels


def brow_band(landmarks_crop: np.ndarray, size: int) -> np.ndarray:
    """Boolean map of the brow-to-eye band (brows, upper lids, eye sockets) in a crop: where a
    global colour transfer shows a regional cast first (dark, low-chroma skin)."""
    lm = np.asarray(landmarks_crop, np.float32)
    pts = np.vstack([lm[17:27], lm[[45, 44, 43, 42, 39, 38, 37, 36]]])
    band = np.zeros((size, size), np.uint8)
    cv2.fillPoly(band, [np.round(cv2.convexHull(pts)).astype(np.int32)], 1)
    return band.astype(bool)


def mean_lab(srgb: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Mean CIE L*a*b* (D65, OpenCV's float conversion) of sRGB pixels where `where` holds."""
    lab = cv2.cvtColor(np.ascontiguousarray(srgb, np.float32), cv2.COLOR_RGB2LAB)
    return lab[where].mean(axis=0).astype(np.float64)


@dataclass
class FrameResult:
    frame: int
    plate_face: bool
    render_face: bool
    values: dict[str, float] = field(default_factory=dict)
    landmarks: np.ndarray | None = None  # render landmarks (68, 2)
    color: np.ndarray | None = None  # render mean sRGB over the plate face region
    mask: np.ndarray | None = None  # render mask in the aligned crop
    thumbs: tuple[np.ndarray, np.ndarray] | None = None  # plate, render uint8 tiles
    error: str | None = None  # plate or render frame unreadable (one line)


@dataclass
class ShotResult:
    """Per-frame values (NaN where not measurable), expression series and notes."""

    name: str
    frames: list[int]
    rows: list[FrameResult]
    notes: list[str] = field(default_factory=list)
    tiles: WorstTiles | None = None  # close-ups of each sign-off check's worst frames

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.rows if r.error]

    def series(self, key: str) -> np.ndarray:
        return np.array([r.values.get(key, np.nan) for r in self.rows], np.float64)

    def summary(self) -> dict[str, tuple[float, float, int]]:
        """metric -> (mean, sd, frames it rests on); NaN mean when no frame measured it."""
        out = {}
        for key in METRICS:
            v = self.series(key)
            v = v[np.isfinite(v)]
            out[key] = ((float(v.mean()), float(v.std()), int(v.size)) if v.size
                        else (float("nan"), float("nan"), 0))
        for key in ("mouth", "eye"):
            p, r = self.series(f"{key}_plate"), self.series(f"{key}_render")
            n = int((np.isfinite(p) & np.isfinite(r)).sum())
            out[f"{key}_corr"] = (geo.correlation(p, r), float("nan"), n)
        return out


def srgb_pixels(image: ImageData, roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """RGB of an image, display-encoded in [0, 1] (EXR/float files are scene-linear).

    With `roi` (x0, y0, x1, y1) only that region is converted and the rest is 0: the cost
    follows the face, not the plate's resolution."""
    x0, y0, x1, y1 = roi or (0, 0, image.width, image.height)
    idx = [image.channels.index(c) for c in ("R", "G", "B")] if "R" in image.channels else [0] * 3
    part = image.pixels[y0:y1, x0:x1][..., idx]
    part = np.nan_to_num(part, nan=0.0, posinf=1.0, neginf=0.0)
    if image.colorspace == "linear":
        part = linear_to_srgb(part)
    if roi is None:
        return np.ascontiguousarray(np.clip(part, 0.0, 1.0), np.float32)
    out = np.zeros((image.height, image.width, 3), np.float32)
    out[y0:y1, x0:x1] = np.clip(part, 0.0, 1.0)
    return out


def _uint8(srgb: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    if roi is None:
        return np.ascontiguousarray(np.rint(srgb * 255.0), np.uint8)
    x0, y0, x1, y1 = roi
    out = np.zeros(srgb.shape, np.uint8)
    out[y0:y1, x0:x1] = np.rint(srgb[y0:y1, x0:x1] * 255.0)
    return out


def face_roi(anchor: Face, matrix: np.ndarray, size: tuple[int, int]
             ) -> tuple[int, int, int, int]:
    """The plate region every measurement of this face reads: the detection window (3× the
    anchor box) and the aligned crop's footprint, clipped to the image."""
    x0, y0, x1, y1 = anchor.bbox
    half = 1.5 * max(x1 - x0, y1 - y0, 8.0) + 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    c0, c1, c2, c3 = crop_roi(matrix, CROP, (size[1], size[0]))
    w, h = size
    return (max(min(int(cx - half), c0), 0), max(min(int(cy - half), c1), 0),
            min(max(int(np.ceil(cx + half)), c2), w), min(max(int(np.ceil(cy + half)), c3), h))


def _thumb(crop: np.ndarray) -> np.ndarray:
    return cv2.resize(_uint8(crop), (THUMB, THUMB), interpolation=cv2.INTER_AREA)


def _read(source: FrameSource, frame: int, what: str) -> ImageData:
    path = source.path_of(frame)
    if path is None:
        raise InputError(f"{source.description}: the {what} must be an image sequence or "
                         "still, not a video (frames are read by number)")
    return read_image(path)


def frames_to_evaluate(plate: FrameSource, render: FrameSource, frames: Sequence[int] | None,
                       notes: list[str]) -> list[int]:
    """Frames present in both; explicit `frames` must all be present, else InputError."""
    have_p, have_r = set(plate.frames), set(render.frames)
    if frames is not None:
        for what, have, src in (("plate", have_p, plate), ("render", have_r, render)):
            missing = [f for f in frames if f not in have]
            if missing:
                raise InputError(f"{src.description}: the {what} has no frame(s) "
                                 f"{format_frame_range(missing)} of those asked; it holds "
                                 f"{format_frame_range(sorted(have)) or 'none'}")
        return list(frames)
    common = sorted(have_p & have_r)
    if not common:
        raise InputError(
            f"render {render.description} (frames {format_frame_range(sorted(have_r)) or 'none'})"
            f" and plate {plate.description} (frames "
            f"{format_frame_range(sorted(have_p)) or 'none'}) share no frame number; render the "
            "plate's frame range or rename the render's frames")
    for what, extra in (("plate", sorted(have_p - have_r)), ("render", sorted(have_r - have_p))):
        if extra:
            notes.append(f"{len(extra)} {what} frame(s) without a counterpart were skipped: "
                         f"{format_frame_range(extra)}")
    return common


def analyze_plate(plate: FrameSource, frames: Iterable[int], analyzer,
                  progress: Callable[..., Iterable[Any]] | None = None
                  ) -> dict[int, PlateFrame]:
    """Detect, fit and describe the plate face on each frame (largest face; once per shot).

    `analyzer` is an `engine.shot.analyze.FaceAnalyzer` with a describer (identity needs it)."""
    frames = list(frames)
    prog = progress or (lambda it, total, desc: it)
    out: dict[int, PlateFrame] = {}
    for f in prog(frames, len(frames), "plate"):
        try:
            img = _read(plate, f, "plate")
        except MediaError as exc:  # one bad frame: reported, the rest measured
            out[f] = PlateFrame(f, (0, 0), None, error=str(exc))
            continue
        srgb = srgb_pixels(img)
        faces = analyzer.analyze_srgb(_uint8(srgb))
        pf = PlateFrame(f, (img.width, img.height), None, faces[0] if faces else None,
                        path=str(img.path))
        if faces:
            # The largest face, then measured exactly as the render's face will be: same
            # region, same window, same fits.
            pf.roi = face_roi(faces[0], align_matrix(faces[0].landmarks, CROP, "full"), pf.size)
            srgb = srgb_pixels(img, pf.roi)
            pf.face = _nearest(faces_near(analyzer, _uint8(srgb, pf.roi), faces[0]), faces[0])
        if pf.face is not None:
            lm = pf.face.landmarks
            pf.matrix = align_matrix(lm, CROP, "full")
            pf.crop = warp_to_crop(srgb, pf.matrix, CROP)
            pf.region = hull_mask(transform_points(lm, pf.matrix), (CROP, CROP))
            pf.pose = rigid_pose(lm, pf.size)
            pf.color = temporal.mean_color(pf.crop, pf.region)
            pf.band = brow_band(transform_points(lm, pf.matrix), CROP)
            if pf.band.any():
                pf.band_lab = mean_lab(pf.crop, pf.band)
        out[f] = pf
    return out


WINDOW = 320  # detection window side (pixels): a fixed size keeps the detector's session warm


def faces_near(analyzer, srgb_u8: np.ndarray, around: Face) -> list[Face]:
    """Faces found in a square window of 3× the box around `around`, landmarks and descriptors
    fitted on the full-resolution image.

    Plate and render go through this same function, so an unchanged face measures exactly the
    same; the window (resampled to a fixed WINDOW² for the detector) costs a fraction of a
    full-frame detection and finds the face the render changed."""
    x0, y0, x1, y1 = around.bbox
    side = 3.0 * max(x1 - x0, y1 - y0, 8.0)
    k = WINDOW / side
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    to_win = np.array([[k, 0.0, WINDOW / 2 - k * cx], [0.0, k, WINDOW / 2 - k * cy]])
    window = cv2.warpAffine(srgb_u8, to_win, (WINDOW, WINDOW), flags=cv2.INTER_AREA,
                            borderMode=cv2.BORDER_CONSTANT)
    out = []
    for det in analyzer.detector.detect(window):
        bx0, by0, bx1, by1 = det.bbox
        box = ((bx0 - to_win[0, 2]) / k, (by0 - to_win[1, 2]) / k,
               (bx1 - to_win[0, 2]) / k, (by1 - to_win[1, 2]) / k)
        det = Detection(box, det.score, det.detector)
        if det.size < analyzer.min_size:
            continue
        lm = analyzer.landmarker.fit(srgb_u8, det)
        desc = analyzer.describer.describe(srgb_u8, lm) if analyzer.describer else None
        out.append(Face(det, lm, analyzer.landmarker.name, around.pose, desc))
    return out


def _nearest(faces: Sequence[Face], to: Face) -> Face | None:
    best, best_d = None, np.inf
    for face in faces:
        d = float(np.linalg.norm(face.detection.center - to.detection.center))
        if d < best_d:
            best, best_d = face, d
    return best if best is not None and best_d < max(to.detection.size, 1.0) else None


def evaluate_render(name: str, plate_frames: dict[int, PlateFrame], render: FrameSource,
                    identity: SourceIdentity, analyzer,
                    progress: Callable[..., Iterable[Any]] | None = None,
                    notes: Sequence[str] = ()) -> ShotResult:
    """Measure `render` on the frames of `plate_frames` (see module doc)."""
    prog = progress or (lambda it, total, desc: it)
    frames = sorted(plate_frames)
    rows: list[FrameResult] = []
    notes = list(notes)
    no_mask = no_plate_mask = 0
    tiles = WorstTiles()
    for f in prog(frames, len(frames), name):
        pf = plate_frames[f]
        if pf.error is not None:
            rows.append(FrameResult(f, False, False, error=pf.error))
            continue
        try:
            img = _read(render, f, "render")
        except MediaError as exc:
            rows.append(FrameResult(f, False, False, error=str(exc)))
            continue
        if (img.width, img.height) != pf.size:
            raise MediaError(f"{img.path}: render frame {f} is {img.width}×{img.height} but the "
                             f"plate is {pf.size[0]}×{pf.size[1]}; evaluate a render at the "
                             "plate's resolution")
        row = FrameResult(f, pf.face is not None, False)
        rows.append(row)
        if pf.face is None:
            continue
        srgb = srgb_pixels(img, pf.roi)
        crop = warp_to_crop(srgb, pf.matrix, CROP)
        v = row.values
        v["ssim"] = ssim(crop, pf.crop, pf.region)
        v["gmsd"] = gmsd(crop, pf.crop, pf.region)
        row.color = temporal.mean_color(crop, pf.region)
        if pf.band_lab is not None:
            # Regional cast: the render's brow-band a*, b* minus the plate's (negative both:
            # towards green-blue, i.e. teal).
            v["brow_da"], v["brow_db"] = (mean_lab(crop, pf.band) - pf.band_lab)[1:]
        row.thumbs = (_thumb(pf.crop), _thumb(crop))
        if MASK_LAYER in img.channels:
            row.mask = cv2.warpAffine(img.channel(MASK_LAYER), pf.matrix, (CROP, CROP),
                                      flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        else:
            no_mask += 1
        plm = pf.face.landmarks
        v["mouth_plate"], v["eye_plate"] = geo.mouth_opening(plm), geo.eye_opening(plm)
        # Sign-off measures (issue 21): plate pixels as they are, no resampling.
        if not _signoff(row, pf, img, tiles):
            no_plate_mask += 1
        face = _nearest(faces_near(analyzer, _uint8(srgb, pf.roi), pf.anchor), pf.face)
        if face is None:
            continue
        row.render_face = True
        row.landmarks = face.landmarks
        v["landmarks"] = geo.landmark_distance(plm, face.landmarks)
        v["pose"] = pose_difference(pf.pose, rigid_pose(face.landmarks, pf.size))
        v["mouth_render"] = geo.mouth_opening(face.landmarks)
        v["eye_render"] = geo.eye_opening(face.landmarks)
        v["mouth_width_render"] = geo.mouth_width(face.landmarks)
        if face.descriptor is not None:
            v["id_source"] = distance(face.descriptor, identity.centroid)
            if pf.face.descriptor is not None:
                v["id_plate"] = distance(face.descriptor, pf.face.descriptor)
    _temporal(rows, plate_frames)
    n_plate = sum(r.plate_face for r in rows)
    n_render = sum(r.render_face for r in rows)
    bad = [r.frame for r in rows if r.error]
    if bad:
        notes.append(f"{len(bad)} of {len(rows)} frames could not be read (not measured): "
                     f"{format_frame_range(bad)}")
    faceless = [r.frame for r in rows if not r.plate_face and not r.error]
    if faceless:
        notes.append(f"{len(faceless)} of {len(rows)} frames have no face on the plate "
                     f"(nothing measured there): {format_frame_range(faceless)}")
    if n_render < n_plate:
        notes.append(f"{n_plate - n_render} of {n_plate} frames have no face in the render at "
                     "the plate face's place (identity, landmarks, pose not measured): "
                     + format_frame_range([r.frame for r in rows
                                           if r.plate_face and not r.render_face]))
    if no_mask and no_mask == n_plate:
        notes.append(f"the render has no {MASK_LAYER} layer: mask-edge jitter not measured")
    if no_plate_mask:
        notes.append(f"{no_plate_mask} frame(s) without a {MASK_LAYER} layer: seam and fringe "
                     "measured along the plate face's hull (feathered as the render's default)")
    return ShotResult(name, frames, rows, notes, tiles)


TILE = 0.7  # close-up side in inter-ocular distances (shown at 2×)


def signoff_box(landmarks: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]
                ) -> tuple[int, int, int, int]:
    """The plate region the sign-off measures read: the landmarks with 0.6 IOD around (the
    forehead) and the mask's extent with its outside ring, clipped to the image `size` (w, h)."""
    lm = np.asarray(landmarks, np.float64)
    iod = geo.inter_ocular(lm)
    pad = 0.6 * iod
    x0, y0 = lm.min(0) - pad
    x1, y1 = lm.max(0) + pad
    if mask is not None:
        ys, xs = np.nonzero(mask > 0.002)
        if xs.size:
            ring = signoff.RING * iod + 3
            x0, y0 = min(x0, xs.min() - ring), min(y0, ys.min() - ring)
            x1, y1 = max(x1, xs.max() + 1 + ring), max(y1, ys.max() + 1 + ring)
    w, h = size
    return (max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0), min(int(np.ceil(x1)), w),
            min(int(np.ceil(y1)), h))


def _linear_rgb(image: ImageData) -> np.ndarray:
    rgb = image.rgb()
    return rgb if image.colorspace == "linear" else srgb_to_linear(rgb)


def _plate_px_scale(units: str, lm: np.ndarray) -> float:
    """Plate pixels per unit of erode/blur at the face with landmarks `lm` (plate pixels), for
    a mask refined on the plate itself: the crop pixels a unit spans (`mask_px_scale`, in any
    crop of the face) over that crop's pixels per plate pixel (1 for "px")."""
    m = align_matrix(lm, 100, "half")
    return mask_px_scale(units, m, 100, 0.0) / float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def _signoff(row: FrameResult, pf: PlateFrame, img: ImageData, tiles: WorstTiles) -> bool:
    """Measure the sign-off values of one frame into `row.values` and offer its close-ups;
    returns False when the render had no mask layer (the plate's hull stood in)."""
    plate_img = read_image(pf.path)
    lm = pf.face.landmarks
    has_mask = MASK_LAYER in img.channels
    full = img.channel(MASK_LAYER) if has_mask else None
    x0, y0, x1, y1 = signoff_box(lm, full, pf.size)
    local = lm - np.array([x0, y0], np.float32)
    if full is not None:
        mask = np.clip(np.nan_to_num(full[y0:y1, x0:x1]), 0.0, 1.0)
    else:  # where a swap's default mask would lie: the hull, feathered as the render's default
        look = SwapLook()
        # The plate as a crop at 1 px per plate pixel: its scale is the identity's.
        mask = refine_mask(hull_mask(local, (y1 - y0, x1 - x0)), look.erode, look.blur,
                           _plate_px_scale(look.mask_units, lm))
    plate_lin = _linear_rgb(plate_img)[y0:y1, x0:x1]
    render_lin = _linear_rgb(img)[y0:y1, x0:x1]
    res = signoff.measure_frame(plate_lin, render_lin, mask, local)
    row.values.update(res.values)
    iod = geo.inter_ocular(lm)
    limits = Limits()
    for check in CHECKS:
        centre = res.focus.get(check)
        if centre is None:
            continue
        side = max(int(round(TILE * iod)), 8)

        def crop(centre=centre, side=side) -> tuple[np.ndarray, np.ndarray]:
            cx, cy = int(round(centre[0])), int(round(centre[1]))
            box = (cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
            return tuple(_closeup(a, box) for a in (plate_lin, render_lin))

        tiles.offer(check, badness(check, row.values, limits), row.frame, crop)
    return has_mask


def _closeup(linear: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """sRGB uint8 of `box` (region pixels, padded with black outside), shown 2× (nearest)."""
    x0, y0, x1, y1 = box
    h, w = linear.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        enc = linear_to_srgb(np.nan_to_num(linear[sy0:sy1, sx0:sx1], nan=0.0, posinf=1.0,
                                           neginf=0.0))
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = np.rint(np.clip(enc, 0, 1) * 255)
    return cv2.resize(out, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)


def _temporal(rows: list[FrameResult], plate_frames: dict[int, PlateFrame]) -> None:
    by_frame = {r.frame: r for r in rows}
    for r in rows:
        prev = by_frame.get(r.frame - 1)
        if prev is None or not (r.plate_face and prev.plate_face):
            continue
        pf, pp = plate_frames[r.frame], plate_frames[prev.frame]
        iod = geo.inter_ocular(pf.face.landmarks)
        r.values["jitter_color"] = temporal.color_jitter(pp.color, pf.color, prev.color, r.color)
        if r.render_face and prev.render_face:
            r.values["jitter_landmarks"] = temporal.landmark_jitter(
                pp.face.landmarks, pf.face.landmarks, prev.landmarks, r.landmarks, iod)
        if r.mask is not None and prev.mask is not None:
            # Both masks sit in their own frame's aligned crop: the face's motion is removed.
            # Crop pixels -> IOD: the crop scale is the matrix's scale times the image IOD.
            scale = float(np.sqrt(abs(np.linalg.det(pf.matrix[:, :2]))))
            r.values["jitter_mask"] = temporal.edge_distance(prev.mask, r.mask) / (scale * iod)
