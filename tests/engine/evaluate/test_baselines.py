"""The naive-paste baseline: the aligned square lands on the face, unmasked and uncorrected."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.errors import FacesetError
from engine.evaluate.baselines import nearest_pose_entry, paste_face
from engine.evaluate.head_pose import project_head
from engine.faceset.store import FaceEntry, Faceset
from engine.geometry.align import align_matrix
from engine.io.colorspace import srgb_to_linear


def test_paste_covers_the_aligned_square_with_the_crop_unchanged():
    lm = project_head((0.0, 0.0, 0.0), (640, 480)).astype(np.float32)
    plate = np.zeros((480, 640, 3), np.float32)
    crop = np.full((128, 128, 3), 0.5, np.float32)
    out, mask = paste_face(plate, lm, crop, "full")
    inside = mask > 0.999
    # The square's area in the plate is (crop side / scale)².
    scale = np.sqrt(abs(np.linalg.det(align_matrix(lm, 128, "full")[:, :2])))
    assert inside.sum() == pytest.approx((128 / scale) ** 2, rel=0.05)
    core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    np.testing.assert_allclose(out[core], srgb_to_linear(np.float32(0.5)), atol=1e-3)
    assert (out[mask == 0] == 0).all()  # outside untouched
    centre = lm.mean(axis=0).round().astype(int)
    assert inside[centre[1], centre[0]]


def test_nearest_pose_entry_picks_the_closest_pitch_and_yaw(tmp_path):
    def entry(name, pose):
        zeros = [[0.0, 0.0]] * 68
        return FaceEntry(name, "src", 1, 0, [0.0] * 4, 1.0, zeros, zeros,
                         [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "full", pose)

    fs = Faceset(tmp_path, "full", 128, entries=[
        entry("a", [0.0, -30.0, 0.0]), entry("b", [5.0, 10.0, 0.0]),
        entry("c", [0.0, 40.0, 0.0])])
    assert nearest_pose_entry(fs, (3.0, 12.0, 20.0)).file == "b"
    with pytest.raises(FacesetError, match="no faces"):
        nearest_pose_entry(Faceset(tmp_path, "full", 128), (0.0, 0.0, 0.0))
