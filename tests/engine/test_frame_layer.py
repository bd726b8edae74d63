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
                     size: int) -> list[str]:
    """The Render step's command line from the OpenJD template, for one chunk."""
    template = yaml.safe_load((ROOT / "farm" / "doppel_render.template.yaml").read_text())
    step = next(s for s in template["steps"] if s["name"] == "Render")
    args = step["script"]["actions"]["onRun"]["args"]
    values = {"Param.Plate": plate, "Param.Output": str(output), "Param.Model": str(model),
              "Param.Track": str(track), "Param.FrameStart": "1001",
              "Param.FrameEnd": "1004", "Task.Param.ChunkStart": str(start),
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
    px = read_image(plate_pattern.replace("####", "1010")).pixels
    layer = FrameLayer(FaceSwapper(EngineConfig(model=str(demo_model))), SwapLook(),
                       plate_track)
    res = layer.swap(99999, px.copy())
    assert res.roi is None and layer.roi(99999) is None
    assert np.array_equal(res.image, px) and not res.mask.any()


def test_a_worker_pool_loads_the_model_only_in_the_workers(tmp_path, monkeypatch, plate_pattern,
                                                           demo_model, track_file):
    import engine.shot.render as render_mod

    loads: list[int] = []
    real = render_mod.FaceSwapper

    class Counting(real):  # the parent's loads; each worker process builds its own
        def __init__(self, *a, **kw):
            loads.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(render_mod, "FaceSwapper", Counting)
    job = RenderJob(plate_pattern, str(tmp_path / "w" / "s.####.exr"),
                    SwapSettings.from_dict({"model": str(demo_model)}), str(track_file))
    summary = render(job, [1001, 1002, 1003, 1004], workers=2)
    assert sorted(summary.done) == [1001, 1002, 1003, 1004] and not summary.errors
    assert not loads
    render(RenderJob(plate_pattern, str(tmp_path / "s" / "s.####.exr"), job.settings,
                     str(track_file)), [1001], workers=1)
    assert loads == [1]  # the serial render: one load, in this process
