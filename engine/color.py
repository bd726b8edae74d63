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
    """Per-channel mean and std over mask > 0.5 (the whole image if that is under 16 px)."""
    flat = lab.reshape(-1, 3)
    w = None if mask is None else (mask.reshape(-1) > 0.5).astype(np.float32)
    if w is None or w.sum() < 16:  # too little of the face to measure: use the whole crop
        w = np.ones(flat.shape[0], np.float32)
    n = w.sum()
    mean = (w @ flat).astype(np.float64) / n
    var = (w @ (flat * flat)).astype(np.float64) / n - mean * mean
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)


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


def _masked_pixels(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    flat = img.reshape(-1, 3).astype(np.float64)
    if mask is None:
        return flat
    sel = mask.reshape(-1) > 0.5
    return flat[sel] if sel.sum() >= 16 else flat


def _sqrtm(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.maximum(w, 1e-10))) @ v.T


def _apply_linear(source: np.ndarray, a: np.ndarray, mu_s: np.ndarray, mu_t: np.ndarray
                  ) -> np.ndarray:
    flat = source.reshape(-1, 3).astype(np.float64)
    out = (flat - mu_s) @ a.T + mu_t
    return np.clip(out, 0, 1).reshape(source.shape).astype(np.float32)


def lct(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Linear colour transfer: match mean and full RGB covariance (principal-axes mapping)."""
    xs, xt = _masked_pixels(source, source_mask), _masked_pixels(target, target_mask)
    cs, ct = np.cov(xs.T) + 1e-6 * np.eye(3), np.cov(xt.T) + 1e-6 * np.eye(3)
    a = _sqrtm(ct) @ np.linalg.inv(_sqrtm(cs))
    return _apply_linear(source, a, xs.mean(0), xt.mean(0))


def mkl(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Monge-Kantorovich linear transfer: the optimal-transport linear map between Gaussians."""
    xs, xt = _masked_pixels(source, source_mask), _masked_pixels(target, target_mask)
    cs, ct = np.cov(xs.T) + 1e-6 * np.eye(3), np.cov(xt.T) + 1e-6 * np.eye(3)
    rs = _sqrtm(cs)
    rs_inv = np.linalg.inv(rs)
    a = rs_inv @ _sqrtm(rs @ ct @ rs) @ rs_inv
    return _apply_linear(source, a, xs.mean(0), xt.mean(0))


def _match_1d(values: np.ndarray, ref: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map `points` so the distribution of `values` becomes that of `ref` (quantile matching)."""
    q = np.linspace(0, 1, 256)
    return np.interp(points, np.quantile(values, q), np.quantile(ref, q))


def hist_match(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
               target_mask: np.ndarray | None = None) -> np.ndarray:
    """Per-channel histogram matching (quantile mapping) of RGB."""
    xs, xt = _masked_pixels(source, source_mask), _masked_pixels(target, target_mask)
    flat = source.reshape(-1, 3).astype(np.float64)
    out = np.stack([_match_1d(xs[:, c], xt[:, c], flat[:, c]) for c in range(3)], axis=1)
    return np.clip(out, 0, 1).reshape(source.shape).astype(np.float32)


def _sliced(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None,
            target_mask: np.ndarray | None, iterations: int, step: float, seed: int
            ) -> np.ndarray:
    """Sliced transport: repeatedly match 1-D projections on random orthonormal bases."""
    rng = np.random.default_rng(seed)
    xs, xt = _masked_pixels(source, source_mask), _masked_pixels(target, target_mask)
    flat = source.reshape(-1, 3).astype(np.float64)
    sel = None if source_mask is None or (source_mask.reshape(-1) > 0.5).sum() < 16 else (
        source_mask.reshape(-1) > 0.5)
    for _ in range(iterations):
        basis, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        ps, pt, pf = xs @ basis, xt @ basis, flat @ basis
        shift = np.stack([_match_1d(ps[:, c], pt[:, c], pf[:, c]) - pf[:, c]
                          for c in range(3)], axis=1)
        flat = flat + step * shift @ basis.T
        xs = flat[sel] if sel is not None else flat
    return np.clip(flat, 0, 1).reshape(source.shape).astype(np.float32)


def idt(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Iterative distribution transfer (Pitié et al.): full steps on random rotations."""
    return _sliced(source, target, source_mask, target_mask, iterations=10, step=1.0, seed=0)


def sot(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Sliced optimal transport: many small steps on random projections (smoother than idt)."""
    return _sliced(source, target, source_mask, target_mask, iterations=20, step=0.5, seed=0)


def mix(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Luminance from rct (keeps local contrast), chroma from lct (full covariance)."""
    a = cv2.cvtColor(rct(source, target, source_mask, target_mask), cv2.COLOR_RGB2LAB)
    b = cv2.cvtColor(lct(source, target, source_mask, target_mask), cv2.COLOR_RGB2LAB)
    a[..., 1:] = b[..., 1:]
    return np.clip(cv2.cvtColor(a, cv2.COLOR_LAB2RGB), 0, 1)


TRANSFERS = {"rct": rct, "lct": lct, "mkl": mkl, "idt": idt, "sot": sot, "mix": mix,
             "hist": hist_match}


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
