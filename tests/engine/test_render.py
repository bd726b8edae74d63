"""`doppel analyze` + `doppel render` end to end: determinism, chunking, resume, bad input, farm."""

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from doppel_cli.main import main
from engine.io import read_image, write_exr

FRAMES = "1001-1008"


@pytest.fixture(scope="module")
def track_file(tmp_path_factory, plate_pattern):
    out = tmp_path_factory.mktemp("track") / "track.json"
    assert main(["analyze", plate_pattern, "-o", str(out), "--frames", FRAMES, "--quiet"]) == 0
    return out


def render_cli(plate, out, model, track, *extra):
    return main(["render", str(plate), "-o", str(out), "--model", str(model), "--track",
                 str(track), "--quiet", *map(str, extra)])


def test_render_writes_layers_and_metadata(tmp_path, plate_pattern, demo_model, track_file):
    out = tmp_path / "a" / "swap.####.exr"
    assert render_cli(plate_pattern, out, demo_model, track_file, "--frames", FRAMES,
                      "--face-layer") == 0
    img = read_image(tmp_path / "a" / "swap.1004.exr")
    assert img.channels == ("R", "G", "B", "A", "doppel.mask", "doppel.face.R",
                            "doppel.face.G", "doppel.face.B")
    assert img.metadata["compression"] == "zip" and img.metadata["doppel/face"] == "swapped"
    assert img.metadata["doppel/model"] == demo_model.name
    assert '"color": "rct-local"' in img.metadata["doppel/settings"]  # the default look
    plate = read_image(plate_pattern.replace("####", "1004"))
    np.testing.assert_array_equal(img.channel("A"), plate.channel("A"))
    assert (tmp_path / "a" / "swap.1004.exr").stat().st_mode & 0o044  # readable by others


def test_same_frames_in_other_chunkings_are_bit_identical(tmp_path, plate_pattern, demo_model,
                                                          track_file):
    one = tmp_path / "one" / "swap.####.exr"
    assert render_cli(plate_pattern, one, demo_model, track_file, "--frames", FRAMES) == 0
    chunks = tmp_path / "chunks" / "swap.####.exr"
    for start in (1001, 1004, 1007):
        assert render_cli(plate_pattern, chunks, demo_model, track_file, "--frames", FRAMES,
                          "--chunk-start", start, "--chunk-size", 3) == 0
    par = tmp_path / "par" / "swap.####.exr"
    assert render_cli(plate_pattern, par, demo_model, track_file, "--frames", FRAMES,
                      "--workers", 2) == 0
    again = tmp_path / "again" / "swap.####.exr"
    assert render_cli(plate_pattern, again, demo_model, track_file, "--frames", FRAMES) == 0
    for f in range(1001, 1009):
        name = f"swap.{f}.exr"
        ref = (tmp_path / "one" / name).read_bytes()
        for other in ("chunks", "par", "again"):
            assert (tmp_path / other / name).read_bytes() == ref, (other, name)


def test_killed_render_resumes_without_redoing_frames(tmp_path, plate_pattern, demo_model,
                                                      track_file):
    import json

    out = tmp_path / "k" / "swap.####.exr"
    # The track's analysed range covers the whole shot (faces on 1001-1008, none after).
    data = json.loads(track_file.read_text())
    data["settings"]["frames"] = "1001-1120"
    track = tmp_path / "track.json"
    track.write_text(json.dumps(data))
    cmd = [sys.executable, "-m", "doppel_cli", "render", plate_pattern, "-o", str(out),
           "--model", str(demo_model), "--track", str(track), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "k").glob("swap.*.exr"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in (tmp_path / "k").glob("swap.*.exr"))
    assert 3 <= len(done) < 120
    before = {n: (tmp_path / "k" / n).stat().st_mtime_ns for n in done}
    for leftover in (tmp_path / "k").glob(".*tmp*"):  # a kill can leave a temp, never a frame
        assert not leftover.name.startswith("swap.")
    result = subprocess.run(cmd[:-1] + ["--frames", "1001-1120"], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"skipped (already done): {len(done)}" in result.stdout
    assert all((tmp_path / "k" / n).stat().st_mtime_ns == t for n, t in before.items())
    assert len(list((tmp_path / "k").glob("swap.*.exr"))) == 120


def test_corrupt_and_missing_frames_are_reported_and_the_rest_rendered(
        tmp_path, plate_pattern, demo_model, track_file, capsys):
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in range(1001, 1007):
        shutil.copy(plate_pattern.replace("####", str(f)), plate / f"plate.{f}.exr")
    (plate / "plate.1003.exr").write_bytes((plate / "plate.1003.exr").read_bytes()[:5000])
    (plate / "plate.1005.exr").unlink()
    rc = render_cli(plate / "plate.####.exr", tmp_path / "o" / "s.####.exr", demo_model,
                    track_file)
    text = capsys.readouterr().out
    assert rc == 1 and "errors: 2" in text and "plate.1003.exr" in text
    assert not list((tmp_path / "o").glob(".*tmp*"))
    assert "frames not in the plate: 1005" in text
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "s.1001.exr", "s.1002.exr", "s.1004.exr", "s.1006.exr"]


