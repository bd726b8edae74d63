"""DeepFaceLab-behaviour colour modes (`*-dfl`): what they share with ours and where they differ."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.swap.color_transfer import idt, idt_dfl, mix_dfl, rct, rct_dfl, sot_dfl


def _images():
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.random((64, 64, 3)).astype(np.float32), (0, 0), 3)
    src = np.clip(0.3 + 0.8 * (base - base.mean()) + [0.1, 0.0, -0.05], 0, 1).astype(np.float32)
    tgt = np.clip(0.45 + 0.5 * (np.roll(base, 7, 0) - base.mean()) + [-0.05, 0.03, 0.08],
                  0, 1).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[8:56, 12:52] = 1
    return src, tgt, mask


def _lab_stats(img, mask):
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[mask > 0.5]
    return lab.mean(0), lab.std(0)


def test_rct_dfl_equals_rct_when_the_mask_covers_the_crop():
    src, tgt, _ = _images()
    full = np.ones(src.shape[:2], np.float32)
    np.testing.assert_allclose(rct_dfl(src, tgt, full, full), rct(src, tgt), atol=1e-4)


def test_masked_rct_matches_the_face_statistics_and_dfls_zero_fill_does_not():
    src, tgt, mask = _images()
    want_mean, want_std = _lab_stats(tgt, mask)
    ours_mean, ours_std = _lab_stats(rct(src, tgt, mask, mask), mask)
    dfl_mean, _ = _lab_stats(rct_dfl(src, tgt, mask, mask), mask)
    np.testing.assert_allclose(ours_mean, want_mean, atol=0.3)
    np.testing.assert_allclose(ours_std, want_std, rtol=0.05)
    # Zero-filled statistics only partly move the mean: the black outside counts as face.
    assert np.abs(dfl_mean - want_mean).max() > 1.0


def test_idt_dfl_goes_two_thirds_of_the_way_where_ours_goes_all_the_way():
    # Target = source translated in RGB. Every 1-D match of a translated distribution is that
    # translation, so each of DFL's 20 steps relaxed by 1/20 removes 1/20 of what is left:
    # 1 - 0.95**20 = 64% of the shift after 20 rotations. Ours takes full steps: 100%.
    src, _, _ = _images()
    src = 0.2 + 0.5 * src
    shift = np.array([0.06, -0.04, 0.05], np.float32)
    tgt = src + shift
    moved_dfl = (idt_dfl(src, tgt).mean((0, 1)) - src.mean((0, 1))) / shift
    moved_ours = (idt(src, tgt).mean((0, 1)) - src.mean((0, 1))) / shift
    np.testing.assert_allclose(moved_dfl, 1 - 0.95**20, atol=0.03)
    np.testing.assert_allclose(moved_ours, 1.0, atol=0.03)


def test_sot_dfl_change_is_smooth_because_it_is_regularised():
    src, tgt, _ = _images()
    out = sot_dfl(src, tgt)
    assert np.abs(out.mean((0, 1)) - tgt.mean((0, 1))).max() < 0.03
    change = out - src
    # The bilateral regularisation leaves a low-frequency change field: little high-pass energy.
    hp = change - cv2.GaussianBlur(change, (0, 0), 2)
    assert np.abs(hp).mean() < 0.1 * np.abs(change).mean()


def test_mix_dfl_takes_lightness_from_the_target():
    src, tgt, _ = _images()
    full = np.ones(src.shape[:2], np.float32)
    out_l = _lab_stats(mix_dfl(src, tgt), full)[0][0]
    assert out_l == pytest.approx(_lab_stats(tgt, full)[0][0], abs=1.5)


def test_rct_local_removes_a_regional_cast_that_global_rct_keeps():
    # The swap has a green-blue patch (a "brow") the plate does not: global statistics match,
    # the patch stays; the local chroma match removes more than half of it (the smoothing scale
    # is about half the band's height, so part of it survives).
    from engine.swap.color_transfer import rct_local

    rng = np.random.default_rng(3)
    plate = np.clip(np.full((96, 96, 3), [0.75, 0.55, 0.45]) + 0.02 * rng.standard_normal(
        (96, 96, 3)), 0, 1).astype(np.float32)
    swap = plate.copy()
    swap[20:36, 20:76] += np.array([-0.06, 0.0, 0.04], np.float32)  # teal-ish band
    mask = np.ones((96, 96), np.float32)
    band = np.zeros((96, 96), np.float32)
    band[22:34, 24:72] = 1

    def cast(img):
        return np.abs(_lab_stats(img, band)[0][1:] - _lab_stats(plate, band)[0][1:]).sum()

    assert cast(rct(swap, plate, mask, mask)) > 4.0
    assert cast(rct_local(swap, plate, mask, mask)) < 0.5 * cast(rct(swap, plate, mask, mask))


def test_rct_local_keeps_the_swaps_lightness_contrast_and_matches_its_mean():
    """The statistics ring's L* spread is the face edge's shading: rct scales the whole face's
    contrast by it, rct-local keeps the swap's own (eyes, mouth, detail) and still takes the
    target's mean lightness and colour."""
    import cv2

    from engine.swap.color_transfer import rct, rct_local

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:64, 0:64] / 64.0
    src = np.clip(0.45 + 0.25 * np.sin(8 * x)[..., None] + 0.02 * rng.random((64, 64, 3)),
                  0, 1).astype(np.float32)  # strong detail
    tgt = np.clip(np.array([0.62, 0.48, 0.38]) + 0.05 * np.sin(8 * x)[..., None],
                  0, 1).astype(np.float32)  # flat, warm
    lab = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2LAB)  # noqa: E731
    l_src, l_tgt = lab(src)[..., 0], lab(tgt)[..., 0]
    flat, kept = lab(rct(src, tgt))[..., 0], lab(rct_local(src, tgt))[..., 0]
    assert flat.std() == pytest.approx(l_tgt.std(), rel=0.05)  # rct: the target's spread
    assert kept.std() == pytest.approx(l_src.std(), rel=0.05)  # rct-local: the swap's own
    assert kept.mean() == pytest.approx(l_tgt.mean(), abs=1.0)  # both: the target's mean
