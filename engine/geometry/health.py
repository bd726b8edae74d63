"""Track health: which frames of a track look wrong, and why (no pixels read).

Reasons, per analysed frame (a frame may have several), with their thresholds:
- `no detection`: analysed, and no face was tracked there (a "no face" key makes the absence
  intended: not suspect);
- `low score`: the detector's score is under `LOW_SCORE[detector]` (CenterFace 0.6: tracked
  faces on the sample plate score 0.83-0.93; dlib HOG 0.2, its SVM margin);
- `landmark jump`: the raw landmarks lie more than `JUMP` (0.12) face scales (RMS, see
  `engine.geometry.smooth.face_scale`) from the mean of the two neighbouring frames' (both
  tracked): a point cloud that jumps away and back. Real motion is smooth, so the mean of the
  neighbours predicts it; the sample plate measures at most 0.07;
- `pose jump`: yaw, pitch or roll differ from the neighbours' mean by more than `POSE_JUMP`
  (15°) (the sample plate: at most 4°);
- `face shape`: the landmarks are `SHAPE` (0.15) or more from the mean face after the best
  similarity (`engine.geometry.track.face_shape` units; the sample plate measures at most 0.10, the
  render refuses 0.35);
- `smoothing drift`: smoothed and raw landmarks lie more than `DRIFT` (0.08) of the face's size
  apart (mean point distance; the sample plate: at most 0.013): smoothing pulled them far, a
  sign of a neighbour gone wrong.

Hand-keyed frames (`Track.keys`) are never suspect: a compositor has looked at them; nor is a
jump measured against a keyed neighbour (the key decides where the face is).

`format_ranges` words them for people: "1005-1007 no detection; 1040 landmark jump".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.geometry.smooth import face_scale
from engine.geometry.track import Track, face_shape
from engine.io.frames import format_frame_range

REASONS = ("no detection", "low score", "landmark jump", "pose jump", "face shape",
           "smoothing drift")
LOW_SCORE = {"centerface": 0.6, "dlib-hog": 0.2, "dlib-cnn": 0.3}
DEFAULT_LOW_SCORE = 0.5  # any other detector, scores in 0..1
JUMP = 0.12
POSE_JUMP = 15.0
SHAPE = 0.15
DRIFT = 0.08


def track_health(track: Track) -> dict[int, list[str]]:
    """The suspect frames of `track`: frame -> its reasons (module doc), in frame order; frames
    that look right are absent."""
    out: dict[int, list[str]] = {}
    faces = track.faces
    for f in sorted(track.analysed()):
        if f in track.keys:
            continue
        face = faces.get(f)
        if face is None:
            out[f] = ["no detection"]
            continue
        reasons = []
        limit = LOW_SCORE.get(face.detection.detector, DEFAULT_LOW_SCORE)
        if face.detection.detector != "user" and face.score < limit:
            reasons.append("low score")
        lm = face.landmarks
        scale = max(face_scale(lm), 1e-6)
        prev, nxt = faces.get(f - 1), faces.get(f + 1)
        if prev is not None and nxt is not None and not {f - 1, f + 1} & set(track.keys):
            mean = (prev.landmarks + nxt.landmarks) / 2
            if np.sqrt(((lm - mean) ** 2).sum(axis=1).mean()) / scale > JUMP:
                reasons.append("landmark jump")
            pose = (np.asarray(prev.pose) + np.asarray(nxt.pose)) / 2
            if np.abs(np.asarray(face.pose) - pose).max() > POSE_JUMP:
                reasons.append("pose jump")
        error, _size = face_shape(lm)
        if error > SHAPE:
            reasons.append("face shape")
        sm = track.smoothed.get(f)
        if sm is not None:
            size = float(max(lm.max(axis=0) - lm.min(axis=0)))
            if float(np.linalg.norm(sm - lm, axis=1).mean()) > DRIFT * max(size, 1e-6):
                reasons.append("smoothing drift")
        if reasons:
            out[f] = reasons
    return out


def format_ranges(health: Mapping[int, list[str]]) -> str:
    """Suspect frames as ranges per reason, in the order of `REASONS`:
    "1005-1007 no detection; 1040 landmark jump" ("" when none).

    Example:
        >>> format_ranges({12: ["no detection"], 13: ["no detection"], 40: ["pose jump"]})
        '12-13 no detection; 40 pose jump'
    """
    parts = []
    for reason in REASONS:
        frames = [f for f, rs in health.items() if reason in rs]
        if frames:
            parts.append(f"{format_frame_range(sorted(frames))} {reason}")
    return "; ".join(parts)
