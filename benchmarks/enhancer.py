"""What the FaceEnhancer costs per frame, interleaved with enhance 0 on the same machine.

The demo shot (cap12, the franck model and its bundled enhancer), frames already in memory,
`FaceSwapper.process` in place as `doppel render` calls it. Each round visits every frame once
with enhance 0, the unsharp mask (sharpen 1) and enhance 1, in that order, so drift of a loaded
machine moves all three alike; wall-clock medians per frame, plus the enhancer's own session
time (`timings_ms["enhance"]`) and the face-effects stage. Usage:
    python benchmarks/enhancer.py [--rounds R] [--frames 1001-1120x10] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.track import select_track, smooth_track
    from engine.io import open_source, parse_frame_range, read_image
    from engine.runtime.onnxrt import create_session  # noqa: F401  (sessions' providers)
    from engine.runtime.sysinfo import cpu_name
    from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", default="1001-1120x12")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0 = default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    plate = open_source(str(ROOT / "samples/plate_cap12/cap12.####.exr"))
    frames = parse_frame_range(args.frames)
    images = {f: read_image(plate.path_of(f)) for f in frames}
    analyzer = FaceAnalyzer.create("centerface")
    track = smooth_track(select_track({f: analyzer.analyze(images[f].rgb()) for f in frames}),
                         radius=0)
    config = EngineConfig(model=str(ROOT / "models/demo_franck_df-ud_96.onnx"),
                          enhancer=str(ROOT / "models/demo_franck_enhancer_192.onnx"),
                          device=args.device, threads=args.threads)
    sw = FaceSwapper(config)
    looks = {"enhance 0": SwapLook(enhance=0.0), "unsharp 1 (enhance 0)":
             SwapLook(enhance=0.0, sharpen=1.0), "enhance 1": SwapLook(enhance=1.0)}
    for look in looks.values():  # warm-up: sessions built, caches filled
        sw.process(images[frames[0]].pixels.copy(), frames[0], look=look, track=track,
                   channels=images[frames[0]].channels)
    total = {k: [] for k in looks}
    stage = {k: [] for k in looks}
    enh = []
    for _ in range(args.rounds):
        for f in frames:
            if f not in track.faces:
                continue
            for name, look in looks.items():
                px = images[f].pixels.copy()
                t = time.perf_counter()
                res = sw.process(px, f, look=look, track=track, channels=images[f].channels)
                total[name].append((time.perf_counter() - t) * 1000)
                tm = res.diagnostics["timings_ms"]
                stage[name].append(tm["face_fx"] + tm.get("enhance", 0.0) + tm["warp_back"])
                if "enhance" in tm:
                    enh.append(tm["enhance"])
    print(f"{cpu_name()}; device {args.device}, providers {sw.model.providers}; "
          f"{len(total['enhance 0'])} frame visits per look, 800x600 plate, 96 px model")
    base = statistics.median(total["enhance 0"])
    print("| look | per frame (median ms) | vs enhance 0 | enhance + face fx + warp back (ms) |")
    print("|---|---|---|---|")
    for name in looks:
        m = statistics.median(total[name])
        print(f"| {name} | {m:.1f} | {m / base:.2f}× | {statistics.median(stage[name]):.1f} |")
    print(f"enhancer session alone (median): {statistics.median(enh):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
