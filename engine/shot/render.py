"""`doppel render`: a shot (or a frame range of it, one farm chunk) through the frame layer.

Per frame: read the plate (every channel), swap it through `engine.shot.frame.FrameLayer` (the
same per-frame rules and pixels as the node), write the output layers (`engine.shot.layers`)
atomically. Resume: a frame whose output exists is skipped only when its record matches this
run's (`engine.shot.resume`); an output made with another model or settings, or a file Doppel
did not write, stops the run before any work with an error naming the difference; `overwrite`
renders such frames again. With `workers > 1` the frames go to a process pool
(`engine.shot.workers`) where each process loads the model once; stale temp files of dead runs
are removed on start.
"""

from __future__ import annotations

import errno
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import OpenImageIO as oiio

from engine.errors import (
    DiskFullError,
    DoppelError,
    InputError,
    LayoutError,
    MediaError,
    OutputError,
    SettingsError,
)
from engine.geometry.track import Track
from engine.io import SequencePattern, format_frame_range, open_source
from engine.io.atomic import remove_stale_temps
from engine.io.image import Geometry, check_layout
from engine.io.ownership import Claims
from engine.io.source import FrameSource, Plate, present_frames
from engine.shot import layers as layers_mod
from engine.shot.claim import SequenceClaim
from engine.shot.frame import FrameLayer
from engine.shot.layers import REGIONS, OutputFormat, frame_metadata
from engine.shot.overlap import Later, ReadAhead, overlapped
from engine.shot.resume import is_rendered, render_record, track_digest
from engine.shot.startup import ModelLoad
from engine.shot.workers import run_batches
from engine.swap.enhance import check_pair, read_enhancer_info
from engine.swap.fit import ShotFit
from engine.swap.infer import ModelInfo, read_mask_info
from engine.swap.models import read_swap_info
from engine.swap.mouth_fit import ShotMouths, shot_mouths
from engine.swap.pipeline import FaceSwapper, SwapSettings, check_face_types

__all__ = ["REGIONS", "RenderJob", "RenderSummary", "ShotRenderer", "render"]


@dataclass
class RenderSummary:
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already rendered (resume)
    missing: list[int] = field(default_factory=list)  # requested but not in the plate
    no_face: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know, not errors
    # Frames a bug failed on (also in `errors`): their tracebacks, for the log (exit 3).
    internal: dict[int, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)  # mean per stage
    fit: ShotFit | None = None  # model–plate fit of the rendered frames (engine.swap.fit)
    mouths: ShotMouths | None = None  # plate mouth shapes the source never shows (with a track)

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
        if self.fit is not None:
            out.append(self.fit.summary())
        if self.mouths is not None:
            out.append(self.mouths.summary())
        return out + [f"note: {n}" for n in self.notes]


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

    @property
    def format(self) -> OutputFormat:
        return OutputFormat(self.face_layer, self.half, self.compression, self.region)

    @property
    def keeps_half(self) -> bool:
        """Half plates stay float16 from read to write: the output is half EXR, so every value
        the swap does not change is written as read, and those it does are rounded to half by
        numpy where OpenImageIO rounded them before, the same way (to nearest even: tested)."""
        return self.half and self.output.lower().endswith(".exr")

    def record(self, track_sha: str, model: tuple[ModelInfo, bool] | None = None
               ) -> dict[str, Any]:
        """This render's resume record (`engine.shot.resume.render_record`); reads only the
        models' metadata and digests, no session (`model`: the swap model's info and whether
        it takes morph, when the caller has read them already)."""
        config = self.settings.config
        model_info, morph = model or read_swap_info(config.model, config.face_type)
        xseg = read_mask_info(config.xseg)[0] if config.xseg else None
        enhancer = read_enhancer_info(config.enhancer)[0] if config.enhancer else None
        if enhancer is not None:
            check_pair(enhancer, model_info)
        return render_record(self.settings, self.format.record(), model_info, xseg, track_sha,
                             morph, enhancer)


def check_output(job: RenderJob, source: FrameSource, frames: Iterable[int]) -> SequencePattern:
    """Refuse outputs that would overwrite an input (plate, track, models: the ownership rule,
    engine.io.ownership) or cannot be written; one line each."""
    pattern = SequencePattern.parse(job.output)
    folder = pattern.folder
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write to output folder {folder}: it is a file; choose "
                          "another --output")
    config = job.settings.config
    claims = Claims(source.inputs() + [Path(p) for p in (job.track, config.model, config.xseg,
                                                         config.enhancer) if p])
    for f in frames:
        claims.not_an_input(pattern.path(f), "render frame")
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
    remove_stale_temps(folder, pattern.head)
    return pattern


