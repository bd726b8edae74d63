"""engine.shot.frame: the one frame layer under `doppel render`, the node and farm chunks."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

import engine.shot.frame as frame_mod
from doppel_cli.main import main
from engine.errors import InputError
from engine.host.node import Node
from engine.io import read_image
from engine.shot.frame import FrameContext, FrameLayer
from engine.shot.render import RenderJob, render
from engine.swap.pipeline import FaceSwapper
from engine.swap.settings import EngineConfig, SwapLook, SwapSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def track_file(tmp_path_factory, plate_pattern):
    out = tmp_path_factory.mktemp("track") / "track.json"
    assert main(["analyze", plate_pattern, "-o", str(out), "--frames", "1001-1004",
                 "--quiet"]) == 0
    return out


def _farm_chunk_args(plate: str, output: Path, model: Path, track: Path, start: int,
                     size: int, end: int = 1004) -> list[str]:
    """The Render step's command line from the OpenJD template, for one chunk."""
    template = yaml.safe_load((ROOT / "farm" / "doppel_render.template.yaml").read_text())
    step = next(s for s in template["steps"] if s["name"] == "Render")
    args = step["script"]["actions"]["onRun"]["args"]
    values = {"Param.Plate": plate, "Param.Output": str(output), "Param.Model": str(model),
              "Param.Track": str(track), "Param.FrameStart": "1001",
              "Param.FrameEnd": str(end), "Task.Param.ChunkStart": str(start),
              "Param.ChunkSize": str(size), "Param.Workers": "1"}
    out = []
    for a in args:
        for k, v in values.items():
            a = a.replace("{{" + k + "}}", v)
        assert "{{" not in a, a
        out.append(a)
    return out


def test_a_rule_added_once_reaches_render_the_node_and_a_farm_chunk(
        tmp_path, monkeypatch, plate_pattern, demo_model, track_file, capsys):
    seen: list[tuple[int, bool]] = []

    def refuse_1002(ctx: FrameContext) -> None:  # a new per-frame rule, written once
        seen.append((ctx.number, ctx.track is not None))
        if ctx.number == 1002:
            raise InputError(f"frame {ctx.number}: refused by the test's rule")

    monkeypatch.setattr(frame_mod, "FRAME_RULES", [refuse_1002])

    # doppel render (the library call)
    settings = SwapSettings.from_dict({"model": str(demo_model)})
    job = RenderJob(plate_pattern, str(tmp_path / "r" / "s.####.exr"), settings,
                    str(track_file))
    summary = render(job, [1001, 1002, 1003])
    assert summary.done == [1001, 1003]
    assert len(summary.errors) == 1 and "refused by the test's rule" in summary.errors[0]
    assert not (tmp_path / "r" / "s.1002.exr").exists()

    # the node
    node = Node()
    values = {"model": str(demo_model), "track_file": str(track_file)}
    plate = read_image(plate_pattern.replace("####", "1002")).pixels
    out = np.zeros_like(plate)
    with pytest.raises(InputError, match="refused by the test's rule"):
        node.render(1002, values, plate, (0, 0), out, (0, 0), (0, 0, 880, 720))
    node.render(1003, values, plate, (0, 0), out, (0, 0), (0, 0, 880, 720))

    # a farm chunk: the template's command line for frames 1001-1003
    args = _farm_chunk_args(plate_pattern, tmp_path / "f" / "s.####.exr", demo_model,
                            track_file, 1001, 3)
    assert main(args) == 1  # per-frame errors
    assert "refused by the test's rule" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "f").glob("*.exr")) == ["s.1001.exr",
                                                                        "s.1003.exr"]
    assert {n for n, _ in seen} == {1001, 1002, 1003} and all(t for _, t in seen)
    print("farm chunk:", shlex.join(args))


def test_the_layer_refuses_a_model_of_another_face_type_than_the_track(
        plate_pattern, demo_model, plate_track):
    from engine.errors import ModelError

    swapper = FaceSwapper(EngineConfig(model=str(demo_model)))
    plate_track.settings["face_type"] = "head" if swapper.model.info.face_type != "head" \
        else "full"
    try:
        with pytest.raises(ModelError, match="differs from the track's"):
            FrameLayer(swapper, SwapLook(), plate_track)
    finally:
        plate_track.settings.pop("face_type")


