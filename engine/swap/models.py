"""Which swap model a file is: Doppel's ONNX export (engine.swap.infer) or DeepFaceLive's `.dfm`
(engine.swap.dfm). Everything that opens or describes a swap model goes through here, so the
render, the node and the farm accept the same files.
"""

from __future__ import annotations

from pathlib import Path

from engine.swap.dfm import DfmModel, is_dfm, read_dfm_info
from engine.swap.infer import ModelInfo, SwapModel, read_model_info


def load_swap_model(path: str | Path, device: str = "auto", threads: int = 0,
                    spinning: bool = True, face_type: str = "") -> SwapModel:
    """The swap model for a file: a `.dfm` (face type from `face_type` or its metadata, whole
    face by default) or Doppel's ONNX export."""
    if is_dfm(path):
        return DfmModel(path, device, threads, spinning, face_type)  # type: ignore[return-value]
    return SwapModel(path, device, threads, spinning)


def read_swap_info(path: str | Path, face_type: str = "") -> tuple[ModelInfo, bool]:
    """A swap model file validated and described without a session: (info, takes_morph)."""
    if is_dfm(path):
        info, _, morph = read_dfm_info(path, face_type)
        return info, morph
    return read_model_info(path)[0], False
