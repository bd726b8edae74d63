"""Training throughput, side by side in one run.

1. Full loop (data loading + augmentation + step, through the DataLoader) vs the model-only step
   on synthetic tensors, for DF and LIAE at 128 px: samples/s and their ratio (goal ≥ 0.9:
   loading must never be the bottleneck).
2. DeepFaceLab's SAEHD configurations (batch 8, ae 256, e 64, d 64, mask 22, full face):
   `df-ud` 128, `liae-ud` 128, `df-ud` 64; s/iteration of the model step in fp32 NCHW and in
   our default (bf16 autocast where the CPU has native bf16, channels-last).
3. Loss curve: the same 120 iterations of `df-ud` 64 in fp32 and in bf16 (same seed, same
   batches): mean loss over the last 20 iterations of each.
Usage: python benchmarks/train.py [--iters N] [--skip-curve]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.extract import ExtractSettings, extract  # noqa: E402
from engine.io import open_source  # noqa: E402
from trainers.config import TrainConfig  # noqa: E402
from trainers.data import make_loader  # noqa: E402
from trainers.train import Trainer  # noqa: E402

DFL = dict(batch_size=8, ae_dims=256, e_dims=64, d_dims=64, mask_dims=22)


def facesets(samples: Path, work: Path) -> tuple[Path, Path]:
    src, dst = work / "src", work / "dst"
    if not (src / "faceset.json").is_file():
        stills = work / "obama"
        stills.mkdir(parents=True, exist_ok=True)
        for p in sorted((samples / "photos").glob("obama*.jpg")):
            shutil.copy(p, stills / p.name)
        extract(open_source(stills), src, ExtractSettings(size=128))
    if not (dst / "faceset.json").is_file():
        extract(open_source(samples / "plate" / "plate.####.exr"), dst,
                ExtractSettings(size=128), frames=range(1001, 1061))
    return src, dst


def trainer(src: Path, dst: Path, out: Path, **kw) -> Trainer:
    shutil.rmtree(out, ignore_errors=True)
    cfg = TrainConfig(src=str(src), dst=str(dst), out=str(out), **{**DFL, **kw}).validate()
    return Trainer(cfg, log=lambda s: None)


def time_steps(tr: Trainer, batches, iters: int) -> float:
    """Median seconds per step over `iters` steps after 2 warm-ups."""
    it = iter(batches)
    for _ in range(2):
        tr.step(next(it))
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        tr.step(next(it))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def synthetic(tr: Trainer):
    one = next(iter(make_loader(tr.dataset, 0, tr.cfg.batch_size, 0)))
    while True:
        yield one


def full_loop(tr: Trainer, iters: int) -> float:
    """Seconds per iteration of the real loop: the DataLoader feeding steps, wall clock."""
    loader = iter(make_loader(tr.dataset, 0, tr.cfg.batch_size, tr.cfg.workers))
    for _ in range(2):
        tr.step(next(loader))
    t = time.perf_counter()
    for _ in range(iters):
        tr.step(next(loader))
    return (time.perf_counter() - t) / iters


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--work", default="out/bench_train")
    ap.add_argument("--skip-curve", action="store_true")
    a = ap.parse_args()
    work = Path(a.work)
    src, dst = facesets(Path(a.samples), work)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, cuda={torch.cuda.is_available()}")

    print("\n1. full loop vs model-only step (default precision, batch 8, 2 loader workers)")
    print(f"{'arch':<10}{'model-only samples/s':>22}{'full loop samples/s':>21}{'ratio':>8}")
    for arch in ("df-ud", "liae-ud"):
        tr = trainer(src, dst, work / "m", arch=arch, resolution=128, workers=2)
        model_only = time_steps(tr, synthetic(tr), a.iters)
        full = full_loop(tr, a.iters)
        print(f"{arch:<10}{8 / model_only:>22.2f}{8 / full:>21.2f}{model_only / full:>8.2f}")

    print("\n2. DeepFaceLab SAEHD configurations, s/iteration of the model step")
    print(f"{'config':<16}{'fp32 NCHW':>11}{'ours':>9}{'ours vs DFL':>13}")
    dfl = {("df-ud", 128): 3.5, ("liae-ud", 128): 4.2, ("df-ud", 64): 1.3}
    for (arch, res), ref in dfl.items():
        tr32 = trainer(src, dst, work / "m", arch=arch, resolution=res, precision="fp32",
                       channels_last=False, workers=0)
        s32 = time_steps(tr32, synthetic(tr32), a.iters)
        del tr32
        tro = trainer(src, dst, work / "m", arch=arch, resolution=res, workers=0)
        so = time_steps(tro, synthetic(tro), a.iters)
        tag = f"{arch} {res}px"
        print(f"{tag:<16}{s32:>10.2f}s{so:>8.2f}s{ref / so:>12.2f}x  (DFL {ref} s; ours: "
              f"{tro.amp or 'fp32'}, channels-last)")
        del tro

    if not a.skip_curve:
        print("\n3. loss curve, df-ud 64 px, 120 iterations, same seed and batches")
        for prec in ("fp32", "bf16"):
            tr = trainer(src, dst, work / "m", arch="df-ud", resolution=64, precision=prec,
                         workers=0, seed=1)
            loader = iter(make_loader(tr.dataset, 0, 8, 0))
            losses = [tr.step(next(loader))["total"] for _ in range(120)]
            tail = statistics.mean(losses[-20:])
            print(f"{prec}: first {losses[0]:.3f}, mean of last 20 {tail:.3f}")


if __name__ == "__main__":
    main()
