"""Temporal jitter measures against the plate, on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluate.head_pose import project_head
from engine.evaluate.temporal import (
    color_jitter,
    edge_distance,
    landmark_jitter,
    mean_color,
    worst_frames,
)
from engine.geometry.face_measures import inter_ocular


def test_a_render_that_follows_the_plate_with_a_constant_offset_does_not_jitter():
    p0 = project_head((0.0, 0.0, 0.0), (640, 480))
    p1 = p0 + np.array([7.0, -3.0])  # the face moves
    offset = np.array([2.0, 1.0])  # the render is off, but steadily
    got = landmark_jitter(p0, p1, p0 + offset, p1 + offset, inter_ocular(p1))
    assert got == pytest.approx(0.0, abs=1e-12)


def test_known_landmark_wobble_gives_its_amplitude_over_inter_ocular_distance():
    p = project_head((0.0, 0.0, 0.0), (640, 480))
    iod = inter_ocular(p)
    # Render wobbles +1.5 px then -1.5 px horizontally around the (static) plate: Δ = 3 px.
    got = landmark_jitter(p, p, p + [1.5, 0.0], p - [1.5, 0.0], iod)
    assert got == pytest.approx(3.0 / iod)


def test_colour_flicker_is_the_change_of_the_render_minus_plate_colour():
    plate0, plate1 = np.array([0.5, 0.4, 0.3]), np.array([0.6, 0.5, 0.4])  # light changes
    assert color_jitter(plate0, plate1, plate0 + 0.02, plate1 + 0.02) == pytest.approx(0.0)
    got = color_jitter(plate0, plate1, plate0, plate1 + np.array([0.0, 0.0, 4 / 255]))
    assert got == pytest.approx(4.0)


def test_mean_color_averages_inside_the_mask_only():
    img = np.zeros((4, 4, 3))
    img[:2] = [1.0, 0.5, 0.0]
    mask = np.zeros((4, 4))
    mask[:2] = 1
    np.testing.assert_allclose(mean_color(img, mask), [1.0, 0.5, 0.0])


@pytest.mark.parametrize("shift", [0, 1, 3, 6])
def test_edge_distance_of_a_straight_edge_is_its_shift(shift):
    a = np.zeros((64, 64), np.float32)
    a[:, :30] = 1
    b = np.zeros_like(a)
    b[:, :30 + shift] = 1
    assert edge_distance(a, b) == pytest.approx(shift, abs=1e-3)


def test_edge_distance_is_nan_without_an_edge():
    full = np.ones((16, 16), np.float32)
    assert np.isnan(edge_distance(full, np.zeros_like(full)))


def test_worst_frames_are_listed_worst_first_and_skip_nan():
    frames = [1001, 1002, 1003, 1004]
    assert worst_frames(frames, [0.1, np.nan, 0.5, 0.3], k=2) == [(1003, 0.5), (1004, 0.3)]
    assert worst_frames(frames, [0.9, 0.2, np.nan, 0.4], k=1, higher_is_worse=False) == [
        (1002, 0.2)]
