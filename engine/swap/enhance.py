"""The FaceEnhancer (DeepFaceLab paper §3.3, the last step of conversion): a per-identity detail
network applied to the swapped crop before it is warped back onto the plate.

Model contract (written by trainers/enhancer/export.py): input `face` `N×3×R×R` float32 in
[0, 1], the swap model's output crop (RGB in the model's colour space, the model's face type and
alignment); output `enhanced` `N×3×2R×2R`, the same face at twice the resolution, aligned as
`align_matrix(landmarks, 2R)` is (pixel-centre convention: `crop_2R = 2·crop_R + 0.5`).
Metadata: `doppel.schema`, `arch` (`enhancer`), `resolution` (R, the input), `scale` (2),
`face_type`, `colorspace`, and the swap model it was trained for: `swap_model` (its file name
at training time) and `swap_digest` (sha256 of that model file). The engine refuses an enhancer
whose `swap_digest` is not the loaded swap model's (`check_pair`): an enhancer learns what one
autoencoder loses for one person, and on another model's output it invents that person's detail.

The engine takes the enhancer's **detail** only: enhanced minus the plain upscale, less its
low frequencies (`detail`: a Gaussian of `DETAIL_SIGMA` of the 2R side removed). Colour and
shading stay with the colour transfer, which matched them to the plate; an enhancer trained on
the source's footage would otherwise pull them back towards the source's lighting.

Convention: faces channels-last (`N×R×R×3`), as everywhere in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ModelError
from engine.geometry.align import FACE_TYPES
from engine.runtime.digest_cache import read_with_digest
from engine.runtime.onnx_header import parse_header
from engine.runtime.onnxrt import create_session
from engine.swap.infer import COLORSPACES, SUPPORTED_SCHEMAS, ModelInfo

ARCH = "enhancer"
SCALE = 2
DETAIL_SIGMA = 1 / 48  # of the 2R side: 4 px at 192; what varies slower is colour, not detail
REQUIRED = ("doppel.schema", "arch", "resolution", "scale", "face_type", "colorspace",
            "swap_model", "swap_digest")


@dataclass(frozen=True)
class EnhancerInfo:
    """An enhancer file described without a session."""

    path: str
    resolution: int  # input side R; the output is SCALE·R
    scale: int
    face_type: str
    colorspace: str
    swap_model: str  # the swap model's file name when the enhancer was trained
    swap_digest: str  # sha256 of that swap model's bytes
    digest: str  # sha256 of the enhancer's own bytes (the render record's)
    metadata: dict[str, str]


def read_enhancer_info(path: str | Path) -> tuple[EnhancerInfo, bytes]:
    """Validate an enhancer file (readable, metadata, input/output names and shapes)."""
    path = Path(path)
    fix = "train one with 'doppel enhancer train' and export it"
    if not path.is_file():
        raise ModelError(f"{path}: enhancer file not found; {fix}")
    data, digest = read_with_digest(path)  # the digest cached across runs (digest_cache)
    # Metadata and graph I/O from the wire format (engine.runtime.onnx_header): importing
    # `onnx` costs a render's start more than the check.
    proto = parse_header(data, str(path), fix)
    meta = dict(proto.metadata)
    missing = [k for k in REQUIRED if k not in meta]
    if missing or meta.get("arch") != ARCH:
        raise ModelError(f"{path}: not a Doppel enhancer (metadata lacks "
                         f"{', '.join(missing) or 'arch=enhancer'}); {fix}")
    if meta["doppel.schema"] not in SUPPORTED_SCHEMAS:
        raise ModelError(f"{path}: enhancer schema {meta['doppel.schema']} not supported by "
                         f"this engine (supports {', '.join(SUPPORTED_SCHEMAS)})")
    if meta["face_type"] not in FACE_TYPES or meta["colorspace"] not in COLORSPACES:
        raise ModelError(f"{path}: enhancer face type {meta['face_type']!r} / colour space "
                         f"{meta['colorspace']!r} unknown to this engine; {fix}")
    try:
        res, scale = int(meta["resolution"]), int(meta["scale"])
    except ValueError:
        raise ModelError(f"{path}: enhancer resolution/scale metadata are not numbers; "
                         f"{fix}") from None
    if scale != SCALE or not 16 <= res <= 2048:
        raise ModelError(f"{path}: enhancer is {res} px ×{scale}; this engine runs ×{SCALE} "
                         f"at 16..2048 px; {fix}")
    names = [i.name for i in proto.fed_inputs], [o.name for o in proto.outputs]
    if names != (["face"], ["enhanced"]):
        raise ModelError(f"{path}: enhancer needs input 'face' and output 'enhanced', found "
                         f"{names}; {fix}")
    for vi, side in ((proto.fed_inputs[0], res), (proto.outputs[0], res * scale)):
        got = list(vi.dims)
        if len(got) != 4 or any(g is not None and g != w
                                for g, w in zip(got[1:], (3, side, side), strict=True)):
            raise ModelError(f"{path}: enhancer {vi.name!r} is {got}, metadata says "
                             f"N×3×{side}×{side}; {fix}")
    info = EnhancerInfo(str(path), res, scale, meta["face_type"], meta["colorspace"],
                        meta["swap_model"], meta["swap_digest"],
                        digest, meta)
    return info, data


def check_pair(enhancer: EnhancerInfo, model: ModelInfo) -> None:
    """Refuse an enhancer trained for another swap model (by content digest), or one whose
    resolution, face type or colour space is not the model's. One line: what, where, how to
    fix."""
    if enhancer.swap_digest != model.digest:
        raise ModelError(
            f"{enhancer.path}: enhancer was trained for swap model {enhancer.swap_model!r} "
            f"(sha256 {enhancer.swap_digest[:12]}), not {Path(model.path).name!r} (sha256 "
            f"{model.digest[:12]}); train one for this model with 'doppel enhancer train "
            f"--model {model.path}' or set enhance to 0")
    theirs = (enhancer.resolution, enhancer.face_type, enhancer.colorspace)
    ours = (model.resolution, model.face_type, model.colorspace)
    if theirs != ours:
        raise ModelError(f"{enhancer.path}: enhancer takes {theirs} but the swap model gives "
                         f"{ours}; retrain the enhancer for this model")


class Enhancer:
    """One ONNX Runtime session for an enhancer; `run` takes and returns channels-last faces."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0,
                 spinning: bool = True):
        self.info, data = read_enhancer_info(path)
        self.session = create_session(data, device, threads, spinning, str(path))

    def run(self, faces: np.ndarray) -> np.ndarray:
        """`faces` `N×R×R×3` float32 in [0, 1] → `N×2R×2R×3` float32 (not clipped)."""
        r = self.info.resolution
        if faces.ndim != 4 or faces.shape[1:] != (r, r, 3):
            raise ModelError(f"{self.info.path}: expects faces N×{r}×{r}×3, got {faces.shape}")
        x = np.ascontiguousarray(faces.transpose(0, 3, 1, 2), dtype=np.float32)
        (y,) = self.session.run(None, {"face": x})
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))


