"""The FaceEnhancer training loop: Adam on (reconstruction, src face at 2×) pairs, atomic
checkpoints, exact resume, previews and loss history (as the swap and XSeg trainers).

Folder layout under `cfg.out`:
    config.json                   the resolved config of this run
    checkpoints/ckpt_NNNNNNNN.pt  last `keep_checkpoints` checkpoints (atomic writes)
    previews/preview_NNNNNNNN.png, previews/latest.png, loss_history.png
    losses.jsonl                  one line per `log_every` iterations
Loss: L1 on pixels plus `grad_weight` × L1 on horizontal and vertical differences (edges: the
detail the autoencoder loses). Batches are drawn from (seed, iteration), so a resumed run sees
the batches an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from engine.errors import SettingsError
from engine.io.ownership import FolderMark, json_mark
from engine.swap.infer import SwapModel
from trainers.checkpoint import (
    CKPT_SCHEMA,
    claim_model_folder,
    load_checkpoint,
    resolve_checkpoint,
    resume_point,
    save_checkpoint,
)
from trainers.enhancer.config import EnhancerConfig, EnhancerSpec
from trainers.enhancer.data import PairBank, draw_batch, load_pairs
from trainers.enhancer.model import EnhancerNet
from trainers.preview import preview_grid
from trainers.small_loop import optimiser_step, run_iterations, save_preview
from trainers.train import pick_device

KIND = "enhancer"  # checkpoints carry it: never taken for a swap or XSeg checkpoint
ENHANCER_FOLDER = FolderMark("enhancer model folder", "config.json",
                             json_mark("enhancer training configuration", "out", "patch",
                                       schema="faceset"))


def enhancer_loss(pred: torch.Tensor, target: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1 on pixels, L1 on horizontal + vertical differences)."""
    l1 = F.l1_loss(pred, target)
    grad = (F.l1_loss(pred[..., :, 1:] - pred[..., :, :-1],
                      target[..., :, 1:] - target[..., :, :-1])
            + F.l1_loss(pred[..., 1:, :] - pred[..., :-1, :],
                        target[..., 1:, :] - target[..., :-1, :]))
    return l1, grad


class EnhancerTrainer:
    """One enhancer run. `run()` trains to `target_iters`; `step()` does one iteration."""

    def __init__(self, cfg: EnhancerConfig, resume: bool = False,
                 log: Callable[[str], None] = print):
        self.cfg, self.log = cfg.validate(), log
        self.out = Path(cfg.out)
        if Path(cfg.model).is_dir() or Path(cfg.model).suffix != ".onnx":
            raise SettingsError(f"{cfg.model}: --model takes the exported swap model (.onnx) "
                                "the engine will run; export a checkpoint first with 'doppel "
                                "export'")
        claim_model_folder(self.out, ENHANCER_FOLDER, [cfg.faceset, cfg.model])
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        swap = SwapModel(cfg.model, "cpu", cfg.threads or 0)
        self.swap_info = swap.info
        self.spec = EnhancerSpec(swap.resolution, cfg.width, cfg.blocks).resolved()
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        self.model = EnhancerNet(self.spec).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), cfg.lr)
        self.iteration = 0
        self.history: list[list[float]] = []  # [iteration, l1, grad]
        self.bank: PairBank = load_pairs(cfg.faceset, swap)
        del swap
        for msg in self.bank.skipped:
            self.log(f"warning: skipped {msg}")
        start = resume_point(self.out, resume)
        if start is not None:
            self._restore(load_checkpoint(start), start)
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _restore(self, ckpt: dict[str, Any], path: Path) -> None:
        if ckpt.get("kind") != KIND:
            raise SettingsError(f"{path}: not an enhancer checkpoint; choose another --out")
        theirs = EnhancerSpec(**ckpt["spec"])
        if theirs != self.spec:
            raise SettingsError(f"{path}: checkpoint is {theirs}; the config asks {self.spec}")
        if ckpt["swap_digest"] != self.swap_info.digest:
            raise SettingsError(f"{path}: checkpoint was trained for swap model "
                                f"{ckpt['swap_model']!r}, not {self.swap_info.path}; choose "
                                "another --out")
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["opt"])
        self.iteration = int(ckpt["iteration"])
        self.history = [list(h) for h in ckpt["history"]]
        self.log(f"resumed from {path} at iteration {self.iteration}")

    def state(self) -> dict[str, Any]:
        info = self.swap_info
        return {"schema": CKPT_SCHEMA, "kind": KIND, "iteration": self.iteration,
                "spec": asdict(self.spec), "face_type": info.face_type,
                "colorspace": info.colorspace, "swap_model": Path(info.path).name,
                "swap_digest": info.digest, "src_name": info.metadata.get("src_name", ""),
                "config": self.cfg.to_dict(), "model": self.model.state_dict(),
                "opt": self.opt.state_dict(), "history": self.history}

    def save_checkpoint(self) -> Path:
        return save_checkpoint(self.out, self.state(), self.cfg.keep_checkpoints)

    def step(self) -> dict[str, float]:
        cfg = self.cfg
        x, y = draw_batch(self.bank, cfg.seed, self.iteration, cfg.batch_size, cfg.patch,
                          cfg.degrade, cfg.synthetic, (cfg.soften_min, cfg.soften_max))
        x, y = torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)
        pred = self.model(x)
        l1, grad = enhancer_loss(pred, y)
        total = l1 + cfg.grad_weight * grad
        optimiser_step(self, self.opt, total, "enhancer")
        out = {"l1": l1.item(), "grad": grad.item(), "total": total.item()}
        self.history.append([self.iteration, out["l1"], out["grad"]])
        self._last = (x, pred.detach(), y)
        return out

    def write_preview(self, rows: int = 4) -> Path:
        """Columns: the model's reconstruction (bicubic ×2), enhanced, the src face at 2×.
        Whole faces (not training patches), the first `rows` of the faceset."""
        n = min(rows, len(self.bank.recon))
        x = torch.from_numpy(self.bank.recon[:n].astype(np.float32).transpose(0, 3, 1, 2))
        with torch.no_grad():
            pred = self.model(x.to(self.device)).clamp(0, 1).cpu().numpy()
        up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False).numpy()
        tgt = self.bank.target[:n].astype(np.float32).transpose(0, 3, 1, 2) / 255
        grid = preview_grid([up, pred, tgt], tile=2 * self.spec.resolution,
                            names=("model (x2)", "enhanced", "src face"))
        return save_preview(self.out, self.iteration, grid, self.history, ("l1", "grad"))

    def run(self, progress: bool = False) -> dict[str, Any]:
        """Train to the config's target (trainers.small_loop: log, previews, checkpoints)."""
        cfg = self.cfg
        return run_iterations(self, cfg, None, progress, ("l1", "grad"))


def load_enhancer(path: str | Path) -> tuple[EnhancerNet, dict[str, Any]]:
    """An enhancer checkpoint (file, or a model folder: its latest) as an eval-mode net + ckpt."""
    path = resolve_checkpoint(path)
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != KIND:
        raise SettingsError(f"{path}: not an enhancer checkpoint")
    net = EnhancerNet(EnhancerSpec(**ckpt["spec"]))
    net.load_state_dict(ckpt["model"])
    return net.eval(), ckpt
