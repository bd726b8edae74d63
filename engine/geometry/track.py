"""Following one identity through a shot, and the track cache that renders read.

Selection (`select_track`), per frame in order:
1. with a reference descriptor: the face most similar to it (dlib 128-d, distance < `max_dist`);
2. else, once the track has started: the face nearest the previous pick (centre distance under
   one face size), so a second person walking past does not steal the track;
3. else (first frame, or the track was lost): the `face_index`-th face by size, largest first.

Convention: faces per frame as `{frame: [Face, …]}`; the resulting `Track` holds raw and smoothed
landmarks per frame, serialisable to JSON (`schema` versioned; readers reject unknown schemas).
A saved track records the plate geometry it was made on (`settings["plate"]`: display window,
pixel aspect) and holds landmarks in display-window pixels, so a render maps them onto a plate
whose data window moved (overscan, offset crops) and refuses a plate of another frame size.

A track proves it belongs to its plate: each analysed frame's entry holds a `fingerprint`
(`engine.geometry.fingerprint`: the frame number it was made on, a thumbnail of the frame and one
of the face's landmark box). `check_entry` (no pixels) refuses an entry moved to another frame
and landmarks that are not face-shaped, lie outside the plate or wander from the detection;
`check_pixels` refuses a plate frame that does not match (another shot, renumbered frames,
landmarks moved or scaled by hand). Both run as frame rules (engine/shot/frame.py) in render,
node and farm alike. A track made before fingerprints (no `settings["fingerprint"]`) still
renders, with a note (`verified` is False): only the pixel check needs them.

Hand corrections (docs/track-editing.md) live in the track as keys (`TrackKey`; resolved on the
plate by engine.geometry.track_keys): the file keeps the analysis as made in `frames` and the
entries the keys changed in `edits`, and a loaded track's entries are the edited ones, so every
reader (render, node, farm) gets the corrections through the same `Track` API.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.geometry import fingerprint as fp
from engine.geometry.pose import estimate_pose
from engine.geometry.smooth import smooth_landmarks
from engine.io import Geometry, atomic_write_text, parse_frame_range
from engine.io.ownership import json_mark
from engine.types import Detection, Face

TRACK_SCHEMA = 2  # 2: hand-edit keys and their resolved entries (`keys`, `edits`)
OLD_SCHEMAS = (1,)  # read and migrated on load (no keys)
TRACK_MARK = json_mark("track", "settings", "frames")  # what makes a file Doppel's track
# ... and its per-frame analysis cache (engine.shot.analyze.AnalysisCache; extract's too)
ANALYSIS_MARK = json_mark("analysis cache", "key", "source", "frames")
# Landmarks are a face when the best similarity onto the mean face leaves at most this RMS
# distance (mean-face units: the inner points span 1). Tracked faces measure 0.03-0.05 on the
# sample plates, two swapped points 0.05-0.23, shuffled points 2.7 and more.
FACE_SHAPE_LIMIT = 0.35
MIN_FACE_PX = 4.0  # landmarks spanning less than this are no face
SMOOTH_DRIFT = 0.25  # smoothed landmarks stay within this fraction of the face's size of raw


def _win(w: Any) -> str:
    x, y, width, height = w
    return f"{width}×{height} at ({x}, {y})"


window_text = _win  # a window in words, for messages elsewhere


def scale_window(window: Sequence[int], scale: float) -> tuple[int, int, int, int]:
    """A window `(x, y, width, height)` in full-resolution pixels at render `scale`: each
    value times `scale`, rounded half away from zero (C's `lround`, as the OFX plugin rounds
    the host's format), so the plugin and the engine agree on the proxy frame's size."""
    if scale == 1.0:
        return tuple(int(v) for v in window)  # type: ignore[return-value]
    return tuple(int(math.copysign(math.floor(abs(v) * scale + 0.5), v))  # type: ignore
                 for v in window)


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
    # A view, never saved: subtracted from every landmark, to map display-window coordinates
    # onto a plate whose data window starts elsewhere (`for_plate`).
    origin: tuple[float, float] = (0.0, 0.0)
    # A view, never saved: the render scale of the plate the landmarks are seen on (a host's
    # proxy; `for_plate`). Landmarks are stored at full resolution.
    scale: float = 1.0
    # frame -> {"frame": int, "plate": hex, "face": hex} (module doc); empty for old tracks
    fingerprints: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Hand corrections (engine.geometry.track_keys): frame -> key, and the analysis as made
    # (`base`, None without edits): this track's entries are `base`'s with the keys applied, so
    # removing every key restores the raw result.
    keys: dict[int, TrackKey] = field(default_factory=dict)
    base: Track | None = None
    _analysed: tuple[str, frozenset[int]] | None = field(default=None, init=False, repr=False,
                                                         compare=False)

    @property
    def frames(self) -> list[int]:
        return sorted(self.faces)

    def landmarks(self, frame: int) -> np.ndarray:
        """Smoothed landmarks if the track was smoothed, else raw; in the pixels of the plate
        this view is for (`for_plate`: data-window origin, render scale).

        Convention: pixel centres at integer coordinates (OpenCV's). At render scale `s` a
        full-resolution coordinate `u` is `(u + 0.5) * s - 0.5` (pixel edges scale, centres
        follow): the centre of a 2×2 block is the centre of its half-resolution pixel.
        """
        lm = self.smoothed.get(frame, self.faces[frame].landmarks)
        if self.scale != 1.0:
            s = np.float32(self.scale)
            lm = (lm + np.float32(0.5)) * s - np.float32(0.5)
        if self.origin != (0.0, 0.0):
            return lm - np.asarray(self.origin, np.float32)
        return lm

    def analysed(self) -> frozenset[int]:
        """The frames this track was analysed over: `settings["frames"]` (every track
        `analyze_shot` makes records it), else, for an older track, its first to last tracked
        frame. A frame outside it was never looked at (the track says nothing about it); a
        frame inside it and absent from `faces` was looked at and showed no face."""
        text = self.settings.get("frames")
        key = text if isinstance(text, str) and text else ""
        if self._analysed is None or self._analysed[0] != key or not key:
            if key:
                frames = frozenset(parse_frame_range(key))
            else:
                frames = (frozenset(range(min(self.faces), max(self.faces) + 1))
                          if self.faces else frozenset())
            self._analysed = (key, frames)
        return self._analysed[1]

    def shifted(self, offsets: Mapping[int, tuple[int, int]]) -> Track:
        """A copy with every frame's landmarks and box moved by its `(dx, dy)` (frames absent
        from `offsets` stay): array pixels of an offset data window → display-window pixels."""
        faces, smoothed = dict(self.faces), dict(self.smoothed)
        for f, (dx, dy) in offsets.items():
            if (dx, dy) == (0, 0) or f not in faces:
                continue
            d = np.asarray((dx, dy), np.float32)
            face = faces[f]
            x0, y0, x1, y1 = face.bbox
            det = Detection((x0 + dx, y0 + dy, x1 + dx, y1 + dy), face.score,
                            face.detection.detector)
            faces[f] = Face(det, face.landmarks + d, face.landmarker, face.pose, face.descriptor)
            if f in smoothed:
                smoothed[f] = smoothed[f] + d
        return Track(faces, smoothed, dict(self.settings), fingerprints=dict(self.fingerprints))

    def plate_display(self, scale: float = 1.0) -> tuple[int, int, int, int] | None:
        """The display window of the plate this track was made on (None if not recorded), at
        render `scale` (`scale_window`)."""
        plate = self.settings.get("plate")
        want = tuple(plate.get("display_window", ())) if isinstance(plate, dict) else ()
        if len(want) != 4:
            return None
        return scale_window(want, scale)  # type: ignore[arg-type]

    def for_plate(self, geometry: Geometry | None, frame: int, where: str,
                  scale: float = 1.0) -> Track:
        """This track as seen on a plate frame of `geometry`: refuses another frame size (the
        display window) and maps landmarks onto a data window that moved (a view, O(1)).

        `scale`: the render scale the frame is at (a host's proxy; 1 = full resolution):
        `geometry` is then in the scaled plate's pixels, its display window the track's plate
        scaled by `scale_window`."""
        if not (math.isfinite(scale) and scale > 0):
            raise InputError(f"{where}: frame {frame}: render scale {scale!r} is not a positive "
                             "number")
        plate = self.settings.get("plate")
        geo = geometry or None
        if isinstance(plate, dict) and geo is not None:
            want = self.plate_display(scale) or ()
            if want and want != geo.display:
                at = f" at render scale {scale:g}" if scale != 1.0 else ""
                raise InputError(
                    f"{where}: frame {frame} has display window {_win(geo.display)}{at} but "
                    f"the track was made on {_win(want)}; run 'doppel analyze' on this plate")
            aspect = float(plate.get("pixel_aspect", 1.0))
            if abs(aspect - geo.pixel_aspect) > 1e-6:
                raise InputError(
                    f"{where}: frame {frame} has pixel aspect {geo.pixel_aspect:g} but the "
                    f"track was made on {aspect:g}; run 'doppel analyze' on this plate")
        elif geo is not None and not isinstance(plate, dict) and not geo.is_simple:
            raise InputError(f"{where}: frame {frame} has a data window {_win(geo.data)} other "
                             f"than its display window {_win(geo.display)}, and the track records "
                             "no plate geometry; re-run 'doppel analyze' with this version")
        offset = geo.offset if geo is not None else (0, 0)
        if offset == (0, 0) and self.origin == (0.0, 0.0) and scale == self.scale:
            return self
        return replace(self, origin=(float(offset[0]), float(offset[1])), scale=float(scale))

    @property
    def verified(self) -> bool:
        """True when the track holds plate fingerprints (made by a Doppel that records them)."""
        return self.settings.get("fingerprint") == fp.METHOD

    def check_entry(self, frame: int, geometry: Geometry | None, where: str,
                    scale: float = 1.0) -> None:
        """Refuse `frame`'s entry when it cannot be this plate's face (InputError naming the
        frame): its fingerprint was made on another frame (entries moved by hand), or its
        landmarks (raw or smoothed) are not face-shaped, lie outside the plate, or the smoothed
        ones wander from the raw ones. Reads no pixels. Landmarks are full-resolution: the
        plate is the one the track records, else `geometry`'s display window at `scale`."""
        if frame not in self.faces:
            return
        here = f"{where}: frame {frame}"
        made_on = self.fingerprints.get(frame, {}).get("frame", frame)
        if made_on != frame:
            raise InputError(f"{here}: the entry was analysed on frame {made_on} (entries moved "
                             "or renumbered by hand?); re-run 'doppel analyze'")
        raw = self.faces[frame].landmarks
        smooth = self.smoothed.get(frame)
        try:
            display: tuple[float, ...] = self.plate_display() or ()
        except (TypeError, ValueError):  # an odd record: no plate to hold the landmarks against
            display = ()
        if not display and geometry is not None and scale > 0:
            x, y, w, h = geometry.display
            display = (x, y, w / scale, h / scale)
        for name, lm in (("landmarks", raw), ("smoothed landmarks", smooth)):
            if lm is None:
                continue
            error, size = face_shape(lm)
            if size < MIN_FACE_PX or error > FACE_SHAPE_LIMIT:
                raise InputError(f"{here}: {name} are not face-shaped (distance {error:.2f} from "
                                 f"the mean face, at most {FACE_SHAPE_LIMIT:g}; face size "
                                 f"{size:.1f} px); re-run 'doppel analyze'")
            if len(display) == 4:
                w, h = display[2], display[3]
                lo, hi = lm.min(axis=0), lm.max(axis=0)
                margin = float(max(hi - lo))  # a face may leave the frame, by its size at most
                if lo[0] < -margin or lo[1] < -margin or hi[0] > w + margin \
                        or hi[1] > h + margin:
                    raise InputError(
                        f"{here}: {name} lie outside the plate ({w}×{h}): box "
                        f"({lo[0]:.0f}, {lo[1]:.0f})-({hi[0]:.0f}, {hi[1]:.0f}) (scaled or moved "
                        "by hand?); re-run 'doppel analyze'")
        if smooth is not None:
            size = float(max(raw.max(axis=0) - raw.min(axis=0)))
            drift = float(np.linalg.norm(smooth - raw, axis=1).mean())
            if drift > SMOOTH_DRIFT * size:
                raise InputError(f"{here}: smoothed landmarks lie {drift:.0f} px from the "
                                 f"detected ones (face size {size:.0f} px; edited by hand?); "
                                 "re-run 'doppel analyze'")

    def check_pixels(self, frame: int, pixels: np.ndarray, geometry: Geometry | None,
                     where: str, rows: tuple[int, int] | None = None,
                     scale: float = 1.0) -> None:
        """Refuse a plate frame that does not match `frame`'s fingerprint (InputError naming
        the frame and the difference): the whole frame's thumbnail, then the face box's, each
        over the cells the pixels cover (`rows`: the only array rows that hold the plate, for
        a partial read; `scale`: the pixels' render scale, `geometry` in its pixels). No-op for
        a frame without a fingerprint (an old track)."""
        prints = self.fingerprints.get(frame)
        if prints is None:
            return
        pixels, origin, plate_box = fp.plate_window(pixels, geometry, rows)
        face = fp.landmark_box(self.faces[frame].landmarks)  # full-resolution pixel edges
        boxes = (("plate", plate_box), ("face", tuple(v * scale for v in face)))
        for name, box in boxes:
            want = fp.decode(prints[name], f"{where}: frame {frame}")
            diff = fp.mismatch(pixels, box, origin, want)  # type: ignore[arg-type]
            if diff is not None and diff > fp.TOLERANCE:  # None: too little at hand to judge
                what = "the plate" if name == "plate" else "the plate under the face's landmarks"
                raise InputError(
                    f"{where}: frame {frame}: {what} does not match the track (fingerprint "
                    f"differs by {diff:.1f} of 255, at most {fp.TOLERANCE:g}): another shot, "
                    "renumbered or changed plate frames, or landmarks moved by hand; run "
                    "'doppel analyze' on this plate")

    def entry_json(self, f: int) -> dict[str, Any] | None:
        """Frame `f`'s entry as saved (None: no face on it)."""
        face = self.faces.get(f)
        if face is None:
            return None
        out = {**face.to_json(), "smoothed": np.round(self.smoothed[f], 3).tolist()
               if f in self.smoothed else None}
        if f in self.fingerprints:
            out["fingerprint"] = self.fingerprints[f]
        return out

    def to_json(self) -> dict[str, Any]:
        """The track file's content. An edited track saves the analysis as made (`frames`),
        its keys, and the entries the keys changed (`edits`: frame -> entry, null for "no
        face"); a track without keys has neither, so its file is what analyze wrote."""
        raw = self.base if self.base is not None else self
        out: dict[str, Any] = {
            "schema": TRACK_SCHEMA,
            "settings": raw.settings,
            "frames": {str(f): raw.entry_json(f) for f in sorted(raw.faces)},
        }
        if self.base is not None and self.keys:
            edits = {}
            for f in sorted(set(raw.faces) | set(self.faces)):
                mine = self.entry_json(f)
                if mine != raw.entry_json(f):
                    edits[str(f)] = mine
            out["keys"] = [self.keys[f].to_json() for f in sorted(self.keys)]
            out["edits"] = edits
        return out

    @property
    def edited(self) -> bool:
        """True when hand-edit keys change this track (`keys`)."""
        return bool(self.keys)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_json()))

    @classmethod
    def from_json(cls, data: Any, where: str = "track") -> Track:
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a track (a JSON {type(data).__name__}, expected an "
                             "object); give the file 'doppel analyze' wrote")
        if data.get("schema") not in (TRACK_SCHEMA, *OLD_SCHEMAS):
            raise InputError(
                f"{where}: track schema {data.get('schema')!r} not supported (expected "
                f"{TRACK_SCHEMA}); re-run 'doppel analyze' with this version"
            )
        faces: dict[int, Face] = {}
        smoothed: dict[int, np.ndarray] = {}
        prints: dict[int, dict[str, Any]] = {}
        frames = data.get("frames")
        if not isinstance(frames, dict):
            raise InputError(f"{where}: track has no 'frames' object; re-run 'doppel analyze'")
        settings = data.get("settings", {})
        if not isinstance(settings, dict):
            raise InputError(f"{where}: track 'settings' is not an object; re-run 'doppel "
                             "analyze'")
        for key, e in frames.items():
            here = f"{where}, frame {key}"
            try:
                f = int(key)
            except ValueError:
                raise InputError(f"{here}: frame key is not a frame number") from None
            read_entry(e, f, here, faces, smoothed, prints)
        track = cls(faces, smoothed, dict(settings), fingerprints=prints)
        if data.get("keys") or data.get("edits"):
            return edited_from_json(track, data, where)
        return track

    @classmethod
    def load(cls, path: str | Path) -> Track:
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: is a folder; give the track file (.json) "
                             "'doppel analyze' wrote")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: track file not found; run 'doppel analyze' first") from None
        return cls.loads(raw, str(path))

    @classmethod
    def loads(cls, raw: bytes, where: str) -> Track:
        """A track from the bytes of its file (`where` names it in errors)."""
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: not valid JSON ({exc}); re-run 'doppel analyze'") from None
        return cls.from_json(data, where)


