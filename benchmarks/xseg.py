"""XSeg vs the landmark-hull mask on the composited-occluder benchmark (trainers/xseg/bench.py).

Faces: 50 labelled sample-plate frames (1001-1099, odd) for training; plate frames 1101-1120 and
the still portraits (other people) for testing, each with 4 occluders cut from photographs the
model never saw. Prints IoU and boundary F-score of both masks and the training time, as a
markdown table row with the CPU/GPU named.
Usage: python benchmarks/xseg.py [--resolution 128] [--iters 3000] [--width 16] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--out", default="out/bench_xseg")
    args = ap.parse_args()

    import torch

    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.track import select_track, smooth_track
    from engine.io import open_source
    from engine.runtime.sysinfo import cpu_name
    from trainers.xseg import bench

    samples = Path(args.samples)
    pattern = str(samples / "plate" / "plate.####.exr")
    analyzer = FaceAnalyzer.create("centerface")
    per_frame = {fr.number: analyzer.analyze(fr.rgb) for fr in open_source(pattern).read()}
    track = smooth_track(select_track(per_frame), radius=3)
    train, test = bench.plate_and_still_faces(pattern, track, analyzer, samples / "photos",
                                              args.resolution, list(range(1001, 1100, 2)),
                                              list(range(1101, 1121)))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = bench.run_benchmark(train, test, Path(args.out) / f"r{args.resolution}",
                                 args.resolution, args.iters, width=args.width, lr=args.lr)
    result["device"] = torch.cuda.get_device_name() if device == "cuda" else cpu_name()
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result, indent=1))
    x, h = result["xseg"], result["hull"]
    print(f"| {args.resolution} px, width {args.width}, {args.iters} it | {x['iou']:.3f} | "
          f"{x['boundary_f']:.3f} | {h['iou']:.3f} | {h['boundary_f']:.3f} | "
          f"{result['train_seconds']:.0f} s on {result['device']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
