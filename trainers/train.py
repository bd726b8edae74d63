"""The training loop: AMP and channels-last where they pay, atomic checkpoints, exact resume,
previews, loss logs, DDP.

Folder layout under `cfg.out`:
    config.yaml                  the resolved config of this run
    checkpoints/ckpt_NNNNNNNN.pt last `keep_checkpoints` checkpoints (atomic writes)
    previews/preview_NNNNNNNN.png, previews/latest.png, loss_history.png
    losses.jsonl                 one line per `log_every` iterations
A checkpoint holds model, optimiser(s), config, model spec, iteration, loss history and the torch
RNG state, as tensors and plain types only: it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import SettingsError, TrainingError
from engine.io import atomic_write_text, write_image
from trainers.augment import AugmentSettings, DeviceAugmenter, DrawDataset, upload
from trainers.checkpoint import (
    CKPT_SCHEMA,
    checkpoints,
    claim_model_folder,
    load_checkpoint,
    remove_stale_writes,
    resume_point,
    save_checkpoint,
)
from trainers.config import MODEL_FOLDER, TrainConfig, save_resolved
from trainers.data import IterationSampler, PairDataset, load_bank, make_loader
from trainers.interop.onnx_import import fresh_parts, is_onnx, load_into, read_onnx_weights
from trainers.losses import (
    CodeDiscriminator,
    PatchDiscriminator,
    gan_loss,
    mask_loss,
    priority_loss,
    reconstruction_loss,
)
from trainers.models import ModelSpec, build_model
from trainers.preview import loss_plot, preview_grid


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device 'cuda' asked for but torch sees no CUDA device; use cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def pick_precision(name: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype, or None for fp32. auto: bf16 where the hardware runs it natively."""
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pick_augment(name: str, device: torch.device) -> str:
    """'device' (batched tensor ops on the training device) or 'cpu' (DataLoader workers).

    auto: device on CUDA, where a batch of 8 at 256 px costs the GPU well under a millisecond
    while one CPU core needs ~60 ms; CPU otherwise, where the loader workers run beside the
    model step instead of taking its cores (docs/training.md, benchmarks/train.py).
    """
    if name == "auto":
        return "device" if device.type == "cuda" else "cpu"
    return name