KEY_KINDS = ("box", "points", "noface")
MAX_SPAN = 100  # frames a key may reach on each side
USER = "user"  # detector / landmarker name of hand-made entries


@dataclass(frozen=True)
class TrackKey:
    """One frame's hand correction (module doc). `points`: the frame's landmarks (a `points`
    key's as given, a `box` key's as the landmarker found them in the box; None for
    `noface`). `plate`: the fingerprint (hex) of the plate frame it was made on."""

    frame: int
    kind: str
    span: int = 0
    box: tuple[float, float, float, float] | None = None
    points: np.ndarray | None = None
    plate: str = ""

    def __post_init__(self) -> None:
        where = f"key on frame {self.frame}"
        if self.kind not in KEY_KINDS:
            raise InputError(f"{where}: kind {self.kind!r} unknown; use one of "
                             f"{', '.join(KEY_KINDS)}")
        if not 0 <= self.span <= MAX_SPAN:
            raise InputError(f"{where}: span {self.span} must be within 0..{MAX_SPAN} frames")
        if self.kind == "box":
            if self.box is None or len(self.box) != 4 or not np.isfinite(self.box).all():
                raise InputError(f"{where}: a box key needs a finite box (x0, y0, x1, y1)")
            x0, y0, x1, y1 = self.box
            if x1 - x0 < 8 or y1 - y0 < 8:
                raise InputError(f"{where}: box {x1 - x0:.0f}×{y1 - y0:.0f} px is too small "
                                 "for a face (at least 8×8); draw it around the whole face")
        if self.points is not None:
            pts = np.asarray(self.points)
            if pts.shape != (68, 2) or not np.isfinite(pts).all():
                raise InputError(f"{where}: points must be 68 finite (x, y) pairs, got shape "
                                 f"{pts.shape}")
        if self.kind == "points" and self.points is None:
            raise InputError(f"{where}: a points key needs its 68 points")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.frame, "kind": self.kind, "span": self.span}
        if self.box is not None:
            out["box"] = [round(float(v), 3) for v in self.box]
        if self.points is not None:
            out["points"] = np.round(np.asarray(self.points, np.float32), 3).tolist()
        if self.plate:
            out["plate"] = self.plate
        return out

    @classmethod
    def from_json(cls, e: Any, where: str) -> TrackKey:
        if not isinstance(e, dict) or not isinstance(e.get("frame"), int):
            raise InputError(f"{where}: a key must be an object with its frame number; fix or "
                             "remove it in 'doppel track edit'")
        try:
            box = e.get("box")
            pts = e.get("points")
            return cls(int(e["frame"]), str(e.get("kind")), int(e.get("span", 0)),
                       None if box is None else tuple(float(v) for v in box),  # type: ignore
                       None if pts is None else np.asarray(pts, np.float32),
                       str(e.get("plate", "")))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: key on frame {e['frame']} is malformed ({exc})") from None


