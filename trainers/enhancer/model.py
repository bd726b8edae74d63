"""The FaceEnhancer network: residual blocks at the swap model's resolution, a ×2 sub-pixel
upsample, added to the bicubic ×2 of the input (so an untrained net is the plain upscale and
training learns only the missing detail).

Convention: `N×3×R×R` in [0, 1] (model colour space, the swap model's face type and alignment)
→ `N×3×2R×2R`, aligned as a 2R crop (`crop_2R = 2·crop_R + 0.5`: torch's bicubic with
`align_corners=False`, as the engine's `cv2.INTER_CUBIC` upscale).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.enhancer.config import EnhancerSpec


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.a = nn.Conv2d(width, width, 3, padding=1)
        self.b = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.leaky_relu(self.a(x), 0.1))


class EnhancerNet(nn.Module):
    def __init__(self, spec: EnhancerSpec):
        super().__init__()
        self.spec = spec.resolved()
        w = spec.width
        self.head = nn.Conv2d(3, w, 3, padding=1)
        self.body = nn.Sequential(*[_Block(w) for _ in range(spec.blocks)])
        self.up = nn.Conv2d(w, 4 * w, 3, padding=1)
        self.tail = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # starts as the plain upscale
        nn.init.zeros_(self.tail.bias)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(face, scale_factor=2, mode="bicubic", align_corners=False)
        f = self.head(face)
        f = f + self.body(f)
        f = F.leaky_relu(F.pixel_shuffle(self.up(f), 2), 0.1)
        return base + self.tail(f)
