"""Frame sources: one interface over image sequences, video files, single images and folders.

Every source yields `Frame`s whose `rgb` is scene-linear float32 `H×W×3` (8/16-bit files and
video are sRGB-decoded on read), numbered as the shot numbers them: sequences by the number in the
file name, videos from `first_frame` (default 1), folders of stills 1..N in name order.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from engine.errors import InputError, MediaError, SettingsError
from engine.io.colorspace import srgb_to_linear
from engine.io.display import DisplayFrame
from engine.io.image import (
    Geometry,
    HeaderItem,
    ImageData,
    has_rgb,
    no_rgb_error,
    read_geometry,
    read_image,
)
from engine.io.quiet import native_stderr, summary_line
from engine.io.sequence import SequencePattern, find_sequence, other_paddings

IMAGE_EXTS = (".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx", ".bmp")
T = TypeVar("T")
# (frame, the file's geometry) -> the array rows [r0, r1) to decode, or None for none
PlateRows = Callable[[int, Geometry], "tuple[int, int] | None"]
VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mxf")


@dataclass(frozen=True)
class Frame:
    """One decoded frame. `rgb` is scene-linear float32 H×W×3; `alpha` is H×W or None."""

    number: int
    rgb: np.ndarray
    alpha: np.ndarray | None
    path: str
    nonfinite: int  # count of NaN/Inf values in `rgb` as read (not yet sanitised)
    geometry: Geometry | None = None  # data/display windows (None: the array is the frame)


@dataclass(frozen=True)
class Plate:
    """A whole frame for rendering: every channel, scene-linear RGB, names and metadata."""

    number: int
    pixels: np.ndarray  # H×W×C float32 (float16: a half file read with keep_half); R, G, B
    # scene-linear (decoded if the file was sRGB)
    channels: tuple[str, ...]
    path: str
    geometry: Geometry | None = None  # data/display windows, pixel aspect (None: simple)
    header: tuple[HeaderItem, ...] = ()  # the file's attributes, to carry through
    formats: tuple[str, ...] = ()  # each channel's sample type in the file (() unknown)


def _plate_from_image(number: int, data: ImageData) -> Plate:
    pixels = data.pixels
    if data.colorspace == "srgb":
        pixels = pixels.copy()
        for c in ("R", "G", "B"):
            if c in data.channels:
                i = data.channels.index(c)
                pixels[..., i] = srgb_to_linear(pixels[..., i])
    names = data.channels
    if not has_rgb(names):
        raise no_rgb_error(data.path, names)
    if names[0] == "Y" and "R" not in names:  # grey: expand so the engine sees RGB
        pixels = np.concatenate([np.repeat(pixels[..., :1], 3, -1), pixels[..., 1:]], -1)
        names = ("R", "G", "B") + tuple(names[1:])
    dtype = np.float16 if pixels.dtype == np.float16 else np.float32  # half kept if read so
    formats = data.formats
    if names != data.channels and formats:  # grey expanded: Y's type for R, G, B
        formats = (formats[0],) * 3 + tuple(formats[1:])
    return Plate(number, np.ascontiguousarray(pixels, dtype), tuple(names), data.path,
                 data.geometry, data.header, formats)


def _frame_from_image(number: int, data: ImageData) -> Frame:
    rgb = data.rgb()
    if data.colorspace == "srgb":
        rgb = srgb_to_linear(rgb)
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    nonfinite = int(rgb.size - np.count_nonzero(np.isfinite(rgb)))
    return Frame(number, rgb, data.alpha(), data.path, nonfinite, data.geometry)


def _display_from_image(number: int, data: ImageData) -> DisplayFrame:
    """A frame for analysis from a natively read image (`read_image(native=True)`)."""
    px, names = data.pixels, data.channels
    if all(c in names for c in ("R", "G", "B")):
        idx = [names.index(c) for c in ("R", "G", "B")]
        rgb = px[..., :3] if idx == [0, 1, 2] else px[..., idx]
    elif names and names[0] == "Y":  # Y or YA: grey
        rgb = np.repeat(px[..., :1], 3, axis=-1)
    else:
        rgb = data.rgb()  # raises the one-line error naming the channels
    if data.colorspace == "srgb" and rgb.dtype.kind == "f":  # codes read as float: decode
        rgb = srgb_to_linear(rgb)
    elif data.colorspace == "linear" and rgb.dtype.kind == "u":  # not a case OIIO gives
        rgb = rgb.astype(np.float32)
    return DisplayFrame(number, np.ascontiguousarray(rgb), data.path, data.geometry)


class FrameSource:
    """Abstract frame source: `frames` lists the numbers it holds; `read(frames)` yields them."""

    description: str = ""
    frames: list[int]
    # False for a source whose frames must be read on the thread that asks for them (a host's
    # clip: OFX suites are called from the action's thread); readers then read no frame ahead
    # on a thread of their own (engine.shot.overlap).
    reads_on_any_thread: bool = True
    # True for stills turned upright by their EXIF Orientation (`open_source(upright=True)`).
    upright: bool = False

    def read(self, frames: Iterable[int] | None = None) -> Iterator[Frame | MediaError]:
        """Yield each requested frame in order, or a MediaError for one that cannot be read.

        Errors are yielded, not raised, so a caller can skip a bad frame and go on.
        """
        raise NotImplementedError

    def _check_requested(self, frames: Iterable[int] | None) -> list[int]:
        return list(self.frames) if frames is None else list(frames)

    def read_display(self, frames: Iterable[int] | None = None, rows: PlateRows | None = None,
                     display: bool = True) -> Iterator[DisplayFrame | MediaError]:
        """Like `read`, but each frame as analysis takes it (`engine.io.display`): its pixels
        as stored, the sRGB uint8 encoding made at once when `display` (on the reading thread:
        detection follows), scene-linear regions on demand. Sources that can decode part of a
        frame decode only the `rows(frame, geometry)` they are given (for crops); others
        read whole frames. This base version converts `read`'s float frames."""
        for item in self.read(frames):
            if isinstance(item, MediaError):
                yield item
                continue
            frame = DisplayFrame(item.number, item.rgb, item.path, item.geometry,
                                 nonfinite=item.nonfinite)
            if display:
                frame.srgb8  # noqa: B018 - made here, on the reading thread
            yield frame

    def read_plates(self, frames: Iterable[int] | None = None, rows: PlateRows | None = None,
                    keep_half: bool = False) -> Iterator[Plate | MediaError]:
        """Like `read`, but every channel of each frame (for rendering).

        `rows(frame, geometry)` may name the only array rows `[r0, r1)` a caller needs (None:
        none); a source that can (EXR and other image files) decodes just those and leaves the
        rest of the array zero, others read whole frames. `keep_half`: a source of half files
        may give float16 pixels (the values as stored); others give float32 regardless."""
        for item in self.read(frames):
            if isinstance(item, MediaError):
                yield item
                continue
            chans = [item.rgb] + ([item.alpha[..., None]] if item.alpha is not None else [])
            names = ("R", "G", "B") + (("A",) if item.alpha is not None else ())
            yield Plate(item.number, np.concatenate(chans, -1), names, item.path, item.geometry)

    def path_of(self, frame: int) -> Path | None:
        """The file holding `frame`, where frames are files (None for videos)."""
        return None

    def inputs(self) -> list[Path]:
        """The files (or the folder of stills) this source reads: what a run must never write
        (engine.io.ownership)."""
        return []

    def geometry(self, frame: int) -> Geometry | None:
        """The frame's windows from its header alone (None for videos: the array is the frame).
        Raises MediaError for a frame that cannot be read."""
        return None

    def missing(self, frame: int) -> bool:
        """True if `frame` is known to be absent (a gap in a sequence, outside a video)."""
        return frame not in self.frames


