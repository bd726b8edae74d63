"""`doppel analyze`: the tracking pre-pass over a shot, written as a track cache (JSON).

Renders then read landmarks from the cache and do no detection, so every farm chunk sees the
same smoothed landmarks. The analysis itself resumes from `TRACK.analysis.json` if interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.align import FACE_TYPES
from engine.detect import DETECTORS


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.analyze import AnalyzeSettings

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
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.analyze import AnalyzeSettings, analyze_shot
    from engine.io import format_frame_range, open_source, parse_frame_range

    settings = AnalyzeSettings(detector=args.detector, max_side=args.max_side,
                               face_index=args.face_index, reference=args.reference or "",
                               smooth=args.smooth, face_type=args.face_type)
    source = open_source(args.input, args.first_frame)
    frames = parse_frame_range(args.frames) if args.frames else source.frames
    out = Path(args.output)
    errors: list[str] = []
    warnings: list[str] = []
    with tqdm(total=len(frames), desc="analyse", unit="frame", disable=args.quiet,
              file=sys.stderr) as bar:
        track = analyze_shot(source, settings, lambda done, total: bar.update(1),
                             numbers=frames, cache=out.with_suffix(".analysis.json"),
                             errors=errors, warnings=warnings)
    track.save(out)
    missing = [f for f in frames if f not in track.faces]
    print(f"analyze {source.description} -> {out}")
    print(f"  frames: {len(frames)}, tracked: {len(track.faces)}, without the face: "
          f"{len(missing)}" + (f" ({format_frame_range(missing)})" if missing else ""))
    for e in errors:
        print(f"  error: {e}")
    for w in warnings:
        print(f"  warning: {w}")
    if not track.faces:
        print(f"doppel analyze: error: the face was found on no frame of {source.description}",
              file=sys.stderr)
        return 2
    return 1 if errors else 0
