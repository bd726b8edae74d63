"""XSeg labels: plate mattes, per-face masks and polygons into aligned-face space; bad input."""

import json
import shutil

import numpy as np
import pytest

from engine.faceset.store import load_faceset
from engine.geometry.align import transform_points
from engine.io import read_image, write_exr, write_image
from engine.swap.mask import hull_points
from trainers.xseg.labels import (
    LabelError,
    entry_field,
    face_key,
    face_to_plate,
    from_face_masks,
    from_plate_mattes,
    from_polygons,
    import_labels,
    label_path,
    labelled_keys,
    load_label,
    plate_to_face,
    rasterise,
    save_labels,
)

PLATE_HW = (720, 880)


def centroid(m):
    ys, xs = np.mgrid[: m.shape[0], : m.shape[1]]
    w = m.sum()
    return np.array([(xs * m).sum() / w, (ys * m).sum() / w])


def iou(a, b):
    a, b = a > 0.5, b > 0.5
    return (a & b).sum() / (a | b).sum()


@pytest.fixture
def dst(facesets, tmp_path):
    """A private copy of the real dst faceset (plate frames 1001-1040, 64 px)."""
    root = tmp_path / "dst"
    shutil.copytree(facesets[1], root)
    return load_faceset(root)


def hull_matte(entry, shape=PLATE_HW):
    """A roto matte of the face hull, drawn in plate pixels (as a compositor's roto renders)."""
    poly = hull_points(np.asarray(entry_field(entry, "landmarks"), np.float32))
    return rasterise([poly], [], max(shape))[: shape[0], : shape[1]], poly


def test_plate_matte_maps_into_face_space_and_back_without_shifting(dst):
    e = dst.entries[5]
    m = np.asarray(entry_field(e, "matrix"))
    matte, poly = hull_matte(e)
    mask, valid = plate_to_face(matte, m, dst.size)
    # The same polygon rasterised directly in crop pixels is the exact answer.
    direct = rasterise([transform_points(poly, m)], [], dst.size)
    assert np.abs(centroid(mask) - centroid(direct)).max() < 0.05  # crop px (~4 plate px each)
    assert iou(mask, direct) > 0.97
    assert valid.min() == 1.0  # the face lies well inside the plate
    # Back on the plate, compared where the crop sees the plate (the full-face crop cuts the
    # hull's forehead): a half-pixel slip in either direction would move it by ~2 plate px.
    back = face_to_plate(mask, m, PLATE_HW)
    seen = face_to_plate(np.ones_like(mask), m, PLATE_HW) > 0.999
    assert np.abs(centroid(back * seen) - centroid(matte * seen)).max() < 0.06  # plate px
    assert iou(back * seen, matte * seen) > 0.98


def test_crop_pixels_outside_the_plate_are_marked_unknown():
    m = np.array([[1.0, 0.0, 40.0], [0.0, 1.0, 0.0]])  # crop x = plate x + 40: left 40 px off
    mask, valid = plate_to_face(np.ones((64, 64), np.float32), m, 64)
    assert valid[:, :39].max() == 0.0 and valid[:, 41:].min() == 1.0
    assert mask[:, 41:].min() == 1.0


def test_exr_roto_sequence_becomes_labels_for_every_face(dst, tmp_path):
    frames = [1003, 1010, 1020]
    by_frame = {entry_field(e, "frame"): e for e in dst.entries}
    for f in frames:
        matte, _ = hull_matte(by_frame[f])
        rgba = np.zeros(PLATE_HW + (4,), np.float32)
        rgba[..., 3] = matte
        write_exr(tmp_path / f"roto.{f}.exr", rgba, ("R", "G", "B", "A"))
    report = from_plate_mattes(dst, str(tmp_path / "roto.####.exr"))
    assert report.skipped == []
    save_labels(dst, report)
    assert labelled_keys(dst) == {face_key(by_frame[f]) for f in frames}
    for f in frames:
        e = by_frame[f]
        mask, valid = load_label(dst, e)
        direct = rasterise([transform_points(hull_matte(e)[1], np.asarray(
            entry_field(e, "matrix")))], [], dst.size)
        assert iou(mask, direct) > 0.95 and valid.min() == 1.0
        assert "roto.10" in read_image(label_path(dst, e)).metadata["doppel/label_source"]


