"""`engine.evaluate.shot` on the real sample plate: known answers and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError, MediaError
from engine.evaluate.identity import SourceIdentity
from engine.evaluate.shot import analyze_plate, evaluate_render, frames_to_evaluate
from engine.io import open_source, read_image, write_exr

FRAMES = [1001, 1002, 1003]


@pytest.fixture(scope="module")
def plate(plate_pattern):
    return open_source(plate_pattern)


@pytest.fixture(scope="module")
def plate_frames(plate, analyzer):
    return analyze_plate(plate, FRAMES, analyzer)


@pytest.fixture(scope="module")
def identity(plate_frames):
    # Any fixed descriptor will do for these tests: the plate's first face.
    return SourceIdentity(plate_frames[FRAMES[0]].face.descriptor, 1, 0.0)


def _write(folder: Path, frames, make) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        rgb = make(f)
        write_exr(folder / f"r.{f:04d}.exr", rgb, ("R", "G", "B"), {})
    return str(folder / "r.####.exr")


def test_the_plate_against_itself_scores_perfectly(plate, plate_frames, identity, analyzer):
    res = evaluate_render("plate", plate_frames, plate, identity, analyzer)
    s = res.summary()
    assert s["ssim"] == (1.0, 0.0, 3)
    for key in ("gmsd", "landmarks", "pose", "id_plate", "jitter_landmarks", "jitter_color"):
        assert s[key][0] == pytest.approx(0.0, abs=1e-9), key
    assert s["jitter_landmarks"][2] == 2  # the first frame has no previous one
    assert s["jitter_mask"][2] == 0 and any("doppel.mask" in n for n in res.notes)


def test_a_render_shifted_by_known_pixels_reads_as_that_shift(tmp_path, plate, plate_frames,
                                                              identity, analyzer):
    shift = 8
    pattern = _write(tmp_path / "shift", FRAMES,
                     lambda f: np.roll(read_image(plate.path_of(f)).rgb(), shift, axis=1))
    res = evaluate_render("shifted", plate_frames, open_source(pattern), identity, analyzer)
    iod = [np.linalg.norm(plate_frames[f].face.landmarks[45] - plate_frames[f].face.landmarks[36])
           for f in FRAMES]
    expected = np.mean([shift / d for d in iod])
    s = res.summary()
    assert s["landmarks"][0] == pytest.approx(expected, rel=0.25)
    assert s["pose"][0] < 2.0  # a translation is not a rotation
    assert s["ssim"][0] < 0.95 and s["gmsd"][0] > 0.02
    assert s["id_plate"][0] < 0.2  # still the same person


def test_a_render_without_a_face_is_counted_not_measured(tmp_path, plate, plate_frames, identity,
                                                         analyzer):
    def make(f):
        rgb = read_image(plate.path_of(f)).rgb()
        return np.full_like(rgb, 0.18) if f == 1002 else rgb

    res = evaluate_render("blank", plate_frames, open_source(_write(tmp_path / "b", FRAMES, make)),
                          identity, analyzer)
    s = res.summary()
    assert s["landmarks"][2] == 2 and s["ssim"][2] == 3
    assert any("1002" in n and "no face in the render" in n for n in res.notes)


def test_render_and_plate_without_common_frames_are_refused(tmp_path, plate):
    pattern = _write(tmp_path / "r", [1, 2], lambda f: np.zeros((8, 8, 3), np.float32))
    with pytest.raises(InputError, match="share no frame"):
        frames_to_evaluate(plate, open_source(pattern), None, [])
    with pytest.raises(InputError, match="no frame"):
        frames_to_evaluate(plate, open_source(pattern), [1001], [])


def test_partial_overlap_is_evaluated_and_the_rest_reported(tmp_path, plate):
    pattern = _write(tmp_path / "p", [1119, 1120, 1121], lambda f: np.zeros((8, 8, 3), np.float32))
    notes: list[str] = []
    assert frames_to_evaluate(plate, open_source(pattern), None, notes) == [1119, 1120]
    assert any("1121" in n for n in notes) and any("1001-1118" in n for n in notes)


def test_a_render_of_another_size_is_refused_naming_the_frame(tmp_path, plate, plate_frames,
                                                              identity, analyzer):
    pattern = _write(tmp_path / "s", FRAMES, lambda f: np.zeros((360, 440, 3), np.float32))
    with pytest.raises(MediaError, match=r"render frame 1001 is 440×360 but the plate is 880×720"):
        evaluate_render("small", plate_frames, open_source(pattern), identity, analyzer)


def test_an_unreadable_render_frame_is_reported_and_the_rest_measured(tmp_path, plate,
                                                                      plate_frames, identity,
                                                                      analyzer):
    pattern = _write(tmp_path / "c", FRAMES, lambda f: read_image(plate.path_of(f)).rgb())
    (tmp_path / "c" / "r.1002.exr").write_bytes(b"not an exr")
    res = evaluate_render("corrupt", plate_frames, open_source(pattern), identity, analyzer)
    assert len(res.errors) == 1 and "r.1002.exr" in res.errors[0]
    assert res.summary()["ssim"][2] == 2
    assert any("could not be read" in n and "1002" in n for n in res.notes)


def test_the_plate_against_itself_passes_the_signoff_checks_with_close_ups(plate, plate_frames,
                                                                          identity, analyzer):
    from engine.evaluate.acceptance import failed, signoff_checks

    res = evaluate_render("plate", plate_frames, plate, identity, analyzer)
    for key, want in (("seam", 0.0), ("fringe", 0.0), ("sharpness", 1.0), ("eye_contrast", 1.0),
                      ("bad_negative", 0.0)):
        assert list(res.series(key)) == [want] * 3, key
    lines = signoff_checks(res)
    assert not failed(lines), lines
    assert any("seam and fringe measured along the plate face's hull" in n for n in res.notes)
    close = res.tiles.worst("seam")  # the close-ups are 2× plate pixels
    assert close and close[0][1][0].shape[0] % 2 == 0
