"""The swap model: an ONNX Runtime session that reads what it needs from the model's metadata.

Model contract (DESIGN.md §4, written by trainers/export.py): input `face` `N×3×R×R` float32 in
[0, 1], RGB in the model's colour space; outputs `swap` (`N×3×R×R`), `mask` and `dst_mask`
(`N×1×R×R`), and in models exported since issue 21 `dst_face` (`N×3×R×R`, the dst decoder's
reconstruction of the input: the model–plate fit check, engine/swap/fit.py). Models without it keep
working; their fit check is unavailable. Metadata: `doppel.schema`, `arch`, `resolution`,
`face_type`, `colorspace`, names and iterations, `dst_fit` with `dst_face`. Faces go in and
out channels-last (`N×R×R×3`), the engine's convention.
DeepFaceLive's `.dfm` models open through `engine.swap.models.load_swap_model` (engine/swap/dfm.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.geometry.align import FACE_TYPES
from engine.runtime.digest_cache import read_with_digest
from engine.runtime.onnx_header import TensorInfo, parse_header
from engine.runtime.onnxrt import create_session

SUPPORTED_SCHEMAS = ("1",)
COLORSPACES = ("srgb",)  # the model spaces the engine converts plates into
REQUIRED = ("doppel.schema", "arch", "resolution", "face_type", "colorspace")


@dataclass(frozen=True)
class ModelInfo:
    path: str
    arch: str
    resolution: int
    face_type: str
    colorspace: str
    metadata: dict[str, str]
    digest: str = ""  # sha256 of the file's bytes: the model's identity, wherever it lies
    outputs: tuple[str, ...] = ()  # the graph's output names, in order

    @property
    def has_fit(self) -> bool:
        """The model reconstructs its input through the dst decoder (`dst_face`): the
        model–plate fit check (engine/swap/fit.py) can run."""
        return "dst_face" in self.outputs


def _graph_dims(value_info: TensorInfo) -> list[int | None]:
    """Static dimensions of a graph input/output (None where symbolic, e.g. the batch)."""
    return list(value_info.dims)


def _read_onnx(path: str | Path, kind: str, outputs: list[str], required: tuple[str, ...],
               optional: tuple[str, ...] = ()) -> tuple[ModelInfo, bytes]:
    """Validate a Doppel ONNX file (readable, metadata, schema, face type, I/O names);
    `optional` outputs may follow `outputs`, in that order."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: {kind} file not found")
    data, digest = read_with_digest(path)  # the digest cached across runs (digest_cache)
    proto = parse_header(data, str(path))  # metadata and graph I/O only, not the weights
    meta = dict(proto.metadata)
    missing = [k for k in required if k not in meta]
    if missing:
        raise ModelError(f"{path}: ONNX {kind} lacks Doppel metadata {', '.join(missing)}; "
                         "export it with 'doppel export'")
    if meta["doppel.schema"] not in SUPPORTED_SCHEMAS:
        raise ModelError(f"{path}: {kind} schema {meta['doppel.schema']} not supported by this "
                         f"engine (supports {', '.join(SUPPORTED_SCHEMAS)})")
    if meta["face_type"] not in FACE_TYPES:
        raise ModelError(f"{path}: unknown face type {meta['face_type']!r} in metadata")
    if meta["colorspace"] not in COLORSPACES:
        raise ModelError(f"{path}: {kind} colour space {meta['colorspace']!r} unknown to this "
                         f"engine (knows {', '.join(COLORSPACES)}); re-export the model")
    try:
        res = int(meta["resolution"])
    except ValueError:
        raise ModelError(f"{path}: {kind} metadata resolution {meta['resolution']!r} is not a "
                         "number; re-export the model") from None
    if not 16 <= res <= 4096:
        raise ModelError(f"{path}: {kind} metadata resolution {res} outside 16..4096; "
                         "re-export the model")
    names = [i.name for i in proto.inputs], [o.name for o in proto.outputs]
    allowed = [outputs + list(optional[:k]) for k in range(len(optional) + 1)]
    if names[0] != ["face"] or names[1] not in allowed:
        raise ModelError(f"{path}: {kind} needs input 'face' and output(s) "
                         f"{', '.join(outputs)}"
                         + (f" (then optionally {', '.join(optional)})" if optional else "")
                         + f"; found {names}")
    expect = {"face": [None, 3, res, res]}
    expect.update({o: [None, 3 if o in ("swap", "dst_face") else 1, res, res]
                   for o in outputs + list(optional)})
    for vi in proto.inputs + proto.outputs:
        got = _graph_dims(vi)
        want = expect[vi.name]
        if len(got) != 4 or any(g is not None and g != w for g, w in zip(got, want, strict=True)
                                if w is not None):
            shown = ["N" if g is None else g for g in got]
            raise ModelError(f"{path}: {kind} {vi.name!r} is {shown}, metadata says "
                             f"N×{want[1]}×{res}×{res}; re-export the model")
    info = ModelInfo(str(path), meta.get("arch", kind), res, meta["face_type"],
                     meta["colorspace"], meta, digest, tuple(names[1]))
    return info, data


