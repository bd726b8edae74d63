"""EXR compression for `doppel render` output: write ms, read ms, size per codec, half and float.

What is written is what the renderer writes: the plate's R, G, B, A plus the `doppel.mask`
layer, with real content. The frames are the sample plate rendered through the bundled demo
model (so the mask is a real swap mask, zero outside the face), at the plate's own size
(880×720) and upscaled (bicubic, cropped to fill) to 1920×1080 and 3840×2160. `--grain`
adds camera-like noise (Gaussian, σ = 1 % of the value + 0.2 % floor) to the RGB, because the
sample plate is an upscaled small clip and compresses better than real footage.

Runs are interleaved: each repetition writes and reads every codec once, in turn, so machine
drift and contention land on all codecs alike; medians are reported. Timings go through the
project's own `write_exr` / `read_image` (OpenImageIO), with OpenImageIO's default thread count.
Lossy codecs report their largest error on the RGB and the mask against the half/float input.
"cpu" columns are the process's CPU time (all OpenImageIO threads) for the same write and
read: on a shared machine they stay put when other jobs steal the cores and wall time does not.
"rows ms" reads the same file one scanline at a time, top to bottom, the way Nuke's Read
pulls rows (Foundry Q100380); codecs that pack many lines per block pay for it there.

Usage: python benchmarks/exr_compression.py [--reps 5] [--frames 3] [--grain]
       [--sizes native,1080p,4K] [--codecs none,zip,zips,piz,dwaa,dwab]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.io import read_image, write_exr  # noqa: E402
from engine.runtime.sysinfo import cpu_name  # noqa: E402

SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}
NAMES = ("R", "G", "B", "A", "doppel.mask")


def rendered_frames(samples: Path, model: Path, numbers: list[int]) -> list[np.ndarray]:
    """Sample plate frames swapped by the demo model: H×W×5 float32 (RGBA + doppel.mask)."""
    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.track import select_track
    from engine.io import open_source
    from engine.swap.pipeline import FaceSwapper, SwapSettings

    src = open_source(samples / "plate" / "plate.####.exr")
    plates = {n: read_image(src.path_of(n)) for n in numbers}
    analyzer = FaceAnalyzer.create("centerface")
    track = select_track({n: analyzer.analyze(p.rgb()) for n, p in plates.items()})
    swapper = FaceSwapper(SwapSettings(model=str(model), color="rct"))
    out = []
    for n, plate in plates.items():
        res = swapper.process(plate.pixels.copy(), n, track, channels=plate.channels,
                              inplace=True)
        out.append(np.concatenate([res.image, res.mask[..., None]], axis=-1))
    return out


def fill(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale `frame` (bicubic) to cover width×height and crop the centre."""
    import cv2

    h, w = frame.shape[:2]
    s = max(width / w, height / h)
    big = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    y0, x0 = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    out = big[y0:y0 + height, x0:x0 + width]
    out[..., 3:] = np.clip(out[..., 3:], 0.0, 1.0)  # bicubic overshoot on alpha and mask
    return np.ascontiguousarray(out)


