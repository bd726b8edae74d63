"""Umeyama, face types and warps: known answers for the math, real faces for stability."""

import cv2
import numpy as np
import pytest

from engine.errors import SettingsError
from engine.geometry.align import (
    FACE_TYPES,
    align_matrix,
    crop_read_box,
    crop_roi,
    invert_similarity,
    mean_face,
    mirror_landmarks,
    transform_points,
    umeyama,
    warp_from_crop,
    warp_to_crop,
)


def similarity(scale, angle_deg, tx, ty):
    a = np.radians(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx],
                     [scale * np.sin(a), scale * np.cos(a), ty]])


def test_umeyama_recovers_a_known_similarity_exactly():
    rng = np.random.default_rng(1)
    src = rng.uniform(-50, 50, (68, 2))
    m = similarity(1.7, 33.0, 12.5, -40.0)
    dst = src @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(umeyama(src, dst), m, atol=1e-10)


def test_umeyama_never_returns_a_reflection():
    src = np.random.default_rng(2).uniform(-1, 1, (20, 2)) * [3, 1]
    dst = src * [-1, 1]  # a mirror image: the best similarity must still be a rotation
    assert np.linalg.det(umeyama(src, dst)[:, :2]) > 0


def test_mean_face_is_symmetric_and_spans_the_unit_frame():
    mf = mean_face()
    inner = mf[17:]
    np.testing.assert_allclose(inner.min(0), 0, atol=1e-4)
    np.testing.assert_allclose(inner.max(0), 1, atol=1e-4)
    mirrored = mirror_landmarks(mf * 1000, 1001) / 1000  # mirror about x = 0.5
    np.testing.assert_allclose(mirrored, mf, atol=2e-3)


def test_face_types_cover_more_in_order():
    lm = mean_face() * 200 + 100
    scales = [np.sqrt(np.linalg.det(align_matrix(lm, 256, ft)[:, :2])) for ft in FACE_TYPES]
    assert all(a > b for a, b in zip(scales, scales[1:], strict=False))


def test_aligned_landmarks_land_on_the_template():
    lm = mean_face() * 150 + [300, 200]
    rot = similarity(1.0, 25.0, 0, 0)
    lm = transform_points(lm, rot)
    m = align_matrix(lm, 256, "half")
    crop_pts = transform_points(lm, m)
    expected = mean_face() * 256 - 0.5
    np.testing.assert_allclose(crop_pts[17:], expected[17:], atol=1e-3)


def test_warp_then_inverse_warp_reproduces_the_input_region(photo_srgb):
    img = photo_srgb("obama.jpg").astype(np.float32) / 255.0
    m = similarity(1.3, 12.0, -300.0, -60.0)
    size = 512
    crop = warp_to_crop(img, m, size)
    roi = crop_roi(m, size, img.shape, margin=0)
    back = warp_from_crop(crop, m, roi)
    # Compare inside the crop footprint, away from its border (interpolation support).
    inv = invert_similarity(m)
    inner = np.array([[40, 40], [size - 40, 40], [40, size - 40], [size - 40, size - 40.0]])
    corners = transform_points(inner, inv)
    x0, y0 = np.ceil(corners.min(0)).astype(int)
    x1, y1 = np.floor(corners.max(0)).astype(int)
    import cv2

    poly = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(poly, np.round(corners[[0, 1, 3, 2]]).astype(np.int32), 1)
    sel = poly[roi[1]:roi[3], roi[0]:roi[2]].astype(bool)
    err = np.abs(back[sel] - img[roi[1]:roi[3], roi[0]:roi[2]][sel])
    assert err.mean() < 0.01 and np.percentile(err, 99) < 0.08
    assert x1 > x0 and y1 > y0


def test_aligned_crops_of_one_person_are_stable_across_frames(plate_faces):
    size = 256
    crop_pts = []
    for frame in sorted(plate_faces):
        lm = plate_faces[frame][0].landmarks
        crop_pts.append(transform_points(lm, align_matrix(lm, size, "full")))
    crop_pts = np.stack(crop_pts)
    # Eyes and nose bridge are rigid: in crop space they barely move over the whole shot.
    rigid = crop_pts[:, [27, 28, 36, 39, 42, 45]]
    spread = rigid.std(axis=0).max()
    assert spread < 0.02 * size, spread
    # While in the image the face moves a lot more than that.
    centres = np.stack([plate_faces[f][0].landmarks.mean(0) for f in sorted(plate_faces)])
    assert centres.std(axis=0).max() > spread


def test_bad_alignment_inputs_are_rejected():
    with pytest.raises(SettingsError, match="face type 'tiny'"):
        align_matrix(mean_face(), 256, "tiny")
    with pytest.raises(SettingsError, match="landmarks must be finite"):
        align_matrix(np.full((68, 2), np.nan), 256)


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]])


@pytest.mark.parametrize("scale", [0.9, 0.45, 0.3, 0.12])
@pytest.mark.parametrize("where", ["inside", "edge"])
def test_crop_from_the_roi_equals_the_crop_from_the_whole_frame(scale, where):
    """Render crops from the face's region; extraction from the frame: the same bits."""
    rng = np.random.default_rng(7)
    img = cv2.GaussianBlur(rng.random((700, 900, 3), dtype=np.float32), (0, 0), 2.0)
    size = 96
    centre = (450.0, 350.0) if where == "inside" else (20.0, 680.0)
    m = _similarity(scale, 17.0, 0.0, 0.0)
    m[:, 2] = (size - 1) / 2 - m[:, :2] @ np.array(centre)
    x0, y0, x1, y1 = crop_read_box(m, size, img.shape)
    whole = warp_to_crop(img, m, size)
    part = warp_to_crop(np.ascontiguousarray(img[y0:y1, x0:x1]), m, size, origin=(x0, y0))
    assert part.tobytes() == whole.tobytes()


def test_shrinking_crops_are_anti_aliased():
    """Pixel noise shrunk 2x must be averaged (as the trainer's area resize does), not sampled:
    the 2x2 box keeps about half the noise amplitude, a plain bicubic warp nearly all of it."""
    noise = np.random.default_rng(3).random((800, 800, 3), dtype=np.float32)  # std 0.29
    m = _similarity(0.5, 10.0, 0.0, 0.0)
    m[:, 2] = 47.5 - m[:, :2] @ np.array([400.0, 400.0])
    crop = warp_to_crop(noise, m, 96)
    assert abs(float(crop.mean()) - 0.5) < 0.01 and float(crop.std()) < 0.16
    plain = cv2.warpAffine(noise, m, (96, 96), flags=cv2.INTER_CUBIC)
    assert float(plain.std()) > 0.22  # what a plain bicubic warp does: aliased noise
