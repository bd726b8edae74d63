"""`doppel render`: a shot (or a frame range of it, one farm chunk) through the FaceSwapper.

Per frame: read the plate (every channel), swap, write `R,G,B,A` (and every other input
channel) plus the `doppel.mask` layer (and `doppel.face.R/G/B` on request) to an EXR, atomically.
The output keeps the plate's data/display windows, pixel aspect and header attributes.
Metadata records the model (content digest), the resolved settings, the track's digest and the
engine version (`doppel/record`, digest `doppel/digest`), and nothing that changes between runs,
so rendering the same frames twice, or in other chunkings, gives bit-identical files.

Resume: a frame whose output exists is skipped only when its record matches this run's; an
output made with another model or settings, or a file Doppel did not write, stops the run before
any work with an error naming the difference; `overwrite` renders such frames again. Workers
exit with the main process whatever kills it; stale temp files of dead runs are removed on start.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

from engine import __version__
from engine.errors import DiskFullError, InputError, MediaError, OutputError, SettingsError
from engine.fit import ShotFit
from engine.io import (
    SequencePattern,
    format_frame_range,
    open_source,
    parse_frame_range,
    write_exr,
    write_image,
)
from engine.io.atomic import remove_stale_temps
from engine.io.image import Geometry
from engine.io.source import FrameSource, Plate
from engine.overlap import Later, overlapped
from engine.pipeline import FaceSwapper, SwapResult, SwapSettings
from engine.track import Track


@dataclass
class RenderSummary:
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already rendered (resume)
    missing: list[int] = field(default_factory=list)  # requested but not in the plate
    no_face: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)  # mean per stage
    fit: ShotFit | None = None  # model–plate fit of the rendered frames (issue 21)

    def lines(self) -> list[str]:
        from engine.io import format_frame_range as fr
        from engine.io.frames import summarise_messages

        errors = list(self.errors)
        if self.missing:
            errors.insert(0, f"frames not in the plate: {fr(self.missing)}")
        out = [f"rendered: {len(self.done)}", f"skipped (already done): {len(self.skipped)}",
               f"no face (passed through): {len(self.no_face)}"
               + (f" ({fr(self.no_face)})" if self.no_face else ""),
               f"errors: {len(self.errors) + len(self.missing)}"]
        out += [f"  error: {e}" for e in summarise_messages(errors)]
        if self.fit is not None:  # issue 21: the model–plate fit check
            out.append(self.fit.summary())
        return out


@dataclass(frozen=True)
class RenderJob:
    """Everything a worker needs to render frames (picklable)."""

    source: str
    output: str  # pattern, e.g. out/swap.####.exr
    settings: SwapSettings
    track: str | None = None
    first_frame: int = 1
    face_layer: bool = False
    half: bool = True
    compression: str = "zip"
    region: str = "full"  # "full": the whole plate; "face": only what the swap changed


REGIONS = ("full", "face")


# Settings that never change pixels (and paths, which name a file, not its content): left out
# of the record so outputs are bit-identical however a shot is split over workers, machines and
# mount points, and so `models/x.onnx` and its absolute path resume alike.
_NOT_RECORDED = ("threads", "device", "model", "xseg")
_DESCRIPTION = "doppel render "  # prefix of the description of non-EXR outputs


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def track_digest(path: str | None) -> str:
    """Content digest of a track file ('' without one)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""


def render_record(job: RenderJob, swapper: FaceSwapper, track_sha: str) -> dict[str, Any]:
    """What a frame was made from: model and XSeg content digests, the pixel-affecting settings,
    the track's digest, output options and engine version. Two runs that agree on this write
    the same pixels; resume compares it, key by key."""
    settings = {k: v for k, v in job.settings.to_dict().items() if k not in _NOT_RECORDED}
    return {
        "engine": __version__,
        "model": swapper.model.info.digest,
        "xseg": swapper.xseg.info.digest if swapper.xseg is not None else "",
        "track": track_sha,
        "settings": settings,
        # "region" only when not the default: full-frame records (and so files) stay as
        # they were before the option existed, and such renders resume.
        "output": {"face_layer": job.face_layer, "half": job.half,
                   "compression": job.compression,
                   **({"region": job.region} if job.region != "full" else {})},
    }


