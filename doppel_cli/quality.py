"""`doppel quality`: the quality study of a model on a shot, written to docs/quality.md.

Renders the shot once per colour-transfer mode (ours and DeepFaceLab's behaviour), adds the
baselines (no swap, naive paste), evaluates them all in one run and writes the report. With the
defaults it is the main sample pair (franck on the cap12 plate, every frame, the main colour
modes: `make quality` -> docs/quality.md); `--pair carphone` is the small pair (Obama on the
carphone plate, every mode, 30 frames: `make quality-carphone` -> docs/quality_carphone.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

# pair -> plate under samples/, photos of the source identity (glob under samples/photos), the
# default frames and colour modes of its study
PAIRS = {
    "franck": ("plate_cap12/cap12.####.exr", "franck/franck_*.jpg", "1001-1120",
               "none,rct,rct-local,lct,mkl,sot,rct-dfl"),
    "carphone": ("plate/plate.####.exr", "obama*.jpg", "1001-1010,1056-1065,1111-1120", None),
}


INTRO = {
    "franck": ["The main demo pair: franck (a talking-face video, 1,649 pruned faces) on the cap12 "
               "plate, every frame, so the mouth correlation spans every opening. Its acceptance "
               "checks are at the end of this report. The small pair (Obama from three photos on "
               "carphone, every colour mode): [quality_carphone.md](quality_carphone.md).", ""],
    "carphone": ["The small pair: Obama from three photos on the carphone plate. The main demo "
                 "pair (franck on cap12): [quality.md](quality.md).", ""],
}


# The reports `make` regenerates (docs/new-shot.md for the last two).
MAKE = {"docs/quality.md": "make quality", "docs/quality_carphone.md": "make quality-carphone",
        "docs/quality_cap13.md": "make quality-cap13",
        "docs/quality_new_actor.md": "make quality-new-actor"}


def _intro(args: argparse.Namespace, model: str, meta: dict[str, str], plate: str) -> list[str]:
    """The pair's own introduction, or, for another model or plate, what the model was trained
    on (from its metadata) and which plate it is judged on."""
    if args.model is None and args.plate is None:
        return INTRO[args.pair]
    return [f"The model `{Path(model).name}` ({meta.get('src_name', '?')} trained for the plate "
            f"{meta.get('dst_name', '?')}, {meta.get('iterations', '?')} iterations) on the plate "
            f"`{plate}`. How a TD takes a model to a new shot: [new-shot.md](new-shot.md).", ""]


DEMO_ENHANCERS = {"franck": Path(__file__).resolve().parents[1] / "models"
                  / "demo_franck_enhancer_192.onnx"}


def _closeups(study, path: Path) -> Path | None:
    """Eyes, mouth and skin at 2× on the middle tracked frame: plate | rct | the detail rows."""
    import numpy as np

    from engine.evaluate.closeups import closeup_sheet
    from engine.evaluate.report import slug
    from engine.geometry.track import Track
    from engine.io import open_source, read_image, write_image

    track = Track.load(Path(study.out) / "track.json")
    frames = [f for f in (study.frames or sorted(track.faces)) if f in track.faces]
    if not frames:
        return None
    frame = frames[len(frames) // 2]
    names = ["rct", *(label.replace("rct + ", "") for label, _ in study.variants)]
    folders = ["rct", *(slug(label) for label, _ in study.variants)]
    renders = []
    for folder in folders:
        src = open_source(str(Path(study.out) / f"render_{folder}" / "swap.####.exr"))
        renders.append(read_image(src.path_of(frame)).rgb())
    plate = read_image(open_source(study.plate).path_of(frame)).rgb()
    sheet = closeup_sheet(plate, renders, names, track.landmarks(frame))
    write_image(path, sheet.astype(np.float32) / 255.0)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from doppel_cli.demo import PAIRS as DEMO_PAIRS
    from engine.evaluate.study import COLOR_MODES

    p.add_argument("--samples", default="samples", help="sample media folder (make samples)")
    p.add_argument("--pair", default="franck", choices=list(DEMO_PAIRS),
                   help="sample pair whose plate, model and source photos are the defaults")
    p.add_argument("--model", help="swap model (.onnx); default: the pair's bundled model")
    p.add_argument("--plate", help="plate sequence (default: the sample plate)")
    p.add_argument("--faceset", help="source faceset (default: extracted from the pair's "
                   "source photos: franck's eleven stills, or the three Obama portraits)")
    p.add_argument("--out", default="out/quality", help="working folder (renders, report)")
    p.add_argument("--doc", default="docs/quality.md", help="the Markdown report to write")
    p.add_argument("--frames",
                   help="frames to study, farm syntax (default franck: the whole shot, so the "
                        "mouth correlation spans every opening; carphone: three runs of 10 "
                        "consecutive frames at the start, middle and end, consecutive so "
                        "frame-to-frame jitter is measured)")
    p.add_argument("--modes", help="colour-transfer modes to render, comma separated (default "
                   "franck: none,rct,rct-local,lct,mkl,sot,rct-dfl; carphone: all of "
                   f"{','.join(COLOR_MODES)})")
    p.add_argument("--enhancer", help="FaceEnhancer (.onnx) for the detail rows (default "
                   "franck: the bundled models/demo_franck_enhancer_192.onnx when present)")
    p.add_argument("--sharpen-sweep", default="0.5,1,2",
                   help="unsharp amounts rendered beside the enhancer (the generic baseline; "
                        "'' = none)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files in --out or --doc Doppel did not write, and a track of "
                        "another plate in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.errors import InputError
    from engine.evaluate.quality_doc import DOC_MARK, images_folder, write_quality_doc
    from engine.evaluate.study import Study, claim_outputs, run_study
    from engine.faceset.extract import ExtractSettings, extract
    from engine.faceset.store import FACESET_FOLDER
    from engine.io import open_source, parse_frame_range
    from engine.io.ownership import Claims, Mark
    from engine.swap.infer import SwapModel

    t0 = time.perf_counter()
    samples, out = Path(args.samples), Path(args.out)
    if args.plate is None and not (samples / ".complete").is_file():
        raise InputError(f"{samples}/ is incomplete; run 'make samples' first")
    from doppel_cli.demo import PAIRS as DEMO_PAIRS
    from engine.evaluate.study import COLOR_MODES

    plate_rel, photos_glob, default_frames, default_modes = PAIRS[args.pair]
    model = args.model or str(DEMO_PAIRS[args.pair][1])
    if not Path(model).is_file():
        raise InputError(f"{model}: model not found; run 'make demo-model' or give --model")
    plate = args.plate or str(samples / plate_rel)
    # The ownership rule before any work (the study claims its working folder's files too).
    claims = Claims([Path(model), *open_source(plate).inputs()], args.overwrite,
                    "choose another --out/--doc, or pass --overwrite to replace it")
    doc = claims.file(args.doc, DOC_MARK)
    claims.folder(doc.parent / doc.stem, images_folder(doc))
    sources = sorted((samples / "photos").glob(photos_glob)) if args.faceset is None else []
    for p in sources:  # a copy of the sample photo, or nothing, is ours to (re)write there
        claims.file(out / "src_photos" / p.name,
                    Mark("copy of a sample photo", lambda q, p=p: q.read_bytes() == p.read_bytes()))
    modes = tuple(m.strip() for m in (args.modes or default_modes or ",".join(COLOR_MODES))
                  .split(",") if m.strip())
    faceset = args.faceset or str(out / "faceset_src")
    enhancer = args.enhancer
    if enhancer is None and args.model is None and args.pair in DEMO_ENHANCERS \
            and DEMO_ENHANCERS[args.pair].is_file():
        enhancer = str(DEMO_ENHANCERS[args.pair])
    amounts = [float(a) for a in args.sharpen_sweep.split(",") if a.strip()]
    variants = [(f"rct + unsharp {a:g}", (("color", "rct"), ("sharpen", a))) for a in amounts]
    if enhancer:
        variants.append(("rct + enhancer", (("color", "rct"), ("enhancer", enhancer),
                                            ("enhance", 1.0))))
    study = Study(plate, model, faceset, str(out),
                  tuple(parse_frame_range(args.frames or default_frames)), modes,
                  variants=tuple(variants), overwrite=args.overwrite)
    claim_outputs(study, open_source(plate))  # the working folder's track, report, baseline
    if args.faceset is None:
        claims.folder(faceset, FACESET_FOLDER)
        photos = out / "src_photos"
        photos.mkdir(parents=True, exist_ok=True)
        for p in sources:
            shutil.copyfile(p, photos / p.name)
        if not (Path(faceset) / "faceset.json").is_file():
            extract(open_source(str(photos), upright=True), faceset, ExtractSettings(size=128),
                    overwrite=args.overwrite)

    def progress(it, total, desc):
        return tqdm(it, total=total, desc=desc, disable=args.quiet, file=sys.stderr)

    results, identity = run_study(study, log=lambda m: print(m, file=sys.stderr),
                                  progress=progress)
    meta = SwapModel(model, "cpu", 1).info.metadata
    closeups = _closeups(study, out / "report" / "closeups.png") if variants else None
    command = MAKE.get(args.doc) if args.doc in MAKE else \
        "doppel quality " + " ".join(sys.argv[2:])
    doc = write_quality_doc(results, identity, args.doc, out / "report", command=command,
                            model=model, model_meta=meta, plate=plate,
                            minutes=(time.perf_counter() - t0) / 60,
                            intro=_intro(args, model, meta, plate), closeups=closeups)
    print(f"quality: {len(results)} rows evaluated; report {doc}, details {out / 'report'}")
    return 0