def read_model_info(path: str | Path) -> tuple[ModelInfo, bytes]:
    """Validate a swap model file; returns its info and bytes (loaded once)."""
    return _read_onnx(path, "model", ["swap", "mask", "dst_mask"], REQUIRED, ("dst_face",))


def read_mask_info(path: str | Path) -> tuple[ModelInfo, bytes]:
    """Validate a segmentation (XSeg) model file; returns its info and bytes."""
    return _read_onnx(path, "XSeg model", ["mask"], tuple(k for k in REQUIRED if k != "arch"))


class SwapModel:
    """One ONNX Runtime session for a swap model; `run` takes and returns channels-last faces."""

    takes_morph = False  # Doppel models have no morph input (DeepFaceLab AMP .dfm models do)

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 spinning: bool = True):
        self.info, data = read_model_info(path)
        self.session = create_session(data, device, threads, spinning, str(path))
        self.providers = self.session.get_providers()
        self.has_fit = self.info.has_fit

    @property
    def resolution(self) -> int:
        return self.info.resolution

    def run(self, faces: np.ndarray, morph: float | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`faces` `N×R×R×3` float32 in [0, 1] → (swap `N×R×R×3`, mask `N×R×R`, dst_mask).
        `morph` is for AMP `.dfm` models (engine.swap.dfm) and unused here."""
        return self.run_all(faces)[:3]  # type: ignore[return-value]

    def run_all(self, faces: np.ndarray, morph: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """As `run`, plus `dst_face` `N×R×R×3` (the dst decoder's reconstruction of the input;
        None for a model exported without it)."""
        r = self.info.resolution
        if faces.ndim != 4 or faces.shape[1:] != (r, r, 3):
            raise ModelError(f"{self.info.path}: expects faces N×{r}×{r}×3, got {faces.shape}")
        x = np.ascontiguousarray(faces.transpose(0, 3, 1, 2), dtype=np.float32)
        outs = self.session.run(None, {"face": x})
        swap, mask, dst_mask = outs[:3]
        dst_face = (np.ascontiguousarray(outs[3].transpose(0, 2, 3, 1)) if len(outs) > 3
                    else None)
        return (np.ascontiguousarray(swap.transpose(0, 2, 3, 1)), mask[:, 0], dst_mask[:, 0],
                dst_face)


class MaskModel:
    """A segmentation model (XSeg): input `face` `N×3×R×R` in [0, 1], output `mask` `N×1×R×R`.

    Metadata as for swap models (`doppel.schema`, `resolution`, `face_type`, `colorspace`).
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 spinning: bool = True):
        self.info, data = read_mask_info(path)
        self.session = create_session(data, device, threads, spinning, str(path))

    @property
    def resolution(self) -> int:
        return self.info.resolution

    def run(self, faces: np.ndarray) -> np.ndarray:
        """`faces` `N×R×R×3` float32 in [0, 1] → masks `N×R×R` in [0, 1]."""
        x = np.ascontiguousarray(faces.transpose(0, 3, 1, 2), dtype=np.float32)
        (mask,) = self.session.run(None, {"face": x})
        return np.clip(mask[:, 0], 0.0, 1.0)