def test_the_swap_result_travels_over_its_roi_and_builds_plate_layers_on_demand(
        plate_pattern, demo_model, plate_track):
    px = read_image(plate_pattern.replace("####", "1010")).pixels
    layer = FrameLayer(FaceSwapper(EngineConfig(model=str(demo_model))), SwapLook(),
                       plate_track)
    res = layer.swap(1010, px, channels=("R", "G", "B", "A"))
    x0, y0, x1, y1 = res.roi
    assert res.mask_roi.shape == (y1 - y0, x1 - x0) and res.face_roi.shape[:2] == (y1 - y0,
                                                                                  x1 - x0)
    rx0, ry0, rx1, ry1 = layer.roi(1010, shape=px.shape)  # what the frame reads
    assert rx0 <= x0 < x1 <= rx1 and ry0 <= y0 < y1 <= ry1
    full = res.mask
    assert full.shape == px.shape[:2] and full[y0:y1, x0:x1].max() > 0.5
    outside = np.ones(px.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert not full[outside].any() and not res.face_layer()[outside].any()
    # where the mask is 0 the face layer is 0 too (the compositor's own mix)
    assert not res.face_layer()[full == 0].any()


def test_a_frame_without_a_tracked_face_passes_through_with_no_rectangle(
        plate_pattern, demo_model, plate_track):
    from engine.geometry.track import Track

    px = read_image(plate_pattern.replace("####", "1010")).pixels
    # 1010 analysed, no face found there: passed through. 99999 never analysed: refused.
    track = Track({f: v for f, v in plate_track.faces.items() if f != 1010},
                  dict(plate_track.smoothed), {**plate_track.settings, "frames": "1001-1120"})
    layer = FrameLayer(FaceSwapper(EngineConfig(model=str(demo_model))), SwapLook(), track)
    res = layer.swap(1010, px.copy())
    assert res.roi is None and layer.roi(1010) is None
    assert np.array_equal(res.image, px) and not res.mask.any()
    with pytest.raises(InputError, match="frame 99999 was never analysed"):
        layer.swap(99999, px.copy())


def test_doppel_analyze_leaves_no_analysis_file_once_it_finished(track_file):
    from engine.shot.analyze import analysis_cache_path

    assert analysis_cache_path(track_file) == track_file.with_name("track.analysis.json")
    assert analysis_cache_path("a/face.track") == Path("a/face.track.analysis.json")
    assert track_file.is_file() and not analysis_cache_path(track_file).exists()


def test_untracked_frames_are_refused_alike_by_render_the_node_and_a_farm_chunk(
        tmp_path, plate_pattern, demo_model, track_file, capsys):
    """The track covers 1001-1004; frames 1005-1006 were never analysed. Each front end refuses
    exactly those frames with the same words and swaps the others: a farm chunk 1003-1006 keeps
    its good frames 1003-1004 and exits 1."""
    words = f"{track_file}: frame 1005 was never analysed (the track covers 1001-1004)"
    settings = SwapSettings.from_dict({"model": str(demo_model)})
    job = RenderJob(plate_pattern, str(tmp_path / "r" / "s.####.exr"), settings,
                    str(track_file))
    summary = render(job, [1003, 1004, 1005, 1006])
    assert summary.done == [1003, 1004] and len(summary.errors) == 2
    assert any(words in e for e in summary.errors), summary.errors

    node = Node()
    values = {"model": str(demo_model), "track_file": str(track_file)}
    plate = read_image(plate_pattern.replace("####", "1005")).pixels
    assert not node.is_identity(1005, values)  # not passed through: refused at render
    with pytest.raises(InputError) as refused:
        node.render(1005, values, plate, (0, 0), np.zeros_like(plate), (0, 0), (0, 0, 880, 720))
    assert words in str(refused.value)
    with pytest.raises(InputError, match="never analysed"):  # the region of interest too
        node.roi(1005, values, (0, 0, 880, 720))

    args = _farm_chunk_args(plate_pattern, tmp_path / "f" / "s.####.exr", demo_model,
                            track_file, 1003, 4, end=1006)
    assert main(args) == 1
    assert "frames 1005-1006 (2)" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "f").glob("*.exr")) == ["s.1003.exr", "s.1004.exr"]
    ref = read_image(tmp_path / "r" / "s.1004.exr").pixels
    assert np.array_equal(read_image(tmp_path / "f" / "s.1004.exr").pixels, ref)


def test_a_chunk_keeps_its_frames_when_its_first_frame_is_of_another_size(
        tmp_path, plate_pattern, demo_model, track_file, capsys):
    """One frame of another frame size (a stray file in the sequence) is that frame's error,
    even first in a chunk: the chunk's other frames are rendered."""
    from engine.io import write_exr
    from engine.io.geometry import Geometry

    plate = tmp_path / "plate"
    plate.mkdir()
    for f in range(1001, 1005):
        img = read_image(plate_pattern.replace("####", str(f)))
        geo = Geometry((0, 0, 880, 720), (0, 0, 880, 724)) if f == 1001 else img.geometry
        write_exr(plate / f"p.{f}.exr", img.pixels, img.channels, {}, half=False, geometry=geo)
    out = tmp_path / "out"
    assert main(["render", str(plate / "p.####.exr"), "-o", str(out / "s.####.exr"), "--model",
                 str(demo_model), "--track", str(track_file), "--quiet"]) == 1
    assert "frame 1001 has display window 880×724 at (0, 0)" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.exr")) == [f"s.{f}.exr" for f in (1002, 1003, 1004)]


