"""Building blocks shared by the face models: conv stages, pixel-shuffle upscaling, residuals.

Convention: tensors are `N×C×H×W` float in [0, 1] at the model edges; `act` is the activation
factory chosen by the architecture letters (`c`: x·cos x, else LeakyReLU 0.1 as DeepFaceLab).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class XCos(nn.Module):
    """x·cos(x): DeepFaceLab's `-c` activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x)


def activation(cos: bool) -> Callable[[], nn.Module]:
    return (lambda: XCos()) if cos else (lambda: nn.LeakyReLU(0.1))


class Downscale(nn.Sequential):
    """5×5 stride-2 conv + activation: halves the resolution."""

    def __init__(self, cin: int, cout: int, act: Callable[[], nn.Module], kernel: int = 5):
        super().__init__(nn.Conv2d(cin, cout, kernel, 2, kernel // 2), act())


class Upscale(nn.Sequential):
    """3×3 conv to 4× channels + pixel shuffle: doubles the resolution without checkerboards."""

    def __init__(self, cin: int, cout: int, act: Callable[[], nn.Module]):
        super().__init__(nn.Conv2d(cin, cout * 4, 3, 1, 1), act(), nn.PixelShuffle(2))


class ResidualBlock(nn.Module):
    """Two 3×3 convs with a skip connection (activation after the sum, as DeepFaceLab)."""

    def __init__(self, ch: int, act: Callable[[], nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.act1, self.act2 = act(), act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


def pixel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise each code vector to unit RMS (the `-u` option)."""
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + eps)


class Encoder(nn.Module):
    """4 downscales (e, 2e, 4e, 8e channels); `-t` adds a residual block after each; HD adds
    one more. Output: flattened code `N×(8e·(R/16)²)`, pixel-normed with `-u`."""

    def __init__(self, e_dims: int, act: Callable[[], nn.Module], deep: bool = False,
                 hd: bool = False, use_pixel_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for mult in (1, 2, 4, 8):
            layers.append(Downscale(cin, e_dims * mult, act))
            cin = e_dims * mult
            for _ in range(int(deep) + int(hd)):
                layers.append(ResidualBlock(cin, act))
        self.net = nn.Sequential(*layers)
        self.use_pixel_norm = use_pixel_norm
        self.out_ch = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.net(x), 1)
        return pixel_norm(x) if self.use_pixel_norm else x


class Inter(nn.Module):
    """Dense bottleneck: code → ae_dims → (ae_out × low × low) → upscale to 2·low."""

    def __init__(self, in_features: int, ae_dims: int, ae_out: int, low: int,
                 act: Callable[[], nn.Module]):
        super().__init__()
        self.low, self.ae_out = low, ae_out
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, low * low * ae_out)
        self.up = Upscale(ae_out, ae_out, act)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(code))
        return self.up(x.view(-1, self.ae_out, self.low, self.low))


class Decoder(nn.Module):
    """3 upscales (8d, 4d, 2d) with residual blocks, an RGB head and a separate mask branch.

    `double_res` (`-d`): the heads emit 4× channels and a pixel shuffle doubles the output
    resolution for the cost of one 1×1-sized layer. Outputs are sigmoid: RGB and mask in [0, 1].
    """

    def __init__(self, cin: int, d_dims: int, mask_dims: int, act: Callable[[], nn.Module],
                 double_res: bool = False, res_blocks: int = 1):
        super().__init__()
        stages: list[nn.Module] = []
        c = cin
        for mult in (8, 4, 2):
            stages.append(Upscale(c, d_dims * mult, act))
            c = d_dims * mult
            for _ in range(res_blocks):
                stages.append(ResidualBlock(c, act))
        self.rgb = nn.Sequential(*stages)
        m_stages: list[nn.Module] = []
        c = cin
        for mult in (8, 4, 2):
            m_stages.append(Upscale(c, mask_dims * mult, act))
            c = mask_dims * mult
        self.mask = nn.Sequential(*m_stages)
        k = 4 if double_res else 1
        self.rgb_out = nn.Conv2d(d_dims * 2, 3 * k, 1)
        self.mask_out = nn.Conv2d(mask_dims * 2, 1 * k, 1)
        self.shuffle = nn.PixelShuffle(2) if double_res else nn.Identity()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = torch.sigmoid(self.shuffle(self.rgb_out(self.rgb(z))))
        return rgb, self.forward_mask(z)

    def forward_mask(self, z: torch.Tensor) -> torch.Tensor:
        """The mask branch alone (the exported swap needs the dst decoder's mask only)."""
        return torch.sigmoid(self.shuffle(self.mask_out(self.mask(z))))


class Layout:
    """What a spec implies for every family: activation, encoder, and the sizes around it.

    The encoder always sees the full-resolution input (R/16 at its end); with `-d` the
    bottleneck and decoder run at half resolution and the heads' depth-to-space restores R.
    """

    def __init__(self, spec) -> None:
        letters = spec.letters
        self.act = activation("c" in letters)
        self.hd = spec.family.endswith("hd")
        self.double = "d" in letters
        self.low = spec.resolution // (32 if self.double else 16)  # inter's spatial size
        self.res_blocks = 2 if self.hd else 1
        low_enc = spec.resolution // 16
        self.encoder = Encoder(spec.e_dims, self.act, deep="t" in letters, hd=self.hd,
                               use_pixel_norm="u" in letters)
        self.code_features = self.encoder.out_ch * low_enc * low_enc
