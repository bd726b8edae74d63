"""Identity descriptors: dlib's 128-d face embedding (ResNet, LFW-trained).

Two descriptors of the same person are usually closer than 0.6 (Euclidean). Convention: the
input is the detector's sRGB uint8 `H×W×3` image and 68 landmarks in its pixels.
"""

from __future__ import annotations

import dlib
import numpy as np

from engine.runtime.assets import dlib_model


class FaceDescriber:
    """Computes 128-d identity descriptors (once per instance: the ResNet loads once)."""

    def __init__(self) -> None:
        self._model = dlib.face_recognition_model_v1(str(dlib_model("descriptor")))

    def describe(self, image_srgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        pts = np.asarray(landmarks, dtype=np.float64)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y)))
                                                  for x, y in pts])
        return np.asarray(self._model.compute_face_descriptor(image_srgb, shape), np.float32)
