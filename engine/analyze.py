"""Per-frame face analysis: detect → 68 landmarks → pose (→ identity descriptor).

Convention: input is a scene-linear RGB float32 frame; detectors see its sRGB uint8 encoding.
NaN/Inf pixels are replaced by 0 for detection (the count is reported by the caller).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.colorspace import to_display_uint8
from engine.detect import Detector, make_detector
from engine.errors import MediaError
from engine.identity import FaceDescriber
from engine.io import Frame, FrameSource, atomic_write_text
from engine.landmarks import DlibLandmarker, Landmarker
from engine.pose import estimate_pose
from engine.types import Detection, Face


@dataclass
class FaceAnalyzer:
    """Holds the heavy models once; `analyze(frame_rgb_linear)` returns faces largest first."""

    detector: Detector
    landmarker: Landmarker
    describer: FaceDescriber | None = None
    min_size: float = 24.0  # ignore boxes smaller than this (pixels): landmarks are noise there

    @classmethod
    def create(cls, detector: str = "hog", describe: bool = False, **detector_options: object
               ) -> FaceAnalyzer:
        return cls(make_detector(detector, **detector_options), DlibLandmarker(),
                   FaceDescriber() if describe else None)

    def analyze_srgb(self, image_srgb: np.ndarray) -> list[Face]:
        h, w = image_srgb.shape[:2]
        faces = []
        for det in self.detector.detect(image_srgb):
            if det.size < self.min_size:
                continue
            lm = self.landmarker.fit(image_srgb, det)
            desc = self.describer.describe(image_srgb, lm) if self.describer else None
            faces.append(Face(det, lm, self.landmarker.name, estimate_pose(lm, (w, h)), desc))
        return sorted(faces, key=lambda f: -f.detection.size)

    def analyze(self, rgb_linear: np.ndarray) -> list[Face]:
        return self.analyze_srgb(to_display_uint8(rgb_linear))


ANALYSIS_SCHEMA = 1


def face_to_json(face: Face) -> dict[str, Any]:
    d = face.detection
    return {"bbox": [round(v, 3) for v in d.bbox], "score": round(d.score, 5),
            "detector": d.detector, "landmarker": face.landmarker,
            "landmarks": np.round(face.landmarks, 3).tolist(),
            "pose": [round(v, 3) for v in face.pose],
            "descriptor": None if face.descriptor is None
            else np.round(face.descriptor, 6).tolist()}


def face_from_json(e: dict[str, Any]) -> Face:
    det = Detection(tuple(e["bbox"]), e["score"], e["detector"])  # type: ignore[arg-type]
    desc = None if e.get("descriptor") is None else np.asarray(e["descriptor"], np.float32)
    return Face(det, np.asarray(e["landmarks"], np.float32), e["landmarker"],
                tuple(e["pose"]), desc)  # type: ignore[arg-type]


class AnalysisCache:
    """Per-frame analysis results, persisted atomically so a long analysis resumes after a crash.

    A cache made with other detector settings or another source is ignored (recomputed).
    """

    def __init__(self, path: Path | None, key: dict[str, Any], source: str):
        self.path, self.key, self.source = path, key, source
        self.frames: dict[int, list[dict[str, Any]]] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError:
                data = {}
            if (data.get("schema") == ANALYSIS_SCHEMA and data.get("key") == key
                    and data.get("source") == source):
                self.frames = {int(k): v for k, v in data["frames"].items()}

    def save(self) -> None:
        if self.path is None:
            return
        atomic_write_text(self.path, json.dumps({
            "schema": ANALYSIS_SCHEMA, "key": self.key, "source": self.source,
            "frames": {str(k): v for k, v in sorted(self.frames.items())}}))


def sanitise(frame: Frame, warnings: list[str]) -> np.ndarray:
    """The frame's RGB with NaN/Inf replaced by 0 (a warning is added when there were any)."""
    if frame.nonfinite:
        warnings.append(f"frame {frame.number} ({frame.path}): {frame.nonfinite} NaN/Inf values "
                        "replaced by 0 for analysis")
        return np.nan_to_num(frame.rgb, nan=0.0, posinf=0.0, neginf=0.0)
    return frame.rgb


def analyze_frames(source: FrameSource, frames: Sequence[int], analyzer: FaceAnalyzer,
                   cache_path: Path | None, key: dict[str, Any], errors: list[str],
                   warnings: list[str], progress: Callable[..., Iterable[Any]] | None = None,
                   save_every: int = 10) -> dict[int, list[Face]]:
    """Faces per readable frame (largest first), resuming from and updating `cache_path`.

    Unreadable frames are skipped with their one-line error appended to `errors`.
    """
    prog = progress or (lambda it, total, desc: it)
    cache = AnalysisCache(cache_path, key, source.description)
    todo = [f for f in frames if f not in cache.frames]
    pending = 0
    for item in prog(source.read(todo), len(todo), "analyse"):
        if isinstance(item, MediaError):
            errors.append(str(item))
            continue
        faces = analyzer.analyze(sanitise(item, warnings))
        cache.frames[item.number] = [face_to_json(f) for f in faces]
        pending += 1
        if pending >= save_every:
            cache.save()
            pending = 0
    cache.save()
    return {f: [face_from_json(e) for e in cache.frames[f]] for f in frames if f in cache.frames}
