"""One JSON form for faces: Face and AlignedFace round trips, and every file uses it."""

import json

import numpy as np
import pytest

from engine.errors import InputError
from engine.geometry.align import align_matrix
from engine.geometry.track import Track
from engine.io.finite import finite_rgb
from engine.types import AlignedFace, Detection, Face


def _face(descriptor=None) -> Face:
    rng = np.random.default_rng(3)
    lm = (rng.random((68, 2)) * 200 + 100).astype(np.float32)
    return Face(Detection((90.25, 80.5, 320.125, 330.0), 0.987654, "centerface"), lm,
                "dlib-68", (1.5, -20.25, 3.0), descriptor)


def test_face_round_trips_through_json_at_a_thousandth_of_a_pixel():
    for desc in (None, np.linspace(-1, 1, 128, dtype=np.float32)):
        face = _face(desc)
        data = json.loads(json.dumps(face.to_json()))
        back = Face.from_json(data)
        assert back.detection.bbox == face.detection.bbox and back.pose == face.pose
        assert back.score == pytest.approx(face.score, abs=1e-5)
        np.testing.assert_allclose(back.landmarks, face.landmarks, atol=5e-4)
        assert ("descriptor" in data) == (desc is not None)
        if desc is not None:
            np.testing.assert_allclose(back.descriptor, desc, atol=1e-6)


def test_aligned_face_round_trips_and_carries_crop_landmarks():
    face = _face()
    m = align_matrix(face.landmarks, 128, "full")
    aligned = AlignedFace(face, m, "full", 128)
    data = json.loads(json.dumps(aligned.to_json()))
    back = AlignedFace.from_json(data, 128)
    np.testing.assert_allclose(back.matrix, m, atol=1e-8)
    np.testing.assert_allclose(data["landmarks_crop"], aligned.landmarks_crop, atol=5e-4)
    assert set(data) >= set(face.to_json())  # an aligned face is a face plus its alignment


def test_malformed_face_records_name_the_file_and_field():
    data = _face().to_json()
    del data["pose"]
    with pytest.raises(InputError, match="shot.json, frame 7: face record is malformed"):
        Face.from_json(data, "shot.json, frame 7")
    data = _face().to_json()
    data["landmarks"] = data["landmarks"][:5]
    with pytest.raises(InputError, match=r"landmarks \(5, 2\)"):
        Face.from_json(data)


def test_track_file_frames_are_face_records(tmp_path):
    face = _face()
    Track({1001: face}, {1001: face.landmarks + 1}).save(tmp_path / "t.json")
    entry = json.loads((tmp_path / "t.json").read_text())["frames"]["1001"]
    assert {k: v for k, v in entry.items() if k != "smoothed"} == face.to_json()
    bad = json.loads((tmp_path / "t.json").read_text())
    del bad["frames"]["1001"]["bbox"]
    with pytest.raises(InputError, match="frame 1001"):
        Track.from_json(bad, "t.json")


def test_non_finite_rule_nan_and_minus_inf_black_plus_inf_white():
    a = np.array([[[np.nan, np.inf, -np.inf], [0.5, 2.0, -0.1]]], np.float32)
    fixed, n = finite_rgb(a)
    assert n == 3
    np.testing.assert_array_equal(fixed, np.float32([[[0.0, 1.0, 0.0], [0.5, 2.0, -0.1]]]))
    same, n = finite_rgb(fixed)
    assert n == 0 and same is fixed  # finite input is returned as is, no copy
