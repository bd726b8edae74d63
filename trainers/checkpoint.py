"""Training checkpoints on disk (DESIGN.md §4): the one place that reads and writes them.

Layout: `MODEL_DIR/checkpoints/ckpt_NNNNNNNN.pt` (iteration, zero-padded, so names sort in
training order). A checkpoint is a dict of tensors and plain types only (`schema`, `iteration`,
`spec`, `config`, `model`, optimiser states, `history`, `torch_rng`), so it loads with
`torch.load(weights_only=True)`: a foreign or tampered pickle is refused, never executed.
Writes are atomic (temp + rename) and keep the last N; a failed write leaves the previous
checkpoint intact. Used by the training loop (save, resume, init-from) and by ONNX export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.errors import DiskFullError, SettingsError, TrainingError
from engine.io import atomic_path
from engine.io.atomic import remove_stale_temps
from engine.io.ownership import Claims, FolderMark

CKPT_SCHEMA = 1


def checkpoint_path(model_dir: Path, iteration: int) -> Path:
    return model_dir / "checkpoints" / f"ckpt_{iteration:08d}.pt"


def checkpoints(model_dir: Path) -> list[Path]:
    """The model folder's checkpoints, oldest first."""
    return sorted((Path(model_dir) / "checkpoints").glob("ckpt_*.pt"))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely (weights_only); raises SettingsError naming the file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, foreign pickle: never unpickle arbitrary objects
        raise SettingsError(f"{path}: not a readable Doppel checkpoint ({exc})".split("\n")[0]
                            ) from None
    if not isinstance(ckpt, dict) or ckpt.get("schema") != CKPT_SCHEMA:
        raise SettingsError(f"{path}: checkpoint schema not supported (expected {CKPT_SCHEMA})")
    return ckpt


def claim_model_folder(model_dir: Path, mark: FolderMark, inputs: list[str | Path]) -> Path:
    """The ownership rule (engine.io.ownership) for a training run's model folder, before any
    work: new, empty, or one this kind of run wrote (its resolved config); never inside an
    input (the facesets)."""
    return Claims([Path(p) for p in inputs if p], hint="choose another --out").folder(
        model_dir, mark)


def remove_stale_writes(model_dir: Path) -> None:
    """Temp files of saves that were killed (SIGKILL, power loss): gone before a run writes."""
    for folder in (Path(model_dir), Path(model_dir) / "checkpoints",
                   Path(model_dir) / "previews"):
        remove_stale_temps(folder)


def resume_point(model_dir: Path, resume: bool) -> Path | None:
    """The checkpoint a run starts from: the latest with `resume`, None for a fresh folder.
    A folder that holds checkpoints without `resume` is refused (never silently overwritten)."""
    existing = checkpoints(model_dir)
    if existing and not resume:
        raise SettingsError(f"{model_dir}: holds checkpoints already; pass --resume to "
                            "continue, or choose another --out")
    return existing[-1] if existing and resume else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a model folder's latest checkpoint; InputError-kind if none."""
    p = Path(path)
    if p.is_dir():
        found = checkpoints(p)
        if not found:
            raise SettingsError(f"{p}: no checkpoints/ckpt_*.pt inside; train first")
        return found[-1]
    if not p.is_file():
        raise SettingsError(f"{p}: checkpoint not found")
    return p


def save_checkpoint(model_dir: Path, state: dict[str, Any], keep: int) -> Path:
    """Write `state` (must hold `schema` and `iteration`) atomically, then keep the last `keep`.

    On a write error the previous checkpoint stays intact and the error says so: a full disk
    is a DiskFullError (exit 2, "disk full"; PyTorch's writer loses the errno, the atomic
    write finds it out), anything else a TrainingError.
    """
    target = checkpoint_path(Path(model_dir), int(state["iteration"]))
    try:
        with atomic_path(target) as tmp:
            torch.save(state, tmp)
    except DiskFullError:
        prev = checkpoints(model_dir)
        raise DiskFullError(
            f"{target}: disk full (No space left on device) while saving the checkpoint; the "
            f"previous checkpoint {prev[-1] if prev else '(none)'} is intact; free space and "
            "run again with --resume") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: PyTorch's writer failing
        prev = checkpoints(model_dir)
        first = (str(getattr(exc, "strerror", None) or exc).splitlines() or ["?"])[0]
        raise TrainingError(
            f"saving {target} failed ({first}); previous checkpoint "
            f"{prev[-1] if prev else '(none)'} is intact; fix the cause and --resume"
        ) from None
    for old in checkpoints(model_dir)[: -keep]:
        old.unlink(missing_ok=True)
    return target
