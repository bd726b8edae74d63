"""Input and output at the edges: images (EXR via OpenImageIO), videos, sequences, frame ranges.

Every reader returns float32 H×W×C arrays with named channels; colour space is stated by the caller
(EXR: scene-linear; 8/16-bit files: sRGB-encoded). Every writer is atomic (temp file + rename).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names resolve on first use (PEP 562), so importing one light part (frame ranges, atomic writes,
# `Geometry`) does not load OpenImageIO and OpenCV: the node's per-frame path needs neither.
_WHERE = {
    "atomic_path": "atomic", "atomic_write_bytes": "atomic", "atomic_write_text": "atomic",
    "format_frame_range": "frames", "parse_frame_range": "frames",
    "Geometry": "geometry",
    "ImageData": "image", "read_image": "image", "write_exr": "image", "write_image": "image",
    "SequencePattern": "sequence", "find_sequence": "sequence",
    "Frame": "source", "FrameSource": "source", "Plate": "source", "open_source": "source",
}

if TYPE_CHECKING:
    from engine.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
    from engine.io.frames import format_frame_range, parse_frame_range
    from engine.io.geometry import Geometry
    from engine.io.image import ImageData, read_image, write_exr, write_image
    from engine.io.sequence import SequencePattern, find_sequence
    from engine.io.source import Frame, FrameSource, Plate, open_source


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"engine.io.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Frame",
    "FrameSource",
    "Geometry",
    "ImageData",
    "Plate",
    "SequencePattern",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_sequence",
    "format_frame_range",
    "open_source",
    "parse_frame_range",
    "read_image",
    "write_exr",
    "write_image",
]