def present_frames(source: FrameSource, wanted: Sequence[int], verb: str, noun: str
                   ) -> tuple[list[int], list[int]]:
    """The frame-range policy of every command: `(present, absent)` of the `wanted` frames.

    Frames the source does not hold (outside its range, or a gap) are absent: each command
    reports them as errors and works on the rest. Refuses, before any work, an empty request
    and one where no requested frame exists (`verb`: what the command does, `noun`: what the
    source is called, for the one-line message).
    """
    from engine.io.frames import format_frame_range as fr

    if not wanted:
        raise SettingsError(f"{source.description}: no frames to {verb} in the given range")
    have = set(source.frames)
    absent = [f for f in wanted if f not in have or source.missing(f)]
    gone = set(absent)
    present = [f for f in wanted if f not in gone]
    if not present:
        raise MediaError(f"{source.description}: none of the requested frames {fr(wanted)} "
                         f"exist ({noun} has {fr(source.frames) or 'no frames'}); check --frames")
    return present, absent


class ImageListSource(FrameSource):
    """Stills or a sequence: a {frame: path} map, where some requested frames may be missing."""

    def __init__(self, paths: dict[int, Path], description: str,
                 expected: Sequence[int] | None = None, folder: Path | None = None,
                 upright: bool = False):
        self._paths = paths
        self.description = description
        self.frames = list(expected) if expected is not None else list(paths)
        self.folder = folder  # a folder of stills: every image in it is read
        self.upright = upright  # stills: turned by their EXIF Orientation (read_image)

    def path_of(self, frame: int) -> Path | None:
        return self._paths.get(frame)

    def inputs(self) -> list[Path]:
        return [self.folder] if self.folder is not None else list(self._paths.values())

    def missing(self, frame: int) -> bool:
        return frame not in self._paths

    def geometry(self, frame: int) -> Geometry | None:
        path = self._paths.get(frame)
        if path is None:
            raise MediaError(f"{self.description}: frame {frame} is missing on disk (gap)")
        return read_geometry(path)

    def _each(self, frames: Iterable[int] | None, convert: Callable[[int, ImageData], T],
              rows: PlateRows | None = None, native: bool = False, keep_half: bool = False
              ) -> Iterator[T | MediaError]:
        for f in self._check_requested(frames):
            path = self._paths.get(f)
            if path is None:
                yield MediaError(f"{self.description}: frame {f} is missing on disk (gap)")
                continue
            try:
                wanted = (lambda geo, f=f: rows(f, geo)) if rows is not None else None
                yield convert(f, read_image(path, wanted, native=native,
                                            keep_half=keep_half, upright=self.upright))
            except MediaError as exc:  # the kind kept: a LayoutError stays one
                yield type(exc)(f"frame {f}: {exc}")

    def read_display(self, frames: Iterable[int] | None = None, rows: PlateRows | None = None,
                     display: bool = True) -> Iterator[DisplayFrame | MediaError]:
        def convert(number: int, data: ImageData) -> DisplayFrame:
            frame = _display_from_image(number, data)
            if display:
                frame.srgb8  # noqa: B018 - made here, on the reading thread
            return frame
        return self._each(frames, convert, rows, native=True)

    def read_plates(self, frames: Iterable[int] | None = None, rows: PlateRows | None = None,
                    keep_half: bool = False) -> Iterator[Plate | MediaError]:
        """Whole plates (`rows`: only those array rows decoded); `keep_half`: a half EXR's
        pixels stay float16 (for a render whose output is half too)."""
        return self._each(frames, _plate_from_image, rows, keep_half=keep_half)

    def read(self, frames: Iterable[int] | None = None) -> Iterator[Frame | MediaError]:
        return self._each(frames, _frame_from_image)


