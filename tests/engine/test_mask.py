import numpy as np

from engine.geometry.align import align_matrix, mean_face, transform_points
from engine.swap.mask import eyes_mask, hull_mask, mouth_mask


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
