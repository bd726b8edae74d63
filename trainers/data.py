"""Training samples from two facesets, with DeepFaceLab-style augmentation.

Determinism: the batch of iteration k is a pure function of (seed, k): which faces are drawn and
every random choice of their augmentation come from generators seeded by (seed, k, position in the
global batch). A resumed run therefore sees exactly the batches an uninterrupted run would, with
any number of loader workers, and in DDP rank r takes rows [r·b, (r+1)·b) of the same global batch.

Per sample (`N×C×R×R` float32 in [0, 1] after collation):
- `warped`: the input, random-warped (a smooth random displacement field) on top of the shared
  geometric jitter; `target`: the same face with only the shared jitter (the model must undo
  the warp, which is what forces it to learn the face rather than copy pixels);
- `mask`: the face hull (or the faceset's XSeg mask file when it has one); `em_mask`: eyes and
  mouth, for the priority loss;
- random flip and colour jitter (HSV) applied alike to warped and target; optional colour transfer
  (rct) of src samples towards a random dst sample's colours.
Sampling balances yaw: faces are drawn uniformly over yaw bins, then uniformly within a bin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from engine.errors import FacesetError, MediaError
from engine.faceset.store import FaceEntry, Faceset, load_faceset
from engine.swap.color_transfer import color_transfer
from engine.swap.mask import eyes_mask, hull_mask, mouth_mask
from trainers.augment import (
    AugmentSettings,
    PairDraw,
    SampleParams,
    draw_pair,
    draw_params,
)


@dataclass
class FaceBank:
    """A faceset held in memory at training resolution (uint8 images, float masks)."""

    name: str
    images: np.ndarray  # K×R×R×3 uint8 sRGB
    masks: np.ndarray  # K×R×R uint8 (face hull or XSeg)
    em_masks: np.ndarray  # K×R×R uint8 (eyes + mouth)
    yaw: np.ndarray  # K float32 degrees
    skipped: list[str]


def load_bank(root: str, resolution: int, face_type: str, min_faces: int = 2) -> FaceBank:
    """Load a faceset, checking it matches the model; corrupt crops are skipped and reported."""
    fs: Faceset = load_faceset(root)
    if fs.face_type != face_type:
        raise FacesetError(f"{root}: faceset face type is {fs.face_type!r}, the model trains "
                           f"{face_type!r}; extract again with --face-type {face_type}")
    sizes = {e.face_type or fs.face_type for e in fs.entries}
    if len(sizes) > 1:
        raise FacesetError(f"{root}: faceset mixes face types {sorted(sizes)}; re-extract it")
    images, masks, ems, yaws, skipped = [], [], [], [], []
    scale = resolution / fs.size
    for e in fs.entries:
        try:
            img = fs.load_crop(e)
        except (MediaError, FacesetError) as exc:
            skipped.append(str(exc))
            continue
        img = cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_AREA)
        lm = (fs.landmarks_crop(e) + 0.5) * scale - 0.5
        shape = (resolution, resolution)
        if e.mask:
            m = cv2.resize(fs_mask(fs, e), shape, interpolation=cv2.INTER_AREA)
        else:
            m = hull_mask(lm, shape)
        em = np.maximum(eyes_mask(lm, shape), mouth_mask(lm, shape))
        images.append(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8))
        masks.append(np.rint(m * 255).astype(np.uint8))
        ems.append(np.rint(em * 255).astype(np.uint8))
        yaws.append(e.yaw)
    if len(images) < min_faces:
        raise FacesetError(f"{root}: only {len(images)} usable faces (need ≥ {min_faces}); "
                           "extract more footage into it")
    return FaceBank(str(root), np.stack(images), np.stack(masks), np.stack(ems),
                    np.asarray(yaws, np.float32), skipped)


def fs_mask(fs: Faceset, entry: FaceEntry) -> np.ndarray:
    from engine.io import read_image

    return read_image(fs.mask_path(entry)).pixels[..., 0]


def yaw_weights(yaw: np.ndarray, bins: int = 9) -> np.ndarray:
    """Sampling probabilities uniform over yaw bins (each non-empty bin equally likely)."""
    if yaw.size == 0:
        return yaw
    edges = np.linspace(yaw.min(), yaw.max() + 1e-6, bins + 1)
    idx = np.clip(np.digitize(yaw, edges) - 1, 0, bins - 1)
    counts = np.bincount(idx, minlength=bins).astype(np.float64)
    w = 1.0 / counts[idx]
    return w / w.sum()


def _hsv_jitter(img: np.ndarray, amounts: np.ndarray | None) -> np.ndarray:
    if amounts is None:
        return img
    h, s, v = (float(x) for x in amounts)  # Python floats: float32 arithmetic (NEP 50)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + h * 360) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + s * 2), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * (1 + v * 2), 0, 1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _warp_maps(grid: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """The random warp's remap tables: the 5×5 control offsets bicubically upsampled."""
    dx = cv2.resize(grid[0], (res, res), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(grid[1], (res, res), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(res, dtype=np.float32), np.arange(res, dtype=np.float32))
    return xs + dx, ys + dy


def augment_with(img_u8: np.ndarray, mask_u8: np.ndarray, em_u8: np.ndarray, p: SampleParams,
                 a: AugmentSettings, transfer_to: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """One training sample with given choices: channels-first float32 `warped`, `target`,
    `mask`, `em_mask` (the CPU counterpart of `trainers.augment.augment_batch`)."""
    res = img_u8.shape[0]
    img = img_u8.astype(np.float32) / 255.0
    mask = mask_u8.astype(np.float32) / 255.0
    em = em_u8.astype(np.float32) / 255.0
    if transfer_to is not None and a.color_transfer != "none":
        img = color_transfer(a.color_transfer, img, transfer_to.astype(np.float32) / 255.0, mask)
    img = _hsv_jitter(img, p.hsv)
    flags, border = cv2.INTER_LINEAR, cv2.BORDER_REFLECT
    target = cv2.warpAffine(img, p.affine, (res, res), flags=flags, borderMode=border)
    mask = cv2.warpAffine(mask, p.affine, (res, res), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    em = cv2.warpAffine(em, p.affine, (res, res), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    warped = target
    if p.warp_grid is not None:
        mx, my = _warp_maps(p.warp_grid, res)
        warped = cv2.remap(target, mx, my, cv2.INTER_LINEAR, borderMode=border)
    if p.flip:
        target, warped, mask, em = (x[:, ::-1] for x in (target, warped, mask, em))
    chw = lambda x: np.ascontiguousarray(x.transpose(2, 0, 1) if x.ndim == 3  # noqa: E731
                                         else x[None])
    return {"warped": chw(warped), "target": chw(target), "mask": chw(mask), "em_mask": chw(em)}


def augment(img_u8: np.ndarray, mask_u8: np.ndarray, em_u8: np.ndarray, rng: np.random.Generator,
            a: AugmentSettings, transfer_to: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One training sample, its choices drawn from `rng` (see `trainers.augment.draw_params`)."""
    p = draw_params(rng, img_u8.shape[0], a)
    return augment_with(img_u8, mask_u8, em_u8, p, a, transfer_to)


class PairDataset(Dataset):
    """Item `(k, pos)` → the src and dst samples at global-batch position `pos` of iteration k."""

    def __init__(self, src: FaceBank, dst: FaceBank, aug: AugmentSettings, seed: int):
        self.src, self.dst, self.aug, self.seed = src, dst, aug, seed
        self.p_src, self.p_dst = yaw_weights(src.yaw), yaw_weights(dst.yaw)

    def __len__(self) -> int:  # sampled by key, not by index range
        return 1 << 30

    def draw(self, k: int, pos: int) -> PairDraw:
        """Every random choice of global-batch position `pos` of iteration `k`."""
        return draw_pair(self.seed, k, pos, self.p_src, self.p_dst, self.src.images.shape[1],
                         self.aug)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, np.ndarray]:
        c = self.draw(*key)
        i, j = c.i, c.j
        d = augment_with(self.dst.images[j], self.dst.masks[j], self.dst.em_masks[j], c.dst,
                         self.aug)
        s = augment_with(self.src.images[i], self.src.masks[i], self.src.em_masks[i], c.src,
                         self.aug, transfer_to=self.dst.images[j])
        out = {f"src_{n}": v for n, v in s.items()}
        out.update({f"dst_{n}": v for n, v in d.items()})
        return out


class IterationSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for k = start, start+1, …, this rank's keys of the global batch of iteration k."""

    def __init__(self, start: int, batch: int, rank: int = 0, world: int = 1,
                 stop: int | None = None):
        self.start, self.batch, self.rank, self.world, self.stop = start, batch, rank, world, stop

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        k = self.start
        while self.stop is None or k < self.stop:
            base = self.rank * self.batch
            yield [(k, base + p) for p in range(self.batch)]
            k += 1


def make_loader(dataset: PairDataset, start: int, batch: int, workers: int, rank: int = 0,
                world: int = 1, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=IterationSampler(start, batch, rank, world),
        num_workers=workers, pin_memory=pin_memory,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None)
