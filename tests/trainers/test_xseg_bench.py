"""The XSeg benchmark at a small resolution: trained on 50 labelled real faces with occluders
cut from real photographs, scored on unseen faces (later plate frames and other people) with
unseen photographs; and the engine rendering with the exported model."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.pipeline import FaceSwapper  # noqa: E402
from engine.settings import EngineConfig, SwapLook  # noqa: E402
from trainers.xseg import bench  # noqa: E402

RESOLUTION = 32
ITERATIONS = 800
LR = 2e-3
MARGIN = 0.02  # IoU over the landmark hull on all test faces, asserted
MARGIN_SAME_SHOT = 0.05  # on the shot's unseen frames (XSeg's use: label some, apply to the rest)
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


def test_xseg_beats_the_landmark_hull_on_unseen_faces_and_occluders(result):
    x, h = result["xseg"], result["hull"]
    print(f"\nXSeg {RESOLUTION}px {ITERATIONS} it: IoU {x['iou']:.3f} BF {x['boundary_f']:.3f}; "
          f"hull IoU {h['iou']:.3f} BF {h['boundary_f']:.3f}; {result}")
    assert x["iou"] >= h["iou"] + MARGIN, result
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
    from engine.align import canonical_to_crop, face_type, mean_face, transform_points
    from engine.mask import hull_mask

    crop_lm = transform_points(mean_face(), canonical_to_crop(64, face_type("full")))
    face = np.full((64, 64, 3), 0.5, np.float32)
    s = bench.make_set([("f", face, crop_lm)], 3, seed=0, photos=bench.TEST_PHOTOS)
    hull = hull_mask(crop_lm, (64, 64))
    for img, truth in zip(s.images, s.truth, strict=True):
        occ = 1 - truth[hull > 0.99] / hull[hull > 0.99]
        changed = np.abs(img - face).max(-1)[hull > 0.99] > 1e-6
        assert occ.max() > 0.99 and (changed >= (occ > 0.01)).all()
        assert 0.05 < (truth < 0.5)[hull > 0.5].mean() < 0.9  # occluders overlap the face


def test_the_engine_renders_with_the_trained_xseg(result, demo_model, plate_pattern,
                                                  plate_track):
    """An occluder over the plate's face: the XSeg mask term keeps the swap off it."""
    from engine.align import align_matrix, invert_similarity
    from engine.io import open_source, read_image

    f = 1110
    plate = read_image(open_source(plate_pattern).path_of(f))
    px = plate.pixels.copy()
    lm = plate_track.landmarks(f)
    m = align_matrix(lm, RESOLUTION, "full")
    # A flat grey bar across the lower face, drawn in plate pixels.
    occ = np.zeros(px.shape[:2], np.float32)
    corners = np.array([[0.2, 0.55], [1.1, 0.55], [1.1, 0.8], [0.2, 0.8]]) * RESOLUTION
    import cv2

    pts = corners @ invert_similarity(m)[:, :2].T + invert_similarity(m)[:, 2]
    cv2.fillPoly(occ, [np.round(pts).astype(np.int32)], 1.0)
    px[occ > 0, :3] = (0.05, 0.3, 0.05)
    sw = FaceSwapper(EngineConfig(model=str(demo_model), xseg=result["model"], device="cpu"))
    plain, xseg = (sw.process(px, f, look=SwapLook(mask_mode=mode, blur=0.0, erode=0.0),
                              track=plate_track, channels=plate.channels)
                   for mode in ("hull", "hull*xseg-dst"))
    on = (occ > 0) & (plain.mask > 0.9)
    assert on.sum() > 500
    assert xseg.mask[on].mean() < 0.5 * plain.mask[on].mean()
    off = (occ == 0) & (plain.mask > 0.9)
    assert xseg.mask[off].mean() > 0.6
