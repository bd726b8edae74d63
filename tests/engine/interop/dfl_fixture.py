"""A generator of DeepFaceLab-layout aligned faces, written here from the format facts.

An aligned face is a JPEG with one APP15 segment (0xFFEF) right after the JFIF header, holding a
pickled dict: face_type ('whole_face', …), landmarks (68×2 list, crop px), source_filename,
source_rect (l, t, r, b), source_landmarks (68×2 list, frame px), image_to_face_mat (2×3 float64
ndarray, frame -> crop), eyebrows_expand_mod, seg_ie_polys ({'polys': [{'type', 'pts'}]}) and
xseg_mask (a PNG-encoded uint8 image as a 1-D uint8 ndarray, as cv2.imencode returns it).
The JPEG segment writer here is independent of the engine's reader.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.geometry.align import align_matrix, mean_face

DFL_FACE_TYPES = {"half": "half_face", "mid-full": "midfull_face", "full": "full_face",
                  "whole": "whole_face", "head": "head"}


def jpeg_with_app15(rgb: np.ndarray, payload: bytes, quality: int = 95) -> bytes:
    """Encode `rgb` (uint8) as JPEG and insert one APP15 segment after SOI and the APPn headers."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    data = buf.tobytes()
    pos = 2
    while data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    assert len(payload) + 2 <= 0xFFFF, "one JPEG segment holds at most 65533 bytes"
    segment = b"\xff\xef" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:pos] + segment + data[pos:]


def frame_image(index: int, shape: tuple[int, int] = (360, 480)) -> np.ndarray:
    """A smooth synthetic frame (uint8 RGB), different per index."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / (23 + index) + index),
                    128 + 100 * np.cos(y / (17 + index)),
                    128 + 60 * np.sin((x + y) / 31)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def face_landmarks(index: int, rng: np.random.Generator) -> np.ndarray:
    """68 frame-pixel landmarks: the mean face turned, scaled and moved, with float64 jitter."""
    lm = mean_face()  # unit half-face frame
    angle = np.radians(rng.uniform(-20, 20))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    scale = rng.uniform(90, 140)
    centre = np.array([240.0 + rng.uniform(-30, 30), 170.0 + rng.uniform(-20, 20)])
    pts = (lm - 0.5) @ rot.T * scale + centre
    return pts + rng.normal(0, 0.7, pts.shape)


def dfl_meta(face_type: str, landmarks: np.ndarray, mat: np.ndarray, source: str,
             polys: list[tuple[int, np.ndarray]] | None = None,
             xseg_png: np.ndarray | None = None) -> dict[str, Any]:
    """The metadata dict DFL's extractor writes (landmark lists, matrix as ndarray)."""
    lm_crop = landmarks @ mat[:, :2].T + mat[:, 2]  # float64, as DFL computes them
    rect = (int(landmarks[:, 0].min()), int(landmarks[:, 1].min()),
            int(landmarks[:, 0].max()), int(landmarks[:, 1].max()))
    meta: dict[str, Any] = {
        "face_type": DFL_FACE_TYPES[face_type], "landmarks": lm_crop.astype(np.float64).tolist(),
        "eyebrows_expand_mod": 1.0, "source_filename": source, "source_rect": rect,
        "source_landmarks": np.asarray(landmarks, np.float64).tolist(),
        "image_to_face_mat": np.asarray(mat, np.float64),
    }
    if polys is not None:
        meta["seg_ie_polys"] = {"polys": [{"type": t, "pts": p.tolist()} for t, p in polys]}
    if xseg_png is not None:
        meta["xseg_mask"] = xseg_png
    return meta


def write_aligned_set(folder: Path, count: int = 6, size: int = 128, face_type: str = "whole",
                      seed: int = 0, protocol: int = 4) -> list[dict[str, Any]]:
    """Write `count` DFL aligned faces `00001_0.jpg`… (and their frames beside the folder, as in
    DFL's workspace) into `folder`; face 2 has XSeg polygons, face 3 an XSeg mask. Returns the
    metadata written, in file order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    metas = []
    for i in range(count):
        frame = frame_image(i)
        name = f"{i + 1:05d}.png"
        cv2.imwrite(str(folder.parent / name), frame[..., ::-1])
        lm = face_landmarks(i, rng)
        mat = align_matrix(lm.astype(np.float32), size, face_type)
        crop = cv2.warpAffine(frame, mat, (size, size), flags=cv2.INTER_LINEAR)
        polys = xseg = None
        if i == 2:
            c = size / 2
            polys = [(1, np.array([[c - 40, c - 45], [c + 40, c - 45], [c + 42, c + 50],
                                   [c - 42, c + 50]], np.float64)),
                     (0, np.array([[c - 10.5, c + 20.25], [c + 10.5, c + 20.25], [c, c + 60]],
                                  np.float64))]
        if i == 3:
            m = np.zeros((size // 2, size // 2), np.uint8)
            cv2.circle(m, (size // 4, size // 4), size // 5, 255, -1)
            xseg = cv2.imencode(".png", m)[1]
        meta = dfl_meta(face_type, lm, mat, name, polys, xseg)
        payload = pickle.dumps(meta, protocol=protocol)
        (folder / f"{i + 1:05d}_0.jpg").write_bytes(jpeg_with_app15(crop, payload))
        metas.append(meta)
    return metas


class Sentinel:
    """A pickled object whose unpickling would create `path` (os.system), if it were ever run."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


class UnknownClass:
    """Any class outside the admitted table (pickled by reference to this test module)."""

    def __init__(self):
        self.value = 1
