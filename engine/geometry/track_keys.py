"""Hand corrections of a track: keys a compositor sets where the tracker got a frame wrong.

A key is one frame's correction (`TrackKey`):
- `box`: the face is inside this box; the landmarker runs inside it (on the plate, when the key
  is applied: renders never detect) and its 68 landmarks become the frame's;
- `points`: these 68 landmarks, as given (points dragged in the editor);
- `noface`: no face on this frame (the plate passes through).

Applying keys (`apply_keys`) starts from the analysis as made (`Track.base`, kept beside the
edits, so removing a key restores the raw result) and:
1. sets each key frame's landmarks (pinned: smoothing never moves them);
2. blends a `box`/`points` key's correction (its landmarks minus the raw ones, when the frame
   had a detection) into the detected frames within `span` frames of it, with a weight falling
   linearly from 1 at the key to 0 at `span + 1` frames away (overlapping keys: the weighted
   mean of their corrections); and fills the frames without a detection next to the key,
   up to `span` of them: interpolated linearly along the whole run of faceless frames, from
   the key to the first face past the run (a detection or another key), or held at the key's
   landmarks when there is none (the run reaches the end of the analysis or a "no face" key);
   a frame two keys fill takes the mean;
3. smooths again (the track's own radius and motion sigma) the frames within the smoothing
   radius of a changed frame; every other frame keeps its saved smoothed landmarks bit for bit;
4. fingerprints every changed frame afresh from the plate (`engine.geometry.fingerprint`), and
   records on each key the fingerprint of its plate frame, so an edit made on another plate is
   refused by name (`check_key_pixels`, a frame rule).

Convention: boxes `(x0, y0, x1, y1)` and landmarks in the track's display-window pixels at full
resolution (as the track stores them), pixel centres at integer coordinates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.geometry import fingerprint as fp
from engine.geometry.smooth import smooth_landmarks
from engine.geometry.track import (
    FACE_SHAPE_LIMIT,
    MIN_FACE_PX,
    USER,
    Track,
    TrackKey,
    face_shape,
    faces_with_keys,
)
from engine.types import Detection

__all__ = ["TrackKey", "apply_keys", "check_key_pixels", "raw", "resolve"]


def raw(track: Track) -> Track:
    """The analysis as made (the track without its keys)."""
    return track.base if track.base is not None else track


def resolve(base: Track, keys: Mapping[int, TrackKey]) -> tuple[Track, set[int]]:
    """`base` with `keys` applied, and the frames whose face changed (steps 1-3 of the module
    doc; no pixels: box keys must hold their landmarks already). Fingerprints of changed
    frames are dropped here (`apply_keys` makes them from the plate)."""
    faces, changed = faces_with_keys(base, keys)
    # 3. smoothing again around the changes; keys pinned
    smoothed = {f: v for f, v in base.smoothed.items() if f in faces}
    radius = int(base.settings.get("smooth_radius", 0) or 0) if base.smoothed else 0
    if radius > 0:
        sigma = float(base.settings.get("smooth_motion_sigma", 0.08))
        near = {g for f in changed for g in range(f - radius, f + radius + 1)} & set(faces)
        # The smoother reads frames within `radius` of the one it smooths (by frame number),
        # so the frames within 2·radius of a change give `near` exactly what the whole track
        # would, at a cost that follows the edits, not the shot's length (every load checks
        # a file's edits by resolving them again).
        frames = sorted({g for f in near for g in range(f - radius, f + radius + 1)}
                        & set(faces))
        if frames:
            stacked = np.stack([faces[f].landmarks for f in frames])
            out = smooth_landmarks(frames, stacked, radius, sigma)
            for i, f in enumerate(frames):
                if f in near:
                    smoothed[f] = out[i]
    if base.smoothed:  # key frames pinned; without a radius, smoothed = raw where changed
        for f in changed:
            if f in faces and (f in keys or radius == 0):
                smoothed[f] = faces[f].landmarks.copy()
    prints = {f: v for f, v in base.fingerprints.items() if f in faces and f not in changed}
    track = Track(faces, smoothed, dict(base.settings), fingerprints=prints,
                  keys=dict(keys), base=base if keys else None)
    if not keys:  # every key removed: the analysis as made
        return base, changed
    return track, changed


FrameReader = Callable[[int], tuple[np.ndarray, Any]]
"""frame -> (finite scene-linear RGB `H×W×3` float32, its `Geometry` or None)."""


def fit_box(image_srgb: np.ndarray, box: tuple[float, float, float, float],
            origin: tuple[int, int], landmarker: Any) -> np.ndarray:
    """68 landmarks found inside `box` (display-window pixels) on an sRGB frame whose array
    starts at `origin`; returned in display-window pixels."""
    o = np.asarray(origin, np.float32)
    x0, y0, x1, y1 = box
    det = Detection((x0 - o[0], y0 - o[1], x1 - o[0], y1 - o[1]), 1.0, USER)
    return np.asarray(landmarker.fit(image_srgb, det), np.float32) + o


def frame_print(rgb: np.ndarray, geometry: Any, landmarks: np.ndarray | None
                ) -> tuple[str, str | None]:
    """The fingerprints `(plate, face)` of a frame (hex; face None without landmarks), as
    analyze makes them (display-window landmarks)."""
    rgb, origin, box = fp.plate_window(rgb, geometry)
    plate = fp.encode(fp.thumbnail(rgb, box, origin))
    face = (None if landmarks is None
            else fp.encode(fp.thumbnail(rgb, fp.landmark_box(landmarks), origin)))
    return plate, face


def apply_keys(track: Track, keys: Iterable[TrackKey], read: FrameReader,
               landmarker: Any | None = None) -> Track:
    """`track`'s analysis (`raw(track)`) with `keys` applied (module doc), reading the plate
    frames the keys and the changed frames need through `read`. A box key without landmarks is
    fitted with `landmarker` (a `Landmarker`; built when needed). The keys replace every key
    the track held: pass `list(track.keys.values()) + [new]` to add one. Keys the track holds
    (resolved: landmarks and plate fingerprint) and entries whose landmarks did not change keep
    their fingerprints without a plate read, so adding a key reads only the frames it moves."""
    from engine.io.colorspace import to_display_uint8

    base = raw(track)
    cache: dict[int, tuple[np.ndarray, Any]] = {}

    def frame(f: int) -> tuple[np.ndarray, Any]:
        if f not in cache:
            cache[f] = read(f)
        return cache[f]

    done: dict[int, TrackKey] = {}
    for k in keys:
        if k.plate and (k.points is not None or k.kind == "noface"):
            done[k.frame] = k  # resolved before (a key the track holds): no plate read
            continue
        rgb, geo = frame(k.frame)
        origin = geo.offset if geo is not None else (0, 0)
        points = k.points
        if k.kind == "box" and points is None:
            if landmarker is None:
                from engine.geometry.landmarks import DlibLandmarker

                landmarker = DlibLandmarker()
            points = fit_box(to_display_uint8(rgb), k.box, origin, landmarker)  # type: ignore
        if points is not None:  # render would refuse it: say so now, naming the key
            error, size = face_shape(points)
            if size < MIN_FACE_PX or error > FACE_SHAPE_LIMIT:
                raise InputError(
                    f"key on frame {k.frame}: its landmarks are not face-shaped (distance "
                    f"{error:.2f} from the mean face, at most {FACE_SHAPE_LIMIT:g}): a point "
                    "dragged too far, or a box around no face? move it back or redraw")
        plate, _ = frame_print(rgb, geo, None)
        done[k.frame] = replace(k, points=points, plate=plate)
    edited, changed = resolve(base, done)
    for f in sorted(changed):
        if f in edited.faces:
            before = track.faces.get(f)
            if (before is not None and f in track.fingerprints
                    and np.array_equal(before.landmarks, edited.faces[f].landmarks)):
                edited.fingerprints[f] = track.fingerprints[f]  # same face on the same frame
                continue
            rgb, geo = frame(f)
            plate, face = frame_print(rgb, geo, edited.faces[f].landmarks)
            edited.fingerprints[f] = {"frame": f, "plate": plate, "face": face}
    return edited


def check_key_pixels(track: Track, frame: int, pixels: np.ndarray, geometry: Any,
                     where: str, rows: tuple[int, int] | None = None) -> None:
    """Refuse a plate frame that is not the one a hand edit on it was made on (InputError
    naming the edit and the frame): the key's plate fingerprint against `pixels`, the whole
    display window's thumbnail (so `pixels` and `geometry` may be a proxy's, at any scale)."""
    key = track.keys.get(frame)
    if key is None or not key.plate:
        return
    pixels, origin, box = fp.plate_window(pixels, geometry, rows)
    diff = fp.mismatch(pixels, box, origin, fp.decode(key.plate, where))
    if diff is not None and diff > fp.TOLERANCE:
        raise InputError(
            f"{where}: frame {frame}: the hand edit ({key.kind} key) was made on another plate "
            f"frame (fingerprint differs by {diff:.1f} of 255, at most {fp.TOLERANCE:g}): the "
            "plate changed since the edit; remove the key and redo it in 'doppel track edit' "
            "or 'doppel track fix'")
