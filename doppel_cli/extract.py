"""`doppel extract`: footage → faceset (detect, landmarks, track, smooth, align, write)."""

from __future__ import annotations

import argparse
from typing import Any

from doppel_cli.config_file import add_config_options
from engine.geometry.align import FACE_TYPES
from engine.geometry.detect import DETECTORS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="sequence (plate.%%04d.exr / plate.####.exr), video, image or "
                                 "folder of images")
    p.add_argument("-o", "--output", required=True, help="faceset folder to write")
    g = p.add_argument_group("alignment")
    g.add_argument("--face-type", default="full", choices=list(FACE_TYPES))
    g.add_argument("--size", type=int, default=256, help="aligned crop size in pixels")
    g.add_argument("--bits", type=int, default=8, choices=(8, 16), help="PNG bit depth")
    g = p.add_argument_group("detection")
    g.add_argument("--detector", default="centerface", choices=list(DETECTORS))
    g.add_argument("--max-side", type=int, default=640,
                   help="detect on a copy downscaled to this longer side (pixels)")
    g.add_argument("--upsample", type=int, default=1, help="dlib HOG upsampling for small faces")
    g = p.add_argument_group("identity and smoothing")
    g.add_argument("--select", default="all", choices=("all", "track"),
                   help="every face per frame, or one identity tracked through the shot")
    g.add_argument("--face-index", type=int, default=0,
                   help="with --select track: start from this face, largest first")
    g.add_argument("--reference", help="with --select track: image of the person to follow")
    g.add_argument("--smooth", type=int, default=0,
                   help="temporal landmark smoothing radius in frames (0 = off)")
    g = p.add_argument_group("frames and output")
    g.add_argument("--frames", help="frame range, e.g. 1001-1100, 1,3,5-7, 1001-1100x2")
    g.add_argument("--first-frame", type=int, default=1, help="number of a video's first frame")
    g.add_argument("--debug", action="store_true",
                   help="also write debug/ overlays with box and landmarks")
    g.add_argument("--prune", action="store_true",
                   help="into an existing faceset: remove faces of the analysed frames that this "
                        "run does not extract again (default: keep every face, merge)")
    g.add_argument("--overwrite", action="store_true",
                   help="write into a folder that is not a Doppel faceset (files at the "
                        "faceset's paths are replaced)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from doppel_cli.progress import progress
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source, parse_frame_range

    settings = ExtractSettings(
        face_type=args.face_type, size=args.size, bits=args.bits, detector=args.detector,
        max_side=args.max_side, upsample=args.upsample, select=args.select,
        face_index=args.face_index, reference=args.reference, smooth=args.smooth,
        debug=args.debug)
    frames = parse_frame_range(args.frames) if args.frames else None
    source = open_source(args.input, first_frame=args.first_frame, upright=True)

    def prog(it: Any, total: int, desc: str) -> Any:
        return progress(it, total, desc, quiet=args.quiet)

    summary = extract(source, args.output, settings, frames, progress=prog, prune=args.prune,
                      overwrite=args.overwrite)
    print(f"extract {source.description} -> {args.output}")
    for line in summary.lines():
        print(f"  {line}")
    return 1 if summary.errors or summary.missing else 0
