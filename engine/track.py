"""Following one identity through a shot, and the track cache that renders read.

Selection (`select_track`), per frame in order:
1. with a reference descriptor: the face most similar to it (dlib 128-d, distance < `max_dist`);
2. else, once the track has started: the face nearest the previous pick (centre distance under
   one face size), so a second person walking past does not steal the track;
3. else (first frame, or the track was lost): the `face_index`-th face by size, largest first.

Convention: faces per frame as `{frame: [Face, …]}`; the resulting `Track` holds raw and smoothed
landmarks per frame, serialisable to JSON (`schema` versioned; readers reject unknown schemas).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.io import atomic_write_text
from engine.smooth import smooth_landmarks
from engine.types import Face

TRACK_SCHEMA = 1


def by_size(faces: Sequence[Face]) -> list[Face]:
    """Faces ordered largest first (the `face_index` order users see)."""
    return sorted(faces, key=lambda f: -f.detection.size)


def _pick(faces: Sequence[Face], prev: Face | None, face_index: int,
          reference: np.ndarray | None, max_dist: float) -> Face | None:
    if not faces:
        return None
    if reference is not None:
        scored = [(float(np.linalg.norm(f.descriptor - reference)), f)
                  for f in faces if f.descriptor is not None]
        scored = [s for s in scored if s[0] < max_dist]
        return min(scored, key=lambda s: s[0])[1] if scored else None
    if prev is not None:
        dists = [(float(np.linalg.norm(f.detection.center - prev.detection.center))
                  / max(prev.detection.size, 1.0), f) for f in faces]
        best = min(dists, key=lambda s: s[0])
        if best[0] < 1.0:
            return best[1]
    ordered = by_size(faces)
    return ordered[face_index] if face_index < len(ordered) else None


@dataclass
class Track:
    """One identity's faces over a shot: raw and smoothed landmarks per frame."""

    faces: dict[int, Face]  # frame -> chosen face (raw landmarks)
    smoothed: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> (68, 2)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> list[int]:
        return sorted(self.faces)

    def landmarks(self, frame: int) -> np.ndarray:
        """Smoothed landmarks if the track was smoothed, else raw."""
        return self.smoothed.get(frame, self.faces[frame].landmarks)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TRACK_SCHEMA,
            "settings": self.settings,
            "frames": {
                str(f): {**face.to_json(),
                         "smoothed": np.round(self.smoothed[f], 3).tolist()
                         if f in self.smoothed else None}
                for f, face in sorted(self.faces.items())
            },
        }

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_json()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "track") -> Track:
        if data.get("schema") != TRACK_SCHEMA:
            raise InputError(
                f"{where}: track schema {data.get('schema')!r} not supported (expected "
                f"{TRACK_SCHEMA}); re-run 'doppel analyze' with this version"
            )
        faces: dict[int, Face] = {}
        smoothed: dict[int, np.ndarray] = {}
        for key, e in data["frames"].items():
            faces[int(key)] = Face.from_json(e, f"{where}, frame {key}")
            if e.get("smoothed") is not None:
                smoothed[int(key)] = np.asarray(e["smoothed"], np.float32)
        return cls(faces, smoothed, dict(data.get("settings", {})))

    @classmethod
    def load(cls, path: str | Path) -> Track:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{path}: track file not found; run 'doppel analyze' first") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc}); re-run 'doppel analyze'") from None
        return cls.from_json(data, str(path))


def select_track(faces_per_frame: Mapping[int, Sequence[Face]], face_index: int = 0,
                 reference: np.ndarray | None = None, max_dist: float = 0.6) -> Track:
    """Follow one identity through the frames (see module doc for the rule)."""
    chosen: dict[int, Face] = {}
    prev: Face | None = None
    for frame in sorted(faces_per_frame):
        pick = _pick(faces_per_frame[frame], prev, face_index, reference, max_dist)
        if pick is not None:
            chosen[frame] = pick
        prev = pick  # lost for a frame -> re-acquire by index/reference next frame
    return Track(chosen, settings={"face_index": face_index,
                                   "reference": reference is not None})


def smooth_track(track: Track, radius: int = 3, motion_sigma: float = 0.08) -> Track:
    """A copy of `track` with smoothed landmarks filled in (raw landmarks are kept)."""
    frames = track.frames
    if not frames:
        return track
    stacked = np.stack([track.faces[f].landmarks for f in frames])
    smoothed = smooth_landmarks(frames, stacked, radius, motion_sigma)
    settings = dict(track.settings, smooth_radius=radius, smooth_motion_sigma=motion_sigma)
    return Track(dict(track.faces), {f: smoothed[i] for i, f in enumerate(frames)}, settings)
