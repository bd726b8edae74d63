"""Ablations as the paper's Table 2, on the sample shot: DF vs LIAE, with and without eyes/mouth
priority, each trained from scratch with the demo recipe (configs/demo.yaml), exported, rendered
with `rct`, and evaluated in one run against the same plate analysis.

    .venv/bin/python tools/ablation.py --iters 8000            # the demo recipe's length
    .venv/bin/python tools/ablation.py --iters 100000 --resolution 128 --device cuda   # GPU

Every step resumes (facesets, checkpoints, exports, renders are reused), so an interrupted run
continues where it stopped. Writes OUT/report/ (table, CSVs, curves) and the Markdown table to
`--doc` (default docs/ablation.md). The 2-core CPU reference machine cannot train four models to
a useful length in an afternoon; run it where there is a GPU (docs/ablation.md says what was run).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {  # name: (arch family, eyes_mouth_priority)
    "DF": ("df", False),
    "DF (eyes-mouth priority)": ("df", True),
    "LIAE": ("liae", False),
    "LIAE (eyes-mouth priority)": ("liae", True),
}


def _facesets(samples: Path, out: Path) -> tuple[Path, Path]:
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    photos = out / "src_photos"
    photos.mkdir(parents=True, exist_ok=True)
    for p in sorted((samples / "photos").glob("obama*.jpg")):
        shutil.copyfile(p, photos / p.name)
    src, dst = out / "faceset_src", out / "faceset_dst"
    if not (src / "faceset.json").is_file():
        extract(open_source(str(photos), upright=True), src, ExtractSettings(size=128))
    if not (dst / "faceset.json").is_file():
        extract(open_source(str(samples / "plate" / "plate.####.exr")), dst,
                ExtractSettings(size=128, select="track", smooth=2))
    return src, dst


def _shown(argv: list[str]) -> str:
    """The command line as run, without the --note paragraph (the document shows it)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--note":
            skip = True
        elif not a.startswith("--note="):
            out.append(a)
    return " ".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", default=str(ROOT / "samples"))
    p.add_argument("--out", default=str(ROOT / "out" / "ablation"))
    p.add_argument("--doc", default=str(ROOT / "docs" / "ablation.md"))
    p.add_argument("--iters", type=int, default=8000, help="training iterations per model")
    p.add_argument("--resolution", type=int, default=96)
    p.add_argument("--suffix", default="ud", help="arch letters, e.g. ud -> df-ud, liae-ud")
    p.add_argument("--device", default="auto")
    p.add_argument("--frames", default="1001-1120x4", help="frames evaluated (farm syntax)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    p.add_argument("--note", default="", help="a paragraph for the document (what was run)")
    args = p.parse_args(argv)

    from engine.evaluate.identity import source_identity
    from engine.evaluate.report import markdown_table, write_report
    from engine.evaluate.shot import analyze_plate, evaluate_render
    from engine.faceset.store import load_faceset
    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.track import Track, select_track, smooth_track
    from engine.io import atomic_write_text, open_source, parse_frame_range
    from engine.runtime.sysinfo import cpu_name
    from engine.shot.render import RenderJob, render
    from engine.swap.settings import SwapSettings
    from trainers.checkpoint import checkpoints
    from trainers.config import load_configs
    from trainers.export import export_checkpoint
    from trainers.train import Trainer

    t0 = time.perf_counter()
    samples, out = Path(args.samples), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    src, dst = _facesets(samples, out)
    plate_pattern = str(samples / "plate" / "plate.####.exr")
    plate = open_source(plate_pattern)
    frames = parse_frame_range(args.frames)
    track_path = out / "track.json"
    if not track_path.is_file():
        from engine.shot.analyze import analyze_frames

        per = analyze_frames(plate, plate.frames, FaceAnalyzer.create("centerface"),
                             out / "track.analysis.json", {"detector": "centerface"}, [], [])
        smooth_track(select_track(per), radius=3).save(track_path)
    Track.load(track_path)  # validates

    base = load_configs(str(ROOT / "configs" / "demo.yaml"), {})[0]
    models = {}
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        family, emp = VARIANTS[name]
        tag = f"{family}{'_emp' if emp else ''}"
        cfg = replace(base, src=str(src), dst=str(dst), out=str(out / tag / "train"),
                      arch=f"{family}-{args.suffix}" if args.suffix else family,
                      resolution=args.resolution, target_iters=args.iters,
                      eyes_mouth_priority=emp, device=args.device).validate()
        print(f"training {name} ({cfg.arch}, {cfg.target_iters} iterations)", file=sys.stderr)
        Trainer(cfg, resume=(Path(cfg.out).is_dir() and any(Path(cfg.out).iterdir()))).run(
            progress=False)
        onnx_path = out / tag / f"{tag}.onnx"
        if not onnx_path.is_file():
            export_checkpoint(checkpoints(Path(cfg.out))[-1], onnx_path, "obama", "carphone")
        pattern = str(out / tag / "render" / "swap.####.exr")
        settings = SwapSettings.from_dict({"model": str(onnx_path), "color": "rct"})
        render(RenderJob(plate_pattern, pattern, settings, str(track_path)), frames)
        models[name] = pattern

    analyzer = FaceAnalyzer.create("centerface", describe=True)
    identity = source_identity(load_faceset(src), analyzer.describer)
    plate_frames = analyze_plate(plate, frames, analyzer)
    results = [evaluate_render(n, plate_frames, open_source(pat), identity, analyzer)
               for n, pat in models.items()]
    write_report(results, out / "report", title="Ablation (Table 2)")
    minutes = (time.perf_counter() - t0) / 60
    doc = [
        "# Ablation: DF vs LIAE, eyes/mouth priority (the paper's Table 2 layout)",
        "",
        f"Generated by `.venv/bin/python tools/ablation.py {_shown(argv or sys.argv[1:])}` "
        f"— do not edit by hand. Each model: the demo recipe (configs/demo.yaml) with arch "
        f"`<family>-{args.suffix}`, {args.resolution} px, {args.iters} iterations, rendered "
        f"with `rct`; evaluated on frames {args.frames} of the sample plate; {cpu_name()}, "
        f"{minutes:.0f} min.",
        "",
        *([args.note, ""] if args.note else []),
        markdown_table(results),
        "",
        "Reproduce the full table on a GPU: `.venv/bin/python tools/ablation.py --iters 100000 "
        "--resolution 128 --device cuda --frames 1001-1120` (every step resumes).",
        "",
    ]
    atomic_write_text(Path(args.doc), "\n".join(doc) + "\n")
    print(f"ablation: {len(results)} models; {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
