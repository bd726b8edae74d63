"""engine.geometry.fingerprint and the track checks built on it: what matches a plate and what
does not, measured on the sample plates (the figures quoted in the module doc)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.geometry import fingerprint as fp
from engine.geometry.align import mean_face
from engine.geometry.track import FACE_SHAPE_LIMIT, face_shape
from engine.io import read_image


@pytest.fixture(scope="module")
def frame(plate_pattern):
    return read_image(plate_pattern.replace("####", "1001")).pixels


def _thumb(px, origin=(0, 0), size=(880, 720)):
    return fp.thumbnail(px, (0, 0, *size), origin)


def test_a_reencoded_proxy_denoised_or_noisy_plate_still_matches(frame):
    ref = _thumb(frame)
    proxy = cv2.resize(frame, (440, 360), interpolation=cv2.INTER_AREA)
    noisy = frame + np.random.default_rng(0).normal(0, 0.02, frame.shape).astype(np.float32)
    for name, other in [("half", _thumb(frame.astype(np.float16).astype(np.float32))),
                        ("proxy", fp.thumbnail(proxy, (0, 0, 440, 360))),
                        ("denoise", _thumb(cv2.GaussianBlur(frame, (0, 0), 2))),
                        ("noise", _thumb(noisy))]:
        assert fp.distance(ref, other) < 1.0, name


def test_another_shot_and_a_regrade_do_not_match(frame, samples):
    other = read_image(samples / "plate_cap12" / "cap12.1001.exr").pixels
    ref = _thumb(frame)
    assert fp.distance(ref, fp.thumbnail(other, (0, 0, 800, 600))) > 10 * fp.TOLERANCE
    assert fp.distance(ref, _thumb(frame * 2 ** 0.5)) > fp.TOLERANCE  # half a stop brighter
    assert fp.distance(ref, _thumb(frame[:, ::-1])) > fp.TOLERANCE  # flopped


def test_overscan_and_offset_data_windows_sample_the_same_display_pixels(frame):
    ref = _thumb(frame)
    overscan = np.pad(frame, ((20, 20), (20, 20), (0, 0)))
    assert fp.distance(ref, fp.thumbnail(overscan, (0, 0, 880, 720), (-20, -20))) == 0
    crop = frame[100:600, 50:800]
    black = np.zeros_like(frame)
    black[100:600, 50:800] = crop
    assert fp.distance(_thumb(black), fp.thumbnail(crop, (0, 0, 880, 720), (50, 100))) == 0
    flipped_rows = frame[::-1]  # a bottom-up host buffer seen top-down: any strides work
    assert fp.distance(ref, _thumb(flipped_rows[::-1])) == 0


def test_only_the_cells_the_pixels_cover_are_compared(frame):
    ref = _thumb(frame)
    roi = frame[300:720, 440:880]  # a host's region of interest: the lower right quarter
    cells = fp.covered((0, 0, 880, 720), (440, 300), roi.shape)
    assert cells.sum() == 16 and cells[5:, 4:].all()
    part = fp.thumbnail(roi, (0, 0, 880, 720), (440, 300))
    assert fp.distance(ref, part, cells) == 0
    assert fp.distance(ref, part) > fp.TOLERANCE  # the uncovered cells read black


def test_non_finite_pixels_follow_the_one_rule(frame):
    bad = frame.copy()
    bad[:50, :50] = np.nan
    bad[60:70, :50] = np.inf
    fixed = np.nan_to_num(bad, nan=0.0, posinf=1.0, neginf=0.0)
    assert np.array_equal(_thumb(bad), _thumb(fixed))


def test_hex_round_trip_and_bad_text(frame):
    t = _thumb(frame)
    assert np.array_equal(fp.decode(fp.encode(t), "x"), t)
    for bad in ("zz" * 64, "00" * 3, 7, None):
        with pytest.raises(ValueError, match="fingerprint"):
            fp.decode(bad, "track.json: frame 1001")


def test_detected_faces_are_face_shaped_shuffled_points_are_not(plate_pattern, analyzer):
    rng = np.random.default_rng(0)
    for f in (1001, 1060, 1120):
        px = read_image(plate_pattern.replace("####", str(f))).pixels
        lm = analyzer.analyze(np.ascontiguousarray(px[..., :3]))[0].landmarks
        error, size = face_shape(lm)
        assert error < FACE_SHAPE_LIMIT / 3 and size > 20
        assert face_shape(lm * 0.2 + 7)[0] == pytest.approx(error, abs=1e-4)  # shape kept
        assert face_shape(lm[rng.permutation(68)])[0] > FACE_SHAPE_LIMIT
    assert face_shape(np.zeros((68, 2)))[1] < 1e-6  # collapsed: no face at all
    assert face_shape(mean_face() * 100)[0] < 1e-6


def test_a_one_channel_plate_is_its_luma(frame):
    grey = np.ascontiguousarray(frame[..., 1:2])
    assert fp.distance(_thumb(grey), _thumb(np.repeat(grey, 3, axis=2))) == 0


def test_an_odd_plate_record_never_crashes_the_landmark_rules():
    from engine.geometry.track import Track
    from engine.types import Detection, Face

    lm = (mean_face() * 100 + 50).astype(np.float32)
    face = Face(Detection((40, 40, 160, 180), 0.9, "test"), lm, "test", (0.0, 0.0, 0.0))
    for plate in ("x", {"display_window": "abc"}, {"display_window": [0, 0, "a", 1]}, None):
        Track({1: face}, settings={"plate": plate}).check_entry(1, None, "t.json")
