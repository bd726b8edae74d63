"""Detection and 68-point landmarks on the real sample media."""

import numpy as np
import pytest

from engine.errors import ModelError, SettingsError
from engine.geometry.detect import CenterFaceDetector, DlibHogDetector, make_detector, nms

PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"]


def assert_plausible(face, tol=0.15):
    """Eyes above nose tip above mouth; landmarks inside the (slightly grown) box."""
    lm = face.landmarks
    eyes_y = lm[36:48, 1].mean()
    nose_y = lm[30, 1]
    mouth_y = lm[48:60, 1].mean()
    assert eyes_y < nose_y < mouth_y
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()  # subject's right eye on image left
    x0, y0, x1, y1 = face.bbox
    mx, my = (x1 - x0) * tol, (y1 - y0) * tol
    inner = lm[17:]  # the jaw may leave a tight box on turned heads
    assert (inner[:, 0] > x0 - mx).all() and (inner[:, 0] < x1 + mx).all()
    assert (inner[:, 1] > y0 - my).all() and (inner[:, 1] < y1 + my).all()


@pytest.mark.parametrize("name", PHOTOS)
def test_face_found_with_plausible_landmarks_on_each_photo(name, photo_srgb, analyzer,
                                                           hog_analyzer):
    img = photo_srgb(name)
    for an in (analyzer, hog_analyzer):
        faces = an.analyze_srgb(img)
        assert faces, f"{an.detector.name} found no face in {name}"
        assert_plausible(faces[0])


def test_face_found_on_every_plate_frame(plate_faces):
    assert len(plate_faces) == 120
    missing = [f for f, faces in plate_faces.items() if not faces]
    assert missing == []
    for faces in plate_faces.values():
        assert_plausible(faces[0])


def test_downscaled_detection_maps_boxes_back_to_full_resolution(photo_srgb):
    import cv2

    img = photo_srgb("obama.jpg")
    big = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    det = DlibHogDetector(max_side=640)
    a = np.array(det.detect(img)[0].bbox)
    b = np.array(det.detect(big)[0].bbox)
    np.testing.assert_allclose(b, 2 * a, atol=0.08 * (a[2] - a[0]) * 2)


def test_centerface_gives_five_keypoints_inside_its_box(photo_srgb):
    d = CenterFaceDetector().detect(photo_srgb("biden.jpg"))[0]
    x0, y0, x1, y1 = d.bbox
    assert d.points5.shape == (5, 2)
    assert ((d.points5[:, 0] > x0) & (d.points5[:, 0] < x1)).all()
    assert d.points5[0, 1] < d.points5[3, 1]  # an eye above a mouth corner


def test_nms_keeps_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.3]), 0.3) == [1, 2]


def test_bad_detector_settings_are_named():
    with pytest.raises(SettingsError, match="detector 'yolo' unknown"):
        make_detector("yolo")
    with pytest.raises(SettingsError, match="sRGB uint8"):
        DlibHogDetector().detect(np.zeros((10, 10, 3), np.float32))


def test_non_onnx_detector_model_is_a_model_error(tmp_path):
    bad = tmp_path / "centerface.onnx"
    bad.write_text("not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        CenterFaceDetector(bad)
