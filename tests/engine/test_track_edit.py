"""Hand-fixing a track (docs/track-editing.md): health names the frames the tracker missed, keys
put the face where the edit says in render, node and farm alike, undo restores the analysis,
and an edit made on another plate is refused by name."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from doppel_cli.main import main
from engine.geometry.health import format_ranges, track_health
from engine.geometry.track import Track
from engine.io import read_image, write_exr

FRAMES = range(1001, 1009)
COVERED = (1004, 1005, 1006)
PATCH = (120, 480, 300, 620)  # rows y0:y1, columns x0:x1 over the sample plate's face
BOX = "305,165,250,320"  # x,y,w,h around where the face is on the frames either side


def make_covered_plate(folder, plate_pattern):
    """Frames 1001-1008 of the sample plate with the face under a grey patch on COVERED."""
    folder.mkdir(parents=True, exist_ok=True)
    y0, y1, x0, x1 = PATCH
    for f in FRAMES:
        px = read_image(plate_pattern.replace("####", str(f))).pixels.copy()
        if f in COVERED:
            px[y0:y1, x0:x1, :3] = 0.18
        write_exr(folder / f"p.{f}.exr", px, half=False)
    return str(folder / "p.####.exr")


def make_covered_shot(root, plate_pattern):
    """(plate pattern, analysed track path) of a shot where the face is covered on 3 frames."""
    plate = make_covered_plate(root / "plate", plate_pattern)
    track = root / "track.json"
    assert main(["analyze", plate, "-o", str(track), "--quiet"]) == 0
    return plate, track


@pytest.fixture(scope="module")
def covered(tmp_path_factory, plate_pattern):
    return make_covered_shot(tmp_path_factory.mktemp("covered"), plate_pattern)


def test_analyze_prints_the_suspect_frames(covered, capsys, tmp_path):
    assert main(["analyze", covered[0], "-o", str(tmp_path / "t.json"), "--quiet"]) == 0
    assert "suspect frames: 1004-1006 no detection" in capsys.readouterr().out
    assert Track.load(tmp_path / "t.json").settings["suspects"] == "1004-1006 no detection"


def copy_track(covered, tmp_path):
    path = tmp_path / "track.json"
    shutil.copy(covered[1], path)
    return path


def render(plate, out, model, track, frames):
    return main(["render", plate, "-o", str(out), "--model", str(model), "--track", str(track),
                 "--frames", frames, "--quiet"])


def test_health_names_exactly_the_covered_frames(covered, capsys, tmp_path):
    track = Track.load(covered[1])
    health = track_health(track)
    assert health == {f: ["no detection"] for f in COVERED}
    assert format_ranges(health) == "1004-1006 no detection"
    sheet = tmp_path / "suspects.png"
    assert main(["track", "health", str(covered[1]), "--plate", covered[0], "--sheet",
                 str(sheet)]) == 0
    assert "3 suspect: 1004-1006 no detection" in capsys.readouterr().out
    assert read_image(sheet).pixels.shape[1] == 3 * 200  # one tile per suspect frame


def test_box_key_renders_the_covered_frames_inside_the_box(covered, tmp_path, demo_model,
                                                           capsys):
    plate, _ = covered
    track = copy_track(covered, tmp_path)
    assert render(plate, tmp_path / "before" / "s.####.exr", demo_model, track, "1004-1006") == 0
    before = read_image(tmp_path / "before" / "s.1005.exr")
    assert before.metadata["doppel/face"] == "no face"
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1004-1006",
                 "--box", BOX]) == 0
    assert "0 suspect" in (main(["track", "health", str(track)]) or capsys.readouterr().out)
    assert render(plate, tmp_path / "after" / "s.####.exr", demo_model, track, "1004-1006") == 0
    x, y, w, h = (float(v) for v in BOX.split(","))
    for f in COVERED:
        out = read_image(tmp_path / "after" / f"s.{f}.exr")
        assert out.metadata["doppel/face"] == "swapped"
        src = read_image(plate.replace("####", str(f))).pixels[..., :3]
        changed = np.abs(out.pixels[..., :3] - src).max(axis=2) > 1e-3
        ys, xs = np.nonzero(changed)
        assert len(xs) > 1000
        cx, cy = xs.mean(), ys.mean()  # the swapped region's centre lies inside the box
        assert x < cx < x + w and y < cy < y + h, (f, cx, cy)


def test_one_key_with_a_span_fills_the_undetected_frames_beside_it(covered, tmp_path):
    """A box on the middle covered frame with span 1: the covered frames either side get a
    face halfway between the key and the detection beyond them; none is suspect any more."""
    from engine.geometry.health import track_health

    plate, _ = covered
    track_path = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track_path), "--plate", plate, "--frames", "1005",
                 "--box", BOX, "--span", "1"]) == 0
    track = Track.load(track_path)
    key = track.faces[1005].landmarks
    for f, beyond in ((1004, 1003), (1006, 1007)):
        assert f in track.faces and f not in track.keys
        want = (key + track.faces[beyond].landmarks) / 2  # raw neighbours: unchanged by span 1
        assert np.allclose(track.faces[f].landmarks, want, atol=1e-4), f
        assert f in track.fingerprints  # made on the plate like any changed frame
    assert not track_health(track)
    # Span 0: the key alone; its neighbours stay without a face (and suspect).
    assert main(["track", "fix", str(track_path), "--plate", plate, "--frames", "1005",
                 "--box", BOX, "--span", "0"]) == 0
    track = Track.load(track_path)
    assert 1004 not in track.faces and 1006 not in track.faces
    assert sorted(track_health(track)) == [1004, 1006]


def test_removing_every_key_restores_the_analysis_byte_for_byte(covered, tmp_path):
    plate, original = covered
    track = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--box", BOX, "--span", "2"]) == 0
    edited = json.loads(track.read_text())
    assert [k["frame"] for k in edited["keys"]] == [1005]
    assert edited["schema"] == 2 and "1005" in edited["edits"]
    assert edited["frames"] == json.loads(original.read_text())["frames"]  # raw kept beside
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--remove"]) == 0
    assert track.read_bytes() == original.read_bytes()


def test_points_key_blends_into_neighbours_over_its_span(covered, tmp_path):
    from engine.geometry.track_keys import TrackKey, apply_keys
    from engine.shot.track_edit import PlateFrames

    plate = PlateFrames.open(covered[0])
    track = Track.load(covered[1])
    moved = track.faces[1002].landmarks + np.float32([12.0, 0.0])
    edited = apply_keys(track, [TrackKey(1002, "points", 2, points=moved)], plate)
    shift = {f: float((edited.faces[f].landmarks - track.faces[f].landmarks)[:, 0].mean())
             for f in (1001, 1002, 1003)}
    assert shift[1002] == pytest.approx(12.0, abs=1e-3)  # the key, pinned
    assert shift[1001] == pytest.approx(12.0 * 2 / 3, abs=1e-3)  # 1 - 1/(span + 1)
    assert shift[1003] == pytest.approx(12.0 * 2 / 3, abs=1e-3)
    np.testing.assert_array_equal(edited.smoothed[1002], moved)
    assert edited.faces[1008] is track.faces[1008]  # far from the key: untouched
    np.testing.assert_array_equal(edited.smoothed[1008], track.smoothed[1008])


def test_a_key_that_is_no_face_is_refused_when_made(covered):
    from engine.errors import InputError
    from engine.geometry.track_keys import TrackKey, apply_keys
    from engine.shot.track_edit import PlateFrames

    track = Track.load(covered[1])
    pts = track.faces[1002].landmarks[::-1].copy()  # the points in the wrong order: no face
    with pytest.raises(InputError, match="key on frame 1002: its landmarks are not face-shaped"):
        apply_keys(track, [TrackKey(1002, "points", points=pts)], PlateFrames.open(covered[0]))


def test_no_face_key_passes_the_frame_through(covered, tmp_path, demo_model):
    plate = covered[0]
    track = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1002",
                 "--no-face"]) == 0
    assert 1002 not in Track.load(track).faces and 1002 in Track.load(track).analysed()
    assert render(plate, tmp_path / "o" / "s.####.exr", demo_model, track, "1002") == 0
    assert read_image(tmp_path / "o" / "s.1002.exr").metadata["doppel/face"] == "no face"


def test_schema_1_track_loads_with_no_keys(covered, tmp_path):
    data = json.loads(covered[1].read_text())
    data["schema"] = 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    old = Track.load(path)
    assert old.keys == {} and old.frames == Track.load(covered[1]).frames


def test_an_edit_changes_the_render_record_so_resume_redoes_the_frames(covered, tmp_path):
    from engine.shot.resume import track_digest

    track = copy_track(covered, tmp_path)
    before = track_digest(str(track))
    assert main(["track", "fix", str(track), "--plate", covered[0], "--frames", "1005",
                 "--box", BOX]) == 0
    assert track_digest(str(track)) != before


def test_a_stale_edit_is_refused_by_name(covered, tmp_path, demo_model, capsys):
    plate, _ = covered
    track = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--box", BOX]) == 0
    changed = tmp_path / "plate2"
    shutil.copytree(plate.rsplit("/", 1)[0], changed)
    img = read_image(changed / "p.1005.exr")
    write_exr(changed / "p.1005.exr", img.pixels * 1.6, half=False)  # a new grade
    capsys.readouterr()
    code = render(str(changed / "p.####.exr"), tmp_path / "o" / "s.####.exr", demo_model,
                  track, "1003-1006")
    out = capsys.readouterr()
    assert code == 1, out
    assert "frame 1005: the hand edit (box key) was made on another plate frame" in (
        out.out + out.err)
    assert (tmp_path / "o" / "s.1004.exr").is_file()  # the other frames render


def test_a_stale_edit_is_refused_at_proxy_scale_too(covered, tmp_path):
    """A node rendering at half resolution (a host's proxy) sees the regraded keyed frame as
    stale as a full-resolution render does; the unchanged frame passes at both scales."""
    import cv2

    from engine.errors import InputError
    from engine.io import Geometry
    from engine.shot.frame import check_frame

    plate, _ = covered
    track_path = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track_path), "--plate", plate, "--frames", "1005",
                 "--box", BOX]) == 0
    track = Track.load(track_path)
    full = read_image(plate.replace("####", "1005")).pixels
    h, w = full.shape[:2]
    for scale in (1.0, 0.5):
        size = (round(w * scale), round(h * scale))
        geo = Geometry((0, 0, *size), (0, 0, *size))
        for pixels, stale in ((full, False), (full * 1.6, True)):
            px = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA) if scale != 1 else pixels
            if stale:
                with pytest.raises(InputError, match="frame 1005: the hand edit .box key. was "
                                                     "made on another plate frame"):
                    check_frame(1005, geo, track, "t", scale, px)
            else:
                check_frame(1005, geo, track, "t", scale, px)


def test_the_node_reads_keys_from_the_track_file_and_matches_the_render(
        covered, tmp_path, demo_model):
    """Edits survive a reload of the comp: the node's stored Analyze digest still accepts the
    edited file, and its pixels are `doppel render`'s (the farm runs `doppel render`)."""
    from engine.host.node import Node, file_digest

    plate, _ = covered
    track = copy_track(covered, tmp_path)
    data = json.loads(track.read_text())
    data["schema"] = 1  # made by a Doppel before keys: it is edited all the same
    track.write_text(json.dumps(data))
    digest = file_digest(track)  # what Analyze stored in the comp
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--box", BOX]) == 0
    assert render(plate, tmp_path / "cli" / "s.####.exr", demo_model, track, "1005") == 0
    cli = read_image(tmp_path / "cli" / "s.1005.exr").pixels
    src = read_image(plate.replace("####", "1005")).pixels
    out = np.zeros_like(src)
    values = {"model": str(demo_model), "track_file": str(track), "track_digest": digest}
    Node().render(1005, values, src, (0, 0), out, (0, 0), (0, 0, 880, 720))
    np.testing.assert_allclose(out, cli[..., :4], atol=2e-3)  # the CLI writes half floats
    assert (np.abs(out - src)[..., :3].max(axis=2) > 1e-3).sum() > 1000  # the face is there
    other = tmp_path / "other.json"
    shutil.copy(covered[1], other)
    data = json.loads(other.read_text())
    data["settings"]["smooth_radius"] = 5  # a different analysis, not an edit
    other.write_text(json.dumps(data))
    from engine.errors import InputError

    with pytest.raises(InputError, match="changed since Analyze"):
        Node().render(1005, {**values, "track_file": str(other)}, src, (0, 0), out, (0, 0),
                      (0, 0, 880, 720))


def test_bad_fixes_exit_2_and_write_nothing(covered, tmp_path, capsys):
    plate = covered[0]
    track = copy_track(covered, tmp_path)
    before = track.read_bytes()
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--box", "1,2,3"]) == 2
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "2000",
                 "--no-face"]) == 2
    assert "2000 not analysed" in capsys.readouterr().err
    assert track.read_bytes() == before


