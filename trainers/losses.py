"""Losses of DeepFaceLab's recipe: masked DSSIM + MSE, mask loss, eyes/mouth priority, GAN,
TrueFace.

Convention: images `N×3×H×W` in [0, 1]; masks `N×1×H×W` in [0, 1]. Weights follow the paper's
released recipe: 10·DSSIM (kernel ≈ R/11.6; from 256 px, 5·DSSIM at R/11.6 + 5·DSSIM at R/23.2),
10·MSE, 10·mask MSE, 300·L1 on the eyes/mouth region when that priority is on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _gaussian_1d(size: int, sigma: float, device, dtype) -> torch.Tensor:
    ax = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-0.5 * (ax / sigma) ** 2)
    return (g / g.sum()).to(dtype)


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """`(n − k + 1) × n` matrix whose row i holds the 1-D kernel g at columns i … i + k − 1:
    multiplying by it is a 'valid' correlation with g."""
    k = g.shape[0]
    rows = n - k + 1
    idx = torch.arange(rows, device=g.device)[:, None] + torch.arange(k, device=g.device)
    return torch.zeros(rows, n, device=g.device, dtype=g.dtype).scatter_(
        1, idx, g.expand(rows, k).contiguous())


def gaussian_blur_valid(x: torch.Tensor, g: torch.Tensor, method: str | None = None
                        ) -> torch.Tensor:
    """Separable 'valid' Gaussian blur of `N×C×H×W` by the 1-D kernel g (each axis).

    method 'conv': two depthwise 1-D convolutions (2k taps per pixel). 'matmul': the same
    sums as two products with banded matrices, which run on the GPU's matrix units and beat
    PyTorch's depthwise kernels there by ~10× at 256 px; on the CPU the convolution is faster.
    None picks by device. Both give the values of a k×k Gaussian window up to float rounding.
    """
    method = method or ("matmul" if x.is_cuda else "conv")
    k, n = g.shape[0], x.shape[1]
    if method == "matmul":
        return _band(x.shape[2], g) @ x @ _band(x.shape[3], g).T
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(n, 1, 1, k), groups=n)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(n, 1, k, 1), groups=n)


def dssim(a: torch.Tensor, b: torch.Tensor, kernel_size: int, max_val: float = 1.0,
          method: str | None = None) -> torch.Tensor:
    """Structural dissimilarity (1 − SSIM) / 2 per image, `N`; Gaussian window σ = 1.5.

    The 2-D Gaussian window is separable, so the five local moments are blurred together in
    one separable pass over their stacked channels (`gaussian_blur_valid`) instead of five
    k×k convolutions: the same values up to float rounding.
    """
    kernel_size = max(3, kernel_size | 1)  # odd, at least 3
    c = a.shape[1]
    g = _gaussian_1d(kernel_size, 1.5, a.device, a.dtype)
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    blurred = gaussian_blur_valid(torch.cat((a, b, a * a, b * b, a * b), 1), g, method)
    mu_a, mu_b, e_aa, e_bb, e_ab = blurred.split(c, 1)
    s_aa = e_aa - mu_a * mu_a
    s_bb = e_bb - mu_b * mu_b
    s_ab = e_ab - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * s_ab + c2)) / (
        (mu_a * mu_a + mu_b * mu_b + c1) * (s_aa + s_bb + c2))
    return ((1 - ssim) / 2).mean(dim=(1, 2, 3))


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        resolution: int) -> torch.Tensor:
    """Masked DSSIM + MSE as DeepFaceLab weights them; mean over the batch."""
    p, t = pred * mask, target * mask
    if resolution < 256:
        d = 10 * dssim(p, t, int(resolution / 11.6))
    else:
        d = 5 * dssim(p, t, int(resolution / 11.6)) + 5 * dssim(p, t, int(resolution / 23.2))
    mse = 10 * ((p - t) ** 2).mean(dim=(1, 2, 3))
    return (d + mse).mean()


def mask_loss(pred_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    return 10 * ((pred_mask - target_mask) ** 2).mean()


def priority_loss(pred: torch.Tensor, target: torch.Tensor, em_mask: torch.Tensor
                  ) -> torch.Tensor:
    """Eyes-and-mouth priority: 300·L1 inside their region."""
    return 300 * (torch.abs(pred - target) * em_mask).mean()


class PatchDiscriminator(nn.Module):
    """Patch GAN discriminator on faces: a map of real/fake logits (`gan_power`)."""

    def __init__(self, ch: int = 64, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = []
        cin = 3
        for i in range(layers):
            cout = ch * 2**i
            mods += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
            cin = cout
        mods.append(nn.Conv2d(cin, 1, 3, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CodeDiscriminator(nn.Module):
    """TrueFace: tells src codes from dst codes; the model learns to fool it on dst codes."""

    def __init__(self, channels: int, ch: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, ch, 3, 1, 1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(ch, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