def check_track_covers(track: Track, job: RenderJob, frames: list[int]) -> None:
    """Refuse, before any work, a track analysed over none of the frames to render (another
    shot's track). Frames outside a track that covers some of them are each refused by the
    frame layer's rule (`engine.shot.frame.refuse_unanalysed`): the others are rendered, so a
    farm chunk never loses good frames because of an untracked one."""
    analysed = track.analysed()
    if frames and not analysed.intersection(frames):
        have = format_frame_range(sorted(analysed)) or "no frames"
        raise InputError(f"{job.track}: track covers frames {have}; frames "
                         f"{format_frame_range(frames)} were never analysed (another shot's "
                         "track?); run 'doppel analyze' over them or narrow --frames")


def check_plate_size(track: Track, source: FrameSource, frames: list[int], where: str) -> None:
    """Refuse, before any work, a plate of another frame size than the track's. One frame is
    read for it; only when that frame is refused are the others asked, so one odd frame is that
    frame's error (the frame layer refuses it) and the rest of a chunk is still rendered."""
    first_error: InputError | None = None
    for f in frames:
        try:
            track.for_plate(source.geometry(f), f, where)
            return
        except MediaError:
            if first_error is None:
                return  # an unreadable frame is that frame's error, reported when rendered
        except InputError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


def check_plate_layout(source: FrameSource, frames: list[int]) -> list[str]:
    """Refuse, before any work, plate files laid out as the render cannot use (several parts:
    all but one would be lost; no R, G, B): a sequence is written alike throughout, so the
    first readable frame's header says it for all (LayoutError, exit 2, nothing written). An
    unreadable frame is that frame's error, reported when rendered. Returns notes for the
    summary: a single-part stereo plate has its first (hero) view swapped only."""
    for f in frames:
        path = source.path_of(f)
        if path is None:  # a video: decoded to RGB
            return []
        try:
            views = check_layout(path)
        except LayoutError as exc:
            raise LayoutError(f"frame {f}: {exc}") from None
        except MediaError:
            continue
        if not views:
            return []
        return [f"the plate is stereo (views {', '.join(views)}): only the {views[0]} view "
                "(R, G, B) is swapped; the other views' channels pass through unchanged (render "
                "each view as a plate of its own to swap them)"]
    return []


# What a render writes: scene-linear EXR, or display-encoded PNG/TIFF (16 bits) and JPEG (8).
# Other formats OpenImageIO can write (.hdr, .dpx, .tga, .webp...) would get the display path's
# 8-bit sRGB without alpha or the mask, a wrong frame for a linear format like .hdr: refused.
OUTPUT_SUFFIXES = (".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg")


def check_region(job: RenderJob) -> None:
    """Refuse an output format the render does not write, and a face-region output that could
    not be merged over the plate."""
    suffix = Path(job.output).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        kind = suffix or "files without an extension"
        raise SettingsError(f"--output {job.output}: cannot write {kind}; give one of "
                            f"{', '.join(OUTPUT_SUFFIXES)} (.exr keeps scene-linear values, "
                            "every channel and the mask)")
    if job.region not in REGIONS:
        raise SettingsError(f"--region {job.region!r} unknown; use one of {', '.join(REGIONS)}")
    if job.region == "face":
        if not job.output.lower().endswith(".exr"):
            raise SettingsError(f"--region face writes a data window only EXR keeps; give an "
                                f".exr --output (got {job.output})")
        if job.settings.look.output != "comp":
            raise SettingsError(f"--region face writes the swap to merge over the plate; it "
                                f"needs --view comp (got {job.settings.look.output!r})")


def set_io_threads(threads: int) -> None:
    """OpenImageIO's and OpenEXR's thread pools (decode/encode of one file's chunks): one per
    core by default, which a worker process must share with its siblings."""
    oiio.attribute("threads", max(1, threads))
    oiio.attribute("exr_threads", max(1, threads))


FrameResult = tuple[int, "dict[str, Any] | str"]  # diagnostics, or the frame's error in words


