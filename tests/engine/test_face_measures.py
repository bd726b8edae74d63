"""Landmark distance, mouth/eye opening and correlation on synthetic faces with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluate.head_pose import project_head
from engine.geometry.face_measures import (
    correlation,
    eye_opening,
    inter_ocular,
    landmark_distance,
    mouth_opening,
)


def _face() -> np.ndarray:
    return project_head((0.0, 0.0, 0.0), (640, 480))


def test_identical_landmarks_have_distance_zero():
    lm = _face()
    assert landmark_distance(lm, lm) == 0.0


def test_known_shift_gives_shift_over_inter_ocular_distance():
    lm = _face()
    iod = inter_ocular(lm)
    assert landmark_distance(lm, lm + np.array([3.0, 4.0])) == pytest.approx(5.0 / iod)


def test_known_rotation_gives_the_chord_length_over_inter_ocular_distance():
    lm = _face()
    c = lm.mean(axis=0)
    t = np.radians(10.0)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    turned = (lm - c) @ rot.T + c
    radius = np.linalg.norm(lm - c, axis=1)
    expected = (2 * np.sin(t / 2) * radius).mean() / inter_ocular(lm)
    assert landmark_distance(lm, turned) == pytest.approx(expected, rel=1e-9)


def test_mouth_opening_is_the_inner_lip_gap_over_inter_ocular_distance():
    lm = _face()
    lower = [65, 66, 67]
    for up, low in ((61, 67), (62, 66), (63, 65)):
        lm[low] = lm[up]  # lips closed
    assert mouth_opening(lm) == pytest.approx(0.0, abs=1e-9)
    lm[lower] += np.array([0.0, 12.0])
    assert mouth_opening(lm) == pytest.approx(12.0 / inter_ocular(lm))


def test_eye_opening_is_the_eye_aspect_ratio():
    lm = _face()
    for eye in (range(36, 42), range(42, 48)):
        i = list(eye)
        lm[i[0]], lm[i[3]] = (0, 0), (30, 0)  # corners 30 px apart
        lm[i[1]], lm[i[2]] = (10, -6), (20, -6)  # upper lid
        lm[i[5]], lm[i[4]] = (10, 3), (20, 3)  # lower lid
    assert eye_opening(lm) == pytest.approx((9 + 9) / (2 * 30))


def test_correlation_is_one_for_following_minus_one_for_opposing_nan_for_frozen():
    rng = np.random.default_rng(0)
    plate = rng.random(50)
    assert correlation(plate, 0.5 * plate + 0.1) == pytest.approx(1.0)
    assert correlation(plate, 1.0 - plate) == pytest.approx(-1.0)
    # A swap that always smiles (frozen mouth) has no correlation to report.
    assert np.isnan(correlation(plate, np.full(50, 0.3)))
    assert np.isnan(correlation(plate[:2], plate[:2]))
