"""What a user pays per frame for `doppel render`, beside what its stages cost alone.

Plates are the sample plate's frames scaled up (bicubic) and padded to the canvas with the
plate mirrored (real content edge to edge, RGBA half/zip EXR, as a plate arrives):
- 1080p: the plate ×1.5 on 1920×1080;
- 4K, same face: the same ×1.5 pixels on 3840×2160 (the face the same size in pixels);
- 4K, face ×2: the plate ×3 on 3840×2160 (the same framing shot at 4K: the face twice as big).
The track is the sample plate's (centerface), mapped onto each canvas. The model is a DF-UD
128 px export with DeepFaceLab's SAEHD dims (ae 256, e 64, d 64, mask 22), untrained (network
cost does not depend on training); the look is DeepFaceLab's merger default (overlay, rct,
learned-prd*learned-dst).

Per frame, interleaved (each round visits every frame of every case once, so drift of a loaded
machine moves all figures alike), all wall-clock medians:
- inference floor: the ONNX session on one face crop, nothing else;
- swap alone: FaceSwapper.process on a plate already in memory, in place, as render calls it;
- EXR read + write alone: read the plate, write the 5 channels render writes (R,G,B,A and
  doppel.mask, half, zip), no swap;
- render: `engine.shot.render.render` (what `doppel render` runs) over the round's frames, full
  frame pipelined, full frame with --no-overlap, and --region face; per frame in steady state
  = time between the first and the last frame's completion / (frames − 1) (model loading and
  the pipeline's fill are outside it; with fill is printed too).
Ratios: render (full) / max(swap alone, EXR read + write alone), goal ≤ 1.15; render
(--region face) / inference floor at 1080p, goal ≤ 1.5.
Usage: python benchmarks/render.py [--frames N] [--rounds R] [--model PATH] [--cases ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine.shot.layers as layers_mod  # noqa: E402
from engine.geometry.analyzer import FaceAnalyzer  # noqa: E402
from engine.geometry.track import Track, select_track  # noqa: E402
from engine.io import Geometry, open_source, read_image, write_exr  # noqa: E402
from engine.runtime.sysinfo import cpu_name  # noqa: E402
from engine.shot.render import RenderJob, render  # noqa: E402
from engine.swap.infer import SwapModel  # noqa: E402
from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook  # noqa: E402
from engine.swap.settings import SwapSettings  # noqa: E402

LOOK = SwapLook(blend="overlay", color="rct", mask_mode="learned-prd*learned-dst")
# name: (canvas width, height, scale of the 880×720 sample plate)
CASES = {"1080p": (1920, 1080, 1.5), "4K-same-face": (3840, 2160, 1.5),
         "4K-face-x2": (3840, 2160, 3.0)}


def export_dfl_sized_model(path: Path) -> None:
    import torch

    from trainers.checkpoint import CKPT_SCHEMA
    from trainers.export import export_checkpoint
    from trainers.models import build_model, resolve_spec

    spec = resolve_spec("df-ud", resolution=128, ae_dims=256, e_dims=64, d_dims=64,
                        mask_dims=22)
    torch.manual_seed(0)
    model = build_model(spec)
    from dataclasses import asdict

    ckpt = {"schema": CKPT_SCHEMA, "iteration": 0, "spec": asdict(spec),
            "config": {"face_type": "full"}, "model": model.state_dict()}
    torch.save(ckpt, path.with_suffix(".pt"))
    export_checkpoint(path.with_suffix(".pt"), path)


def make_case(folder: Path, frames: list[int], plates: dict[int, np.ndarray],
              track: Track, size: tuple[int, int], scale: float) -> Path:
    """Write the case's plate sequence and its track; returns the track's path."""
    import cv2

    cw, ch = size
    faces = {}
    for f in frames:
        px = plates[f]
        h, w = px.shape[:2]
        big = cv2.resize(px, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        x0, y0 = (cw - big.shape[1]) // 2, (ch - big.shape[0]) // 2
        canvas = np.pad(big, ((y0, ch - big.shape[0] - y0), (x0, cw - big.shape[1] - x0),
                              (0, 0)), mode="symmetric")
        write_exr(folder / f"plate.{f}.exr", canvas, ("R", "G", "B", "A"))
        lm = (track.landmarks(f) + 0.5) * scale - 0.5 + np.float32([x0, y0])
        faces[f] = track.faces[f].with_landmarks(lm)
    settings = {**track.settings, "frames": f"{frames[0]}-{frames[-1]}",
                "plate": Geometry.full(cw, ch).to_json()}
    path = folder / "track.json"
    Track(faces, {}, settings).save(path)
    return path


def started(times: list[float]) -> Any:
    """A render progress hook that notes when the frames start (after the model is loaded)."""
    def hook(it: Iterable[Any], total: int) -> Iterator[Any]:
        times.append(time.perf_counter())
        yield from it
    return hook


def render_ms(job: RenderJob, frames: list[int], pipeline: bool = True) -> tuple[float, float]:
    """(steady-state ms per frame, ms per frame with the pipeline's fill) of one render.

    Each frame's completion is the end of its write, noted on the thread that wrote it (the
    render's results reach its caller's thread only between swaps)."""
    start: list[float] = []
    done: list[float] = []
    write = layers_mod.write_frame

    def timed(fmt: Any, frame: Any) -> Any:
        out = write(fmt, frame)
        done.append(time.perf_counter())
        return out
    layers_mod.write_frame = timed
    try:
        summary = render(job, frames, overwrite=True, progress=started(start),
                         overlap=pipeline)
    finally:
        layers_mod.write_frame = write
    if summary.errors or len(done) != len(frames):
        raise SystemExit(f"render failed: {summary.lines()}")
    n = len(frames)
    return (done[-1] - done[0]) / (n - 1) * 1000, (done[-1] - start[0]) / n * 1000


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="doppel-bench-"))
    try:
        run(tmp)
    finally:  # the plates are about 660 MB for 5 frames of the three cases
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4, help="frames per render (≥ 2)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", help="swap model; default: a DFL-sized df-ud 128 export")
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--cases", default=",".join(CASES), help="comma separated: " + ", ".join(CASES))
    a = ap.parse_args()
    if a.frames < 2:
        raise SystemExit("--frames must be ≥ 2 (steady state is between frames)")
    model_path = Path(a.model) if a.model else tmp / "dfl_df-ud_128.onnx"
    if not a.model:
        export_dfl_sized_model(model_path)
    model = SwapModel(model_path, "cpu", 0)
    src = open_source(Path(a.samples) / "plate" / "plate.####.exr")
    frames = src.frames[:a.frames]
    plates = {f: read_image(src.path_of(f)).pixels for f in frames}
    analyzer = FaceAnalyzer.create("centerface")
    track = select_track({f: analyzer.analyze(plates[f][..., :3]) for f in frames})
    track = Track(track.faces, track.smoothed, {"face_type": model.info.face_type})
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"model {model_path.name} ({model.info.resolution} px), providers {model.providers}; "
          f"{a.frames} frames × {a.rounds} rounds per case")
    settings = SwapSettings.from_dict({**SwapSettings().to_dict(), "model": str(model_path),
                                       "blend": LOOK.blend, "color": LOOK.color,
                                       "mask_mode": LOOK.mask_mode})
    swapper = FaceSwapper(EngineConfig(model=str(model_path)), model=model)
    cases = {}
    for name in a.cases.split(","):
        cw, ch, scale = CASES[name]
        folder = tmp / name
        cases[name] = (folder, make_case(folder, frames, plates, track, (cw, ch), scale))
    names5 = ("R", "G", "B", "A", "doppel.mask")
    rng = np.random.default_rng(0)
    crop = rng.random((1, model.resolution, model.resolution, 3), "f4")
    model.run(crop)
    m: dict[str, dict[str, list[float]]] = {n: {} for n in cases}

    def note(case: str, key: str, ms: float) -> None:
        m[case].setdefault(key, []).append(ms)

    for _ in range(a.rounds):
        for name, (folder, track_path) in cases.items():
            tr = Track.load(track_path)
            for f in frames:
                t = time.perf_counter()
                model.run(crop)
                note(name, "floor", (time.perf_counter() - t) * 1000)
                img = read_image(folder / f"plate.{f}.exr")
                t = time.perf_counter()
                res = swapper.process(img.pixels, f, look=LOOK, track=tr, out=img.pixels,
                                      channels=img.channels)
                note(name, "swap", (time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                plate = read_image(folder / f"plate.{f}.exr")
                note(name, "read", (time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                write_exr(tmp / f"io_{name}.exr", [plate.pixels, res.mask[..., None]], names5)
                note(name, "write", (time.perf_counter() - t) * 1000)
            for key, region, pipe in (("render", "full", True), ("serial", "full", False),
                                      ("region", "face", True)):
                job = RenderJob(str(folder / "plate.####.exr"),
                                str(folder / key / "swap.####.exr"), settings, str(track_path),
                                region=region)
                steady, with_fill = render_ms(job, frames, pipe)
                note(name, key, steady)
                note(name, key + "_fill", with_fill)
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in m.items()}
    print(f"\n{'case':<14}{'floor':>7}{'swap':>7}{'read':>7}{'write':>7}{'r+w':>7}"
          f"{'render':>8}{'(fill)':>8}{'serial':>8}{'region':>8}   ms per frame (medians)")
    for name, d in med.items():
        print(f"{name:<14}{d['floor']:7.0f}{d['swap']:7.0f}{d['read']:7.0f}{d['write']:7.0f}"
              f"{d['read'] + d['write']:7.0f}{d['render']:8.0f}{d['render_fill']:8.0f}"
              f"{d['serial']:8.0f}{d['region']:8.0f}")
    print()
    for name, d in med.items():
        slowest = max(d["swap"], d["read"] + d["write"])
        print(f"{name:<14} render / max(swap, EXR r+w) = {d['render'] / slowest:4.2f} "
              f"(goal ≤ 1.15; serial {d['serial'] / slowest:4.2f}); "
              f"region / floor = {d['region'] / d['floor']:4.2f}"
              f"{' (goal ≤ 1.5)' if name == '1080p' else ''}")


if __name__ == "__main__":
    main()
