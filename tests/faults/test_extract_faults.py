"""Faults of `doppel extract`: bad input and settings, damaged facesets, merging, no data lost."""

import json
import shutil

import numpy as np
import pytest

from tests.faults.conftest import Snapshot, edit_json, temps

PATTERN = "plate.####.exr"


@pytest.mark.parametrize("make, args, needles", [
    (lambda d: None, ["missing.mp4"], ["missing.mp4", "file not found"]),
    (lambda d: (d / "bad.mp4").write_bytes(b"\x00" * 4096), ["bad.mp4"],
     ["bad.mp4", "cannot decode this video"]),
    (lambda d: (d / "empty.mp4").write_bytes(b""), ["empty.mp4"], ["empty.mp4", "empty"]),
    (lambda d: None, ["nothing.####.exr"], ["nothing.####.exr", "no frames of this sequence"]),
    (lambda d: (d / "notes.txt").write_text("x"), ["notes.txt"], ["notes.txt",
                                                                  "unknown footage type"]),
    (lambda d: (d / "empty_dir").mkdir(), ["empty_dir"], ["empty_dir", "holds no images"]),
], ids=["missing-file", "corrupt-video", "empty-video", "empty-sequence", "unknown-type",
        "empty-folder"])
def test_unusable_footage_exits_2_and_writes_nothing(tmp_path, monkeypatch, fails, make, args,
                                                     needles):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    snap = Snapshot(tmp_path)
    fails(2, needles, "extract", *args, "-o", "fs", "--quiet")
    snap.assert_unchanged()


@pytest.mark.parametrize("flag, value, needles", [
    ("--size", "10", ["--size", "10"]),
    ("--size", "99999", ["--size"]),
    ("--max-side", "0", ["--max-side", "0"]),
    ("--face-index", "-1", ["--face-index", "-1"]),
    ("--upsample", "9", ["--upsample", "9"]),
    ("--frames", "10-x", ["10-x"]),
    ("--frames", "5-1x0", ["step"]),
], ids=["size-small", "size-huge", "max-side", "face-index", "upsample", "range-typo",
        "range-step"])
def test_bad_settings_exit_2_naming_the_parameter(tmp_path, plate8, fails, flag, value, needles):
    fails(2, needles, "extract", plate8 / PATTERN, "-o", tmp_path / "fs", flag, value, "--quiet")
    assert not (tmp_path / "fs").exists()


def test_range_entirely_outside_the_footage_is_one_line_and_nothing_written(tmp_path, plate8,
                                                                            fails):
    line = fails(2, ["1118-20000", "1001-1008", "--frames"], "extract", plate8 / PATTERN,
                 "-o", tmp_path / "fs", "--frames", "1118-20000", "--quiet")
    assert len(line) < 300
    assert not (tmp_path / "fs").exists()


def test_range_partly_outside_prints_one_summary_line(tmp_path, plate8, cli):
    r = cli("extract", plate8 / PATTERN, "-o", tmp_path / "fs", "--frames", "1007-20000",
            "--size", "64", "--quiet")
    assert r.rc == 1
    assert "frames not in the footage: 1009-20000" in r.out
    assert len(r.out.splitlines()) < 15


def test_output_that_is_a_file_is_refused(tmp_path, plate8, fails):
    (tmp_path / "fs").write_text("precious")
    snap = Snapshot(tmp_path)
    fails(2, ["fs", "not a folder"], "extract", plate8 / PATTERN, "-o", tmp_path / "fs",
          "--quiet")
    snap.assert_unchanged()


def test_other_settings_into_an_existing_faceset_change_nothing(faceset8, plate8, copy_of, fails):
    fs = copy_of(faceset8)
    snap = Snapshot(fs)
    fails(2, [str(fs), "use another output folder"], "extract", plate8 / PATTERN, "-o", fs,
          "--size", "128", "--quiet")
    snap.assert_unchanged()


