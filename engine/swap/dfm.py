"""DeepFaceLive's `.dfm` swap models, run as an engine swap model (`DfmModel`).

A `.dfm` is a plain ONNX file (format facts from DeepFaceLive's public model loader):
    input 0   name containing `in_face`, float32 NHWC `[N, R, R, 3]`, **BGR**, 0..1; the
              resolution is read from its shape
    input 1   optional, name containing `morph_value`, float32 `[1]` (AMP models: how far the
              face morphs towards the source identity; DeepFaceLive's default is 0.75)
    outputs   in this order: `out_face_mask:0` (the dst decoder's mask of the input),
              `out_celeb_face:0` (the swapped face, BGR), `out_celeb_face_mask:0` (its mask), all
              NHWC in 0..1
DeepFaceLive refuses a model whose first input does not contain `in_face`, whose second input
does not contain `morph_value`, or that has more than two inputs; `read_dfm_info` refuses those
with the same rule, plus anything that could not run as a face swap here (not NHWC, not square,
not float32, three outputs of the wrong shapes), each with one line.

The face type is not stored in a `.dfm` (DeepFaceLive's aligner supplies it). A `.dfm` that
Doppel exported carries its face type in the ONNX metadata (`face_type`); for any other the face
type comes from the setting (`EngineConfig.face_type`), whole face when it is empty, as most
DeepFaceLab models are trained. The model's colour space is sRGB (DFL trains on 8-bit images).

`DfmModel` has `SwapModel`'s interface: `info`, `resolution`, `run(faces) -> (swap, mask,
dst_mask)` channels-last RGB, plus `takes_morph` and the `morph` argument of `run`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.geometry.align import FACE_TYPES
from engine.runtime.digest_cache import read_with_digest
from engine.runtime.onnx_header import FLOAT, OnnxHeader, TensorInfo, parse_header
from engine.runtime.onnxrt import create_session
from engine.swap.infer import ModelInfo

DEFAULT_FACE_TYPE = "whole"
DEFAULT_MORPH = 0.75  # DeepFaceLive's default morph factor for AMP models
OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
OUTPUT_CHANNELS = (1, 3, 1)
_FLOAT = FLOAT


def _dims(value_info: TensorInfo) -> list[int | None]:
    return list(value_info.dims)


def is_dfm(path: str | Path) -> bool:
    """A model path the engine treats as a DeepFaceLive model (by its `.dfm` suffix)."""
    return Path(path).suffix.lower() == ".dfm"


def check_dfm_graph(proto: OnnxHeader | object, where: str) -> tuple[int, bool]:
    """DeepFaceLive's acceptance rules and the shapes a face swap needs; (resolution, morph).
    `proto`: the model's header, or an `onnx.ModelProto` (the exporter checks its own)."""
    if not isinstance(proto, OnnxHeader):
        proto = parse_header(proto.SerializeToString(), where)  # type: ignore[attr-defined]
    inputs = list(proto.fed_inputs)
    names = [i.name for i in inputs]
    if not inputs or "in_face" not in names[0]:
        raise ModelError(f"{where}: first input is {names[0] if names else 'missing'!r}; a .dfm "
                         "model's first input must be named in_face (DeepFaceLive refuses it too)")
    if len(inputs) > 2:
        raise ModelError(f"{where}: {len(inputs)} inputs ({', '.join(names)}); a .dfm model has "
                         "in_face and optionally morph_value (DeepFaceLive refuses it too)")
    morph = len(inputs) == 2
    if morph and "morph_value" not in names[1]:
        raise ModelError(f"{where}: second input is {names[1]!r}; a .dfm model's second input "
                         "must be morph_value (DeepFaceLive refuses it too)")
    face = inputs[0]
    shape = _dims(face)
    if face.elem_type != _FLOAT:
        raise ModelError(f"{where}: input {face.name!r} is not float32; a .dfm model takes "
                         "float32 faces in 0..1")
    if len(shape) != 4 or shape[3] != 3 or shape[1] is None or shape[1] != shape[2]:
        shown = ["N" if d is None else d for d in shape]
        raise ModelError(f"{where}: input {face.name!r} has shape {shown}; a .dfm model takes "
                         "NHWC [N, R, R, 3] faces with a fixed square resolution R")
    res = int(shape[1])
    if not 16 <= res <= 4096:
        raise ModelError(f"{where}: resolution {res} outside 16..4096")
    if morph:
        m = inputs[1]
        if m.elem_type != _FLOAT or _dims(m) not in ([1], [None]):
            raise ModelError(f"{where}: input {m.name!r} must be float32 [1] (the morph value)")
    outs = list(proto.outputs)
    if len(outs) != 3:
        raise ModelError(f"{where}: {len(outs)} outputs; a .dfm model has 3 ({', '.join(OUTPUTS)})")
    # DeepFaceLive takes the outputs by position; names are checked only to catch a known set
    # in another order (which would swap the face and a mask).
    stems = [o.name.split(":")[0] for o in outs]
    want = [n.split(":")[0] for n in OUTPUTS]
    if sorted(stems) == sorted(want) and stems != want:
        raise ModelError(f"{where}: outputs are {', '.join(o.name for o in outs)}; a .dfm "
                         f"model's outputs are, in this order, {', '.join(OUTPUTS)}")
    for o, ch in zip(outs, OUTPUT_CHANNELS, strict=True):
        got = _dims(o)
        if got and (len(got) != 4 or any(g is not None and g != w for g, w in
                                         zip(got[1:], (res, res, ch), strict=True))):
            shown = ["N" if d is None else d for d in got]
            raise ModelError(f"{where}: output {o.name!r} has shape {shown}, expected "
                             f"[N, {res}, {res}, {ch}]")
    return res, morph


