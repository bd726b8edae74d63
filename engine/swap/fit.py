"""Model–plate fit: does the swap model know this plate's face? (issue 21)

A DF/LIAE model learns only the dst faces it was trained on; on another face (another actor, or
the same actor under other light) it renders a ghost, while identity checks still pass. The
model's dst decoder says how well it knows a face: an export carries its reconstruction of the
input (output `dst_face`) and the distribution of its reconstruction error over the training dst
faces (metadata `dst_fit`, written by trainers/export.py with `reconstruction_error` below). Each
plate face is put through the model and its error compared with the training error:

    ratio = error(plate face) / median error(training dst faces)

A frame whose ratio exceeds `FIT_LIMIT` is outside what the model was trained on; the warning
names the frames and the fix (fine-tune the model on this shot).

Conventions: faces are aligned crops at the model's resolution, `R×R×3` float32 sRGB-encoded in
[0, 1] (the model's input); landmarks `(68, 2)` in crop pixels; the error is the mean absolute
difference over the face's own region (`fit_region`: the hull of the jaw line and brows, no
forehead, so hair and the crop's edge never count), averaged over RGB.

Example:
    >>> import numpy as np
    >>> face = np.full((8, 8, 3), 0.5, np.float32)
    >>> round(reconstruction_error(face, face + 0.25, np.ones((8, 8), bool)), 6)
    0.25
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import ModelError, SettingsError
from engine.io import format_frame_range
from engine.swap.infer import ModelInfo

FIT_KEY = "dst_fit"  # model metadata: the training error distribution (JSON)
FIT_METRIC = "mae-srgb-face-hull"
FIT_LIMIT = 1.5  # ratio to the training median past which a face is "not what it learned"


def fit_region(landmarks_crop: np.ndarray, size: int) -> np.ndarray:
    """Boolean `size×size` map of the face's own region: the hull of the jaw line and brows
    (points 0–26), no forehead."""
    lm = np.asarray(landmarks_crop, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise SettingsError(f"fit_region needs finite (68, 2) landmarks, got {lm.shape}")
    hull = cv2.convexHull(lm[:27].astype(np.float32)).reshape(-1, 2)
    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round(hull * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return m.astype(bool)


def reconstruction_error(face: np.ndarray, reconstruction: np.ndarray, region: np.ndarray
                         ) -> float:
    """Mean |reconstruction − face| over `region`, averaged over RGB (sRGB units, 0–1);
    NaN when the region is empty."""
    if face.shape != reconstruction.shape or face.shape[:2] != region.shape:
        raise SettingsError(f"reconstruction_error: face {face.shape}, reconstruction "
                            f"{reconstruction.shape} and region {region.shape} differ")
    if not region.any():
        return float("nan")
    diff = np.abs(np.asarray(reconstruction, np.float64) - np.asarray(face, np.float64))
    return float(diff[region].mean())


@dataclass(frozen=True)
class TrainingFit:
    """The reconstruction error over the training dst faces, as the export recorded it."""

    faces: int
    median: float
    p90: float
    p95: float
    max: float
    dst_name: str = "dst"
    metric: str = FIT_METRIC

    @classmethod
    def from_errors(cls, errors: Sequence[float], dst_name: str = "dst") -> TrainingFit:
        e = np.asarray([x for x in errors if np.isfinite(x)], np.float64)
        if e.size == 0:
            raise ModelError("no training face could be reconstructed: no fit statistics")
        return cls(int(e.size), float(np.median(e)), float(np.percentile(e, 90)),
                   float(np.percentile(e, 95)), float(e.max()), dst_name)

    def to_json(self) -> str:
        return json.dumps({"metric": self.metric, "faces": self.faces, "median": self.median,
                           "p90": self.p90, "p95": self.p95, "max": self.max}, sort_keys=True)

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], path: str = "model") -> TrainingFit | None:
        """The statistics of a model's metadata; None for a model exported without them."""
        text = metadata.get(FIT_KEY)
        if not text:
            return None
        try:
            d = json.loads(text)
            fit = cls(int(d["faces"]), float(d["median"]), float(d["p90"]), float(d["p95"]),
                      float(d["max"]), metadata.get("dst_name", "dst"), str(d["metric"]))
        except (ValueError, KeyError, TypeError):
            raise ModelError(f"{path}: metadata {FIT_KEY} is not readable ({text[:60]!r}); "
                             "re-export the model") from None
        if fit.metric != FIT_METRIC or not fit.median > 0:
            raise ModelError(f"{path}: metadata {FIT_KEY} measures {fit.metric!r} with median "
                             f"{fit.median}; this engine compares {FIT_METRIC}; re-export")
        return fit


