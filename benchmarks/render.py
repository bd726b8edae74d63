"""Per-frame render cost by stage, 1080p vs 4K, and the ratio to the ONNX-inference floor.

The same sample-plate face (same size in pixels) is placed on a 1920×1080 and a 3840×2160
canvas; a DF-UD 128 px model with DeepFaceLab's SAEHD dims (ae 256, e 64, d 64, mask 22) is
exported untrained (network cost does not depend on training) and swapped with overlay + rct and
learned-prd*learned-dst masks (DeepFaceLab's merger settings in the issue), then with seamless.
Reported, all in one run:
- ms per stage (median over frames) from the pipeline's own timings;
- the whole frame (FaceSwapper.process, in place as the renderer calls it, EXR I/O excluded);
- the inference floor: the same ONNX session run on one face crop, nothing else;
- EXR read and write (half, zip) of the frame, separately.
Usage: python benchmarks/render.py [--frames N] [--model PATH]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.analyze import FaceAnalyzer  # noqa: E402
from engine.infer import SwapModel  # noqa: E402
from engine.io import open_source, read_image, write_exr  # noqa: E402
from engine.pipeline import EngineConfig, FaceSwapper, SwapLook  # noqa: E402
from engine.track import Track, select_track  # noqa: E402


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


def canvases(frame_rgba: np.ndarray, lm: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The plate frame at 1080 lines on a 1080p canvas, and the same pixels on a 4K canvas."""
    import cv2

    h, w = frame_rgba.shape[:2]
    s = 1080 / h
    hd = cv2.resize(frame_rgba, (round(w * s), 1080), interpolation=cv2.INTER_CUBIC)
    out = {}
    for name, (cw, ch) in {"1080p": (1920, 1080), "4K": (3840, 2160)}.items():
        canvas = np.zeros((ch, cw, 4), np.float32)
        canvas[..., 3] = 1.0
        x0, y0 = (cw - hd.shape[1]) // 2, (ch - hd.shape[0]) // 2
        canvas[y0:y0 + hd.shape[0], x0:x0 + hd.shape[1]] = hd
        out[name] = (canvas, (lm + 0.5) * s - 0.5 + [x0, y0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--model", help="swap model; default: a DFL-sized df-ud 128 export")
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--threads", type=int, default=0,
                    help="ONNX Runtime threads (0 = its default); 1 makes --cpu-time exact")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time CPU seconds of this process instead of wall time (for a shared, "
                         "loaded machine: other processes' load does not count)")
    a = ap.parse_args()
    clock = time.process_time if a.cpu_time else time.perf_counter
    tmp = Path(tempfile.mkdtemp(prefix="doppel-bench-"))
    model_path = Path(a.model) if a.model else tmp / "dfl_df-ud_128.onnx"
    if not a.model:
        export_dfl_sized_model(model_path)
    model = SwapModel(model_path, "cpu", a.threads)
    src = open_source(Path(a.samples) / "plate" / "plate.####.exr")
    frame = read_image(src.path_of(1010))
    faces = FaceAnalyzer.create("centerface").analyze(frame.rgb())
    lm = select_track({1010: faces}).landmarks(1010)
    print(f"machine: {platform.machine()}, model {model_path.name} "
          f"({model.info.resolution} px), providers {model.providers}")
    crop = np.random.default_rng(0).random((1, model.resolution, model.resolution, 3), "f4")
    for _ in range(3):
        model.run(crop)
    floor = []
    for _ in range(a.frames):
        t = clock()
        model.run(crop)
        floor.append((clock() - t) * 1000)
    inf_ms = statistics.median(floor)
    print(f"inference floor (ONNX Runtime, one face): {inf_ms:.1f} ms")
    names = ("R", "G", "B", "A")
    for blend in ("overlay", "seamless"):
        sw = FaceSwapper(EngineConfig(model=str(model_path)), model=model)
        look = SwapLook(blend=blend, color="rct", mask_mode="learned-prd*learned-dst")
        totals = {}
        for res_name, (canvas, lm_c) in canvases(frame.pixels, lm).items():
            face = select_track({1010: faces}).faces[1010].with_landmarks(lm_c)
            track = Track({1010: face})
            stage: dict[str, list[float]] = {}
            whole = []
            for _ in range(a.frames + 2):
                work = canvas.copy()
                t = clock()
                res = sw.process(work, 1010, look=look, track=track, out=work, channels=names)
                whole.append((clock() - t) * 1000)
                for k, v in res.diagnostics["timings_ms"].items():
                    stage.setdefault(k, []).append(v)
            ms = statistics.median(whole[2:])
            totals[res_name] = ms
            stages = ", ".join(f"{k} {statistics.median(v[2:]):.1f}" for k, v in stage.items()
                               if k != "total")
            print(f"{blend:<9}{res_name:>6}: frame {ms:6.1f} ms = {ms / inf_ms:4.2f}x inference"
                  f"  [{stages}]")
        print(f"{blend:<9}  4K / 1080p frame cost: {totals['4K'] / totals['1080p']:.2f}x")
    for res_name, (canvas, _) in canvases(frame.pixels, lm).items():
        path = tmp / f"io_{res_name}.exr"
        t = time.perf_counter()
        write_exr(path, canvas, names)
        w_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        read_image(path)
        r_ms = (time.perf_counter() - t) * 1000
        print(f"EXR half/zip {res_name}: write {w_ms:.0f} ms, read {r_ms:.0f} ms")


if __name__ == "__main__":
    main()
