"""The losses' fast paths compute what the textbook formulas compute."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="trainer tests need torch (the train extra)")
F = torch.nn.functional

from trainers.losses import _gaussian_1d, dssim  # noqa: E402


def dssim_reference(a, b, k):
    """DSSIM with a full k×k Gaussian window, five separate convolutions, in float64."""
    a, b = a.double(), b.double()
    g = _gaussian_1d(k, 1.5, a.device, torch.float64)
    w = (g[:, None] * g[None, :]).expand(a.shape[1], 1, k, k)

    def blur(x):
        return F.conv2d(x, w, groups=a.shape[1])

    mu_a, mu_b = blur(a), blur(b)
    s_aa, s_bb, s_ab = (blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2,
                        blur(a * b) - mu_a * mu_b)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * s_ab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1)
                                                         * (s_aa + s_bb + c2))
    return ((1 - ssim) / 2).mean(dim=(1, 2, 3))


@pytest.mark.parametrize("method", ["conv", "matmul"])
@pytest.mark.parametrize("k", [5, 11, 23])
def test_separable_dssim_equals_the_full_window(method, k):
    g = torch.Generator().manual_seed(k)
    a = torch.rand(3, 3, 72, 64, generator=g)
    b = (a + 0.2 * torch.rand(3, 3, 72, 64, generator=g)).clamp(0, 1)
    got = dssim(a, b, k, method=method)
    want = dssim_reference(a, b, k)
    assert torch.allclose(got.double(), want, atol=1e-6), (got, want)
    assert (got > 0.001).all()  # not trivially zero


def test_dssim_of_an_image_with_itself_is_zero():
    a = torch.rand(2, 3, 48, 48)
    assert dssim(a, a, 11).abs().max() < 1e-6
