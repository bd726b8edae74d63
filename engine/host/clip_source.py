"""A host's clip as a `FrameSource` (the node's Analyze pulls the Source's frames through it).

Apart from `engine.host.node` so the node's render path never imports the file readers
(OpenImageIO, the sequence and video sources): only Analyze does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from engine.errors import DoppelError, MediaError
from engine.io.geometry import Geometry
from engine.io.source import Frame, FrameSource


class HostClipSource(FrameSource):
    """A host's clip as a `FrameSource`, for `analyze_shot`: `fetch(frame)` returns
    `(pixels H×W×C float32 top-down, (x, y) origin in the display window)` or raises.
    `fetch` calls into the host, so frames are read on the calling thread only."""

    reads_on_any_thread = False

    def __init__(self, frames: Iterable[int], fetch: Callable[[int], tuple[np.ndarray, Any]],
                 display: tuple[int, int, int, int], pixel_aspect: float, description: str):
        self.frames = list(frames)
        self._fetch = fetch
        self._display = tuple(int(v) for v in display)
        self._aspect = float(pixel_aspect)
        self._origins: dict[int, tuple[int, int, int, int]] = {}
        self.description = description

    def geometry(self, frame: int) -> Geometry | None:
        data = self._origins.get(frame)
        if data is None:
            return None
        return Geometry(data, self._display, self._aspect)  # type: ignore[arg-type]

    def read(self, frames: Iterable[int] | None = None) -> Iterator[Frame | MediaError]:
        for f in self._check_requested(frames):
            try:
                pixels, origin = self._fetch(f)
            except DoppelError as exc:
                yield MediaError(f"{self.description}: frame {f}: {exc}")
                continue
            pixels = np.asarray(pixels, np.float32)
            if pixels.ndim != 3 or pixels.shape[2] < 3:
                yield MediaError(f"{self.description}: frame {f} has shape {pixels.shape}; "
                                 "need RGB or RGBA")
                continue
            h, w = pixels.shape[:2]
            self._origins[f] = (int(origin[0]), int(origin[1]), w, h)
            rgb = np.ascontiguousarray(pixels[..., :3])
            alpha = np.ascontiguousarray(pixels[..., 3]) if pixels.shape[2] > 3 else None
            nonfinite = int(rgb.size - np.count_nonzero(np.isfinite(rgb)))
            yield Frame(f, rgb, alpha, f"{self.description} frame {f}", nonfinite,
                        self.geometry(f))
