"""Colour transfer and blending on real face crops; known answers for the blend equations."""

import numpy as np
import pytest

from engine.errors import SettingsError
from engine.geometry.align import align_matrix, transform_points, warp_to_crop
from engine.io.colorspace import linear_to_srgb
from engine.swap.blend import motion_blur, overlay, seamless, sharpen
from engine.swap.color_transfer import TRANSFERS, color_transfer
from engine.swap.mask import hull_mask


@pytest.fixture(scope="module")
def crops(photo_srgb, analyzer, plate_faces, plate_pattern):
    """(source crop, target crop, target mask): an Obama photo face and a plate face, 128 px."""
    from engine.io import open_source

    img = photo_srgb("obama.jpg").astype(np.float32) / 255.0
    lm = analyzer.analyze_srgb(photo_srgb("obama.jpg"))[0].landmarks
    src = warp_to_crop(img, align_matrix(lm, 128), 128)
    frame = next(iter(open_source(plate_pattern).read([1010])))
    lm_t = plate_faces[1010][0].landmarks
    m = align_matrix(lm_t, 128)
    tgt = np.clip(linear_to_srgb(warp_to_crop(frame.rgb, m, 128)), 0, 1)
    mask = hull_mask(transform_points(lm_t, m), (128, 128))
    return np.clip(src, 0, 1), tgt, mask


def stats(img, mask):
    px = img.reshape(-1, 3)[mask.reshape(-1) > 0.5]
    return px.mean(0), px.std(0)


@pytest.mark.parametrize("mode", list(TRANSFERS))
def test_color_modes_move_the_face_statistics_toward_the_target(mode, crops):
    src, tgt, mask = crops
    out = color_transfer(mode, src, tgt, mask, mask)
    (ms, ss), (mt, st), (mo, so) = stats(src, mask), stats(tgt, mask), stats(out, mask)
    before = np.abs(ms - mt).sum() + np.abs(ss - st).sum()
    after = np.abs(mo - mt).sum() + np.abs(so - st).sum()
    assert after < 0.5 * before, (mode, before, after)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_none_is_identity_and_unknown_mode_is_named(crops):
    src, tgt, mask = crops
    assert color_transfer("none", src, tgt) is src
    with pytest.raises(SettingsError, match="colour transfer 'pink' unknown"):
        color_transfer("pink", src, tgt)


def test_overlay_is_equation_1_exactly():
    rng = np.random.default_rng(0)
    t, f = rng.normal(0, 3, (2, 16, 16, 3)).astype(np.float32)
    m = rng.uniform(0, 1, (16, 16)).astype(np.float32)
    np.testing.assert_array_equal(overlay(t, f, m), m[..., None] * f + (1 - m[..., None]) * t)
    np.testing.assert_array_equal(overlay(t, f, np.zeros((16, 16), np.float32)), t)


def test_seamless_is_continuous_at_the_boundary_and_keeps_face_detail(crops):
    src, tgt, mask = crops
    hard = (mask > 0.5).astype(np.float32)
    ov = overlay(tgt, src, hard)
    sl = seamless(tgt, src, hard)
    inside = hard > 0.5
    edge = inside & ~np.pad(inside, 1)[2:, 1:-1]  # inside pixels with an outside pixel below
    edge[-1] = False
    ys, xs = np.nonzero(edge)

    def jump(img):
        return np.abs(img[ys, xs] - img[ys + 1, xs]).mean()

    # The overlay shows the colour step between face and plate; seamless leaves only the
    # gradients both images have there.
    assert jump(sl) < 0.5 * jump(ov)
    assert jump(sl) < 1.5 * max(jump(src), jump(tgt))
    # Interior detail comes from the face: gradients match the source's.
    gy_src, gy_sl = np.diff(src, axis=0)[40:80, 40:80], np.diff(sl, axis=0)[40:80, 40:80]
    assert np.abs(gy_src - gy_sl).mean() < 0.01
    assert np.array_equal(sl[~inside], tgt[~inside])


def test_sharpen_and_motion_blur_are_no_ops_at_zero():
    img = np.random.default_rng(1).random((32, 32, 3), np.float32)
    assert sharpen(img, 0.0) is img
    assert motion_blur(img, (0.2, 0.1)) is img
    blurred = motion_blur(img, (8.0, 0.0))
    # Blurred along x: gradients along x shrink far more than those along y.
    assert np.diff(blurred, axis=1).std() < 0.5 * np.diff(blurred, axis=0).std()


def test_in_place_overlay_is_equation_1():
    from engine.swap.blend import overlay_into

    rng = np.random.default_rng(3)
    t, f = rng.normal(0, 3, (2, 8, 8, 3)).astype(np.float32)
    m = rng.uniform(0, 1, (8, 8)).astype(np.float32)
    np.testing.assert_allclose(overlay_into(f.copy(), t, m), overlay(t, f, m), atol=1e-5)
