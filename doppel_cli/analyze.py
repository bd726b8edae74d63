"""`doppel analyze`: the tracking pre-pass over a shot, written as a track cache (JSON).

Renders then read landmarks from the cache and do no detection, so every farm chunk sees the
same smoothed landmarks. The analysis itself resumes from `TRACK.analysis.json` if interrupted
(removed when an analysis runs to its end).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from doppel_cli.config_file import add_config_options
from engine.geometry.align import FACE_TYPES
from engine.geometry.detect import DETECTORS


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.shot.analyze import AnalyzeSettings

    d = AnalyzeSettings()
    p.add_argument("input", help="plate sequence (plate.####.exr), video or image")
    p.add_argument("-o", "--output", required=True, help="track cache to write (.json)")
    p.add_argument("--frames", help="frame range (farm syntax); default: the whole shot")
    p.add_argument("--first-frame", type=int, default=1, help="number of a video's first frame")
    p.add_argument("--detector", default=d.detector, choices=list(DETECTORS))
    p.add_argument("--max-side", type=int, default=d.max_side, help="detection image size")
    p.add_argument("--face-index", type=int, default=d.face_index,
                   help="start on this face, largest first")
    p.add_argument("--reference", help="image of the person to follow")
    p.add_argument("--smooth", type=int, default=d.smooth,
                   help="smoothing radius in frames (0 = off)")
    p.add_argument("--face-type", default="", choices=[""] + list(FACE_TYPES),
                   help="record the face type the track is meant for (render checks it)")
    p.add_argument("--model", help="swap model (.onnx): also check that it knows this plate's "
                   "face (model–plate fit, reconstruction error vs its training error)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a file at -o (or its .analysis.json) that Doppel did not write")
    p.add_argument("--quiet", action="store_true")
    add_config_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Analyse, then write the track only if it holds the face: a failed run (no face, no
    readable frame) leaves an existing track, and its folder, as they were."""
    from doppel_cli.progress import progress
    from engine.errors import NoFaceError
    from engine.geometry.track import ANALYSIS_MARK, TRACK_MARK
    from engine.io import format_frame_range, open_source, parse_frame_range
    from engine.io.atomic import remove_stale_temps
    from engine.io.frames import summarise_messages
    from engine.io.ownership import Claims
    from engine.io.source import present_frames
    from engine.shot.analyze import (
        AnalyzeSettings,
        analysis_cache_path,
        analyze_shot,
        finish_analysis,
        write_track,
    )

    model = None
    if args.model:  # issue 21: validated before the analysis, measured after it
        from engine.swap.infer import SwapModel

        model = SwapModel(args.model, "cpu")
    settings = AnalyzeSettings(detector=args.detector, max_side=args.max_side,
                               face_index=args.face_index, reference=args.reference or "",
                               smooth=args.smooth, face_type=args.face_type)
    out = Path(args.output)
    frames = parse_frame_range(args.frames) if args.frames else None
    source = open_source(args.input, args.first_frame)
    frames = source.frames if frames is None else frames
    present, absent = present_frames(source, frames, "analyse", "plate")
    cache = analysis_cache_path(out)
    # The ownership rule, before any work: a new file or a track (cache) Doppel wrote.
    claims = Claims(source.inputs() + ([Path(args.reference)] if args.reference else [])
                    + ([Path(args.model)] if args.model else []), args.overwrite)
    claims.file(out, TRACK_MARK)
    claims.file(cache, ANALYSIS_MARK)
    remove_stale_temps(out.parent, out.stem)
    errors: list[str] = []
    warnings: list[str] = []
    ticks = iter(progress(iter(int, 1), len(present), "analyse", quiet=args.quiet))
    track = analyze_shot(source, settings, lambda done, total: next(ticks, None),
                         numbers=present, cache=cache, errors=errors, warnings=warnings)
    if not track.faces:
        finish_analysis(out)  # ran to its end: nothing to resume
        first = f" ({len(errors)} frame errors, first: {errors[0]})" if errors else ""
        raise NoFaceError(f"the face was found on no frame of {source.description} "
                          f"{format_frame_range(frames)}{first}; {out} was not written")
    write_track(track, out)
    missing = [f for f in present if f not in track.faces]
    print(f"analyze {source.description} -> {out}")
    print(f"  frames: {len(frames)}, tracked: {len(track.faces)}, without the face: "
          f"{len(missing)}" + (f" ({format_frame_range(missing)})" if missing else ""))
    suspects = track.settings.get("suspects", "")
    if suspects:  # docs/track-editing.md: fix them with 'doppel track edit' / 'track fix'
        print(f"  suspect frames: {suspects} (fix: doppel track edit {args.input} {out})")
    if absent:
        print(f"  error: frames not in the plate: {format_frame_range(absent)}")
    for e in summarise_messages(errors):
        print(f"  error: {e}")
    for w in summarise_messages(warnings):
        print(f"  warning: {w}")
    if model is not None:  # issue 21: the model–plate fit check
        from engine.swap.fit import shot_fit
        from engine.swap.mouth_fit import shot_mouths

        tracked = [f for f in present if f in track.faces]
        print(f"  fit: {shot_fit(model, source.read(tracked), track).summary()}")
        print(f"  {shot_mouths(model.info, {f: track.landmarks(f) for f in tracked}).summary()}")
    return 1 if errors or absent else 0