def add_grain(frame: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgb = frame[..., :3]
    noise = rng.standard_normal(rgb.shape, dtype=np.float32) * (0.01 * rgb + 0.002)
    out = frame.copy()
    out[..., :3] = np.maximum(rgb + noise, 0.0)
    return out


def read_rows(path: Path) -> None:
    """Read every scanline on its own, in order (Nuke's row-by-row access pattern)."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    try:
        spec = inp.spec()
        for y in range(spec.y, spec.y + spec.height):
            if inp.read_scanline(y, 0, "float") is None:
                raise RuntimeError(f"{path}: row {y} unreadable ({inp.geterror()})")
    finally:
        inp.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--frames", type=int, default=3, help="plate frames (1001, 1011, ...)")
    ap.add_argument("--grain", action="store_true", help="add camera-like noise to the RGB")
    ap.add_argument("--sizes", default="native,1080p,4K")
    ap.add_argument("--codecs", default="none,zip,zips,piz,dwaa,dwab")
    ap.add_argument("--types", default="half,float")
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--model", default="models/demo_df-ud_96.onnx")
    a = ap.parse_args()
    codecs = a.codecs.split(",")
    types = a.types.split(",")
    import OpenImageIO as oiio

    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; OpenImageIO "
          f"{oiio.VERSION_STRING}, threads {oiio.get_int_attribute('threads')}")
    frames = rendered_frames(Path(a.samples), Path(a.model),
                             [1001 + 10 * i for i in range(a.frames)])
    tmp = Path(tempfile.mkdtemp(prefix="doppel-exr-"))
    print(f"{len(frames)} rendered plate frames, channels {','.join(NAMES)}; "
          f"{'with' if a.grain else 'no'} added grain; {a.reps} interleaved repetitions; "
          "median ms per frame")
    print(f"{'size':<16}{'type':<6}{'codec':<6}{'write ms':>9}{'cpu':>7}{'read ms':>9}{'cpu':>7}"
          f"{'rows ms':>9}"
          f"{'MB':>8}{'bits/px':>9}{'ratio':>7}  max error RGB / mask")
    for size in a.sizes.split(","):
        if size == "native":
            imgs = frames
        else:
            imgs = [fill(f, *SIZES[size]) for f in frames]
        if a.grain:
            imgs = [add_grain(f, i) for i, f in enumerate(imgs)]
        h, w = imgs[0].shape[:2]
        label = f"{size} {w}×{h}"
        for kind in types:
            half = kind == "half"
            # the reference for lossless codecs: the values as the file type stores them
            refs = [f.astype(np.float16).astype(np.float32) if half else f for f in imgs]
            write: dict[str, list[float]] = {c: [] for c in codecs}
            read: dict[str, list[float]] = {c: [] for c in codecs}
            wcpu: dict[str, list[float]] = {c: [] for c in codecs}
            rcpu: dict[str, list[float]] = {c: [] for c in codecs}
            rows: dict[str, list[float]] = {c: [] for c in codecs}
            size_b: dict[str, list[int]] = {c: [] for c in codecs}
            err: dict[str, tuple[float, float]] = {c: (0.0, 0.0) for c in codecs}
            for rep in range(a.reps):
                for i, img in enumerate(imgs):
                    order = codecs if (rep + i) % 2 == 0 else codecs[::-1]
                    for codec in order:
                        path = tmp / f"{codec}.exr"
                        t, c = time.perf_counter(), time.process_time()
                        write_exr(path, img, NAMES, half=half, compression=codec)
                        write[codec].append((time.perf_counter() - t) * 1000)
                        wcpu[codec].append((time.process_time() - c) * 1000)
                        t, c = time.perf_counter(), time.process_time()
                        back = read_image(path).pixels
                        read[codec].append((time.perf_counter() - t) * 1000)
                        rcpu[codec].append((time.process_time() - c) * 1000)
                        t = time.perf_counter()
                        read_rows(path)
                        rows[codec].append((time.perf_counter() - t) * 1000)
                        size_b[codec].append(path.stat().st_size)
                        if rep == 0:
                            d = np.abs(back - refs[i])
                            e_rgb, e_m = float(d[..., :3].max()), float(d[..., 4].max())
                            err[codec] = (max(err[codec][0], e_rgb), max(err[codec][1], e_m))
            raw = w * h * len(NAMES) * (2 if half else 4)
            for codec in codecs:
                mb = statistics.median(size_b[codec]) / 1e6
                e_rgb, e_m = err[codec]
                lossless = e_rgb == 0 and e_m == 0
                print(f"{label:<16}{kind:<6}{codec:<6}{statistics.median(write[codec]):9.1f}"
                      f"{statistics.median(wcpu[codec]):7.0f}"
                      f"{statistics.median(read[codec]):9.1f}{statistics.median(rcpu[codec]):7.0f}"
                      f"{statistics.median(rows[codec]):9.1f}{mb:8.2f}"
                      f"{mb * 8e6 / (w * h):9.2f}{raw / (mb * 1e6):7.2f}  "
                      + ("lossless" if lossless else f"{e_rgb:.2g} / {e_m:.2g}"))
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
