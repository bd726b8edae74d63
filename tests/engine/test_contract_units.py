"""Small pieces of the comp contract: path confinement, message summaries, stale temps,
geometry offsets."""

import io
import os
import time

import pytest

from engine.errors import InputError
from engine.io import Geometry
from engine.io.atomic import atomic_write_text, is_stale_temp, remove_stale_temps
from engine.io.frames import summarise_messages
from engine.io.paths import inside


def test_inside_accepts_nested_paths_and_refuses_escapes(tmp_path):
    (tmp_path / "fs" / "faces").mkdir(parents=True)
    assert inside(tmp_path / "fs", "faces/a.png", "idx") == (tmp_path / "fs" / "faces" /
                                                              "a.png").resolve()
    for bad in ("../victim.txt", "faces/../../victim.txt", "/etc/passwd", "", None, 3):
        with pytest.raises(InputError, match="idx"):
            inside(tmp_path / "fs", bad, "idx")


def test_inside_refuses_a_symlink_that_leads_out(tmp_path):
    (tmp_path / "fs" / "faces").mkdir(parents=True)
    (tmp_path / "victim.txt").write_text("x")
    os.symlink(tmp_path / "victim.txt", tmp_path / "fs" / "faces" / "evil.png")
    with pytest.raises(InputError, match="leads outside"):
        inside(tmp_path / "fs", "faces/evil.png", "idx")


def test_messages_differing_only_by_frame_collapse_to_one_line():
    msgs = [f"plate: frame {f} is missing on disk (gap)" for f in range(1118, 20001)]
    msgs += ["frame 5: /p/plate.0005.exr: file is empty", "something else"]
    lines = summarise_messages(msgs)
    assert lines[0] == "frames 1118-20000 (18883): plate: frame # is missing on disk (gap)"
    assert lines[1] == "frame 5: /p/plate.0005.exr: file is empty" and lines[2] == "something else"
    many = summarise_messages([f"kind {i}" for i in range(50)], limit=5)
    assert len(many) == 6 and many[-1].startswith("… and 45 more")


def test_stale_temps_are_those_of_dead_or_old_writers(tmp_path):
    from engine.io.atomic import _HOST

    dead = tmp_path / f".a.{_HOST}.999999.xyz.tmp.exr"
    mine = tmp_path / f".b.{_HOST}.{os.getpid()}.xyz.tmp.exr"
    other_host_new = tmp_path / ".c.elsewhere.12.xyz.tmp.exr"
    other_host_old = tmp_path / ".d.elsewhere.12.xyz.tmp.exr"
    foreign = tmp_path / ".e.tmp.exr"  # not our naming: never touched
    for p in (dead, mine, other_host_new, other_host_old, foreign):
        p.write_bytes(b"x")
    old = time.time() - 3 * 24 * 3600
    os.utime(other_host_old, (old, old))
    assert is_stale_temp(dead) and not is_stale_temp(mine)
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted([dead.name, other_host_old.name])
    assert mine.exists() and other_host_new.exists() and foreign.exists()


def test_atomic_write_leaves_no_temp_and_names_a_full_disk(tmp_path, monkeypatch):
    import errno

    import engine.io.atomic as atomic
    from engine.errors import DiskFullError

    atomic_write_text(tmp_path / "a.txt", "one")
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(DiskFullError, match="a.txt: disk full"):
        atomic_write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_geometry_offset_is_data_origin_in_display_pixels():
    g = Geometry((-40, -30, 960, 780), (0, 0, 880, 720))
    assert g.offset == (-40, -30) and not g.is_simple
    assert Geometry.full(10, 20).is_simple
    assert Geometry((5, 5, 10, 10), (2, 3, 20, 20)).offset == (3, 2)


def test_plain_progress_lines_with_rate_and_eta():
    from doppel_cli.progress import plain_lines

    ticks = iter(range(100))
    out = io.StringIO()
    items = list(plain_lines(range(4), 4, "render", stream=out, every=2.0,
                             clock=lambda: float(next(ticks))))
    assert items == [0, 1, 2, 3]
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("render: 2/4 frames (50%)") and "ETA" in lines[0]
    assert lines[-1].startswith("render: 4/4 frames (100%)")
