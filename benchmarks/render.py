"""What a user pays per frame for `doppel render`, beside what each of its stages costs alone.

Plates (benchmarks/media.py): the demo plate (`samples/plate_cap12`, 800×600, the face the demo
model was trained for) scaled up and padded with itself mirrored (real content edge to edge,
RGBA half/zip EXR, as a plate arrives), with its track mapped onto the canvas:
- 1080p: the plate ×1.8 on 1920×1080;
- 4K, same face: the same ×1.8 pixels on 3840×2160 (the face the same size in pixels);
- 4K, face ×2: the plate ×3.6 on 3840×2160 (the same framing shot at 4K: the face twice as big).
The model is the trained demo model (`models/demo_franck_df-ud_96.onnx`, real masks) unless
`--model` names another (`--dfl128` exports DeepFaceLab's SAEHD-sized df-ud 128, untrained:
the network's cost, not its masks; needs torch). The look is DeepFaceLab's merger default
(overlay, rct, learned-prd*learned-dst).

Per frame, interleaved (each round visits every frame of every case once, so drift of a loaded
machine moves all figures alike), wall-clock medians and CPU time (all threads of the process):
- floor: the ONNX session on one face crop, nothing else;
- swap: FaceSwapper.process on a plate already in memory, in place, as render calls it;
- read: the plate as render reads it (every channel; a half plate kept half for a half output);
  write: the 5 channels render writes (R,G,B,A and doppel.mask, half, zip) as its writer
  thread writes them. These are
  separate stages: render reads on a read-ahead thread and writes on a writer thread;
- render: `engine.shot.render.render` (what `doppel render` runs) over the round's frames, full
  frame overlapped, full frame with --no-overlap (serial), and --region face; per frame in
  steady state = time between the first and the last frame's write completing / (frames − 1)
  (model loading and the pipeline's fill are outside it; "fill" includes the first frame).
Ratios: render / its slowest single stage, max(swap, read, write) (goal ≤ 1.15); render
--region face / floor (goal ≤ 1.5 at 4K with the face ×2); and render / (sum of the stages'
CPU / cores), how close the overlapped render is to what the cores allow.
Usage: python benchmarks/render.py [--frames N] [--rounds R] [--model PATH | --dfl128]
       [--cases 1080p,4K-same-face,4K-face-x2] [--media DIR]
EXR through OpenImageIO alone (the code before OpenEXR's binding read and wrote them, for an
A/B in one checkout): DOPPEL_EXR_IO=oiio python benchmarks/render.py …
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import media  # noqa: E402

import engine.shot.layers as layers_mod  # noqa: E402
from engine.geometry.track import Track  # noqa: E402
from engine.io import read_image, write_exr  # noqa: E402

try:  # a checkout from before machine_line (run with --baseline's code)
    from engine.runtime.sysinfo import machine_line  # noqa: E402
except ImportError:  # pragma: no cover
    from engine.runtime.sysinfo import cpu_name as machine_line  # noqa: E402
from engine.shot.render import RenderJob, render  # noqa: E402
from engine.swap.infer import SwapModel  # noqa: E402
from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook  # noqa: E402
from engine.swap.settings import SwapSettings  # noqa: E402

LOOK = SwapLook(blend="overlay", color="rct", mask_mode="learned-prd*learned-dst")
TRAINED = ROOT / "models" / "demo_franck_df-ud_96.onnx"


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


def started(times: list[float]) -> Any:
    """A render progress hook that notes when the frames start (after the model is loaded)."""
    def hook(it: Iterable[Any], total: int) -> Iterator[Any]:
        times.append(time.perf_counter())
        yield from it
    return hook


def render_ms(job: RenderJob, frames: list[int], overlap: bool = True
              ) -> tuple[float, float, float]:
    """(steady-state ms per frame, ms per frame with the fill, CPU ms per frame) of one render.

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
    cpu = time.process_time()
    try:
        summary = render(job, frames, overwrite=True, progress=started(start), overlap=overlap)
    finally:
        layers_mod.write_frame = write
    cpu = (time.process_time() - cpu) * 1000 / len(frames)
    if summary.errors or len(done) != len(frames):
        raise SystemExit(f"render failed: {summary.lines()}")
    n = len(frames)
    return (done[-1] - done[0]) / (n - 1) * 1000, (done[-1] - start[0]) / n * 1000, cpu


def read_as_render(path: str) -> Any:
    """The plate as a half-output render reads it: a half file stays half (a checkout from
    before `keep_half` reads float)."""
    try:
        return read_image(path, keep_half=True)
    except TypeError:  # pragma: no cover - the baseline checkout
        return read_image(path)