def _frame_error(f: int, exc: Exception) -> FrameResult:
    if isinstance(exc, DiskFullError):  # the run's error, not the frame's: every write fails
        raise exc
    if not isinstance(exc, DoppelError):
        # A bug that showed on this frame: the frame's error with its traceback (the CLI
        # writes it to a log and exits 3 once the other frames are done).
        tb = "".join(traceback.format_exception(exc))
        return (f, {"internal": f"frame {f}: internal error ({type(exc).__name__}: "
                                f"{(str(exc).splitlines() or [''])[0]})", "traceback": tb})
    return (f, f"frame {f}: {exc}" if f"frame {f}" not in str(exc) else str(exc))


class ShotRenderer:
    """One process's render of a job's frames: the frame layer, the source, the record."""

    def __init__(self, job: RenderJob, layer: FrameLayer, source: FrameSource,
                 record: dict[str, Any], overwrite: bool = False, overlap: bool = True):
        self.job, self.layer, self.source, self.record = job, layer, source, record
        self.overwrite, self.overlap = overwrite, overlap
        self.format = job.format
        self.pattern = SequencePattern.parse(job.output)

    @classmethod
    def open(cls, job: RenderJob, threads: int, record: dict[str, Any], overwrite: bool,
             overlap: bool) -> ShotRenderer:
        """A worker process's renderer: its own model load, source and track."""
        set_io_threads(threads)
        # An overlapped worker's reader and writer threads need the cores ORT would spin on.
        swapper = FaceSwapper(replace(job.settings.config, threads=threads),
                              spinning=not overlap)
        track = Track.load(job.track) if job.track else None
        layer = FrameLayer(swapper, job.settings.look, track, job.track or "track")
        return cls(job, layer, open_source(job.source, job.first_frame), record, overwrite,
                   overlap)

    def already_done(self, target: Path) -> bool:
        """Another farm job on the same output may have written this frame since the run
        started: the same render is skipped, a different one is this frame's error."""
        return not self.overwrite and target.exists() and is_rendered(target, self.record)

    def swap_plate(self, plate: Plate, target: Path) -> layers_mod.FrameWrite:
        """Swap one plate (in place: the plate's array becomes the output) and return what to
        write. Raises MediaError for a plate the output format cannot keep."""
        geo = plate.geometry
        if geo is not None and not geo.is_simple and target.suffix.lower() != ".exr":
            raise MediaError(f"frame {plate.number}: plate has data window {geo.data} and "
                             f"display window {geo.display}; only an EXR output keeps them "
                             "(use .exr)")
        rows = None
        if self.job.region == "face" and self.layer.track is not None and geo is not None:
            rows = self.face_rows()(plate.number, geo) or (0, 0)  # what the reader decoded
        # In place (out is the source): the plate array is this frame's own.
        result = self.layer.swap(plate.number, plate.pixels, channels=plate.channels,
                                 geometry=geo, out=plate.pixels, rows=rows,
                                 composite=self.format.region != "face")  # face: RGBA of it
        meta = frame_metadata(self.layer.swapper.model.info, plate.number, result.diagnostics,
                              self.record)
        return layers_mod.frame_write(self.format, result, plate.channels, geo, plate.header,
                                      target, meta, plate.formats)

    def face_rows(self) -> Callable[[int, Geometry], tuple[int, int] | None]:
        """For a face-region render with a track: the plate rows the swap reads (its ROI's),
        so the rest of the frame is never decoded; None (no rows) where there is no face."""
        def rows(frame: int, geometry: Geometry) -> tuple[int, int] | None:
            shape = (geometry.data[3], geometry.data[2])
            try:
                box = self.layer.roi(frame, geometry, shape)
            except InputError:
                return (0, shape[0])  # read it all: the swap names the problem as usual
            return (box[1], box[3]) if box is not None else None
        return rows

    @staticmethod
    def read_ahead_of(source: FrameSource, frames: list[int], keep_half: bool = False
                      ) -> ReadAhead[tuple[Plate | MediaError, int]]:
        """The plates of `frames` (whole) already being read on a thread: a render starts it
        while its model loads (engine.shot.startup) and hands it to `results`."""
        return ReadAhead(zip(source.read_plates(frames, keep_half=keep_half), frames,
                             strict=True), 2)

    def results(self, frames: list[int],
                plates: ReadAhead[tuple[Plate | MediaError, int]] | None = None
                ) -> Iterator[FrameResult]:
        """Render `frames`; one result per frame, in order, as each is written. Overlapped
        (the default): the next plates are decoded on a read-ahead thread and the previous
        frame encoded on a writer thread while this one is swapped (engine.shot.overlap); the
        files are the same as the serial loop's (`overlap=False`). `plates`: those frames'
        plates being read already (`read_ahead`)."""
        fmt = self.format

        def write(f: int, frame: layers_mod.FrameWrite) -> FrameResult:
            try:
                return (f, layers_mod.write_frame(fmt, frame))
            except Exception as exc:  # noqa: BLE001 - one frame's failure; the rest go on
                return _frame_error(f, exc)

        def compute(pair: tuple[Plate | MediaError, int]
                    ) -> FrameResult | Later[FrameResult]:
            item, f = pair
            if isinstance(item, MediaError):
                return (f, str(item))
            target = self.pattern.path(f)
            try:
                if self.already_done(target):
                    return (f, {"skipped": True})
                frame = self.swap_plate(item, target)
            except Exception as exc:  # noqa: BLE001 - a frame's own problem (a rule, its file,
                # a bug that shows on it): that frame's error, the rest go on (a full disk is
                # the run's: _frame_error raises it)
                return _frame_error(f, exc)
            return Later(lambda: write(f, frame))

        rows = (self.face_rows() if self.job.region == "face" and self.layer.track is not None
                else None)
        pairs = plates if plates is not None else zip(
            self.source.read_plates(frames, rows, keep_half=self.job.keeps_half), frames,
            strict=True)
        if self.overlap:
            yield from overlapped(pairs, compute, read_ahead=2, write_behind=1)
            return
        for pair in pairs:
            result = compute(pair)
            yield result.run() if isinstance(result, Later) else result


