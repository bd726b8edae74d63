"""Per-frame face analysis: detect → 68 landmarks → pose → identity descriptor, largest first.

Convention: `analyze` takes a scene-linear RGB float32 frame (`H×W×3`); detectors and the
landmarker see its sRGB uint8 encoding (`engine.io.colorspace.to_display_uint8`). Landmarks and
boxes are in that frame's pixels (DESIGN.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import MediaError, NoFaceError
from engine.geometry.descriptor import FaceDescriber
from engine.geometry.detect import Detector, make_detector
from engine.geometry.landmarks import DlibLandmarker, Landmarker
from engine.geometry.pose import estimate_pose
from engine.io import open_source
from engine.io.colorspace import to_display_uint8
from engine.io.finite import finite_rgb
from engine.types import Face


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


def reference_descriptor(path: str | Path, analyzer: FaceAnalyzer) -> np.ndarray:
    """Identity descriptor of the largest face in a reference image."""
    frame = next(iter(open_source(path, upright=True).read()))  # a photo, as viewers show it
    if isinstance(frame, MediaError):
        raise frame
    faces = analyzer.analyze(finite_rgb(frame.rgb)[0])
    if not faces or faces[0].descriptor is None:
        raise NoFaceError(f"{path}: no face found in the reference image; give a clear portrait")
    return faces[0].descriptor
