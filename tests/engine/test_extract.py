"""`doppel extract` end to end on the sample plate and photos, good and bad input."""

import json
import shutil

import numpy as np
import pytest

from doppel_cli.main import main
from engine.faceset.extract import ExtractSettings, extract
from engine.faceset.store import load_faceset
from engine.io import open_source, read_image, write_exr, write_image

FRAMES = "1001-1012"


@pytest.fixture(scope="module")
def small_plate(tmp_path_factory, plate_pattern):
    """A 12-frame copy of the sample plate that tests may damage."""
    d = tmp_path_factory.mktemp("plate")
    src = open_source(plate_pattern)
    for f in range(1001, 1013):
        shutil.copy(src._paths[f], d / f"plate.{f}.exr")
    return d


def run_cli(*args):
    return main(["extract", *map(str, args), "--quiet"])


def test_extract_plate_writes_a_complete_faceset(tmp_path, plate_pattern, capsys):
    out = tmp_path / "fs"
    rc = run_cli(plate_pattern, "-o", out, "--frames", FRAMES, "--select", "track",
                 "--smooth", "2", "--size", "128", "--debug")
    assert rc == 0
    text = capsys.readouterr().out
    assert "frames read: 12" in text and "frames without a face: 0" in text
    fs = load_faceset(out)
    assert len(fs.entries) == 12 and fs.size == 128 and fs.face_type == "full"
    e = fs.entries[0]
    assert e.frame == 1001 and e.file == "faces/001001_00.png"
    crop = fs.load_crop(e)
    assert crop.shape == (128, 128, 3) and 0.2 < crop.mean() < 0.8
    assert np.asarray(e.matrix).shape == (2, 3) and len(e.landmarks_crop) == 68
    assert e.source_file is not None and e.source_file.endswith("plate.1001.exr")
    assert (out / "debug" / "001001.jpg").is_file()
    assert not list(out.rglob("*.tmp*"))


def test_rerun_is_idempotent_and_resumes(tmp_path, plate_pattern):
    out = tmp_path / "fs"
    s = ExtractSettings(size=96)
    extract(open_source(plate_pattern), out, s, range(1001, 1007))
    index = (out / "faceset.json").read_bytes()
    crops = {p.name: p.read_bytes() for p in (out / "faces").iterdir()}
    again = extract(open_source(plate_pattern), out, s, range(1001, 1007))
    assert again.faces_written == 0 and again.faces_kept == 6
    assert (out / "faceset.json").read_bytes() == index
    # Lose one crop (a crash, a bad disk): only that one is written again, identically.
    (out / "faces" / "001003_00.png").unlink()
    third = extract(open_source(plate_pattern), out, s, range(1001, 1007))
    assert third.faces_written == 1
    assert {p.name: p.read_bytes() for p in (out / "faces").iterdir()} == crops


def test_other_settings_into_an_existing_faceset_are_refused(tmp_path, plate_pattern, capsys):
    out = tmp_path / "fs"
    assert run_cli(plate_pattern, "-o", out, "--frames", "1001", "--size", "64") == 0
    assert run_cli(plate_pattern, "-o", out, "--frames", "1001", "--size", "128") == 2
    err = capsys.readouterr().err
    assert "use another output folder" in err and str(out) in err


def test_photos_folder_gives_one_face_per_portrait(tmp_path, samples):
    summary = extract(open_source(samples / "photos"), tmp_path / "fs", ExtractSettings(size=64))
    assert summary.frames_read == 5 and summary.frames_without_face == []
    assert summary.faces_written >= 5