def test_narrower_frames_merge_and_keep_every_other_face(faceset8, plate8, copy_of, cli):
    fs = copy_of(faceset8)
    before = {p.name: p.read_bytes() for p in (fs / "faces").iterdir()}
    r = cli("extract", plate8 / PATTERN, "-o", fs, "--size", "64", "--frames", "1003",
            "--quiet")
    assert r.rc == 0
    assert {p.name: p.read_bytes() for p in (fs / "faces").iterdir()} == before
    index = json.loads((fs / "faceset.json").read_text())
    assert sorted(e["frame"] for e in index["faces"]) == list(range(1001, 1009))


def test_bad_input_into_an_existing_faceset_deletes_nothing(faceset8, tmp_path, copy_of, fails):
    fs = copy_of(faceset8)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 4096)
    snap = Snapshot(fs)
    fails(2, ["bad.mp4"], "extract", tmp_path / "bad.mp4", "-o", fs, "--size", "64", "--quiet")
    snap.assert_unchanged()


def test_all_frames_unreadable_leaves_no_trace(tmp_path, plate8, fails):
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in (1001, 1002):
        data = (plate8 / f"plate.{f}.exr").read_bytes()
        (plate / f"plate.{f}.exr").write_bytes(data[:200])
    fails(2, ["no frame of", "plate.1001.exr"], "extract", plate / PATTERN, "-o",
          tmp_path / "fs", "--quiet")
    assert not (tmp_path / "fs").exists()


def test_all_frames_unreadable_into_an_existing_faceset_changes_nothing(faceset8, tmp_path,
                                                                       plate8, copy_of, fails):
    fs = copy_of(faceset8)
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in FRAMES_2:
        (plate / f"plate.{f}.exr").write_bytes((plate8 / f"plate.{f}.exr").read_bytes()[:300])
    snap = Snapshot(fs)
    fails(2, ["no frame of"], "extract", plate / PATTERN, "-o", fs, "--size", "64", "--quiet")
    snap.assert_unchanged()


FRAMES_2 = (1001, 1002)


@pytest.mark.parametrize("field", ["file", "mask"])
def test_index_path_outside_the_faceset_is_refused_and_nothing_deleted(faceset8, tmp_path,
                                                                       plate8, copy_of, fails,
                                                                       field):
    fs = copy_of(faceset8)
    victim = tmp_path / "victim.txt"
    victim.write_text("do not delete")
    edit_json(fs / "faceset.json", lambda d: d["faces"][2].update({field: "../victim.txt"}))
    snap = Snapshot(tmp_path)
    fails(2, ["faceset.json", "../victim.txt", "outside"], "extract", plate8 / PATTERN, "-o", fs,
          "--size", "64", "--frames", "1001-1002", "--prune", "--quiet")
    snap.assert_unchanged()


def test_absolute_index_path_is_refused(faceset8, tmp_path, plate8, copy_of, fails):
    fs = copy_of(faceset8)
    edit_json(fs / "faceset.json", lambda d: d["faces"][0].update({"file": "/etc/hostname"}))
    fails(2, ["faceset.json", "/etc/hostname", "relative"], "extract", plate8 / PATTERN, "-o",
          fs, "--size", "64", "--quiet")


@pytest.mark.parametrize("damage, needles", [
    (lambda p: p.write_text("{ not json"), ["faceset.json", "corrupt JSON"]),
    (lambda p: p.write_text("[1, 2]"), ["faceset.json", "not a faceset index"]),
    (lambda p: edit_json(p, lambda d: d.pop("faces")), ["faceset.json", "missing faces"]),
    (lambda p: edit_json(p, lambda d: d["faces"][1].pop("pose")),
     ["faces[1]", "missing pose"]),
    (lambda p: edit_json(p, lambda d: d["faces"][1].update(matrix=[1, 2])),
     ["faces[1]", "malformed"]),
    (lambda p: edit_json(p, lambda d: d.update(schema=99)), ["schema 99"]),
], ids=["corrupt-json", "json-list", "no-faces-key", "entry-missing-key", "bad-matrix",
        "unknown-schema"])
