"""Input and output at the edges: images (EXR via OpenImageIO), videos, sequences, frame ranges.

Every reader returns float32 H×W×C arrays with named channels; colour space is stated by the caller
(EXR: scene-linear; 8/16-bit files: sRGB-encoded). Every writer is atomic (temp file + rename).
"""

from engine.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from engine.io.frames import format_frame_range, parse_frame_range
from engine.io.image import Geometry, ImageData, read_image, write_exr, write_image
from engine.io.sequence import SequencePattern, find_sequence
from engine.io.source import Frame, FrameSource, Plate, open_source

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
