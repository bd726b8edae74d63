"""The training loop the small trainers share (XSeg, the FaceEnhancer): iterations to a target
with a progress bar, a JSON-lines loss log, previews and checkpoints at their intervals, and the
files a resumed run finds as it left them.

A trainer handed to `run_iterations` provides `out` (its folder), `iteration`, `step(...)` (one
optimiser step, returning its losses by name), `write_preview()`, `save_checkpoint()` and `log()`;
its config provides `target_iters`, `log_every`, `preview_every` and `save_every`. The swap-model
trainer (trainers/train.py) keeps its own loop: it adds several devices, autocast and rolling
checkpoints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.errors import TrainingError
from engine.io import atomic_write_text, write_image
from trainers.checkpoint import checkpoints, remove_stale_writes
from trainers.preview import loss_plot


class LoopConfig(Protocol):
    target_iters: int
    log_every: int
    preview_every: int
    save_every: int

    def to_dict(self) -> dict[str, Any]: ...


class SmallTrainer(Protocol):
    out: Path
    iteration: int

    def step(self, *batch: Any) -> dict[str, float]: ...
    def write_preview(self) -> Path: ...
    def save_checkpoint(self) -> Path: ...
    def log(self, message: str) -> None: ...


def optimiser_step(trainer: SmallTrainer, opt: Any, total: Any, what: str) -> None:
    """One step of `opt` on the loss tensor `total`, counted in `trainer.iteration`; a loss that
    is not finite is refused (TrainingError naming the last good checkpoint) before it can
    reach the weights."""
    import torch

    if not torch.isfinite(total):
        prev = checkpoints(trainer.out)
        raise TrainingError(f"{what} loss became {total.item()} at iteration "
                            f"{trainer.iteration + 1}; last good checkpoint: "
                            f"{prev[-1] if prev else '(none yet)'}; lower --lr")
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    trainer.iteration += 1


def trim_log(out: Path, iteration: int) -> None:
    """Drop the loss log's lines past `iteration` (a run resumed from an earlier checkpoint
    logs those iterations again)."""
    log = out / "losses.jsonl"
    if log.is_file():
        keep = [ln for ln in log.read_text().splitlines()
                if ln.strip() and json.loads(ln)["it"] <= iteration]
        atomic_write_text(log, "".join(k + "\n" for k in keep))


def save_preview(out: Path, iteration: int, grid: np.ndarray,
                 history: Sequence[Sequence[float]], names: Sequence[str]) -> Path:
    """Write a preview grid (`H×W×3` uint8) as `previews/preview_<iteration>.png` and
    `previews/latest.png`, and the loss history plot (`loss_history.png`); returns the first."""
    path = out / "previews" / f"preview_{iteration:08d}.png"
    image = grid.astype(np.float32) / 255.0
    write_image(path, image)
    write_image(out / "previews" / "latest.png", image)
    plot = loss_plot([tuple(h) for h in history], names=tuple(names))
    write_image(out / "loss_history.png", plot.astype(np.float32) / 255.0)
    return path


def run_iterations(trainer: SmallTrainer, cfg: LoopConfig,
                   batches: Callable[[], Iterable[Any]] | None = None, progress: bool = False,
                   shown: Sequence[str] = ()) -> dict[str, Any]:
    """Train `trainer` to `cfg.target_iters` (module doc): `trainer.step(batch)` per item of
    `batches()` (made only when there is work to do: a loader may start processes), or
    `trainer.step()` when None; the bar shows the losses named in `shown`. Returns
    `{"iteration", "losses"}` (losses None when there was nothing to do)."""
    out = trainer.out
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_writes(out)  # temps of a killed save: never left to pile up
    atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=1))
    trim_log(out, trainer.iteration)
    if trainer.iteration >= cfg.target_iters:
        trainer.log(f"{out}: already at iteration {trainer.iteration} ≥ target "
                    f"{cfg.target_iters}; nothing to do")
        return {"iteration": trainer.iteration, "losses": None}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.target_iters, initial=trainer.iteration, unit="it",
                   desc=out.name, dynamic_ncols=True)
    items: Iterable[tuple[Any, ...]] = (
        ((b,) for b in batches()) if batches is not None
        else iter(lambda: (), None))  # step() with no batch, until the target
    last = None
    try:
        for args in items:
            last = trainer.step(*args)
            k = trainer.iteration
            if bar is not None:
                bar.update(1)
                bar.set_postfix({n: f"{last[n]:.4f}" for n in shown})
            if k % cfg.log_every == 0:
                with open(out / "losses.jsonl", "a") as fh:
                    fh.write(json.dumps({"it": k, **last, "time": round(time.time(), 3)})
                             + "\n")
            if k % cfg.preview_every == 0:
                trainer.write_preview()
            if k % cfg.save_every == 0:
                trainer.save_checkpoint()
            if k >= cfg.target_iters:
                break
    finally:
        if bar is not None:
            bar.close()
    if trainer.iteration % cfg.save_every:
        trainer.save_checkpoint()
    trainer.write_preview()
    return {"iteration": trainer.iteration, "losses": last}
