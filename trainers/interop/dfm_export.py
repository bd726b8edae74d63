"""Export a Doppel checkpoint as a DeepFaceLive `.dfm` (`doppel export --format dfm`).

The graph wraps the model's swap (`model.swap`: dst face -> the src decoder's face and mask, the
dst decoder's mask) in DeepFaceLive's layout: input `in_face:0` float32 NHWC `[N, R, R, 3]` BGR
in 0..1 (batch dynamic, resolution fixed, as DeepFaceLive reads it from the shape); outputs, in
order, `out_face_mask:0` (the dst decoder's mask), `out_celeb_face:0` (the swap, BGR),
`out_celeb_face_mask:0` (its mask), NHWC. ONNX opset 12, as DeepFaceLab's own `.dfm` exports,
so older DeepFaceLive builds load it. Doppel's metadata (`face_type`, `arch`, `resolution`, …)
rides along in `metadata_props`, which DeepFaceLive ignores and Doppel's adapter reads.

After export: `onnx.checker`, DeepFaceLive's acceptance rules (`engine.swap.dfm`), then a
parity check of ONNX Runtime against the checkpoint's torch model on the same faces (every
output, max abs difference <= `tolerance`); nothing is written when either fails.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from engine.errors import ModelError
from engine.io import atomic_path
from engine.swap.dfm import OUTPUTS, check_dfm_graph
from trainers.checkpoint import load_checkpoint, resolve_checkpoint
from trainers.models import ModelSpec, build_model

DFM_OPSET = 12
IN_FACE = "in_face:0"


@dataclass(frozen=True)
class DfmExportReport:
    path: Path
    max_abs_diff: float
    metadata: dict[str, str]


class DfmSwap(torch.nn.Module):
    """DeepFaceLive's I/O around `model.swap`: BGR NHWC in, (dst mask, BGR face, mask) NHWC out."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.inner = model

    def forward(self, in_face: torch.Tensor):
        rgb = in_face.permute(0, 3, 1, 2)[:, [2, 1, 0]]  # BGR NHWC -> RGB NCHW
        face, mask, dst_mask = self.inner.swap(rgb)
        return (dst_mask.permute(0, 2, 3, 1), face[:, [2, 1, 0]].permute(0, 2, 3, 1),
                mask.permute(0, 2, 3, 1))


def dfm_parity(module: torch.nn.Module, path: str | Path, faces_bgr: np.ndarray) -> float:
    """Max abs difference of every output between torch and ONNX Runtime (CPU, fp32)."""
    with torch.inference_mode():
        ref = [t.numpy() for t in module(torch.from_numpy(faces_bgr))]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(list(OUTPUTS), {IN_FACE: faces_bgr})
    return float(max(np.abs(a - b).max() for a, b in zip(ref, got, strict=True)))


def export_dfm(checkpoint: str | Path, output: str | Path, src_name: str = "src",
               dst_name: str = "dst", tolerance: float = 1e-4,
               faces_bgr: np.ndarray | None = None) -> DfmExportReport:
    """Export `checkpoint` (a file, or a model folder: its latest) to `output` (.dfm)
    atomically; ModelError (nothing written) when parity or DeepFaceLive's rules fail.

    `faces_bgr` (`N×R×R×3` float32 in [0, 1]) are the parity inputs (default: seeded noise).
    """
    ckpt = load_checkpoint(resolve_checkpoint(checkpoint))
    spec = ModelSpec(**ckpt["spec"])
    model = build_model(spec)
    model.load_state_dict(ckpt["model"])
    module = DfmSwap(model.float()).eval()
    res = spec.resolution
    if faces_bgr is None:
        faces_bgr = np.random.default_rng(0).random((2, res, res, 3), dtype=np.float32)
    cfg = ckpt["config"]
    metadata = {
        "doppel.format": "dfm", "arch": spec.arch, "resolution": str(res),
        "face_type": str(cfg.get("face_type", "full")), "colorspace": "srgb",
        "src_name": src_name, "dst_name": dst_name, "iterations": str(ckpt["iteration"]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dims": f"{spec.ae_dims}/{spec.e_dims}/{spec.d_dims}/{spec.mask_dims}",
    }
    output = Path(output)
    example = torch.from_numpy(faces_bgr[:1].copy())
    with atomic_path(output) as tmp:
        # The TorchScript exporter (dynamo=False) handles this conv graph exactly at opset 12;
        # its deprecation warning is silenced here only, as in trainers/export.py.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, (example,), str(tmp), input_names=[IN_FACE],
                              output_names=list(OUTPUTS), opset_version=DFM_OPSET,
                              dynamic_axes={n: {0: "N"} for n in [IN_FACE, *OUTPUTS]},
                              dynamo=False)
        proto = onnx.load(str(tmp))
        for k, v in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(proto)
        check_dfm_graph(proto, str(output))  # DeepFaceLive's rules, as the engine applies them
        onnx.save(proto, str(tmp))
        diff = dfm_parity(module, tmp, faces_bgr)
        if not diff <= tolerance:
            raise ModelError(f"{output}: ONNX Runtime differs from torch by {diff:.2e} "
                             f"(> {tolerance:.0e}); export not written")
    return DfmExportReport(output, diff, metadata)
