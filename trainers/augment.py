"""Training augmentation on the training device: batched tensor ops, the same random draws.

The CPU path (trainers/data.py, one sample at a time in DataLoader workers) and this path share
`draw_params`: every random choice of a sample (which faces, colour jitter, the affine jitter,
the random-warp control grid, the flip) is drawn on the CPU from the generator seeded by
`(seed, iteration, position in the global batch)`, in the same order as always. Only the pixel
work differs: here whole batches are gathered from face banks held on the device and resampled
with `grid_sample`. A batch is therefore still a pure function of (seed, iteration); on one
device the same seed gives the same batches, and the two paths agree up to interpolation
rounding (OpenCV quantises sample positions to 1/32 px; tests/trainers/test_augment.py bounds
the difference).

Conventions: images `N×3×R×R` float32 RGB in [0, 1] (sRGB-encoded, the model's space), masks
`N×1×R×R` in [0, 1]; pixel centres at integer coordinates; affine matrices are OpenCV's
`2×3` forward maps (input crop px → augmented px), inverted here to sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

WARP_CELLS = 5  # the random-warp control grid is WARP_CELLS × WARP_CELLS


@dataclass(frozen=True)
class AugmentSettings:
    random_warp: bool = True
    warp_amount: float = 0.09  # displacement field amplitude, fraction of the crop
    rotation: float = 10.0  # degrees, shared jitter
    scale: float = 0.05
    shift: float = 0.05
    flip: bool = True
    hsv_jitter: float = 0.05  # hue/saturation/value jitter amplitude
    color_transfer: str = "none"  # src → dst colour transfer (rct)


@dataclass(frozen=True)
class SampleParams:
    """Every random choice of one augmented sample (drawn by `draw_params`)."""

    hsv: np.ndarray | None  # (3,) hue shift, saturation and value gains, each in ±hsv_jitter
    affine: np.ndarray  # 2×3 float64, crop px → augmented px (cv2.getRotationMatrix2D + shift)
    warp_grid: np.ndarray | None  # 2×5×5 float32 control offsets in px (x, y), border zero
    flip: bool


def draw_params(rng: np.random.Generator, res: int, a: AugmentSettings) -> SampleParams:
    """Draw one sample's choices; the order of draws is part of the batch contract."""
    hsv = rng.uniform(-a.hsv_jitter, a.hsv_jitter, 3) if a.hsv_jitter > 0 else None
    ang = rng.uniform(-a.rotation, a.rotation)
    sc = 1.0 + rng.uniform(-a.scale, a.scale)
    m = cv2.getRotationMatrix2D(((res - 1) / 2, (res - 1) / 2), ang, sc)
    m[:, 2] += rng.uniform(-a.shift, a.shift, 2) * res
    grid = None
    if a.random_warp:
        grid = rng.normal(0, a.warp_amount * res / 2, (2, WARP_CELLS, WARP_CELLS)
                          ).astype(np.float32)
        grid[:, [0, -1], :] = 0
        grid[:, :, [0, -1]] = 0  # keep the crop border still
    flip = bool(a.flip and rng.random() < 0.5)
    return SampleParams(hsv, m, grid, flip)


@dataclass(frozen=True)
class PairDraw:
    """The choices for one position of a global batch: faces i (src) and j (dst), and both
    samples' augmentation."""

    i: int
    j: int
    dst: SampleParams
    src: SampleParams


def draw_pair(seed: int, k: int, pos: int, p_src: np.ndarray, p_dst: np.ndarray, res: int,
              a: AugmentSettings) -> PairDraw:
    rng = np.random.default_rng([seed, k, pos])
    i = int(rng.choice(len(p_src), p=p_src))
    j = int(rng.choice(len(p_dst), p=p_dst))
    d = draw_params(rng, res, a)
    s = draw_params(rng, res, a)
    return PairDraw(i, j, d, s)


# -- batched pixel work ----------------------------------------------------------------------

def _pixel_grid(res: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(res, device=device, dtype=torch.float32),
                            torch.arange(res, device=device, dtype=torch.float32), indexing="ij")
    return xs, ys


