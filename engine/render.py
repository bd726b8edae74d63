"""`doppel render`: a shot (or a frame range of it, one farm chunk) through the FaceSwapper.

Per frame: read the plate (every channel), swap, write `R,G,B,A` (and every other input
channel) plus the `doppel.mask` layer (and `doppel.face.R/G/B` on request) to an EXR, atomically.
Metadata records the model, the resolved settings and the engine version, and nothing that
changes between runs, so rendering the same frames twice, or in other chunkings, gives
bit-identical files. A frame whose output already exists with Doppel's metadata is skipped
(resume after a kill); `overwrite` renders it again.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

from engine import __version__
from engine.errors import InputError, MediaError
from engine.io import SequencePattern, open_source, write_exr, write_image
from engine.io.source import FrameSource, Plate
from engine.pipeline import FaceSwapper, SwapSettings
from engine.track import Track


@dataclass
class RenderSummary:
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # already rendered (resume)
    no_face: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)  # mean per stage

    def lines(self) -> list[str]:
        from engine.io import format_frame_range as fr

        out = [f"rendered: {len(self.done)}", f"skipped (already done): {len(self.skipped)}",
               f"no face (passed through): {len(self.no_face)}"
               + (f" ({fr(self.no_face)})" if self.no_face else ""),
               f"errors: {len(self.errors)}"]
        return out + [f"  error: {e}" for e in self.errors]


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


def is_rendered(path: Path) -> bool:
    """True if `path` is a complete Doppel output (atomic writes: a present file is whole)."""
    if not path.is_file():
        return False
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        oiio.geterror()
        return False
    try:
        return inp.spec().getattribute("doppel/engine") is not None
    finally:
        inp.close()


def check_output(job: RenderJob, source: FrameSource, frames: Iterable[int]) -> SequencePattern:
    """Refuse outputs that would overwrite the input or cannot be written; one line each."""
    pattern = SequencePattern.parse(job.output)
    folder = Path(pattern.prefix).parent
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
        raise InputError(f"cannot write to output folder {folder} ({exc.strerror}); "
                         "choose a writable --output") from None
    return pattern


def _metadata(job: RenderJob, swapper: FaceSwapper, frame: int, diag: dict[str, Any]
              ) -> dict[str, Any]:
    info = swapper.model.info
    return {
        "doppel/engine": __version__,
        "doppel/model": Path(info.path).name,
        "doppel/model_meta": json.dumps(info.metadata, sort_keys=True),
        # Runtime knobs (threads, device) do not change pixels; leaving them out keeps outputs
        # bit-identical however a shot is split over workers and machines.
        "doppel/settings": json.dumps({k: v for k, v in job.settings.to_dict().items()
                                       if k not in ("threads", "device")}, sort_keys=True),
        "doppel/frame": frame,
        "doppel/face": "swapped" if diag.get("swapped") else diag.get("reason", "no face"),
        "doppel/nonfinite_fixed": int(diag.get("nonfinite_fixed", 0)),
    }


def render_plate(job: RenderJob, swapper: FaceSwapper, plate: Plate, track: Track | None,
                 target: Path) -> dict[str, Any]:
    """Swap one plate and write it; returns the frame's diagnostics."""
    # In place (out is the source): the plate array is this frame's own, read whole already.
    result = swapper.process(plate.pixels, plate.number, look=job.settings.look, track=track,
                             out=plate.pixels, channels=plate.channels,
                             want_face=job.face_layer)
    layers = [result.image, result.mask[..., None]]
    names = list(plate.channels) + ["doppel.mask"]
    if result.face is not None:  # unblended swapped face, for the compositor's own mix
        layers.append(result.face)
        names += ["doppel.face.R", "doppel.face.G", "doppel.face.B"]
    meta = _metadata(job, swapper, plate.number, result.diagnostics)
    pixels = np.concatenate(layers, axis=-1)
    if target.suffix.lower() == ".exr":
        write_exr(target, pixels, names, meta, half=job.half, compression=job.compression)
    else:
        from engine.colorspace import linear_to_srgb

        write_image(target, linear_to_srgb(pixels[..., :3]), bits=16
                    if target.suffix.lower() in (".png", ".tif", ".tiff") else 8)
    return result.diagnostics


_WORKER: dict[str, Any] = {}


def _worker_init(job: RenderJob, threads: int) -> None:
    _WORKER["job"] = job
    _WORKER["swapper"] = FaceSwapper(replace(job.settings.config, threads=threads))
    _WORKER["source"] = open_source(job.source, job.first_frame)
    _WORKER["track"] = Track.load(job.track) if job.track else None


def _worker_frames(frames: list[int]) -> list[tuple[int, dict[str, Any] | str]]:
    job, swapper, source, track = (_WORKER[k] for k in ("job", "swapper", "source", "track"))
    pattern = SequencePattern.parse(job.output)
    out: list[tuple[int, dict[str, Any] | str]] = []
    for item, f in zip(source.read_plates(frames), frames, strict=True):
        if isinstance(item, MediaError):
            out.append((f, str(item)))
            continue
        out.append((f, render_plate(job, swapper, item, track, pattern.path(f))))
    return out


def render(job: RenderJob, frames: list[int] | None = None, workers: int = 1,
           overwrite: bool = False,
           progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None
           ) -> RenderSummary:
    """Render `frames` (default: all of the source) of `job`; returns the summary."""
    source = open_source(job.source, job.first_frame)
    wanted = list(source.frames if frames is None else frames)
    pattern = check_output(job, source, wanted)
    track = Track.load(job.track) if job.track else None
    summary = RenderSummary()
    todo = []
    for f in wanted:
        if not overwrite and is_rendered(pattern.path(f)):
            summary.skipped.append(f)
        else:
            todo.append(f)
    # Validate the model (and the track against it) before any work or any worker starts.
    swapper = FaceSwapper(job.settings.config)
    if track is not None:
        swapper.check_track(track)
    prog = progress or (lambda it, total: it)
    sums: dict[str, float] = {}

    def record(f: int, diag: dict[str, Any] | str) -> None:
        if isinstance(diag, str):
            summary.errors.append(diag)
            return
        summary.done.append(f)
        if not diag.get("swapped"):
            summary.no_face.append(f)
        for k, v in diag.get("timings_ms", {}).items():
            sums[k] = sums.get(k, 0.0) + v

    if workers <= 1 or len(todo) <= 1:
        _WORKER.update(job=job, swapper=swapper, source=source, track=track)
        for f in prog(todo, len(todo)):
            for frame, diag in _worker_frames([f]):
                record(frame, diag)
    else:
        threads = max(1, (os.cpu_count() or 2) // workers)
        batches = [todo[i:i + 4] for i in range(0, len(todo), 4)]
        # spawn, not fork: a forked child inherits ONNX Runtime's and dlib's thread pools in
        # whatever state they were, which can deadlock.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(job, threads)) as pool:
            results = pool.map(_worker_frames, batches)
            for batch in prog(results, len(batches)):
                for frame, diag in batch:
                    record(frame, diag)
    n = max(len(summary.done), 1)
    summary.timings_ms = {k: v / n for k, v in sums.items()}
    return summary
