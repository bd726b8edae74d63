"""LIAE: shared encoder and decoder, InterAB (both identities) and InterB (dst only).

src latent = InterAB(src) ‖ InterAB(src); dst latent = InterB(dst) ‖ InterAB(dst). The swap
renders a dst face with InterAB(dst) ‖ InterAB(dst): the dst's expression in src's latent region.
Each inter emits 2·ae_dims channels, so the decoder sees 4·ae_dims (as DeepFaceLab).
"""

from __future__ import annotations

import torch

from trainers.models import ModelSpec
from trainers.models.base import FaceModel, Pair
from trainers.models.blocks import Layout


class LIAEModel(FaceModel):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        lay = Layout(spec)
        self.encoder = lay.encoder
        ae_out = spec.ae_dims * 2
        self.inter_ab = lay.inter(spec.ae_dims, ae_out)
        self.inter_b = lay.inter(spec.ae_dims, ae_out)
        self.decoder = lay.decoder(ae_out * 2, spec.d_dims, spec.mask_dims)

    @property
    def code_channels(self) -> int:
        return self.spec.ae_dims * 4

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

    def forward(self, src: torch.Tensor, dst: torch.Tensor, swap: bool = True
                ) -> tuple[Pair, ...]:
        """((src→src rgb, mask), (dst→dst rgb, mask)[, (dst→src rgb, mask) if swap])."""
        z_src, z_dst, z_swap = self.latents(src, dst)
        out = (self.decoder(z_src), self.decoder(z_dst))
        return out + (self.decoder(z_swap),) if swap else out

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """dst face → (face as src, its mask, the dst reconstruction's mask of the input)."""
        _, z_dst, z_swap = self.latents(None, dst)
        face, mask = self.decoder(z_swap)
        dst_mask = self.decoder.forward_mask(z_dst)
        return face, mask, dst_mask

    def swap_and_reconstruct(self, dst: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`swap` plus the dst reconstruction of the input (the export's `dst_face`), from one
        encoding."""
        _, z_dst, z_swap = self.latents(None, dst)
        face, mask = self.decoder(z_swap)
        dst_face, dst_mask = self.decoder(z_dst)
        return face, mask, dst_mask, dst_face

    def codes(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_src, _, z_swap = self.latents(src, dst)
        return z_src, z_swap
