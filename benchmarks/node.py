"""The FaceSwap node's cost over the engine, in one process, at 1080p; and what load/describe cost.

    python benchmarks/node.py [--frames 12] [--rounds 3] [--build build]

Content: the sample plate scaled ×1.5 and padded to 1920×1080 (the face scaled with it), written
as EXR and tracked with `doppel analyze`, then handed to the C++ test host (frames held in
memory, as a host's cache). With DOPPEL_NODE_STATS=1 the plugin logs, per render action, the
action's wall time and the time spent inside `FaceSwapper.process`; the node's overhead is the
rest (parameter reads, image fetches, numpy views, the GIL, the Python call). Both figures come
from the same render, so machine load cancels out. Also times `--describe` (load + describe)
and checks that it starts no Python.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.io.image import read_image, write_exr  # noqa: E402
from engine.runtime.sysinfo import cpu_name  # noqa: E402


def make_1080p(folder: Path, frames: range) -> Path:
    lines = ["display 1920 1080"]
    for f in frames:
        d = read_image(ROOT / "samples" / "plate" / f"plate.{f}.exr")
        px = cv2.resize(d.pixels, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
        px = px[:1080]
        pad = 1920 - px.shape[1]
        px = np.pad(px, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)), mode="edge")
        px = np.ascontiguousarray(px, np.float32)
        write_exr(folder / f"plate.{f}.exr", px, ("R", "G", "B", "A"), {}, half=False)
        np.save(folder / f"plate.{f}.npy", px)
        lines.append(f"frame {f} 0 0 1920 1080 {folder / f'plate.{f}.npy'}")
    (folder / "frames.txt").write_text("\n".join(lines) + "\n")
    return folder / "frames.txt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", type=Path, default=ROOT / "build")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "demo_df-ud_96.onnx")
    args = ap.parse_args()
    host = [str(args.build / "ofx_test_host"), "--bundle",
            str(args.build / "FaceSwap.ofx.bundle")]
    print(f"CPU: {cpu_name()}")
    describe = []
    for _ in range(5):
        out = subprocess.run(host + ["--describe"], capture_output=True, text=True, check=True)
        describe.append(float(re.search(r"load_describe_ms=([\d.]+)", out.stdout).group(1)))
        assert "python_initialized_after_describe=0" in out.stdout
    print(f"load + describe: median {statistics.median(describe):.2f} ms over 5 runs, "
          "Python not started")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames = range(1001, 1001 + args.frames)
        txt = make_1080p(folder, frames)
        track = folder / "track.json"
        subprocess.run([sys.executable, "-m", "doppel_cli", "analyze",
                        str(folder / "plate.####.exr"), "-o", str(track), "--quiet"],
                       check=True, capture_output=True)
        # One host process: phase 0 warms up (Python start, model load), phases 1.. measure.
        phases = ["--phase", ""] * (args.rounds + 1)
        out = subprocess.run(
            host + ["--source", str(txt), "--preload", "--set", f"model={args.model}",
                    "--set", f"track_file={track}", *phases],
            capture_output=True, text=True, env={**os.environ, "DOPPEL_NODE_STATS": "1"})
        if out.returncode:
            print(out.stderr[-2000:])
            return 1
    rows = re.findall(r"render_ms=([\d.]+) process_ms=([\d.]+)", out.stderr)[args.frames:]
    asks = [float(v) for v in re.findall(r"ask_ms_per_frame=([\d.]+)", out.stdout)[1:]]
    render = [float(a) for a, _ in rows]
    process = [float(b) for _, b in rows]
    ratio = [a / b for a, b in zip(render, process, strict=True)]
    ask = statistics.median(asks)
    total = statistics.median(process) and (statistics.median(render) + ask) / statistics.median(
        process)
    print(f"1080p, {len(render)} warm renders: render action median "
          f"{statistics.median(render):.2f} ms, FaceSwapper.process inside it "
          f"{statistics.median(process):.2f} ms (action overhead "
          f"{100 * (statistics.median(ratio) - 1):.1f} %, median of per-frame ratios); "
          f"isIdentity + regions of interest {ask:.2f} ms per frame; node overhead in all "
          f"{100 * (total - 1):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
