"""`doppel evaluate`: measure a rendered shot against its plate (docs/evaluation.md).

Per frame and mean ± sd: SSIM and GMSD of the face, identity distance to the source and to the
plate, landmark distance, pose difference, expression transfer, temporal jitter. Writes a
Markdown/CSV table, per-frame CSVs, curves and a worst-frame contact sheet into OUT.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("plate", help="plate sequence, e.g. plate.####.exr")
    p.add_argument("render", help="render sequence with the plate's frame numbers and size")
    p.add_argument("--faceset", required=True,
                   help="source faceset (the identity the model renders)")
    p.add_argument("-o", "--output", required=True, help="output folder for the report")
    p.add_argument("--frames", help="frame range, farm syntax (default: frames in both)")
    p.add_argument("--name", default="render", help="the render's name in the table")
    p.add_argument("--baseline", action="store_true",
                   help="add the plate itself (no swap) as a row of the table")
    p.add_argument("--detector", default="centerface", choices=("centerface", "hog"),
                   help="face detector for plate and render")
    p.add_argument("--model", help="the swap model (.onnx) the render was made with: adds the "
                   "model–plate fit check (does the model know the plate's face?)")
    p.add_argument("--no-plots", action="store_true", help="tables and CSVs only")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an output folder that holds files but no Doppel report")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.evaluate.acceptance import signoff_checks
    from engine.evaluate.identity import source_identity
    from engine.evaluate.report import REPORT_FOLDER, checks, write_report
    from engine.evaluate.shot import analyze_plate, evaluate_render, frames_to_evaluate
    from engine.faceset.store import load_faceset
    from engine.geometry.analyzer import FaceAnalyzer
    from engine.io import format_frame_range, open_source, parse_frame_range
    from engine.io.ownership import Claims

    def progress(it, total, desc):
        return tqdm(it, total=total, desc=desc, disable=args.quiet, file=sys.stderr)

    faceset = load_faceset(args.faceset)  # bad input first, before any slow work
    model = None
    if args.model:
        from engine.swap.infer import SwapModel

        model = SwapModel(args.model, "cpu")
    plate, render = open_source(args.plate), open_source(args.render)
    Claims(plate.inputs() + render.inputs() + [faceset.root], args.overwrite).folder(
        args.output, REPORT_FOLDER)  # the ownership rule, before the slow work
    notes: list[str] = []
    frames = frames_to_evaluate(plate, render,
                                parse_frame_range(args.frames) if args.frames else None, notes)
    analyzer = FaceAnalyzer.create(args.detector, describe=True)
    identity = source_identity(faceset, analyzer.describer)
    if identity.outliers:
        notes.append(f"{len(identity.outliers)} source face(s) look like another person: "
                     + ", ".join(identity.outliers[:5]))
    plate_frames = analyze_plate(plate, frames, analyzer, progress)
    results = []
    if args.baseline:
        results.append(evaluate_render("no swap (plate)", plate_frames, plate, identity,
                                       analyzer, progress))
    results.append(evaluate_render(args.name, plate_frames, render, identity, analyzer,
                                   progress, notes))
    extra = []
    if model is not None:  # issue 21: the model–plate fit check on the plate's own faces
        from engine.io import read_image
        from engine.swap.fit import fit_of

        fit = fit_of(model, ((f, read_image(pf.path).rgb(), pf.face.landmarks)
                             for f, pf in sorted(plate_frames.items()) if pf.face is not None))
        extra.append(f"fit (model–plate): {fit.summary()}")
        from engine.swap.mouth_fit import shot_mouths

        extra.append("mouth shape (model–plate): " + shot_mouths(
            model.info, {f: pf.face.landmarks for f, pf in sorted(plate_frames.items())
                         if pf.face is not None}).summary())
    table = write_report(results, args.output, title=f"Evaluation of {args.render}",
                         plots=not args.no_plots, extra_checks=extra)
    s = results[-1].summary()
    print(f"evaluate {args.render} against {args.plate}: frames {format_frame_range(frames)}")
    for key, (mean, sd, n) in s.items():
        print(f"  {key:17s} {mean:8.4f} ± {sd:.4f}  ({n} frames)")
    for note in results[-1].notes:
        print(f"  note: {note}")
    for line in checks(results[-1]):
        print(f"  check: {line}")
    for line in signoff_checks(results[-1]) + extra:  # issue 21: what a compositor sees
        print(f"  check: {line}")
    errors = [e for r in results for e in r.errors]
    for e in errors[:10]:
        print(f"  error: {e}")
    print(f"  report: {table}")
    return 1 if errors else 0