def test_bad_mattes_are_reported_and_skipped(dst, tmp_path):
    ok = np.zeros(PLATE_HW, np.float32)
    write_exr(tmp_path / "roto.1001.exr", ok[..., None], ("A",))
    write_exr(tmp_path / "roto.1002.exr", np.zeros((360, 440, 1), np.float32), ("A",))
    nan = ok.copy()
    nan[5, 5] = np.nan
    write_exr(tmp_path / "roto.1003.exr", nan[..., None], ("A",), half=False)
    write_exr(tmp_path / "roto.1004.exr", ok[..., None] + 3.0, ("A",))
    write_exr(tmp_path / "roto.0900.exr", ok[..., None], ("A",))  # no face on frame 900
    report = from_plate_mattes(dst, str(tmp_path / "roto.####.exr"))
    text = "\n".join(report.skipped)
    assert [face_key(entry) for entry in dst.entries if entry_field(entry, "frame") == 1001] == [
        lab.key for lab in report.labels]
    assert "roto.1002.exr: matte is 440×360, the plate frame 1002 is 880×720" in text
    assert "roto.1003.exr: 1 NaN/Inf pixels" in text
    assert "roto.1004.exr: matte values span [3, 3], outside [0, 1]" in text
    assert "frames 900 have mattes but no face" in text


def test_empty_label_set_is_an_error_and_writes_nothing(dst, tmp_path):
    (tmp_path / "masks").mkdir()
    report = from_face_masks(dst, tmp_path / "masks")
    with pytest.raises(LabelError, match="no usable labels.*nothing written"):
        save_labels(dst, report)
    assert not (dst.root / "labels").exists()
    with pytest.raises(LabelError, match="no matte files"):
        import_labels(dst, str(tmp_path / "none.####.exr"))


def test_labels_are_never_overwritten_without_asking(dst, tmp_path):
    folder = tmp_path / "masks"
    key = face_key(dst.entries[0])
    write_image(folder / f"{key}.png", np.full((128, 128, 1), 1.0, np.float32))
    save_labels(dst, from_face_masks(dst, folder))
    before = label_path(dst, dst.entries[0]).read_bytes()
    again = save_labels(dst, from_face_masks(dst, folder))  # identical: nothing to ask
    assert again.unchanged == [key] and again.written == []
    write_image(folder / f"{key}.png", np.zeros((128, 128, 1), np.float32))
    with pytest.raises(LabelError, match="already have different labels.*--overwrite"):
        save_labels(dst, from_face_masks(dst, folder))
    assert label_path(dst, dst.entries[0]).read_bytes() == before
    save_labels(dst, from_face_masks(dst, folder), overwrite=True)
    assert load_label(dst, dst.entries[0])[0].max() == 0.0


def test_face_masks_any_square_size_and_unknown_names_skipped(dst, tmp_path):
    folder = tmp_path / "masks"
    key = face_key(dst.entries[1])
    half = np.zeros((256, 256, 1), np.float32)
    half[:, :128] = 1.0
    write_image(folder / f"{key}.png", half)
    write_image(folder / "999999_00.png", half)
    write_image(folder / f"{face_key(dst.entries[2])}.png", np.zeros((64, 32, 1), np.float32))
    report = from_face_masks(dst, folder)
    assert [lab.key for lab in report.labels] == [key]
    assert report.labels[0].mask.shape == (dst.size, dst.size)
    assert report.labels[0].mask[:, : dst.size // 2 - 1].min() == 1.0
    assert any("no face 999999_00" in s for s in report.skipped)
    assert any("not" in s or "square" in s for s in report.skipped if "32×64" in s)


def test_polygons_in_plate_space_match_the_matte_route(dst, tmp_path):
    e = dst.entries[3]
    matte, poly = hull_matte(e)
    doc = {"schema": 1, "space": "plate",
           "labels": [{"frame": entry_field(e, "frame"), "include": [poly.tolist()]},
                      {"frame": 5, "include": [poly.tolist()]},
                      {"frame": entry_field(e, "frame"), "include": [[[0, 0], [1, 1]]]}]}
    path = tmp_path / "roto.json"
    path.write_text(json.dumps(doc))
    report = import_labels(dst, str(path))
    assert [lab.key for lab in report.labels] == [face_key(e)]
    assert any("no face  on frame 5" in s for s in report.skipped)
    assert any("≥ 3 finite" in s for s in report.skipped)
    via_matte, _ = plate_to_face(matte, np.asarray(entry_field(e, "matrix")), dst.size)
    assert iou(report.labels[0].mask, via_matte) > 0.97
    face = {"schema": 1, "space": "face", "labels": [
        {"frame": entry_field(e, "frame"), "face": 0, "include": [[[8, 8], [56, 8], [56, 56],
                                                                  [8, 56]]],
         "exclude": [[[20, 20], [40, 20], [40, 40], [20, 40]]]}]}
    path.write_text(json.dumps(face))
    lab = from_polygons(dst, path).labels[0]
    assert lab.mask[30, 30] == 0.0 and lab.mask[12, 12] == 1.0 and lab.mask[2, 2] == 0.0
    path.write_text(json.dumps({"schema": 7}))
    with pytest.raises(LabelError, match="schema 7 not supported"):
        from_polygons(dst, path)
