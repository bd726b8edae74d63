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
    """Reinhard colour transfer: match per-channel mean and std in CIE L*a*b*.

    Example:
        Two 8×8 RGB crops (float32, sRGB-encoded, [0, 1]); the result keeps `source`'s shape and
        dtype and takes `target`'s mean colour:

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> np.round(src.mean(axis=(0, 1)), 2), np.round(tgt.mean(axis=(0, 1)), 2)
        (array([0.4 , 0.41, 0.4 ], dtype=float32), array([0.65, 0.5 , 0.4 ], dtype=float32))
        >>> out = rct(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))

        Masks (`H×W`, > 0.5 counts) choose where the statistics are measured, e.g. the face
        but not the blue background beside it:

        >>> bg = tgt.copy()
        >>> bg[:, 4:] = [0.1, 0.2, 0.8]  # right half of the target is background
        >>> face = np.zeros((8, 8), np.float32)
        >>> face[:, :4] = 1.0
        >>> np.round(rct(src, bg).mean(axis=(0, 1)), 2)  # pulled towards blue
        array([0.4 , 0.34, 0.6 ], dtype=float32)
        >>> np.round(rct(src, bg, target_mask=face).mean(axis=(0, 1)), 2)
        array([0.65, 0.5 , 0.4 ], dtype=float32)
    """
    return _reinhard(source, target, source_mask, target_mask, scale_lightness=True)


