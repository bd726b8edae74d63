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


def _gaussian_kernel(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    ax = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-0.5 * (ax / sigma) ** 2)
    g = g / g.sum()
    k = (g[:, None] * g[None, :]).to(dtype)
    return k.expand(channels, 1, size, size).contiguous()


def dssim(a: torch.Tensor, b: torch.Tensor, kernel_size: int, max_val: float = 1.0
          ) -> torch.Tensor:
    """Structural dissimilarity (1 − SSIM) / 2 per image, `N`; Gaussian window σ = 1.5."""
    kernel_size = max(3, kernel_size | 1)  # odd, at least 3
    c = a.shape[1]
    k = _gaussian_kernel(kernel_size, 1.5, c, a.device, a.dtype)
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, k, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    s_aa = blur(a * a) - mu_a * mu_a
    s_bb = blur(b * b) - mu_b * mu_b
    s_ab = blur(a * b) - mu_a * mu_b
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