def test_editor_server_answers_bad_requests_with_one_line_and_saves_atomically(covered,
                                                                               tmp_path):
    import urllib.error
    import urllib.request

    from engine.host.track_editor.server import start

    track = copy_track(covered, tmp_path)
    server, url = start(covered[0], track)
    try:
        def post(path, body):
            req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        with urllib.request.urlopen(url + "api/track") as r:
            state = json.loads(r.read())
        assert state["suspects"] == {str(f): ["no detection"] for f in COVERED}
        with urllib.request.urlopen(url + "api/frame/1005.jpg") as r:
            assert r.headers["Content-Type"] == "image/jpeg" and r.read(2) == b"\xff\xd8"
        assert post("api/key", {"frame": 1005, "kind": "box", "box": [1, 2, 3, 4]}) == (
            400, {"error": "key on frame 1005: box 2×2 px is too small for a face (at least "
                           "8×8); draw it around the whole face"})
        code, body = post("api/key", {"frame": 1005, "kind": "noface", "span": 0})
        assert code == 200 and body["dirty"] and "1005" in body["keys"]
        assert json.loads(track.read_text()).get("keys") is None  # not saved yet
        code, body = post("api/save", {})
        assert code == 200 and not body["dirty"]
        assert [k["frame"] for k in json.loads(track.read_text())["keys"]] == [1005]
        assert not list(tmp_path.glob("*.tmp*"))  # temp + rename left nothing behind
        # Values of the wrong kind: a 400 with a line, never a dropped connection.
        code, body = post("api/key", {"frame": 1005, "kind": "box", "box": ["a", 2, 3, 4]})
        assert code == 400 and "bad value" in body["error"]
        # The track changed on disk (analyze again): a save would lose that; refused.
        post("api/key", {"frame": 1006, "kind": "noface", "span": 0})
        saved = track.read_bytes()
        track.write_bytes(saved.replace(b'"keys"', b'"keys" ', 1))
        changed = track.read_bytes()
        code, body = post("api/save", {})
        assert code == 400 and "changed on disk" in body["error"]
        assert track.read_bytes() == changed
    finally:
        server.shutdown()


