"""Face analysis: per frame (detect → 68 landmarks → pose → identity descriptor) and per shot.

`analyze_shot` is the one shot analysis (the `doppel analyze` command, the demo, the node's
Analyze button): faces on every frame (resumable through a cache file), one identity followed
through the shot, landmarks smoothed, and the settings recorded in the returned `Track`.

Convention: input is a scene-linear RGB float32 frame; detectors see its sRGB uint8 encoding.
Non-finite pixels follow the one rule of `engine.io.finite` (the count is reported as a warning).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import Cancelled, InputError, MediaError, SettingsError
from engine.geometry import fingerprint as fp
from engine.geometry.align import face_type
from engine.geometry.analyzer import FaceAnalyzer, reference_descriptor
from engine.geometry.detect import DETECTORS
from engine.geometry.health import format_ranges, track_health
from engine.geometry.track import (
    Track,
    attach_plate,
    select_track,
    smooth_track,
    window_text,
)
from engine.io import Frame, FrameSource, atomic_write_text, format_frame_range
from engine.io.display import DisplayFrame
from engine.runtime.sysinfo import pipeline_threads
from engine.shot.overlap import Later, overlapped
from engine.swap.params import bounds
from engine.types import Face

ANALYSIS_SCHEMA = 1


def analysis_cache_path(track: str | Path) -> Path:
    """The one name of a shot analysis's resume file, beside the track it makes:
    `face.json` -> `face.analysis.json` (any other name gets `.analysis.json` appended). The
    node's Analyze, `doppel analyze` and the demo use it alike.

    Lifetime: it exists only while an analysis is unfinished (cancelled, interrupted, crashed)
    and lets the next run resume; an analysis that runs to its end removes it (`write_track`,
    `finish_analysis`)."""
    track = Path(track)
    stem = track.name[:-len(".json")] if track.name.lower().endswith(".json") else track.name
    return track.with_name(stem + ".analysis.json")


def finish_analysis(track: str | Path) -> None:
    """An analysis for `track` ran to its end: its resume file goes."""
    analysis_cache_path(track).unlink(missing_ok=True)


def write_track(track: Track, path: str | Path) -> None:
    """Save a finished analysis's track atomically, then remove its resume file (after the
    save: a failed write keeps the per-frame work for the next run)."""
    track.save(path)
    finish_analysis(path)


class AnalysisCache:
    """Per-frame analysis results, persisted atomically so a long analysis resumes after a crash.

    A cache made with other detector settings or another source is ignored (recomputed).
    """

    def __init__(self, path: Path | None, key: dict[str, Any], source: str):
        self.path, self.key, self.source = path, key, source
        self.frames: dict[int, list[dict[str, Any]]] = {}
        # frame -> {"plate": hex, "faces": [hex per face]} (when fingerprints are asked for)
        self.prints: dict[int, dict[str, Any]] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                data = {}
            if (isinstance(data, dict) and data.get("schema") == ANALYSIS_SCHEMA
                    and data.get("key") == key and data.get("source") == source):
                self.frames = {int(k): v for k, v in data["frames"].items()}
                self.prints = {int(k): v for k, v in data.get("fingerprints", {}).items()}

    def save(self) -> None:
        if self.path is None:
            return
        data = {"schema": ANALYSIS_SCHEMA, "key": self.key, "source": self.source,
                "frames": {str(k): v for k, v in sorted(self.frames.items())}}
        if self.prints:
            data["fingerprints"] = {str(k): v for k, v in sorted(self.prints.items())}
        atomic_write_text(self.path, json.dumps(data))


def frame_prints(frame: Frame | DisplayFrame, rgb: np.ndarray,
                 faces: Sequence[Face]) -> dict[str, Any]:
    """The fingerprints of one analysed frame (engine.geometry.fingerprint) from its finite
    `rgb`: the whole frame and each face's landmark box, in the frame's display window."""
    rgb, origin, box = fp.plate_window(rgb, frame.geometry)
    shift = np.asarray(origin, np.float32)  # array pixels -> display-window pixels
    return {"plate": fp.encode(fp.thumbnail(rgb, box, origin)),
            "faces": [fp.encode(fp.thumbnail(rgb, fp.landmark_box(f.landmarks + shift), origin))
                      for f in faces]}


FrameHook = Callable[[DisplayFrame, list[Face]], "Later[None] | None"]
"""What a caller does with each analysed frame while it is in memory (extraction stages its
crops), given its faces as the cache holds them (rounded as `Face.to_json` rounds): runs on the
analysing thread; a returned `Later` runs on the writer thread."""


def analyze_frames(source: FrameSource, frames: Sequence[int], analyzer: FaceAnalyzer,
                   cache_path: Path | None, key: dict[str, Any], errors: list[str],
                   warnings: list[str], progress: Callable[..., Iterable[Any]] | None = None,
                   save_every: int = 10, cancel: Callable[[], bool] | None = None,
                   prints: dict[int, dict[str, Any]] | None = None,
                   on_frame: FrameHook | None = None) -> dict[int, list[Face]]:
    """Faces per readable frame (largest first), resuming from and updating `cache_path`.

    Unreadable frames are skipped with their one-line error appended to `errors`. `cancel` is
    polled before each frame; when it returns True the cache is saved and `Cancelled` raised.
    With `prints` (a dict to fill), each frame's fingerprints (`frame_prints`) are kept too.
    Frames are decoded (and display-encoded: `FrameSource.read_display`) on a read-ahead
    thread while the previous one is analysed, and `on_frame`'s writes run on a writer thread
    (engine.shot.overlap). The cache is saved every `save_every` frames and at least every
    tenth of the frames it holds, so saving a long shot's growing cache stays a small part of
    the work.
    """
    prog = progress or (lambda it, total, desc: it)
    cache = AnalysisCache(cache_path, key, source.description)
    todo = [f for f in frames if f not in cache.frames
            or (prints is not None and f not in cache.prints)]
    pending = 0

    def analyse(item: DisplayFrame | MediaError) -> Later[None] | None:
        nonlocal pending
        if cancel is not None and cancel():
            cache.save()
            raise Cancelled(f"analysis of {source.description} cancelled after "
                            f"{len(cache.frames)} of {len(frames)} frames; run it again to "
                            "resume")
        if isinstance(item, MediaError):
            errors.append(str(item))
            return None
        if item.nonfinite:
            warnings.append(f"frame {item.number} ({item.path}): {item.nonfinite} NaN/Inf "
                            "values replaced (NaN, -Inf -> 0, +Inf -> 1) for analysis")
        faces = analyzer.analyze_srgb(item.srgb8)
        entries = cache.frames[item.number] = [f.to_json() for f in faces]
        if prints is not None:
            cache.prints[item.number] = frame_prints(item, item.linear(), faces)
        pending += 1
        if pending >= max(save_every, len(cache.frames) // 10):
            cache.save()
            pending = 0
        if on_frame is None:
            return None
        # The faces as every later step sees them: read back from the cache's JSON form.
        return on_frame(item, [Face.from_json(e, item.path) for e in entries])

    results = overlapped(source.read_display(todo), analyse,
                         threads=source.reads_on_any_thread)
    try:
        for _ in prog(results, len(todo), "analyse"):
            pass
    finally:  # now, not when the generator is collected: its writes end before we return
        results.close()
    cache.save()
    if prints is not None:
        prints.update((f, cache.prints[f]) for f in frames if f in cache.prints)
    where = str(cache_path or "analysis")
    return {f: [Face.from_json(e, f"{where}, frame {f}") for e in cache.frames[f]]
            for f in frames if f in cache.frames}


@dataclass(frozen=True)
class AnalyzeSettings:
    """Every knob of the shot analysis, validated once; recorded in the track it makes."""

    detector: str = "centerface"
    max_side: int = 640  # detection runs on a copy this large at most (pixels)
    face_index: int = 0  # start on this face, largest first
    reference: str = ""  # image of the person to follow ("" = none)
    smooth: int = 3  # landmark smoothing radius in frames (0 = off)
    face_type: str = ""  # the face type the track is meant for (render checks it); "" = any

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise SettingsError(f"detector {self.detector!r} unknown; use one of "
                                f"{', '.join(DETECTORS)}")
        for name in ("max_side", "face_index", "smooth"):  # ranges: the parameter table's
            lo, hi = bounds(name)
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise SettingsError(f"--{name.replace('_', '-')} must be within {lo:g}..{hi:g}, "
                                    f"got {value!r}")
        if self.face_type:
            face_type(self.face_type)

    def cache_key(self) -> dict[str, Any]:
        """What changes the per-frame results: a cache made with another key is recomputed."""
        return {"detector": self.detector, "max_side": self.max_side,
                "describe": bool(self.reference), "nonfinite": "nan0-posinf1-neginf0",
                "fingerprint": fp.METHOD}


def follow_face(per_frame: Mapping[int, Sequence[Face]], face_index: int = 0,
                reference: np.ndarray | None = None, smooth: int = 0) -> Track:
    """One identity through a shot's per-frame faces: start on the `face_index`-th largest
    face (or the one nearest `reference`, an identity descriptor), follow it frame to frame,
    smooth its landmarks over `smooth` frames (0 = off). The one selection rule of
    `analyze_shot` and `doppel extract --select track`."""
    track = select_track(per_frame, face_index, reference)
    return smooth_track(track, smooth) if smooth else track


def analyze_shot(frames: FrameSource, settings: AnalyzeSettings,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None, *,
                 numbers: Sequence[int] | None = None, cache: str | Path | None = None,
                 analyzer: FaceAnalyzer | None = None, errors: list[str] | None = None,
                 warnings: list[str] | None = None) -> Track:
    """Track one face over a shot: the analysis behind `doppel analyze`, the demo and the node.

    `frames`: the shot (any `FrameSource`, e.g. `open_source("plate.####.exr")` or a host's
    clip); `numbers`: the frames to analyse (default: all of the source). `progress(done,
    total)` is called after each frame; `cancel()` is polled before each frame and, when it
    returns True, the work so far is saved to `cache` and `Cancelled` is raised. `cache`: a
    file that makes an interrupted analysis resume (kept per-frame results, keyed by the
    settings that change them). Unreadable frames are appended to `errors`, non-finite pixel
    counts to `warnings`. The returned track records the settings (source, frames, detector,
    smoothing, face type, ...) in `track.settings`; frames without the face are absent from it.
    """
    wanted = list(frames.frames if numbers is None else numbers)
    if not wanted:
        raise SettingsError(f"{frames.description}: no frames to analyse in the given range")
    if analyzer is None:
        # The analysis shares the cores with its reader thread: ONNX Runtime gets all but one
        # and sleeps between frames instead of spinning.
        analyzer = FaceAnalyzer.create(settings.detector, describe=bool(settings.reference),
                                       max_side=settings.max_side, threads=pipeline_threads(),
                                       spinning=False)
    reference = None
    if settings.reference:
        reference = reference_descriptor(settings.reference, analyzer)
    done = 0

    def counted(it: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
        nonlocal done
        for item in it:
            yield item
            done += 1
            if progress is not None:
                progress(done, total)

    check_one_plate(frames, wanted)  # before anything is written: no cache of a mixed plate
    prints: dict[int, dict[str, Any]] = {}
    per_frame = analyze_frames(frames, wanted, analyzer, Path(cache) if cache else None,
                               settings.cache_key(), [] if errors is None else errors,
                               [] if warnings is None else warnings, counted, cancel=cancel,
                               prints=prints)
    track = follow_face(per_frame, settings.face_index, reference, settings.smooth)
    attach_prints(track, per_frame, prints)
    # Landmarks into display-window pixels, plate geometry recorded (render maps and checks).
    track = attach_plate(track, frames, frames.description)
    track.settings.update(source=frames.description, frames=format_frame_range(wanted),
                          detector=settings.detector, max_side=settings.max_side,
                          face_type=settings.face_type, fingerprint=fp.METHOD)
    # The frames the tracker may have got wrong, in words, as analysed (before any hand edit;
    # `doppel track health` says what is suspect now): docs/track-editing.md.
    track.settings["suspects"] = format_ranges(track_health(track))
    return track


def attach_prints(track: Track, per_frame: Mapping[int, Sequence[Face]],
                  prints: Mapping[int, dict[str, Any]]) -> None:
    """Give each tracked frame its fingerprints: the frame's and the chosen face's."""
    for f, face in track.faces.items():
        got = prints.get(f)
        index = next((i for i, x in enumerate(per_frame.get(f, ())) if x is face), None)
        if got is not None and index is not None and index < len(got["faces"]):
            track.fingerprints[f] = {"frame": f, "plate": got["plate"],
                                     "face": got["faces"][index]}


def check_one_plate(source: FrameSource, frames: Sequence[int]) -> None:
    """Refuse, from the headers alone, a sequence whose frames have different display windows
    (two plates mixed in one folder), before any frame is analysed or anything written."""
    first = None
    for f in frames:
        try:
            geo = source.geometry(f)
        except MediaError:
            continue  # that frame's own error, reported when it is read
        if geo is None:
            continue
        if first is None:
            first = (f, geo)
        elif geo.display != first[1].display:
            raise InputError(f"{source.description}: frame {f} has display window "
                             f"{window_text(geo.display)}, frame {first[0]} "
                             f"{window_text(first[1].display)}; one plate per sequence "
                             "(nothing was written)")
