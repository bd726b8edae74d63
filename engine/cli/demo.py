"""`doppel demo`: the main job on the bundled sample media.

Today (the swap engine is the next milestone): extraction of the sample plate (one identity,
tracked and smoothed) and of the sample photos into facesets, and a contact sheet of the aligned
faces with their landmarks: `OUT/contact_sheet.png`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", default="samples", help="sample media folder (make samples)")
    p.add_argument("--out", default="out/demo", help="output folder")
    p.add_argument("--size", type=int, default=256, help="aligned crop size")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from engine.extract import ExtractSettings, extract
    from engine.faceset import load_faceset
    from engine.io import open_source, write_image
    from engine.overlay import contact_sheet, draw_face

    samples, out = Path(args.samples), Path(args.out)
    if not (samples / ".complete").is_file():
        print(f"doppel demo: error: {samples}/ is incomplete; run 'make samples' first",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    jobs = [
        ("plate", samples / "plate" / "plate.####.exr",
         ExtractSettings(size=args.size, select="track", smooth=3)),
        ("photos", samples / "photos", ExtractSettings(size=args.size)),
    ]
    tiles, labels = [], []
    for name, src, settings in jobs:
        source = open_source(src)
        summary = extract(source, out / f"faceset_{name}", settings, progress=lambda it, n, d,
                          name=name: tqdm(it, total=n, desc=f"{name} {d}", file=sys.stderr))
        print(f"{name}: " + "; ".join(summary.lines()[:5]))
        fs = load_faceset(out / f"faceset_{name}")
        step = max(1, len(fs.entries) // 24) if name == "plate" else 1
        for e in fs.entries[::step]:
            crop = np.rint(np.clip(fs.load_crop(e), 0, 1) * 255).astype(np.uint8)
            tiles.append(draw_face(crop, fs.landmarks_crop(e)))
            labels.append(f"{e['frame']} y{e['pose'][1]:+.0f}")
    sheet = contact_sheet(tiles, labels, columns=8, tile=160)
    write_image(out / "contact_sheet.png", sheet.astype(np.float32) / 255.0)
    print(f"wrote {out / 'contact_sheet.png'} ({len(tiles)} faces) in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
