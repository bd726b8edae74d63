import numpy as np
import pytest

from engine.geometry.align import align_matrix, mean_face, transform_points
from engine.swap.mask import eyes_mask, hull_mask, mouth_mask, refine_mask


def crop_landmarks(size=256):
    lm = mean_face() * 300 + 100
    return transform_points(lm, align_matrix(lm, size, "full"))


def test_hull_covers_every_landmark_and_the_forehead_above_the_brows():
    lm = crop_landmarks()
    m = hull_mask(lm, (256, 256))
    inside = m[np.clip(np.round(lm[:, 1]).astype(int), 0, 255),
               np.clip(np.round(lm[:, 0]).astype(int), 0, 255)]
    assert (inside > 0.4).all()  # points on the outline are on an anti-aliased edge
    brow_y = lm[17:27, 1].min()
    x = int(lm[27, 0])
    assert m[int(brow_y) - 5, x] == 1.0
    assert m[2, 2] == 0.0 and m[253, 2] == 0.0


def test_eyes_and_mouth_lie_inside_the_hull_and_apart():
    lm = crop_landmarks()
    hull, eyes, mouth = (f(lm, (256, 256)) for f in (hull_mask, eyes_mask, mouth_mask))
    assert eyes.sum() > 50 and mouth.sum() > 100
    assert (eyes <= hull + 1e-6).all() and (mouth <= hull + 1e-6).all()
    assert (eyes * mouth).sum() == 0
    assert 0.2 < hull.mean() < 0.9


def test_edge_ring_is_the_inside_band_along_the_masks_edge():
    from engine.swap.mask import edge_ring

    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 10:30] = 1.0
    ring = edge_ring(mask, 3.0)
    assert ring[10:30, 10:30].sum() == 20 * 20 - 14 * 14  # 3 px wide, inside only
    assert ring.sum() == ring[10:30, 10:30].sum() and ring[20, 20] == 0
    full = edge_ring(np.ones((8, 8), np.float32), 1.0)  # the image border counts as outside
    assert full.sum() == 8 * 8 - 6 * 6


def test_hull_lift_raises_only_the_brows():
    from engine.geometry.align import mean_face
    from engine.swap.mask import hull_points

    lm = mean_face() * 100
    low, high = hull_points(lm, 0.0), hull_points(lm, 0.25)
    assert low[:, 1].min() == pytest.approx(lm[17:27, 1].min(), abs=1e-3)
    assert high[:, 1].min() == pytest.approx(lm[17:27, 1].min() - 0.25 * (lm[8, 1] - lm[27, 1]),
                                             abs=1e-3)
    assert low[:, 1].max() == high[:, 1].max()  # the chin stays


def test_erode_acts_continuously_and_monotonically_between_whole_pixels():
    """A compositor drags Erode: the mask shrinks a little at every step, never in jumps of a
    whole crop pixel (on a 96 px crop one pixel is several plate pixels)."""
    import cv2

    disc = np.zeros((64, 64), np.float32)
    cv2.circle(disc, (32, 32), 20, 1.0, -1)
    soft = cv2.GaussianBlur(disc, (0, 0), 1.5)  # a learned mask's soft edge
    for mask in (disc, soft):
        steps = np.linspace(-3.0, 3.0, 61)
        area = np.array([refine_mask(mask, e, 0.0, 1.0).sum() for e in steps])
        assert np.all(np.diff(area) < 0)  # every 0.1 px of erode shrinks it
        whole = np.array([refine_mask(mask, e, 0.0, 1.0).sum() for e in range(-3, 4)])
        assert np.abs(np.diff(area)).max() < 0.2 * np.abs(np.diff(whole)).max()
        assert np.allclose(area[::10], whole)  # whole pixels as before
