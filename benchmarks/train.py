"""Training throughput, measured side by side in one run, on whatever machine runs it.

For each configuration (arch × resolution × batch), interleaved rounds of:
- model-only: the training step on one fixed batch already on the device (no data work);
- full loop: the trainer's own data path (device augmentation on CUDA, DataLoader workers on
  the CPU: `augment: auto`, `workers: auto`) feeding the step, as `doppel train` runs;
- loader alone: producing batches with nothing else running;
and the step's achieved TFLOP/s (its FLOPs counted by torch's FlopCounterMode, one forward and
backward). With `--baseline DIR` (a checkout of another commit, e.g. `git worktree add
/tmp/base <commit>`), the same measurements run with that tree's trainer in a subprocess,
right after ours for each configuration, so two versions compare on one machine in one run.
`--curve N` trains N iterations with our trainer (and the baseline's) from the same seed on the
sample facesets and reports the mean loss over the last tenth: the same augmentation and step
must give the same curve within noise; `--curve-swap-pass` adds ours with the swap pass put
back into the step (the exact A/B of its removal: the losses must be identical), and
`--curve-parallel` runs the curves at once. `--profile` prints the top CUDA kernels of one
step. benchmarks/device_train.sh runs all of it on a lent GPU machine in one call.

Nothing is divided by figures from another machine; the CPU model, cores, torch build and the
precision actually used are printed with the figures.
Usage: python benchmarks/train.py [--configs df-ud:128:8,...] [--baseline DIR] [--curve N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent.parent
DFL = dict(ae_dims=256, e_dims=64, d_dims=64, mask_dims=22)  # DeepFaceLab SAEHD's defaults


def machine() -> str:
    from engine.runtime.sysinfo import cpu_name

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu_name()}, {cores} cores, {gpu}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def facesets(samples: Path, work: Path, size: int) -> tuple[Path, Path]:
    """src: the sample stills (Obama), dst: the sample plate's first 60 frames."""
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    src, dst = work / f"src{size}", work / f"dst{size}"
    if not (src / "faceset.json").is_file():
        stills = work / "obama"
        stills.mkdir(parents=True, exist_ok=True)
        for p in sorted((samples / "photos").glob("obama*.jpg")):
            shutil.copy(p, stills / p.name)
        extract(open_source(stills), src, ExtractSettings(size=size))
    if not (dst / "faceset.json").is_file():
        extract(open_source(samples / "plate" / "plate.####.exr"), dst,
                ExtractSettings(size=size), frames=range(1001, 1061))
    return src, dst


# -- measurements (run in this process, with whichever trainer is on sys.path) --------------

def make_trainer(src: str, dst: str, out: Path, **kw):
    from trainers.config import TrainConfig
    from trainers.train import Trainer

    shutil.rmtree(out, ignore_errors=True)
    cfg = TrainConfig(src=src, dst=dst, out=str(out), **{**DFL, **kw}).validate()
    return Trainer(cfg, log=lambda s: None)


def sync(tr) -> None:
    if tr.device.type == "cuda":
        torch.cuda.synchronize()


def is_new(tr) -> bool:
    return hasattr(tr, "batches")


def run_steps(tr, batches, n: int) -> float:
    """Wall seconds per step over n steps, the device drained at both ends."""
    sync(tr)
    t = time.perf_counter()
    for _ in range(n):
        b = next(batches)
        if is_new(tr):
            tr.step(b, sync=False)
        else:
            tr.step(b)
    if is_new(tr):
        tr.flush()
    sync(tr)
    return (time.perf_counter() - t) / n


def data_stream(tr, start: int = 0):
    if is_new(tr):
        for b, _ in tr.batches(start):
            yield b
    else:
        from trainers.data import make_loader

        yield from make_loader(tr.dataset, start, tr.cfg.batch_size, tr.cfg.workers,
                               pin_memory=tr.device.type == "cuda")


def fixed_batch(tr):
    b = tr._to_device(next(data_stream(tr)))
    while True:
        yield b


