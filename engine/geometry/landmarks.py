"""68-point facial landmarks behind one small interface; dlib's shape predictor as the backend.

Convention: `fit(image_srgb, detection)` takes the detector's sRGB uint8 `H×W×3` image and returns
`(68, 2)` float32 `(x, y)` in that image's pixels, iBUG 300-W order (0-16 jaw, 17-26 brows,
27-35 nose, 36-47 eyes, 48-67 mouth). Only a region around the box is touched, so the cost is
independent of plate size.

dlib's predictor was trained on boxes from dlib's HOG detector. Boxes from other detectors
(CenterFace's include the forehead) are first mapped to that convention from the landmarks of a
first pass, then fitted again: one refinement pass makes every detector look like HOG to it.
"""

from __future__ import annotations

from typing import Protocol

import dlib
import numpy as np

from engine.runtime.assets import dlib_model
from engine.types import Detection

# HOG box relative to its 68 landmarks, measured on the sample media (tools/ calibration notes in
# docs/extraction.md): centre = mean + (0, -0.209) * rms spread, side = 2.68 * rms spread.
_BOX_DY = -0.209
_BOX_SIDE = 2.68


class Landmarker(Protocol):
    name: str

    def fit(self, image_srgb: np.ndarray, detection: Detection) -> np.ndarray: ...


def hog_style_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The box dlib's HOG detector would draw around a face with these landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    centre = pts.mean(axis=0)
    spread = float(np.sqrt(((pts - centre) ** 2).sum(axis=1).mean()))
    cx, cy = centre[0], centre[1] + _BOX_DY * spread
    half = _BOX_SIDE * spread / 2
    return (cx - half, cy - half, cx + half, cy + half)


class DlibLandmarker:
    """dlib's 68-point ensemble-of-regression-trees shape predictor (iBUG 300-W trained)."""

    name = "dlib-68"

    def __init__(self, refine_foreign_boxes: bool = True):
        self._predictor = dlib.shape_predictor(str(dlib_model("shape68")))
        self.refine_foreign_boxes = refine_foreign_boxes

    def _predict(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = box
        side = max(x1 - x0, y1 - y0)
        # Crop a margin around the box so the trees' pixel probes stay inside; work in the crop.
        m = int(side * 0.6) + 2
        cx0, cy0 = max(int(x0) - m, 0), max(int(y0) - m, 0)
        cx1, cy1 = min(int(np.ceil(x1)) + m, w), min(int(np.ceil(y1)) + m, h)
        crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
        rect = dlib.rectangle(int(round(x0 - cx0)), int(round(y0 - cy0)),
                              int(round(x1 - cx0)) - 1, int(round(y1 - cy0)) - 1)
        shape = self._predictor(crop, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return pts + np.array([cx0, cy0], dtype=np.float32)

    def fit(self, image_srgb: np.ndarray, detection: Detection) -> np.ndarray:
        pts = self._predict(image_srgb, detection.bbox)
        if self.refine_foreign_boxes and not detection.detector.startswith("dlib"):
            pts = self._predict(image_srgb, hog_style_box(pts))
        return pts