def detail(enhanced: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """The enhancer's detail for one crop: `enhanced` (`2R×2R×3`) minus `upscale(crop)`, its
    low frequencies (Gaussian of σ = `DETAIL_SIGMA`·2R) removed.

    Example:
        A flat shift (a colour change, no detail) gives no detail:

        >>> crop = np.full((16, 16, 3), 0.5, np.float32)
        >>> float(np.abs(detail(upscale(crop) + 0.1, crop)).max()) < 1e-6
        True
    """
    diff = enhanced - upscale(crop)
    sigma = max(DETAIL_SIGMA * enhanced.shape[0], 0.5)
    return diff - cv2.GaussianBlur(diff, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def upscale(crop: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """A crop at `scale`× its side, bicubic: the plain upscale the enhancer's detail is added
    to (the enhancer's own graph starts from the same interpolation; a bilinear one would lose
    a quarter of the face's sharpness on the way back to the plate).

    Convention: pixel-centre origin, as `align_matrix` (`x_big = scale·x + (scale − 1)/2`);
    channels-last or a single channel, float32.

    Example:
        >>> up = upscale(np.arange(4, dtype=np.float32).reshape(2, 2))
        >>> up.shape, float(up[0, 0]), float(up[-1, -1])
        ((4, 4), -0.31640625, 3.31640625)
    """
    h, w = crop.shape[:2]
    return cv2.resize(crop, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)


def scaled_matrix(img_to_crop: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """The `img_to_crop` matrix of the same alignment at `scale`× the crop's side
    (pixel-centre convention: `crop_big = scale·crop + (scale − 1)/2`), equal to
    `align_matrix(landmarks, scale·R)`.

    Example:
        >>> m = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, -20.0]])
        >>> scaled_matrix(m)
        array([[  1. ,   0. , -19.5],
               [  0. ,   1. , -39.5]])
    """
    big = np.asarray(img_to_crop, np.float64) * scale
    big[:, 2] += (scale - 1) / 2.0
    return big