def loader_alone(tr, n: int) -> float:
    stream = data_stream(tr, 10_000)
    next(stream)
    sync(tr)
    t = time.perf_counter()
    for _ in range(n):
        b = next(stream)
    if tr.device.type == "cuda":
        b["src_warped"].sum().item()  # the batch must be finished, not just queued
    return (time.perf_counter() - t) / n


def step_flops(tr) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    b = next(fixed_batch(tr))
    graph = getattr(tr, "use_graph", False)
    tr.use_graph = False  # a replayed CUDA graph hides its operations from the counter
    with FlopCounterMode(display=False) as fc:
        if is_new(tr):
            tr.step(b, sync=True)
        else:
            tr.step(b)
    tr.use_graph = graph
    return float(fc.get_total_flops())


def measure(src: str, dst: str, work: Path, arch: str, res: int, batch: int, iters: int,
            rounds: int, extra: dict) -> dict:
    kw = dict(arch=arch, resolution=res, batch_size=batch, **extra)
    if "workers" not in kw and not is_new_api():
        kw["workers"] = 8 if torch.cuda.is_available() else 2
    tr = make_trainer(src, dst, work / "m", **kw)
    fixed, stream = fixed_batch(tr), data_stream(tr)
    run_steps(tr, fixed, 3)  # warm-up: cuDNN autotuning, allocator
    run_steps(tr, stream, 3)
    model_only, full = [], []
    for _ in range(rounds):  # interleaved, so drift moves both alike
        model_only.append(run_steps(tr, fixed, iters))
        full.append(run_steps(tr, stream, iters))
    loader = loader_alone(tr, iters)
    flops = step_flops(tr)
    mo, fl = statistics.median(model_only), statistics.median(full)
    return {"arch": arch, "res": res, "batch": batch, "model_only_ms": mo * 1e3,
            "full_ms": fl * 1e3, "loader_ms": loader * 1e3, "ratio": mo / fl,
            "samples_s": batch / fl, "tflops": flops / mo / 1e12,
            "precision": str(tr.amp or "fp32").replace("torch.", ""),
            "augment": getattr(tr, "augment", "cpu"),
            "workers": getattr(tr, "workers", tr.cfg.workers),
            "threads": torch.get_num_threads(),
            "compiled": bool(getattr(tr.cfg, "compile", False)),
            "graph": getattr(tr, "_graph", None) is not None}


def is_new_api() -> bool:
    from trainers.train import Trainer

    return hasattr(Trainer, "batches")


def put_swap_pass_back(tr) -> None:
    """Make the training step compute the swap (dst through the src decoder) again and drop
    it, as the step did before issue 14 took the pass out: the loss must not change."""
    model = tr.train_model
    forward = model.forward

    def with_swap(src, dst, swap=True):
        out = forward(src, dst, swap=True)
        return out if swap else out[:2]

    model.forward = with_swap


