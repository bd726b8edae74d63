"""Training pairs for the FaceEnhancer: (the swap model's reconstruction of a src face, that src
face at 2× the model's resolution), plus degradations of the input for robustness.

The input is exactly what the engine hands the enhancer: the swap model's `swap` output for an
aligned face crop of the model's resolution and face type (sRGB-encoded, [0, 1]). Fed a *src*
face, the exported graph (encoder + src decoder) reconstructs that face, so the pair holds what
the autoencoder loses for this person. The faceset's crops are aligned at size S ≥ 2R; the target
is the crop at 2R (area resampling), the model's input the crop at R (pixel-centre convention:
both are `align_matrix(landmarks, size)` crops, engine/geometry/align.py).

The target's colour is matched to the reconstruction's (per channel mean and spread over the
crop): a young model's reconstruction is off in colour as much as in detail, and the engine keeps
colour to the colour transfer and takes only the enhancer's detail (engine/swap/enhance.py), so
the net spends itself on detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacesetError, MediaError
from engine.faceset.store import load_faceset
from engine.swap.infer import SwapModel


@dataclass
class PairBank:
    """Every pair in memory: `recon` `N×R×R×3` float16, `target` `N×2R×2R×3` uint8 (sRGB)."""

    recon: np.ndarray
    target: np.ndarray
    names: list[str]
    skipped: list[str]


def load_pairs(faceset: str | Path, model: SwapModel, batch: int = 16) -> PairBank:
    """The faceset's faces at 2R (targets) and the swap model's reconstructions of them at R."""
    fs = load_faceset(faceset)
    r = model.resolution
    if fs.face_type != model.info.face_type:
        raise FacesetError(f"{faceset}: faceset face type is {fs.face_type!r}, the swap model's "
                           f"{model.info.face_type!r}; extract again with --face-type "
                           f"{model.info.face_type}")
    if fs.size < 2 * r:
        raise FacesetError(f"{faceset}: faces are {fs.size} px; the enhancer learns detail at "
                           f"2× the model's {r} px: extract again with --size {2 * r}")
    targets, lows, names, skipped = [], [], [], []
    for e in fs.entries:
        try:
            img = fs.load_crop(e)
        except (MediaError, FacesetError) as exc:
            skipped.append(str(exc))
            continue
        img = np.clip(img[..., :3].astype(np.float32), 0.0, 1.0)
        big = cv2.resize(img, (2 * r, 2 * r), interpolation=cv2.INTER_AREA) \
            if img.shape[0] != 2 * r else img
        targets.append(big)
        lows.append(cv2.resize(img, (r, r), interpolation=cv2.INTER_AREA))
        names.append(e.file)
    if len(targets) < 2:
        raise FacesetError(f"{faceset}: only {len(targets)} usable faces (need ≥ 2)")
    recon = []
    for i in range(0, len(lows), batch):
        swap = model.run(np.stack(lows[i:i + batch]))[0]
        recon.append(np.clip(swap, 0.0, 1.0))
    rec = np.concatenate(recon)
    matched = [np.rint(match_colour(t, x) * 255).astype(np.uint8)
               for t, x in zip(targets, rec, strict=True)]
    return PairBank(rec.astype(np.float16), np.stack(matched), names, skipped)


def match_colour(target: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`target` (`H×W×3`) with each channel's mean and standard deviation made `reference`'s,
    clipped to [0, 1]."""
    t = target.reshape(-1, 3)
    r = reference.reshape(-1, 3).astype(np.float32)
    out = (t - t.mean(0)) / np.maximum(t.std(0), 1e-4) * r.std(0) + r.mean(0)
    return np.clip(out, 0.0, 1.0).reshape(target.shape).astype(np.float32)


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, noise and JPEG compression, each with probability 1/2 (`H×W×3` float32 [0, 1])."""
    out = img
    if rng.random() < 0.5:
        sigma = float(rng.uniform(0.3, 1.2))
        out = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        out = out + rng.normal(0.0, rng.uniform(0.002, 0.02), out.shape).astype(np.float32)
    if rng.random() < 0.5:
        q = int(rng.integers(40, 96))
        u8 = np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def soften(target: np.ndarray, rng: np.random.Generator,
           sigma: tuple[float, float] = (0.6, 1.6)) -> np.ndarray:
    """A synthetic input for `target` (`2P×2P×3`): area ×½ then a Gaussian blur of σ drawn from
    `sigma` (px at the input's size), a stand-in for the swap model's softness; exactly aligned
    with the target."""
    h, w = target.shape[:2]
    small = cv2.resize(target, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), float(rng.uniform(*sigma)),
                            borderType=cv2.BORDER_REFLECT)


def draw_batch(bank: PairBank, seed: int, iteration: int, size: int, patch: int,
               degraded: bool, synthetic: float = 0.0,
               soften_sigma: tuple[float, float] = (0.6, 1.6)
               ) -> tuple[np.ndarray, np.ndarray]:
    """Batch `iteration` (the same for the same seed and iteration: exact resume): inputs
    `N×3×P×P` and targets `N×3×2P×2P` float32, random faces, patches and mirror. A `synthetic`
    share of the inputs is the target itself made soft (`soften`) instead of the model's
    reconstruction: the reconstruction is not pixel-aligned with its face (the autoencoder moves
    features a little), and from misaligned pairs alone the net learns to smooth; the aligned
    ones teach it to draw this face's edges sharp (`soften_sigma`: their blur's σ range)."""
    rng = np.random.default_rng([seed, iteration])
    r = bank.recon.shape[1]
    p = patch if 0 < patch < r else r
    xs, ys = [], []
    for _ in range(size):
        k = int(rng.integers(len(bank.recon)))
        oy, ox = (int(v) for v in rng.integers(0, r - p + 1, 2))
        x = bank.recon[k, oy:oy + p, ox:ox + p].astype(np.float32)
        y = bank.target[k, 2 * oy:2 * (oy + p), 2 * ox:2 * (ox + p)].astype(np.float32) / 255
        if rng.random() < synthetic:
            x = soften(y, rng, soften_sigma)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if degraded:
            x = degrade(np.ascontiguousarray(x), rng)
        xs.append(x.transpose(2, 0, 1))
        ys.append(y.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(xs)), np.ascontiguousarray(np.stack(ys))
