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
from engine.io import atomic_path, atomic_write_text, write_image
from trainers.config import TrainConfig, save_resolved
from trainers.data import AugmentSettings, PairDataset, load_bank, make_loader
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

CKPT_SCHEMA = 1


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


def checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("ckpt_*.pt"))


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, foreign pickle: never unpickle arbitrary objects
        raise SettingsError(f"{path}: not a readable Doppel checkpoint ({exc})".split("\n")[0]
                            ) from None
    if not isinstance(ckpt, dict) or ckpt.get("schema") != CKPT_SCHEMA:
        raise SettingsError(f"{path}: checkpoint schema not supported (expected {CKPT_SCHEMA})")
    return ckpt


class Trainer:
    """One training run (one shot). `run()` trains to `target_iters`; `step()` does one."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, rank: int = 0, world: int = 1,
                 log: Callable[[str], None] = print):
        self.cfg, self.rank, self.world, self.log = cfg, rank, world, log
        self.out = Path(cfg.out)
        self.spec: ModelSpec = cfg.model_spec()
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        self.amp = pick_precision(cfg.precision, self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = build_model(self.spec).to(self.device, memory_format=self.memory_format)
        self.opt = torch.optim.Adam(self.model.parameters(), cfg.lr, (cfg.beta1, cfg.beta2))
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
        existing = checkpoints(self.out)
        if existing and not resume:
            raise SettingsError(f"{self.out}: holds checkpoints already; pass --resume to "
                                "continue, or choose another --out")
        if resume and existing:
            self._restore(load_checkpoint(existing[-1]), existing[-1])
        elif cfg.init_from:
            ckpt = load_checkpoint(Path(cfg.init_from))
            self._check_spec(ckpt, Path(cfg.init_from))
            self.model.load_state_dict(ckpt["model"])
            self.log(f"fine-tuning from {cfg.init_from} (iteration {ckpt['iteration']})")
        self.train_model: nn.Module = self.model
        if world > 1:
            self.train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if cfg.compile:
            self.train_model = torch.compile(self.train_model)
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

    # -- checkpoints ------------------------------------------------------------------------
    def _check_spec(self, ckpt: dict[str, Any], path: Path) -> None:
        theirs = ModelSpec(**ckpt["spec"])
        if theirs != self.spec:
            raise SettingsError(f"{path}: checkpoint is {theirs.arch} at {theirs.resolution} px "
                                f"(dims {theirs.ae_dims}/{theirs.e_dims}/{theirs.d_dims}/"
                                f"{theirs.mask_dims}); the config asks {self.spec.arch} at "
                                f"{self.spec.resolution} px (dims {self.spec.ae_dims}/"
                                f"{self.spec.e_dims}/{self.spec.d_dims}/{self.spec.mask_dims})")

    def _restore(self, ckpt: dict[str, Any], path: Path) -> None:
        self._check_spec(ckpt, path)
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
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
        target = self.out / "checkpoints" / f"ckpt_{self.iteration:08d}.pt"
        try:
            with atomic_path(target) as tmp:
                torch.save(self.state(), tmp)
        except OSError as exc:
            prev = checkpoints(self.out)
            raise TrainingError(
                f"saving {target} failed ({exc.strerror or exc}); previous checkpoint "
                f"{prev[-1] if prev else '(none)'} is intact; free disk space and --resume"
            ) from None
        for old in checkpoints(self.out)[: -self.cfg.keep_checkpoints]:
            old.unlink(missing_ok=True)
        return target

    # -- one step ---------------------------------------------------------------------------
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True, memory_format=self.memory_format)
                for k, v in batch.items()}

    def _lr(self) -> float:
        if self.cfg.lr_warmup and self.iteration < self.cfg.lr_warmup:
            return self.cfg.lr * (self.iteration + 1) / self.cfg.lr_warmup
        return self.cfg.lr

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        cfg, res = self.cfg, self.spec.resolution
        b = self._to_device(batch)
        for g in self.opt.param_groups:
            g["lr"] = self._lr()
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                            enabled=self.amp is not None):
            (s_rgb, s_m), (d_rgb, d_m), (x_rgb, _x_m) = self.train_model(b["src_warped"],
                                                                         b["dst_warped"])
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
        total = src_loss + dst_loss
        if self.disc is not None:
            total = total + cfg.gan_power * gan_loss(self.disc(s_rgb * src_mask), True)
        codes = None
        if self.code_disc is not None:
            codes = self.model.codes(b["src_warped"], b["dst_warped"])
            total = total + cfg.true_face_power * gan_loss(self.code_disc(codes[1]), True)
        if not torch.isfinite(total):
            prev = checkpoints(self.out)
            raise TrainingError(
                f"loss became {total.item()} at iteration {self.iteration + 1}; training stopped, "
                f"last good checkpoint: {prev[-1] if prev else '(none yet)'}; lower lr, keep "
                "clip_grad on, or use precision fp32"
            )
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
        out = {"src": src_loss.item(), "dst": dst_loss.item(), "total": total.item()}
        self.history.append([self.iteration, out["src"], out["dst"]])
        self._last = (b, s_rgb, d_rgb, x_rgb)
        return out

    # -- outputs ----------------------------------------------------------------------------
    def write_preview(self, rows: int = 4) -> Path:
        b, s_rgb, d_rgb, x_rgb = self._last
        n = min(rows, s_rgb.shape[0])
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
            keep = [ln for ln in log.read_text().splitlines()
                    if ln.strip() and json.loads(ln)["it"] <= self.iteration]
            atomic_write_text(log, "".join(k + "\n" for k in keep))

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train until `target_iters`; checkpoints, previews and logs on rank 0 only."""
        cfg = self.cfg
        main = self.rank == 0
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_resolved(cfg, self.out / "config.yaml")
            self._trim_log()
        remaining = cfg.target_iters - self.iteration
        if remaining <= 0:
            self.log(f"{self.out}: already at iteration {self.iteration} ≥ target "
                     f"{cfg.target_iters}; nothing to do")
            return {"iteration": self.iteration, "losses": None}
        loader = make_loader(self.dataset, self.iteration, cfg.batch_size, cfg.workers,
                             self.rank, self.world, pin_memory=self.device.type == "cuda")
        writer = self._tensorboard() if main else None
        bar = None
        if main and progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.target_iters, initial=self.iteration, unit="it",
                       desc=Path(cfg.out).name, dynamic_ncols=True)
        last = None
        try:
            for batch in loader:
                last = self.step(batch)
                k = self.iteration
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(src=f"{last['src']:.4f}", dst=f"{last['dst']:.4f}")
                if main and k % cfg.log_every == 0:
                    with open(self.out / "losses.jsonl", "a") as fh:
                        fh.write(json.dumps({"it": k, **last, "time": round(time.time(), 3)})
                                 + "\n")
                    if writer is not None:
                        for name, v in last.items():
                            writer.add_scalar(f"loss/{name}", v, k)
                if main and k % cfg.preview_every == 0:
                    self.write_preview()
                if main and k % cfg.save_every == 0:
                    self.save_checkpoint()
                if k >= cfg.target_iters:
                    break
        finally:
            if bar is not None:
                bar.close()
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

