"""Tracks that prove they belong to their plate: fingerprints and landmark rules (the frame
layer's FRAME_RULES, so render, node and farm refuse alike), hand-edited and other shots' tracks,
mixed plates, and a track changed in place behind the node's back."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from engine.io import read_image, write_exr
from tests.faults.conftest import FRAMES, Snapshot, edit_json, main, temps

PATTERN = "plate.####.exr"


def render_args(plate, out, model, track, *extra):
    return ["render", plate / PATTERN, "-o", out / "swap.####.exr", "--model", model,
            "--track", track, "--quiet", *extra]


def _flop(src, dst, frames=FRAMES):
    """The plate mirrored left-right: another picture of the same size (another shot)."""
    for f in frames:
        img = read_image(src / f"plate.{f}.exr")
        write_exr(dst / f"plate.{f}.exr", np.ascontiguousarray(img.pixels[:, ::-1]),
                  img.channels)


@pytest.fixture(scope="module")
def other_shot_track(tmp_path_factory, plate8):
    """A track analysed on another shot (plate8 flopped), frames 1001-1003."""
    d = tmp_path_factory.mktemp("other_shot")
    _flop(plate8, d / "plate", (1001, 1002, 1003))
    out = d / "track.json"
    assert main(["analyze", str(d / "plate" / PATTERN), "-o", str(out), "--quiet"]) == 0
    return out


def _scale(k):
    def change(d):
        for e in d["frames"].values():
            for key in ("landmarks", "smoothed"):
                if e.get(key):
                    e[key] = (np.asarray(e[key]) * k).tolist()
            e["bbox"] = [v * k for v in e["bbox"]]
    return change


def _swap_entries(a, b):
    def change(d):
        fr = d["frames"]
        fr[a], fr[b] = fr[b], fr[a]
    return change


def _shuffle(frame):
    def change(d):
        e = d["frames"][frame]
        rng = np.random.default_rng(0)
        e["landmarks"] = np.asarray(e["landmarks"])[rng.permutation(68)].tolist()
    return change


@pytest.mark.parametrize("damage, needles", [
    (_scale(100), ["frame 1001", "lie outside the plate (880×720)"]),
    (_scale(0.2), ["frame 1001", "the plate under the face's landmarks does not match"]),
    (_swap_entries("1001", "1005"), ["frame 1001", "analysed on frame 1005"]),
    (_shuffle("1003"), ["frame 1003", "not face-shaped"]),
    (lambda d: d["frames"]["1002"]["fingerprint"].update(plate="zz" * 64),
     ["frame 1002", "fingerprint is not hex"]),
], ids=["scaled-x100", "scaled-x0.2", "entries-swapped", "shuffled-points", "bad-fingerprint"])
def test_a_hand_edited_track_is_refused_before_any_frame_and_renders_stay(
        rendered8, plate8, track8, demo_model, copy_of, fails, damage, needles):
    track = copy_of(track8)
    edit_json(track, damage)
    out = copy_of(rendered8, "out")
    snap = Snapshot(out)
    fails(2, [str(track), *needles, "doppel analyze"],
          *render_args(plate8, out, demo_model, track, "--overwrite"))
    snap.assert_unchanged()


def test_another_shots_track_with_renumbered_frames_is_refused_and_renders_stay(
        rendered8, plate8, other_shot_track, demo_model, copy_of, fails):
    out = copy_of(rendered8, "out")
    snap = Snapshot(out)
    fails(2, ["frame 1001", "the plate does not match the track", "another shot"],
          *render_args(plate8, out, demo_model, other_shot_track, "--overwrite", "--frames",
                       "1001-1003"))
    snap.assert_unchanged()


def test_a_plate_frame_changed_after_analyze_is_that_frames_error(
        rendered8, plate8, track8, demo_model, tmp_path, copy_of, cli):
    plate = copy_of(plate8, "plate")
    _flop(plate8, plate, (1005,))  # someone replaced one frame of the plate
    out = copy_of(rendered8, "out")
    good = (out / "swap.1005.exr").read_bytes()
    r = cli(*render_args(plate, out, demo_model, track8, "--overwrite", "--color", "none"))
    assert r.rc == 1, r.out
    assert "frame 1005" in r.out and "does not match the track" in r.out
    assert "rendered: 7" in r.out
    assert (out / "swap.1005.exr").read_bytes() == good  # the good render is kept
    assert not temps(out)


def test_an_old_track_without_fingerprints_renders_the_same_frames_with_a_note(
        rendered8, plate8, track8, demo_model, copy_of, tmp_path, cli):
    old = copy_of(track8, "old.json")

    def strip(d):
        d["settings"].pop("fingerprint")
        for e in d["frames"].values():
            e.pop("fingerprint")
    edit_json(old, strip)
    data = json.loads(old.read_text())
    old.write_text(json.dumps(data))  # as an older Doppel wrote it (compact JSON)
    out = copy_of(rendered8, "out")
    snap = Snapshot(out)
    r = cli(*render_args(plate8, out, demo_model, old))  # resumes renders of the new track
    assert r.rc == 0 and "skipped (already done): 8" in r.out
    assert "note:" in r.out and "made before tracks held plate fingerprints" in r.out
    snap.assert_unchanged()
    r = cli(*render_args(plate8, tmp_path / "fresh", demo_model, old, "--frames", "1001"))
    assert r.rc == 0
    assert ((tmp_path / "fresh" / "swap.1001.exr").read_bytes()
            == (rendered8 / "swap.1001.exr").read_bytes())


def test_an_analysis_of_a_mixed_plate_writes_nothing(tmp_path, plate8, copy_of, fails):
    import cv2

    plate = copy_of(plate8, "plate")
    img = read_image(plate / "plate.1005.exr")
    write_exr(plate / "plate.1005.exr", cv2.resize(img.pixels, (440, 360)), img.channels)
    snap = Snapshot(tmp_path)
    fails(2, ["frame 1005", "display window 440×360", "one plate per sequence",
              "nothing was written"], "analyze", plate / PATTERN, "-o", tmp_path / "t.json",
          "--quiet")
    snap.assert_unchanged()


def test_a_render_of_a_mixed_plate_refuses_the_odd_frame_by_name(tmp_path, plate8, track8,
                                                                 demo_model, copy_of, cli):
    """The render's side of "exit 2 writes nothing, or say exit 1": one frame of another size
    is that frame's error (exit 1, the frame named, nothing written for it; issue 24's rule),
    a plate whose every frame differs is refused whole before any write (exit 2, tested in
    test_render_faults)."""
    import cv2

    plate = copy_of(plate8, "plate")
    img = read_image(plate / "plate.1006.exr")
    write_exr(plate / "plate.1006.exr", cv2.resize(img.pixels, (440, 360)), img.channels)
    r = cli(*render_args(plate, tmp_path / "out", demo_model, track8))
    assert r.rc == 1 and "frame 1006" in r.out and "display window 440×360" in r.out
    assert not (tmp_path / "out" / "swap.1006.exr").exists()
    assert len(list((tmp_path / "out").glob("swap.*.exr"))) == 7 and not temps(tmp_path / "out")


def test_node_and_farm_read_the_same_track_after_an_in_place_edit(tmp_path, plate8, track8,
                                                                  demo_model, copy_of):
    """Same size, mtime restored: the node must not keep rendering its cached track."""
    from engine.errors import InputError
    from engine.host.node import Node, file_digest

    track = copy_of(track8)
    values = {"model": str(demo_model), "track_file": str(track)}
    src = read_image(plate8 / "plate.1001.exr").pixels

    def render(node, vals=values):
        out = np.zeros_like(src)
        node.render(1001, vals, src, (0, 0), out, (0, 0), (0, 0, 880, 720))
        return out

    node = Node()
    before = render(node)
    st = track.stat()
    data = json.loads(track.read_text())
    fr = data["frames"]
    fr["1001"]["smoothed"], fr["1002"]["smoothed"] = fr["1002"]["smoothed"], fr["1001"]["smoothed"]
    text = json.dumps(data)
    assert len(text) == st.st_size  # the same bytes, moved: same size
    track.write_text(text)
    os.utime(track, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert track.stat().st_mtime_ns == st.st_mtime_ns and track.stat().st_size == st.st_size
    after = render(node)
    assert not np.array_equal(after, before)
    assert np.array_equal(after, render(Node()))  # what a fresh process (the farm) renders
    with pytest.raises(InputError, match="changed since Analyze"):
        render(node, {**values, "track_digest": file_digest(track8)})


def test_a_track_records_a_fingerprint_per_frame(track8):
    data = json.loads(track8.read_text())
    assert data["settings"]["fingerprint"] == "luma8x8-srgb8"
    for key, e in data["frames"].items():
        fp = e["fingerprint"]
        assert fp["frame"] == int(key) and len(fp["plate"]) == len(fp["face"]) == 128


def test_farm_chunks_refuse_a_changed_frame_as_the_render_does(plate8, track8, demo_model,
                                                                tmp_path, copy_of, cli):
    plate = copy_of(plate8, "plate")
    shutil.copy(plate8 / "plate.1001.exr", plate / "plate.1008.exr")  # a wrong frame delivered
    r = cli(*render_args(plate, tmp_path / "out", demo_model, track8, "--chunk-start", "1007",
                         "--chunk-size", "2"))
    assert r.rc == 1 and "frame 1008" in r.out and "does not match the track" in r.out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.exr")) == ["swap.1007.exr"]


def test_the_node_refuses_only_the_frame_whose_entry_is_refused(plate8, track8, demo_model,
                                                                copy_of):
    from engine.errors import InputError
    from engine.host.node import Node

    track = copy_of(track8)
    edit_json(track, _shuffle("1003"))
    values = {"model": str(demo_model), "track_file": str(track)}
    node, display = Node(), (0, 0, 880, 720)
    assert node.roi(1001, values, display) is not None  # the shot's other frames still work
    with pytest.raises(InputError, match="frame 1003: landmarks are not face-shaped"):
        node.roi(1003, values, display)
    src = read_image(plate8 / "plate.1003.exr").pixels
    with pytest.raises(InputError, match="frame 1003: landmarks are not face-shaped"):
        node.render(1003, values, src, (0, 0), np.zeros_like(src), (0, 0), display)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_node_checks_the_plate_against_the_track_at_any_render_scale(plate8, track8,
                                                                         demo_model, scale):
    """At a proxy the node gets the plate scaled: the same frame matches, a flopped one (another
    shot) is refused by name."""
    import cv2

    from engine.errors import InputError
    from engine.host.node import Node

    img = read_image(plate8 / "plate.1002.exr").pixels
    h, w = round(720 * scale), round(880 * scale)
    src = np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
                               if scale != 1.0 else img)
    values = {"model": str(demo_model), "track_file": str(track8)}
    node = Node()
    diag = node.render(1002, values, src, (0, 0), np.zeros_like(src), (0, 0), (0, 0, w, h),
                       scale=scale)
    assert diag["swapped"]
    flopped = np.ascontiguousarray(src[:, ::-1])
    with pytest.raises(InputError, match="frame 1002: the plate does not match the track"):
        node.render(1002, values, flopped, (0, 0), np.zeros_like(src), (0, 0), (0, 0, w, h),
                    scale=scale)