def test_editor_server_answers_only_its_own_page(covered, tmp_path):
    """Another site in the user's browser (a rebinding DNS name, a cross-site form) cannot
    read frames or save the track."""
    import urllib.error
    import urllib.request

    from engine.host.track_editor.server import start

    track = copy_track(covered, tmp_path)
    before = track.read_bytes()
    server, url = start(covered[0], track)
    port = server.server_address[1]
    try:
        def status(path, headers, data=None):
            req = urllib.request.Request(url + path, data, headers)
            try:
                with urllib.request.urlopen(req) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status("api/track", {}) == 200
        assert status("api/track", {"Host": f"evil.example:{port}"}) == 403
        assert status("api/save", {"Origin": "http://evil.example"}, b"{}") == 403
        assert status("api/save", {"Origin": f"http://127.0.0.1:{port}"}, b"{}") == 200
        assert json.loads(track.read_bytes()) == json.loads(before)  # no edit was made
    finally:
        server.shutdown()


def test_the_node_refuses_a_stale_edit_by_name_and_opens_the_editor_detached(
        covered, tmp_path, demo_model, monkeypatch):
    import subprocess

    from engine.errors import InputError, SettingsError
    from engine.host.node import Node

    plate, _ = covered
    track = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--box", BOX]) == 0
    src = read_image(plate.replace("####", "1005")).pixels * 1.6  # the plate regraded
    values = {"model": str(demo_model), "track_file": str(track)}
    with pytest.raises(InputError, match="frame 1005: the hand edit .box key. was made on "
                                         "another plate frame"):
        Node().render(1005, values, src, (0, 0), np.zeros_like(src), (0, 0), (0, 0, 880, 720))
    started = []

    class Serving:  # an editor that starts and serves (its address line in the log)
        def __init__(self, cmd, **kw):
            started.append((cmd, kw))
            kw["stdout"].write(b"track editor for t on p: http://127.0.0.1:8123/ (Ctrl-C)\n")
            kw["stdout"].flush()

        def poll(self):
            return None

    monkeypatch.setattr(subprocess, "Popen", Serving)
    with pytest.raises(SettingsError, match="Edit Track: the node knows no plate file"):
        Node().edit_track(values)
    cmd = Node().edit_track({**values, "farm_plate": plate})
    assert cmd[-6:] == ["track", "edit", plate, str(track), "at", "http://127.0.0.1:8123/"]
    assert started[0][1]["start_new_session"]  # detached: the host never waits on it


