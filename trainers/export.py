"""Export a training checkpoint to the engine's ONNX model format (DESIGN.md §4).

The exported graph is the src→dst swap: input `face` `N×3×R×R` float32 in [0, 1] (the dst face,
sRGB-encoded RGB), outputs `swap` (the face rendered by the src decoder; DESIGN.md called it
`face` too, but an ONNX graph cannot give an input and an output the same name), `mask`
(that decoder's mask, "learned-prd"), `dst_mask` (the dst decoder's mask of the input,
"learned-dst") and `dst_face` (the dst decoder's reconstruction of the input: how well the model
knows a plate's face, engine/swap/fit.py). Metadata carries what the engine needs instead of
guessing, `dst_fit`: the reconstruction error over the training dst faces (when the dst
faceset is at hand), and `src_mouths`: the source faces' mouth shapes (when the src faceset is at
hand; engine/swap/mouth_fit.py). After export: `onnx.checker`, then a parity check of ONNX
Runtime against torch on the same inputs (max abs difference ≤ `tolerance`).

This lives in trainers, not in engine: it builds the torch model (trainers.models) from a training
checkpoint (trainers.checkpoint), so it needs torch, which the engine package never imports.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch

from engine.errors import FacesetError, MediaError, ModelError
from engine.faceset.store import load_faceset
from engine.io import atomic_path
from engine.io.ownership import Claims, Mark
from engine.swap.fit import FIT_KEY, TrainingFit
from engine.swap.mouth_fit import MOUTHS_KEY, SourceMouths
from trainers.checkpoint import load_checkpoint, resolve_checkpoint
from trainers.models import ModelSpec, build_model

MODEL_SCHEMA = 1
OPSET = 17


OUTPUTS = ["swap", "mask", "dst_mask", "dst_face"]
FIT_FACES = 256  # training dst faces the fit statistics are measured on, at most


@dataclass(frozen=True)
class ExportReport:
    path: Path
    max_abs_diff: float
    metadata: dict[str, str]
    fit_note: str = ""  # how the fit statistics were measured, or why they are missing
    mouths_note: str = ""  # the source's mouth shapes recorded, or why they are missing


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
            return self.inner.swap_and_reconstruct(face)

    return Swap(model).eval()


def export_checkpoint(checkpoint: str | Path, output: str | Path, src_name: str = "src",
                      dst_name: str = "dst", tolerance: float = 1e-4,
                      dst_faceset: str | Path | None = None,
                      src_faceset: str | Path | None = None) -> ExportReport:
    """Export `checkpoint` (a file, or a model folder: its latest) to `output` (.onnx)
    atomically; raises ModelError on parity failure.

    `dst_faceset`: the training dst faces for the fit statistics (default: the `dst` the
    checkpoint was trained on, when that folder still exists); `src_faceset` likewise the
    training src faces, for their mouth shapes (default: its `src`)."""
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
    fit, note = _training_fit(module, spec, str(cfg.get("face_type", "full")),
                              dst_faceset if dst_faceset is not None else cfg.get("dst"),
                              dst_name)
    if fit is not None:
        metadata[FIT_KEY] = fit.to_json()
    shapes, mouths_note = source_mouths(src_faceset if src_faceset is not None
                                        else cfg.get("src"), src_name)
    if shapes is not None:
        metadata[MOUTHS_KEY] = shapes.to_json()
    diff = write_onnx(module, example, output, OUTPUTS, metadata, tolerance)
    return ExportReport(Path(output), diff, metadata, note, mouths_note)


def source_mouths(src: str | Path | None, src_name: str) -> tuple[SourceMouths | None, str]:
    """The mouth shapes of the training src faces (engine.swap.mouth_fit); None and the reason
    when the faceset is not at hand."""
    if not src or not (Path(src) / "faceset.json").is_file():
        return None, (f"no mouth shapes: the training src faceset {src or '(none recorded)'} "
                      "is not at hand; give --src-faceset to record them")
    fs = load_faceset(src)
    shapes = SourceMouths.from_landmarks((fs.landmarks_crop(e) for e in fs.entries), src_name)
    return shapes, (f"mouth shapes of {shapes.faces} training src faces of {src} "
                    f"({len(shapes.counts)} distinct)")


def _training_fit(module: Any, spec: ModelSpec, face_type: str, dst: str | Path | None,
                  dst_name: str) -> tuple[TrainingFit | None, str]:
    """The reconstruction error of the dst decoder over (up to FIT_FACES of) the training dst
    faces, measured as the engine measures plate faces (engine.swap.fit); None and the reason when
    the faceset is not at hand."""
    from engine.swap.fit import fit_region, reconstruction_error

    if not dst or not (Path(dst) / "faceset.json").is_file():
        return None, (f"no fit statistics: the training dst faceset {dst or '(none recorded)'} "
                      "is not at hand; give --dst-faceset to record them")
    fs = load_faceset(dst)
    if fs.face_type != face_type:
        raise FacesetError(f"{dst}: faceset face type is {fs.face_type!r}, the model's "
                           f"{face_type!r}; give the faceset the model was trained on")
    res = spec.resolution
    entries = fs.entries
    if len(entries) > FIT_FACES:
        entries = [entries[i] for i in np.linspace(0, len(entries) - 1, FIT_FACES).astype(int)]
    faces, regions = [], []
    scale = res / fs.size
    for e in entries:
        try:
            img = fs.load_crop(e)
        except (MediaError, FacesetError):
            continue
        faces.append(cv2.resize(np.clip(img, 0, 1), (res, res), interpolation=cv2.INTER_AREA))
        regions.append(fit_region((fs.landmarks_crop(e) + 0.5) * scale - 0.5, res))
    errors = []
    with torch.inference_mode():
        for i in range(0, len(faces), 32):
            x = torch.from_numpy(np.ascontiguousarray(
                np.stack(faces[i:i + 32]).transpose(0, 3, 1, 2), np.float32))
            recon = module(x)[3].numpy().transpose(0, 2, 3, 1)
            errors += [reconstruction_error(f, r, m) for f, r, m in
                       zip(faces[i:i + 32], recon, regions[i:i + 32], strict=True)]
    fit = TrainingFit.from_errors(errors, dst_name)
    return fit, (f"fit statistics over {fit.faces} training dst faces of {dst}: median error "
                 f"{fit.median:.4f}, p95 {fit.p95:.4f}")


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
