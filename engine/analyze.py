"""Per-frame face analysis: detect → 68 landmarks → pose (→ identity descriptor).

Convention: input is a scene-linear RGB float32 frame; detectors see its sRGB uint8 encoding.
NaN/Inf pixels are replaced by 0 for detection (the count is reported by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.colorspace import to_display_uint8
from engine.detect import Detector, make_detector
from engine.identity import FaceDescriber
from engine.landmarks import DlibLandmarker, Landmarker
from engine.pose import estimate_pose
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
