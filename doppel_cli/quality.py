"""`doppel quality`: the quality study of a model on a shot, written to docs/quality.md.

Renders the shot once per colour-transfer mode (ours and DeepFaceLab's behaviour), adds the
baselines (no swap, naive paste), evaluates them all in one run and writes the report. With the
defaults it is the sample shot and the bundled demo model (`make quality`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

DEMO_MODEL = Path(__file__).resolve().parents[1] / "models" / "demo_df-ud_96.onnx"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.evaluate.study import COLOR_MODES

    p.add_argument("--samples", default="samples", help="sample media folder (make samples)")
    p.add_argument("--model", default=str(DEMO_MODEL), help="swap model (.onnx)")
    p.add_argument("--plate", help="plate sequence (default: the sample plate)")
    p.add_argument("--faceset", help="source faceset (default: extracted from the sample "
                   "Obama photos, the demo model's source)")
    p.add_argument("--out", default="out/quality", help="working folder (renders, report)")
    p.add_argument("--doc", default="docs/quality.md", help="the Markdown report to write")
    p.add_argument("--frames", default="1001-1010,1056-1065,1111-1120",
                   help="frames to study, farm syntax (default: three runs of 10 consecutive "
                        "frames at the start, middle and end: spread over the shot as the "
                        "paper samples, consecutive so frame-to-frame jitter is measured)")
    p.add_argument("--modes", default=",".join(COLOR_MODES),
                   help="colour-transfer modes to render, comma separated")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.errors import InputError
    from engine.evaluate.quality_doc import write_quality_doc
    from engine.evaluate.study import Study, run_study
    from engine.extract import ExtractSettings, extract
    from engine.infer import SwapModel
    from engine.io import open_source, parse_frame_range

    t0 = time.perf_counter()
    samples, out = Path(args.samples), Path(args.out)
    if args.plate is None and not (samples / ".complete").is_file():
        raise InputError(f"{samples}/ is incomplete; run 'make samples' first")
    if not Path(args.model).is_file():
        raise InputError(f"{args.model}: model not found; run 'make demo-model' or give --model")
    plate = args.plate or str(samples / "plate" / "plate.####.exr")
    faceset = args.faceset
    if faceset is None:
        photos = out / "src_photos"
        photos.mkdir(parents=True, exist_ok=True)
        for p in sorted((samples / "photos").glob("obama*.jpg")):
            shutil.copyfile(p, photos / p.name)
        faceset = str(out / "faceset_src")
        if not (Path(faceset) / "faceset.json").is_file():
            extract(open_source(str(photos)), faceset, ExtractSettings(size=128))

    def progress(it, total, desc):
        return tqdm(it, total=total, desc=desc, disable=args.quiet, file=sys.stderr)

    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    study = Study(plate, args.model, faceset, str(out), tuple(parse_frame_range(args.frames)),
                  modes)
    results, identity = run_study(study, log=lambda m: print(m, file=sys.stderr),
                                  progress=progress)
    meta = SwapModel(args.model, "cpu", 1).info.metadata
    command = "make quality" if args.doc == "docs/quality.md" and args.plate is None else \
        "doppel quality " + " ".join(sys.argv[2:])
    doc = write_quality_doc(results, identity, args.doc, out / "report", command=command,
                            model=args.model, model_meta=meta, plate=plate,
                            minutes=(time.perf_counter() - t0) / 60)
    print(f"quality: {len(results)} rows evaluated; report {doc}, details {out / 'report'}")
    return 0
