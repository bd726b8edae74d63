"""DF: one shared encoder and inter, a decoder per identity (src, dst).

Training reconstructs src with the src decoder and dst with the dst decoder; the swap renders a
dst face's code with the src decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.models import ModelSpec
from trainers.models.blocks import Decoder, Inter, Layout


class DFModel(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        lay = Layout(spec)
        self.encoder = lay.encoder
        ae_out = spec.ae_dims  # channels of the inter's spatial output
        self.inter = Inter(lay.code_features, spec.ae_dims, ae_out, lay.low, lay.act)
        self.decoder_src = Decoder(ae_out, spec.d_dims, spec.mask_dims, lay.act, lay.double,
                                   lay.res_blocks)
        self.decoder_dst = Decoder(ae_out, spec.d_dims, spec.mask_dims, lay.act, lay.double,
                                   lay.res_blocks)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.inter(self.encoder(x))

    def forward(self, src: torch.Tensor, dst: torch.Tensor, swap: bool = True):
        """Returns ((src→src rgb, mask), (dst→dst rgb, mask), (dst→src rgb, mask)); the last is
        None without `swap` (training needs only the two reconstructions)."""
        z_src, z_dst = self.code(src), self.code(dst)
        return (self.decoder_src(z_src), self.decoder_dst(z_dst),
                self.decoder_src(z_dst) if swap else None)

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst face → (face as src, src decoder's mask, dst decoder's mask of the input)."""
        z = self.code(dst)
        face, mask = self.decoder_src(z)
        dst_mask = self.decoder_dst.forward_mask(z)
        return face, mask, dst_mask

    def codes(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent codes of src and dst (TrueFace's discriminator judges these)."""
        return self.code(src), self.code(dst)
