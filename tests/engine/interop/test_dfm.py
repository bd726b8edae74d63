"""The `.dfm` adapter: BGR/NHWC in and out, output mapping, morph, DeepFaceLive's refusals."""

import numpy as np
import pytest

from engine.errors import ModelError
from engine.swap.dfm import DEFAULT_MORPH, DfmModel
from engine.swap.infer import SwapModel
from engine.swap.models import load_swap_model
from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook
from tests.engine.interop.dfm_graphs import OUT, probe_dfm


@pytest.fixture
def faces():
    return np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)


def test_bgr_nhwc_in_and_out_and_outputs_map_to_swap_mask_dst_mask(tmp_path, faces):
    model = DfmModel(probe_dfm(tmp_path / "p.dfm"), "cpu")
    swap, mask, dst_mask = model.run(faces)
    # the probe returns its (BGR) input as the face: RGB comes back unchanged
    np.testing.assert_array_equal(swap, faces)
    # out_face_mask is the model's channel 0 = blue; out_celeb_face_mask channel 2 = red
    np.testing.assert_array_equal(dst_mask, faces[..., 2])
    np.testing.assert_array_equal(mask, faces[..., 0])
    assert not model.takes_morph and model.resolution == 16
    assert model.info.face_type == "whole" and model.info.metadata["format"] == "dfm"


def test_morph_value_reaches_amp_models_with_deepfacelives_default(tmp_path, faces):
    model = DfmModel(probe_dfm(tmp_path / "amp.dfm", morph=True), "cpu")
    assert model.takes_morph
    np.testing.assert_allclose(model.run(faces, morph=0.3)[0], faces * np.float32(0.3))
    np.testing.assert_allclose(model.run(faces)[0], faces * np.float32(DEFAULT_MORPH))


def test_face_type_comes_from_the_setting_whole_by_default(tmp_path):
    path = probe_dfm(tmp_path / "p.dfm")
    assert load_swap_model(path, "cpu").info.face_type == "whole"
    assert load_swap_model(path, "cpu", face_type="full").info.face_type == "full"
    sw = FaceSwapper(EngineConfig(model=str(path), face_type="head", device="cpu"))
    assert sw.ftype.name == "head"
    assert isinstance(load_swap_model(path, "cpu"), DfmModel)


def test_a_doppel_model_still_loads_as_before(demo_model):
    assert type(load_swap_model(demo_model, "cpu")) is SwapModel


@pytest.mark.parametrize("kwargs, needle", [
    (dict(in_name="face"), "first input is 'face'"),
    (dict(morph=True, morph_name="strength"), "second input is 'strength'"),
    (dict(morph=True, extra_input="x"), "3 inputs"),
    (dict(in_shape=["N", 3, 16, 16]), "NHWC"),
    (dict(in_shape=["N", 16, 24, 3]), "NHWC"),
    (dict(in_shape=["N", "H", "W", 3]), "fixed square"),
    (dict(outputs=(OUT[1], OUT[0], OUT[2])), "in this order"),
    (dict(outputs=OUT[:2]), "2 outputs"),
    (dict(mask_channels=2), "expected [N, 16, 16, 1]"),
])
def test_what_deepfacelive_would_refuse_is_a_one_line_model_error(tmp_path, kwargs, needle):
    path = probe_dfm(tmp_path / "bad.dfm", **kwargs)
    with pytest.raises(ModelError) as err:
        DfmModel(path, "cpu")
    assert needle in str(err.value) and "\n" not in str(err.value) and "bad.dfm" in str(err.value)


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "g.dfm").write_bytes(b"not onnx at all")
    with pytest.raises(ModelError, match="not an ONNX model"):
        DfmModel(tmp_path / "g.dfm")
    with pytest.raises(ModelError, match="not found"):
        DfmModel(tmp_path / "none.dfm")


def test_morph_is_a_validated_look_knob():
    assert SwapLook().morph == DEFAULT_MORPH
    from engine.errors import SettingsError

    with pytest.raises(SettingsError, match="--morph must be within 0..1"):
        SwapLook(morph=1.5)
