"""SSIM and GMSD on cases with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.errors import SettingsError
from engine.evaluate.image_metrics import GMSD_C, gmsd, ssim, ssim_map


def _texture(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def test_identical_images_score_ssim_one_and_gmsd_zero():
    a = _texture()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-9)
    assert gmsd(a, a) == pytest.approx(0.0, abs=1e-12)


def test_ssim_map_matches_scikit_image_reference():
    from skimage.metrics import structural_similarity

    a = _texture(1)
    b = np.clip(a + 0.08 * _texture(2) - 0.04, 0, 1).astype(np.float32)
    _, ref = structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=1.0,
                                   channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, full=True)
    np.testing.assert_allclose(ssim_map(a, b), ref.mean(axis=-1), atol=1e-6)


def test_ssim_falls_with_a_known_shift_and_more_with_a_larger_one():
    a = _texture(3)
    s1 = ssim(a, np.roll(a, 1, axis=1))
    s3 = ssim(a, np.roll(a, 3, axis=1))
    assert 1.0 > s1 > s3


def test_uniform_brightness_offset_changes_ssim_but_not_gmsd():
    a = 0.2 + 0.6 * _texture(4)
    b = a + 0.1
    assert ssim(a, b) < 0.99
    assert gmsd(a, b) == pytest.approx(0.0, abs=1e-9)


def test_gmsd_of_a_half_flattened_ramp_has_the_closed_form_value():
    # A ramp has gradient magnitude g everywhere; flattening one half gives GMS = 1 on the intact
    # half and c / (g² + c) on the flat half, so the std of the two equal halves is
    # (1 - c/(g² + c)) / 2. The mask keeps away from the borders and the seam.
    size = 128
    ramp = np.tile(np.linspace(0, 1, size, dtype=np.float64), (size, 1))
    a = np.repeat(ramp[..., None], 3, -1).astype(np.float32)
    b = a.copy()
    b[size // 2:] = 0.5
    # After 2× box decimation the ramp rises 2/(size-1) per pixel; the Prewitt kernel (three
    # rows of [1, 0, -1], divided by 3) is a central difference over two pixels: g = 2 × that.
    g = 4.0 / (size - 1)
    expected = (1 - GMSD_C / (g * g + GMSD_C)) / 2
    mask = np.zeros((size, size), np.float32)
    mask[8:size // 2 - 8, 8:-8] = 1
    mask[size // 2 + 8:-8, 8:-8] = 1
    assert gmsd(a, b, mask) == pytest.approx(expected, rel=1e-3)


def test_mask_restricts_the_comparison_to_the_face_region():
    a = _texture(5)
    b = a.copy()
    b[:, :48] = _texture(6)[:, :48]  # left half replaced
    right = np.zeros(a.shape[:2], np.float32)
    right[:, 60:] = 1
    assert ssim(a, b, right) == pytest.approx(1.0, abs=1e-9)
    assert ssim(a, b) < 0.9


def test_mismatched_shapes_and_empty_masks_are_refused():
    a = _texture()
    with pytest.raises(SettingsError, match="shape"):
        ssim(a, a[:50])
    with pytest.raises(SettingsError, match="no pixel"):
        gmsd(a, a, np.zeros(a.shape[:2], np.float32))
