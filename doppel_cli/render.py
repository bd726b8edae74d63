"""`doppel render`: plate frames → swapped EXRs (frame ranges, chunks, resume, workers)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from doppel_cli.config_file import add_config_options
from engine.io.image import EXR_COMPRESSIONS
from engine.shot.render import REGIONS
from engine.swap.params import BY_NAME, PARAMS
from engine.swap.settings import EngineConfig, SwapLook, SwapSettings

# Help texts and choices come from the parameter table the node and gizmo use too; the CLI
# keeps mask modes free-form (any combination of terms), the node offers the usual ones.
_CHOICES = {name: BY_NAME[name].choices for name in ("output", "blend", "color", "mask_units")}
_HELP = {p.name: p.hint for p in PARAMS}


# Look knobs first (what a user tunes), then the engine's configuration.
_FIELDS = fields(SwapLook) + fields(EngineConfig)


def _dest(name: str) -> str:
    """SwapSettings.output (the view) would clash with the output path: it is --view here."""
    return "view" if name == "output" else name


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="plate: sequence (plate.####.exr), video or image")
    p.add_argument("-o", "--output", required=True,
                   help="output pattern, e.g. out/swap.####.exr (PNG/TIFF/JPEG write sRGB RGB)")
    p.add_argument("--track", help="track cache from 'doppel analyze' (no detection then)")
    p.add_argument("--frames", help="frame range, farm syntax (1001-1100, 1,3,5-7, 1001-1100x2)")
    p.add_argument("--first-frame", type=int, default=1, help="number of a video's first frame")
    p.add_argument("--chunk-start", type=int,
                   help="farm chunk: render only frames from here (with --chunk-size)")
    p.add_argument("--chunk-size", type=int, default=0, help="farm chunk length in frames")
    p.add_argument("--workers", type=int, default=1, help="frames rendered in parallel")
    p.add_argument("--overwrite", action="store_true", help="render frames already done again")
    p.add_argument("--face-layer", action="store_true", help="add doppel.face.R/G/B layers")
    p.add_argument("--float", action="store_true", help="32-bit float EXR (default half)")
    p.add_argument("--compression", default="zip", choices=EXR_COMPRESSIONS)
    p.add_argument("--region", default="full", choices=REGIONS,
                   help="full: the whole plate with the swap; face: only the region the swap "
                        "changed, premultiplied RGBA + doppel.mask in a data window (EXR), to "
                        "merge over the plate")
    p.add_argument("--no-overlap", dest="overlap", action="store_false",
                   help="read, swap and write each frame in turn instead of overlapping them "
                        "on threads (same files; for measurements)")
    # The flag's old name (it never meant engine/swap/pipeline.py): kept for scripts.
    p.add_argument("--no-pipeline", dest="overlap", action="store_false",
                   help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true")
    g = p.add_argument_group("swap settings")
    defaults = SwapSettings().to_dict()
    for f in _FIELDS:
        kind = type(defaults[f.name])
        flag = "--view" if f.name == "output" else f"--{f.name.replace('_', '-')}"
        g.add_argument(flag, dest=_dest(f.name), type=kind,
                       default=defaults[f.name], choices=_CHOICES.get(f.name),
                       help=_HELP.get(f.name, ""),
                       required=f.name == "model")
    add_config_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from doppel_cli.progress import progress
    from engine.errors import SettingsError
    from engine.io import parse_frame_range
    from engine.shot.render import RenderJob, render

    if not 1 <= args.workers <= 64:
        raise SettingsError(f"--workers must be within 1..64, got {args.workers}")
    if args.chunk_start is None and args.chunk_size:
        raise SettingsError("--chunk-size needs --chunk-start (the chunk's first frame)")
    settings = SwapSettings.from_dict({f.name: getattr(args, _dest(f.name)) for f in _FIELDS})
    job = RenderJob(args.input, args.output, settings, args.track, args.first_frame,
                    args.face_layer, not args.float, args.compression, args.region)
    frames = parse_frame_range(args.frames) if args.frames else None
    if args.chunk_start is not None:
        if args.chunk_size <= 0:
            raise SettingsError(f"--chunk-size must be > 0 with --chunk-start, got "
                                f"{args.chunk_size}")
        from engine.io import open_source

        every = frames if frames is not None else open_source(args.input,
                                                              args.first_frame).frames
        frames = [f for f in every if args.chunk_start <= f < args.chunk_start + args.chunk_size]

    def prog(it: Any, total: int) -> Any:
        unit = "frame" if args.workers <= 1 else "batch"
        return progress(it, total, "render", quiet=args.quiet, unit=unit)

    summary = render(job, frames, args.workers, args.overwrite, prog, args.overlap)
    print(f"render {args.input} -> {args.output}")
    for line in summary.lines():
        print(f"  {line}")
    if summary.timings_ms:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in summary.timings_ms.items())
        print(f"  mean ms per frame: {stages}")
    if summary.internal:  # a bug on some frames; every other frame was rendered
        import sys

        from doppel_cli.main import write_log
        from engine.io import format_frame_range

        log = write_log("render", "\n".join(f"frame {f}:\n{tb}"
                                             for f, tb in sorted(summary.internal.items())))
        where = f"traceback in {log}" if log else "no log could be written"
        print(f"doppel render: internal error on frames "
              f"{format_frame_range(sorted(summary.internal))} ({where}; please report it); "
              "the other frames were rendered", file=sys.stderr)
        return 3
    return 1 if summary.errors or summary.missing else 0
