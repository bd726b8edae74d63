"""engine.io.ownership: the one rule every writer follows (a new path, or a file carrying
Doppel's mark for the same kind; never an input; --overwrite for foreign files only)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engine.errors import OutputError
from engine.geometry.track import ANALYSIS_MARK, TRACK_MARK
from engine.io import write_image
from engine.io.ownership import (
    Claims,
    FolderMark,
    image_mark,
    image_metadata,
    json_mark,
    text_mark,
)

CSV = text_mark("metrics CSV", "file,frame,sharpness\n")


def test_a_new_path_is_claimed_and_nothing_is_written(tmp_path):
    target = tmp_path / "new" / "track.json"
    assert Claims().file(target, TRACK_MARK) == target
    assert not (tmp_path / "new").exists()


def test_a_file_with_the_kinds_mark_is_ours_another_file_is_refused_by_name(tmp_path):
    ours = tmp_path / "t.json"
    ours.write_text(json.dumps({"schema": 1, "settings": {}, "frames": {}}))
    Claims().file(ours, TRACK_MARK)
    for name, content in [("comp.nk", "set cut_paste_input [stack 0]\n"),
                          ("notes.json", json.dumps({"schema": 1, "notes": []})),
                          ("cache.json", json.dumps({"schema": 1, "key": {}, "source": "x",
                                                     "frames": {}}))]:
        p = tmp_path / name
        p.write_text(content)
        with pytest.raises(OutputError,
                           match=f"{name}: exists and is not Doppel's track.*--overwrite"):
            Claims().file(p, TRACK_MARK)
    Claims().file(tmp_path / "cache.json", ANALYSIS_MARK)  # the same file, its own kind


def test_text_and_image_marks_read_the_head(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("file,frame,sharpness\nfaces/a.png,1,2.0\n")
    Claims().file(csv, CSV)
    csv.write_text("name,value\n")
    with pytest.raises(OutputError, match="not Doppel's metrics CSV"):
        Claims().file(csv, CSV)
    png = tmp_path / "sheet.png"
    write_image(png, np.zeros((8, 8, 3), np.float32), metadata=image_metadata("sheet"))
    Claims().file(png, image_mark("sheet"))
    with pytest.raises(OutputError, match="not Doppel's plot"):
        Claims().file(png, image_mark("plot"))  # Doppel's, but of another kind
    write_image(png, np.zeros((8, 8, 3), np.float32))  # a user's picture
    with pytest.raises(OutputError, match="not Doppel's sheet"):
        Claims().file(png, image_mark("sheet"))


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n garbage", b"{not json",
                                     b"[1, 2]", b"\xff\xfe\x00"])
def test_marks_say_no_to_garbage_without_raising(tmp_path, content):
    p = tmp_path / "x"
    p.write_bytes(content)
    for mark in (TRACK_MARK, CSV, image_mark("sheet"), json_mark("index", "faces")):
        assert not mark.matches(p)


def test_overwrite_replaces_a_foreign_file_never_an_input(tmp_path):
    foreign = tmp_path / "comp.nk"
    foreign.write_text("x")
    Claims(overwrite=True).file(foreign, TRACK_MARK)
    with pytest.raises(OutputError, match="would overwrite the input"):
        Claims([foreign], overwrite=True).file(foreign, TRACK_MARK)


def test_inside_an_input_folder_is_refused_whatever_the_path_spelling(tmp_path):
    fs = tmp_path / "fs"
    (fs / "faces").mkdir(parents=True)
    (tmp_path / "link").symlink_to(fs)
    claims = Claims([fs], overwrite=True)
    for target in (fs / "faceset.json", fs / "faces" / "a.png", tmp_path / "link" / "x.csv",
                   tmp_path / "other" / ".." / "fs" / "clean"):
        with pytest.raises(OutputError, match="inside the input folder"):
            claims.file(target, CSV)
    with pytest.raises(OutputError, match="inside the input folder"):
        claims.folder(fs / "clean", FolderMark("faceset", "faceset.json", TRACK_MARK))
    claims.file(tmp_path / "fs_sorted.csv", CSV)  # beside it is fine


def test_a_folder_is_ours_new_empty_or_marked_by_its_index(tmp_path):
    mark = FolderMark("faceset", "faceset.json", json_mark("faceset index", "faces"))
    Claims().folder(tmp_path / "new", mark)
    (tmp_path / "empty").mkdir()
    Claims().folder(tmp_path / "empty", mark)
    user = tmp_path / "user"
    (user / "faces").mkdir(parents=True)
    (user / "faces" / "001001_00.png").write_bytes(b"a user's picture")
    with pytest.raises(OutputError, match="user: folder holds files but is not Doppel's faceset.*"
                                          "--overwrite to write into it"):
        Claims().folder(user, mark)
    Claims(overwrite=True).folder(user, mark)
    (user / "faceset.json").write_text(json.dumps({"schema": 1, "faces": []}))
    Claims().folder(user, mark)


def test_a_folder_where_a_file_goes_and_a_file_where_a_folder_goes_are_refused(tmp_path):
    (tmp_path / "t.json").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        Claims(overwrite=True).file(tmp_path / "t.json", TRACK_MARK)
    (tmp_path / "out").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        Claims(overwrite=True).folder(tmp_path / "out", FolderMark("x", "i", TRACK_MARK))
    with pytest.raises(OutputError, match="out is a file, not a folder"):
        Claims(overwrite=True).file(tmp_path / "out" / "t.json", TRACK_MARK)


def test_the_hint_says_how_to_go_on(tmp_path):
    p = tmp_path / "template.yaml"
    p.write_text("mine\n")
    with pytest.raises(OutputError, match="pick another Job folder"):
        Claims(hint="pick another Job folder, or delete that file").file(
            p, text_mark("farm job template", "# Written by"))
    assert os.path.getsize(p) == 5
