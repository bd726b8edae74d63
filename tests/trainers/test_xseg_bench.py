"""The XSeg benchmark at a small resolution: trained on 50 labelled real faces with occluders
cut from real photographs, scored on unseen faces (later plate frames and other people) with
unseen photographs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainers.xseg import bench  # noqa: E402

RESOLUTION = 32
ITERATIONS = 800
LR = 2e-3
# IoU over the landmark hull on the shot's unseen frames (XSeg's use: label some faces of a
# faceset, apply to the rest), asserted; measured +0.07 in this test, +0.09-0.10 in development
# runs. On other people XSeg trained on one actor loses to the hull (reported, docs/xseg.md).
MARGIN_SAME_SHOT = 0.04
TRAIN_FRAMES = list(range(1001, 1100, 2))  # 50 labelled faces
TEST_FRAMES = list(range(1101, 1121))


@pytest.fixture(scope="module")
def result(plate_pattern, plate_track, analyzer, samples, tmp_path_factory):
    train, test = bench.plate_and_still_faces(plate_pattern, plate_track, analyzer,
                                              samples / "photos", RESOLUTION, TRAIN_FRAMES,
                                              TEST_FRAMES)
    assert len(train) == 50 and len(test) >= 24
    return bench.run_benchmark(train, test, tmp_path_factory.mktemp("xseg_bench"), RESOLUTION,
                               ITERATIONS, lr=LR, log=lambda s: None)


@pytest.mark.slow  # 800 iterations + the plate analysis: minutes on 2 cores (docs/xseg.md)
def test_xseg_beats_the_landmark_hull_on_unseen_faces_and_occluders(result):
    x, h = result["xseg"], result["hull"]
    print(f"\nXSeg {RESOLUTION}px {ITERATIONS} it: IoU {x['iou']:.3f} BF {x['boundary_f']:.3f}; "
          f"hull IoU {h['iou']:.3f} BF {h['boundary_f']:.3f}; {result}")
    assert result["xseg_same_shot"]["iou"] >= result["hull_same_shot"]["iou"] + MARGIN_SAME_SHOT
    assert result["xseg_same_shot"]["boundary_f"] > result["hull_same_shot"]["boundary_f"]


def test_scores_know_the_answer():
    a = np.zeros((64, 64), np.float32)
    a[16:48, 16:48] = 1
    b = np.zeros_like(a)
    b[16:48, 32:48] = 1
    assert bench.iou(a, a) == 1.0 and bench.iou(a, b) == 0.5
    assert bench.boundary_f(a, a) == 1.0
    shifted = np.roll(a, 1, axis=1)
    assert bench.boundary_f(a, shifted, tolerance=1) == 1.0
    assert bench.boundary_f(a, np.roll(a, 5, axis=1), tolerance=1) < 0.6


def test_truth_is_the_hull_minus_the_occluder_exactly():
    from engine.geometry.align import canonical_to_crop, face_type, mean_face, transform_points
    from engine.swap.mask import hull_mask

    crop_lm = transform_points(mean_face(), canonical_to_crop(64, face_type("full")))
    face = np.full((64, 64, 3), 0.5, np.float32)
    s = bench.make_set([("f", face, crop_lm)], 3, seed=0, photos=bench.TEST_PHOTOS)
    hull = hull_mask(crop_lm, (64, 64))
    for img, truth in zip(s.images, s.truth, strict=True):
        occ = 1 - truth[hull > 0.99] / hull[hull > 0.99]
        changed = np.abs(img - face).max(-1)[hull > 0.99] > 1e-6
        assert occ.max() > 0.99 and (changed >= (occ > 0.01)).all()
        assert 0.05 < (truth < 0.5)[hull > 0.5].mean() < 0.9  # occluders overlap the face
