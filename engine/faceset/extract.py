"""Extraction (paper §3.1): footage → faceset of aligned crops with landmarks and pose.

Two passes, both resumable:
1. analysis — per frame: detect, 68 landmarks, pose (and identity descriptors when following a
   reference). Results go to `FACESET/.analysis.json`, saved atomically every few frames, so an
   interrupted run continues where it stopped.
2. writing — pick faces (all, or one identity tracked through the shot, optionally smoothed),
   align, warp the scene-linear frame into the crop, encode sRGB, write `faces/*.png` atomically,
   and the index last. Crops already on disk with the same matrix are not rewritten.

Each frame is decoded once where it can be: pass 1 decodes on a read-ahead thread, hands the
detector the frame's display encoding made without a float copy of the frame
(`engine.io.display`), and, when every face is kept as detected (`--select all`), makes the
crops while the frame is in memory and writes them on a writer thread as staged temp files
(`engine.faceset.crops`); pass 2 renames those into place and reads again only the frames whose
chosen landmarks differ from the detected ones (a tracked, smoothed identity), decoding only
the rows their crops read.

Per-frame problems (missing/corrupt frame, no face, NaN/Inf pixels) are recorded in the summary
and the run goes on; only problems that make the whole run impossible raise, and then before
anything is written. Into an existing faceset a run merges (see `extract`): it never removes a
face it did not make unless asked to (`prune`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacesetError, MediaError, SettingsError
from engine.faceset.crops import StagedCrops, aligned_crop
from engine.faceset.store import (
    FACESET_FOLDER,
    INDEX,
    FaceEntry,
    Faceset,
    crop_name,
    load_faceset,
)
from engine.geometry.align import align_matrix, crop_read_box, face_type
from engine.io import FrameSource, Geometry, format_frame_range, write_image
from engine.io.atomic import atomic_write_bytes, remove_stale_temps
from engine.io.display import DisplayFrame
from engine.io.frames import summarise_messages
from engine.io.ownership import Claims
from engine.io.sheets import draw_face
from engine.io.source import present_frames
from engine.runtime.sysinfo import pipeline_threads
from engine.shot.overlap import Later, overlapped
from engine.types import AlignedFace, Face

ANALYSIS = ".analysis.json"


@dataclass(frozen=True)
class ExtractSettings:
    """Every knob of `doppel extract`, validated once."""

    face_type: str = "full"
    size: int = 256
    bits: int = 8
    detector: str = "centerface"
    max_side: int = 640  # detection runs on a copy this large at most
    upsample: int = 1  # dlib: upsample for small faces
    select: str = "all"  # "all" faces per frame, or "track" one identity
    face_index: int = 0  # with select=track: which face to start from (largest = 0)
    reference: str | None = None  # with select=track: image of the person to follow
    smooth: int = 0  # temporal smoothing radius in frames (select=track only); 0 = off
    debug: bool = False

    def __post_init__(self) -> None:
        face_type(self.face_type)
        if not 32 <= self.size <= 2048:
            raise SettingsError(f"--size must be 32..2048 px, got {self.size}")
        if self.bits not in (8, 16):
            raise SettingsError(f"--bits must be 8 or 16, got {self.bits}")
        if self.select not in ("all", "track"):
            raise SettingsError(f"--select must be 'all' or 'track', got {self.select!r}")
        if self.smooth < 0:
            raise SettingsError(f"--smooth must be ≥ 0 frames, got {self.smooth}")
        if self.smooth and self.select != "track":
            raise SettingsError("--smooth needs --select track (smoothing follows one identity)")
        for name, lo, hi in (("face_index", 0, 99), ("max_side", 64, 16384), ("upsample", 0, 4),
                             ("smooth", 0, 1000)):
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise SettingsError(f"--{name.replace('_', '-')} must be within {lo}..{hi}, "
                                    f"got {value}")

    def analysis_key(self) -> dict[str, Any]:
        """Settings that change pass 1's results (a cache made with others is discarded)."""
        return {"detector": self.detector, "max_side": self.max_side, "upsample": self.upsample,
                "describe": self.reference is not None}

    def output_key(self) -> dict[str, Any]:
        """Settings a faceset is bound to: re-running into it with others is refused."""
        return {"face_type": self.face_type, "size": self.size, "bits": self.bits}


