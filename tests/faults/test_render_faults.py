"""Faults of `doppel render` (and `doppel analyze`): models, tracks, settings, outputs, resume."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.faults.conftest import Snapshot, edit_json, onnx_variant, temps

PATTERN = "plate.####.exr"


def render_args(plate, out, model, track, *extra):
    return ["render", plate / PATTERN, "-o", out / "swap.####.exr", "--model", model,
            *(["--track", track] if track else []), "--quiet", *extra]


# -- models -------------------------------------------------------------------------------------

def _three_channel_mask(proto):
    import onnx

    # Route the swap (3 channels) to the `mask` output: a mask that is not one channel.
    node = onnx.helper.make_node("Identity", ["swap"], ["mask3"])
    proto.graph.node.append(node)
    for out in proto.graph.output:
        if out.name == "mask":
            out.type.tensor_type.shape.dim[1].dim_value = 3
    for n in proto.graph.node:
        for i, name in enumerate(n.output):
            if name == "mask":
                n.output[i] = "mask_unused"
    node.output[0] = "mask"


@pytest.mark.parametrize("variant, needles", [
    (dict(meta={"resolution": "abc"}), ["resolution 'abc'", "not a number"]),
    (dict(meta={"resolution": "128"}), ["'face' is", "metadata says N×3×128×128"]),
    (dict(meta={"colorspace": "acescg-ish"}), ["colour space 'acescg-ish'", "unknown"]),
    (dict(meta={"doppel.schema": "9"}), ["schema 9"]),
    (dict(meta={"face_type": "torso"}), ["face type 'torso'"]),
    (dict(graph=_three_channel_mask), ["'mask' is", "N×1×"]),
], ids=["resolution-abc", "resolution-vs-graph", "unknown-colorspace", "schema",
        "face-type", "mask-3-channels"])
def test_unusable_model_is_refused_before_any_frame(tmp_path, plate8, track8, demo_model, fails,
                                                   variant, needles):
    model = onnx_variant(demo_model, tmp_path / "m" / "bad.onnx", **variant)
    fails(2, ["bad.onnx", *needles], *render_args(plate8, tmp_path / "out", model, track8))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("content, needles", [
    (None, ["nope.onnx", "not found"]),
    (b"garbage" * 100, ["nope.onnx", "not an ONNX model"]),
    (b"", ["nope.onnx"]),
], ids=["missing", "garbage", "empty"])
def test_missing_or_garbage_model(tmp_path, plate8, track8, fails, content, needles):
    model = tmp_path / "nope.onnx"
    if content is not None:
        model.write_bytes(content)
    fails(2, needles, *render_args(plate8, tmp_path / "out", model, track8))


# -- tracks -------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, needles", [
    (lambda p: p.write_text("[1, 2, 3]"), ["not a track", "list"]),
    (lambda p: p.write_text("{broken"), ["not valid JSON"]),
    (lambda p: edit_json(p, lambda d: d.pop("frames")), ["no 'frames'"]),
    (lambda p: edit_json(p, lambda d: next(iter(d["frames"].values())).pop("landmarks")),
     ["frame 1001", "'landmarks'"]),
    (lambda p: edit_json(p, lambda d: next(iter(d["frames"].values())).update(
        landmarks=[[1, 2]])), ["frame 1001", "landmarks (1, 2)"]),
    (lambda p: edit_json(p, lambda d: d.update(schema=7)), ["schema 7"]),
], ids=["json-list", "corrupt", "no-frames", "missing-key", "bad-landmarks", "schema"])
def test_damaged_track_is_one_line(tmp_path, plate8, track8, demo_model, copy_of, fails, damage,
                                   needles):
    track = copy_of(track8)
    damage(track)
    fails(2, [str(track), *needles], *render_args(plate8, tmp_path / "out", demo_model, track))


def test_track_that_is_a_folder(tmp_path, plate8, demo_model, fails):
    (tmp_path / "t.json").mkdir()
    fails(2, ["t.json", "is a folder"], *render_args(plate8, tmp_path / "out", demo_model,
                                                     tmp_path / "t.json"))


def test_track_of_another_shot_is_refused_and_renders_stay(rendered8, plate8, track8, demo_model,
                                                           copy_of, fails):
    track = copy_of(track8)

    def renumber(d):
        d["frames"] = {str(int(k) - 1000): v for k, v in d["frames"].items()}
        d["settings"]["frames"] = "1-8"
    edit_json(track, renumber)
    out = copy_of(rendered8, "out")
    snap = Snapshot(out)
    fails(2, ["track covers frames 1-8", "1001-1008", "doppel analyze"],
          *render_args(plate8, out, demo_model, track, "--overwrite"))
    snap.assert_unchanged()


# -- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [
    ("--blur", "inf"), ("--blur", "nan"), ("--blur", "-1"), ("--erode", "1e6"),
    ("--strength", "2"), ("--sharpen", "100"), ("--motion-blur", "50"), ("--face-index", "-3"),
    ("--threads", "-1"),
])
def test_out_of_bounds_setting_names_the_flag(tmp_path, plate8, track8, demo_model, fails, flag,
                                              value):
    name = flag.lstrip("-").replace("-", "_")
    line = fails(2, [], *render_args(plate8, tmp_path / "out", demo_model, track8, flag, value))
    assert flag in line or name in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, needles", [
    (["--workers", "0"], ["--workers"]),
    (["--chunk-start", "1001"], ["--chunk-size"]),
    (["--chunk-start", "1001", "--chunk-size", "-2"], ["--chunk-size"]),
], ids=["workers-0", "chunk-no-size", "chunk-negative"])
def test_bad_farm_options(tmp_path, plate8, track8, demo_model, fails, args, needles):
    fails(2, needles, *render_args(plate8, tmp_path / "out", demo_model, track8, *args))


# -- outputs ------------------------------------------------------------------------------------

def test_folder_at_an_output_frame_path(tmp_path, plate8, track8, demo_model, fails):
    (tmp_path / "out" / "swap.1003.exr").mkdir(parents=True)
    fails(2, ["swap.1003.exr", "is a folder"],
          *render_args(plate8, tmp_path / "out", demo_model, track8))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["swap.1003.exr"]


def test_output_folder_that_is_a_file(tmp_path, plate8, track8, demo_model, fails):
    (tmp_path / "out").write_text("x")
    fails(2, ["out", "is a file"], *render_args(plate8, tmp_path / "out", demo_model, track8))


def test_output_over_the_input_is_refused(tmp_path, plate8, track8, demo_model, copy_of, fails):
    plate = copy_of(plate8, "plate")
    snap = Snapshot(plate)
    fails(2, ["would overwrite the input"], "render", plate / PATTERN, "-o", plate / PATTERN,
          "--model", demo_model, "--track", track8, "--quiet")
    snap.assert_unchanged()


def test_foreign_exr_at_the_output_is_kept(tmp_path, plate8, track8, demo_model, fails):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(plate8 / "plate.1004.exr", out / "swap.1004.exr")  # somebody's comp, not ours
    snap = Snapshot(out)
    fails(2, ["swap.1004.exr", "not written by Doppel", "--overwrite"],
          *render_args(plate8, out, demo_model, track8))
    snap.assert_unchanged()


def test_resume_with_other_settings_names_the_setting(rendered8, plate8, track8, demo_model,
                                                      copy_of, fails):
    out = copy_of(rendered8, "out")
    snap = Snapshot(out)
    fails(2, ["--color 'rct-local' (this run 'lct')", "--overwrite"],
          *render_args(plate8, out, demo_model, track8, "--color", "lct"))
    snap.assert_unchanged()


def test_resume_with_another_model_names_the_model(rendered8, plate8, track8, demo_model,
                                                   copy_of, tmp_path, fails):
    out = copy_of(rendered8, "out")
    other = onnx_variant(demo_model, tmp_path / "m" / demo_model.name,
                         meta={"src_name": "someone else"})
    snap = Snapshot(out)
    fails(2, ["another model", "--overwrite"], *render_args(plate8, out, other, track8))
    snap.assert_unchanged()


def test_resume_with_the_model_by_another_path_skips_every_frame(rendered8, plate8, track8,
                                                                 demo_model, copy_of, tmp_path,
                                                                 cli, monkeypatch):
    out = copy_of(rendered8, "out")
    moved = copy_of(demo_model, "elsewhere/model.onnx")
    monkeypatch.chdir(tmp_path)
    snap = Snapshot(out)
    r = cli(*render_args(plate8, out, os.path.relpath(moved), track8))
    assert r.rc == 0 and "skipped (already done): 8" in r.out
    snap.assert_unchanged()


def test_overwrite_renders_other_settings_again(rendered8, plate8, track8, demo_model, copy_of,
                                                cli):
    out = copy_of(rendered8, "out")
    r = cli(*render_args(plate8, out, demo_model, track8, "--color", "none", "--overwrite",
                         "--frames", "1001-1002"))
    assert r.rc == 0 and "rendered: 2" in r.out
    from engine.io import read_image

    assert '"color": "none"' in read_image(out / "swap.1001.exr").metadata["doppel/settings"]
    assert (out / "swap.1003.exr").read_bytes() == (rendered8 / "swap.1003.exr").read_bytes()


def test_stale_temps_of_a_killed_render_are_removed(rendered8, plate8, track8, demo_model,
                                                    copy_of, cli):
    out = copy_of(rendered8, "out")
    dead = out / f".swap.1003.{_host()}.999999.x1y2z3.tmp.exr"
    dead.write_bytes(b"half a frame")
    live = out / f".swap.1004.{_host()}.{os.getpid()}.a1b2c3.tmp.exr"  # a writer still running
    live.write_bytes(b"in flight")
    r = cli(*render_args(plate8, out, demo_model, track8))
    assert r.rc == 0 and not dead.exists() and live.exists()
    live.unlink()
    assert not temps(out)


def _host():
    from engine.io.atomic import _HOST

    return _HOST


def test_range_typo_prints_one_line_not_thousands(rendered8, plate8, track8, demo_model, copy_of,
                                                  fails, cli):
    out = copy_of(rendered8, "out")
    fails(2, ["1118-20000", "1001-1008"],
          *render_args(plate8, out, demo_model, track8, "--frames", "1118-20000"))


def test_gap_and_truncated_frame_finish_with_exit_1_and_summary(tmp_path, plate8, track8,
                                                                demo_model, cli):
    plate = tmp_path / "plate"
    shutil.copytree(plate8, plate)
    (plate / "plate.1003.exr").unlink()
    (plate / "plate.1006.exr").write_bytes((plate8 / "plate.1006.exr").read_bytes()[:500])
    r = cli(*render_args(plate, tmp_path / "out", demo_model, track8))
    assert r.rc == 1
    assert "frames not in the plate: 1003" in r.out and "plate.1006.exr" in r.out
    assert not (tmp_path / "out" / "swap.1006.exr").exists()
    assert not temps(tmp_path / "out")


def test_plates_damaged_inside_their_chunks_are_frame_errors_with_nothing_else_printed(
        tmp_path, plate8, track8, demo_model, cli):
    """A chunk's leader overrunning the file, and a chunk whose compressed bytes are garbled
    (its leader intact: the decode itself fails): each frame's error, named, no output for
    it, the other frames rendered, and nothing of the decoders' own on stdout (where a
    script may read the summary)."""
    from engine.io.exr_layout import header

    plate = tmp_path / "plate"
    shutil.copytree(plate8, plate)
    for frame, where in ((1004, "leader"), (1006, "stream")):
        path = plate / f"plate.{frame}.exr"
        data = bytearray(path.read_bytes())
        end = header(bytes(data))[1]
        first = int.from_bytes(data[end:end + 8], "little")
        if where == "leader":
            data[first + 4:first + 8] = (10 ** 8).to_bytes(4, "little")
        else:
            data[first + 8:first + 72] = bytes(range(64))
        path.write_bytes(bytes(data))
    r = cli(*render_args(plate, tmp_path / "out", demo_model, track8))
    assert r.rc == 1
    assert "frames 1004,1006 (2)" in r.out and "truncated or corrupt" in r.out
    assert "Warning" not in r.out and "EXR_ERR" not in r.out
    # OpenEXR's own lines for the garbled stream (the binding's decoder prints them on the
    # process's stderr; documented): each names the file.
    assert all("plate.1006.exr" in line for line in r.err.splitlines()), r.err
    assert not (tmp_path / "out" / "swap.1004.exr").exists()
    assert not (tmp_path / "out" / "swap.1006.exr").exists()
    assert (tmp_path / "out" / "swap.1005.exr").exists()
    assert not temps(tmp_path / "out")


def test_disk_full_is_named_and_earlier_frames_survive(rendered8, plate8, track8, demo_model,
                                                       copy_of, fails, monkeypatch):
    import errno

    import engine.io.atomic as atomic

    out = copy_of(rendered8, "out")
    snap = Snapshot(out)

    replace = atomic.os.replace

    def full(src, dst):  # the frames do not fit (the render's small claim file still does)
        if str(dst).endswith(".exr"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst)
    monkeypatch.setattr(atomic.os, "replace", full)
    fails(2, ["disk full", "swap.1001.exr"],
          *render_args(plate8, out, demo_model, track8, "--overwrite", "--color", "none"))
    snap.assert_unchanged()
    assert not temps(out)


def test_png_output_of_an_overscan_plate_is_a_frame_error(tmp_path, plate8, track8, demo_model,
                                                          cli):
    from engine.io import Geometry, read_image, write_exr

    plate = tmp_path / "plate"
    img = read_image(plate8 / "plate.1001.exr")
    h, w = img.height, img.width
    write_exr(plate / "plate.1001.exr", img.pixels, img.channels,
              geometry=Geometry((-4, -4, w, h), (0, 0, w - 8, h - 8)))
    track = tmp_path / "t.json"
    edit_json(track8, lambda d: None)
    shutil.copy(track8, track)
    edit_json(track, lambda d: d["settings"].pop("plate", None))
    r = cli("render", plate / PATTERN, "-o", tmp_path / "out" / "s.####.png", "--model",
            demo_model, "--quiet", "--frames", "1001")
    assert r.rc == 1 and "only an EXR output keeps them" in r.out
    assert not (tmp_path / "out" / "s.1001.png").exists()


# -- plates: patterns, tiles ----------------------------------------------------------------------

def test_a_file_of_another_padding_beside_the_plate_is_not_read(tmp_path, plate8, track8,
                                                                 rendered8, demo_model, cli,
                                                                 monkeypatch):
    """`plate.01004.exr` (frame 1008's picture) beside `plate.1004.exr`: `####` reads the
    4-digit file, whatever order the folder lists them in (the last one listed was read)."""
    import engine.io.sequence as sequence
    from engine.io import read_image

    plate = tmp_path / "plate"
    shutil.copytree(plate8, plate)
    shutil.copy(plate8 / "plate.1008.exr", plate / "plate.01004.exr")
    want = read_image(rendered8 / "swap.1004.exr").pixels
    scandir = os.scandir
    for name, order in (("listed", list), ("reversed", lambda e: list(e)[::-1])):
        monkeypatch.setattr(sequence.os, "scandir", lambda p, o=order: iter(o(scandir(p))))
        out = tmp_path / name
        assert cli(*render_args(plate, out, demo_model, track8, "--frames", "1004")).rc == 0
        assert np.array_equal(read_image(out / "swap.1004.exr").pixels, want), name


def test_frame_tokens_in_folder_names_are_folders(tmp_path, plate8, demo_model, cli):
    """`take#2/plate.####.exr` and `-o comp@v2/swap.%04d.exr`: the frame number is the token
    in the file name (they were refused as "not a sequence pattern")."""
    take = tmp_path / "take#2"
    take.mkdir()
    for f in (1001, 1002):
        shutil.copy(plate8 / f"plate.{f}.exr", take)
    track = tmp_path / "t@1" / "track.json"
    assert cli("analyze", take / PATTERN, "-o", track, "--quiet").rc == 0
    r = cli("render", take / PATTERN, "-o", tmp_path / "comp@v2" / "swap.%04d.exr", "--model",
            demo_model, "--track", track, "--quiet")
    assert r.rc == 0, r.err
    assert sorted(p.name for p in (tmp_path / "comp@v2").glob("*.exr")) == ["swap.1001.exr",
                                                                           "swap.1002.exr"]


@pytest.mark.parametrize("mipmap", [False, True], ids=["tiled", "mipmapped"])
def test_a_tiled_plate_renders_the_face_region_of_the_scanline_plate(tmp_path, plate8, track8,
                                                                     demo_model, cli, mipmap):
    """`--region face` reads the face's rows: of a tiled plate (64×64 tiles, MIP-mapped too)
    by tiles, giving the scanline plate's output pixels (every frame failed as "truncated or
    corrupt", exit 1)."""
    import OpenImageIO as oiio

    from engine.io import read_image

    tiled = tmp_path / "tiled"
    tiled.mkdir()
    for f in (1004, 1005):
        src, dst = plate8 / f"plate.{f}.exr", tiled / f"plate.{f}.exr"
        if mipmap:
            assert oiio.ImageBufAlgo.make_texture(oiio.MakeTxTexture, oiio.ImageBuf(str(src)),
                                                  str(dst), oiio.ImageSpec())
        else:
            inp = oiio.ImageInput.open(str(src))
            spec = inp.spec().copy()
            pixels = inp.read_image(0, 0, 0, spec.nchannels, spec.format)
            inp.close()
            spec.tile_width = spec.tile_height = 64
            out = oiio.ImageOutput.create(str(dst))
            assert out.open(str(dst), spec) and out.write_image(pixels)
            out.close()
    for plate, out in ((plate8, tmp_path / "ref"), (tiled, tmp_path / "out")):
        r = cli(*render_args(plate, out, demo_model, track8, "--frames", "1004-1005",
                             "--region", "face"))
        assert r.rc == 0, r.out
    for f in (1004, 1005):
        ref = read_image(tmp_path / "ref" / f"swap.{f}.exr")
        got = read_image(tmp_path / "out" / f"swap.{f}.exr")
        assert got.geometry == ref.geometry and got.channels == ref.channels
        assert got.metadata["doppel/face"] == "swapped"
        assert np.array_equal(got.pixels, ref.pixels)


# -- analyze ------------------------------------------------------------------------------------

def test_failed_analyze_keeps_the_good_track(tmp_path, track8, copy_of, fails):
    track = copy_of(track8)
    noise = tmp_path / "noise"
    rng = np.random.default_rng(0)
    from engine.io import write_exr

    for f in (1, 2):
        write_exr(noise / f"n.{f}.exr", rng.uniform(0, 1, (120, 160, 3)).astype(np.float32))
    snap = Snapshot(tmp_path)
    fails(2, ["found on no frame"], "analyze", noise / "n.#.exr", "-o", track, "--quiet")
    snap.assert_unchanged(allow_new=False)


def test_analyze_of_bad_input_keeps_the_good_track(tmp_path, track8, copy_of, fails):
    track = copy_of(track8)
    snap = Snapshot(tmp_path)
    fails(2, ["missing.####.exr"], "analyze", tmp_path / "missing.####.exr", "-o", track,
          "--quiet")
    snap.assert_unchanged()


def test_analyze_range_outside_the_plate(tmp_path, plate8, fails):
    fails(2, ["2001-2005"], "analyze", plate8 / PATTERN, "-o", tmp_path / "t.json", "--frames",
          "2001-2005", "--quiet")
    assert not list(tmp_path.glob("t*"))


@pytest.mark.parametrize("flag, value", [("--smooth", "-1"), ("--max-side", "5"),
                                         ("--face-index", "-1")])
def test_analyze_bad_settings(tmp_path, plate8, fails, flag, value):
    line = fails(2, [value], "analyze", plate8 / PATTERN, "-o", tmp_path / "t.json", flag,
                 value, "--quiet")
    assert flag in line or flag.lstrip("-").replace("-", "_") in line, line
    assert not list(tmp_path.iterdir())


def test_analyze_into_a_folder(tmp_path, plate8, fails):
    (tmp_path / "t.json").mkdir()
    fails(2, ["t.json", "folder"], "analyze", plate8 / PATTERN, "-o", tmp_path / "t.json",
          "--quiet")


def test_track_records_plate_geometry_and_frames(track8):
    data = json.loads(track8.read_text())
    assert data["settings"]["plate"]["display_window"] == [0, 0, 880, 720]
    assert data["settings"]["frames"] == "1001-1008"


def test_frame_written_meanwhile_by_another_job_with_other_settings_is_kept(
        rendered8, plate8, track8, demo_model, tmp_path, cli, monkeypatch):
    import engine.shot.render as render_mod

    out = tmp_path / "out"
    inner = render_mod.ShotRenderer.already_done

    def other_job_meanwhile(self, target):
        if target.name == "swap.1001.exr":  # while this run works, a farm job with other
            out.mkdir(exist_ok=True)        # settings writes 1002
            shutil.copy(rendered8 / "swap.1002.exr", out / "swap.1002.exr")
        return inner(self, target)
    monkeypatch.setattr(render_mod.ShotRenderer, "already_done", other_job_meanwhile)
    r = cli(*render_args(plate8, out, demo_model, track8, "--color", "none", "--frames",
                         "1001-1003"))
    assert r.rc == 1
    assert "frame 1002" in r.out and "--color 'rct-local' (this run 'none')" in r.out
    assert (out / "swap.1002.exr").read_bytes() == (rendered8 / "swap.1002.exr").read_bytes()
    assert (out / "swap.1003.exr").exists()


@pytest.mark.parametrize("ext", ["png", "tif", "jpg"])
def test_non_exr_outputs_resume_and_refuse_other_settings_too(tmp_path, plate8, track8,
                                                             demo_model, cli, fails, ext):
    out = tmp_path / "out" / f"s.####.{ext}"
    args = ["render", plate8 / PATTERN, "-o", out, "--model", demo_model, "--track", track8,
            "--frames", "1001", "--quiet"]
    assert cli(*args).rc == 0
    again = cli(*args)
    assert again.rc == 0 and "skipped (already done): 1" in again.out
    snap = Snapshot(tmp_path / "out")
    fails(2, ["--blur 10.0 (this run 4.0)"], *args, "--blur", "4")
    snap.assert_unchanged()


# -- plates laid out as the render cannot use, outputs it does not write ------------------------

def _relayout(plate8, dest, layout):
    """plate8's frames rewritten: "beauty-second" (a multi-part EXR, depth part first),
    "aov-parts" (beauty then a Z part), "prefixed" (the beauty as beauty.R, G, B, A), "z-only"."""
    import OpenImageIO as oiio

    from engine.io import read_image

    dest.mkdir()
    for src in sorted(plate8.glob("plate.*.exr")):
        img = read_image(src)
        px, h, w = img.pixels.astype(np.float32), img.height, img.width
        z = np.full((h, w, 1), 7.5, np.float32)
        parts = {"beauty-second": [("depth", ("Z",), z), ("rgba", img.channels, px)],
                 "aov-parts": [("rgba", img.channels, px), ("depth", ("Z",), z)],
                 "prefixed": [("beauty", tuple(f"beauty.{c}" for c in img.channels), px)],
                 "z-only": [("depth", ("Z",), z)]}[layout]
        specs = []
        for name, chans, _ in parts:
            spec = oiio.ImageSpec(w, h, len(chans), "half")
            spec.channelnames = chans
            spec.attribute("name", name)
            specs.append(spec)
        out = oiio.ImageOutput.create(str(dest / src.name))
        assert out.open(str(dest / src.name), specs)
        for i, (_, _, pixels) in enumerate(parts):
            if i:
                assert out.open(str(dest / src.name), specs[i], "AppendSubimage")
            assert out.write_image(pixels)
        out.close()


@pytest.mark.parametrize("layout, needles", [
    ("beauty-second", ["has 2 parts (depth: Z; rgba: R,G,B,A)", "write the plate as one part"]),
    ("aov-parts", ["has 2 parts", "would lose all but the first"]),
    ("prefixed", ["no R, G, B channels (has beauty.R", "shuffled to R, G, B"]),
    ("z-only", ["no R, G, B channels (has Z)"]),
])
def test_a_plate_laid_out_as_the_render_cannot_use_is_refused_before_any_frame(
        tmp_path, plate8, demo_model, fails, layout, needles):
    """A multi-part plate used to render part 0 (a depth part's values as R=G=B, exit 0) and
    drop the others; a plate without R, G, B failed on every frame, exit 1."""
    plate = tmp_path / "plate"
    _relayout(plate8, plate, layout)
    before = Snapshot(plate)
    fails(2, ["frame 1001", *needles], *render_args(plate, tmp_path / "out", demo_model, None))
    assert not (tmp_path / "out").exists()
    before.assert_unchanged()


@pytest.mark.parametrize("suffix", [".hdr", ".dpx", ".mov", ""])
def test_an_output_format_the_render_does_not_write_is_refused_before_any_work(
        tmp_path, plate8, track8, demo_model, fails, suffix):
    """.hdr (linear) was written 8-bit sRGB, clipped; .dpx without alpha or mask; .mov failed
    on every frame after swapping it."""
    out = tmp_path / "out" / f"swap.####{suffix}"
    fails(2, ["--output", "give one of .exr"], "render", plate8 / PATTERN, "-o", out,
          "--model", demo_model, "--track", track8, "--quiet")
    assert not (tmp_path / "out").exists()