def _normalise(x: torch.Tensor, y: torch.Tensor, res: int) -> torch.Tensor:
    """Pixel coordinates → grid_sample's [-1, 1] (align_corners=False: pixel edges at ±1)."""
    return torch.stack(((2 * x + 1) / res - 1, (2 * y + 1) / res - 1), dim=-1)


def affine_grid(inverse: torch.Tensor, res: int) -> torch.Tensor:
    """`N×2×3` inverse affine (augmented px → input px) → sampling grid `N×R×R×2`."""
    xs, ys = _pixel_grid(res, inverse.device)
    sx = inverse[:, 0, 0, None, None] * xs + inverse[:, 0, 1, None, None] * ys \
        + inverse[:, 0, 2, None, None]
    sy = inverse[:, 1, 0, None, None] * xs + inverse[:, 1, 1, None, None] * ys \
        + inverse[:, 1, 2, None, None]
    return _normalise(sx, sy, res)


def warp_field_grid(control: torch.Tensor, res: int) -> torch.Tensor:
    """`N×2×5×5` control offsets (px) → sampling grid `N×R×R×2` of the random warp.

    Bicubic upsampling with half-pixel centres and clamped borders, as cv2.resize INTER_CUBIC.
    """
    d = F.interpolate(control, size=(res, res), mode="bicubic", align_corners=False)
    xs, ys = _pixel_grid(res, control.device)
    return _normalise(xs + d[:, 0], ys + d[:, 1], res)


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """`N×3×H×W` RGB in [0, 1] → H in degrees [0, 360), S and V in [0, 1] (OpenCV's float
    convention)."""
    r, g, b = rgb.unbind(1)
    v, _ = rgb.max(1)
    mn, _ = rgb.min(1)
    diff = v - mn
    s = torch.where(v > 0, diff / v.clamp_min(1e-12), torch.zeros_like(v))
    safe = diff.clamp_min(1e-12)
    h = torch.where(v == r, 60 * (g - b) / safe,
                    torch.where(v == g, 120 + 60 * (b - r) / safe, 240 + 60 * (r - g) / safe))
    h = torch.where(diff > 0, h, torch.zeros_like(h))
    h = torch.remainder(h, 360)
    return torch.stack((h, s, v), 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    h, s, v = hsv.unbind(1)
    h6 = torch.remainder(h, 360) / 60

    def channel(n: float) -> torch.Tensor:
        k = torch.remainder(n + h6, 6)
        return v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1)

    return torch.stack((channel(5), channel(3), channel(1)), 1)


def hsv_jitter(img: torch.Tensor, amounts: torch.Tensor) -> torch.Tensor:
    """Per-sample hue shift (×360°), saturation and value gains (1 + 2·u), `amounts` `N×3`."""
    hsv = rgb_to_hsv(img)
    h = torch.remainder(hsv[:, 0] + amounts[:, 0, None, None] * 360, 360)
    s = torch.clamp(hsv[:, 1] * (1 + amounts[:, 1, None, None] * 2), 0, 1)
    v = torch.clamp(hsv[:, 2] * (1 + amounts[:, 2, None, None] * 2), 0, 1)
    return hsv_to_rgb(torch.stack((h, s, v), 1))


# CIE L*a*b* as OpenCV's float RGB2Lab: sRGB transfer, D65 white, its matrix.
_RGB2XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754], dtype=torch.float64)


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp_min(0)
    return torch.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    m = (_RGB2XYZ / _WHITE[:, None]).to(rgb)
    xyz = torch.einsum("ij,njhw->nihw", m, _srgb_to_linear(rgb.clamp(0, 1)))
    t = 0.008856
    f = torch.where(xyz > t, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    y = xyz[:, 1]
    L = torch.where(y > t, 116 * f[:, 1] - 16, 903.3 * y)
    return torch.stack((L, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])), 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200

    def finv(f: torch.Tensor) -> torch.Tensor:
        return torch.where(f > 0.206893, f ** 3, (f - 16 / 116) / 7.787)

    y = torch.where(L > 903.3 * 0.008856, fy ** 3, L / 903.3)
    xyz = torch.stack((finv(fx), y, finv(fz)), 1) * _WHITE.to(lab)[None, :, None, None]
    lin = torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB2XYZ).to(lab), xyz)
    return _linear_to_srgb(lin).clamp(0, 1)