@dataclass
class ShotFit:
    """Per-frame reconstruction error of the plate faces and its ratio to the training error."""

    training: TrainingFit | None
    errors: dict[int, float]
    limit: float = FIT_LIMIT
    model_name: str = "model"
    unavailable: str = ""  # why there is no check (training None)

    @classmethod
    def for_model(cls, model, errors: dict[int, float], limit: float = FIT_LIMIT) -> ShotFit:
        """The fit of `errors` against a `SwapModel`'s training statistics (`for_info`)."""
        return cls.for_info(model.info, errors, limit)

    @classmethod
    def for_info(cls, info: ModelInfo, errors: dict[int, float], limit: float = FIT_LIMIT
                 ) -> ShotFit:
        """The fit of `errors` against the training statistics in a model's metadata; a model
        exported without `dst_face` or without `dst_fit` gives an unavailable check that says
        why."""
        name = Path(info.path).name
        if not info.has_fit:
            return cls(None, {}, limit, name, "it has no dst_face output (exported before the "
                       "fit check existed); re-export it from its checkpoint with 'doppel "
                       f"export', or without one fine-tune from the file ('doppel train "
                       f"--init-from {name}': its dst decoder's colour branch learns anew) and "
                       "export that")
        training = TrainingFit.from_metadata(info.metadata, info.path)
        if training is None:
            return cls(None, {}, limit, name, "it was exported without its training dst faces "
                       "(no dst_fit metadata); re-export it with 'doppel export --dst-faceset'")
        return cls(training, dict(errors), limit, name)

    def ratio(self, frame: int) -> float:
        if self.training is None:
            return float("nan")
        return self.errors.get(frame, float("nan")) / self.training.median

    @property
    def outside(self) -> list[int]:
        """Frames whose face reconstructs past `limit` × the training median."""
        return sorted(f for f in self.errors if self.ratio(f) > self.limit)

    def summary(self) -> str:
        """One line: the fit of the shot, a warning naming frames and the fix, or why it is
        unavailable."""
        if self.training is None:
            return f"fit check unavailable for {self.model_name}: {self.unavailable}"
        if not self.errors:
            return "fit check: no face measured"
        ratios = np.array([self.ratio(f) for f in sorted(self.errors)])
        bad = self.outside
        frames = sorted(self.errors)
        head = f"model trained on {self.training.dst_name}; "
        if not bad:
            return (head + f"frames {format_frame_range(frames)} reconstruct at "
                    f"{np.median(ratios):.1f}× its training error (max {ratios.max():.1f}×, "
                    f"limit {self.limit:g}×): ok")
        worst = max(self.ratio(f) for f in bad)
        mid = float(np.median([self.ratio(f) for f in bad]))
        return (head + f"warning: frames {format_frame_range(bad)} reconstruct at {mid:.1f}× "
                f"its training error (up to {worst:.1f}×, limit {self.limit:g}×): the model "
                "was not trained on this face; fine-tune it on this shot with 'doppel train "
                f"--init-from <its model folder, or {self.model_name}> --dst <this shot's "
                "faceset>'")

    def per_frame(self) -> dict[int, float]:
        return {f: self.ratio(f) for f in sorted(self.errors)}


def measure_fit(model, faces: np.ndarray, landmarks_crop: np.ndarray) -> list[float]:
    """Reconstruction errors of aligned faces (`N×R×R×3` sRGB in [0, 1], landmarks `N×68×2` in
    crop pixels) through a `SwapModel` that has the `dst_face` output."""
    if not model.has_fit:
        raise ModelError(f"{model.info.path}: no dst_face output; the fit check needs a model "
                         "exported with it (re-export with 'doppel export')")
    out = []
    r = model.resolution
    for i in range(0, len(faces), 16):
        batch = np.ascontiguousarray(faces[i:i + 16], np.float32)
        recon = model.run_all(batch)[3]
        for face, rec, lm in zip(batch, recon, landmarks_crop[i:i + 16], strict=True):
            out.append(reconstruction_error(face, rec, fit_region(lm, r)))
    return out


def fit_of(model, faces: Iterable[tuple[int, np.ndarray, np.ndarray]],
           limit: float = FIT_LIMIT, transfer=None) -> ShotFit:
    """The fit of plate faces given as `(frame, linear RGB image H×W×3, landmarks (68, 2) in
    that image's pixels)`: each aligned as the render aligns it (the model's face type and
    resolution), put into the model's space by `transfer` (default: the sRGB transfer, the
    render's default) and through the model's dst decoder."""
    from engine.geometry.align import align_matrix, transform_points, warp_to_crop
    from engine.io.colorspace import SrgbTransfer
    from engine.io.finite import finite_rgb

    empty = ShotFit.for_model(model, {}, limit)
    if empty.training is None:
        return empty
    transfer = transfer or SrgbTransfer()
    r = model.resolution
    crops, lms, numbers = [], [], []
    for frame, rgb_linear, lm in faces:
        m = align_matrix(lm, r, model.info.face_type)
        rgb, _ = finite_rgb(np.asarray(rgb_linear, np.float32))
        crops.append(np.clip(transfer.to_model(warp_to_crop(rgb, m, r)), 0.0, 1.0))
        lms.append(transform_points(lm, m))
        numbers.append(frame)
    errors = measure_fit(model, np.asarray(crops, np.float32), np.asarray(lms)) if crops else []
    return ShotFit.for_model(model, dict(zip(numbers, errors, strict=True)), limit)


def shot_fit(model, frames: Iterable[Any], track, limit: float = FIT_LIMIT,
             transfer=None) -> ShotFit:
    """The fit of a tracked shot (`doppel analyze`, the node's Analyze): `frames` yields
    `engine.io.Frame`s (scene-linear; a MediaError in a frame's place is skipped); `track`
    gives each frame's landmarks (mapped onto the frame's data window as the render maps
    them)."""
    def faces():
        for fr in frames:
            if isinstance(fr, Exception) or fr.number not in track.faces:
                continue
            lm = track.for_plate(fr.geometry, fr.number, "track").landmarks(fr.number)
            yield fr.number, fr.rgb, lm

    return fit_of(model, faces(), limit, transfer)
