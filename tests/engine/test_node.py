"""engine.host.node (the plugin's Python half) without a host: views, windows, caches, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError, SettingsError
from engine.host.node import Node, one_line
from engine.swap.pipeline import FaceSwapper
from engine.swap.settings import EngineConfig, SwapLook


@pytest.fixture(scope="module")
def shot(tmp_path_factory, plate_pattern, plate_track):
    from engine.io.image import read_image

    path = tmp_path_factory.mktemp("node") / "track.json"
    plate_track.settings["plate"] = {"display_window": [0, 0, 880, 720], "pixel_aspect": 1.0}
    plate_track.save(path)
    img = read_image(plate_pattern.replace("####", "1001"))
    return path, img.pixels


def test_bottom_up_view_and_a_render_window_give_process_pixels(shot, demo_model):
    track_path, plate = shot
    values = {"model": str(demo_model), "track_file": str(track_path)}
    node = Node()
    from engine.geometry.track import Track

    ref = FaceSwapper(EngineConfig(model=str(demo_model))).process(
        plate, 1001, look=SwapLook(), track=Track.load(track_path)).image
    flipped = np.ascontiguousarray(plate[::-1])[::-1]  # negative row stride, as OFX gives
    out = np.zeros_like(plate)[::-1][::-1]
    node.render(1001, values, flipped, (0, 0), out, (0, 0), (0, 0, 880, 720))
    assert np.array_equal(out, ref)
    window = np.zeros((100, 880, 4), np.float32)  # a tile: rows 300..399 of the frame
    node.render(1001, values, plate, (0, 0), window, (0, 300), (0, 0, 880, 720))
    assert np.array_equal(window, ref[300:400])
    assert node.loads == 1


def test_roi_is_the_face_box_and_identity_follows_the_track(shot, demo_model):
    track_path, plate = shot
    values = {"model": str(demo_model), "track_file": str(track_path)}
    node = Node()
    box = node.roi(1001, values, (0, 0, 880, 720))
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= 880 and 0 <= y0 < y1 <= 720 and (x1 - x0) < 880
    assert not node.is_identity(1001, values)
    assert node.is_identity(1001, {**values, "strength": 0.0})
    # Never analysed: not identity; render refuses it by name, as a farm chunk does.
    assert not node.is_identity(999, values)
    with pytest.raises(InputError, match="frame 999 was never analysed"):
        node.render(999, values, plate, (0, 0), plate.copy(), (0, 0), (0, 0, 880, 720))


def test_errors_name_the_parameter_and_bugs_say_internal(shot, tmp_path, demo_model):
    node = Node()
    with pytest.raises(SettingsError, match="Model: no model file set"):
        node.render(1001, {}, shot[1], (0, 0), shot[1].copy(), (0, 0), (0, 0, 880, 720))
    with pytest.raises(InputError, match="Track file: .* not found; press Analyze"):
        node.track({"track_file": str(tmp_path / "none.json")})
    with pytest.raises(InputError, match="changed since Analyze"):
        node.track({"track_file": str(shot[0]), "track_digest": "0" * 64})
    assert one_line(SettingsError("Blur: bad\nmore")) == "Blur: bad"
    assert one_line(KeyError("x")).startswith("internal error (KeyError")


def test_farm_job_bakes_every_setting_and_refuses_a_node_without_a_track(tmp_path, demo_model):
    import yaml

    from engine.host.farm import write_node_job

    values = {"model": str(demo_model), "blur": 3.5, "color": "lct", "track_file": "t.json",
              "farm_plate": "/p/plate.####.exr", "farm_output": "/o/swap.####.exr",
              "farm_job": str(tmp_path / "job")}
    folder = write_node_job(values, 1001, 1010, doppel="/opt/doppel/bin/doppel")
    t = yaml.safe_load((folder / "template.yaml").read_text())
    args = t["steps"][0]["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--blur") + 1] == "3.5" and args[args.index("--color") + 1] == "lct"
    assert "--float" in args
    with pytest.raises(SettingsError, match="Track file: empty"):
        write_node_job({**values, "track_file": ""}, 1001, 1010)
    with pytest.raises(SettingsError, match="no frame number"):
        write_node_job({**values, "farm_output": "/o/swap.exr"}, 1001, 1010)


def test_the_error_kind_the_host_sees_follows_the_python_class():
    from engine.errors import (
        Cancelled,
        DiskFullError,
        MediaError,
        ModelError,
        OutputError,
    )
    from engine.host.node import describe_error

    cases = [(Cancelled("stop"), "cancelled"), (DiskFullError("full"), "disk_full"),
             (MediaError("bad exr"), "media"), (SettingsError("blur"), "settings"),
             (OutputError("exists"), "output"), (InputError("x"), "input"),
             (ModelError("m.onnx"), "model"), (MemoryError(), "memory"),
             (KeyError("bug"), "internal")]
    for exc, kind in cases:
        got, line = describe_error(exc)
        assert got == kind, (exc, got)
        assert line and "\n" not in line
    assert describe_error(MemoryError())[1].startswith("out of memory")