def _read_record(path: Path) -> dict[str, Any] | None | str:
    """An output's recorded render (dict), None if it is not a Doppel output, or 'old' for one
    written by a Doppel that kept no record."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        text = spec.getattribute("doppel/record")
        engine = spec.getattribute("doppel/engine")
        desc = spec.getattribute("ImageDescription")
    finally:
        inp.close()
    if engine is None and isinstance(desc, str) and desc.startswith(_DESCRIPTION):
        try:  # a TIFF/JPEG output: our attributes are in its description
            attrs = json.loads(desc[len(_DESCRIPTION):])
            engine, text = attrs.get("doppel/engine"), attrs.get("doppel/record")
        except (json.JSONDecodeError, AttributeError):
            engine = None
    if engine is None:
        return None
    try:
        record = json.loads(text) if text else None
    except json.JSONDecodeError:
        record = None
    return record if isinstance(record, dict) else "old"


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The first differing entry of two records, in words (`color 'lct' (this run 'rct')`)."""
    names = {"model": "model (content digest)", "xseg": "XSeg model (content digest)",
             "track": "track file (content)", "engine": "engine version"}
    flat_old = {**{k: v for k, v in old.items() if not isinstance(v, dict)},
                **old.get("settings", {}), **old.get("output", {})}
    flat_new = {**{k: v for k, v in new.items() if not isinstance(v, dict)},
                **new.get("settings", {}), **new.get("output", {})}
    for key in flat_new:
        if flat_old.get(key) != flat_new.get(key):
            if key in ("model", "xseg", "track"):
                return f"another {names[key]}"
            label = names.get(key, f"--{key.replace('_', '-')}")
            return f"{label} {flat_old.get(key)!r} (this run {flat_new[key]!r})"
    return "other settings"


def is_rendered(path: Path, record: dict[str, Any]) -> bool:
    """True if `path` is a complete output of exactly this render (atomic writes: a present
    file is whole); raises OutputError for a file that is not, naming what differs."""
    if path.is_dir():
        raise OutputError(f"{path}: output path is a folder; remove it or choose another "
                          "--output")
    if not path.exists():
        return False
    old = _read_record(path)
    if old is None:
        raise OutputError(f"{path}: exists and was not written by Doppel; refusing to replace "
                          "it (pass --overwrite to replace it, or choose another --output)")
    if old == "old":
        raise OutputError(f"{path}: rendered by an older Doppel that recorded no settings; "
                          "pass --overwrite to render it again")
    assert isinstance(old, dict)
    if _digest(old) == _digest(record):
        return True
    raise OutputError(f"{path}: rendered with {_difference(old, record)}; resume with the same "
                      "model and settings, or pass --overwrite to render it again")


def check_output(job: RenderJob, source: FrameSource, frames: Iterable[int]) -> SequencePattern:
    """Refuse outputs that would overwrite the input or cannot be written; one line each."""
    pattern = SequencePattern.parse(job.output)
    folder = Path(pattern.prefix).parent
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write to output folder {folder}: it is a file; choose "
                          "another --output")
    for f in frames:
        src = source.path_of(f)
        if src is not None and src.resolve() == pattern.path(f).resolve():
            raise InputError(f"output {job.output} would overwrite the input frame {src}; "
                             "write to another file pattern")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".doppel-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(f"output folder {folder}: disk full (No space left on device); "
                                "free space and run again") from None
        raise OutputError(f"cannot write to output folder {folder} ({exc.strerror}); "
                          "choose a writable --output") from None
    remove_stale_temps(folder, Path(pattern.prefix).name)
    return pattern