def mask_as_render(res: Any, plate: np.ndarray) -> np.ndarray:
    """The mask layer as render writes it: in the plate's own type."""
    mask = res.mask_as(plate.dtype) if hasattr(res, "mask_as") else res.mask
    return mask[..., None]


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """(fn(*args, **kwargs), wall ms, CPU ms of the process)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=5, help="frames per render (≥ 2)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", help=f"swap model (default {TRAINED.relative_to(ROOT)})")
    ap.add_argument("--dfl128", action="store_true",
                    help="export and use a DFL-sized df-ud 128 (untrained; needs torch)")
    ap.add_argument("--media", type=Path, default=Path(tempfile.gettempdir()) / "doppel-media")
    ap.add_argument("--cases", default=",".join(media.CASES),
                    help="comma separated: " + ", ".join(media.CASES))
    a = ap.parse_args()
    if a.frames < 2:
        raise SystemExit("--frames must be ≥ 2 (steady state is between frames)")
    tmp = Path(tempfile.mkdtemp(prefix="doppel-bench-"))
    try:
        run(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(a: argparse.Namespace, tmp: Path) -> None:
    model_path = Path(a.model) if a.model else TRAINED
    if a.dfl128:
        model_path = tmp / "dfl_df-ud_128.onnx"
        export_dfl_sized_model(model_path)
    model = SwapModel(model_path, "cpu", 0)
    frames = list(range(1001, 1001 + a.frames))
    track = media.plate_track(frames)
    print(machine_line())
    print(f"model {model_path.name} ({model.info.resolution} px), providers {model.providers}; "
          f"{a.frames} frames × {a.rounds} rounds per case")
    settings = SwapSettings.from_dict({**SwapSettings().to_dict(), "model": str(model_path),
                                       "blend": LOOK.blend, "color": LOOK.color,
                                       "mask_mode": LOOK.mask_mode})
    # As render runs it: ORT not spinning (an overlapped render's other threads need the cores).
    swapper = FaceSwapper(EngineConfig(model=str(model_path)), spinning=False)
    cases = {name: media.plate_case(a.media, name, frames, track)
             for name in a.cases.split(",")}
    names5 = ("R", "G", "B", "A", "doppel.mask")
    rng = np.random.default_rng(0)
    crop = rng.random((1, model.resolution, model.resolution, 3), "f4")
    swapper.model.run(crop)
    m: dict[str, dict[str, list[float]]] = {n: {} for n in cases}

    def note(case: str, key: str, ms: float) -> None:
        m[case].setdefault(key, []).append(ms)

    for _ in range(a.rounds):
        for name, (pattern, track_path) in cases.items():
            tr = Track.load(track_path)
            for f in frames:
                plate = pattern.replace("####", str(f))
                _, wall, cpu = timed(swapper.model.run, crop)
                note(name, "floor", wall)
                note(name, "floor_cpu", cpu)
                img, wall, cpu = timed(read_as_render, plate)
                note(name, "read", wall)
                note(name, "read_cpu", cpu)
                res, wall, cpu = timed(swapper.process, img.pixels, f, look=LOOK, track=tr,
                                       out=img.pixels, channels=img.channels)
                note(name, "swap", wall)
                note(name, "swap_cpu", cpu)
                _, wall, cpu = timed(write_exr, tmp / f"io_{name}.exr",
                                     [img.pixels, mask_as_render(res, img.pixels)], names5)
                note(name, "write", wall)
                note(name, "write_cpu", cpu)
            for key, region, overlap in (("render", "full", True), ("serial", "full", False),
                                         ("region", "face", True)):
                job = RenderJob(pattern, str(tmp / name / key / "swap.####.exr"), settings,
                                str(track_path), region=region)
                steady, with_fill, cpu = render_ms(job, frames, overlap)
                note(name, key, steady)
                note(name, key + "_fill", with_fill)
                note(name, key + "_cpu", cpu)
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in m.items()}
    cores = os.cpu_count() or 1
    print(f"\nms per frame, medians (CPU ms of all threads in brackets); {cores} cores")
    cols = ("floor", "swap", "read", "write", "render", "serial", "region")
    print(f"{'case':<14}" + "".join(f"{c:>14}" for c in cols) + f"{'(fill)':>9}")
    for name, d in med.items():
        print(f"{name:<14}" + "".join(f"{d[c]:7.0f} [{d[c + '_cpu']:4.0f}]" for c in cols)
              + f"{d['render_fill']:9.0f}")
    print()
    for name, d in med.items():
        slowest = max(d["swap"], d["read"], d["write"])
        which = max(("swap", "read", "write"), key=lambda k: d[k])
        cpu_bound = (d["swap_cpu"] + d["read_cpu"] + d["write_cpu"]) / cores
        print(f"{name:<14} render / slowest stage ({which}) = {d['render'] / slowest:4.2f} "
              f"(goal ≤ 1.15; serial {d['serial'] / slowest:4.2f}); "
              f"render / (stages' CPU / {cores} cores) = {d['render'] / cpu_bound:4.2f}; "
              f"region / floor = {d['region'] / d['floor']:4.2f}")


if __name__ == "__main__":
    main()
