"""Hand-fixing a shot's track on its plate: keys applied with the plate at hand, the health
report's contact sheet, and the checks that an edit belongs to this plate.

The one place `doppel track fix`, `doppel track edit` (the editor's server) and the node reach
the plate for an edit: keys resolved here are stored resolved in the track (landmarks and
fingerprints), so render, node and farm read them with no plate access of their own
(engine.geometry.track_keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError, MediaError
from engine.geometry.health import format_ranges, track_health
from engine.geometry.track import Track
from engine.geometry.track_keys import TrackKey, apply_keys
from engine.io import FrameSource, open_source
from engine.io.colorspace import to_display_uint8
from engine.io.finite import finite_rgb
from engine.io.ownership import image_mark
from engine.io.sheets import contact_sheet, draw_face, face_window

SHEET_KIND = "track health sheet"
SHEET_MARK = image_mark(SHEET_KIND)  # what makes an image Doppel's suspect-frames sheet


class PlateFrames:
    """A plate's frames for editing: finite scene-linear RGB and geometry, by frame number,
    with the last few kept (an editor scrubs back and forth)."""

    def __init__(self, source: FrameSource, keep: int = 8):
        self.source, self.keep = source, keep
        self._cache: dict[int, tuple[np.ndarray, Any]] = {}

    @classmethod
    def open(cls, plate: str | Path) -> PlateFrames:
        return cls(open_source(plate))

    def __call__(self, frame: int) -> tuple[np.ndarray, Any]:
        hit = self._cache.get(frame)
        if hit is not None:
            return hit
        if frame not in set(self.source.frames):
            raise InputError(f"{self.source.description}: frame {frame} is not in the plate "
                             f"(it holds {self.source.frames[0]}-{self.source.frames[-1]}); "
                             "give the plate the track was analysed on")
        item = next(iter(self.source.read([frame])))
        if isinstance(item, MediaError):
            raise item
        rgb = finite_rgb(item.rgb)[0]
        if len(self._cache) >= self.keep:
            self._cache.pop(next(iter(self._cache)))
        self._cache[frame] = (rgb, item.geometry)
        return self._cache[frame]

    def srgb(self, frame: int) -> np.ndarray:
        """The frame as a person sees it: display-encoded sRGB uint8 (the engine's one display
        transform, `engine.io.colorspace.to_display_uint8`)."""
        return to_display_uint8(self(frame)[0])


def check_plate(track: Track, plate: PlateFrames, where: str) -> None:
    """Refuse a plate that is not the track's, before an edit: its frame size, and the
    fingerprint of the first tracked frame (InputError naming both)."""
    frame = next((f for f in track.frames if f in set(plate.source.frames)), None)
    if frame is None:
        raise InputError(f"{where}: the plate {plate.source.description} holds none of the "
                         "track's frames; give the plate the track was analysed on")
    rgb, geo = plate(frame)
    track.for_plate(geo, frame, where)
    track.check_pixels(frame, rgb, geo, where)


def fix_frames(track: Track, plate: PlateFrames, frames: Sequence[int], kind: str,
               box: tuple[float, float, float, float] | None = None, span: int = 0,
               landmarker: Any | None = None) -> Track:
    """`track` with a `kind` key ("box" or "noface") on each of `frames` (replacing keys
    there), resolved on `plate`; `box` as `(x0, y0, x1, y1)` display-window pixels."""
    keys = dict(track.keys)
    for f in frames:
        keys[f] = TrackKey(f, kind, span, box if kind == "box" else None)
    return apply_keys(track, keys.values(), plate, landmarker)


def remove_keys(track: Track, frames: Iterable[int], plate: PlateFrames) -> Track:
    """`track` without its keys on `frames` (undo: their raw result back)."""
    drop = set(frames)
    return apply_keys(track, [k for f, k in track.keys.items() if f not in drop], plate)


def health_sheet(track: Track, plate: PlateFrames, health: dict[int, list[str]],
                 limit: int = 48) -> np.ndarray:
    """A contact sheet (sRGB uint8) of the first `limit` suspect frames: each tile around the
    face (or the nearest tracked frame's face place; the whole frame without one), landmarks
    drawn, captioned with the frame and its reasons."""
    tiles, labels = [], []
    for f in sorted(health)[:limit]:
        image = plate.srgb(f)
        _rgb, geo = plate(f)
        view = track.for_plate(geo, f, "track")
        near = min(track.faces, key=lambda g: abs(g - f)) if track.faces else None
        if f in track.faces:
            lm = view.landmarks(f)
            image = draw_face(image, lm)
        elif near is not None:
            lm = view.landmarks(near)
        else:
            lm = None
        if lm is not None:
            x0, y0, x1, y1 = face_window(lm, image.shape)
            image = image[y0:y1, x0:x1]
        tiles.append(np.ascontiguousarray(image))
        labels.append(f"{f} {', '.join(health[f])}"[:30])
    if not tiles:
        raise InputError("no suspect frames: nothing to put on a sheet")
    return contact_sheet(tiles, labels, columns=6, tile=200)


def health_report(track: Track) -> tuple[dict[int, list[str]], str]:
    """The suspect frames (`engine.geometry.health.track_health`) and their one-line words."""
    health = track_health(track)
    return health, format_ranges(health)
