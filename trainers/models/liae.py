"""LIAE: shared encoder and decoder, InterAB (both identities) and InterB (dst only).

src latent = InterAB(src) ‖ InterAB(src); dst latent = InterB(dst) ‖ InterAB(dst). The swap
renders a dst face with InterAB(dst) ‖ InterAB(dst): the dst's expression in src's latent region.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.models import ModelSpec
from trainers.models.blocks import Decoder, Inter, Layout


class LIAEModel(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        lay = Layout(spec)
        self.encoder = lay.encoder
        ae_out = spec.ae_dims  # each inter emits ae_dims channels; the decoder sees 2×
        self.inter_ab = Inter(lay.code_features, spec.ae_dims, ae_out, lay.low, lay.act)
        self.inter_b = Inter(lay.code_features, spec.ae_dims, ae_out, lay.low, lay.act)
        self.decoder = Decoder(ae_out * 2, spec.d_dims, spec.mask_dims, lay.act, lay.double,
                               lay.res_blocks)

    def latents(self, src: torch.Tensor | None, dst: torch.Tensor | None):
        z_src = z_dst = z_swap = None
        if src is not None:
            ab = self.inter_ab(self.encoder(src))
            z_src = torch.cat([ab, ab], dim=1)
        if dst is not None:
            e = self.encoder(dst)
            ab, b = self.inter_ab(e), self.inter_b(e)
            z_dst = torch.cat([b, ab], dim=1)
            z_swap = torch.cat([ab, ab], dim=1)
        return z_src, z_dst, z_swap

    def forward(self, src: torch.Tensor, dst: torch.Tensor, swap: bool = True):
        """Returns ((src→src rgb, mask), (dst→dst rgb, mask), (dst→src rgb, mask)); the last is
        None without `swap` (training needs only the two reconstructions)."""
        z_src, z_dst, z_swap = self.latents(src, dst)
        return (self.decoder(z_src), self.decoder(z_dst),
                self.decoder(z_swap) if swap else None)

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst face → (face as src, its mask, the dst reconstruction's mask of the input)."""
        _, z_dst, z_swap = self.latents(None, dst)
        face, mask = self.decoder(z_swap)
        dst_mask = self.decoder.forward_mask(z_dst)
        return face, mask, dst_mask

    def codes(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_src, _, z_swap = self.latents(src, dst)
        return z_src, z_swap