def _masked_stats(lab: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and std over mask > 0.5 (whole image under 16 px)."""
    w = (mask > 0.5).to(lab.dtype)
    small = w.sum(dim=(1, 2, 3), keepdim=True) < 16
    w = torch.where(small, torch.ones_like(w), w)
    n = w.sum(dim=(2, 3), keepdim=True)
    mean = (lab * w).sum(dim=(2, 3), keepdim=True) / n
    var = (lab * lab * w).sum(dim=(2, 3), keepdim=True) / n - mean * mean
    return mean, var.clamp_min(0).sqrt()


def rct(source: torch.Tensor, target: torch.Tensor, source_mask: torch.Tensor) -> torch.Tensor:
    """Reinhard colour transfer per sample (engine.swap.color_transfer.rct batched): source's L*a*b*
    mean and std over its mask moved to the target's over the whole target."""
    src_lab, tgt_lab = rgb_to_lab(source), rgb_to_lab(target)
    ms, ss = _masked_stats(src_lab, source_mask)
    mt, st = _masked_stats(tgt_lab, torch.ones_like(source_mask))
    out = (src_lab - ms) * (st / ss.clamp_min(1e-6)) + mt
    out = torch.cat((out[:, :1].clamp(0, 100), out[:, 1:]), 1)
    return lab_to_rgb(out)


@dataclass
class BatchParams:
    """`SampleParams` of a batch as device tensors."""

    inverse: torch.Tensor  # N×2×3
    warp: torch.Tensor | None  # N×2×5×5
    hsv: torch.Tensor | None  # N×3
    flip: torch.Tensor  # N bool

    @staticmethod
    def stack(params: list[SampleParams], device: torch.device) -> BatchParams:
        packed = np.stack([pack_params(p) for p in params])
        return BatchParams.unpack(upload(packed, device), params[0].warp_grid is not None,
                                  params[0].hsv is not None)

    @staticmethod
    def unpack(packed: torch.Tensor, warp: bool, hsv: bool) -> BatchParams:
        """Rows of `pack_params` (on the device) → batch parameters."""
        n = packed.shape[0]
        inv, flip, at = packed[:, :6].view(n, 2, 3), packed[:, 6] > 0.5, 7
        w = h = None
        if warp:
            w, at = packed[:, at:at + 2 * WARP_CELLS ** 2].view(n, 2, WARP_CELLS, WARP_CELLS), \
                at + 2 * WARP_CELLS ** 2
        if hsv:
            h = packed[:, at:at + 3]
        return BatchParams(inv, w, h, flip)

    @staticmethod
    def cat(a: BatchParams, b: BatchParams) -> BatchParams:
        def c(x, y):
            return None if x is None else torch.cat((x, y))

        return BatchParams(c(a.inverse, b.inverse), c(a.warp, b.warp), c(a.hsv, b.hsv),
                           c(a.flip, b.flip))


def pack_params(p: SampleParams) -> np.ndarray:
    """One sample's choices as a float32 row: inverse affine (6), flip (1), then the warp
    control grid (50) and the HSV amounts (3) when the settings draw them."""
    parts = [cv2.invertAffineTransform(p.affine).reshape(-1), [float(p.flip)]]
    if p.warp_grid is not None:
        parts.append(p.warp_grid.reshape(-1))
    if p.hsv is not None:
        parts.append(p.hsv)
    return np.concatenate(parts).astype(np.float32)


def pack_pair(c: PairDraw) -> np.ndarray:
    """A `PairDraw` as one float32 row: i, j, then the dst and the src sample's parameters
    (face indices are exact in float32 below 2**24)."""
    return np.concatenate(([c.i, c.j], pack_params(c.dst), pack_params(c.src))
                          ).astype(np.float32)


def upload(host: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host array → device tensor in one copy that never makes the host wait.

    On CUDA the copy is from pinned memory and asynchronous: a copy from pageable memory makes
    the host wait for the GPU's queue to drain, which would stop the CPU from preparing the next
    batch (and launching the next step) while the GPU works.
    """
    t = torch.as_tensor(host)
    if device.type == "cuda" and not t.is_pinned():
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def augment_batch(img: torch.Tensor, mask: torch.Tensor, em: torch.Tensor, p: BatchParams,
                  transfer_to: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The batched counterpart of `trainers.data.augment`.

    img `N×3×R×R`, mask and em `N×1×R×R`, float in [0, 1] on the device; `transfer_to` the dst
    images the src colours move towards (rct), or None. Returns `warped`, `target`, `mask`,
    `em_mask`.
    """
    res = img.shape[-1]
    if transfer_to is not None:
        img = rct(img, transfer_to, mask)
    if p.hsv is not None:
        img = hsv_jitter(img, p.hsv)
    grid = affine_grid(p.inverse, res)
    target = F.grid_sample(img, grid, "bilinear", "reflection", align_corners=False)
    masks = F.grid_sample(torch.cat((mask, em), 1), grid, "bilinear", "zeros",
                          align_corners=False)
    warped = target
    if p.warp is not None:
        warped = F.grid_sample(target, warp_field_grid(p.warp, res), "bilinear", "reflection",
                               align_corners=False)
    f = p.flip[:, None, None, None]
    target, warped, masks = (torch.where(f, x.flip(3), x) for x in (target, warped, masks))
    return {"warped": warped, "target": target, "mask": masks[:, :1], "em_mask": masks[:, 1:]}


class DrawDataset(torch.utils.data.Dataset):
    """Item `(k, pos)` → the packed random choices of that global-batch position (`pack_pair`):
    the only CPU work of device augmentation, cheap enough for one loader process."""

    def __init__(self, dataset):
        self.ds = dataset

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, key: tuple[int, int]) -> np.ndarray:
        return pack_pair(self.ds.draw(*key))


class DeviceAugmenter:
    """Batches of a `PairDataset` made on `device`: face banks uploaded once (uint8), choices
    drawn on the CPU by the dataset's `draw` (here, or in a loader process: `DrawDataset`),
    pixels augmented in batched tensor ops, src and dst in one pass.

    `batch(k, rank, size)` returns exactly what the DataLoader path collates for the same keys
    (names `src_warped`, …, `dst_em_mask`), as device tensors.
    """

    def __init__(self, dataset, device: torch.device):
        self.ds, self.device = dataset, torch.device(device)

        def to_device(bank) -> tuple[torch.Tensor, torch.Tensor]:
            img = torch.from_numpy(np.ascontiguousarray(bank.images.transpose(0, 3, 1, 2)))
            masks = torch.from_numpy(np.ascontiguousarray(np.stack((bank.masks, bank.em_masks),
                                                                   1)))
            return img.to(self.device), masks.to(self.device)

        self.src = to_device(dataset.src)
        self.dst = self.src if dataset.dst is dataset.src else to_device(dataset.dst)

    def batch(self, k: int, rank: int = 0, size: int = 8) -> dict[str, torch.Tensor]:
        packed = np.stack([pack_pair(self.ds.draw(k, rank * size + p)) for p in range(size)])
        return self.from_packed(upload(packed, self.device))

    def from_packed(self, packed: torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch from `pack_pair` rows already on the device."""
        a = self.ds.aug
        n = packed.shape[0]
        half = (packed.shape[1] - 2) // 2
        i, j = packed[:, 0].long(), packed[:, 1].long()
        pd = BatchParams.unpack(packed[:, 2:2 + half], a.random_warp, a.hsv_jitter > 0)
        ps = BatchParams.unpack(packed[:, 2 + half:], a.random_warp, a.hsv_jitter > 0)
        s_img = self.src[0].index_select(0, i).float() / 255
        s_msk = self.src[1].index_select(0, i).float() / 255
        d_img = self.dst[0].index_select(0, j).float() / 255
        d_msk = self.dst[1].index_select(0, j).float() / 255
        if a.color_transfer != "none":
            s_img = rct(s_img, d_img, s_msk[:, :1])
        msk = torch.cat((d_msk, s_msk))
        both = augment_batch(torch.cat((d_img, s_img)), msk[:, :1], msk[:, 1:],
                             BatchParams.cat(pd, ps))
        out = {f"src_{n_}": v[n:] for n_, v in both.items()}
        out.update({f"dst_{n_}": v[:n] for n_, v in both.items()})
        return out
