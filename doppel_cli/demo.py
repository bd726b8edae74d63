"""`doppel demo`: the main job on the bundled sample media.

Analyse the sample plate (track + smoothing), render every frame with the bundled demo model
into scene-linear EXRs, and write a contact sheet (face close-ups plate | swap | mask and the
swapped frame) and an MP4 preview:
    OUT/track.json, OUT/swap.1001.exr … swap.1120.exr, OUT/contact_sheet.png, OUT/preview.mp4
Two pairs (`--pair`): `franck` (default; franck's face on the cap12 plate, 800×600) and
`carphone` (the small, fast case: Obama from three photos on the carphone plate, 880×720).
The contact sheet shows the widest-mouth and the most-turned frames beside evenly spaced ones.
With a FaceEnhancer (`--enhancer PATH`, or `--enhancer bundled` for franck's,
models/demo_franck_enhancer_192.onnx, `make demo-enhancer`) the render uses it, and the sheet
adds each picked frame rendered with enhance 0 (OUT/enhance0/) beside the enhanced one. The
bundled enhancer is not used by default: measured on this shot it adds no sharpness and costs a
little identity (docs/enhancer.md), and a demo shows what we would ship.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "models"
# pair -> (plate pattern under samples/, bundled model)
PAIRS = {
    "franck": ("plate_cap12/cap12.####.exr", MODELS / "demo_franck_df-ud_96.onnx"),
    "carphone": ("plate/plate.####.exr", MODELS / "demo_df-ud_96.onnx"),
}
# pair -> the FaceEnhancer trained for its bundled model (make demo-enhancer)
ENHANCERS = {"franck": MODELS / "demo_franck_enhancer_192.onnx"}


SHEET_KIND = "demo contact sheet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", default="samples", help="sample media folder (make samples)")
    p.add_argument("--out", default="out/demo", help="output folder")
    p.add_argument("--pair", default="franck", choices=list(PAIRS),
                   help="which sample pair: franck on the cap12 plate, or Obama on carphone")
    p.add_argument("--model", help="swap model (.onnx); default: the pair's bundled model")
    p.add_argument("--enhancer", default="",
                   help="FaceEnhancer (.onnx), or 'bundled' for the pair's own (franck); "
                        "default: none (docs/enhancer.md: the bundled one does not help yet)")
    p.add_argument("--workers", type=int, default=1, help="frames rendered in parallel")
    p.add_argument("--frames", help="only these plate frames (farm syntax); default: all 120")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    from tqdm import tqdm

    from engine.errors import InputError
    from engine.geometry.face_measures import mouth_opening
    from engine.geometry.track import ANALYSIS_MARK, TRACK_MARK
    from engine.io import open_source, parse_frame_range, read_image, write_image
    from engine.io.colorspace import to_display_uint8
    from engine.io.ownership import Claims, FolderMark, image_mark, image_metadata
    from engine.io.sheets import contact_sheet, face_window, sheet_frames
    from engine.shot.analyze import (
        AnalyzeSettings,
        analysis_cache_path,
        analyze_shot,
        write_track,
    )
    from engine.shot.render import RenderJob, render
    from engine.swap.settings import EngineConfig, SwapSettings

    samples, out = Path(args.samples), Path(args.out)
    if not (samples / ".complete").is_file():
        raise InputError(f"{samples}/ is incomplete; run 'make samples' first")
    plate_rel, default_model = PAIRS[args.pair]
    model = args.model or str(default_model)
    if not Path(model).is_file():
        raise InputError(f"{model}: demo model missing; run 'make demo-model' to train it")
    enhancer = args.enhancer
    if enhancer == "bundled":
        bundled = ENHANCERS.get(args.pair)
        if bundled is None or not bundled.is_file():
            raise InputError(f"--enhancer bundled: the {args.pair} pair has no bundled "
                             "FaceEnhancer; give its path, or run 'make demo-enhancer'")
        enhancer = str(bundled)
    t0 = time.perf_counter()
    plate = str(samples / plate_rel)
    if not any((samples / plate_rel).parent.glob("*.exr")):
        raise InputError(f"{plate}: sample plate missing; run 'make samples' (the sample set "
                         "changed)")
    source = open_source(plate)
    frames = parse_frame_range(args.frames) if args.frames else source.frames
    # The ownership rule before any work: a new or empty --out, or a demo's (the render
    # claims its frames itself).
    claims = Claims([Path(p) for p in (model, enhancer) if p] + source.inputs(),
                    hint="choose another --out")
    claims.folder(out, FolderMark("demo output", "track.json", TRACK_MARK))
    claims.file(out / "track.json", TRACK_MARK)
    claims.file(out / "track.analysis.json", ANALYSIS_MARK)
    claims.file(out / "contact_sheet.png", image_mark(SHEET_KIND))

    # 1. Analyse: track the face once (the library's one shot analysis, as `doppel analyze`
    # with its defaults); the render then does no detection.
    errors: list[str] = []
    with tqdm(total=len(frames), desc="analyse", file=sys.stderr) as bar:
        track = analyze_shot(source, AnalyzeSettings(), lambda done, total: bar.update(1),
                             numbers=frames, cache=analysis_cache_path(out / "track.json"),
                             errors=errors)
    write_track(track, out / "track.json")  # and the finished analysis's resume file goes
    t1 = time.perf_counter()

    # 2. Render every frame to EXR (scene-linear, half, zip, with the doppel.mask layer).
    settings = SwapSettings(EngineConfig(model=model, enhancer=enhancer))
    job = RenderJob(plate, str(out / "swap.####.exr"), settings, str(out / "track.json"))
    summary = render(job, frames, workers=args.workers,
                     progress=lambda it, n: tqdm(it, total=n, desc="render", file=sys.stderr))
    t2 = time.perf_counter()

    # 3. Contact sheet and MP4 preview (display-encoded).
    tiles, labels = [], []
    tracked = [f for f in frames if f in track.faces]
    picks = dict(sheet_frames(frames, {f: mouth_opening(track.landmarks(f)) for f in tracked},
                              {f: float(track.faces[f].pose[1]) for f in tracked}))
    if enhancer:  # the picked frames without the enhancer, for the sheet
        render(RenderJob(plate, str(out / "enhance0" / "swap.####.exr"),
                         settings.with_values(enhance=0.0), str(out / "track.json")),
               [f for f in frames if f in picks])
    writer = None
    for f in frames:
        before = read_image(source.path_of(f))
        after = read_image(out / f"swap.{f:04d}.exr")
        a, b = to_display_uint8(before.rgb()), to_display_uint8(after.rgb())
        if writer is None:  # side by side at half size, even dimensions for the codec
            h, w = a.shape[:2]
            size = (w // 2 * 2, h // 2 // 2 * 2)
            writer = cv2.VideoWriter(str(out / "preview.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                     24.0, size)
        side = cv2.resize(np.concatenate([a, b], axis=1), size, interpolation=cv2.INTER_AREA)
        writer.write(np.ascontiguousarray(side[..., ::-1]))
        if f in picks:
            mask = after.channel("doppel.mask")
            m = np.repeat(np.rint(np.clip(mask, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
            # the face large (plate | swap | mask), then the whole swapped frame for context
            x0, y0, x1, y1 = (face_window(track.landmarks(f), a.shape) if f in track.faces
                              else (0, 0, a.shape[1], a.shape[0]))
            tag = f" {picks[f]}" if picks[f] else ""
            tiles += [a[y0:y1, x0:x1], b[y0:y1, x0:x1]]
            labels += [f"plate {f}{tag}", f"swap {f}" + (" enhanced" if enhancer else "")]
            if enhancer:
                plain = to_display_uint8(read_image(out / "enhance0" / f"swap.{f:04d}.exr").rgb())
                tiles.append(plain[y0:y1, x0:x1])
                labels.append(f"swap {f} enhance 0")
            tiles += [m[y0:y1, x0:x1], b]
            labels += [f"mask {f}", f"swap {f} (frame)"]
    if writer is not None:
        writer.release()
    sheet = contact_sheet(tiles, labels, columns=10 if enhancer else 8, tile=200)
    write_image(out / "contact_sheet.png", sheet.astype(np.float32) / 255.0,
                metadata=image_metadata(SHEET_KIND))
    t3 = time.perf_counter()
    print(f"demo: {len(summary.done)} frames rendered, {len(summary.skipped)} already done, "
          f"{len(summary.no_face)} without a face, {len(summary.errors)} errors")
    print(f"  analyse {t1 - t0:.1f} s, render {t2 - t1:.1f} s, sheet+preview {t3 - t2:.1f} s")
    print(f"  {out}/swap.####.exr, {out}/contact_sheet.png, {out}/preview.mp4")
    return 1 if summary.errors or errors else 0

