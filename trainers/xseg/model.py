"""The XSeg network: a compact U-Net on aligned faces.

Input `N×3×R×R` float32 in [0, 1] (sRGB-encoded RGB, the faceset's crops); output logits
`N×1×R×R` (`forward`), or the mask in [0, 1] (`predict`, what the ONNX export runs); the input must
be the trained resolution (the coordinate channels are fixed). `R` must be
a multiple of 2^depth; depth grows with resolution so the bottleneck sees the whole face
(4×4 to 8×8 cells). Batch norm by default (fastest to converge on few labels; `group` or
`none` for batches of one or two).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainers.xseg.config import XSegSpec


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(c)
    if kind == "group":
        return nn.GroupNorm(min(4, c), c)
    return nn.Identity()


def _conv(cin: int, cout: int, norm: str, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=norm == "none"),
            _norm(norm, cout), nn.LeakyReLU(0.1, inplace=True)]


def _block(cin: int, cout: int, norm: str, convs: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += _conv(cin if i == 0 else cout, cout, norm)
    return nn.Sequential(*layers)


class XSegNet(nn.Module):
    def __init__(self, spec: XSegSpec):
        super().__init__()
        self.spec = spec = spec.resolved()
        chans = [min(spec.width << i, spec.width * 8) for i in range(spec.depth + 1)]
        n = spec.norm
        # Faces are aligned, so where a pixel is says much about whether it is face: two
        # coordinate channels (CoordConv, Liu et al. 2018) let the net learn that prior cheaply.
        r = torch.linspace(-1.0, 1.0, spec.resolution)
        self.register_buffer("coords", torch.stack(torch.meshgrid(r, r, indexing="xy"))[None],
                             persistent=False)
        self.stem = _block(5, chans[0], n, 1)  # full resolution: one conv each way (cost)
        self.down = nn.ModuleList(
            nn.Sequential(*_conv(chans[i], chans[i + 1], n, 2),
                          _block(chans[i + 1], chans[i + 1], n))
            for i in range(spec.depth))
        self.up = nn.ModuleList(nn.Sequential(*_conv(chans[i + 1], chans[i], n))
                                for i in reversed(range(spec.depth)))
        self.fuse = nn.ModuleList(_block(2 * chans[i], chans[i], n, 1 if i == 0 else 2)
                                  for i in reversed(range(spec.depth)))
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        """Logits `N×1×R×R` for faces `N×3×R×R` in [0, 1]."""
        x = self.stem(torch.cat([face * 2.0 - 1.0,
                                 self.coords.expand(face.shape[0], -1, -1, -1)], 1))
        skips = [x]
        for d in self.down:
            x = d(x)
            skips.append(x)
        skips.pop()
        for up, fuse in zip(self.up, self.fuse, strict=True):
            x = up(F.interpolate(x, scale_factor=2.0, mode="nearest"))
            x = fuse(torch.cat([x, skips.pop()], 1))
        return self.head(x)

    def predict(self, face: torch.Tensor) -> torch.Tensor:
        """The mask in [0, 1], `N×1×R×R`."""
        return torch.sigmoid(self.forward(face))
