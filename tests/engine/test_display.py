"""engine.io.display: the display encoding and linear regions made from a frame as stored are
the float path's values, bit for bit, for every code and half value and every kind of source."""

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.io import open_source, write_exr, write_image
from engine.io.colorspace import srgb_to_linear, to_display_uint8
from engine.io.display import (
    DisplayFrame,
    code_to_display,
    code_to_linear,
    codes_are_display,
    half_to_display,
)
from engine.io.finite import finite_rgb


def _oiio_unit(bits):
    side = 16 if bits == 8 else 256
    kind = "uint8" if bits == 8 else "uint16"
    codes = np.arange(1 << bits, dtype=np.uint8 if bits == 8 else np.uint16)
    buf = oiio.ImageBuf(oiio.ImageSpec(side, side, 1, kind))
    buf.set_pixels(oiio.ROI(0, side, 0, side, 0, 1, 0, 1), codes.reshape(side, side, 1))
    return np.asarray(buf.get_pixels("float"), np.float32).reshape(-1)


@pytest.mark.parametrize("bits", [8, 16])
def test_code_tables_are_the_float_paths_values_for_every_code(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, (300, 500, 3)).astype(np.uint8 if bits == 8 else np.uint16)
    # The float path in place: OpenImageIO's scaling of the codes, then srgb_to_linear.
    lin = srgb_to_linear(_oiio_unit(bits)[codes])
    assert np.array_equal(code_to_linear(bits, "oiio")[codes], lin)
    assert np.array_equal(code_to_display(bits, "oiio")[codes], to_display_uint8(lin))
    video = srgb_to_linear(codes.astype(np.float32) / float((1 << bits) - 1))
    assert np.array_equal(code_to_linear(bits, "divide")[codes], video)
    assert codes_are_display("oiio") and codes_are_display("divide")  # 8-bit codes pass as is


def test_half_table_is_to_display_uint8_of_every_half_nan_and_inf_included():
    rng = np.random.default_rng(0)
    halves = rng.integers(0, 1 << 16, (400, 600, 3), dtype=np.uint16)
    halves[0, :6, 0] = [0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE01, 0x0001]  # ±Inf, NaNs, subnormal
    wide = halves.view(np.float16).astype(np.float32)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(half_to_display()[halves], to_display_uint8(finite_rgb(wide)[0]))


def _sources(tmp, samples):
    rng = np.random.default_rng(3)
    lin = rng.uniform(-0.1, 2.0, (40, 56, 3)).astype(np.float32)
    lin[3, 4] = [np.nan, np.inf, -np.inf]
    write_exr(tmp / "half.1.exr", lin, ("R", "G", "B"))
    write_exr(tmp / "float.1.exr", lin, ("R", "G", "B"), half=False)
    write_exr(tmp / "rgba.1.exr", np.dstack([lin, lin[..., :1]]), ("R", "G", "B", "A"))
    write_image(tmp / "a16.png", rng.random((40, 56, 3)).astype(np.float32), bits=16)
    write_image(tmp / "grey.png", rng.random((40, 56, 1)).astype(np.float32))
    return [str(tmp / "half.#.exr"), str(tmp / "float.#.exr"), str(tmp / "rgba.#.exr"),
            str(tmp / "a16.png"), str(tmp / "grey.png"), str(samples / "photos"),
            str(samples / "plate" / "plate.####.exr"), str(samples / "clip" / "franck.mp4")]


def test_display_frames_of_every_source_kind_equal_the_float_frames(tmp_path, samples):
    box = (5, 7, 40, 30)
    for spec in _sources(tmp_path, samples):
        src = open_source(spec)
        frames = src.frames[:2]
        for ref, got in zip(src.read(frames), src.read_display(frames), strict=True):
            rgb = finite_rgb(ref.rgb)[0]
            assert got.number == ref.number and got.nonfinite == ref.nonfinite, spec
            assert np.array_equal(got.srgb8, to_display_uint8(rgb)), spec
            assert np.array_equal(got.linear(), rgb), spec
            assert np.array_equal(got.linear(box), rgb[7:30, 5:40]), spec


def test_a_float_frame_converts_by_the_functions_themselves():
    rgb = np.linspace(-1, 3, 2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    rgb[0, 0, 0] = np.nan
    frame = DisplayFrame(1, rgb, "x")
    assert frame.nonfinite == 1
    assert np.array_equal(frame.srgb8, to_display_uint8(finite_rgb(rgb)[0]))
    assert np.array_equal(frame.linear((1, 0, 3, 2)), finite_rgb(rgb)[0][0:2, 1:3])


def test_nonfinite_count_of_half_pixels_is_numpy_s_for_every_bit_pattern():
    """Half pixels are counted on their bits (exponent all ones): the same count as
    `np.isfinite` for all 65,536 patterns, strided views included."""
    from engine.io.finite import count_nonfinite

    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    assert count_nonfinite(every) == every.size - np.count_nonzero(np.isfinite(every)) == 2048
    view = every.reshape(256, 256)[:, 1::3]
    assert count_nonfinite(view) == view.size - np.count_nonzero(np.isfinite(view))
    assert count_nonfinite(np.ones((4, 4, 3), np.float16)) == 0
