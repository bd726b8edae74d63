"""Colour transfer between faces (computed in the model's display-encoded space).

Convention: images float32 `H×W×3` RGB in [0, 1] (sRGB-encoded, the model's space); optional
masks `H×W` in [0, 1] restrict where statistics are measured. Functions return a new image with
`source`'s colours moved towards `target`'s statistics; values are clipped to [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import SettingsError


def _stats(lab: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if mask is None:
        flat = lab.reshape(-1, 3)
        return flat.mean(0), flat.std(0)
    w = (mask.reshape(-1) > 0.5)
    if w.sum() < 16:  # too little of the face to measure: fall back to the whole crop
        flat = lab.reshape(-1, 3)
    else:
        flat = lab.reshape(-1, 3)[w]
    return flat.mean(0), flat.std(0)


def rct(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Reinhard colour transfer: match per-channel mean and std in CIE L*a*b*."""
    if source.shape[-1] != 3 or target.shape[-1] != 3:
        raise SettingsError(f"rct needs RGB images, got {source.shape} and {target.shape}")
    src_lab = cv2.cvtColor(np.clip(source, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    tgt_lab = cv2.cvtColor(np.clip(target, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    ms, ss = _stats(src_lab, source_mask)
    mt, st = _stats(tgt_lab, target_mask)
    out = (src_lab - ms) * (st / np.maximum(ss, 1e-6)) + mt
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)


TRANSFERS = {"rct": rct}


def color_transfer(mode: str, source: np.ndarray, target: np.ndarray,
                   source_mask: np.ndarray | None = None,
                   target_mask: np.ndarray | None = None) -> np.ndarray:
    """Apply a named transfer (`none` returns `source` unchanged)."""
    if mode == "none":
        return source
    try:
        fn = TRANSFERS[mode]
    except KeyError:
        raise SettingsError(
            f"colour transfer {mode!r} unknown; use none or {', '.join(TRANSFERS)}"
        ) from None
    return fn(source, target, source_mask, target_mask)