def test_damaged_index_is_refused_and_left_as_is(faceset8, plate8, copy_of, fails, damage,
                                                 needles):
    fs = copy_of(faceset8)
    damage(fs / "faceset.json")
    snap = Snapshot(fs)
    fails(2, needles, "extract", plate8 / PATTERN, "-o", fs, "--size", "64", "--quiet")
    snap.assert_unchanged()


def test_prune_removes_only_unchosen_faces_of_the_frames_it_analysed(faceset8, plate8, copy_of,
                                                                      cli):
    fs = copy_of(faceset8)
    # A face the faceset had on frame 1002 that this run will not choose again (index 5).
    edit_json(fs / "faceset.json", lambda d: d["faces"].append(
        dict(d["faces"][1], face=5, file="faces/001002_05.png")))
    shutil.copy(fs / "faces" / "001002_00.png", fs / "faces" / "001002_05.png")
    r = cli("extract", plate8 / PATTERN, "-o", fs, "--size", "64", "--frames", "1002",
            "--prune", "--quiet")
    assert r.rc == 0 and "pruned: 1" in r.out
    assert not (fs / "faces" / "001002_05.png").exists()
    assert len(list((fs / "faces").iterdir())) == 8


def test_stills_record_the_file_each_face_came_from(tmp_path, samples, cli):
    stills = tmp_path / "stills"
    stills.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copy(samples / "photos" / name, stills / name)
    assert cli("extract", stills, "-o", tmp_path / "fs", "--size", "64", "--quiet").rc == 0
    faces = json.loads((tmp_path / "fs" / "faceset.json").read_text())["faces"]
    assert sorted(e["source_file"].rsplit("/", 1)[1] for e in faces) == ["biden.jpg",
                                                                          "obama.jpg"]


def test_a_corrupt_png_among_stills_is_doppels_one_line_not_libpngs(tmp_path, samples,
                                                                    capfd):
    """libpng printed its own `libpng error: …` on stderr beside Doppel's line (capfd: it
    writes to the file descriptor, not through Python)."""
    from doppel_cli.main import main

    stills = tmp_path / "stills"
    stills.mkdir()
    shutil.copy(samples / "photos" / "obama.jpg", stills / "a.jpg")
    (stills / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main(["extract", str(stills), "-o", str(tmp_path / "fs"), "--size", "64",
                 "--quiet"]) == 1
    cap = capfd.readouterr()
    assert "b_broken.png: not a readable image" in cap.out
    assert "libpng" not in cap.err + cap.out


def test_stale_temp_files_are_removed_on_resume(faceset8, plate8, copy_of, cli):
    fs = copy_of(faceset8)
    dead = fs / "faces" / ".001001_00.somehost.999999.abc123.tmp.png"
    dead.write_bytes(b"partial")
    import os
    import time
    old = time.time() - 2 * 24 * 3600
    os.utime(dead, (old, old))
    assert cli("extract", plate8 / PATTERN, "-o", fs, "--size", "64", "--frames", "1001",
               "--quiet").rc == 0
    assert not temps(fs)


def test_nan_pixels_and_a_truncated_frame_finish_with_exit_1(tmp_path, plate8, cli):
    from engine.io import read_image, write_exr

    plate = tmp_path / "plate"
    shutil.copytree(plate8, plate)
    img = read_image(plate / "plate.1003.exr")
    px = img.pixels.copy()
    px[:4, :4] = np.nan
    write_exr(plate / "plate.1003.exr", px, img.channels)
    data = (plate / "plate.1005.exr").read_bytes()
    (plate / "plate.1005.exr").write_bytes(data[: len(data) // 2])
    r = cli("extract", plate / PATTERN, "-o", tmp_path / "fs", "--size", "64", "--quiet")
    assert r.rc == 1
    assert "plate.1005.exr" in r.out and "frame 1003" in r.out and "NaN/Inf" in r.out
    assert not temps(tmp_path / "fs")
