"""Every registered variant: forward shapes, export to ONNX, torch-vs-ONNX Runtime parity."""

import pytest

torch = pytest.importorskip("torch")

from engine.errors import SettingsError  # noqa: E402
from trainers.models import VARIANTS, build_model, resolve_spec  # noqa: E402

SMALL = dict(ae_dims=16, e_dims=4, d_dims=4, mask_dims=4)


@pytest.mark.parametrize("arch", VARIANTS)
def test_variant_shapes_export_and_parity(arch, tmp_path):
    from trainers.export import _swap_module, parity

    spec = resolve_spec(arch, resolution=64, **SMALL)
    model = build_model(spec).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        outs = model(x, x)
        for rgb, mask in outs:
            assert rgb.shape == (2, 3, 64, 64) and mask.shape == (2, 1, 64, 64)
            assert 0 <= float(rgb.min()) and float(rgb.max()) <= 1
        face, mask, dst_mask = model.swap(x)
    assert face.shape == (2, 3, 64, 64) and dst_mask.shape == (2, 1, 64, 64)
    module = _swap_module(model)
    path = tmp_path / "m.onnx"
    torch.onnx.export(module, (x,), str(path), input_names=["face"],
                      output_names=["swap", "mask", "dst_mask"], opset_version=17,
                      dynamic_axes={"face": {0: "N"}}, dynamo=False)
    assert parity(module, str(path), x) <= 1e-4


def test_quick96_preset_is_df_at_96_full_face():
    spec = resolve_spec("quick96")
    assert (spec.family, spec.resolution, "d" in spec.letters) == ("df", 96, True)


@pytest.mark.parametrize("arch, res, message", [
    ("dx", 128, "family 'dx' unknown"),
    ("df-uz", 128, "letters must be a subset"),
    ("df-ud", 80, "multiple of 32"),
    ("liae", 1024, "64..512"),
])
def test_bad_architectures_are_named(arch, res, message):
    with pytest.raises(SettingsError, match=message):
        resolve_spec(arch, resolution=res)


def test_double_resolution_keeps_the_bottleneck_cost():
    plain = resolve_spec("df", resolution=128, **SMALL)
    double = resolve_spec("df-d", resolution=128, **SMALL)
    n = lambda s: sum(p.numel() for p in build_model(s).decoder_src.parameters())  # noqa: E731
    assert n(double) < 1.5 * n(plain)
