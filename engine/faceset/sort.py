"""Faceset sorting and pruning (DeepFaceLab's sort-and-clean step, paper §3.1), never in place.

Per face (`FaceMetrics`), from the aligned crop and its index entry:
- `sharpness`: variance of the Laplacian of the crop's luma inside the landmark hull, on the
  crop resized to 128 px (so sets of different crop sizes compare); higher is sharper.
- `yaw`, `pitch`: the entry's head pose in degrees (extraction's `engine.geometry.pose`).
- `hist`: Bhattacharyya distance of the face's hue/saturation histogram to the set's median
  histogram (0 = typical, 1 = disjoint): lighting, colour casts, occluders.
- `identity`: Euclidean distance of the face's dlib descriptor to the set's median descriptor
  (the identity of the majority; another person is usually > 0.6).
- `duplicate_of`: the crop of an earlier kept face this one nearly repeats (mean absolute
  difference of 32×32 luma thumbnails below a threshold and a pose within a few degrees).

`prune_plan` decides keep/reject per face with one reason each, in a fixed order (identity,
histogram, blur, duplicate) so the report reads the same on every run; `write_pruned` writes the
kept faces as a **new** faceset (crops copied, index atomic): the input is never modified.
Conventions: crops sRGB float in [0, 1] as `Faceset.load_crop` returns; thresholds in the units
above.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacesetError, SettingsError
from engine.faceset.store import INDEX, FaceEntry, Faceset, load_faceset
from engine.io.atomic import atomic_path
from engine.io.ownership import image_mark, text_mark

SORT_KEYS = ("sharpness", "yaw", "pitch", "hist", "identity")
REASONS = ("identity", "hist", "blur", "duplicate")
METRIC_SIZE = 128  # crops are measured at this size (sharpness depends on scale)
THUMB = 32


@dataclass
class FaceMetrics:
    """Sort metrics of one face (see the module docstring for units)."""

    file: str
    frame: int
    sharpness: float
    yaw: float
    pitch: float
    hist: float = 0.0
    identity: float = float("nan")  # nan when descriptors were not computed
    duplicate_of: str | None = None


METRICS_CSV_MARK = text_mark("face metrics CSV",
                            ",".join(f.name for f in fields(FaceMetrics)) + "\n",
                            ",".join(f.name for f in fields(FaceMetrics)) + "\r\n")
SHEET_KIND = "faceset contact sheet"
SHEET_MARK = image_mark(SHEET_KIND)
PRUNE_REPORT_MARK = text_mark("prune report", "# Prune report: ")


@dataclass(frozen=True)
class PruneSettings:
    """Thresholds; a face is rejected by the first rule it fails (order: `REASONS`)."""

    min_sharpness: float | None = None  # absolute; None = use blur_fraction
    blur_fraction: float = 0.1  # reject the blurriest fraction of the set (0 = none)
    max_hist: float = 0.5  # Bhattacharyya distance to the median histogram
    max_identity: float = 0.6  # descriptor distance to the set's median (dlib's threshold)
    duplicate_diff: float = 0.004  # mean |Δ| of 32 px luma thumbnails (0..1); 0 = keep all
    duplicate_pose: float = 3.0  # degrees of yaw and pitch within which faces may repeat
    max_faces: int | None = None  # keep at most this many (evenly over the pose range)

    def check(self) -> None:
        if not 0.0 <= self.blur_fraction < 1.0:
            raise SettingsError(f"--blur-fraction must be in [0, 1), got {self.blur_fraction}")
        for name in ("max_hist", "max_identity", "duplicate_diff", "duplicate_pose"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise SettingsError(f"--{name.replace('_', '-')} must be >= 0, got {v}")
        if self.max_faces is not None and self.max_faces < 1:
            raise SettingsError(f"--max-faces must be >= 1, got {self.max_faces}")


@dataclass
class PrunePlan:
    """Which faces to keep, and why each other one goes."""

    keep: list[str]
    rejected: dict[str, str]  # file -> reason (one of REASONS or "max_faces")
    sharpness_floor: float
    metrics: list[FaceMetrics] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.rejected.values()))


def _luma(crop: np.ndarray) -> np.ndarray:
    rgb = np.clip(crop, 0.0, 1.0).astype(np.float32)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def face_region(landmarks_crop: np.ndarray, size: int) -> np.ndarray:
    """uint8 `size×size` mask: the convex hull of the 68 crop landmarks (scaled to `size`)."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(landmarks_crop, np.float32)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def sharpness(crop: np.ndarray, landmarks_crop: np.ndarray) -> float:
    """Variance of the Laplacian of luma inside the landmark hull, at METRIC_SIZE px."""
    size = crop.shape[0]
    scale = METRIC_SIZE / size
    y = cv2.resize(_luma(crop), (METRIC_SIZE, METRIC_SIZE), interpolation=cv2.INTER_AREA)
    lap = cv2.Laplacian(y, cv2.CV_32F, ksize=3)
    mask = face_region(np.asarray(landmarks_crop) * scale, METRIC_SIZE).astype(bool)
    if mask.sum() < 16:
        return 0.0
    return float(lap[mask].var() * 1e3)  # ×1e3: readable numbers for float luma