def check_track_covers(track: Track, job: RenderJob, frames: list[int]) -> None:
    """Refuse a track that was not analysed over the frames to render (another shot's track
    would pass every frame through and write untouched plates)."""
    text = track.settings.get("frames")
    if isinstance(text, str) and text:
        analysed = set(parse_frame_range(text))
        outside = [f for f in frames if f not in analysed]
    else:  # an older track without its range: refuse only one that shares no frame at all
        analysed = set(range(min(track.faces), max(track.faces) + 1)) if track.faces else set()
        outside = frames if not analysed.intersection(frames) else []
    if outside:
        have = format_frame_range(analysed) or "no frames"
        raise InputError(f"{job.track}: track covers frames {have}; frames "
                         f"{format_frame_range(outside)} were never analysed (another shot's "
                         "track?); run 'doppel analyze' over them or narrow --frames")


def _metadata(job: RenderJob, swapper: FaceSwapper, frame: int, diag: dict[str, Any],
              record: dict[str, Any]) -> dict[str, Any]:
    info = swapper.model.info
    return {
        "doppel/engine": __version__,
        "doppel/model": Path(info.path).name,
        "doppel/model_digest": info.digest,
        "doppel/model_meta": json.dumps(info.metadata, sort_keys=True),
        "doppel/settings": json.dumps(record["settings"], sort_keys=True),
        "doppel/record": json.dumps(record, sort_keys=True),
        "doppel/digest": _digest(record),
        "doppel/frame": frame,
        "doppel/face": "swapped" if diag.get("swapped") else diag.get("reason", "no face"),
        "doppel/nonfinite_fixed": int(diag.get("nonfinite_fixed", 0)),
    }


@dataclass(frozen=True)
class FrameWrite:
    """A swapped frame ready to be written (the writer stage's task): layers side by side
    (`H×W×k` each, written without concatenating them), their channel names, where they sit."""

    target: Path
    layers: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    metadata: dict[str, Any]
    geometry: Geometry | None
    header: tuple[tuple[str, str, Any], ...]
    diagnostics: dict[str, Any]


def face_region(result: SwapResult, geometry: Geometry | None, shape: tuple[int, ...],
                face_layer: bool = False) -> tuple[list[np.ndarray], list[str], Geometry]:
    """The swap as a premultiplied RGBA layer over only the region it changed.

    Convention: `A` = the blend mask (strength included, = `doppel.mask`); `R,G,B` = the
    unblended swapped face (scene-linear) × `A`, so `plate × (1 − A) + RGB` is the comp.
    The data window is `diagnostics["roi"]` in the plate's pixel grid (offset by the plate's
    data-window origin), the display window the plate's. A frame where nothing was swapped
    gets one transparent pixel at the display window's origin (EXR needs ≥ 1 pixel).
    """
    h, w = shape[:2]
    geo = geometry or Geometry.full(w, h)
    roi = result.diagnostics.get("roi") if result.face_roi is not None else None
    names = ["R", "G", "B", "A", "doppel.mask"]
    if roi is None:
        empty = np.zeros((1, 1, 1), np.float32)
        layers = [np.zeros((1, 1, 3), np.float32), empty, empty]
        data = (geo.display[0], geo.display[1], 1, 1)
        face = np.zeros((1, 1, 3), np.float32)
    else:
        x0, y0, x1, y1 = roi
        alpha = result.mask[y0:y1, x0:x1, None]
        face = result.face_roi
        layers = [face * alpha, alpha, alpha]
        data = (geo.data[0] + x0, geo.data[1] + y0, x1 - x0, y1 - y0)
    if face_layer:
        layers.append(face)
        names += ["doppel.face.R", "doppel.face.G", "doppel.face.B"]
    return layers, names, Geometry(data, geo.display, geo.pixel_aspect)


