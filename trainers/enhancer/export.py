"""Export an enhancer checkpoint to the ONNX file the engine's `Enhancer` reads
(engine/swap/enhance.py has the contract). Atomic and checked as the swap model's export is:
`onnx.checker`, then torch vs ONNX Runtime parity; nothing is written when parity fails."""

from __future__ import annotations

import datetime
from pathlib import Path

import torch

from engine.swap.enhance import ARCH, SCALE
from trainers.enhancer.train import load_enhancer
from trainers.export import MODEL_SCHEMA, ExportReport, write_onnx


class _Enhance(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, face: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.net(face),)


def export_enhancer(checkpoint: str | Path, output: str | Path, tolerance: float = 1e-4
                    ) -> ExportReport:
    """Export `checkpoint` (a file, or an enhancer model folder: its latest) to `output`."""
    net, ckpt = load_enhancer(checkpoint)
    res = net.spec.resolution
    metadata = {
        "doppel.schema": str(MODEL_SCHEMA), "arch": ARCH, "resolution": str(res),
        "scale": str(SCALE), "face_type": str(ckpt["face_type"]),
        "colorspace": str(ckpt["colorspace"]), "swap_model": str(ckpt["swap_model"]),
        "swap_digest": str(ckpt["swap_digest"]), "src_name": str(ckpt.get("src_name", "")),
        "iterations": str(ckpt["iteration"]), "width": str(net.spec.width),
        "blocks": str(net.spec.blocks),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    module = _Enhance(net.float()).eval()
    example = torch.rand(2, 3, res, res, generator=torch.Generator().manual_seed(0))
    diff = write_onnx(module, example, output, ["enhanced"], metadata, tolerance)
    return ExportReport(Path(output), diff, metadata)
