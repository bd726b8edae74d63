"""The XSeg training loop: Adam on labelled faces, atomic checkpoints, exact resume, previews.

Folder layout under `cfg.out` (as the swap trainer's):
    config.json                   the resolved config of this run
    checkpoints/ckpt_NNNNNNNN.pt  last `keep_checkpoints` checkpoints (atomic writes)
    previews/preview_NNNNNNNN.png, previews/latest.png, loss_history.png
    losses.jsonl                  one line per `log_every` iterations
Loss: binary cross-entropy on logits plus soft Dice, both weighted by the label's `valid` map.
Adam with a cosine learning-rate decay to lr/20 at `target_iters` (raising the target on resume
stretches the rest of the schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from engine.errors import SettingsError
from engine.io.ownership import FolderMark, json_mark
from trainers.checkpoint import (
    CKPT_SCHEMA,
    claim_model_folder,
    load_checkpoint,
    resolve_checkpoint,
    resume_point,
    save_checkpoint,
)
from trainers.data import make_loader
from trainers.preview import preview_grid
from trainers.small_loop import optimiser_step, run_iterations, save_preview
from trainers.train import pick_device
from trainers.xseg.config import XSegConfig
from trainers.xseg.data import XSegAugment, XSegDataset, load_labelled
from trainers.xseg.model import XSegNet, XSegSpec

KIND = "xseg"  # checkpoints carry it, so a swap checkpoint is never taken for an XSeg one
# An XSeg model folder is Doppel's when its config.json is (engine.io.ownership).
XSEG_FOLDER = FolderMark("XSeg model folder", "config.json",
                         json_mark("XSeg training configuration", "out", "resolution",
                                   schema="facesets"))


def xseg_loss(logits: torch.Tensor, label: torch.Tensor, valid: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(BCE, soft Dice loss) over the pixels where `valid` > 0, weighted by it."""
    w = valid
    norm = w.sum().clamp_min(1.0)
    bce = (F.binary_cross_entropy_with_logits(logits, label, reduction="none") * w).sum() / norm
    p = torch.sigmoid(logits) * w
    t = label * w
    dice = 1.0 - (2.0 * (p * t).sum() + 1.0) / (p.sum() + t.sum() + 1.0)
    return bce, dice


class XSegTrainer:
    """One XSeg run. `run()` trains to `target_iters`; `step()` does one iteration."""

    def __init__(self, cfg: XSegConfig, resume: bool = False,
                 log: Callable[[str], None] = print):
        self.cfg, self.log = cfg.validate(), log
        self.out = Path(cfg.out)
        claim_model_folder(self.out, XSEG_FOLDER, list(cfg.facesets))
        self.spec = cfg.spec()
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        self.model = XSegNet(self.spec).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), cfg.lr)
        self.iteration = 0
        self.history: list[list[float]] = []  # [iteration, bce, dice]
        self.bank = load_labelled(list(cfg.facesets), self.spec.resolution)
        for msg in self.bank.skipped:
            self.log(f"warning: skipped {msg}")
        start = resume_point(self.out, resume)
        if start is not None:
            self._restore(load_checkpoint(start), start)
        aug = XSegAugment() if cfg.augment else XSegAugment(
            rotation=0, scale=0, shift=0, warp=0, flip=False, hsv=0, contrast=0, grey=0,
            blur=0, noise=0)
        self.dataset = XSegDataset(self.bank, aug, cfg.seed)
        self._last: tuple[dict[str, torch.Tensor], torch.Tensor] | None = None

    # -- checkpoints ------------------------------------------------------------------------
    def _restore(self, ckpt: dict[str, Any], path: Path) -> None:
        if ckpt.get("kind") != KIND:
            raise SettingsError(f"{path}: not an XSeg checkpoint (a swap model's?); choose "
                                "another --out")
        theirs = XSegSpec(**ckpt["spec"])
        if theirs != self.spec:
            raise SettingsError(f"{path}: checkpoint is XSeg {theirs.resolution} px width "
                                f"{theirs.width}; the config asks {self.spec.resolution} px "
                                f"width {self.spec.width}")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
        self.iteration = int(ckpt["iteration"])
        self.history = [list(h) for h in ckpt["history"]]
        torch.set_rng_state(ckpt["torch_rng"])
        self.log(f"resumed from {path} at iteration {self.iteration}")

    def state(self) -> dict[str, Any]:
        return {"schema": CKPT_SCHEMA, "kind": KIND, "iteration": self.iteration,
                "spec": asdict(self.spec), "face_type": self.bank.face_type,
                "config": self.cfg.to_dict(), "model": self.model.state_dict(),
                "opt": self.opt.state_dict(), "history": self.history,
                "torch_rng": torch.get_rng_state()}

    def save_checkpoint(self) -> Path:
        """Write a checkpoint atomically and prune old ones (trainers.checkpoint)."""
        return save_checkpoint(self.out, self.state(), self.cfg.keep_checkpoints)

    # -- one step ---------------------------------------------------------------------------
    def _lr(self) -> float:
        if not self.cfg.lr_cosine:
            return self.cfg.lr
        t = min(self.iteration / max(self.cfg.target_iters, 1), 1.0)
        return self.cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * t)))

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        b = {k: v.to(self.device) for k, v in batch.items()}
        for g in self.opt.param_groups:
            g["lr"] = self._lr()
        logits = self.model(b["face"])
        bce, dice = xseg_loss(logits, b["label"], b["valid"])
        total = bce + dice
        optimiser_step(self, self.opt, total, "XSeg")
        out = {"bce": bce.item(), "dice": dice.item(), "total": total.item()}
        self.history.append([self.iteration, out["bce"], out["dice"]])
        self._last = (b, logits.detach())
        return out

    # -- outputs ----------------------------------------------------------------------------
    def write_preview(self, rows: int = 4) -> Path:
        """Columns: augmented face, label (unknown pixels grey), prediction, face × prediction."""
        assert self._last is not None
        b, logits = self._last
        n = min(rows, logits.shape[0])
        face = b["face"][:n].cpu().numpy()
        lab, val = b["label"][:n].cpu().numpy(), b["valid"][:n].cpu().numpy()
        pred = torch.sigmoid(logits[:n]).float().cpu().numpy()
        shown = lab * val + 0.5 * (1 - val)
        cols = [face, np.repeat(shown, 3, 1), np.repeat(pred, 3, 1),
                face * (0.25 + 0.75 * pred)]
        grid = preview_grid(cols, names=("face", "label", "xseg", "face*xseg"))
        return save_preview(self.out, self.iteration, grid, self.history, ("bce", "dice"))

    def run(self, progress: bool = False) -> dict[str, Any]:
        """Train to the config's target (trainers.small_loop: log, previews, checkpoints)."""
        cfg = self.cfg

        def loader() -> Any:  # made only when there is work: its workers start processes
            return make_loader(self.dataset, self.iteration, cfg.batch_size, cfg.workers)
        return run_iterations(self, cfg, loader, progress, ("bce", "dice"))


def load_xseg(path: str | Path) -> tuple[XSegNet, dict[str, Any]]:
    """An XSeg checkpoint (file, or a model folder: its latest) as an eval-mode net + the ckpt."""
    path = resolve_checkpoint(path)
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != KIND:
        raise SettingsError(f"{path}: not an XSeg checkpoint; use 'doppel export' for swap "
                            "models")
    net = XSegNet(XSegSpec(**ckpt["spec"]))
    net.load_state_dict(ckpt["model"])
    return net.eval(), ckpt