def test_photos_stored_sideways_are_extracted_as_viewers_show_them(tmp_path, samples):
    """A phone's JPEG holds the sensor's pixels and an EXIF Orientation (6: turn a quarter
    clockwise, 3: half a turn): its face and crop are those of the upright photo, within
    JPEG's re-encoding (it gave a sideways, misaligned crop with exit 0)."""
    import OpenImageIO as oiio

    upright = read_image(samples / "photos" / "obama.jpg", native=True).pixels
    for name, stored, orientation in (("a_upright.jpg", upright, 1),
                                      ("b_exif6.jpg", np.rot90(upright, 1), 6),
                                      ("c_exif3.jpg", upright[::-1, ::-1], 3)):
        spec = oiio.ImageSpec(stored.shape[1], stored.shape[0], 3, "uint8")
        spec.attribute("Orientation", orientation)
        spec.attribute("Compression", "jpeg:98")
        path = tmp_path / "photos" / name
        path.parent.mkdir(exist_ok=True)
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), spec) and out.write_image(np.ascontiguousarray(stored))
        out.close()
    assert run_cli(tmp_path / "photos", "-o", tmp_path / "fs", "--size", "128") == 0
    fs = load_faceset(tmp_path / "fs")
    by_file = {e.source_file.rsplit("/", 1)[-1]: e for e in fs.entries}
    assert sorted(by_file) == ["a_upright.jpg", "b_exif6.jpg", "c_exif3.jpg"]
    ref = by_file["a_upright.jpg"]
    for name in ("b_exif6.jpg", "c_exif3.jpg"):
        entry = by_file[name]
        # dlib's landmarks are whole pixels: a few apart on a 250 px face (a sideways read
        # put them hundreds of pixels away)
        moved = np.abs(np.asarray(entry.landmarks) - np.asarray(ref.landmarks))
        assert moved.max() <= 6 and moved.mean() < 2, name
        assert np.abs(np.asarray(entry.pose) - np.asarray(ref.pose)).max() < 4, name
        assert np.abs(fs.load_crop(entry) - fs.load_crop(ref)).mean() < 0.02, name