def test_frames_without_a_face_pass_through_and_are_flagged(tmp_path, demo_model, capsys):
    plate = tmp_path / "plate"
    rng = np.random.default_rng(0)
    px = rng.uniform(0, 2, (240, 320, 4)).astype(np.float32)
    write_exr(plate / "p.0001.exr", px, half=False)
    assert main(["render", str(plate / "p.####.exr"), "-o", str(tmp_path / "o.####.exr"),
                 "--model", str(demo_model), "--quiet"]) == 0
    assert "no face (passed through): 1" in capsys.readouterr().out
    out = read_image(tmp_path / "o.0001.exr")
    assert out.metadata["doppel/face"] == "no face"
    # a float plate's channels stay float (a half output would round them): bit-exact
    np.testing.assert_array_equal(out.pixels[..., :4], px)


@pytest.mark.parametrize("case, message", [
    ("overwrite", "would overwrite the input"),
    ("unwritable", "cannot write to output folder"),
    ("not_onnx", "not an ONNX model"),
    ("face_type", "differs from the track's 'head'"),
])
def test_bad_render_setups_exit_2_with_one_line(tmp_path, plate_pattern, demo_model, track_file,
                                                capsys, case, message):
    import json

    plate, out, model, track = plate_pattern, tmp_path / "o" / "s.####.exr", demo_model, track_file
    if case == "overwrite":
        out = plate_pattern
    elif case == "unwritable":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "s.####.exr"
    elif case == "not_onnx":
        model = tmp_path / "m.onnx"
        model.write_text("not a model")
    elif case == "face_type":
        data = json.loads(track_file.read_text())
        data["settings"]["face_type"] = "head"
        track = tmp_path / "t.json"
        track.write_text(json.dumps(data))
    assert render_cli(plate, out, model, track, "--frames", "1001") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_openjd_template_checks_and_runs_in_chunks(tmp_path, plate_pattern, demo_model):
    openjd = shutil.which("openjd", path=str(__import__("pathlib").Path(sys.executable).parent))
    if openjd is None:
        pytest.fail("openjd-cli missing from the venv (dev extra)")
    template = "farm/doppel_render.template.yaml"
    check = subprocess.run([openjd, "check", template], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    doppel = str(__import__("pathlib").Path(sys.executable).parent / "doppel")
    run = subprocess.run(
        [openjd, "run", template, "--step", "Render", "--run-dependencies",
         "-p", f"Plate={plate_pattern}", "-p", f"Output={tmp_path}/farm/swap.####.exr",
         "-p", f"Model={demo_model}", "-p", f"Track={tmp_path}/farm/track.json",
         "-p", "FrameStart=1001", "-p", "FrameEnd=1005", "-p", "ChunkSize=2",
         "-p", f"Doppel={doppel}"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Chunks run: 4" in run.stdout  # analyze + 3 render chunks
    ref = tmp_path / "ref" / "swap.####.exr"
    assert render_cli(plate_pattern, ref, demo_model, tmp_path / "farm" / "track.json",
                      "--frames", "1001-1005") == 0
    for f in range(1001, 1006):
        assert ((tmp_path / "farm" / f"swap.{f}.exr").read_bytes()
                == (tmp_path / "ref" / f"swap.{f}.exr").read_bytes())


def test_pipelined_render_writes_the_serial_renders_bytes(tmp_path, plate_pattern, demo_model,
                                                          track_file):
    """Read-ahead and the writer thread change when work happens, never what is written."""
    for name, extra in (("pipe", ()), ("serial", ("--no-overlap",))):
        out = tmp_path / name / "swap.####.exr"
        assert render_cli(plate_pattern, out, demo_model, track_file, "--frames", "1001-1004",
                          "--face-layer", *extra) == 0
    for f in range(1001, 1005):
        name = f"swap.{f}.exr"
        assert (tmp_path / "pipe" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes()


def test_face_region_merged_over_the_plate_is_the_full_render(tmp_path, plate_pattern,
                                                              demo_model, track_file):
    full, region = tmp_path / "full" / "s.####.exr", tmp_path / "region" / "s.####.exr"
    assert render_cli(plate_pattern, full, demo_model, track_file, "--frames", "1004") == 0
    assert render_cli(plate_pattern, region, demo_model, track_file, "--frames", "1004",
                      "--region", "face") == 0
    plate = read_image(plate_pattern.replace("####", "1004"))
    ref = read_image(tmp_path / "full" / "s.1004.exr")
    reg = read_image(tmp_path / "region" / "s.1004.exr")
    assert reg.channels == ("R", "G", "B", "A", "doppel.mask")
    assert reg.geometry.display == plate.geometry.display
    x, y, w, h = reg.geometry.data
    assert w * h < plate.width * plate.height / 4  # only the face, not the frame
    np.testing.assert_array_equal(reg.channel("A"), reg.channel("doppel.mask"))
    mask = ref.channel("doppel.mask")
    ys, xs = np.nonzero(mask > 0)
    assert (x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h)
    np.testing.assert_array_equal(mask[y:y + h, x:x + w], reg.channel("A"))
    merged = plate.pixels[..., :3].copy()
    a = reg.channel("A")[..., None]
    merged[y:y + h, x:x + w] = merged[y:y + h, x:x + w] * (1 - a) + reg.pixels[..., :3]
    inside = mask > 0
    np.testing.assert_allclose(merged[inside], ref.pixels[..., :3][inside], rtol=4e-3, atol=2e-3)
    np.testing.assert_array_equal(merged[~inside], plate.pixels[..., :3][~inside])
    assert reg.metadata["doppel/face"] == "swapped"
    assert '"region": "face"' in reg.metadata["doppel/record"]
    assert '"region"' not in ref.metadata["doppel/record"]  # full-frame records as before


def test_header_attributes_written_as_text_are_one_note(tmp_path, plate_pattern, demo_model,
                                                         track_file, capsys, monkeypatch):
    """An attribute whose type OpenImageIO's Python binding cannot write (a double: no plate
    with one can be made from Python, hence the stand-in) goes as text, and the render says so
    once, not per frame."""
    import engine.io.image as image

    inner = image._set_header
    monkeypatch.setattr(image, "_set_header",
                        lambda spec, header: inner(spec, header) + ("studio/exposure (double)",))
    assert render_cli(plate_pattern, tmp_path / "o" / "s.####.exr", demo_model, track_file,
                      "--frames", "1001-1002") == 0
    out = capsys.readouterr().out
    assert out.count("note: plate header attributes written as text (OpenImageIO's Python "
                     "binding cannot write their type): studio/exposure (double)") == 1


def test_face_region_of_a_frame_without_a_face_is_one_transparent_pixel(tmp_path, demo_model):
    from engine.io import Geometry

    rng = np.random.default_rng(0)
    px = rng.uniform(0, 2, (240, 320, 4)).astype(np.float32)
    write_exr(tmp_path / "p.0001.exr", px, geometry=Geometry((0, 0, 320, 240),
                                                             (0, 0, 320, 240)))
    assert main(["render", str(tmp_path / "p.####.exr"), "-o", str(tmp_path / "o.####.exr"),
                 "--model", str(demo_model), "--region", "face", "--quiet"]) == 0
    out = read_image(tmp_path / "o.0001.exr")
    assert out.geometry.data == (0, 0, 1, 1) and out.geometry.display == (0, 0, 320, 240)
    assert not out.pixels.any() and out.metadata["doppel/face"] == "no face"


@pytest.mark.parametrize("extra, message", [
    (("--view", "mask"), "needs --view comp"),
    (("-o", "OUT/s.####.png"), "give an .exr --output"),
])
def test_face_region_refuses_outputs_it_cannot_merge(tmp_path, plate_pattern, demo_model,
                                                     track_file, capsys, extra, message):
    extra = tuple(str(e).replace("OUT", str(tmp_path)) for e in extra)
    assert render_cli(plate_pattern, tmp_path / "o" / "s.####.exr", demo_model, track_file,
                      "--frames", "1001", "--region", "face", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_face_region_decodes_only_the_faces_rows_and_writes_the_same_file(
        tmp_path, plate_pattern, demo_model, track_file, monkeypatch):
    import engine.io.image as image

    spans = []
    inner = image.read_image

    def spy(path, rows=None, **kwargs):
        img = inner(path, rows, **kwargs)
        spans.append(None if rows is None else rows(img.geometry))
        return img
    monkeypatch.setattr("engine.io.source.read_image", spy)
    region = tmp_path / "region" / "s.####.exr"
    assert render_cli(plate_pattern, region, demo_model, track_file, "--frames", "1004",
                      "--region", "face") == 0
    assert len(spans) == 2 and None not in spans  # the track's check reads the face's rows too
    r0, r1 = spans[-1]
    reg = read_image(tmp_path / "region" / "s.1004.exr")
    _, y, _, h = reg.geometry.data
    assert r0 <= y and y + h <= r1 and r1 - r0 < 720 / 2
    monkeypatch.setattr("engine.shot.render.ShotRenderer.face_rows",
                        lambda self: lambda f, geo: (0, 10 ** 6))
    whole = tmp_path / "whole" / "s.####.exr"  # the same render from a whole-frame read
    assert render_cli(plate_pattern, whole, demo_model, track_file, "--frames", "1004",
                      "--region", "face") == 0
    assert spans[-1] == (0, 10 ** 6)
    assert ((tmp_path / "whole" / "s.1004.exr").read_bytes()
            == (tmp_path / "region" / "s.1004.exr").read_bytes())


def test_the_model_loads_while_the_first_plates_are_read(tmp_path, plate_pattern, demo_model,
                                                         track_file, monkeypatch):
    """A render's start: the session is built on its own thread while the first plate is
    decoded. Shown by what runs at the same time (no wall-clock figure): the model's load
    waits for a plate read to begin, which the serial order would never let happen."""
    import threading

    import engine.io.source as source_mod
    import engine.shot.startup as startup

    reading = threading.Event()
    inner_read, inner_swapper = source_mod.read_image, startup.FaceSwapper

    def read(path, rows=None, **kw):
        reading.set()
        return inner_read(path, rows, **kw)

    def swapper(*args, **kwargs):
        assert reading.wait(60), "no plate was read while the model loaded"
        return inner_swapper(*args, **kwargs)
    monkeypatch.setattr(source_mod, "read_image", read)
    monkeypatch.setattr(startup, "FaceSwapper", swapper)
    out = tmp_path / "a" / "s.####.exr"
    assert render_cli(plate_pattern, out, demo_model, track_file, "--frames", "1001-1002") == 0
    monkeypatch.undo()
    ref = tmp_path / "b" / "s.####.exr"
    assert render_cli(plate_pattern, ref, demo_model, track_file, "--frames", "1001-1002",
                      "--no-overlap") == 0
    for f in (1001, 1002):  # the warm-up run and the early reads change no byte
        assert ((tmp_path / "a" / f"s.{f}.exr").read_bytes()
                == (tmp_path / "b" / f"s.{f}.exr").read_bytes())


def test_a_model_onnx_runtime_cannot_load_is_refused_before_any_frame(
        tmp_path, plate_pattern, demo_model, track_file, capsys):
    """Its header passes the checks (read without onnx), its graph does not load: one line,
    exit 2, no frame written."""
    import onnx

    proto = onnx.load(str(demo_model))
    proto.graph.node[0].op_type = "NoSuchOperator"
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    out = tmp_path / "out" / "s.####.exr"
    assert render_cli(plate_pattern, out, bad, track_file, "--frames", "1001-1002") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.onnx: ONNX Runtime cannot load this model" in err[0]
    assert not list(tmp_path.rglob("s.*.exr"))


def test_a_half_plate_renders_in_half_the_values_of_a_float_render(tmp_path, plate_pattern,
                                                                  demo_model, track_file):
    """A half output keeps a half plate half from read to write (no float copy of the frame);
    every value it writes is the float render's rounded to half, swapped pixels, mask and face
    layer included, and the pixels it leaves alone are the plate's bits."""
    from engine.io import open_source
    from engine.shot.render import RenderJob
    from engine.swap.settings import SwapSettings

    half, flt = tmp_path / "half" / "s.####.exr", tmp_path / "float" / "s.####.exr"
    assert render_cli(plate_pattern, half, demo_model, track_file, "--frames", "1003-1004",
                      "--face-layer") == 0
    assert render_cli(plate_pattern, flt, demo_model, track_file, "--frames", "1003-1004",
                      "--face-layer", "--float") == 0
    for f in (1003, 1004):
        h = read_image(tmp_path / "half" / f"s.{f}.exr", keep_half=True)
        x = read_image(tmp_path / "float" / f"s.{f}.exr")
        assert h.pixels.dtype == np.float16 and x.pixels.dtype == np.float32
        assert h.channels == x.channels
        assert np.array_equal(h.pixels.view(np.uint16),
                              x.pixels.astype(np.float16).view(np.uint16))
        plate = read_image(plate_pattern.replace("####", str(f)), keep_half=True)
        still = h.channel("doppel.mask") == 0
        assert np.array_equal(h.pixels[..., :4][still].view(np.uint16),
                              plate.pixels[still].view(np.uint16))
        assert (~still).sum() > 1000  # a face was swapped
    settings = SwapSettings.from_dict({**SwapSettings().to_dict(), "model": str(demo_model)})
    assert RenderJob(plate_pattern, str(half), settings).keeps_half
    assert not RenderJob(plate_pattern, str(half), settings, half=False).keeps_half
    assert not RenderJob(plate_pattern, str(tmp_path / "s.####.png"), settings).keeps_half
    src = open_source(plate_pattern)
    plate = next(iter(src.read_plates([1003], keep_half=True)))
    assert plate.pixels.dtype == np.float16
    assert next(iter(src.read_plates([1003]))).pixels.dtype == np.float32


def test_a_render_from_before_mask_units_resumes_in_plate_pixels_and_not_with_the_new_default(
        demo_model):
    """Erode and blur were plate pixels before `mask_units` existed: its record had no such key.
    A record of `--mask-units px` is that record; the face-relative default differs from it."""
    from engine.shot.resume import render_record
    from engine.swap.infer import read_model_info
    from engine.swap.settings import EngineConfig, SwapLook, SwapSettings

    model = read_model_info(demo_model)[0]
    config = EngineConfig(model=str(demo_model))
    px = render_record(SwapSettings(config, SwapLook(erode=4.0, blur=8.0, mask_units="px")), {},
                       model, None, "t")
    face = render_record(SwapSettings(config), {}, model, None, "t")
    assert "mask_units" not in px["settings"] and face["settings"]["mask_units"] == "face"
    assert (px["settings"]["erode"], px["settings"]["blur"]) == (4.0, 8.0)
    assert face["settings"]["erode"] != 4.0 and face["settings"]["blur"] != 8.0


def test_a_float_plates_channels_stay_float_in_a_half_render(tmp_path, plate_pattern,
                                                             demo_model, track_file):
    """Half cannot hold a float depth pass (three digits) or a highlight above 65504 (inf):
    a half render (the default) keeps a float plate's channels float; a half plate's stay half."""
    plate = tmp_path / "p"
    plate.mkdir()
    for f in (1001, 1002):
        src = read_image(plate_pattern.replace("####", str(f)))
        px = src.pixels.astype(np.float32)
        px[:20, :20, :3] = 1e5  # a sun glint far from the face
        h, w = px.shape[:2]
        z = (1000.123 + np.arange(w, dtype=np.float32)[None, :] * 0.001
             + np.arange(h, dtype=np.float32)[:, None])[..., None]
        write_exr(plate / f"p.{f}.exr", [px, z], list(src.channels) + ["Z"], half=False,
                  geometry=src.geometry)
    out = tmp_path / "o" / "s.####.exr"
    assert render_cli(plate / "p.####.exr", out, demo_model, track_file, "--frames",
                      "1001-1002") == 0
    a, b = read_image(plate / "p.1001.exr"), read_image(tmp_path / "o" / "s.1001.exr")
    kinds = dict(zip(b.channels, b.formats, strict=True))
    assert kinds == {"R": "float", "G": "float", "B": "float", "A": "float", "Z": "float",
                     "doppel.mask": "half"}
    assert np.array_equal(a.channel("Z"), b.channel("Z"))  # bit-exact, as every extra channel
    assert (b.pixels[:20, :20, :3] == 1e5).all() and np.isfinite(b.pixels).all()
    # a half plate: the same render writes every channel half, as before
    out2 = tmp_path / "h" / "s.####.exr"
    assert render_cli(plate_pattern, out2, demo_model, track_file, "--frames", "1001") == 0
    assert set(read_image(tmp_path / "h" / "s.1001.exr").formats) == {"half"}


def test_a_stereo_plate_says_only_its_hero_view_is_swapped(tmp_path, plate_pattern, demo_model,
                                                           track_file, capsys):
    """A single-part stereo EXR (`multiView` left, right; `right.*` channels) swaps the hero
    view only: the summary says so, and the other eye's channels pass through bit-exact."""
    import OpenImageIO as oiio

    plate = tmp_path / "p"
    plate.mkdir()
    src = read_image(plate_pattern.replace("####", "1001"))
    right = src.pixels[:, ::-1]  # another picture for the other eye
    stereo = ("multiView", str(oiio.TypeDesc("string[2]")), ("left", "right"))
    write_exr(plate / "p.1001.exr", [src.pixels, right],
              list(src.channels) + [f"right.{c}" for c in src.channels],
              geometry=src.geometry, header=(stereo,))
    out = tmp_path / "o" / "s.####.exr"
    assert render_cli(plate / "p.####.exr", out, demo_model, track_file, "--frames", "1001") == 0
    assert "only the left view (R, G, B) is swapped" in capsys.readouterr().out
    a, b = read_image(plate / "p.1001.exr"), read_image(tmp_path / "o" / "s.1001.exr")
    for c in ("right.R", "right.G", "right.B", "right.A"):
        assert np.array_equal(a.channel(c), b.channel(c))
    assert not np.array_equal(a.channel("R"), b.channel("R"))  # the hero eye was swapped


def test_a_shot_begun_by_another_engine_version_is_not_resumed(tmp_path, plate_pattern,
                                                               demo_model, track_file, capsys,
                                                               monkeypatch):
    """A release that changes what a frame holds bumps the engine version; frames an older
    version rendered are never counted as done by a newer one (a shot finished by two engines
    could mix two pictures): the resume is refused naming both versions and the fix."""
    import engine.shot.resume as resume
    from engine import __version__

    out = tmp_path / "o" / "s.####.exr"
    assert render_cli(plate_pattern, out, demo_model, track_file, "--frames", "1001") == 0
    capsys.readouterr()
    monkeypatch.setattr(resume, "__version__", "9.9.9")
    assert render_cli(plate_pattern, out, demo_model, track_file, "--frames", "1001-1002") == 2
    err = capsys.readouterr().err
    assert f"engine version '{__version__}' (this run '9.9.9')" in err and "--overwrite" in err, \
        err
    assert render_cli(plate_pattern, out, demo_model, track_file, "--frames", "1001-1002",
                      "--overwrite") == 0
