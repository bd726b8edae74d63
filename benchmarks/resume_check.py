"""What resume's safety costs: the per-frame record check against the old existence check.

In one run, interleaved: for frames already rendered, (a) the old check (the header has
`doppel/engine`) and (b) the record check (`is_rendered`: header read, record parsed and
compared), plus the once-per-run model digest (sha256 of the model file) and one frame's render
for scale. Prints medians; figures go to docs/benchmarks.md with the CPU named.

    .venv/bin/python benchmarks/resume_check.py
"""

from __future__ import annotations

import hashlib
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import OpenImageIO as oiio  # noqa: E402

from engine.shot.render import RenderJob, render  # noqa: E402
from engine.shot.resume import is_rendered  # noqa: E402
from engine.swap.pipeline import SwapSettings  # noqa: E402

FRAMES = [1001, 1002, 1003, 1004]


def old_check(path: Path) -> bool:
    inp = oiio.ImageInput.open(str(path))
    try:
        return inp.spec().getattribute("doppel/engine") is not None
    finally:
        inp.close()


def main() -> None:
    model = ROOT / "models" / "demo_df-ud_96.onnx"
    plate = str(ROOT / "samples" / "plate" / "plate.####.exr")
    with tempfile.TemporaryDirectory() as tmp:
        settings = SwapSettings.from_dict({"model": str(model)})
        job = RenderJob(plate, f"{tmp}/swap.####.exr", settings)
        t0 = time.perf_counter()
        render(job, FRAMES)
        per_frame_render = (time.perf_counter() - t0) / len(FRAMES) * 1000
        record = job.record("")
        paths = [Path(f"{tmp}/swap.{f}.exr") for f in FRAMES]
        old, new, digest = [], [], []
        for _ in range(30):  # interleaved rounds
            t = time.perf_counter()
            assert all(old_check(p) for p in paths)
            old.append((time.perf_counter() - t) / len(paths) * 1000)
            t = time.perf_counter()
            assert all(is_rendered(p, record) for p in paths)
            new.append((time.perf_counter() - t) / len(paths) * 1000)
            if len(digest) < 5:
                t = time.perf_counter()
                hashlib.sha256(model.read_bytes()).hexdigest()
                digest.append((time.perf_counter() - t) * 1000)
    print(f"CPU: {platform.processor() or platform.machine()}, model "
          f"{model.stat().st_size / 1e6:.0f} MB")
    print(f"existence check (old)   {statistics.median(old):7.2f} ms per frame")
    print(f"record check (resume)   {statistics.median(new):7.2f} ms per frame")
    print(f"model digest (once/run) {statistics.median(digest):7.1f} ms")
    print(f"render, for scale       {per_frame_render:7.0f} ms per frame (1 worker, detection)")


if __name__ == "__main__":
    main()
