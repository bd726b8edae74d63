"""What every face model shares: a strict weight loader that names a layout mismatch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from engine.errors import ModelError

Pair = tuple[torch.Tensor, torch.Tensor]  # (rgb N×3×R×R, mask N×1×R×R), both in [0, 1]


def _shape(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape) or "scalar"


class FaceModel(nn.Module):
    """Base of DFModel and LIAEModel.

    `forward(src, dst)` returns the two reconstructions and, unless `swap=False`, the swap
    (dst code through the src path) the previews show; training needs only the first two.
    """

    spec: Any

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False):
        """As torch's, but weights of another layout raise ModelError naming the mismatch.

        Checkpoints written before the models took DeepFaceLab's layer shapes (or of another
        architecture or dims) land here instead of in a multi-page torch traceback.
        """
        if strict:
            own = self.state_dict()
            missing = [k for k in own if k not in state_dict]
            unexpected = [k for k in state_dict if k not in own]
            reshaped = [k for k in own if k in state_dict
                        and tuple(own[k].shape) != tuple(state_dict[k].shape)]
            if missing or unexpected or reshaped:
                parts = []
                if missing:
                    parts.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
                if unexpected:
                    parts.append(f"{len(unexpected)} not in this network (e.g. {unexpected[0]})")
                if reshaped:
                    k = reshaped[0]
                    parts.append(f"{len(reshaped)} of another shape (e.g. {k}: weights "
                                 f"{_shape(state_dict[k])}, network {_shape(own[k])})")
                s = self.spec
                raise ModelError(
                    f"weights do not fit the {s.arch} {s.resolution} px network (dims "
                    f"{s.ae_dims}/{s.e_dims}/{s.d_dims}/{s.mask_dims}, DeepFaceLab's layer "
                    f"shapes): {'; '.join(parts)}; checkpoints trained before the models took "
                    "DFL's layout cannot be loaded: retrain, or export with the Doppel version "
                    "that trained them")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def code_channels(self) -> int:
        """Channels of the codes `codes()` returns (what TrueFace's discriminator sees)."""
        raise NotImplementedError