def swap_plate(job: RenderJob, swapper: FaceSwapper, plate: Plate, track: Track | None,
               target: Path, record: dict[str, Any] | None = None) -> FrameWrite:
    """Swap one plate (in place: the plate's array becomes the output) and return what to
    write. Raises MediaError for a plate the output format cannot keep."""
    geo = plate.geometry
    is_exr = target.suffix.lower() == ".exr"
    if geo is not None and not geo.is_simple and not is_exr:
        raise MediaError(f"frame {plate.number}: plate has data window {geo.data} and display "
                         f"window {geo.display}; only an EXR output keeps them (use .exr)")
    if track is not None:
        track = track.for_plate(geo, plate.number, job.track or "track")
    record = record if record is not None else render_record(job, swapper, "")
    region = job.region == "face"
    # In place (out is the source): the plate array is this frame's own, read whole already.
    result = swapper.process(plate.pixels, plate.number, look=job.settings.look, track=track,
                             out=plate.pixels, channels=plate.channels,
                             want_face=job.face_layer and not region)
    meta = _metadata(job, swapper, plate.number, result.diagnostics, record)
    if region:
        layers, names, geo = face_region(result, geo, plate.pixels.shape, job.face_layer)
    else:
        layers = [result.image, result.mask[..., None]]
        names = list(plate.channels) + ["doppel.mask"]
        if result.face is not None:  # unblended swapped face, for the compositor's own mix
            layers.append(result.face)
            names += ["doppel.face.R", "doppel.face.G", "doppel.face.B"]
    return FrameWrite(target, tuple(layers), tuple(names), meta, geo, plate.header,
                      result.diagnostics)


def write_frame(job: RenderJob, frame: FrameWrite) -> dict[str, Any]:
    """Write a swapped frame atomically; returns its diagnostics."""
    target = frame.target
    if target.suffix.lower() == ".exr":
        write_exr(target, frame.layers, frame.names, frame.metadata, half=job.half,
                  compression=job.compression, geometry=frame.geometry, header=frame.header)
    else:
        from engine.colorspace import linear_to_srgb

        # PNG keeps our attributes as text chunks; TIFF and JPEG keep only a description.
        text_meta = {k: str(v) for k, v in frame.metadata.items()}
        if target.suffix.lower() != ".png":
            text_meta = {"ImageDescription": _DESCRIPTION + json.dumps(text_meta,
                                                                        sort_keys=True)}
        write_image(target, linear_to_srgb(frame.layers[0][..., :3]), bits=16
                    if target.suffix.lower() in (".png", ".tif", ".tiff") else 8,
                    metadata=text_meta)
    return frame.diagnostics


