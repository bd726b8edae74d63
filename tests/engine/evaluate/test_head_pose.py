"""Pose fit on expression-free points: known rotations, and an open mouth is not a head turn."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluate.head_pose import (
    SIX_POINTS,
    fit_pose,
    pose_difference,
    project_head,
    rigid_pose,
)
from engine.geometry.pose import estimate_pose, mean_shape_3d

SIZE = (1280, 720)


@pytest.mark.parametrize("pose", [(0.0, 0.0, 0.0), (10.0, -20.0, 5.0), (-15.0, 30.0, -10.0)])
def test_known_rotation_is_recovered(pose):
    lm = project_head(pose, SIZE)
    got = rigid_pose(lm, SIZE)
    assert pose_difference(got, pose) < 0.5, got


def test_pose_difference_is_euclidean_in_degrees():
    assert pose_difference((1.0, 2.0, 2.0), (0.0, 0.0, 0.0)) == pytest.approx(3.0)


def _open_mouth(degrees: float) -> np.ndarray:
    """The 3D mean head with the jaw (mandible: jaw line 2-14, lower lips) rotated open about
    the jaw hinge, level with the ears."""
    shape = mean_shape_3d().copy()
    lower = list(range(2, 15)) + list(range(55, 60)) + [65, 66, 67]
    hinge = np.array([0.0, shape[1, 1], 90.0])  # level with the top of the jaw, at ear depth
    t = np.radians(degrees)
    # Opening drops the chin: rotate in the y-z plane about the hinge (x axis).
    rot = np.array([[1, 0, 0], [0, np.cos(t), np.sin(t)], [0, -np.sin(t), np.cos(t)]])
    shape[lower] = (shape[lower] - hinge) @ rot.T + hinge
    return shape


@pytest.mark.parametrize("pose", [(0.0, 0.0, 0.0), (5.0, 25.0, 0.0)])
def test_open_mouth_is_not_read_as_a_head_turn(pose):
    closed = project_head(pose, SIZE)
    opened = project_head(pose, SIZE, shape=_open_mouth(15.0))
    assert np.linalg.norm(opened[8] - closed[8]) > 10  # the chin really moved
    ours = pose_difference(rigid_pose(closed, SIZE), rigid_pose(opened, SIZE))
    six = pose_difference(fit_pose(closed, SIZE, SIX_POINTS), fit_pose(opened, SIZE, SIX_POINTS))
    all68 = pose_difference(estimate_pose(closed, SIZE), estimate_pose(opened, SIZE))
    assert ours < 0.05
    # The fits that include the chin and lips read the open mouth as a head rotation.
    assert six > 3.0 and all68 > 0.3, (six, all68)