def hs_histogram(crop: np.ndarray, landmarks_crop: np.ndarray) -> np.ndarray:
    """Normalised 16×8 hue/saturation histogram of the face region (float32, sums to 1)."""
    u8 = np.rint(np.clip(crop, 0, 1) * 255).astype(np.uint8)
    hsv = cv2.cvtColor(u8, cv2.COLOR_RGB2HSV)
    mask = face_region(landmarks_crop, crop.shape[0])
    hist = cv2.calcHist([hsv], [0, 1], mask, [16, 8], [0, 180, 0, 256]).astype(np.float32)
    total = float(hist.sum())
    return hist / total if total > 0 else hist


def _thumb(crop: np.ndarray) -> np.ndarray:
    return cv2.resize(_luma(crop), (THUMB, THUMB), interpolation=cv2.INTER_AREA)


def measure(faceset: Faceset, describer=None,
            progress: Callable[[int, int], None] | None = None) -> list[FaceMetrics]:
    """Metrics of every face of `faceset`, in index order.

    `describer` (an `engine.geometry.descriptor.FaceDescriber`) adds identity distances;
    without it they are nan. Near-duplicates depend on what is kept, so `prune_plan` finds
    them (`duplicate_of`).
    """
    if not faceset.entries:
        raise FacesetError(f"{faceset.root}: the faceset has no faces; extract some first")
    out: list[FaceMetrics] = []
    hists, descs = [], []
    n = len(faceset.entries)
    for i, e in enumerate(faceset.entries):
        crop = faceset.load_crop(e)
        lm = faceset.landmarks_crop(e)
        out.append(FaceMetrics(e.file, e.frame, sharpness(crop, lm), float(e.pose[1]),
                               float(e.pose[0])))
        hists.append(hs_histogram(crop, lm))
        if describer is not None:
            u8 = np.rint(np.clip(crop, 0, 1) * 255).astype(np.uint8)
            descs.append(describer.describe(u8, lm))
        if progress:
            progress(i + 1, n)
    median_hist = np.median(np.stack(hists), axis=0).astype(np.float32)
    median_hist /= max(float(median_hist.sum()), 1e-12)
    for m, h in zip(out, hists, strict=True):
        m.hist = float(cv2.compareHist(h, median_hist, cv2.HISTCMP_BHATTACHARYYA))
    if descs:
        stack = np.stack(descs).astype(np.float64)
        centre = np.median(stack, axis=0)
        for m, d in zip(out, np.linalg.norm(stack - centre, axis=1), strict=True):
            m.identity = float(d)
    return out


def sort_order(metrics: Sequence[FaceMetrics], key: str) -> list[FaceMetrics]:
    """Best first: sharpest, most frontal (|yaw|, |pitch|), most typical (hist, identity)."""
    if key not in SORT_KEYS:
        raise SettingsError(f"--by must be one of {', '.join(SORT_KEYS)}, got {key!r}")
    if key == "sharpness":
        return sorted(metrics, key=lambda m: -m.sharpness)
    if key in ("yaw", "pitch"):
        return sorted(metrics, key=lambda m: getattr(m, key))
    return sorted(metrics, key=lambda m: (math.isnan(getattr(m, key)), getattr(m, key)))


def _mark_duplicates(faceset: Faceset, candidates: list[FaceMetrics],
                     settings: PruneSettings) -> set[str]:
    """Files repeating an earlier kept face (frame order): similar thumbnail and pose."""
    if settings.duplicate_diff <= 0:
        return set()
    by_file = {e.file: e for e in faceset.entries}
    kept: list[tuple[np.ndarray, float, float, str]] = []
    dups: set[str] = set()
    for m in sorted(candidates, key=lambda m: (m.frame, m.file)):
        t = _thumb(faceset.load_crop(by_file[m.file]))
        for kt, ky, kp, kf in kept[-64:]:  # neighbours in time; a shot repeats itself locally
            if (abs(ky - m.yaw) <= settings.duplicate_pose
                    and abs(kp - m.pitch) <= settings.duplicate_pose
                    and float(np.abs(kt - t).mean()) < settings.duplicate_diff):
                m.duplicate_of = kf
                dups.add(m.file)
                break
        else:
            kept.append((t, m.yaw, m.pitch, m.file))
    return dups


