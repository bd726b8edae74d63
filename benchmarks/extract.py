"""Detect + 68 landmarks per frame at 720p and 1080p, side by side in one run.

Compared on the same frames (sample plate frames placed on 1280×720 and 1920×1080 canvases):
- `dlib-hog full-res`: dlib's HOG detector on the full-resolution frame (upsample 1), then the
  shape predictor: the straightforward way, whose cost grows with the pixel count;
- `dlib-hog ours`: the same detector on a copy downscaled to 640 px, boxes mapped back;
- `centerface ours`: CenterFace through ONNX Runtime at 640 px, plus the landmark refinement.
Prints ms/frame (median of the frames) and the ratio to the full-resolution baseline.
Usage: python benchmarks/extract.py [--frames N] [--threads T]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.geometry.analyzer import FaceAnalyzer  # noqa: E402
from engine.geometry.detect import CenterFaceDetector, DlibHogDetector  # noqa: E402
from engine.geometry.landmarks import DlibLandmarker  # noqa: E402
from engine.io import open_source  # noqa: E402
from engine.io.colorspace import to_display_uint8  # noqa: E402


def canvas(img: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(width / w, height / h)
    small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def time_analyzer(an: FaceAnalyzer, frames: list[np.ndarray]) -> tuple[float, int]:
    an.analyze_srgb(frames[0])  # warm-up
    times, found = [], 0
    for f in frames:
        t = time.perf_counter()
        found += bool(an.analyze_srgb(f))
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--samples", default="samples")
    args = ap.parse_args()
    src = open_source(Path(args.samples) / "plate" / "plate.####.exr")
    picks = src.frames[:: max(1, len(src.frames) // args.frames)][: args.frames]
    base = [to_display_uint8(f.rgb) for f in src.read(picks)]
    lmk = DlibLandmarker()
    variants = {
        "dlib-hog full-res": FaceAnalyzer(DlibHogDetector(max_side=0, upsample=1), lmk),
        "dlib-hog ours (640)": FaceAnalyzer(DlibHogDetector(max_side=640, upsample=1), lmk),
        "centerface ours (640)": FaceAnalyzer(CenterFaceDetector(max_side=640, device="cpu"), lmk),
    }
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{cv2.getNumberOfCPUs()} CPUs; {len(base)} plate frames per size")
    print(f"{'size':>9}  {'variant':<24}{'ms/frame':>10}{'vs full-res':>13}{'found':>8}")
    for w, h in ((1280, 720), (1920, 1080)):
        frames = [canvas(b, w, h) for b in base]
        ref = None
        for name, an in variants.items():
            ms, found = time_analyzer(an, frames)
            ref = ref or ms
            print(f"{w}x{h:<5}  {name:<24}{ms:>10.1f}{ref / ms:>12.2f}x{found:>5}/{len(frames)}")


if __name__ == "__main__":
    main()
