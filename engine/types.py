"""Value types shared by the stages (DESIGN.md §3).

Conventions: points are float32 `(N, 2)` `(x, y)` in full-resolution image pixels, pixel centres
at integer coordinates; boxes are `(x0, y0, x1, y1)` floats in the same frame; angles are degrees
`(pitch, yaw, roll)`; landmarks follow the 68-point iBUG 300-W order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.errors import InputError

Box = tuple[int, int, int, int]
"""An integer pixel rectangle `(x0, y0, x1, y1)`, exclusive ends, in the named image's pixels."""


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

    def to_json(self) -> dict[str, Any]:
        """The one JSON form of a face (analysis cache, track cache, faceset entries).

        Rounded to 1/1000 px and 1/1000 degree (far below landmark noise) so files stay small;
        `descriptor` is written only when the face has one.
        """
        d = self.detection
        out: dict[str, Any] = {
            "bbox": [round(v, 3) for v in d.bbox], "score": round(d.score, 5),
            "detector": d.detector, "landmarker": self.landmarker,
            "landmarks": np.round(self.landmarks, 3).tolist(),
            "pose": [round(v, 3) for v in self.pose]}
        if self.descriptor is not None:
            out["descriptor"] = np.round(self.descriptor, 6).tolist()
        return out

    @classmethod
    def from_json(cls, e: Mapping[str, Any], where: str = "face") -> Face:
        """Inverse of `to_json`; a missing or malformed field raises InputError naming `where`."""
        try:
            bbox = tuple(float(v) for v in e["bbox"])
            det = Detection(bbox, float(e["score"]), str(e["detector"]))  # type: ignore[arg-type]
            lm = np.asarray(e["landmarks"], np.float32)
            pose = tuple(float(v) for v in e["pose"])
            desc = e.get("descriptor")
            face = cls(det, lm, str(e["landmarker"]), pose,  # type: ignore[arg-type]
                       None if desc is None else np.asarray(desc, np.float32))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: face record is malformed ({type(exc).__name__}: {exc}); "
                             "re-create the file with this version") from None
        if len(bbox) != 4 or lm.shape != (68, 2) or len(pose) != 3:
            raise InputError(f"{where}: face record has bbox {len(bbox)} values, landmarks "
                             f"{lm.shape}, pose {len(pose)} values; expected 4, (68, 2), 3")
        return face


@dataclass(frozen=True)
class AlignedFace:
    """A face resampled into an aligned crop: `matrix` maps image pixels → crop pixels.

    `face.landmarks` are the landmarks the alignment used (smoothed ones when the track was
    smoothed), in image pixels; `crop` is the `size×size×3` image when it is held in memory.
    """

    face: Face
    matrix: np.ndarray  # 2×3 float64, image → crop
    face_type: str
    size: int
    crop: np.ndarray | None = field(default=None, compare=False)

    @property
    def landmarks_crop(self) -> np.ndarray:
        """The landmarks in crop pixels, `(68, 2)` float32."""
        m = np.asarray(self.matrix, np.float64)
        pts = np.asarray(self.face.landmarks, np.float64)
        return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """`Face.to_json` plus the alignment (`landmarks_crop`, `matrix`, `face_type`)."""
        return {**self.face.to_json(),
                "landmarks_crop": np.round(self.landmarks_crop, 3).tolist(),
                "matrix": np.round(np.asarray(self.matrix, np.float64), 8).tolist(),
                "face_type": self.face_type}

    @classmethod
    def from_json(cls, e: Mapping[str, Any], size: int, where: str = "face") -> AlignedFace:
        """Inverse of `to_json`; `size` comes from the container (a faceset's crop size)."""
        face = Face.from_json(e, where)
        try:
            matrix = np.asarray(e["matrix"], np.float64)
            ftype = str(e["face_type"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: aligned face record is malformed ({exc})") from None
        if matrix.shape != (2, 3) or not np.isfinite(matrix).all():
            raise InputError(f"{where}: matrix must be finite 2×3, got shape {matrix.shape}")
        return cls(face, matrix, ftype, int(size))
