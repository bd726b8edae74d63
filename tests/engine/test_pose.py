import numpy as np
import pytest

from engine.geometry.align import mean_face, mirror_landmarks
from engine.geometry.pose import estimate_pose


def test_frontal_mean_face_has_near_zero_pose():
    lm = (mean_face() - 0.5) * 200 + 500
    pitch, yaw, roll = estimate_pose(lm, (1000, 1000))
    assert abs(yaw) < 2 and abs(roll) < 2 and abs(pitch) < 5


@pytest.mark.parametrize("name", ["obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_mirrored_face_flips_the_sign_of_yaw(name, photo_srgb, analyzer):
    img = photo_srgb(name)
    face = analyzer.analyze_srgb(img)[0]
    mirrored = analyzer.analyze_srgb(np.ascontiguousarray(img[:, ::-1]))[0]
    yaw, yaw_m = face.pose[1], mirrored.pose[1]
    assert abs(yaw) > 5, "pick photos with a visibly turned head"
    assert np.sign(yaw) == -np.sign(yaw_m)
    assert abs(abs(yaw) - abs(yaw_m)) < 6
    # The same holds for relabelled mirrored landmarks (pure geometry, no re-detection).
    w = img.shape[1]
    _, yaw_geo, roll_geo = estimate_pose(mirror_landmarks(face.landmarks, w), (w, img.shape[0]))
    assert abs(yaw_geo + yaw) < 1.0 and abs(roll_geo + face.pose[2]) < 1.0


def test_roll_follows_an_in_plane_rotation():
    import cv2

    lm = (mean_face() - 0.5) * 200 + 500
    rot = cv2.getRotationMatrix2D((500, 500), -20, 1.0)  # clockwise 20° in the image
    lm_r = lm @ rot[:, :2].T + rot[:, 2]
    assert estimate_pose(lm_r, (1000, 1000))[2] == pytest.approx(20, abs=2)