def curve(src: str, dst: str, work: Path, iters: int, res: int, extra: dict,
          swap_pass: bool = False, tag: str = "c") -> dict:
    tr = make_trainer(src, dst, work / tag, arch="df-ud", resolution=res, batch_size=8, seed=1,
                      **extra)
    if swap_pass:
        put_swap_pass_back(tr)
    stream = data_stream(tr)
    losses = []
    t = time.perf_counter()
    for _ in range(iters):
        b = next(stream)
        out = tr.step(b, sync=True) if is_new(tr) else tr.step(b)
        losses.append(out["total"])
    tail = losses[-max(1, iters // 10):]
    return {"iters": iters, "first": losses[0], "tail_mean": statistics.mean(tail),
            "tail_sd": statistics.pstdev(tail), "seconds": time.perf_counter() - t,
            "precision": str(getattr(tr, "amp", None) or "fp32").replace("torch.", ""),
            "losses": losses}


def profile(src: str, dst: str, work: Path, arch: str, res: int, batch: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    tr = make_trainer(src, dst, work / "p", arch=arch, resolution=res, batch_size=batch)
    fixed = fixed_batch(tr)
    run_steps(tr, fixed, 5)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with prof(activities=acts) as p:
        run_steps(tr, fixed, 5)
    avg = p.key_averages()
    for key in (("self_device_time_total", "self_cuda_time_total") if torch.cuda.is_available()
                else ()) + ("self_cpu_time_total",):
        try:
            return avg.table(sort_by=key, row_limit=18, max_name_column_width=60)
        except (AttributeError, KeyError, ValueError):
            continue
    return ""


# -- driver ----------------------------------------------------------------------------------

def run_json(job: dict) -> dict:
    """A measurement job in this interpreter (the worker side of --baseline)."""
    kind = job.pop("kind")
    work = Path(job.pop("work"))
    if kind == "measure":
        return measure(job["src"], job["dst"], work, job["arch"], job["res"], job["batch"],
                       job["iters"], job["rounds"], job.get("extra", {}))
    return curve(job["src"], job["dst"], work, job["iters"], job["res"], job.get("extra", {}),
                 job.get("swap_pass", False), job.get("tag", "c"))


def start_job(tree: Path, job: dict) -> subprocess.Popen:
    """A measurement job in a fresh interpreter whose trainer comes from `tree`."""
    path = os.pathsep.join(filter(None, (str(tree), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen([sys.executable, __file__, "--job", json.dumps(job)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tree)


def job_result(proc: subprocess.Popen, what: str) -> dict:
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{what} job failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def in_baseline(baseline: Path, job: dict) -> dict:
    return job_result(start_job(baseline, job), "baseline")


def pick_facesets(a: argparse.Namespace, work: Path, res: int) -> tuple[Path, Path]:
    """`--facesets DIR`'s srcR/dstR (else its 256 px pair, resized on load), or the sample
    media extracted at max(R, 128) px."""
    if a.facesets:
        root = Path(a.facesets)
        if (root / f"src{res}").is_dir():
            return root / f"src{res}", root / f"dst{res}"
        return root / "src256", root / "dst256"
    return facesets(Path(a.samples), work, max(res, 128))


def row(tag: str, m: dict) -> str:
    return (f"{tag:<9}{m['arch']:<9}{m['res']:>5}{m['batch']:>6}{m['model_only_ms']:>10.1f}"
            f"{m['full_ms']:>10.1f}{m['loader_ms']:>10.1f}{m['ratio']:>7.2f}"
            f"{m['samples_s']:>10.1f}{m['tflops']:>8.1f}  {m['precision']}, {m['augment']}, "
            f"{m['workers']} workers, {m.get('threads', '?')} threads"
            f"{', CUDA graph' if m.get('graph') else ''}"
            f"{', compiled' if m.get('compiled') else ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=None,
                    help="arch:res:batch,... (default: CPU df-ud:64:8,liae-ud:64:8,"
                         "df-ud:128:8; GPU DF and LIAE at 128/256 px, batch 8 and 32)")
    ap.add_argument("--iters", type=int, default=None, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--facesets", default=None, help="folder with srcR/ and dstR/ facesets")
    ap.add_argument("--work", default="out/bench_train")
    ap.add_argument("--baseline", default=None, help="another checkout to compare with")
    ap.add_argument("--baseline-configs", default=None,
                    help="measure the baseline only for these arch:res:batch (default: all)")
    ap.add_argument("--curve", type=int, default=0, help="iterations of the loss comparison")
    ap.add_argument("--curve-res", type=int, default=128)
    ap.add_argument("--curve-swap-pass", action="store_true",
                    help="also train ours with the swap pass put back into the step")
    ap.add_argument("--curve-parallel", action="store_true",
                    help="run the curves at the same time, one process each (the losses do "
                         "not depend on timing; their seconds then do)")
    ap.add_argument("--profile", default=None, help="arch:res:batch to profile one step of")
    ap.add_argument("--set", action="append", default=[],
                    help="extra config key=value for our trainer (e.g. compile=true)")
    ap.add_argument("--json", default=None, help="write all figures here")
    ap.add_argument("--job", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.job:  # the baseline's trainer comes from PYTHONPATH, not from this tree
        print(json.dumps(run_json(json.loads(a.job))))
        return
    sys.path.insert(0, str(HERE))
    gpu = torch.cuda.is_available()
    cfgs = a.configs or ("df-ud:128:8,df-ud:256:8,liae-ud:256:8,df-ud:256:32,liae-ud:128:8,"
                         "df-ud:128:32,liae-ud:256:32,liae-ud:128:32" if gpu
                         else "df-ud:64:8,liae-ud:64:8,df-ud:128:8")
    if cfgs == "none":  # only the curve / profile
        cfgs = ""
    iters = a.iters or (20 if gpu else 3)
    extra = {}
    for kv in a.set:
        k, v = kv.split("=", 1)
        extra[k] = {"true": True, "false": False}.get(v.lower(), int(v) if v.isdigit() else v)
    work = Path(a.work)
    base = Path(a.baseline).resolve() if a.baseline else None
    print(f"machine: {machine()}")
    results: dict = {"machine": machine(), "ours": [], "baseline": [], "curve": {}}
    print(f"\n{'':<9}{'arch':<9}{'res':>5}{'batch':>6}{'model ms':>10}{'full ms':>10}"
          f"{'load ms':>10}{'ratio':>7}{'samples/s':>10}{'TFLOP/s':>8}")
    for spec in filter(None, cfgs.split(",")):
        arch, res, batch = spec.split(":")
        res, batch = int(res), int(batch)
        src, dst = pick_facesets(a, work, res)
        job = dict(src=str(src.resolve()), dst=str(dst.resolve()), arch=arch, res=res,
                   batch=batch, iters=iters, rounds=a.rounds)
        ours = measure(job["src"], job["dst"], work, arch, res, batch, iters, a.rounds, extra)
        results["ours"].append(ours)
        print(row("ours", ours), flush=True)
        if base and (a.baseline_configs is None or spec in a.baseline_configs.split(",")):
            theirs = in_baseline(base, {**job, "kind": "measure", "work": str(work.resolve())})
            results["baseline"].append(theirs)
            print(row("baseline", theirs), flush=True)
    if a.curve:
        res = a.curve_res
        src, dst = pick_facesets(a, work, res)
        job = dict(kind="curve", src=str(src.resolve()), dst=str(dst.resolve()), iters=a.curve,
                   res=res, work=str(work.resolve()), extra=extra)
        runs = [("ours", HERE, {**job, "tag": "c"})]
        if a.curve_swap_pass:
            runs.append(("ours+swap", HERE, {**job, "tag": "cs", "swap_pass": True}))
        if base:
            runs.append(("baseline", base, {**job, "tag": "cb", "extra": {}}))
        print(f"\nloss after {a.curve} iterations, df-ud {res} px batch 8, seed 1 "
              f"(mean ± sd of the last tenth){', runs concurrent' if a.curve_parallel else ''}",
              flush=True)
        if a.curve_parallel:
            procs = [(tag, start_job(tree, j)) for tag, tree, j in runs]
            done = [(tag, job_result(p, tag)) for tag, p in procs]
        else:
            done = [(tag, job_result(start_job(tree, j), tag)) for tag, tree, j in runs]
        for tag, c in done:
            results["curve"][tag] = c
            print(f"{tag:<10}first {c['first']:.3f}  last {c['tail_mean']:.4f} ± "
                  f"{c['tail_sd']:.4f}  ({c['seconds']:.0f} s, {c.get('precision', '?')})")
        if len(done) > 1:
            ref = done[0][1]["losses"]
            for tag, c in done[1:]:
                same = sum(x == y for x, y in zip(ref, c["losses"], strict=False))
                diff = max(abs(x - y) for x, y in zip(ref, c["losses"], strict=False))
                print(f"ours vs {tag}: {same}/{len(ref)} losses identical, largest difference "
                      f"{diff:.4g}")
    if a.profile:
        arch, res, batch = a.profile.split(":")
        res = int(res)
        src, dst = pick_facesets(a, work, res)
        print(f"\nprofile of 5 steps, {arch} {res} px batch {batch}")
        print(profile(str(src), str(dst), work, arch, res, int(batch)))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