def render_plate(job: RenderJob, swapper: FaceSwapper, plate: Plate, track: Track | None,
                 target: Path, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Swap one plate and write it; returns the frame's diagnostics.

    The output keeps the plate's data and display windows, pixel aspect and header attributes
    (EXR); the track's landmarks are mapped onto this frame's data window. With
    `job.region == "face"` it holds only the changed region (`face_region`).
    """
    return write_frame(job, swap_plate(job, swapper, plate, track, target, record))


_WORKER: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Make this worker exit when the process that started it goes, whatever the signal
    (SIGKILL included): the kernel's parent-death signal where there is one (Linux), and a
    watchdog thread that polls the parent everywhere."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="doppel-parent-watch", daemon=True).start()


def set_io_threads(threads: int) -> None:
    """OpenImageIO's and OpenEXR's thread pools (decode/encode of one file's chunks): one per
    core by default, which a worker process must share with its siblings."""
    oiio.attribute("threads", max(1, threads))
    oiio.attribute("exr_threads", max(1, threads))


def _worker_init(job: RenderJob, threads: int, record: dict[str, Any], overwrite: bool,
                 pipeline: bool = True) -> None:
    _die_with_parent()
    set_io_threads(threads)
    _WORKER["job"] = job
    # A pipelined worker's reader and writer threads need the cores ORT would spin on.
    _WORKER["swapper"] = FaceSwapper(replace(job.settings.config, threads=threads),
                                     spinning=not pipeline)
    _WORKER["source"] = open_source(job.source, job.first_frame)
    _WORKER["track"] = Track.load(job.track) if job.track else None
    _WORKER["record"] = record
    _WORKER["overwrite"] = overwrite
    _WORKER["pipeline"] = pipeline


FrameResult = tuple[int, "dict[str, Any] | str"]  # diagnostics, or the frame's error in words


def _frame_error(f: int, exc: Exception) -> FrameResult:
    if isinstance(exc, DiskFullError):  # the run's error, not the frame's: every write fails
        raise exc
    return (f, f"frame {f}: {exc}" if f"frame {f}" not in str(exc) else str(exc))


def _already_done(target: Path, record: dict[str, Any]) -> bool:
    """Another farm job on the same output may have written this frame since the run started:
    the same render is skipped, a different one is this frame's error (OutputError)."""
    return not _WORKER.get("overwrite") and target.exists() and is_rendered(target, record)


def _frame_results(frames: list[int]) -> Iterator[FrameResult]:
    """Render `frames` with the worker's state; one result per frame, in order, as each is
    written. Pipelined (the default): the next plates are decoded on a read-ahead thread and
    the previous frame encoded on a writer thread while this one is swapped (engine.overlap);
    the files are the same as the serial loop's (`pipeline=False`)."""
    job, swapper, source, track, record = (_WORKER[k] for k in ("job", "swapper", "source",
                                                               "track", "record"))
    pattern = SequencePattern.parse(job.output)

    def write(f: int, frame: FrameWrite) -> FrameResult:
        try:
            return (f, write_frame(job, frame))
        except (MediaError, OutputError) as exc:
            return _frame_error(f, exc)

    def compute(pair: tuple[Plate | MediaError, int]) -> FrameResult | Later[FrameResult]:
        item, f = pair
        if isinstance(item, MediaError):
            return (f, str(item))
        target = pattern.path(f)
        try:
            if _already_done(target, record):
                return (f, {"skipped": True})
            frame = swap_plate(job, swapper, item, track, target, record)
        except (MediaError, OutputError) as exc:
            return _frame_error(f, exc)
        return Later(lambda: write(f, frame))

    rows = _face_rows(job, swapper, track) if job.region == "face" and track else None
    pairs = zip(source.read_plates(frames, rows), frames, strict=True)
    if _WORKER.get("pipeline", True):
        yield from overlapped(pairs, compute, read_ahead=2, write_behind=1)
        return
    for pair in pairs:
        result = compute(pair)
        yield result.run() if isinstance(result, Later) else result


def _face_rows(job: RenderJob, swapper: FaceSwapper, track: Track
               ) -> Callable[[int, Geometry], tuple[int, int] | None]:
    """For a face-region render with a track: the plate rows the swap reads (its ROI's), so the
    rest of the frame is never decoded; None (no rows) where the track has no face."""
    def rows(frame: int, geometry: Geometry) -> tuple[int, int] | None:
        shape = (geometry.data[3], geometry.data[2])
        try:
            here = track.for_plate(geometry, frame, job.track or "track")
        except InputError:
            return (0, shape[0])  # read it all: the swap names the problem as today
        box = swapper.roi(frame, here, job.settings.look, shape)
        return (box[1], box[3]) if box is not None else None
    return rows


def _worker_frames(frames: list[int]) -> list[FrameResult]:
    return list(_frame_results(frames))


def check_region(job: RenderJob) -> None:
    """Refuse a face-region output that could not be merged over the plate."""
    if job.region not in REGIONS:
        raise SettingsError(f"--region {job.region!r} unknown; use one of {', '.join(REGIONS)}")
    if job.region == "face":
        if not job.output.lower().endswith(".exr"):
            raise SettingsError(f"--region face writes a data window only EXR keeps; give an "
                                f".exr --output (got {job.output})")
        if job.settings.look.output != "comp":
            raise SettingsError(f"--region face writes the swap to merge over the plate; it "
                                f"needs --view comp (got {job.settings.look.output!r})")


def render(job: RenderJob, frames: list[int] | None = None, workers: int = 1,
           overwrite: bool = False,
           progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
           pipeline: bool = True) -> RenderSummary:
    """Render `frames` (default: all of the source) of `job`; returns the summary.

    `pipeline=False` runs read, swap and write of each frame one after another (the files are
    the same; for measurements and debugging)."""
    check_region(job)
    source = open_source(job.source, job.first_frame)
    wanted = list(source.frames if frames is None else frames)
    if not wanted:
        raise InputError(f"{source.description}: no frames to render in the given range")
    summary = RenderSummary()
    absent = set(f for f in wanted if source.missing(f))
    if len(absent) == len(wanted):
        raise MediaError(f"{source.description}: none of the requested frames "
                         f"{format_frame_range(wanted)} exist (plate has "
                         f"{format_frame_range(source.frames) or 'no frames'}); check --frames")
    track = Track.load(job.track) if job.track else None
    if track is not None:
        check_track_covers(track, job, [f for f in wanted if f not in absent])
    # Validate the model (and the track against it) before any work or any worker starts.
    swapper = FaceSwapper(job.settings.config, spinning=not pipeline)
    if track is not None:
        swapper.check_track(track)
    if track is not None:  # a plate of another frame size: refused before any frame is written
        first = next(f for f in wanted if f not in absent)
        try:
            track.for_plate(source.geometry(first), first, job.track or "track")
        except MediaError:
            pass  # an unreadable frame is that frame's error, reported when it is rendered
    record = render_record(job, swapper, track_digest(job.track))
    pattern = check_output(job, source, wanted)
    summary.missing = sorted(absent)
    todo = []
    for f in wanted:
        if f in absent:
            continue
        if overwrite:
            if pattern.path(f).is_dir():
                raise OutputError(f"{pattern.path(f)}: output path is a folder; remove it or "
                                  "choose another --output")
            todo.append(f)
        elif is_rendered(pattern.path(f), record):
            summary.skipped.append(f)
        else:
            todo.append(f)
    prog = progress or (lambda it, total: it)
    sums: dict[str, float] = {}
    fit_errors: dict[int, float] = {}

    def note(f: int, diag: dict[str, Any] | str) -> None:
        if isinstance(diag, str):
            summary.errors.append(diag)
            return
        if diag.get("skipped"):
            summary.skipped.append(f)
            return
        summary.done.append(f)
        if not diag.get("swapped"):
            summary.no_face.append(f)
        if "fit_error" in diag:
            fit_errors[f] = float(diag["fit_error"])
        for k, v in diag.get("timings_ms", {}).items():
            sums[k] = sums.get(k, 0.0) + v

    if workers <= 1 or len(todo) <= 1:
        _WORKER.update(job=job, swapper=swapper, source=source, track=track, record=record,
                       overwrite=overwrite, pipeline=pipeline)
        for frame, diag in prog(_frame_results(todo), len(todo)):
            note(frame, diag)
    else:
        threads = max(1, (os.cpu_count() or 2) // workers)
        batches = [todo[i:i + 4] for i in range(0, len(todo), 4)]
        # spawn, not fork: a forked child inherits ONNX Runtime's and dlib's thread pools in
        # whatever state they were, which can deadlock.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init,
                                   initargs=(job, threads, record, overwrite, pipeline))
        try:
            results = pool.map(_worker_frames, batches)
            for batch in prog(results, len(batches)):
                for frame, diag in batch:
                    note(frame, diag)
        except BaseException:
            # Interrupted or failed: stop the workers now rather than letting them finish
            # their queue (a worker never leaves a partial frame: writes are atomic).
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    n = max(len(summary.done), 1)
    summary.timings_ms = {k: v / n for k, v in sums.items()}
    if summary.done:
        summary.fit = ShotFit.for_model(swapper.model, fit_errors)
    return summary