@dataclass
class ExtractSummary:
    frames_read: int = 0
    faces_found: int = 0
    faces_written: int = 0
    faces_kept: int = 0  # already on disk and unchanged
    faces_merged: int = 0  # from the existing faceset, not redone by this run (kept)
    faces_pruned: int = 0  # removed with prune
    missing: list[int] = field(default_factory=list)  # requested but not in the footage
    frames_without_face: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"frames read: {self.frames_read}",
            f"faces found: {self.faces_found}",
            f"crops written: {self.faces_written} (unchanged, kept: {self.faces_kept}; "
            f"other faces of the faceset kept: {self.faces_merged}"
            + (f"; pruned: {self.faces_pruned}" if self.faces_pruned else "") + ")",
            f"frames without a face: {len(self.frames_without_face)}"
            + (f" ({format_frame_range(self.frames_without_face)})"
               if self.frames_without_face else ""),
            f"errors: {len(self.errors) + bool(self.missing)}",
        ]
        if self.missing:
            out.append(f"  error: frames not in the footage: {format_frame_range(self.missing)}")
        out += [f"  error: {e}" for e in summarise_messages(self.errors)]
        out += [f"  warning: {w}" for w in summarise_messages(self.warnings)]
        return out


def extract(source: FrameSource, out_dir: str | Path, settings: ExtractSettings,
            frames: Iterable[int] | None = None, analyzer: Any = None,
            progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None,
            prune: bool = False, overwrite: bool = False) -> ExtractSummary:
    """Run both passes of extraction into `out_dir`; returns the run's summary.

    Into an existing faceset the run merges: faces it extracts again are replaced (atomically),
    every other entry and crop is kept. `prune` removes the entries (and crops) of faces this run
    did not choose, on the frames it analysed. A run that can read no frame writes nothing.
    The output follows the ownership rule (engine.io.ownership): a new or empty folder, or a
    faceset Doppel wrote, never inside the input; `overwrite` writes into another folder
    (replacing files at the faceset's paths).
    """
    from engine.geometry.analyzer import FaceAnalyzer, reference_descriptor
    from engine.shot.analyze import analyze_frames

    out = Path(out_dir)
    wanted = list(source.frames if frames is None else frames)
    present, absent = present_frames(source, wanted, "extract", "footage")
    Claims(source.inputs() + ([Path(settings.reference)] if settings.reference else []),
           overwrite).folder(out, FACESET_FOLDER)
    prog = progress or (lambda it, total, desc: it)
    summary = ExtractSummary()
    summary.missing = absent

    existing: Faceset | None = None
    if (out / INDEX).is_file():
        existing = load_faceset(out)
        bound = {k: existing.settings.get(k) for k in settings.output_key()}
        if bound != settings.output_key():
            raise FacesetError(
                f"{out}: faceset was extracted with {bound}, this run asks "
                f"{settings.output_key()}; use another output folder"
            )

    if analyzer is None:
        # The analysis shares the cores with its reader and writer threads: ONNX Runtime gets
        # all but one and sleeps between frames instead of spinning.
        analyzer = FaceAnalyzer.create(settings.detector, describe=settings.reference is not None,
                                       max_side=settings.max_side, upsample=settings.upsample,
                                       threads=pipeline_threads(), spinning=False)
    reference = (reference_descriptor(settings.reference, analyzer)
                 if settings.reference else None)

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, out / "faces"):
        remove_stale_temps(folder)
    cache = out / ANALYSIS
    old_cache = cache.read_bytes() if cache.is_file() else None

    # Pass 1: analysis (resumable), with every detected face's crop staged when every face is
    # kept as detected (pass 2 takes them; the debug overlays need pass 2's frames anyway).
    staged = StagedCrops(lambda f, k: out / crop_name(f, k), settings.size, settings.bits,
                         settings.face_type)
    stage = staged.stage if settings.select == "all" and not settings.debug else None
    try:
        # Stills turned upright give other landmarks than the same files read as stored
        # (extraction before it turned them): such a cache is not theirs.
        key = settings.analysis_key() | ({"upright": True} if source.upright else {})
        per_frame = analyze_frames(source, present, analyzer, cache, key,
                                   summary.errors, summary.warnings, prog, on_frame=stage)
        if not per_frame:  # nothing usable: leave no trace of this run
            if old_cache is None:
                cache.unlink(missing_ok=True)
            elif cache.read_bytes() != old_cache:
                atomic_write_bytes(cache, old_cache)
            if created:
                shutil.rmtree(out, ignore_errors=True)
            first = summary.errors[0] if summary.errors else "no frame could be read"
            raise MediaError(f"no frame of {source.description} could be read "
                             f"({len(summary.errors)} errors, first: {first})")
        return _choose_and_write(source, out, settings, per_frame, present, existing, prune,
                                 summary, staged, reference, prog)
    finally:
        staged.discard()
        if created and not any(p.is_file() for p in out.rglob("*")):
            # Interrupted before anything was kept (not even the analysis cache): the folder
            # this run made (with the empty one its staging made) goes, so running again
            # finds no stranger's folder.
            shutil.rmtree(out, ignore_errors=True)


