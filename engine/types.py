"""Value types shared by the stages (DESIGN.md §3).

Conventions: points are float32 `(N, 2)` `(x, y)` in full-resolution image pixels, pixel centres
at integer coordinates; boxes are `(x0, y0, x1, y1)` floats in the same frame; angles are degrees
`(pitch, yaw, roll)`; landmarks follow the 68-point iBUG 300-W order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Detection:
    """A face box from a detector, with its optional 5 keypoints (eyes, nose, mouth corners)."""

    bbox: tuple[float, float, float, float]
    score: float
    detector: str
    points5: np.ndarray | None = None

    @property
    def size(self) -> float:
        """Geometric mean of box width and height, in pixels."""
        x0, y0, x1, y1 = self.bbox
        return float(np.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)))

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.bbox
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float32)


@dataclass(frozen=True)
class Face:
    """A detected face with its 68 landmarks and head pose."""

    detection: Detection
    landmarks: np.ndarray  # (68, 2) float32, image pixels
    landmarker: str
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (pitch, yaw, roll) degrees
    descriptor: np.ndarray | None = field(default=None, compare=False)  # 128-d identity

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return self.detection.bbox

    @property
    def score(self) -> float:
        return self.detection.score

    def with_landmarks(self, landmarks: np.ndarray) -> Face:
        return replace(self, landmarks=np.asarray(landmarks, dtype=np.float32))