def pick_workers(requested: int | None, augment: str, cores: int) -> int:
    """Loader processes: as asked; else for device augmentation one process drawing the
    random choices (none on a machine of under 4 cores, where the main process draws them);
    else half the cores (at most 8): more contend with the model step and with each other."""
    if requested is not None:
        return requested
    if augment == "device":
        return 1 if cores >= 4 else 0
    return max(1, min(8, cores // 2))


def busy_cores() -> float:
    """Cores other processes keep busy now: the 1-minute load average (before this run's own
    work starts), 0 where the platform has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def pick_threads(requested: int | None, cores: int, busy: float) -> int:
    """torch threads for a CPU model step: as asked; else the cores not already busy (at least
    one). OpenMP threads spin while they wait for each other, so more threads than free cores
    slow every step instead of sharing: on the 2-core reference machine with one core busy, the
    df-ud 64 step took 5.7-6.2 s on two threads and 3.6 s on one (idle: 2.3-2.6 s on two,
    3.9-4.3 s on one; docs/benchmarks.md). The load average lags by about a minute: a job that
    starts or stops later is not seen; set `threads` for a known share."""
    if requested is not None:
        return requested
    return max(1, min(cores, cores - int(busy + 0.5)))


def _log_iteration(line: str) -> float:
    """The iteration of a losses.jsonl line; inf for a partial or foreign line (a kill can cut
    the last line short), so resume drops it instead of failing."""
    try:
        it = json.loads(line)["it"]
        return float(it) if isinstance(it, (int, float)) else float("inf")
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


class Trainer:
    """One training run (one shot). `run()` trains to `target_iters`; `step()` does one."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, rank: int = 0, world: int = 1,
                 log: Callable[[str], None] = print):
        self.cfg, self.rank, self.world, self.log = cfg, rank, world, log
        self.out = Path(cfg.out)
        claim_model_folder(self.out, MODEL_FOLDER, [cfg.src, cfg.dst, cfg.init_from])
        self.spec: ModelSpec = cfg.model_spec()
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        self.amp = pick_precision(cfg.precision, self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = build_model(self.spec).to(self.device, memory_format=self.memory_format)
        # Fused Adam on CUDA: one kernel for every parameter instead of several per tensor
        # (same update, same state dict).
        self.use_graph = graph_eligible(cfg, self.device, self.amp, world)
        fused = {"fused": True} if self.device.type == "cuda" else {}
        if self.use_graph:
            fused["capturable"] = True  # its step counters live on the GPU, inside the graph
        self.opt = torch.optim.Adam(self.model.parameters(), cfg.lr, (cfg.beta1, cfg.beta2),
                                    **fused)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._eager_steps = 0  # steps before the capture (see _graph_step)
        self._static: dict[str, torch.Tensor] = {}
        self._static_losses: torch.Tensor | None = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16
                                           and self.device.type == "cuda")
        self.disc = self.disc_opt = self.code_disc = self.code_opt = None
        if cfg.gan_power > 0:
            self.disc = PatchDiscriminator().to(self.device)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), cfg.lr, (cfg.beta1,
                                                                               cfg.beta2))
        if cfg.true_face_power > 0:
            self.code_disc = CodeDiscriminator(self.model.code_channels)
            self.code_disc = self.code_disc.to(self.device)
            self.code_opt = torch.optim.Adam(self.code_disc.parameters(), cfg.lr,
                                             (cfg.beta1, cfg.beta2))
        self.iteration = 0
        self.history: list[list[float]] = []  # [iteration, src loss, dst loss]
        start = resume_point(self.out, resume)
        if start is not None:
            self._restore(load_checkpoint(start), start)
        elif cfg.init_from and is_onnx(cfg.init_from):  # a shipped model, no checkpoint
            self._init_from_onnx(cfg.init_from)
        elif cfg.init_from:
            ckpt = load_checkpoint(Path(cfg.init_from))
            self._check_spec(ckpt, Path(cfg.init_from))
            self.model.load_state_dict(ckpt["model"])
            self.log(f"fine-tuning from {cfg.init_from} (iteration {ckpt['iteration']})")
        elif cfg.init_from_dfl:  # DeepFaceLab SAEHD weights (issue 25)
            self._init_from_dfl(cfg.init_from_dfl)
        self.train_model: nn.Module = self.model
        if world > 1:
            self.train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.loss_fn = self._losses
        if cfg.compile:
            # Forward and losses compiled together; 'reduce-overhead' replays them as CUDA
            # graphs (outputs are then reused buffers: nothing here keeps them past a step).
            self.loss_fn = torch.compile(self._losses, mode=None if cfg.compile_mode ==
                                         "default" else cfg.compile_mode)
        src = load_bank(cfg.src, self.spec.resolution, cfg.face_type)
        dst = src if cfg.pretrain else load_bank(cfg.dst, self.spec.resolution, cfg.face_type)
        for bank in (src, dst):
            for msg in bank.skipped:
                self.log(f"warning: skipped {msg}")
        if not cfg.uniform_yaw:
            src.yaw[:] = 0
            dst.yaw[:] = 0
        aug = AugmentSettings(random_warp=cfg.random_warp, flip=cfg.random_flip,
                              hsv_jitter=cfg.hsv_jitter, color_transfer=cfg.color_transfer)
        self.dataset = PairDataset(src, dst, aug, cfg.seed)
        self.augment = pick_augment(cfg.augment, self.device)
        self.cores = available_cores()
        self.workers = pick_workers(cfg.workers, self.augment, self.cores)
        self.threads = torch.get_num_threads()
        if self.device.type == "cpu":
            self.threads = pick_threads(cfg.threads, self.cores, busy_cores())
            torch.set_num_threads(self.threads)
        self._pending: list[tuple[int, torch.Tensor]] = []  # losses not yet read back
        self._last_batch: dict[str, torch.Tensor] | None = None

    # -- checkpoints ------------------------------------------------------------------------
    def _check_spec(self, ckpt: dict[str, Any], path: Path) -> None:
        theirs = ModelSpec(**ckpt["spec"])
        if theirs != self.spec:
            raise SettingsError(f"{path}: checkpoint is {theirs.arch} at {theirs.resolution} px "
                                f"(dims {theirs.ae_dims}/{theirs.e_dims}/{theirs.d_dims}/"
                                f"{theirs.mask_dims}); the config asks {self.spec.arch} at "
                                f"{self.spec.resolution} px (dims {self.spec.ae_dims}/"
                                f"{self.spec.e_dims}/{self.spec.d_dims}/{self.spec.mask_dims})")

    def _init_from_onnx(self, model: str) -> None:
        weights = read_onnx_weights(model)
        self._check_spec({"spec": weights.spec}, weights.path)
        if weights.face_type != self.cfg.face_type:
            raise SettingsError(f"{weights.path}: the model is face type "
                                f"{weights.face_type!r}, the config trains "
                                f"{self.cfg.face_type!r}; use facesets of face type "
                                f"{weights.face_type}")
        fresh = load_into(self.model, weights)
        meta = weights.metadata
        self.log(f"fine-tuning from {weights.path} ({meta.get('src_name', '?')} for "
                 f"{meta.get('dst_name', '?')}, its iteration {meta.get('iterations', '?')}; "
                 "Adam starts fresh)"
                 + (f"; not in the file, starting fresh: {fresh_parts(fresh)}" if fresh else ""))

    def _init_from_dfl(self, model: str) -> None:
        from trainers.interop.saehd_import import read_saehd

        imp = read_saehd(model)
        self._check_spec({"spec": asdict(imp.spec)}, imp.files.data)
        if imp.face_type != self.cfg.face_type:
            raise SettingsError(f"{imp.files.data}: the DeepFaceLab model is face type "
                                f"{imp.face_type!r}, the config trains {self.cfg.face_type!r}; "
                                f"use facesets of face type {imp.face_type}")
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in imp.state.items()})
        self.log(f"starting from DeepFaceLab {imp.files.prefix} (its iteration {imp.iteration})")

    def _restore(self, ckpt: dict[str, Any], path: Path) -> None:
        self._check_spec(ckpt, path)
        self.model.load_state_dict(ckpt["model"])
        if "opt" in ckpt:
            self.opt.load_state_dict(ckpt["opt"])
        else:  # an imported model (doppel import-dfl-model): Adam starts fresh
            self.log(f"{path}: no optimiser state (an imported model); Adam starts fresh")
        for key, mod, opt in (("disc", self.disc, self.disc_opt),
                              ("code_disc", self.code_disc, self.code_opt)):
            if mod is not None and key in ckpt:
                mod.load_state_dict(ckpt[key])
                opt.load_state_dict(ckpt[key + "_opt"])
        self.iteration = int(ckpt["iteration"])
        self.history = [list(h) for h in ckpt["history"]]
        torch.set_rng_state(ckpt["torch_rng"])
        self.log(f"resumed from {path} at iteration {self.iteration}")

    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "schema": CKPT_SCHEMA, "iteration": self.iteration, "spec": asdict(self.spec),
            "config": self.cfg.to_dict(), "model": self.model.state_dict(),
            "opt": self.opt.state_dict(), "history": self.history,
            "torch_rng": torch.get_rng_state(),
        }
        for key, mod, opt in (("disc", self.disc, self.disc_opt),
                              ("code_disc", self.code_disc, self.code_opt)):
            if mod is not None:
                st[key], st[key + "_opt"] = mod.state_dict(), opt.state_dict()
        return st

    def save_checkpoint(self) -> Path:
        """Write a checkpoint atomically and prune old ones; the previous stays intact on error."""
        return save_checkpoint(self.out, self.state(), self.cfg.keep_checkpoints)

    # -- one step ---------------------------------------------------------------------------
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True, memory_format=self.memory_format)
                for k, v in batch.items()}

    def _lr(self) -> float:
        if self.cfg.lr_warmup and self.iteration < self.cfg.lr_warmup:
            return self.cfg.lr * (self.iteration + 1) / self.cfg.lr_warmup
        return self.cfg.lr

    def _losses(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Forward and the reconstruction losses: (src loss, dst loss, total, src rgb).

        The swap pass (dst through the src decoder) is not part of the loss and is left out;
        previews compute it separately.
        """
        cfg, res = self.cfg, self.spec.resolution
        # Graph capture needs autocast's weight-cast cache off (casts are then part of the graph).
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                            enabled=self.amp is not None, cache_enabled=not self.use_graph):
            (s_rgb, s_m), (d_rgb, d_m) = self.train_model(b["src_warped"], b["dst_warped"],
                                                          swap=False)
        s_rgb, s_m, d_rgb, d_m = (t.float() for t in (s_rgb, s_m, d_rgb, d_m))
        ones = torch.ones_like(b["src_mask"])
        src_mask = b["src_mask"] if cfg.masked_training else ones
        dst_mask = b["dst_mask"] if cfg.masked_training else ones
        src_loss = reconstruction_loss(s_rgb, b["src_target"], src_mask, res) + mask_loss(
            s_m, b["src_mask"])
        dst_loss = reconstruction_loss(d_rgb, b["dst_target"], dst_mask, res) + mask_loss(
            d_m, b["dst_mask"])
        if cfg.eyes_mouth_priority:
            src_loss = src_loss + priority_loss(s_rgb, b["src_target"], b["src_em_mask"])
            dst_loss = dst_loss + priority_loss(d_rgb, b["dst_target"], b["dst_em_mask"])
        return src_loss, dst_loss, src_loss + dst_loss, s_rgb

    def step(self, batch: dict[str, torch.Tensor], sync: bool = True) -> dict[str, Any] | None:
        """One optimisation step. With `sync` the losses are read back and checked now and
        returned as floats; without, they stay on the device until `flush()` (the training
        loop reads them every `log_every` steps, so the CPU never waits for the GPU between
        steps)."""
        cfg = self.cfg
        b = self._to_device(batch)
        if self.use_graph:
            self.iteration += 1
            self._pending.append((self.iteration, self._graph_step(b)))
            self._last_batch = b
            return self.flush() if sync else None
        for g in self.opt.param_groups:
            g["lr"] = self._lr()
        src_loss, dst_loss, total, s_rgb = self.loss_fn(b)
        src_mask = b["src_mask"] if cfg.masked_training else torch.ones_like(b["src_mask"])
        if self.disc is not None:
            total = total + cfg.gan_power * gan_loss(self.disc(s_rgb * src_mask), True)
        codes = None
        if self.code_disc is not None:
            codes = self.model.codes(b["src_warped"], b["dst_warped"])
            total = total + cfg.true_face_power * gan_loss(self.code_disc(codes[1]), True)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if cfg.clip_grad > 0:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.disc is not None:
            real = gan_loss(self.disc(b["src_target"] * src_mask), True)
            fake = gan_loss(self.disc(s_rgb.detach() * src_mask), False)
            self.disc_opt.zero_grad(set_to_none=True)
            (real + fake).backward()
            self.disc_opt.step()
        if self.code_disc is not None and codes is not None:
            d_loss = gan_loss(self.code_disc(codes[0].detach()), True) + gan_loss(
                self.code_disc(codes[1].detach()), False)
            self.code_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.code_opt.step()
        self.iteration += 1
        self._pending.append((self.iteration,
                              torch.stack((src_loss, dst_loss, total)).detach().float()))
        self._last_batch = b
        return self.flush() if sync else None

    def _update(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """Forward, backward, clipping and the optimiser step; the losses, stacked."""
        src_loss, dst_loss, total, _ = self.loss_fn(b)
        total.backward()
        if self.cfg.clip_grad > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad)
        self.opt.step()
        return torch.stack((src_loss, dst_loss, total)).detach().float()

    def _graph_step(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """One step through a CUDA graph of the whole update (see `graph_eligible`).

        The first WARMUP steps run eagerly on a side stream (real steps: cuDNN picks its
        algorithms, the optimiser creates its state); the next is captured once and every step
        from then on copies its batch into the graph's input buffers and replays: one launch
        instead of ~2,000, so the host no longer limits small batches.
        """
        if self._graph is None and self._eager_steps < self.GRAPH_WARMUP:
            self._eager_steps += 1
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self.opt.zero_grad(set_to_none=True)
                out = self._update(b)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return out
        if self._graph is None:
            self._static = {k: v.clone() for k, v in b.items()}
            self.opt.zero_grad(set_to_none=True)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    self._static_losses = self._update(self._static)
            except RuntimeError as exc:  # an op that cannot be captured: train eagerly
                self.log(f"warning: CUDA graph capture failed ({str(exc).splitlines()[0]}); "
                         "training continues without it (cuda_graph: off hides this)")
                self.use_graph = False
                self.opt.zero_grad(set_to_none=True)
                return self._update(b)
            self._graph = graph
        for k, v in b.items():
            self._static[k].copy_(v)
        self._graph.replay()
        return self._static_losses.clone()

    GRAPH_WARMUP = 3

    def flush(self) -> dict[str, Any] | None:
        """Read back the pending losses (one transfer), add them to the history and stop at the
        first non-finite one. Returns the latest losses, or None when nothing was pending.

        A non-finite loss is caught here rather than in the step, so weights updated from it
        are never saved: the loop flushes before every checkpoint and preview.
        """
        if not self._pending:
            return None
        its = [it for it, _ in self._pending]
        vals = torch.stack([v for _, v in self._pending]).cpu().tolist()
        self._pending.clear()
        for it, (src, dst, total) in zip(its, vals, strict=True):
            if not all(np.isfinite((src, dst, total))):
                prev = checkpoints(self.out)
                raise TrainingError(
                    f"loss became {total} at iteration {it}; training stopped, last good "
                    f"checkpoint: {prev[-1] if prev else '(none yet)'}; lower lr, keep "
                    "clip_grad on, or use precision fp32")
            self.history.append([it, src, dst])
        src, dst, total = vals[-1]
        return {"src": src, "dst": dst, "total": total}

    def batches(self, start: int):
        """This rank's batches from iteration `start` on: made on the device, or by the
        DataLoader's workers (CPU augmentation); yields (batch, seconds waited for it)."""
        if self.augment == "device":
            aug = DeviceAugmenter(self.dataset, self.device)
            if self.workers == 0:
                k = start
                while True:
                    yield aug.batch(k, self.rank, self.cfg.batch_size), 0.0
                    k += 1
            # The random draws (numpy, ~1 ms a batch) move to loader processes so that the
            # main thread only launches GPU work; rows arrive pinned, the copy is async.
            draws = torch.utils.data.DataLoader(
                DrawDataset(self.dataset), batch_sampler=IterationSampler(
                    start, self.cfg.batch_size, self.rank, self.world),
                num_workers=self.workers, pin_memory=self.device.type == "cuda",
                persistent_workers=True, prefetch_factor=8)
            rows = iter(draws)
            while True:
                t = time.perf_counter()
                packed = next(rows)
                waited = time.perf_counter() - t
                yield aug.from_packed(upload(packed, self.device)), waited
        loader = make_loader(self.dataset, start, self.cfg.batch_size, self.workers, self.rank,
                             self.world, pin_memory=self.device.type == "cuda")
        it = iter(loader)
        while True:
            t = time.perf_counter()
            batch = next(it)
            yield batch, time.perf_counter() - t

    # -- outputs ----------------------------------------------------------------------------
    @torch.no_grad()
    def write_preview(self, rows: int = 4) -> Path:
        b = self._last_batch
        n = min(rows, b["src_warped"].shape[0])
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                            enabled=self.amp is not None):
            (s_rgb, _), (d_rgb, _), (x_rgb, _) = self.model(b["src_warped"][:n],
                                                            b["dst_warped"][:n])
        cols = [t[:n].detach().float().cpu().numpy() for t in
                (b["src_target"], s_rgb, b["dst_target"], d_rgb, x_rgb)]
        grid = preview_grid(cols)
        path = self.out / "previews" / f"preview_{self.iteration:08d}.png"
        write_image(path, grid.astype(np.float32) / 255.0)
        write_image(self.out / "previews" / "latest.png", grid.astype(np.float32) / 255.0)
        plot = loss_plot([tuple(h) for h in self.history])
        write_image(self.out / "loss_history.png", plot.astype(np.float32) / 255.0)
        return path

    def _trim_log(self) -> None:
        """After a resume, drop log lines past the restored iteration (they will be redone)."""
        log = self.out / "losses.jsonl"
        if log.is_file():
            keep = [ln for ln in log.read_text(errors="replace").splitlines()
                    if _log_iteration(ln) <= self.iteration]
            atomic_write_text(log, "".join(k + "\n" for k in keep))

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train until `target_iters`; checkpoints, previews and logs on rank 0 only."""
        cfg = self.cfg
        main = self.rank == 0
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            remove_stale_writes(self.out)  # temps of a killed save: never left to pile up
            save_resolved(cfg, self.out / "config.yaml")
            self._trim_log()
        remaining = cfg.target_iters - self.iteration
        if remaining <= 0:
            self.log(f"{self.out}: already at iteration {self.iteration} ≥ target "
                     f"{cfg.target_iters}; nothing to do")
            return {"iteration": self.iteration, "losses": None}
        if main:
            where = (f"on {self.device}" if self.augment == "device" else
                     f"on the CPU, {self.workers} loader worker(s)")
            step = (f"; model step on {self.threads} CPU thread(s)"
                    if self.device.type == "cpu" else "")
            self.log(f"data: augmentation {where} ({self.cores} CPU cores available{step}; "
                     "set augment / workers / threads to change)")
        writer = self._tensorboard() if main else None
        bar = None
        if main and progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.target_iters, initial=self.iteration, unit="it",
                       desc=Path(cfg.out).name, dynamic_ncols=True)
        last = None
        watch = LoaderWatch(self.log if main else None)
        try:
            for batch, waited in self.batches(self.iteration):
                self.step(batch, sync=False)
                watch.add(waited, self.workers, self.cores)
                k = self.iteration
                if bar is not None:
                    bar.update(1)
                due = [k % n == 0 for n in (cfg.log_every, cfg.preview_every, cfg.save_every)]
                if any(due) or k >= cfg.target_iters:
                    last = self.flush() or last
                    if bar is not None and last:
                        bar.set_postfix(src=f"{last['src']:.4f}", dst=f"{last['dst']:.4f}")
                if main and due[0]:
                    with open(self.out / "losses.jsonl", "a") as fh:
                        fh.write(json.dumps({"it": k, **last, "time": round(time.time(), 3)})
                                 + "\n")
                    if writer is not None:
                        for name, v in last.items():
                            writer.add_scalar(f"loss/{name}", v, k)
                if main and due[1]:
                    self.write_preview()
                if main and due[2]:
                    self.save_checkpoint()
                if k >= cfg.target_iters:
                    break
        finally:
            if bar is not None:
                bar.close()
        last = self.flush() or last
        if main:
            if self.iteration % cfg.save_every:
                self.save_checkpoint()
            self.write_preview()
        return {"iteration": self.iteration, "losses": last}

    def _tensorboard(self):
        if not self.cfg.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("warning: tensorboard not installed; pip install tensorboard (skipping)")
            return None
        return SummaryWriter(str(self.out / "tensorboard"))


def graph_eligible(cfg: TrainConfig, device: torch.device, amp: torch.dtype | None,
                   world: int) -> bool:
    """Whether the step runs as one CUDA graph: `cuda_graph: auto` on a CUDA device for the
    plain recipe (one process, no GAN/TrueFace discriminators, a constant learning rate, no
    fp16 grad scaler, not compiled). Anything else runs eagerly."""
    return (cfg.cuda_graph == "auto" and device.type == "cuda" and world == 1
            and cfg.gan_power == 0 and cfg.true_face_power == 0 and not cfg.lr_warmup
            and amp != torch.float16 and not cfg.compile)


class LoaderWatch:
    """Warns once, in one line, when training waits for its data: over a window of steps the
    time blocked on the next batch exceeds a tenth of the wall time per step."""

    WINDOW = 50

    def __init__(self, log: Callable[[str], None] | None):
        self.log, self.waits, self.start, self.warned = log, [], time.perf_counter(), False

    def add(self, waited: float, workers: int, cores: int) -> None:
        if self.log is None or self.warned:
            return
        self.waits.append(waited)
        if len(self.waits) < self.WINDOW:
            return
        now = time.perf_counter()
        per_step, wait = (now - self.start) / len(self.waits), sum(self.waits) / len(self.waits)
        self.waits, self.start = [], now
        if wait > 0.1 * per_step and wait > 0.002:
            self.warned = True
            self.log(f"warning: the data loader is the bottleneck: {wait * 1e3:.1f} ms of every "
                     f"{per_step * 1e3:.1f} ms step is spent waiting for a batch ({workers} "
                     f"worker(s), {cores} cores); set workers higher, or augment: device on a GPU")


def distributed_context() -> tuple[int, int]:
    """(rank, world) from torchrun's environment; initialises the process group when world > 1.

    gloo on CPU, nccl on CUDA; each rank takes its slice of every global batch.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return rank, world

