"""Start a training run from a model Doppel exported to ONNX (`init_from: model.onnx`, or the
`.dfm` of `doppel export --format dfm`).

A shipped model is often all a TD has: the checkpoint stayed on the machine that trained it (the
bundled demo models are such files). The export keeps every weight the swap graph uses as a named
initializer (`inner.<state-dict key>`, trainers/export.py), so the network can be rebuilt from the
file alone:

- the spec (arch, resolution, dims) and face type come from the model's metadata and must match
  the config (a mismatch is refused by name);
- every initializer must be a parameter of that spec with the same shape (anything else means the
  file is not what its metadata says, and nothing is loaded);
- parameters the graph does not use start fresh and are named in the returned report: a model
  exported before `dst_face` existed (issue 21) carries no dst decoder colour branch, which then
  learns from the shared encoder and inter, as it would for a new plate actor.

Adam's state and the iteration count are not in an ONNX file: the run starts at iteration 0 with
a fresh optimiser (the config's warm-up protects the loaded weights from the first steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ModelError, SettingsError

PREFIX = "inner."  # trainers/export.py wraps the model in a module whose attribute is `inner`


@dataclass(frozen=True)
class OnnxWeights:
    """Weights read from an exported model: `state` (state-dict key → array), its metadata,
    and the spec keys (`arch`, `resolution`, dims) the metadata names."""

    path: Path
    state: dict[str, np.ndarray]
    metadata: dict[str, str]
    spec: dict[str, object]
    face_type: str


def is_onnx(path: str | Path) -> bool:
    """An exported model file: `.onnx`, or `.dfm` (DeepFaceLive's ONNX, `doppel export
    --format dfm`)."""
    return str(path).lower().endswith((".onnx", ".dfm"))


def read_onnx_weights(path: str | Path) -> OnnxWeights:
    """The named weights and spec of a Doppel-exported ONNX swap model.

    Raises ModelError when the file is not one (no Doppel metadata, unreadable, no weights)."""
    import onnx
    from onnx import numpy_helper

    p = Path(path)
    if not p.is_file():
        raise SettingsError(f"init_from: {p} does not exist; give a checkpoint or an exported "
                            ".onnx model")
    try:
        proto = onnx.load(str(p))
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError, OSError, ...
        raise ModelError(f"{p}: not a readable ONNX model ({e})") from e
    meta = {m.key: m.value for m in proto.metadata_props}
    if "doppel.schema" not in meta and meta.get("doppel.format") != "dfm":
        raise ModelError(f"{p}: not a model Doppel exported (no doppel.schema metadata); "
                         "start from a Doppel checkpoint or model, or a DeepFaceLab one with "
                         "init_from_dfl")
    try:
        ae, e_dims, d, m = (int(v) for v in meta["dims"].split("/"))
        spec = {"arch": meta["arch"], "resolution": int(meta["resolution"]), "ae_dims": ae,
                "e_dims": e_dims, "d_dims": d, "mask_dims": m}
    except (KeyError, ValueError) as e:
        raise ModelError(f"{p}: its metadata does not name the network's shape (arch, "
                         f"resolution, dims: {e}); re-export it from its checkpoint") from e
    state = {i.name[len(PREFIX):]: numpy_helper.to_array(i) for i in proto.graph.initializer
             if i.name.startswith(PREFIX)}
    if not state:
        raise ModelError(f"{p}: no named weights in the graph; re-export it from its checkpoint")
    return OnnxWeights(p, state, meta, spec, meta.get("face_type", "full"))


def load_into(model, weights: OnnxWeights) -> list[str]:
    """Copy `weights` into `model` (a trainers.models network of the same spec); returns the
    parameter names that start fresh (absent from the file). Nothing is loaded on a mismatch."""
    import torch

    own = model.state_dict()
    for key, value in weights.state.items():
        if key not in own:
            raise ModelError(f"{weights.path}: weight {key!r} is not part of a "
                             f"{weights.spec['arch']} network; the file is not what its "
                             "metadata says")
        if tuple(own[key].shape) != value.shape:
            raise ModelError(f"{weights.path}: weight {key!r} is {value.shape}, the network "
                             f"needs {tuple(own[key].shape)}")
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.state.items()},
                          strict=False)
    return sorted(k for k in own if k not in weights.state)


def fresh_parts(keys: list[str]) -> str:
    """`decoder_dst.rgb.0.0.weight`, … → `decoder_dst.rgb` (the modules that start fresh)."""
    parts = sorted({".".join(k.split(".")[:2]) for k in keys})
    return ", ".join(parts)