def _blend_weight(distance: int, span: int) -> float:
    return max(0.0, 1.0 - abs(distance) / (span + 1)) if span > 0 else 0.0


def faces_with_keys(base: Track, keys: Mapping[int, TrackKey]
                    ) -> tuple[dict[int, Face], set[int]]:
    """The faces of `base` (the analysis as made) with `keys` applied, and the frames whose
    face changed: key frames set, corrections blended into detected neighbours, faceless
    frames within a span filled (engine.geometry.track_keys' module doc, steps 1-2; no pixels:
    box keys must hold their landmarks already). Here, not in track_keys, because loading a
    track checks its saved edits against it (`edited_from_json`)."""
    analysed = base.analysed()
    for f, k in keys.items():
        if f not in analysed:
            raise InputError(f"key on frame {f}: the track was never analysed there (it covers "
                             f"{min(analysed, default='-')}-{max(analysed, default='-')}); "
                             "analyse that frame first")
        if k.kind != "noface" and k.points is None:
            raise InputError(f"key on frame {f}: its landmarks were not found yet (a box key is "
                             "resolved on the plate: use 'doppel track fix' or the editor)")
    faces = dict(base.faces)
    changed: set[int] = set()
    # 2. corrections blended into detected neighbours
    offsets: dict[int, list[tuple[float, np.ndarray]]] = {}
    for f, k in keys.items():
        if k.kind == "noface" or f not in base.faces or k.span == 0:
            continue
        delta = np.asarray(k.points, np.float32) - base.faces[f].landmarks
        for g in range(f - k.span, f + k.span + 1):
            if g != f and g not in keys and g in base.faces:
                offsets.setdefault(g, []).append((_blend_weight(g - f, k.span), delta))
    for g, items in offsets.items():
        total = sum(w for w, _ in items)
        shift = sum(w * d for w, d in items) / max(total, 1.0)
        faces[g] = base.faces[g].with_landmarks(base.faces[g].landmarks + shift)
        changed.add(g)
    # 1. key frames
    size = base.plate_display()
    wh = (size[2], size[3]) if size else (1920, 1080)
    for f, k in keys.items():
        changed.add(f)
        if k.kind == "noface":
            faces.pop(f, None)
            continue
        pts = np.asarray(k.points, np.float32)
        if k.box is not None:
            box = tuple(float(v) for v in k.box)
        else:
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        faces[f] = Face(Detection(box, 1.0, USER), pts, USER,  # type: ignore[arg-type]
                        estimate_pose(pts, wh))
    # 2b. frames without a detection within a key's span: filled (module doc)
    analysed_frames = base.analysed()
    fills: dict[int, list[np.ndarray]] = {}
    for f, k in keys.items():
        if k.kind == "noface" or k.span == 0:
            continue
        key_points = np.asarray(k.points, np.float32)
        for step in (-1, 1):
            gap, g = [], f + step  # the whole run of frames without a face
            while g in analysed_frames and g not in keys and g not in base.faces:
                gap.append(g)
                g += step
            beyond = faces.get(g)  # a detection or a key past the run (None: a no-face key)
            for i, h in enumerate(gap[:k.span], 1):
                t = i / (len(gap) + 1)
                fills.setdefault(h, []).append(
                    key_points if beyond is None else (1 - t) * key_points + t * beyond.landmarks)
    for h, options in fills.items():
        pts = np.mean(options, axis=0).astype(np.float32)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        faces[h] = Face(Detection((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
                                  1.0, USER), pts, USER, estimate_pose(pts, wh))  # type: ignore
        changed.add(h)
    return faces, changed


def edited_from_json(base: Track, data: Mapping[str, Any], where: str) -> Track:
    """The edited track a file holds: `base` (its `frames`) with its saved `edits` entries in
    place, and its `keys`. Reads no pixels (the edits were resolved when they were saved)."""
    keys_json = data.get("keys") or []
    edits = data.get("edits") or {}
    if not isinstance(keys_json, list) or not isinstance(edits, dict):
        raise InputError(f"{where}: 'keys' must be a list and 'edits' an object; save the track "
                         "again from 'doppel track edit'")
    keys: dict[int, TrackKey] = {}
    for i, e in enumerate(keys_json):
        k = TrackKey.from_json(e, f"{where}, key {i}")
        keys[k.frame] = k
    faces, smoothed = dict(base.faces), dict(base.smoothed)
    prints = dict(base.fingerprints)
    for name, e in edits.items():
        try:
            f = int(name)
        except ValueError:
            raise InputError(f"{where}, edit {name}: not a frame number") from None
        for d in (faces, smoothed, prints):
            d.pop(f, None)  # type: ignore[attr-defined]
        if e is not None:
            read_entry(e, f, f"{where}, edit {name}", faces, smoothed, prints)
    if not keys:
        return base
    _check_edits_follow_keys(base, keys, faces, where)
    return Track(faces, smoothed, dict(base.settings), fingerprints=prints, keys=keys,
                 base=base)


def _check_edits_follow_keys(base: Track, keys: Mapping[int, TrackKey],
                             faces: Mapping[int, Face], where: str) -> None:
    """The saved edits are what the keys make of the analysis (`track_keys.resolve`, no
    pixels): a file cut short or edited by hand — an edit gone, a face moved — would otherwise
    render keyed or filled frames at the analysis' place, or as no face, with exit 0."""
    expected = faces_with_keys(base, keys)[0]
    for f in sorted(set(expected) | set(faces)):
        want, got = expected.get(f), faces.get(f)
        if (want is None) != (got is None) or (
                want is not None and got is not None
                and not np.allclose(want.landmarks, got.landmarks, atol=0.01)):
            raise InputError(
                f"{where}: frame {f}: its saved edit is not what the track's keys make of the "
                "analysis (the file was cut short or edited by hand); remove its 'keys' and "
                "'edits' (the analysis in 'frames' stays) and key the frames again, or run "
                "'doppel analyze' again")


def read_entry(e: Any, f: int, here: str, faces: dict[int, Face],
               smoothed: dict[int, np.ndarray], prints: dict[int, dict[str, Any]]) -> None:
    """Parse one frame's saved entry into the three per-frame dicts (InputError naming it)."""
    if not isinstance(e, dict):
        raise InputError(f"{here}: not an object; re-run 'doppel analyze'")
    faces[f] = Face.from_json(e, here)
    if not np.isfinite(faces[f].landmarks).all():
        raise InputError(f"{here}: landmarks must be finite; re-run 'doppel analyze'")
    if e.get("fingerprint") is not None:
        prints[f] = _fingerprint(e["fingerprint"], here)
    if e.get("smoothed") is not None:
        try:
            sm = np.asarray(e["smoothed"], np.float32)
        except (TypeError, ValueError):
            sm = np.zeros(0, np.float32)
        if sm.shape != (68, 2) or not np.isfinite(sm).all():
            raise InputError(f"{here}: smoothed landmarks must be finite 68×2; re-run "
                             "'doppel analyze'")
        smoothed[f] = sm


def _fingerprint(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("frame"), int):
        raise InputError(f"{where}: fingerprint must be an object with the frame number; "
                         "re-run 'doppel analyze'")
    try:
        for key in ("plate", "face"):
            fp.decode(value.get(key), f"{where}: fingerprint.{key}")
    except ValueError as exc:
        raise InputError(f"{exc}; re-run 'doppel analyze'") from None
    return {"frame": value["frame"], "plate": value["plate"], "face": value["face"]}


def face_shape(landmarks: np.ndarray) -> tuple[float, float]:
    """How far `landmarks` (68×2 pixels) are from a face: `(error, size)`, the RMS distance to
    the mean face after the best similarity (mean-face units, see FACE_SHAPE_LIMIT) and the
    similarity's scale in pixels (the face's size)."""
    from engine.geometry.align import mean_face, transform_points, umeyama

    mean = mean_face()
    lm = np.asarray(landmarks, np.float64)
    m = umeyama(mean, lm)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 1e-6:
        return float("inf"), scale
    rms = float(np.sqrt(((transform_points(mean, m) - lm) ** 2).sum(axis=1).mean()))
    return rms / scale, scale


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
    return Track(dict(track.faces), {f: smoothed[i] for i, f in enumerate(frames)}, settings,
                 fingerprints=dict(track.fingerprints))


def attach_plate(track: Track, source: Any, where: str) -> Track:
    """Record the plate geometry on `track` and move its landmarks from array pixels into
    display-window pixels, frame by frame (each frame's header gives its data window).

    `source` is the `FrameSource` the track was analysed on. Refuses a sequence whose frames
    have different display windows (two plates mixed in one folder).
    """
    from engine.errors import MediaError

    offsets: dict[int, tuple[int, int]] = {}
    first: Geometry | None = None
    for f in track.frames:
        try:
            geo = source.geometry(f)
        except MediaError:
            continue
        if geo is None:
            continue
        if first is None:
            first = geo
        elif geo.display != first.display:
            raise InputError(f"{where}: frame {f} has display window {_win(geo.display)}, other "
                             f"frames {_win(first.display)}; one plate per sequence")
        offsets[f] = geo.offset
    out = track.shifted(offsets)
    if first is not None:
        out.settings["plate"] = {"display_window": list(first.display),
                                 "pixel_aspect": first.pixel_aspect}
    return out
