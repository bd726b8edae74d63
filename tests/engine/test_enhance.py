"""The FaceEnhancer in the engine: pairing with its swap model, enhance 0 = today's pixels with
nothing run, enhance > 0 only inside the face, the render record and the farm job.

The enhancers here are built with onnx.helper (no torch): the ×2 bicubic upscale of the model's
crop plus a fixed fine pattern (detail the engine keeps), with the metadata
`trainers/enhancer/export.py` writes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from doppel_cli.main import main
from engine.errors import ModelError
from engine.geometry.align import align_matrix, mean_face
from engine.io import read_image
from engine.swap.enhance import check_pair, read_enhancer_info, scaled_matrix, upscale
from engine.swap.infer import read_model_info
from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook
from engine.swap.settings import SwapSettings


def make_enhancer(path: Path, swap_model: Path, res: int = 96, lift: float = 0.05,
                  digest: str | None = None) -> Path:
    """An enhancer ONNX: `enhanced = bicubic×2(face) + lift·(a ±1 pattern of 2×2 px blocks)`,
    paired with `swap_model`; `lift` 0 is the plain upscale."""
    yy, xx = np.mgrid[:2 * res, :2 * res]
    pattern = np.where((yy // 2 + xx // 2) % 2, lift, -lift).astype(np.float32)
    nodes = [
        helper.make_node("Resize", ["face", "", "scales"], ["up"], mode="cubic",
                         cubic_coeff_a=-0.75, coordinate_transformation_mode="half_pixel"),
        helper.make_node("Add", ["up", "lift"], ["enhanced"]),
    ]
    inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0]),
             helper.make_tensor("lift", TensorProto.FLOAT, [1, 1, 2 * res, 2 * res],
                                pattern.ravel().tolist())]
    graph = helper.make_graph(
        nodes, "enhancer",
        [helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 3, res, res])],
        [helper.make_tensor_value_info("enhanced", TensorProto.FLOAT,
                                       ["N", 3, 2 * res, 2 * res])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    meta = {"doppel.schema": "1", "arch": "enhancer", "resolution": str(res), "scale": "2",
            "face_type": "full", "colorspace": "srgb", "swap_model": swap_model.name,
            "swap_digest": digest or hashlib.sha256(swap_model.read_bytes()).hexdigest()}
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="module")
def enhancer(tmp_path_factory, demo_model) -> Path:
    return make_enhancer(tmp_path_factory.mktemp("enh") / "enh.onnx", demo_model)


@pytest.fixture(scope="module")
def plate_1010(plate_pattern):
    from engine.io import open_source

    return read_image(open_source(plate_pattern).path_of(1010))


def test_scaled_matrix_is_the_alignment_at_twice_the_size():
    lm = mean_face() * 180 + [320, 200]
    np.testing.assert_allclose(scaled_matrix(align_matrix(lm, 96)), align_matrix(lm, 192),
                               atol=1e-9)
    assert upscale(np.zeros((96, 96, 3), np.float32)).shape == (192, 192, 3)


def test_enhancer_metadata_round_trip_and_pairing(enhancer, demo_model):
    info, _ = read_enhancer_info(enhancer)
    model = read_model_info(demo_model)[0]
    assert (info.resolution, info.scale, info.swap_digest) == (96, 2, model.digest)
    check_pair(info, model)  # no error


def test_an_enhancer_for_another_swap_model_is_refused(tmp_path, demo_model, plate_pattern):
    other = make_enhancer(tmp_path / "other.onnx", demo_model, digest="0" * 64)
    with pytest.raises(ModelError, match="trained for swap model 'demo_df-ud_96.onnx'"):
        FaceSwapper(EngineConfig(model=str(demo_model), enhancer=str(other)))
    with pytest.raises(ModelError, match="not a Doppel enhancer"):
        FaceSwapper(EngineConfig(model=str(demo_model), enhancer=str(demo_model)))


def test_cli_refuses_a_mismatched_pair_in_one_line_exit_2(tmp_path, demo_model, plate_pattern,
                                                          capsys):
    other = make_enhancer(tmp_path / "other.onnx", demo_model, digest="0" * 64)
    rc = main(["render", plate_pattern, "-o", str(tmp_path / "o" / "s.####.exr"), "--model",
               str(demo_model), "--enhancer", str(other), "--frames", "1001", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "trained for swap model" in err and "doppel enhancer train" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_enhance_zero_gives_todays_pixels_and_runs_nothing(enhancer, demo_model, plate_1010,
                                                           plate_track):
    plain = FaceSwapper(EngineConfig(model=str(demo_model)))
    with_enh = FaceSwapper(EngineConfig(model=str(demo_model), enhancer=str(enhancer)))
    px = plate_1010.pixels
    a = plain.process(px, 1010, look=SwapLook(), track=plate_track,
                      channels=plate_1010.channels)
    b = with_enh.process(px, 1010, look=SwapLook(enhance=0.0), track=plate_track,
                         channels=plate_1010.channels)
    assert np.array_equal(a.image, b.image, equal_nan=True) and a.roi == b.roi
    assert with_enh._enhancer is None and "enhance" not in b.diagnostics["timings_ms"]


def test_enhance_changes_only_the_face_and_stays_finite(enhancer, demo_model, plate_1010,
                                                        plate_track):
    sw = FaceSwapper(EngineConfig(model=str(demo_model), enhancer=str(enhancer)))
    px = plate_1010.pixels
    zero = sw.process(px, 1010, look=SwapLook(enhance=0.0), track=plate_track,
                      channels=plate_1010.channels)
    full = sw.process(px, 1010, look=SwapLook(enhance=1.0), track=plate_track,
                      channels=plate_1010.channels)
    half = sw.process(px, 1010, look=SwapLook(enhance=0.5), track=plate_track,
                      channels=plate_1010.channels)
    assert "enhance" in full.diagnostics["timings_ms"]
    outside = full.mask == 0
    np.testing.assert_array_equal(full.image[outside], px[outside])
    assert np.isfinite(full.image[..., :3]).all()
    inside = (full.mask > 0.5) & (zero.mask > 0.5)
    d_full = np.abs(full.image[inside][:, :3] - zero.image[inside][:, :3]).mean()
    d_half = np.abs(half.image[inside][:, :3] - zero.image[inside][:, :3]).mean()
    assert d_full > 0.002 and 0.3 < d_half / d_full < 0.7  # the detail, scaled by strength


def test_record_keeps_old_renders_resuming_at_enhance_zero(enhancer, demo_model):
    from engine.shot.resume import render_record

    model = read_model_info(demo_model)[0]
    info = read_enhancer_info(enhancer)[0]
    base = SwapSettings(EngineConfig(model=str(demo_model)))
    today = render_record(base, {}, model, None, "t")
    off = render_record(base.with_values(enhancer=str(enhancer), enhance=0.0), {}, model,
                        None, "t", enhancer=info)
    unset = render_record(base.with_values(enhance=0.7), {}, model, None, "t")
    assert today == off == unset and "enhance" not in today["settings"]
    on = render_record(base.with_values(enhancer=str(enhancer), enhance=0.7), {}, model, None,
                       "t", enhancer=info)
    assert on["enhancer"] == info.digest and on["settings"]["enhance"] == 0.7


def test_farm_job_carries_the_enhancer(tmp_path, enhancer, demo_model):
    from engine.host.farm import render_args

    args = render_args({"model": str(demo_model), "enhancer": str(enhancer), "enhance": 0.4})
    assert args[args.index("--enhancer") + 1] == str(Path(enhancer).resolve())
    assert args[args.index("--enhance") + 1] == "0.4"
