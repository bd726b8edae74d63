"""Sign-off measures and checks (engine/evaluate/signoff.py, acceptance.py): known answers on
constructed faces (a seam, a fringe, a blurred face, a closed mouth, dead eyes, bad pixels), and
the plate against itself passing every check."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.errors import SettingsError
from engine.evaluate import signoff as so
from engine.evaluate.acceptance import Limits, WorstTiles, failed, signoff_checks
from engine.evaluate.shot import FrameResult, ShotResult
from engine.geometry.align import mean_face
from engine.io.colorspace import linear_to_srgb, srgb_to_linear
from engine.swap.mask import hull_mask, refine_mask

SIZE = 240


@pytest.fixture(scope="module")
def face():
    """A constructed plate face: skin with fine texture, dark open mouth, eyes with dark
    irises and a catchlight; its landmarks (the mean face, IOD ≈ 110 px) and a feathered
    hull mask as a render would carry."""
    lm = (mean_face() * 90 + [75, 60]).astype(np.float32)
    rng = np.random.default_rng(0)
    srgb = np.empty((SIZE, SIZE, 3), np.float32)
    srgb[:] = (0.78, 0.58, 0.47)  # skin
    srgb += rng.normal(0, 0.03, (SIZE, SIZE, 1)).astype(np.float32)  # pores: luminance texture
    mouth = so.inner_mouth(_open_mouth(lm), (SIZE, SIZE))
    srgb[mouth] = (0.12, 0.05, 0.05)
    for idx in so.EYES:
        eye = so._polygon(lm[idx], (SIZE, SIZE))
        ys, xs = np.nonzero(eye)
        cx, cy = xs.mean(), ys.mean()
        srgb[eye] = (0.85, 0.85, 0.85)  # sclera
        cv2.circle(srgb, (int(cx), int(cy)), 4, (0.15, 0.2, 0.3), -1)  # iris
        srgb[int(cy) - 1, int(cx) - 1] = (1.0, 1.0, 1.0)  # catchlight
    plate = srgb_to_linear(np.clip(srgb, 0, 1))
    mask = refine_mask(hull_mask(lm, (SIZE, SIZE)), 0.0, 8.0, 1.0)
    return plate, _open_mouth(lm), mask


def _open_mouth(lm: np.ndarray) -> np.ndarray:
    """The mean face with its inner lips 16 px apart (an open mouth)."""
    out = lm.copy()
    out[65:68, 1] += 8
    out[61:64, 1] -= 8
    return out


def _with_lab(plate_linear: np.ndarray, where: np.ndarray, dlab) -> np.ndarray:
    lab = so.lab(linear_to_srgb(plate_linear))
    lab[where] += np.asarray(dlab, np.float32)
    return srgb_to_linear(np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0, 1))


def test_the_plate_against_itself_measures_zero_differences_and_unit_ratios(face):
    plate, lm, mask = face
    v = so.measure_frame(plate, plate, mask, lm).values
    assert v["seam"] == 0.0 and v["fringe"] == 0.0
    assert v["sharpness"] == 1.0 and v["eye_contrast"] == 1.0
    assert v["mouth_dark_render"] == v["mouth_dark_plate"] > 0.9
    assert v["teeth_render"] == v["teeth_plate"]
    assert v["bad_negative"] == v["bad_nonfinite"] == 0


def test_a_uniform_lab_offset_inside_the_mask_reads_as_that_seam_on_every_segment(face):
    plate, lm, mask = face
    render = _with_lab(plate, mask >= 0.5, (-4.0, 0.0, 2.0))
    steps = so.seam(so.lab(linear_to_srgb(plate)), so.lab(linear_to_srgb(render)), mask, lm, 11.0)
    assert set(steps) == set(so.SEGMENTS)
    for name, d in steps.items():
        assert d[0] == pytest.approx(-4.0, abs=0.3), name
        assert d[2] == pytest.approx(2.0, abs=0.3), name


def test_a_darker_band_inside_the_mask_top_is_a_top_seam_only(face):
    plate, lm, mask = face
    seg = so.segment_map(lm, mask.shape)
    render = _with_lab(plate, (mask >= 0.5) & (seg == 0), (-4.0, 0.0, 0.0))
    v = so.measure_frame(plate, render, mask, lm).values
    assert v["seam_top_L"] == pytest.approx(-4.0, abs=0.3)
    for name in so.SEGMENTS[1:]:
        assert abs(v[f"seam_{name}_L"]) < 0.2, name
    assert v["seam"] == pytest.approx(4.0, abs=0.3)


def test_a_violet_feather_on_the_image_right_jaw_is_a_fringe_there(face):
    plate, lm, mask = face
    seg = so.segment_map(lm, mask.shape)
    ring = (mask > 0.05) & (mask < 0.95)
    render = _with_lab(plate, ring & (seg == so.SEGMENTS.index("jaw-right")), (0.0, 3.0, -6.0))
    v = so.measure_frame(plate, render, mask, lm).values
    assert v["fringe_jaw-right_b"] == pytest.approx(-6.0, abs=0.4)
    assert v["fringe_jaw-right_a"] == pytest.approx(3.0, abs=0.4)
    assert abs(v["fringe_jaw-left_b"]) < 0.1 and abs(v["fringe_top_b"]) < 0.1
    assert v["fringe"] == pytest.approx(np.hypot(3.0, 6.0), abs=0.5)


def test_segments_follow_the_face_not_the_image_axes(face):
    _plate, lm, _mask = face
    seg = so.segment_map(lm, (SIZE, SIZE))
    brow = lm[19].astype(int)
    assert seg[brow[1] - 15, brow[0]] == 0  # above a brow: top
    assert seg[int(lm[8, 1]) - 3, int(lm[8, 0]) + 5] == so.SEGMENTS.index("jaw-right")
    # rotate the face by 90°: the top is now on the image's left, still "top"
    rot = np.stack([lm[:, 1], SIZE - 1 - lm[:, 0]], 1)
    seg_r = so.segment_map(rot, (SIZE, SIZE))
    x, y = brow[1] - 15, SIZE - 1 - brow[0]
    assert seg_r[y, x] == 0


def test_a_blurred_face_loses_sharpness_in_proportion(face):
    plate, lm, mask = face
    soft = cv2.GaussianBlur(plate, (0, 0), 1.5)
    v = so.measure_frame(plate, soft, mask, lm).values
    assert v["sharpness"] < 0.5
    softer = so.measure_frame(plate, cv2.GaussianBlur(plate, (0, 0), 3.0), mask, lm).values
    assert softer["sharpness"] < v["sharpness"]


def test_a_closed_smiling_mouth_over_an_open_one_has_no_dark_interior_and_no_teeth(face):
    plate, lm, mask = face
    lips = so.inner_mouth(lm, (SIZE, SIZE))
    render = plate.copy()
    render[lips] = srgb_to_linear(np.array([0.8, 0.46, 0.42], np.float32))  # lips, no gap
    v = so.measure_frame(plate, render, mask, lm).values
    assert v["mouth_dark_plate"] > 0.9 and v["mouth_dark_render"] == 0.0
    teeth = plate.copy()
    teeth[lips] = srgb_to_linear(np.array([0.95, 0.93, 0.88], np.float32))  # white teeth
    t = so.measure_frame(plate, teeth, mask, lm).values
    assert t["teeth_render"] > v["teeth_plate"] + 20 > v["teeth_render"] + 20


def test_eyes_without_iris_or_catchlight_lose_their_contrast(face):
    plate, lm, mask = face
    dead = plate.copy()
    for idx in so.EYES:
        dead[so._polygon(lm[idx], (SIZE, SIZE))] = srgb_to_linear(
            np.array([0.45, 0.35, 0.3], np.float32))
    v = so.measure_frame(plate, dead, mask, lm).values
    assert v["eye_contrast"] < 0.1


def test_negative_and_nonfinite_render_values_are_counted_only_where_the_plate_has_none():
    plate = np.full((4, 4, 3), 0.2, np.float32)
    plate[0, 0, 0] = -0.5  # the plate's own negative: not the render's fault
    render = plate.copy()
    render[1, 1, 1] = -0.0026
    render[2, 2, 2] = np.nan
    render[0, 0, 0] = -0.7
    assert so.bad_pixels(render, plate) == (1, 1, pytest.approx(-0.0026))
    assert so.bad_pixels(plate, plate) == (0, 0, 0.0)


def test_flicker_is_the_change_between_consecutive_frames_only():
    out = so.flicker([1001, 1002, 1003, 1005], [1.0, 3.0, 2.5, 9.0])
    assert np.isnan(out[0]) and out[1] == 2.0 and out[2] == 0.5 and np.isnan(out[3])


def test_measures_refuse_regions_of_different_sizes(face):
    plate, lm, mask = face
    with pytest.raises(SettingsError, match="same region"):
        so.measure_frame(plate, plate[:-1], mask, lm)


# -- shot-level checks ------------------------------------------------------------------------
def _shot(values_per_frame: list[dict[str, float]]) -> ShotResult:
    rows = []
    for i, v in enumerate(values_per_frame):
        r = FrameResult(1001 + i, True, True)
        r.values = dict(v)
        rows.append(r)
    return ShotResult("r", [r.frame for r in rows], rows)


def _measured(face, render_of, frames: int = 4):
    plate, lm, mask = face
    out = []
    for i in range(frames):
        v = so.measure_frame(plate, render_of(plate, lm, mask), mask, lm).values
        # mouth geometry as evaluate adds it: plate open; render as open, same width
        v.update(mouth_plate=0.15 + 0.01 * i, mouth_render=0.15 + 0.01 * i,
                 mouth_width_render=v["mouth_width_plate"] + 0.01 * i)
        v["mouth_width_plate"] += 0.01 * i
        out.append(v)
    return _shot(out)


def test_the_plate_against_itself_passes_every_signoff_check(face):
    lines = signoff_checks(_measured(face, lambda p, lm, m: p))
    assert len(lines) == 8 and not failed(lines)
    assert all(line.endswith("ok") for line in lines), lines


def test_each_constructed_defect_fails_exactly_its_own_check(face):
    def band(p, lm, m):
        return _with_lab(p, (m >= 0.5) & (so.segment_map(lm, m.shape) == 0), (-5.0, 0, 0))

    def blur(p, lm, m):  # soft skin; the eyes kept (a blurred eye is a dead eye too)
        out = cv2.GaussianBlur(p, (0, 0), 2.0)
        for idx in so.EYES:
            eye = cv2.dilate(so._polygon(lm[idx], m.shape).astype(np.uint8), np.ones((5, 5)))
            out[eye > 0] = p[eye > 0]
        return out

    cases = {"seam": band, "sharpness": blur}
    for name, make in cases.items():
        lines = signoff_checks(_measured(face, make))
        bad = [line.split(" ")[0] for line in lines if "FAIL" in line]
        assert bad == [name], (name, bad)


def test_a_mouth_that_stays_closed_fails_the_mouth_checks_and_names_the_frames(face):
    shot = _measured(face, lambda p, lm, m: p)
    for r in shot.rows[1:3]:
        r.values["mouth_dark_render"] = 0.3 * r.values["mouth_dark_plate"]
        r.values["mouth_render"] = 0.5 * r.values["mouth_plate"]
    lines = signoff_checks(shot)
    interior = next(line for line in lines if line.startswith("mouth interior"))
    assert interior.endswith("FAIL on 1002-1003")
    shape = next(line for line in lines if line.startswith("mouth shape"))
    assert "FAIL (opening)" in shape


def test_limits_are_judged_per_frame_and_flicker_on_the_mean(face):
    shot = _shot([{"seam": 2.9}, {"seam": 3.1}, {"seam": 2.9}])
    line = next(x for x in signoff_checks(shot) if x.startswith("seam"))
    assert line.endswith("1/3 frames past the limit: FAIL on 1002")
    flick = next(x for x in signoff_checks(shot) if x.startswith("flicker"))
    assert "seam 0.200 ΔE" in flick and flick.endswith("ok")
    jumpy = _shot([{"seam": 0.0}, {"seam": 2.0}, {"seam": 0.0}])
    assert next(x for x in signoff_checks(jumpy)
                if x.startswith("flicker")).endswith("FAIL (seam)")
    assert next(x for x in signoff_checks(jumpy, Limits(flicker={"seam": 3.0, "fringe": 1,
                                                                 "sharpness": 1,
                                                                 "eye_contrast": 1,
                                                                 "mouth_dark": 1}))
                if x.startswith("flicker")).endswith("ok")


def test_worst_tiles_keep_only_the_k_worst_frames_per_check():
    keep = WorstTiles(k=2)
    made = []
    for f, bad in zip(range(1001, 1006), [1.0, 5.0, 3.0, np.nan, 4.0], strict=True):
        keep.offer("seam", bad, f, lambda f=f: made.append(f) or (np.zeros(1), np.zeros(1)))
    assert [f for f, _t in keep.worst("seam")] == [1002, 1005]
    assert 1004 not in made  # NaN: the check did not apply, no tiles were cut


def test_a_render_without_a_mask_is_judged_along_the_default_feather_in_the_renders_units():
    """The stand-in mask (the plate's hull) is feathered as the render's default: face units
    follow the face's size on the plate, plate pixels do not."""
    from engine.evaluate.shot import _plate_px_scale
    from engine.geometry.align import mean_face

    lm = mean_face() * 160 + 200  # a face whose canonical unit is 160 plate pixels
    assert _plate_px_scale("face", lm) == pytest.approx(1.6)  # 1 % of 160 px
    assert _plate_px_scale("face", lm * 2) == pytest.approx(3.2)
    assert _plate_px_scale("px", lm) == pytest.approx(1.0)