def read_dfm_info(path: str | Path, face_type: str = "") -> tuple[ModelInfo, bytes, bool]:
    """Validate a `.dfm` file; (info, bytes, takes_morph). `face_type` as EngineConfig's."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    data, digest = read_with_digest(path)  # the digest cached across runs (digest_cache)
    proto = parse_header(data, str(path), "a .dfm is an ONNX file exported by DeepFaceLab or "
                         "'doppel export --format dfm'")
    res, morph = check_dfm_graph(proto, str(path))
    meta = dict(proto.metadata)
    stored = meta.get("face_type", "")
    if stored and stored not in FACE_TYPES:
        raise ModelError(f"{path}: unknown face type {stored!r} in metadata")
    if face_type and stored and face_type != stored:
        raise ModelError(f"{path}: model is face type {stored!r} but settings ask "
                         f"{face_type!r}; use a matching model or clear the face type")
    ftype = face_type or stored or DEFAULT_FACE_TYPE
    if ftype not in FACE_TYPES:
        raise ModelError(f"{path}: face type {ftype!r} unknown; use one of "
                         f"{', '.join(FACE_TYPES)}")
    meta = {**meta, "format": "dfm", "resolution": str(res), "face_type": ftype,
            "colorspace": "srgb", "morph": "yes" if morph else "no",
            "face_type_from": "metadata" if stored else ("setting" if face_type else "default")}
    info = ModelInfo(str(path), meta.get("arch", "dfm"), res, ftype, "srgb", meta, digest)
    return info, data, morph


class DfmModel:
    """One ONNX Runtime session for a `.dfm`; `run` takes and returns RGB channels-last faces."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 spinning: bool = True, face_type: str = ""):
        self.info, data, self.takes_morph = read_dfm_info(path, face_type)
        self.has_fit = False  # a .dfm has no dst decoder reconstruction: no fit check
        self.session = create_session(data, device, threads, spinning, str(path))
        self.providers = self.session.get_providers()
        ins = self.session.get_inputs()
        self._in_face = ins[0].name
        self._in_morph = ins[1].name if self.takes_morph else None

    @property
    def resolution(self) -> int:
        return self.info.resolution

    def run(self, faces: np.ndarray, morph: float | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`faces` `N×R×R×3` float32 RGB in [0, 1] → (swap `N×R×R×3` RGB, mask `N×R×R`,
        dst_mask `N×R×R`); `morph` (0..1, default 0.75) reaches AMP models only."""
        r = self.info.resolution
        if faces.ndim != 4 or faces.shape[1:] != (r, r, 3):
            raise ModelError(f"{self.info.path}: expects faces N×{r}×{r}×3, got {faces.shape}")
        feed = {self._in_face: np.ascontiguousarray(faces[..., ::-1], dtype=np.float32)}
        if self._in_morph is not None:
            value = DEFAULT_MORPH if morph is None else float(morph)
            feed[self._in_morph] = np.array([value], np.float32)
        face_mask, celeb, celeb_mask = self.session.run(None, feed)
        return (np.ascontiguousarray(celeb[..., ::-1], dtype=np.float32),
                np.ascontiguousarray(celeb_mask[..., 0], dtype=np.float32),
                np.ascontiguousarray(face_mask[..., 0], dtype=np.float32))

    def run_all(self, faces: np.ndarray, morph: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        """As `run`, plus None where Doppel models give `dst_face` (a .dfm has none)."""
        return (*self.run(faces, morph), None)
