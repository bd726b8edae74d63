"""The frame layer: one plate frame through the swap, the same for `doppel render`, the node and
farm chunks (DESIGN.md §6).

Above `FaceSwapper.process` (pure pixels) sits what every front end needs per frame: the track
looked up and checked against this frame (`FRAME_RULES`, then `Track.for_plate`), the swap, and
a typed result (`SwapResult`: the rectangle the swap wrote, the mask and face over it, the output
view). Writers (`engine.shot.layers`) and the host adapter (`engine.host.node`) only move pixels.
A per-frame rule is written once, in `FRAME_RULES`, and reaches every front end.

Conventions: `pixels` is `H×W×C` float32 scene-linear (any strides); `geometry` says where it
sits in the display window (None: a full frame at the origin, as a host's display-window
coordinates are); rectangles are `(x0, y0, x1, y1)` in `pixels`' grid, exclusive ends.
`scale` is the render scale of `pixels` (a host's proxy; 1 = full resolution, what `doppel
render` always renders): `geometry` is then in the scaled plate's pixels, the track's landmarks
are scaled onto it (`Track.for_plate`) and the look's plate-pixel lengths with them
(`SwapLook.at_scale`), so the swap covers the same part of the face at any scale.

Untracked frames (docs/node.md): a frame the track was never analysed over is refused by name
(`refuse_unanalysed`, the first of `FRAME_RULES`), in the node, `doppel render` and farm chunks
alike; a frame that was analysed and showed no face passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.geometry.track import Track
from engine.geometry.track_keys import check_key_pixels
from engine.io.frames import format_frame_range
from engine.io.geometry import Geometry
from engine.swap.pipeline import FaceSwapper, SwapResult, check_face_types
from engine.swap.settings import SwapLook
from engine.types import Box


@dataclass(frozen=True)
class FrameContext:
    """What a per-frame rule sees: the frame number, where its pixels sit, the shot's track
    (None without one) and the file it came from (for messages); at the swap also the plate's
    `pixels` (None when a host only asks for a region of interest, or a render validates its
    frames before the first write), of which only array rows `rows` hold the plate when the
    read was partial (a face-region render)."""

    number: int
    geometry: Geometry | None
    track: Track | None
    track_name: str
    scale: float = 1.0  # the render scale of the frame's pixels (a host's proxy)
    pixels: np.ndarray | None = None  # the plate's pixels at the swap (None: a ROI question)
    rows: tuple[int, int] | None = None  # the only array rows holding the plate (partial read)


FrameRule = Callable[[FrameContext], None]
"""A check every front end runs on every frame before the swap: raise a DoppelError (one line,
naming the frame) to refuse the frame; return None to let it through."""


def refuse_unanalysed(ctx: FrameContext) -> None:
    """Refuse a frame the track was never analysed over (`Track.analysed`).

    Why refuse rather than pass the plate through: such a frame means the track and the plate
    disagree (a cut extended, handles added, another shot's track). Passed through, it would
    deliver the actor's own face looking finished; refused, the node shows the error on exactly
    those frames and a farm chunk writes every other frame and exits 1 naming them."""
    if ctx.track is None or ctx.number in ctx.track.analysed():
        return
    covers = format_frame_range(sorted(ctx.track.analysed())) or "no frames"
    raise InputError(f"{ctx.track_name}: frame {ctx.number} was never analysed (the track "
                     f"covers {covers}); analyse it too: press Analyze on the node or run "
                     "'doppel analyze' over these frames")


def landmarks_are_a_face_on_the_plate(ctx: FrameContext) -> None:
    """The track's entry for this frame was made on this frame, and its landmarks are
    face-shaped and on the plate (`Track.check_entry`): a hand-scaled, moved or garbled track
    is refused by name instead of swapping the wrong place."""
    if ctx.track is not None:
        ctx.track.check_entry(ctx.number, ctx.geometry, ctx.track_name, ctx.scale)


def plate_matches_the_track(ctx: FrameContext) -> None:
    """The plate frame is the one the track was analysed on (`Track.check_pixels`, the
    fingerprints): another shot's or a renumbered track is refused, frame by frame."""
    if ctx.track is not None and ctx.pixels is not None and ctx.number in ctx.track.faces:
        ctx.track.check_pixels(ctx.number, ctx.pixels, ctx.geometry, ctx.track_name, ctx.rows,
                               ctx.scale)


def edits_match_the_plate(ctx: FrameContext) -> None:
    """A hand edit (a key, engine.geometry.track_keys) on this frame was made on this plate
    frame: an edit made before the plate changed (a new grade, a re-conform) is refused by
    name, on the frame keyed, so the compositor redoes that edit rather than re-analysing.
    At any render scale: the key holds the whole frame's fingerprint, which a proxy's pixels
    give as well (`geometry` is in the proxy's pixels)."""
    if ctx.track is not None and ctx.pixels is not None and ctx.number in ctx.track.keys:
        check_key_pixels(ctx.track, ctx.number, ctx.pixels, ctx.geometry, ctx.track_name,
                         ctx.rows)


FRAME_RULES: list[FrameRule] = [refuse_unanalysed, landmarks_are_a_face_on_the_plate,
                                edits_match_the_plate, plate_matches_the_track]


def check_frame(number: int, geometry: Geometry | None, track: Track | None,
                track_name: str, scale: float = 1.0, pixels: np.ndarray | None = None,
                rows: tuple[int, int] | None = None) -> None:
    """Run every rule of `FRAME_RULES` on one frame (raises the first rule's error); `pixels`
    (at the swap) and `rows` as in `FrameContext`."""
    ctx = FrameContext(number, geometry, track, track_name, scale, pixels, rows)
    for rule in FRAME_RULES:
        rule(ctx)


class FrameLayer:
    """One shot's per-frame work: a swapper, the look, and the track (or None: detection)."""

    def __init__(self, swapper: FaceSwapper, look: SwapLook, track: Track | None,
                 track_name: str = "track"):
        check_face_types(swapper.config, swapper.model.info, track)
        self.swapper, self.look, self.track, self.track_name = swapper, look, track, track_name

    def track_for(self, number: int, geometry: Geometry | None,
                  scale: float = 1.0, pixels: np.ndarray | None = None,
                  rows: tuple[int, int] | None = None) -> Track | None:
        """The track as seen on this frame, after every rule in `FRAME_RULES` (raises the
        rule's error): landmarks mapped onto the frame's data window at its render scale, its
        display window checked against the track's plate."""
        check_frame(number, geometry, self.track, self.track_name, scale, pixels, rows)
        if self.track is None:
            return None
        return self.track.for_plate(geometry, number, self.track_name, scale)

    def roi(self, number: int, geometry: Geometry | None = None,
            shape: tuple[int, ...] | None = None, scale: float = 1.0) -> Box | None:
        """The rectangle `swap` reads and writes on this frame (None: it passes through).
        Without `shape` it may reach outside the pixels (hosts clip to their regions)."""
        return self.swapper.roi(number, self.track_for(number, geometry, scale),
                                self.look.at_scale(scale), shape)

    def swap(self, number: int, pixels: np.ndarray, *, channels: tuple[str, ...] | None = None,
             geometry: Geometry | None = None, out: np.ndarray | None = None,
             holdout: np.ndarray | None = None, scale: float = 1.0,
             rows: tuple[int, int] | None = None, composite: bool = True) -> SwapResult:
        """Swap one frame: the rules, the track lookup, `process`. `out` may be `pixels`
        itself (in place). `rows`: the only array rows that hold the plate (a partial read).
        `composite=False` leaves the output view unmade (a writer of the face region only)."""
        track = self.track_for(number, geometry, scale, pixels, rows)
        return self.swapper.process(pixels, number, look=self.look.at_scale(scale),
                                    track=track, holdout=holdout, out=out, channels=channels,
                                    composite=composite)
