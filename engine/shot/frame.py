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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.geometry.track import Track
from engine.io.image import Geometry
from engine.swap.pipeline import FaceSwapper, SwapResult, check_face_types
from engine.swap.settings import SwapLook
from engine.types import Box


@dataclass(frozen=True)
class FrameContext:
    """What a per-frame rule sees: the frame number, where its pixels sit, the shot's track
    (None without one) and the file it came from (for messages)."""

    number: int
    geometry: Geometry | None
    track: Track | None
    track_name: str


FrameRule = Callable[[FrameContext], None]
"""A check every front end runs on every frame before the swap: raise a DoppelError (one line,
naming the frame) to refuse the frame; return None to let it through."""

FRAME_RULES: list[FrameRule] = []


class FrameLayer:
    """One shot's per-frame work: a swapper, the look, and the track (or None: detection)."""

    def __init__(self, swapper: FaceSwapper, look: SwapLook, track: Track | None,
                 track_name: str = "track"):
        check_face_types(swapper.config, swapper.model.info, track)
        self.swapper, self.look, self.track, self.track_name = swapper, look, track, track_name

    def track_for(self, number: int, geometry: Geometry | None) -> Track | None:
        """The track as seen on this frame, after every rule in `FRAME_RULES` (raises the
        rule's error): landmarks mapped onto the frame's data window, its display window
        checked against the track's plate."""
        ctx = FrameContext(number, geometry, self.track, self.track_name)
        for rule in FRAME_RULES:
            rule(ctx)
        if self.track is None:
            return None
        return self.track.for_plate(geometry, number, self.track_name)

    def roi(self, number: int, geometry: Geometry | None = None,
            shape: tuple[int, ...] | None = None) -> Box | None:
        """The rectangle `swap` reads and writes on this frame (None: it passes through).
        Without `shape` it may reach outside the pixels (hosts clip to their regions)."""
        return self.swapper.roi(number, self.track_for(number, geometry), self.look, shape)

    def swap(self, number: int, pixels: np.ndarray, *, channels: tuple[str, ...] | None = None,
             geometry: Geometry | None = None, out: np.ndarray | None = None,
             holdout: np.ndarray | None = None, composite: bool = True) -> SwapResult:
        """Swap one frame: the rules, the track lookup, `process`. `out` may be `pixels`
        itself (in place); `composite=False` leaves the output view unmade (a writer of the
        face region only)."""
        track = self.track_for(number, geometry)
        return self.swapper.process(pixels, number, look=self.look, track=track,
                                    holdout=holdout, out=out, channels=channels,
                                    composite=composite)
