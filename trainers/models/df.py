"""DF: one shared encoder and inter, a decoder per identity (src, dst).

Training reconstructs src with the src decoder and dst with the dst decoder; the swap renders a
dst face's code with the src decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.models import ModelSpec
from trainers.models.blocks import Decoder, Encoder, Inter, activation


class DFModel(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        act = activation("c" in spec.letters)
        hd = spec.family == "dfhd"
        double = "d" in spec.letters
        # The encoder always sees the full-resolution input (R/16 at its end); with -d the
        # bottleneck and decoder run at half resolution and the heads' depth-to-space restores R.
        low_enc = spec.resolution // 16
        low = spec.resolution // (32 if double else 16)
        self.encoder = Encoder(spec.e_dims, act, deep="t" in spec.letters, hd=hd,
                               use_pixel_norm="u" in spec.letters)
        code = self.encoder.out_ch * low_enc * low_enc
        ae_out = spec.ae_dims  # channels of the inter's spatial output
        self.inter = Inter(code, spec.ae_dims, ae_out, low, act)
        blocks = 2 if hd else 1
        self.decoder_src = Decoder(ae_out, spec.d_dims, spec.mask_dims, act, double, blocks)
        self.decoder_dst = Decoder(ae_out, spec.d_dims, spec.mask_dims, act, double, blocks)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.inter(self.encoder(x))

    def forward(self, src: torch.Tensor, dst: torch.Tensor):
        """Returns ((src→src rgb, mask), (dst→dst rgb, mask), (dst→src rgb, mask))."""
        z_src, z_dst = self.code(src), self.code(dst)
        return self.decoder_src(z_src), self.decoder_dst(z_dst), self.decoder_src(z_dst)

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst face → (face as src, src decoder's mask, dst decoder's mask of the input)."""
        z = self.code(dst)
        face, mask = self.decoder_src(z)
        dst_mask = self.decoder_dst.forward_mask(z)
        return face, mask, dst_mask

    def codes(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent codes of src and dst (TrueFace's discriminator judges these)."""
        return self.code(src), self.code(dst)