CHUNK_BYTES = 256 << 20  # float pixels a video decodes before yielding them
DISPLAY_CHUNK_BYTES = 24 << 20  # 8-bit frames for analysis: four 1080p frames


class VideoSource(FrameSource):
    """A video file decoded sequentially with OpenCV's FFmpeg backend (sRGB assumed).

    FFmpeg's own messages (one per broken packet on a damaged file) are captured, not printed;
    `decoder_log` holds them and a failed frame's error quotes the first one.
    """

    def __init__(self, path: Path, first_frame: int = 1):
        self.path = path
        self.description = str(path)
        self.first_frame = first_frame
        self.decoder_log: list[str] = []
        with native_stderr(self.decoder_log):
            cap = self._open()
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            cap.release()
        if count <= 0:
            raise MediaError(f"{path}: video reports no frames; the file is unreadable")
        self.frames = list(range(first_frame, first_frame + count))

    def _open(self) -> cv2.VideoCapture:
        if not self.path.exists():
            raise MediaError(f"{self.path}: file not found")
        if self.path.stat().st_size == 0:
            raise MediaError(f"{self.path}: file is empty (0 bytes)")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            first = f"; {summary_line('FFmpeg', self.decoder_log)}" if self.decoder_log else ""
            raise MediaError(f"{self.path}: cannot decode this video (corrupt or unknown codec)"
                             + first)
        return cap

    def geometry(self, frame: int) -> Geometry | None:
        return Geometry.full(*self.size)

    def inputs(self) -> list[Path]:
        return [self.path]

    def read(self, frames: Iterable[int] | None = None) -> Iterator[Frame | MediaError]:
        """Decode sequentially and yield the wanted frames in the order asked, chunk by chunk.

        Frames are decoded in chunks of at most `CHUNK_BYTES` of float pixels with fd 2 captured
        (FFmpeg's decoder threads print while decoding; one line per broken packet on a damaged
        file), then yielded with stderr restored, so memory stays bounded (a 4,800-frame video
        used to be decoded whole, 6 GB of float frames, before the first came out) and the
        caller's own stderr output between chunks is not swallowed. Frames asked out of order are
        held until their turn.
        """
        def make(number: int, bgr: np.ndarray) -> tuple[Frame, int]:
            rgb = srgb_to_linear(bgr[..., ::-1].astype(np.float32) / 255.0)
            return (Frame(number, rgb, None, f"{self.path}@{number}", 0,
                          Geometry.full(rgb.shape[1], rgb.shape[0])), rgb.nbytes)
        return self._decoded(self._check_requested(frames), make, CHUNK_BYTES)

    def read_display(self, frames: Iterable[int] | None = None, rows: PlateRows | None = None,
                     display: bool = True) -> Iterator[DisplayFrame | MediaError]:
        """Frames for analysis: the decoder's 8-bit RGB as they are (`engine.io.display`; the
        float path divides them by 255: `scaling="divide"`), in chunks of
        `DISPLAY_CHUNK_BYTES` (a few frames: the first comes out after a few decodes). Whole
        frames (`rows` unused: a video decodes every frame anyway)."""
        def make(number: int, bgr: np.ndarray) -> tuple[DisplayFrame, int]:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frame = DisplayFrame(number, rgb, f"{self.path}@{number}",
                                 Geometry.full(rgb.shape[1], rgb.shape[0]), "divide", 0)
            if display:
                frame.srgb8  # noqa: B018 - the codes themselves: nothing to compute
            return frame, rgb.nbytes
        return self._decoded(self._check_requested(frames), make, DISPLAY_CHUNK_BYTES)

    def _decoded(self, wanted: list[int], make: Callable[[int, np.ndarray], tuple[T, int]],
                 budget_bytes: int) -> Iterator[T | MediaError]:
        """The wanted frames decoded sequentially, made into items by `make(number, bgr)`
        (the item, the bytes it holds), yielded in the order asked, chunk by chunk (`read`)."""
        pending = Counter(wanted)  # frames still to yield (a frame may be asked twice)
        order = iter(wanted)
        next_out = next(order, None)
        held: dict[int, T] = {}
        log: list[str] = []
        with native_stderr(log):
            cap = self._open()
        number = self.first_frame
        last = max(wanted) if wanted else number - 1
        try:
            while next_out is not None and number <= last:
                budget = budget_bytes
                with native_stderr(log):
                    while number <= last and budget > 0:
                        ok, bgr = cap.read()
                        if not ok:
                            last = number - 1  # the video ends here
                            break
                        if number in pending:
                            held[number], size = make(number, bgr)
                            budget -= size
                        number += 1
                while next_out is not None and next_out in held:
                    pending[next_out] -= 1
                    yield held[next_out] if pending[next_out] else held.pop(next_out)
                    next_out = next(order, None)
        finally:
            with native_stderr(log):
                cap.release()
            self.decoder_log += log
        note = f"; {summary_line('FFmpeg', log)}" if log else ""
        while next_out is not None:
            yield held.get(next_out) or MediaError(
                f"{self.path}: frame {next_out} could not be decoded (video ends early or is "
                f"truncated){note}"
            )
            next_out = next(order, None)


