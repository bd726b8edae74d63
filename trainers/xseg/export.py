"""Export an XSeg checkpoint to the ONNX file the engine's `MaskModel` reads (DESIGN.md §4).

Graph: input `face` `N×3×R×R` float32 in [0, 1] (sRGB-encoded RGB aligned face), output `mask`
`N×1×R×R` in [0, 1]. Metadata: `doppel.schema`, `arch` (`xseg`), `resolution`, `face_type` (of
the facesets it was trained on), `colorspace` (`srgb`), `iterations`, `created`, `width`.
Export is atomic and checked as the swap model's is: `onnx.checker`, then torch vs ONNX Runtime
parity (`engine.export.onnx_export.parity`); nothing is written when parity fails.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import onnx
import torch

from engine.errors import ModelError
from engine.export.onnx_export import MODEL_SCHEMA, OPSET, ExportReport, parity
from engine.io import atomic_path
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
    output = Path(output)
    with atomic_path(output) as tmp:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript exporter, as swap
            torch.onnx.export(module, (example,), str(tmp), input_names=["face"],
                              output_names=["mask"], opset_version=OPSET,
                              dynamic_axes={"face": {0: "N"}, "mask": {0: "N"}}, dynamo=False)
        proto = onnx.load(str(tmp))
        for k, v in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        diff = parity(module, str(tmp), example)
        if diff > tolerance:
            raise ModelError(f"{output}: ONNX Runtime differs from torch by {diff:.2e} "
                             f"(> {tolerance:.0e}); export not written")
    return ExportReport(output, diff, metadata)
