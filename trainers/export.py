"""Export a training checkpoint to the engine's ONNX model format (DESIGN.md §4).

The exported graph is the src→dst swap: input `face` `N×3×R×R` float32 in [0, 1] (the dst face,
sRGB-encoded RGB), outputs `swap` (the face rendered by the src decoder; DESIGN.md called it
`face` too, but an ONNX graph cannot give an input and an output the same name), `mask`
(that decoder's mask, "learned-prd") and `dst_mask` (the dst decoder's mask of the input,
"learned-dst"). Metadata carries what the engine needs instead of guessing. After export:
`onnx.checker`, then a parity check of ONNX Runtime against torch on the same inputs (max abs
difference ≤ `tolerance`).

This lives in trainers, not in engine: it builds the torch model (trainers.models) from a training
checkpoint (trainers.checkpoint), so it needs torch, which the engine package never imports.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from engine.errors import ModelError
from engine.io import atomic_path
from engine.io.ownership import Claims, Mark
from trainers.checkpoint import load_checkpoint, resolve_checkpoint
from trainers.models import ModelSpec, build_model

MODEL_SCHEMA = 1
OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    path: Path
    max_abs_diff: float
    metadata: dict[str, str]


def _has_doppel_metadata(path: Path) -> bool:
    proto = onnx.load(str(path), load_external_data=False)
    return any(p.key == "doppel.schema" for p in proto.metadata_props)


# A model file Doppel exported (ONNX or .dfm: `doppel.schema` in its metadata), for the
# ownership rule (engine.io.ownership): another file at -o is replaced only with --overwrite.
MODEL_MARK = Mark("exported model", _has_doppel_metadata)


def claim_model_output(output: str | Path, inputs: list[Path], overwrite: bool) -> Path:
    """Claim an export's output file before any work (engine.io.ownership)."""
    return Claims(inputs, overwrite).file(output, MODEL_MARK)


def _swap_module(model: Any):
    class Swap(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, face: torch.Tensor):
            return self.inner.swap(face)

    return Swap(model).eval()


def export_checkpoint(checkpoint: str | Path, output: str | Path, src_name: str = "src",
                      dst_name: str = "dst", tolerance: float = 1e-4) -> ExportReport:
    """Export `checkpoint` (a file, or a model folder: its latest) to `output` (.onnx)
    atomically; raises ModelError on parity failure."""
    ckpt = load_checkpoint(resolve_checkpoint(checkpoint))
    spec = ModelSpec(**ckpt["spec"])
    model = build_model(spec)
    model.load_state_dict(ckpt["model"])
    module = _swap_module(model.float())
    res = spec.resolution
    example = torch.rand(2, 3, res, res, generator=torch.Generator().manual_seed(0))
    cfg = ckpt["config"]
    metadata = {
        "doppel.schema": str(MODEL_SCHEMA), "arch": spec.arch, "resolution": str(res),
        "face_type": str(cfg.get("face_type", "full")), "colorspace": "srgb",
        "src_name": src_name, "dst_name": dst_name, "iterations": str(ckpt["iteration"]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dims": f"{spec.ae_dims}/{spec.e_dims}/{spec.d_dims}/{spec.mask_dims}",
    }
    diff = write_onnx(module, example, output, ["swap", "mask", "dst_mask"], metadata,
                      tolerance)
    return ExportReport(Path(output), diff, metadata)


def write_onnx(module: Any, example: Any, output: str | Path, output_names: list[str],
               metadata: dict[str, str], tolerance: float) -> float:
    """Export an eval-mode `module` (input `face`, dynamic batch) to `output` atomically with
    `metadata`; `onnx.checker`, then parity (returned). Nothing is written when parity fails.
    Shared by the swap and XSeg exports."""
    output = Path(output)
    with atomic_path(output) as tmp:
        # The TorchScript exporter (dynamo=False) handles this plain conv graph exactly and needs no
        # onnxscript; torch marks it deprecated, so its warning is silenced here, nowhere else.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, (example,), str(tmp), input_names=["face"],
                              output_names=output_names, opset_version=OPSET,
                              dynamic_axes={n: {0: "N"} for n in ["face", *output_names]},
                              dynamo=False)
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
    return diff


def parity(module: Any, onnx_path: str, example: Any) -> float:
    """Max abs difference of every output between torch and ONNX Runtime (CPU, fp32)."""
    with torch.inference_mode():
        ref = [t.numpy() for t in module(example)]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"face": example.numpy()})
    return float(max(np.abs(a - b).max() for a, b in zip(ref, got, strict=True)))
