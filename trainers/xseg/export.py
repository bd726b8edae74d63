"""Export an XSeg checkpoint to the ONNX file the engine's `MaskModel` reads (DESIGN.md §4).

Graph: input `face` `N×3×R×R` float32 in [0, 1] (sRGB-encoded RGB aligned face), output `mask`
`N×1×R×R` in [0, 1]. Metadata: `doppel.schema`, `arch` (`xseg`), `resolution`, `face_type` (of
the facesets it was trained on), `colorspace` (`srgb`), `iterations`, `created`, `width`.
Export is atomic and checked as the swap model's is: `onnx.checker`, then torch vs ONNX Runtime
parity (`trainers.export.write_onnx`); nothing is written when parity fails.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import torch

from trainers.export import MODEL_SCHEMA, ExportReport, write_onnx
from trainers.xseg.model import XSegNet
from trainers.xseg.train import load_xseg


class _Predict(torch.nn.Module):
    def __init__(self, net: XSegNet):
        super().__init__()
        self.net = net

    def forward(self, face: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.net.predict(face),)


def export_xseg(checkpoint: str | Path, output: str | Path, tolerance: float = 1e-4
                ) -> ExportReport:
    """Export `checkpoint` (a file, or an XSeg model folder: its latest) to `output` (.onnx)."""
    net, ckpt = load_xseg(checkpoint)
    res = net.spec.resolution
    metadata = {
        "doppel.schema": str(MODEL_SCHEMA), "arch": "xseg", "resolution": str(res),
        "face_type": str(ckpt["face_type"]), "colorspace": "srgb",
        "iterations": str(ckpt["iteration"]), "width": str(net.spec.width),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    # eval() on the wrapper: the exporter restores the wrapper's mode onto its children after
    # tracing, and batch norm must stay in inference mode for the parity check.
    module = _Predict(net.float()).eval()
    example = torch.rand(2, 3, res, res, generator=torch.Generator().manual_seed(0))
    diff = write_onnx(module, example, output, ["mask"], metadata, tolerance)
    return ExportReport(Path(output), diff, metadata)
