"""XSeg training data: the labelled faces of one or more facesets, with strong augmentation.

Only faces with a label file are used (unlabelled faces are ignored, as DeepFaceLab's XSeg does);
pixels whose label `valid` is 0 carry no loss. Determinism as in `trainers.data`: sample `pos` of
iteration `k` is a pure function of (seed, k, pos), so a resumed run sees the same batches.

Augmentation per sample (face, label and valid move together; colour, blur and noise touch the
face only): random rotation/scale/shift and a smooth random warp (label pixels leaving the crop
become unknown), flip, HSV jitter, brightness/contrast/gamma, occasional greyscale, Gaussian or
motion blur, sensor noise. Output `N×C×R×R` float32: `face` in [0, 1], `label`, `valid`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from torch.utils.data import Dataset

from engine.errors import FacesetError, MediaError
from engine.faceset.store import load_faceset
from trainers.augment import WARP_CELLS
from trainers.data import _hsv_jitter, _warp_maps
from trainers.xseg.labels import LabelError, face_key, labelled_keys, load_label


@dataclass
class LabelBank:
    """Labelled faces in memory at training resolution (uint8)."""

    images: np.ndarray  # K×R×R×3 sRGB
    labels: np.ndarray  # K×R×R
    valid: np.ndarray  # K×R×R
    names: list[str]
    face_type: str
    skipped: list[str] = field(default_factory=list)
    unlabelled: int = 0


def load_labelled(roots: list[str], resolution: int) -> LabelBank:
    """Every labelled face of `roots` (facesets of one face type) at `resolution`."""
    images, labels, valid, names, skipped = [], [], [], [], []
    face_types, unlabelled = set(), 0
    for root in roots:
        fs = load_faceset(root)
        face_types.add(fs.face_type)
        keys = labelled_keys(fs)
        for e in fs.entries:
            if face_key(e) not in keys:
                unlabelled += 1
                continue
            try:
                img = fs.load_crop(e)
                m, v = load_label(fs, e, resolution)
            except (MediaError, FacesetError, LabelError) as exc:
                skipped.append(str(exc))
                continue
            img = cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_AREA
                             if fs.size > resolution else cv2.INTER_LINEAR)
            images.append(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8))
            labels.append(np.rint(m * 255).astype(np.uint8))
            valid.append(np.rint(v * 255).astype(np.uint8))
            names.append(f"{root}:{face_key(e)}")
    if len(face_types) > 1:
        raise FacesetError(f"{', '.join(roots)}: facesets mix face types {sorted(face_types)}; "
                           "train one XSeg model per face type")
    if not images:
        raise FacesetError(f"{', '.join(roots)}: no labelled faces"
                           + (f" ({len(skipped)} unreadable: {skipped[0]})" if skipped else "")
                           + "; import labels with 'doppel xseg label FACESET --import …'")
    return LabelBank(np.stack(images), np.stack(labels), np.stack(valid), names,
                     face_types.pop(), skipped, unlabelled)


@dataclass(frozen=True)
class XSegAugment:
    rotation: float = 20.0  # degrees
    scale: float = 0.15
    shift: float = 0.10  # fraction of the crop
    warp: float = 0.5  # probability of the smooth random warp
    warp_amount: float = 0.06
    flip: bool = True
    hsv: float = 0.08
    contrast: float = 0.3  # brightness/contrast/gamma amplitude
    grey: float = 0.1  # probability
    blur: float = 0.3  # probability of Gaussian or motion blur
    noise: float = 0.3  # probability of sensor noise


def augment_sample(img_u8: np.ndarray, lab_u8: np.ndarray, val_u8: np.ndarray,
                   rng: np.random.Generator, a: XSegAugment) -> dict[str, np.ndarray]:
    """One augmented sample, channels first: `face` 3×R×R, `label` and `valid` 1×R×R."""
    res = img_u8.shape[0]
    img = img_u8.astype(np.float32) / 255.0
    lab = lab_u8.astype(np.float32) / 255.0
    val = val_u8.astype(np.float32) / 255.0
    # Geometry: one affine (+ optional warp) for all three; outside the crop the label is unknown.
    ang = rng.uniform(-a.rotation, a.rotation)
    m = cv2.getRotationMatrix2D(((res - 1) / 2, (res - 1) / 2), ang,
                                1.0 + rng.uniform(-a.scale, a.scale))
    m[:, 2] += rng.uniform(-a.shift, a.shift, 2) * res
    size = (res, res)
    img = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lab = cv2.warpAffine(lab, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    val = cv2.warpAffine(val, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if rng.random() < a.warp:
        grid = rng.normal(0, a.warp_amount * res / 2, (2, WARP_CELLS, WARP_CELLS)
                          ).astype(np.float32)
        grid[:, [0, -1], :] = 0
        grid[:, :, [0, -1]] = 0  # the crop border stays put
        mx, my = _warp_maps(grid, res)
        img = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lab = cv2.remap(lab, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        val = cv2.remap(val, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if a.flip and rng.random() < 0.5:
        img, lab, val = img[:, ::-1], lab[:, ::-1], val[:, ::-1]
    # Colour and tone.
    img = _hsv_jitter(np.ascontiguousarray(img),
                      rng.uniform(-a.hsv, a.hsv, 3).astype(np.float32) if a.hsv > 0 else None)
    if a.contrast > 0:
        c = 1.0 + rng.uniform(-a.contrast, a.contrast)
        b = rng.uniform(-a.contrast, a.contrast) * 0.3
        g = float(np.exp(rng.uniform(-a.contrast, a.contrast)))
        img = np.clip((img - 0.5) * c + 0.5 + b, 0.0, 1.0) ** g
    if rng.random() < a.grey:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    # Optics and sensor.
    if rng.random() < a.blur:
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2) * res / 128)
        else:
            k = max(3, int(rng.uniform(0.02, 0.06) * res) | 1)
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < a.noise:
        img = img + rng.normal(0.0, rng.uniform(0.005, 0.04), img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return {"face": np.ascontiguousarray(img.transpose(2, 0, 1)),
            "label": np.ascontiguousarray(np.clip(lab, 0, 1)[None]),
            "valid": np.ascontiguousarray(np.clip(val, 0, 1)[None])}


class XSegDataset(Dataset):
    """Item `(k, pos)` → augmented labelled face at global-batch position `pos` of iteration k."""

    def __init__(self, bank: LabelBank, aug: XSegAugment, seed: int):
        self.bank, self.aug, self.seed = bank, aug, seed

    def __len__(self) -> int:  # sampled by key, not by index range
        return 1 << 30

    def __getitem__(self, key: tuple[int, int]) -> dict[str, np.ndarray]:
        k, pos = key
        rng = np.random.default_rng([self.seed, k, pos, 9])
        i = int(rng.integers(len(self.bank.names)))
        b = self.bank
        return augment_sample(b.images[i], b.labels[i], b.valid[i], rng, self.aug)