def _reinhard(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None,
              target_mask: np.ndarray | None, scale_lightness: bool) -> np.ndarray:
    """rct; `scale_lightness=False` matches L*'s mean only and keeps the source's own L*
    contrast (a*, b*: mean and std as rct)."""
    if source.shape[-1] != 3 or target.shape[-1] != 3:
        raise SettingsError(f"rct needs RGB images, got {source.shape} and {target.shape}")
    src_lab = cv2.cvtColor(np.clip(source, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    tgt_lab = cv2.cvtColor(np.clip(target, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    ms, ss = _stats(src_lab, source_mask)
    mt, st = _stats(tgt_lab, target_mask)
    ratio = st / np.maximum(ss, 1e-6)
    if not scale_lightness:
        ratio[0] = 1.0
    out = (src_lab - ms) * ratio + mt
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)


def _masked_blur(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: Gaussian mean of `x` (`H×W×C`) over where `weight` is set."""
    w = cv2.GaussianBlur(weight, (0, 0), sigma)
    xs = cv2.GaussianBlur(np.ascontiguousarray(x * weight[..., None]), (0, 0), sigma)
    return xs / np.maximum(w, 1e-4)[..., None]


def rct_local(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
              target_mask: np.ndarray | None = None, sigma: float = 0.08) -> np.ndarray:
    """rct with the swap's own lightness contrast, then the chroma (a*, b*) of broad regions
    matched too: the difference of the two faces' Gaussian-smoothed a*, b* (σ = `sigma` × crop
    size, inside the masks) is added.

    A global transfer keeps the model's own regional colour errors (the teal brows and eye
    sockets of docs/color-transfer.md); this removes those at the scale of brows and cheeks while
    leaving lightness and fine chroma detail (skin texture, lips) to the swap. L*'s mean is
    matched, its spread is not: the statistics come from a ring along the mask's edge, whose
    L* spread is the edge's shading, not the face's contrast, and scaling the whole face by it
    flattened eyes, mouth and detail (demo: sharpness 0.52 → 0.57 of the plate's, eye contrast
    0.71 → 0.78 without it; docs/evaluation.md).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = rct_local(src, tgt, sigma=0.08)  # σ = 0.08 × 8 px, clamped to ≥ 1 px
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
    """
    out = _reinhard(source, target, source_mask, target_mask, scale_lightness=False)
    h = source.shape[0]
    ones = np.ones(source.shape[:2], np.float32)
    ws = ones if source_mask is None else (source_mask > 0.5).astype(np.float32)
    wt = ones if target_mask is None else (target_mask > 0.5).astype(np.float32)
    if ws.sum() < 16 or wt.sum() < 16:
        return out
    lab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)
    tgt = cv2.cvtColor(np.clip(target, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    sig = max(sigma * h, 1.0)
    lab[..., 1:] += _masked_blur(tgt[..., 1:], wt, sig) - _masked_blur(lab[..., 1:], ws, sig)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0, 1)


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
    """Linear colour transfer: match mean and full RGB covariance (principal-axes mapping).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = lct(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
        >>> cov = lambda img: np.cov(img.reshape(-1, 3).T)  # 3×3 RGB covariance
        >>> bool(np.allclose(cov(out), cov(tgt), atol=1e-6))
        True
    """
    xs, xt = _masked_pixels(source, source_mask), _masked_pixels(target, target_mask)
    cs, ct = np.cov(xs.T) + 1e-6 * np.eye(3), np.cov(xt.T) + 1e-6 * np.eye(3)
    a = _sqrtm(ct) @ np.linalg.inv(_sqrtm(cs))
    return _apply_linear(source, a, xs.mean(0), xt.mean(0))


def mkl(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Monge-Kantorovich linear transfer: the optimal-transport linear map between Gaussians.

    Example:
        Same mean and covariance as `lct`'s result, reached by the map that moves colours least:

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = mkl(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
        >>> cov = lambda img: np.cov(img.reshape(-1, 3).T)
        >>> bool(np.allclose(cov(out), cov(tgt), atol=1e-6))
        True
    """
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
    """Per-channel histogram matching (quantile mapping) of RGB.

    Example:
        Each channel of the result has (nearly) the target's values, sorted the source's way:

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = hist_match(src, tgt)
        >>> out.shape, out.dtype
        ((8, 8, 3), dtype('float32'))
        >>> np.array_equal(out.min(axis=(0, 1)), tgt.min(axis=(0, 1)))
        True
        >>> ranked = lambda img: np.sort(img.reshape(-1, 3), axis=0)
        >>> bool(np.allclose(ranked(out), ranked(tgt), atol=1e-3))
        True
    """
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
    """Iterative distribution transfer (Pitié et al.): full steps on random rotations.

    Example:
        The rotations come from a fixed seed, so the result is the same on every call:

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = idt(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
        >>> np.array_equal(out, idt(src, tgt))
        True
    """
    return _sliced(source, target, source_mask, target_mask, iterations=10, step=1.0, seed=0)


def sot(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Sliced optimal transport: many small steps on random projections (smoother than idt).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = sot(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
        >>> np.array_equal(out, sot(src, tgt))  # seeded: deterministic
        True
    """
    return _sliced(source, target, source_mask, target_mask, iterations=20, step=0.5, seed=0)


def mix(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
        target_mask: np.ndarray | None = None) -> np.ndarray:
    """Luminance from rct (keeps local contrast), chroma from lct (full covariance).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = mix(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
    """
    a = cv2.cvtColor(rct(source, target, source_mask, target_mask), cv2.COLOR_RGB2LAB)
    b = cv2.cvtColor(lct(source, target, source_mask, target_mask), cv2.COLOR_RGB2LAB)
    a[..., 1:] = b[..., 1:]
    return np.clip(cv2.cvtColor(a, cv2.COLOR_LAB2RGB), 0, 1)


# -- DeepFaceLab's behaviour, for comparison ---------------------------------------------------
# Re-implemented from the published behaviour of DeepFaceLab's merger (GPL code read for facts,
# not copied), so `doppel evaluate` can put DFL's numbers beside ours on the same shot. Masks as
# DFL applies them: its masked modes multiply both faces by the mask (outside pixels become
# black and take part in the statistics); its rct zero-fills Lab outside mask < 0.5.
# docs/color-transfer.md explains each difference.


def _zero_filled(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return img if mask is None else img * (mask[..., None] if mask.ndim == 2 else mask)


def rct_dfl(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
            target_mask: np.ndarray | None = None) -> np.ndarray:
    """DFL's masked rct: Lab statistics over the whole crop with Lab zeroed where mask < 0.5.

    Example:
        Unmasked it equals `rct`; masked, the zeroed pixels take part in the statistics, so the
        result misses the target face's colour that `rct` reaches (`rct` example's setup):

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> bool(np.allclose(rct_dfl(src, tgt), rct(src, tgt), atol=1e-5))
        True
        >>> bg = tgt.copy()
        >>> bg[:, 4:] = [0.1, 0.2, 0.8]
        >>> face = np.zeros((8, 8), np.float32)
        >>> face[:, :4] = 1.0
        >>> np.round(rct_dfl(src, bg, face, face)[:, :4].mean(axis=(0, 1)), 2)
        array([0.59, 0.51, 0.45], dtype=float32)
        >>> np.round(rct(src, bg, face, face)[:, :4].mean(axis=(0, 1)), 2)
        array([0.65, 0.5 , 0.4 ], dtype=float32)
    """
    src_lab = cv2.cvtColor(np.clip(source, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    tgt_lab = cv2.cvtColor(np.clip(target, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    s_in, t_in = src_lab.copy(), tgt_lab.copy()
    if source_mask is not None:
        s_in[source_mask < 0.5] = 0.0
    if target_mask is not None:
        t_in[target_mask < 0.5] = 0.0
    ms, ss = s_in.reshape(-1, 3).mean(0), s_in.reshape(-1, 3).std(0)
    mt, st = t_in.reshape(-1, 3).mean(0), t_in.reshape(-1, 3).std(0)
    out = (src_lab - ms) * (st / np.maximum(ss, 1e-6)) + mt
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    out[..., 1:] = np.clip(out[..., 1:], -127, 127)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1)


def _idt_relaxed(x0: np.ndarray, x1: np.ndarray, rotations: int, bins: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Pitié's IDT with relaxation 1/rotations: `(N, C)` x0 moved towards x1's distribution."""
    from scipy.stats import special_ortho_group

    d0, d1 = x0.T.astype(np.float64), x1.T.astype(np.float64)
    for _ in range(rotations):
        r = special_ortho_group.rvs(d0.shape[0], random_state=rng)
        d0r, d1r = r @ d0, r @ d1
        moved = np.empty_like(d0r)
        for j in range(d0.shape[0]):
            lo, hi = min(d0r[j].min(), d1r[j].min()), max(d0r[j].max(), d1r[j].max())
            p0, edges = np.histogram(d0r[j], bins=bins, range=(lo, hi))
            p1, _ = np.histogram(d1r[j], bins=bins, range=(lo, hi))
            c0, c1 = np.cumsum(p0) / max(p0.sum(), 1), np.cumsum(p1) / max(p1.sum(), 1)
            f = np.interp(c0, c1, edges[1:])
            moved[j] = np.interp(d0r[j], edges[1:], f, left=0, right=bins)
        d0 = d0 + np.linalg.solve(r, moved - d0r) / rotations
    return d0.T


def idt_dfl(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
            target_mask: np.ndarray | None = None) -> np.ndarray:
    """DFL's idt-m: 20 random rotations with relaxation 1/20, 256-bin CDF matching, over the
    mask-multiplied crops.

    Example:
        The relaxed steps move the colours only part of the way on a tiny crop:

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = idt_dfl(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.56, 0.46, 0.4 ], dtype=float32))
    """
    xs = _zero_filled(source, source_mask).reshape(-1, 3)
    xt = _zero_filled(target, target_mask).reshape(-1, 3)
    out = _idt_relaxed(xs, xt, 20, 256, np.random.default_rng(0))
    return np.clip(out, 0, 1).reshape(source.shape).astype(np.float32)


def _sot_regularised(src: np.ndarray, trg: np.ndarray, steps: int, batch: int,
                     sigma_xy: float, sigma_v: float, rng: np.random.Generator) -> np.ndarray:
    """Sliced OT by rank matching (same pixel count), then the change smoothed by a bilateral
    filter (DFL's regularisation)."""
    h, w, c = src.shape
    new = src.reshape(-1, c).astype(np.float32).copy()
    tgt = trg.reshape(-1, c).astype(np.float32)
    for _ in range(steps):
        advect = np.zeros_like(new)
        for _ in range(batch):
            d = rng.normal(size=c).astype(np.float32)
            d /= np.linalg.norm(d)
            ps, pt = new @ d, tgt @ d
            ids, idt_ = np.argsort(ps), np.argsort(pt)
            advect[ids] += (pt[idt_] - ps[ids])[:, None] * d
        new += advect / batch
    new = new.reshape(h, w, c)
    if sigma_xy > 0:
        diff = cv2.bilateralFilter(np.ascontiguousarray(new - src, np.float32), 0, sigma_v,
                                   sigma_xy)
        new = src + diff.reshape(h, w, c)
    return new


def sot_dfl(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
            target_mask: np.ndarray | None = None) -> np.ndarray:
    """DFL's sot-m: 10 steps of 30 random slices on the mask-multiplied crops, the change
    regularised by a bilateral filter (σ_xy 16 px, σ_v 5).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = sot_dfl(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.65, 0.5 , 0.4 ], dtype=float32))
    """
    src = _zero_filled(source, source_mask).astype(np.float32)
    trg = _zero_filled(target, target_mask).astype(np.float32)
    out = _sot_regularised(src, trg, 10, 30, 16.0, 5.0, np.random.default_rng(0))
    return np.clip(out, 0, 1).astype(np.float32)


def _lct_pca(source: np.ndarray, target: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Linear transfer over whole images (PCA square roots), any channel count."""
    c = source.shape[-1]
    xs, xt = source.reshape(-1, c).astype(np.float64), target.reshape(-1, c).astype(np.float64)
    ms, mt = xs.mean(0), xt.mean(0)
    cs = (xs - ms).T @ (xs - ms) / xs.shape[0] + eps * np.eye(c)
    ct = (xt - mt).T @ (xt - mt) / xt.shape[0] + eps * np.eye(c)
    out = (xs - ms) @ (_sqrtm(ct) @ np.linalg.inv(_sqrtm(cs))).T + mt
    return np.clip(out, 0, 1).reshape(source.shape)


def mix_dfl(source: np.ndarray, target: np.ndarray, source_mask: np.ndarray | None = None,
            target_mask: np.ndarray | None = None) -> np.ndarray:
    """DFL's mix-m, in 8-bit Lab: lightness by a linear transfer of L alone, chroma by sot
    between the two images with their lightness set to a constant, on mask-multiplied crops.

    Example:
        Computed in 8 bits, so the result is quantised to multiples of 1/255:

        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> out = mix_dfl(src, tgt)
        >>> out.shape, out.dtype, np.round(out.mean(axis=(0, 1)), 2)
        ((8, 8, 3), dtype('float32'), array([0.64, 0.5 , 0.4 ], dtype=float32))
        >>> bool(np.allclose(out * 255, np.rint(out * 255), atol=1e-4))
        True
    """
    s8 = np.rint(np.clip(_zero_filled(source, source_mask), 0, 1) * 255).astype(np.uint8)
    t8 = np.rint(np.clip(_zero_filled(target, target_mask), 0, 1) * 255).astype(np.uint8)
    s_lab, t_lab = cv2.cvtColor(s8, cv2.COLOR_RGB2LAB), cv2.cvtColor(t8, cv2.COLOR_RGB2LAB)
    light = np.clip(_lct_pca(s_lab[..., :1] / 255.0, t_lab[..., :1] / 255.0)[..., 0] * 255,
                    0, 255).astype(np.uint8)
    s_lab[..., 0] = 100
    t_lab[..., 0] = 100
    s_flat = cv2.cvtColor(s_lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    t_flat = cv2.cvtColor(t_lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    chroma = _sot_regularised(s_flat, t_flat, 10, 5, 16.0, 5.0, np.random.default_rng(0))
    out = cv2.cvtColor(np.clip(chroma, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB)
    out[..., 0] = light
    return (cv2.cvtColor(out, cv2.COLOR_LAB2RGB) / 255.0).astype(np.float32)


TRANSFERS = {"rct": rct, "lct": lct, "mkl": mkl, "idt": idt, "sot": sot, "mix": mix,
             "hist": hist_match, "rct-local": rct_local, "rct-dfl": rct_dfl, "idt-dfl": idt_dfl,
             "sot-dfl": sot_dfl, "mix-dfl": mix_dfl}
# DeepFaceLab's modes take the face's own mask, as DFL gives them: they multiply the crops by it,
# and idt/sot/mix-dfl return the multiplied crop transferred, so a mask that is 0 inside the
# face (our modes' statistics ring along the mask's edge) would leave the face's middle black.
FACE_MASK_TRANSFERS = frozenset({"rct-dfl", "idt-dfl", "sot-dfl", "mix-dfl"})


def color_transfer(mode: str, source: np.ndarray, target: np.ndarray,
                   source_mask: np.ndarray | None = None,
                   target_mask: np.ndarray | None = None) -> np.ndarray:
    """Apply a named transfer (`none` returns `source` unchanged).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> src = (0.35 + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # grey-ish, mean ≈ 0.4
        >>> tgt = ([0.6, 0.45, 0.35] + 0.1 * rng.random((8, 8, 3))).astype(np.float32)  # warm
        >>> color_transfer("none", src, tgt) is src
        True
        >>> np.array_equal(color_transfer("rct", src, tgt), rct(src, tgt))
        True
        >>> sorted(TRANSFERS)[:4]
        ['hist', 'idt', 'idt-dfl', 'lct']
        >>> color_transfer("reinhard", src, tgt)
        Traceback (most recent call last):
        ...
        engine.errors.SettingsError: colour transfer 'reinhard' unknown; use none or rct, lct, ...
    """
    if mode == "none":
        return source
    try:
        fn = TRANSFERS[mode]
    except KeyError:
        raise SettingsError(
            f"colour transfer {mode!r} unknown; use none or {', '.join(TRANSFERS)}"
        ) from None
    return fn(source, target, source_mask, target_mask)
