"""Tiny Doppel checkpoints (TINY dims, 64 px, random weights) for the DeepFaceLab interop tests."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from tests.trainers.conftest import TINY


def make_checkpoint(model_dir: Path, arch: str = "df-ud", face_type: str = "full",
                    seed: int = 0, iteration: int = 1234) -> Path:
    """A model folder with one checkpoint of a randomly initialised (seeded) model."""
    import torch

    from trainers.checkpoint import CKPT_SCHEMA, save_checkpoint
    from trainers.config import TrainConfig
    from trainers.models import build_model, resolve_spec

    torch.manual_seed(seed)
    spec = resolve_spec(arch, resolution=64, **TINY)
    model = build_model(spec)
    with torch.no_grad():  # spread the biases so every layer's layout matters
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    cfg = TrainConfig(src="s", dst="d", out=str(model_dir), arch=arch, resolution=64,
                      face_type=face_type, **TINY)
    state = {"schema": CKPT_SCHEMA, "iteration": iteration, "spec": asdict(spec),
             "config": cfg.to_dict(), "model": model.state_dict(), "history": []}
    return save_checkpoint(model_dir, state, keep=1)


@pytest.fixture
def checkpoint(tmp_path):
    def make(arch: str = "df-ud", **kw) -> Path:
        return make_checkpoint(tmp_path / f"model_{arch}", arch, **kw)

    return make
