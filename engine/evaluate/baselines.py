"""Baselines to put beside a render in the quality table (computed in the same run).

- no swap: the plate itself (the evaluation's upper bound on structure, lower bound on identity);
- naive paste: per frame, the source faceset's aligned crop whose pose is nearest the plate
  face's, warped onto the plate face with the same alignment, its whole square pasted over the
  plate: no mask, no colour transfer, no blending. What a swap without the model's conversion
  and without Doppel's masking and colour would look like.

Convention: plates scene-linear; faceset crops sRGB-encoded (decoded to linear before pasting);
outputs are EXRs `R,G,B,A` + `doppel.mask` (the pasted square) at the plate's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacesetError, MediaError
from engine.faceset.store import FaceEntry, Faceset
from engine.geometry.align import align_matrix, crop_roi, warp_from_crop
from engine.io import FrameSource, SequencePattern, write_exr
from engine.io.colorspace import srgb_to_linear
from engine.io.ownership import image_mark


def nearest_pose_entry(faceset: Faceset, pose: tuple[float, float, float]) -> FaceEntry:
    """The faceset entry whose (pitch, yaw) is nearest `pose`'s."""
    if not faceset.entries:
        raise FacesetError(f"{faceset.root}: the source faceset has no faces to paste")
    target = np.asarray(pose[:2], np.float64)
    return min(faceset.entries,
               key=lambda e: float(np.linalg.norm(np.asarray(e.pose[:2]) - target)))


def paste_face(plate_linear: np.ndarray, landmarks: np.ndarray, crop_srgb: np.ndarray,
               face_type: str) -> tuple[np.ndarray, np.ndarray]:
    """The plate with `crop_srgb` (an aligned square of `face_type`) pasted over the face at
    `landmarks`; returns (linear RGB `H×W×3`, mask `H×W` of the pasted square)."""
    size = crop_srgb.shape[0]
    m = align_matrix(landmarks, size, face_type)
    roi = crop_roi(m, size, plate_linear.shape, margin=0)
    x0, y0, x1, y1 = roi
    layer = np.dstack([srgb_to_linear(crop_srgb), np.ones(crop_srgb.shape[:2], np.float32)])
    back = warp_from_crop(layer, m, roi)
    alpha = np.clip(back[..., 3:], 0.0, 1.0)
    out = np.array(plate_linear, np.float32, copy=True)
    region = out[y0:y1, x0:x1]
    # The colour was warped together with a coverage of 1 over a zero border: it is premultiplied.
    # Cubic ringing outside the square (coverage ≤ 0) must not touch the plate.
    region[:] = np.where(alpha > 0, back[..., :3] + region * (1.0 - alpha), region)
    mask = np.zeros(plate_linear.shape[:2], np.float32)
    mask[y0:y1, x0:x1] = alpha[..., 0]
    return out, mask


NAIVE_MARK = image_mark("naive-paste frame", attribute="doppel/baseline")


def write_naive_paste(plate: FrameSource, landmarks: Mapping[int, np.ndarray],
                      poses: Mapping[int, tuple[float, float, float]], faceset: Faceset,
                      pattern: str | Path, frames: Iterable[int] | None = None,
                      progress: Callable[..., Iterable[Any]] | None = None) -> list[int]:
    """Write the naive-paste baseline for `frames` (default: all of the plate's); frames without
    landmarks are the plate as is. Frames already written are kept (resume); returns the frames
    written now."""
    prog = progress or (lambda it, total, desc: it)
    out = SequencePattern.parse(str(pattern))
    written = []
    frames = sorted(set(plate.frames if frames is None else frames))
    todo = [f for f in frames if not out.path(f).is_file()]
    for item in prog(plate.read(todo), len(todo), "naive paste"):
        if isinstance(item, MediaError):
            raise item
        f = item.number
        rgb = item.rgb
        mask = np.zeros(rgb.shape[:2], np.float32)
        if f in landmarks:
            entry = nearest_pose_entry(faceset, poses[f])
            rgb, mask = paste_face(rgb, landmarks[f], faceset.load_crop(entry),
                                   faceset.face_type)
        alpha = item.alpha if item.alpha is not None else np.ones(rgb.shape[:2], np.float32)
        write_exr(out.path(f), np.dstack([rgb, alpha, mask]),
                  ("R", "G", "B", "A", "doppel.mask"), {"doppel/baseline": "naive paste"})
        written.append(f)
    return written