def test_gaps_corrupt_frames_and_nan_pixels_are_reported_per_frame(tmp_path, small_plate,
                                                                   capsys):
    plate = tmp_path / "plate"
    shutil.copytree(small_plate, plate)
    (plate / "plate.1003.exr").unlink()  # a gap
    data = (plate / "plate.1005.exr").read_bytes()
    (plate / "plate.1005.exr").write_bytes(data[: len(data) // 3])  # truncated
    img = read_image(plate / "plate.1007.exr")
    px = img.pixels.copy()
    px[:5, :5, 0] = np.nan
    px[5:8, :5, 1] = np.inf
    write_exr(plate / "plate.1007.exr", px, img.channels)
    (plate / "plate.1009.exr").write_bytes(b"")  # empty
    out = tmp_path / "fs"
    rc = run_cli(plate / "plate.####.exr", "-o", out)
    captured = capsys.readouterr().out
    assert rc == 1  # finished, but with errors
    assert "frames not in the footage: 1003" in captured
    assert "plate.1005.exr" in captured and "plate.1009.exr: file is empty" in captured
    assert "frame 1007" in captured and "NaN/Inf" in captured
    fs = load_faceset(out)
    assert sorted(e.frame for e in fs.entries) == [1001, 1002, 1004, 1006, 1007, 1008,
                                                       1010, 1011, 1012]


def test_frame_without_a_face_is_skipped_and_listed(tmp_path):
    folder = tmp_path / "stills"
    rng = np.random.default_rng(0)
    write_image(folder / "a_noise.png", rng.uniform(0, 1, (200, 200, 3)).astype(np.float32))
    summary = extract(open_source(folder), tmp_path / "fs", ExtractSettings(size=64))
    assert summary.frames_without_face == [1] and summary.faces_written == 0
    assert json.loads((tmp_path / "fs" / "faceset.json").read_text())["count"] == 0


@pytest.mark.parametrize("args, message", [
    (["missing.mp4"], "file not found"),
    (["bad.mp4"], "cannot decode this video"),
    (["plate.####.exr"], "no frames of this sequence"),
    (["notes.txt"], "unknown footage type"),
])
def test_unusable_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 4096)
    (tmp_path / "notes.txt").write_text("x")
    assert run_cli(*args, "-o", "fs") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("doppel extract: error:")


def test_bad_settings_exit_2(tmp_path, plate_pattern, capsys):
    assert run_cli(plate_pattern, "-o", tmp_path, "--smooth", "3") == 2
    assert "--smooth needs --select track" in capsys.readouterr().err
    assert run_cli(plate_pattern, "-o", tmp_path, "--frames", "10-x") == 2


def test_several_faces_all_or_one_identity_by_reference(tmp_path, samples):
    import cv2

    a = read_image(samples / "photos" / "obama.jpg").rgb()
    b = read_image(samples / "photos" / "biden.jpg").rgb()
    h = 600
    a = cv2.resize(a, (round(a.shape[1] * h / a.shape[0]), h))
    b = cv2.resize(b, (round(b.shape[1] * h / b.shape[0]), h))
    write_image(tmp_path / "stills" / "pair.png", np.concatenate([b, a], axis=1))
    src = tmp_path / "stills"
    every = extract(open_source(src), tmp_path / "all", ExtractSettings(size=64))
    assert every.faces_found == 2 and every.faces_written == 2
    one = extract(open_source(src), tmp_path / "one",
                  ExtractSettings(size=64, select="track",
                                  reference=str(samples / "photos" / "obama2.jpg")))
    assert one.faces_written == 1
    entry = load_faceset(tmp_path / "one").entries[0]
    assert entry.bbox[0] > b.shape[1]  # the face on the right: Obama, not Biden


def _reads(monkeypatch):
    """Frames decoded per frame number (every source reads through `read_image`)."""
    import engine.io.source as source_mod

    counts: dict[str, int] = {}
    inner = source_mod.read_image

    def spy(path, rows=None, **kw):
        counts[str(path)] = counts.get(str(path), 0) + 1
        return inner(path, rows, **kw)
    monkeypatch.setattr(source_mod, "read_image", spy)
    return counts


def test_all_faces_are_cropped_while_analysed_and_each_frame_is_read_once(
        tmp_path, plate_pattern, monkeypatch):
    """`--select all`: the crops made during the analysis (staged, then renamed into place)
    are byte for byte the crops made from frames read again, and no frame is read twice."""
    import engine.faceset.extract as extract_mod

    counts = _reads(monkeypatch)
    s = ExtractSettings(size=96)
    once = extract(open_source(plate_pattern), tmp_path / "once", s, range(1001, 1007))
    assert once.faces_written == 6 and sorted(counts.values()) == [1] * 6
    staged = {p.name: p.read_bytes() for p in (tmp_path / "once" / "faces").iterdir()}
    assert sorted(staged) == [f"{f:06d}_00.png" for f in range(1001, 1007)]  # no temp left
    monkeypatch.setattr(extract_mod.StagedCrops, "stage", lambda self, frame, faces: None)
    counts.clear()
    twice = extract(open_source(plate_pattern), tmp_path / "twice", s, range(1001, 1007))
    assert twice.faces_written == 6 and sorted(counts.values()) == [2] * 6
    assert {p.name: p.read_bytes() for p in (tmp_path / "twice" / "faces").iterdir()} == staged
    assert ((tmp_path / "once" / "faceset.json").read_bytes()
            == (tmp_path / "twice" / "faceset.json").read_bytes())


def test_a_smoothed_track_reads_only_its_crops_rows_again(tmp_path, plate_pattern, monkeypatch):
    import engine.io.image as image_mod

    spans = []
    inner = image_mod.read_image

    def spy(path, rows=None, **kw):
        img = inner(path, rows, **kw)
        spans.append(None if rows is None else rows(img.geometry))
        return img
    monkeypatch.setattr("engine.io.source.read_image", spy)
    extract(open_source(plate_pattern), tmp_path / "fs",
            ExtractSettings(size=96, select="track", smooth=2), range(1001, 1005))
    first, second = spans[:4], spans[4:]
    assert first == [None] * 4 and len(second) == 4  # analysis: whole frames; crops: rows
    assert all(r is not None and 0 < r[1] - r[0] < 720 for r in second)


def test_an_interrupted_extraction_leaves_no_staged_crop(tmp_path, plate_pattern):
    out = tmp_path / "fs"
    seen = []

    def progress(it, total, desc):
        for item in it:
            seen.append(item)
            if len(seen) == 3:
                raise KeyboardInterrupt
            yield item
    with pytest.raises(KeyboardInterrupt):
        extract(open_source(plate_pattern), out, ExtractSettings(size=64), range(1001, 1007),
                progress=progress)
    assert not list(out.rglob("*.tmp*")) and not list(out.glob("faces/*.png"))
    summary = extract(open_source(plate_pattern), out, ExtractSettings(size=64),
                      range(1001, 1007))
    assert summary.faces_written == 6 and not list(out.rglob("*.tmp*"))