def _render_batch(renderer: ShotRenderer, frames: list[int]) -> list[FrameResult]:
    return list(renderer.results(frames))


def check_track(source: FrameSource, track: Track, where: str, frames: list[int],
                region: str) -> None:
    """The track validated as input, before the first write: every frame's entry
    (`Track.check_entry`: no pixels, no headers), then the first tracked frame's pixels against
    its fingerprint (`Track.check_pixels`; for a face-region render only the face's rows are
    decoded), so a damaged or another shot's track is refused whole (exit 2, nothing written).
    The frame layer's rules check every frame again as it is rendered."""
    for f in frames:
        track.check_entry(f, None, where)
    # An unedited frame says whether this is the track's plate; a hand-keyed frame made on
    # another plate is the frame rule's to refuse, by name (engine.shot.frame).
    first = next((f for f in frames if f in track.faces and f not in track.keys), None)
    if first is None or not track.verified:
        return

    def face_rows(frame: int, geo: Geometry) -> tuple[int, int]:
        lm = track.faces[first].landmarks
        top = geo.offset[1]
        return (int(lm[:, 1].min()) - top - 1, int(lm[:, 1].max()) - top + 2)
    rows = face_rows if region == "face" else None
    for plate in source.read_plates([first], rows):
        if isinstance(plate, MediaError) or plate.geometry is None:
            continue
        span = rows(first, plate.geometry) if rows is not None else None
        if span is not None:
            span = (max(0, span[0]), max(0, min(plate.pixels.shape[0], span[1])))
        track.check_pixels(first, plate.pixels, plate.geometry, where, span)


def render(job: RenderJob, frames: list[int] | None = None, workers: int = 1,
           overwrite: bool = False,
           progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
           overlap: bool = True) -> RenderSummary:
    """Render `frames` (default: all of the source) of `job`; returns the summary.

    Everything that can be refused is refused before the first write: settings, model (its
    metadata), track (face type, frames covered, plate size), output. `overlap=False` runs
    read, swap and write of each frame one after another (the files are the same; for
    measurements and debugging)."""
    check_region(job)
    source = open_source(job.source, job.first_frame)
    wanted = list(source.frames if frames is None else frames)
    present, absent = present_frames(source, wanted, "render", "plate")
    track = Track.load(job.track) if job.track else None
    if track is not None:
        check_track_covers(track, job, present)
    model = read_swap_info(job.settings.config.model, job.settings.config.face_type)
    check_face_types(job.settings.config, model[0], track)
    # The one model load of this process (a pool's workers load their own) runs on a thread
    # while the job is checked and the first plates are read (engine.shot.startup).
    loading = None if workers > 1 else ModelLoad(job.settings.config, not overlap,
                                                 job.settings.look)
    try:
        return _render_checked(job, source, track, present, absent, wanted, model, loading,
                               workers, overwrite, progress, overlap)
    finally:
        if loading is not None:  # an early exit (refused, Ctrl-C) waits for the loading thread
            loading.wait()


