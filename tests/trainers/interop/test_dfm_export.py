"""`doppel export --format dfm`: DeepFaceLive's layout, parity with the checkpoint, and the round
trip checkpoint -> .dfm -> engine adapter == checkpoint -> native ONNX -> engine."""

import numpy as np
import onnx
import pytest

from doppel_cli.main import main
from engine.swap.dfm import OUTPUTS, DfmModel, check_dfm_graph
from engine.swap.infer import SwapModel
from trainers.export import export_checkpoint
from trainers.interop.dfm_export import DFM_OPSET, export_dfm

# Measured on the CPU (ORT 1.32, torch 2.13): 0, bit-identical; the bound leaves room for other
# CPUs and execution providers.
ROUND_TRIP_TOL = 2e-6


def test_export_follows_deepfacelives_layout(checkpoint, tmp_path):
    ckpt = checkpoint("df-ud")
    report = export_dfm(ckpt, tmp_path / "m.dfm")
    proto = onnx.load(str(tmp_path / "m.dfm"))
    assert [i.name for i in proto.graph.input] == ["in_face:0"]
    assert [o.name for o in proto.graph.output] == list(OUTPUTS)
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [64, 64, 3] and isinstance(dims[0], str)  # NHWC, batch dynamic
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) \
        == DFM_OPSET
    assert check_dfm_graph(proto, "m.dfm") == (64, False)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["face_type"] == "full" and meta["iterations"] == "1234"
    assert report.max_abs_diff <= 1e-4


@pytest.mark.parametrize("arch", ["df-ud", "liae-udt", "df-c"])
def test_dfm_through_the_adapter_equals_the_native_onnx(checkpoint, tmp_path, arch):
    ckpt = checkpoint(arch)
    export_checkpoint(ckpt, tmp_path / "m.onnx")
    export_dfm(ckpt, tmp_path / "m.dfm")
    faces = np.random.default_rng(1).random((3, 64, 64, 3), dtype=np.float32)
    native = SwapModel(tmp_path / "m.onnx", "cpu").run(faces)
    dfm_model = DfmModel(tmp_path / "m.dfm", "cpu")
    assert dfm_model.info.face_type == "full"  # from the export's metadata
    via_dfm = dfm_model.run(faces)
    for a, b in zip(native, via_dfm, strict=True):
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= ROUND_TRIP_TOL


def test_the_engine_renders_the_same_frame_from_both_exports(checkpoint, tmp_path,
                                                              plate_pattern, analyzer):
    from engine.geometry.track import Track
    from engine.io import open_source, read_image
    from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook

    ckpt = checkpoint("df-ud")
    export_checkpoint(ckpt, tmp_path / "m.onnx")
    export_dfm(ckpt, tmp_path / "m.dfm")
    plate = read_image(open_source(plate_pattern).path_of(1010))
    face = analyzer.analyze(plate.pixels[..., :3])[0]
    track = Track({1010: face})
    look = SwapLook()
    out = [FaceSwapper(EngineConfig(model=str(tmp_path / name), device="cpu")).process(
        plate.pixels, 1010, look=look, track=track, channels=plate.channels)
        for name in ("m.onnx", "m.dfm")]
    assert out[0].diagnostics["swapped"] and out[1].diagnostics["swapped"]
    # measured: identical (0); bounds for other CPUs / execution providers
    assert np.abs(out[0].mask - out[1].mask).max() <= 1e-5
    assert np.abs(out[0].image - out[1].image).max() <= 1e-4


def test_cli_exports_dfm_and_refuses_a_mismatched_extension(checkpoint, tmp_path, capsys):
    ckpt = checkpoint("df-ud")
    assert main(["export", str(ckpt.parent.parent), "-o", str(tmp_path / "x.dfm"),
                 "--format", "dfm"]) == 0
    assert "parity max abs diff" in capsys.readouterr().out
    assert main(["export", str(ckpt), "-o", str(tmp_path / "y.onnx"), "--format", "dfm"]) == 2
    assert main(["export", str(ckpt), "-o", str(tmp_path / "z.dfm")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("doppel export: error: ") for line in err)
    assert not (tmp_path / "y.onnx").exists() and not (tmp_path / "z.dfm").exists()