def open_source(spec: str | os.PathLike[str], first_frame: int = 1, *,
                upright: bool = False) -> FrameSource:
    """Open footage: a sequence pattern, a video, a still image or a folder of stills.

    `upright=True` turns stills (an image, a folder of images) whose EXIF Orientation is not 1
    as every viewer shows them (a phone's portrait JPEG is stored sideways): what extraction
    and a reference photo want. Sequences are never turned: a plate's pixel grid is the
    comp's, and a render's output must stay on it.
    """
    text = str(spec)
    path = Path(text)
    if SequencePattern.is_pattern(text) and not path.exists():
        found = find_sequence(text)
        if not found:
            others = other_paddings(text)
            hint = (f"; the folder holds {others[0]} ({len(others)} such files) of another "
                    "padding: write as many # as its digits" if others else
                    "; check the pattern")
            raise MediaError(f"{text}: no frames of this sequence on disk{hint}")
        lo, hi = min(found), max(found)
        return ImageListSource(found, str(SequencePattern.parse(text)), range(lo, hi + 1))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise MediaError(f"{path}: folder holds no images ({', '.join(IMAGE_EXTS)})")
        return ImageListSource({i + 1: p for i, p in enumerate(files)}, str(path),
                               folder=path, upright=upright)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTS:
        return VideoSource(path, first_frame)
    if suffix in IMAGE_EXTS:
        if not path.exists():
            raise MediaError(f"{path}: file not found")
        return ImageListSource({first_frame: path}, str(path), upright=upright)
    raise InputError(
        f"{text}: unknown footage type; give a sequence (plate.%04d.exr), a video "
        f"({', '.join(VIDEO_EXTS)}), an image or a folder of images"
    )