def _render_checked(job: RenderJob, source: FrameSource, track: Track | None,
                    present: list[int], absent: list[int], wanted: list[int],
                    model: tuple[ModelInfo, bool], loading: ModelLoad | None, workers: int,
                    overwrite: bool,
                    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None,
                    overlap: bool) -> RenderSummary:
    """`render` once the model is loading: the track and output checks, the claim, the frames."""
    notes = check_plate_layout(source, present)
    if track is not None:  # a plate of another frame size, a damaged or another shot's track
        check_plate_size(track, source, present, job.track or "track")
        check_track(source, track, job.track or "track", present, job.region)
        if not track.verified:
            notes.append(f"{job.track}: made before tracks held plate fingerprints, so its "
                         "frames are not checked against the plate; run 'doppel analyze' again "
                         "to add them")
    record = job.record(track_digest(job.track), model)
    pattern = check_output(job, source, wanted)
    with SequenceClaim(pattern, record):  # one writer per sequence: other settings refused
        summary = _render_claimed(job, source, track, present, record, pattern, workers,
                                  overwrite, progress, overlap, model[0], loading)
    summary.missing = sorted(absent)
    summary.notes = notes + summary.notes
    return summary


def _render_claimed(job: RenderJob, source: FrameSource, track: Track | None,
                    present: list[int], record: dict[str, Any], pattern: SequencePattern,
                    workers: int, overwrite: bool,
                    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None,
                    overlap: bool, model: ModelInfo, loading: ModelLoad | None
                    ) -> RenderSummary:
    """`render` once its output is claimed: resume check, then the frames (`loading`: the
    model being loaded on a thread, None for a pool whose workers load their own)."""
    pool = workers > 1
    summary = RenderSummary()
    todo = []
    for f in present:
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
    as_text: dict[str, None] = {}  # plate header attributes written as text, in order

    def note(f: int, diag: dict[str, Any] | str) -> None:
        if isinstance(diag, str):
            summary.errors.append(diag)
            return
        if "internal" in diag:
            summary.errors.append(diag["internal"])
            summary.internal[f] = diag["traceback"]
            return
        if diag.get("skipped"):
            summary.skipped.append(f)
            return
        summary.done.append(f)
        if not diag.get("swapped"):
            summary.no_face.append(f)
        if "fit_error" in diag:
            fit_errors[f] = float(diag["fit_error"])
        as_text.update(dict.fromkeys(diag.get("header_as_text", ())))
        for k, v in diag.get("timings_ms", {}).items():
            sums[k] = sums.get(k, 0.0) + v

    if not pool or len(todo) <= 1:  # the one model load of this process
        early = None
        if loading is None:
            loading = ModelLoad(job.settings.config, not overlap, job.settings.look)
        elif overlap and todo and not (job.region == "face" and track is not None):
            # Whole plates need no model to be read: start while it loads.
            early = ShotRenderer.read_ahead_of(source, todo, job.keeps_half)
        try:
            layer = FrameLayer(loading.result(), job.settings.look, track, job.track or "track")
            renderer = ShotRenderer(job, layer, source, record, overwrite, overlap)
            for frame, diag in prog(renderer.results(todo, early), len(todo)):
                note(frame, diag)
        finally:
            if early is not None:
                early.close()
    else:
        threads = max(1, (os.cpu_count() or 2) // workers)
        batches = [todo[i:i + 4] for i in range(0, len(todo), 4)]
        results = run_batches(batches, workers, ShotRenderer.open,
                              (job, threads, record, overwrite, overlap), _render_batch)
        try:
            for batch in prog(results, len(batches)):
                for frame, diag in batch:
                    note(frame, diag)
        finally:  # workers stopped mid-write (an error, Ctrl-C) leave temps of dead processes
            results.close()
            remove_stale_temps(pattern.folder, pattern.head)
    n = max(len(summary.done), 1)
    summary.timings_ms = {k: v / n for k, v in sums.items()}
    if as_text:
        summary.notes.append(f"plate header attributes written as text (OpenImageIO's Python "
                             f"binding cannot write their type): {', '.join(as_text)}")
    if summary.done:
        summary.fit = ShotFit.for_info(model, fit_errors)
        if track is not None:
            summary.mouths = shot_mouths(model, {f: track.landmarks(f) for f in track.faces},
                                         report=summary.done)
    return summary