def test_a_bug_on_one_frame_fails_that_frame_and_exits_3_after_the_others(
        tmp_path, monkeypatch, plate_pattern, demo_model, track_file, capsys):
    """A bug that shows on one frame (here a rule that raises a non-Doppel error on 1002) is
    that frame's internal error: the chunk renders the rest, logs the traceback and exits 3."""
    def buggy(ctx: FrameContext) -> None:
        if ctx.number == 1002:
            raise ZeroDivisionError("a bug in a rule")

    monkeypatch.setattr(frame_mod, "FRAME_RULES", [buggy])
    monkeypatch.setenv("DOPPEL_LOG_DIR", str(tmp_path / "logs"))
    out = tmp_path / "out"
    assert main(["render", plate_pattern, "-o", str(out / "s.####.exr"), "--model",
                 str(demo_model), "--track", str(track_file), "--frames", "1001-1003",
                 "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "internal error on frames 1002" in err and "the other frames were rendered" in err
    assert sorted(p.name for p in out.glob("*.exr")) == ["s.1001.exr", "s.1003.exr"]
    logs = list((tmp_path / "logs").glob("doppel-render-*.log"))
    assert len(logs) == 1 and "ZeroDivisionError: a bug in a rule" in logs[0].read_text()


def test_a_scaled_track_puts_landmarks_where_a_proxy_has_the_pixels():
    """At render scale s a full-resolution coordinate u is (u + 0.5)·s - 0.5 (pixel centres at
    integers): the centre of full pixels 2j and 2j+1 is the centre of proxy pixel j."""
    from engine.geometry.track import Track, scale_window
    from engine.io.geometry import Geometry
    from engine.types import Detection, Face

    lm = np.zeros((68, 2), np.float32)
    lm[0] = (10.5, 20.5)  # the centre of full pixels 10-11 × 20-21
    track = Track({7: Face(Detection((0, 0, 30, 30), 1.0, "t"), lm, "t")},
                  settings={"plate": {"display_window": [0, 0, 801, 600], "pixel_aspect": 1.0},
                            "frames": "7"})
    assert scale_window((0, 0, 801, 600), 0.5) == (0, 0, 401, 300)  # lround, as the plugin
    half = track.for_plate(Geometry((0, 0, 401, 300), (0, 0, 401, 300)), 7, "t", scale=0.5)
    assert tuple(half.landmarks(7)[0]) == (5.0, 10.0)
    offset = track.for_plate(Geometry((2, 3, 100, 100), (0, 0, 401, 300)), 7, "t", scale=0.5)
    assert tuple(offset.landmarks(7)[0]) == (3.0, 7.0)  # and the data window's origin after
    assert track.for_plate(None, 7, "t") is track  # full resolution: the stored landmarks
    with pytest.raises(InputError, match=r"400×300 at \(0, 0\) at render scale 0.5 but"):
        track.for_plate(Geometry((0, 0, 400, 300), (0, 0, 400, 300)), 7, "t", scale=0.5)


def test_a_look_at_a_proxy_scale_scales_only_its_plate_pixel_lengths():
    from engine.swap.params import PLATE_PIXEL_KNOBS

    assert PLATE_PIXEL_KNOBS == ("erode", "blur")
    look = SwapLook(erode=4.0, blur=10.0, sharpen=1.0, motion_blur=0.5, strength=0.8,
                    mask_units="px")
    quarter = look.at_scale(0.25)
    assert (quarter.erode, quarter.blur) == (1.0, 2.5)
    assert (quarter.sharpen, quarter.motion_blur, quarter.strength) == (1.0, 0.5, 0.8)
    assert look.at_scale(1.0) is look
    # Face-relative erode and blur follow the face's size on the plate already.
    face = SwapLook(erode=4.0, blur=10.0, mask_units="face")
    assert face.at_scale(0.25) is face


def test_a_track_knows_the_frames_it_was_analysed_over(plate_track):
    from engine.geometry.track import Track

    assert Track({}, settings={"frames": "1001-1003,1010"}).analysed() == {1001, 1002, 1003,
                                                                            1010}
    # An older track without its range: first to last tracked frame.
    assert plate_track.analysed() == frozenset(range(min(plate_track.faces),
                                                     max(plate_track.faces) + 1))


def test_a_worker_pool_loads_the_model_only_in_the_workers(tmp_path, monkeypatch, plate_pattern,
                                                           demo_model, track_file):
    import engine.shot.render as render_mod
    import engine.shot.startup as startup_mod

    loads: list[int] = []
    real = render_mod.FaceSwapper

    class Counting(real):  # the parent's loads; each worker process builds its own
        def __init__(self, *a, **kw):
            loads.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(render_mod, "FaceSwapper", Counting)  # a worker's, if in this process
    monkeypatch.setattr(startup_mod, "FaceSwapper", Counting)  # the serial render's load
    job = RenderJob(plate_pattern, str(tmp_path / "w" / "s.####.exr"),
                    SwapSettings.from_dict({"model": str(demo_model)}), str(track_file))
    summary = render(job, [1001, 1002, 1003, 1004], workers=2)
    assert sorted(summary.done) == [1001, 1002, 1003, 1004] and not summary.errors
    assert not loads
    render(RenderJob(plate_pattern, str(tmp_path / "s" / "s.####.exr"), job.settings,
                     str(track_file)), [1001], workers=1)
    assert loads == [1]  # the serial render: one load, in this process
