"""Building blocks of the face models, laid out as DeepFaceLab's SAEHD networks.

Layer shapes (channels, kernel sizes, which stages exist for each architecture letter) follow
DeepFaceLab's published architecture, so parameter counts per module equal DFL's at the same
dims (tests/trainers/test_models.py checks DFL's own figures). The code is Doppel's.

Convention: tensors are `N×C×H×W` float; images in [0, 1] at the model edges. Activations:
LeakyReLU with slope 0.1 after down/upscale convs and 0.2 inside residual blocks (as DFL), or
x·cos x everywhere with the `c` letter.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Act = Callable[[float], nn.Module]  # activation factory taking the LeakyReLU slope


class XCos(nn.Module):
    """x·cos(x): DeepFaceLab's `-c` activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x)


def activation(cos: bool) -> Act:
    """The activation factory for an architecture: `slope -> module`."""
    if cos:
        return lambda _slope: XCos()
    return lambda slope: nn.LeakyReLU(slope)


class Downscale(nn.Sequential):
    """k×k stride-2 conv + activation: halves the resolution (ceil for odd sizes)."""

    def __init__(self, cin: int, cout: int, act: Act, kernel: int = 5):
        super().__init__(nn.Conv2d(cin, cout, kernel, 2, kernel // 2), act(0.1))


class Upscale(nn.Sequential):
    """3×3 conv to 4× channels + activation + depth-to-space: doubles the resolution."""

    def __init__(self, cin: int, cout: int, act: Act):
        super().__init__(nn.Conv2d(cin, cout * 4, 3, 1, 1), act(0.1), nn.PixelShuffle(2))


class ResidualBlock(nn.Module):
    """Two 3×3 convs; the activation follows the first conv and the skip sum."""

    def __init__(self, ch: int, act: Act):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.act1, self.act2 = act(0.2), act(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


def pixel_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise each flattened code vector to unit RMS (the `-u` option)."""
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + eps)


def _residuals(ch: int, act: Act, n: int) -> list[nn.Module]:
    return [ResidualBlock(ch, act) for _ in range(n)]


class Encoder(nn.Module):
    """5×5 stride-2 downscales to 8·e channels, flattened; pixel-normed with `-u`.

    Plain: 4 downscales (e, 2e, 4e, 8e), output R/16. Deep (`-t`): 5 downscales (e, 2e, 4e,
    8e, 8e), output R/32, with `res` residual blocks after the first and the last downscale.
    Output: `N×(8e·(R/16)²)` or `N×(8e·(R/32)²)`.
    """

    def __init__(self, e_dims: int, act: Act, deep: bool = False, res: int = 1,
                 use_pixel_norm: bool = False):
        super().__init__()
        mults = (1, 2, 4, 8, 8) if deep else (1, 2, 4, 8)
        layers: list[nn.Module] = []
        cin = 3
        for i, mult in enumerate(mults):
            layers.append(Downscale(cin, e_dims * mult, act))
            cin = e_dims * mult
            if deep and i in (0, len(mults) - 1):
                layers += _residuals(cin, act, res)
        self.net = nn.Sequential(*layers)
        self.use_pixel_norm = use_pixel_norm
        self.out_ch = cin
        self.downscales = len(mults)

    def out_res(self, resolution: int) -> int:
        """Spatial size of the last feature map for an input of `resolution` px."""
        for _ in range(self.downscales):
            resolution = -(-resolution // 2)
        return resolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.net(x), 1)
        return pixel_norm(x) if self.use_pixel_norm else x


class Inter(nn.Module):
    """Dense bottleneck: code → ae_dims → `ae_out × low × low`, then (unless deep) an upscale.

    Output: `N×ae_out×(2·low)×(2·low)`, or `N×ae_out×low×low` with `upscale=False` (`-t`).
    """

    def __init__(self, in_features: int, ae_dims: int, ae_out: int, low: int, act: Act,
                 upscale: bool = True):
        super().__init__()
        self.low, self.ae_out = low, ae_out
        self.dense1 = nn.Linear(in_features, ae_dims)
        self.dense2 = nn.Linear(ae_dims, low * low * ae_out)
        self.up = Upscale(ae_out, ae_out, act) if upscale else nn.Identity()

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(code))
        return self.up(x.view(-1, self.ae_out, self.low, self.low))


class Decoder(nn.Module):
    """Upscales with residual blocks to an RGB head, and a separate mask branch; sigmoid outputs.

    Plain: upscales to 8d, 4d, 2d channels (each followed by `res` residual blocks); deep
    (`-t`): 8d, 8d, 4d, 2d. The mask branch mirrors it with mask_dims and no residual blocks.
    Double resolution (`-d`): the RGB head is four convs (one 1×1, three 3×3) each giving one
    sub-pixel position of a 2× depth-to-space; the mask branch takes one more upscale (to
    mask_dims channels). Input `N×cin×r×r` → RGB `N×3×R×R`, mask `N×1×R×R`.
    """

    def __init__(self, cin: int, d_dims: int, mask_dims: int, act: Act, deep: bool = False,
                 double_res: bool = False, res: int = 1):
        super().__init__()
        mults = (8, 8, 4, 2) if deep else (8, 4, 2)
        stages: list[nn.Module] = []
        c = cin
        for mult in mults:
            stages.append(Upscale(c, d_dims * mult, act))
            c = d_dims * mult
            stages += _residuals(c, act, res)
        self.rgb = nn.Sequential(*stages)
        m_stages: list[nn.Module] = []
        c = cin
        for mult in mults + ((1,) if double_res else ()):
            m_stages.append(Upscale(c, mask_dims * mult, act))
            c = mask_dims * mult
        self.mask = nn.Sequential(*m_stages)
        self.rgb_out = nn.Conv2d(d_dims * 2, 3, 1)
        self.rgb_out_sub = nn.ModuleList(
            [nn.Conv2d(d_dims * 2, 3, 3, 1, 1) for _ in range(3)] if double_res else [])
        self.mask_out = nn.Conv2d(c, 1, 1)

    def forward_rgb(self, z: torch.Tensor) -> torch.Tensor:
        x = self.rgb(z)
        y = self.rgb_out(x)
        if self.rgb_out_sub:
            # head k fills sub-pixel (k // 2, k % 2) with its RGB; PixelShuffle wants channel
            # c·4 + k, so interleave the heads' channels before the shuffle.
            heads = torch.stack([y] + [conv(x) for conv in self.rgb_out_sub], dim=2)
            y = nn.functional.pixel_shuffle(heads.flatten(1, 2), 2)
        return torch.sigmoid(y)

    def forward_mask(self, z: torch.Tensor) -> torch.Tensor:
        """The mask branch alone (the exported swap needs the dst decoder's mask only)."""
        return torch.sigmoid(self.mask_out(self.mask(z)))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_rgb(z), self.forward_mask(z)


class Layout:
    """What a spec implies for every family: activation, encoder, and the sizes around it.

    The encoder always sees the full-resolution input; the bottleneck's spatial size is R/16
    (R/32 with `-d`, whose heads double the decoder's output). `-t` moves one halving from the
    inter's upscale into the encoder and adds a decoder stage; HD adds residual blocks.
    """

    def __init__(self, spec) -> None:
        letters = spec.letters
        self.act = activation("c" in letters)
        self.hd = spec.family.endswith("hd")
        self.deep = "t" in letters
        self.double = "d" in letters
        self.low = spec.resolution // (32 if self.double else 16)  # dense2's spatial size
        self.res_blocks = 2 if self.hd else 1
        self.encoder = Encoder(spec.e_dims, self.act, deep=self.deep, res=self.res_blocks,
                               use_pixel_norm="u" in letters)
        side = self.encoder.out_res(spec.resolution)
        self.code_features = self.encoder.out_ch * side * side

    def inter(self, ae_dims: int, ae_out: int) -> Inter:
        return Inter(self.code_features, ae_dims, ae_out, self.low, self.act,
                     upscale=not self.deep)

    def decoder(self, cin: int, d_dims: int, mask_dims: int) -> Decoder:
        return Decoder(cin, d_dims, mask_dims, self.act, deep=self.deep,
                       double_res=self.double, res=self.res_blocks)