def _thin_evenly(metrics: list[FaceMetrics], count: int) -> list[FaceMetrics]:
    """`count` faces spread over the pose range: round-robin over 5°×5° yaw/pitch bins,
    sharpest first within each bin, so rare angles survive a cap."""
    bins: dict[tuple[int, int], list[FaceMetrics]] = {}
    for m in sorted(metrics, key=lambda m: -m.sharpness):
        bins.setdefault((int(m.yaw // 5), int(m.pitch // 5)), []).append(m)
    queues = [bins[k] for k in sorted(bins)]
    out: list[FaceMetrics] = []
    depth = 0
    while len(out) < count:
        for q in queues:
            if depth < len(q) and len(out) < count:
                out.append(q[depth])
        depth += 1
    return out


def prune_plan(faceset: Faceset, metrics: list[FaceMetrics],
               settings: PruneSettings) -> PrunePlan:
    """Keep/reject per face; FacesetError (naming the counts per reason) if none would remain."""
    settings.check()
    rejected: dict[str, str] = {}
    sharp = np.array([m.sharpness for m in metrics])
    floor = (settings.min_sharpness if settings.min_sharpness is not None
             else float(np.quantile(sharp, settings.blur_fraction)) if settings.blur_fraction > 0
             else -math.inf)
    for m in metrics:
        if not math.isnan(m.identity) and m.identity > settings.max_identity:
            rejected[m.file] = "identity"
        elif m.hist > settings.max_hist:
            rejected[m.file] = "hist"
        elif m.sharpness < floor:
            rejected[m.file] = "blur"
    rest = [m for m in metrics if m.file not in rejected]
    for f in _mark_duplicates(faceset, rest, settings):
        rejected[f] = "duplicate"
    rest = [m for m in rest if m.file not in rejected]
    if settings.max_faces is not None and len(rest) > settings.max_faces:
        chosen = {m.file for m in _thin_evenly(rest, settings.max_faces)}
        for m in rest:
            if m.file not in chosen:
                rejected[m.file] = "max_faces"
        rest = [m for m in rest if m.file in chosen]
    plan = PrunePlan([m.file for m in rest], rejected, floor, list(metrics))
    if not rest:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(plan.counts().items()))
        raise FacesetError(
            f"{faceset.root}: all {len(metrics)} faces rejected by the sort thresholds ({why}; "
            f"sharpness floor {floor:.3g}); loosen --max-identity/--max-hist/--blur-fraction/"
            "--min-sharpness/--duplicate-diff, or check that the faceset shows one person")
    return plan


def write_pruned(faceset: Faceset, plan: PrunePlan, dest: str | Path) -> Faceset:
    """A new faceset at `dest` with the kept faces (crops and masks copied, index atomic).

    `dest` must not be the input, nor an existing faceset (a run never replaces a user's set).
    """
    dest = Path(dest)
    if dest.resolve() == faceset.root.resolve():
        raise SettingsError(f"{dest}: the output must be a new folder, not the input faceset "
                            "(pruning never edits a faceset in place)")
    if (dest / INDEX).exists():
        raise SettingsError(f"{dest}: already holds a faceset; choose a new folder or delete it")
    keep = set(plan.keep)
    entries: list[FaceEntry] = [e for e in faceset.entries if e.file in keep]
    for e in entries:
        for rel in (e.file, e.mask):
            if not rel:
                continue
            src = faceset.path(rel)
            with atomic_path(dest / rel) as tmp:  # a killed copy leaves a temp the next
                shutil.copyfile(src, tmp)           # run recognises and removes
    settings = dict(faceset.settings)
    settings["pruned_from"] = str(faceset.root)
    out = Faceset(dest, faceset.face_type, faceset.size, settings, entries)
    out.save()  # last: the index names only crops already on disk
    return load_faceset(dest)


def metrics_rows(metrics: Sequence[FaceMetrics]) -> list[dict]:
    return [asdict(m) for m in metrics]


__all__ = ["FaceMetrics", "PrunePlan", "PruneSettings", "REASONS", "SORT_KEYS", "face_region",
           "hs_histogram", "measure", "metrics_rows", "prune_plan", "sharpness", "sort_order",
           "write_pruned"]