def _choose_and_write(source: FrameSource, out: Path, settings: ExtractSettings,
                      per_frame: dict[int, list[Face]], present: list[int],
                      existing: Faceset | None, prune: bool, summary: ExtractSummary,
                      staged: StagedCrops, reference: np.ndarray | None,
                      prog: Callable[[Iterable[Any], int, str], Iterable[Any]]
                      ) -> ExtractSummary:
    """Pass 2: choose the faces, write their crops (staged ones renamed into place, the rest
    made from their frames read again), the index last, then prune."""
    from engine.shot.analyze import follow_face

    summary.frames_read = len(per_frame)
    summary.faces_found = sum(len(v) for v in per_frame.values())
    summary.frames_without_face = [f for f in present if f in per_frame and not per_frame[f]]

    # Selection: every face, or one identity (optionally smoothed).
    chosen: dict[int, list[tuple[int, np.ndarray, Face]]] = {}
    if settings.select == "all":
        for f, faces in per_frame.items():
            chosen[f] = [(k, face.landmarks, face) for k, face in enumerate(faces)]
    else:
        track = follow_face(per_frame, settings.face_index, reference, settings.smooth)
        for f in track.frames:
            chosen[f] = [(0, track.landmarks(f), track.faces[f])]
        lost = [f for f in per_frame if per_frame[f] and f not in track.faces]
        if lost:
            summary.warnings.append(f"identity not found on frames {format_frame_range(lost)}")

    # Pass 2: write crops (only those missing or changed), then the index.
    ft = face_type(settings.face_type)
    faceset = Faceset(out, settings.face_type, settings.size,
                      dict(asdict(settings), source=source.description))
    old = {e.key: e for e in (existing.entries if existing else [])}
    this_run = {(f, k) for f, picks in chosen.items() for k, _, _ in picks}
    plans: dict[int, list[FaceEntry]] = {}
    for f, picks in sorted(chosen.items()):
        src_file = source.path_of(f)
        for k, lm, face in picks:
            matrix = align_matrix(lm, settings.size, ft)
            # Faceset entries carry the one Face/AlignedFace JSON form (no identity descriptor).
            aligned = AlignedFace(replace(face.with_landmarks(lm), descriptor=None), matrix,
                                  settings.face_type, settings.size)
            entry = FaceEntry(file=crop_name(f, k), source=source.description, frame=f, face=k,
                              **aligned.to_json(), mask=None,
                              source_file=None if src_file is None else str(src_file.resolve()))
            prev = old.get((f, k))
            if prev is not None and prev.matrix == entry.matrix and faceset.crop_path(
                    entry).is_file():
                entry.mask = prev.mask  # a mask someone added to this face stays attached
                faceset.entries.append(entry)
                summary.faces_kept += 1
            else:
                plans.setdefault(f, []).append(entry)
    # Merge: every face of the existing faceset this run did not redo stays, unless pruned.
    analysed = set(per_frame)
    pruned: list[FaceEntry] = []
    for key, e in old.items():
        if key in this_run:
            continue
        if prune and e.frame in analysed:
            pruned.append(e)
        else:
            faceset.entries.append(e)
            summary.faces_merged += 1

    debug_dir = out / "debug"
    read_ok: set[int] = set()
    for f in sorted(plans):  # crops made in pass 1 with these matrices: into place
        left = []
        for entry in plans[f]:
            if staged.take(f, entry.face, np.asarray(entry.matrix), faceset.crop_path(entry)):
                faceset.entries.append(entry)
                summary.faces_written += 1
            else:
                left.append(entry)
        if left:
            plans[f] = left
        else:
            del plans[f]
            read_ok.add(f)

    def rows(f: int, geometry: Geometry) -> tuple[int, int] | None:
        """The rows of frame `f` its crops read (all of them for the debug overlay)."""
        h, w = geometry.data[3], geometry.data[2]
        if settings.debug:
            return (0, h)
        boxes = [crop_read_box(np.asarray(e.matrix), settings.size, (h, w)) for e in plans[f]]
        if any(b[3] <= b[1] or b[2] <= b[0] for b in boxes):
            return (0, h)  # a crop wholly outside: made from the whole frame
        return (min(b[1] for b in boxes), max(b[3] for b in boxes))

    def crops(item: DisplayFrame | MediaError) -> Later[None] | None:
        if isinstance(item, MediaError):
            summary.errors.append(str(item))
            return None
        read_ok.add(item.number)
        made = []
        for entry in plans[item.number]:
            made.append((faceset.crop_path(entry),
                         aligned_crop(item, np.asarray(entry.matrix), settings.size)))
            faceset.entries.append(entry)
            summary.faces_written += 1
        if settings.debug:
            img = item.srgb8
            for entry in plans[item.number]:
                img = draw_face(img, np.asarray(entry.landmarks), entry.bbox,
                                f"face {entry.face}")
            made.append((debug_dir / f"{item.number:06d}.jpg", img.astype(np.float32) / 255.0))

        def write() -> None:
            for path, pixels in made:
                write_image(path, pixels, bits=settings.bits if path.suffix == ".png" else 8)
        return Later(write)

    frames = sorted(plans)
    results = overlapped(source.read_display(frames, rows, display=settings.debug), crops,
                         threads=source.reads_on_any_thread)
    try:
        for _ in prog(results, len(frames), "write"):
            pass
    finally:  # now, not when the generator is collected: its writes end here
        results.close()
    for f in set(plans) - read_ok:  # could not re-read: keep what the faceset had there
        for entry in plans[f]:
            if entry.key in old:
                faceset.entries.append(old[entry.key])
    faceset.settings["summary"] = {"frames_read": summary.frames_read,
                                   "faces_found": summary.faces_found,
                                   "frames_without_face": summary.frames_without_face}
    faceset.save()
    # Pruned crops go only after the index no longer names them (and only inside the faceset).
    for e in pruned:
        for rel in (e.file, e.mask):
            if rel:
                faceset.path(rel).unlink(missing_ok=True)
    summary.faces_pruned = len(pruned)
    return summary
