"""Where a frame's pixels sit: the `Geometry` of data and display windows (no image library:
the node's per-frame path imports this without OpenImageIO; `engine.io.image` reads and writes
it to file headers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Geometry:
    """Where the pixels sit: the data window (the array) inside the display window (the frame).

    Windows are `(x, y, width, height)` in the file's pixel grid, as OpenEXR/OpenImageIO
    store them (x, y of the top-left pixel; y down). An overscan plate has a data window larger
    than the display window; a cropped or offset one a data window elsewhere in it. Pixel
    `(col, row)` of the array is at frame pixel `(x + col, y + row)`.
    """

    data: tuple[int, int, int, int]
    display: tuple[int, int, int, int]
    pixel_aspect: float = 1.0

    @classmethod
    def full(cls, width: int, height: int) -> Geometry:
        return cls((0, 0, width, height), (0, 0, width, height))

    @property
    def offset(self) -> tuple[int, int]:
        """Data-window origin relative to the display window's (what to add to array pixel
        coordinates to get display-window coordinates)."""
        return (self.data[0] - self.display[0], self.data[1] - self.display[1])

    @property
    def is_simple(self) -> bool:
        return self.data == self.display and self.display[:2] == (0, 0)

    def to_json(self) -> dict[str, object]:
        return {"data_window": list(self.data), "display_window": list(self.display),
                "pixel_aspect": self.pixel_aspect}

    @classmethod
    def from_spec(cls, spec: Any) -> Geometry:
        """From an `OpenImageIO.ImageSpec` (a file's header)."""
        aspect = spec.getattribute("PixelAspectRatio")
        return cls((spec.x, spec.y, spec.width, spec.height),
                   (spec.full_x, spec.full_y, spec.full_width, spec.full_height),
                   float(aspect) if aspect else 1.0)

    def apply(self, spec: Any) -> None:
        """Onto an `OpenImageIO.ImageSpec` (a header to write)."""
        spec.x, spec.y = self.data[0], self.data[1]
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = self.display
        spec.attribute("PixelAspectRatio", float(self.pixel_aspect))
