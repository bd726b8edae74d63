import numpy as np

from engine.io.colorspace import linear_to_srgb, srgb_to_linear, to_display_uint8


def test_srgb_roundtrip_over_the_whole_float_range():
    x = np.array([-2.0, -0.01, 0.0, 0.002, 0.01, 0.18, 0.5, 1.0, 4.0, 100.0], np.float32)
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x)), x, rtol=1e-5, atol=1e-7)


def test_srgb_known_values():
    np.testing.assert_allclose(linear_to_srgb(np.float32(0.18)), 0.4614, atol=1e-4)
    np.testing.assert_allclose(srgb_to_linear(np.float32(0.5)), 0.21404, atol=1e-5)


def test_display_uint8_clips_and_removes_nonfinite():
    img = np.array([[[np.nan, np.inf, -1.0]], [[2.0, 0.18, 1.0]]], np.float32)
    out = to_display_uint8(img)
    assert out.dtype == np.uint8
    assert out.tolist() == [[[0, 255, 0]], [[255, 118, 255]]]