def test_edit_track_that_cannot_start_is_the_presses_error_with_the_editors_line(
        covered, tmp_path, samples):
    """A real editor process on a plate that is not the track's exits at once: the button
    press fails with the editor's own message instead of silently doing nothing."""
    from engine.errors import SettingsError
    from engine.host.node import Node

    track = copy_track(covered, tmp_path)
    other = str(samples / "plate_cap12" / "cap12.####.exr")  # another shot
    with pytest.raises(SettingsError, match=r"Edit Track: the editor did not start \(exit 2"):
        Node().edit_track({"track_file": str(track), "farm_plate": other}, wait_s=120)


def test_edits_that_are_not_what_the_keys_make_are_refused_by_frame(covered, tmp_path, capsys,
                                                                     demo_model):
    """A track file cut short or edited by hand (an edit gone, a keyed face moved) would render
    those frames at the analysis' place or as no face with exit 0: refused, naming the frame."""
    plate, _ = covered
    track = copy_track(covered, tmp_path)
    assert main(["track", "fix", str(track), "--plate", plate, "--frames", "1005",
                 "--box", BOX, "--span", "1"]) == 0
    good = json.loads(track.read_text())
    assert Track.load(track).keys  # as saved: loads
    gone, moved = json.loads(json.dumps(good)), json.loads(json.dumps(good))
    del gone["edits"]["1004"]  # the filled frame's edit lost
    moved["edits"]["1005"]["landmarks"][30][0] += 5.0  # the keyed face moved by hand
    for name, data, frame in (("gone", gone, 1004), ("moved", moved, 1005)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        capsys.readouterr()
        assert render(plate, tmp_path / name / "s.####.exr", demo_model, path, "1004-1006") == 2
        err = capsys.readouterr().err
        assert f"frame {frame}: its saved edit is not what the track's keys make" in err, err
        assert not (tmp_path / name).exists()
