"""DF: one shared encoder and inter, a decoder per identity (src, dst).

Training reconstructs src with the src decoder and dst with the dst decoder; the swap renders a
dst face's code with the src decoder. Inter emits ae_dims channels (as DeepFaceLab).
"""

from __future__ import annotations

import torch

from trainers.models import ModelSpec
from trainers.models.base import FaceModel, Pair
from trainers.models.blocks import Layout


class DFModel(FaceModel):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        lay = Layout(spec)
        self.encoder = lay.encoder
        self.inter = lay.inter(spec.ae_dims, spec.ae_dims)
        self.decoder_src = lay.decoder(spec.ae_dims, spec.d_dims, spec.mask_dims)
        self.decoder_dst = lay.decoder(spec.ae_dims, spec.d_dims, spec.mask_dims)

    @property
    def code_channels(self) -> int:
        return self.spec.ae_dims

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.inter(self.encoder(x))

    def forward(self, src: torch.Tensor, dst: torch.Tensor, swap: bool = True
                ) -> tuple[Pair, ...]:
        """((src→src rgb, mask), (dst→dst rgb, mask)[, (dst→src rgb, mask) if swap])."""
        z_src, z_dst = self.code(src), self.code(dst)
        out = (self.decoder_src(z_src), self.decoder_dst(z_dst))
        return out + (self.decoder_src(z_dst),) if swap else out

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst face → (face as src, src decoder's mask, dst decoder's mask of the input)."""
        z = self.code(dst)
        face, mask = self.decoder_src(z)
        dst_mask = self.decoder_dst.forward_mask(z)
        return face, mask, dst_mask

    def swap_and_reconstruct(self, dst: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`swap` plus the dst decoder's reconstruction of the input (the export's `dst_face`:
        how well the model knows this face), from one encoding."""
        z = self.code(dst)
        face, mask = self.decoder_src(z)
        dst_face, dst_mask = self.decoder_dst(z)
        return face, mask, dst_mask, dst_face

    def codes(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent codes of src and dst (TrueFace's discriminator judges these)."""
        return self.code(src), self.code(dst)
