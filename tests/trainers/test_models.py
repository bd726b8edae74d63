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
        both = model.swap_and_reconstruct(x)
    assert face.shape == (2, 3, 64, 64) and dst_mask.shape == (2, 1, 64, 64)
    for a, b in zip((face, mask, dst_mask), both[:3], strict=True):
        assert torch.allclose(a, b)
    assert torch.allclose(both[3], outs[1][0])  # dst_face: the dst→dst reconstruction
    module = _swap_module(model)
    path = tmp_path / "m.onnx"
    torch.onnx.export(module, (x,), str(path), input_names=["face"],
                      output_names=["swap", "mask", "dst_mask", "dst_face"], opset_version=17,
                      dynamic_axes={"face": {0: "N"}}, dynamo=False)
    assert parity(module, str(path), x) <= 1e-4


def test_quick96_preset_is_df_at_96_full_face():
    spec = resolve_spec("quick96")
    assert (spec.family, spec.resolution, "d" in spec.letters) == ("df", 96, True)


@pytest.mark.parametrize("arch, res, message", [
    ("dx", 128, "family 'dx' unknown"),
    ("df-uz", 128, "letters must be a subset"),
    ("df-ud", 80, "multiple of 32"),
    ("liae-t", 80, "multiple of 32"),  # -t's fifth downscale needs R/32 whole
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


# DeepFaceLab's SAEHD at 128 px, dims ae 256 / e 64 / d 64 / mask 22, parameters per module.
# df-ud and liae-ud are DFL's published figures; the -t figures are summed from DFL's layer
# shapes (conv cin·cout·k²+cout, dense in·out+out): the -t encoder adds a 5th 5×5 downscale
# 512→512 and residual blocks at 64 and 512 channels (15,654,144); its inter has no upscale
# and reads 512·4·4 features (df 3,150,080; liae 4,202,752 with 512 output channels); its
# decoder upscales 8d, 8d, 4d, 2d (and mask 8m, 8m, 4m, 2m, 1m) with a residual block each.
DFL_COUNTS_128 = {
    "df-ud": {"encoder": 4_306_560, "inter": 11_801_856,
              "decoder_src": 19_181_291, "decoder_dst": 19_181_291},
    "liae-ud": {"encoder": 4_306_560, "inter_ab": 19_933_440, "inter_b": 19_933_440,
                "decoder": 38_203_115},
    "df-udt": {"encoder": 15_654_144, "inter": 3_150_080,
               "decoder_src": 34_455_979, "decoder_dst": 34_455_979},
    "liae-udt": {"encoder": 15_654_144, "inter_ab": 4_202_752, "inter_b": 4_202_752,
                 "decoder": 53_477_803},
    # -c swaps LeakyReLU for x·cos x: no parameters change
    "liae-udc": {"encoder": 4_306_560, "inter_ab": 19_933_440, "inter_b": 19_933_440,
                 "decoder": 38_203_115},
}


def _counts(model) -> dict[str, int]:
    return {name: sum(p.numel() for p in child.parameters())
            for name, child in model.named_children()}


@pytest.mark.parametrize("arch", DFL_COUNTS_128)
def test_parameter_counts_per_module_equal_deepfacelabs(arch):
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = build_model(resolve_spec(arch, resolution=128))
    assert _counts(model) == DFL_COUNTS_128[arch]


def test_quick96_has_deepfacelabs_quick96_counts():
    # DFL's Quick96: DF with opts 'ud' at 96 px, dims ae 128 / e 64 / d 64 / mask 16; counts
    # summed from the layer shapes (inter reads 512·6·6 features, dense2 is 3·3·128)
    with torch.device("meta"):
        model = build_model(resolve_spec("quick96"))
    assert _counts(model) == {"encoder": 4_306_560, "inter": 3_098_368,
                              "decoder_src": 15_444_701, "decoder_dst": 15_444_701}


def test_published_totals_are_the_sum_of_the_modules():
    # DFL reports df-ud 128 as 54.47 M and liae-ud 128 as 82.4 M in total
    assert round(sum(DFL_COUNTS_128["df-ud"].values()) / 1e6, 2) == 54.47
    assert round(sum(DFL_COUNTS_128["liae-ud"].values()) / 1e6, 1) == 82.4


def test_cos_variant_has_no_leaky_relu():
    from trainers.models.blocks import XCos

    model = build_model(resolve_spec("liae-udc", resolution=64, **SMALL))
    kinds = {type(m) for m in model.modules()}
    assert XCos in kinds and torch.nn.LeakyReLU not in kinds


@pytest.mark.parametrize("arch", ["df-ud", "liae-udt"])
def test_forward_without_swap_gives_the_same_reconstructions_and_skips_the_swap(arch):
    torch.manual_seed(0)
    model = build_model(resolve_spec(arch, resolution=64, **SMALL)).eval()
    src, dst = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    decoder = model.decoder_src if arch.startswith("df") else model.decoder
    calls = []
    hook = decoder.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        full = model(src, dst)
        n_full = len(calls)
        calls.clear()
        short = model(src, dst, swap=False)
    hook.remove()
    assert len(full) == 3 and len(short) == 2
    assert len(calls) == n_full - 1  # one decoder pass fewer: the swap's
    for (a_rgb, a_m), (b_rgb, b_m) in zip(full[:2], short, strict=True):
        assert torch.equal(a_rgb, b_rgb) and torch.equal(a_m, b_m)
    # the swap the previews need is still one call away, and equals the full forward's
    with torch.no_grad():
        face, mask, _ = model.swap(dst)
    assert torch.allclose(face, full[2][0]) and torch.allclose(mask, full[2][1])


def test_double_resolution_heads_fill_one_subpixel_each():
    # DFL's -d head: conv k gives the RGB of sub-pixel (k // 2, k % 2) of each 2×2 block
    model = build_model(resolve_spec("df-ud", resolution=64, **SMALL)).eval()
    dec = model.decoder_src
    with torch.no_grad():
        for conv in [dec.rgb_out, *dec.rgb_out_sub]:
            conv.weight.zero_()
            conv.bias.fill_(-20.0)  # sigmoid ≈ 0
        dec.rgb_out_sub[1].bias.fill_(20.0)  # head 2: sub-pixel (1, 0) → sigmoid ≈ 1
        rgb = dec.forward_rgb(torch.rand(1, SMALL["ae_dims"], 8, 8))
    ones = (rgb > 0.5).float()
    assert ones[..., 1::2, 0::2].min() == 1 and ones.sum() == ones[..., 1::2, 0::2].numel()


def _as_old_layout(state: dict, d_dims: int, mask_dims: int) -> dict:
    """df-ud weights as Doppel wrote them before the DFL layout: one 1×1 RGB head of 12
    channels and one mask head of 4 (both depth-to-space), no mask upscale to 1·m."""
    old = {k: v for k, v in state.items()
           if ".rgb_out_sub." not in k and ".mask.3." not in k}
    for dec in ("decoder_src", "decoder_dst"):
        old[f"{dec}.rgb_out.weight"] = torch.zeros(12, d_dims * 2, 1, 1)
        old[f"{dec}.rgb_out.bias"] = torch.zeros(12)
        old[f"{dec}.mask_out.weight"] = torch.zeros(4, mask_dims * 2, 1, 1)
        old[f"{dec}.mask_out.bias"] = torch.zeros(4)
    return old


def test_weights_of_the_old_layout_are_refused_with_the_mismatch_named():
    from engine.errors import ModelError

    spec = resolve_spec("df-ud", resolution=64, **SMALL)
    model = build_model(spec)
    old = _as_old_layout(model.state_dict(), SMALL["d_dims"], SMALL["mask_dims"])
    with pytest.raises(ModelError) as err:
        model.load_state_dict(old)
    msg = str(err.value)
    assert "\n" not in msg and "df-ud 64 px" in msg and "missing" in msg
    assert "decoder_src.rgb_out.weight: weights 12×8×1×1, network 3×8×1×1" in msg
    assert "retrain" in msg


def test_export_of_an_old_layout_checkpoint_raises_model_error(tmp_path):
    from dataclasses import asdict

    from engine.errors import ModelError
    from trainers.checkpoint import CKPT_SCHEMA
    from trainers.export import export_checkpoint

    spec = resolve_spec("df-ud", resolution=64, **SMALL)
    state = _as_old_layout(build_model(spec).state_dict(), SMALL["d_dims"], SMALL["mask_dims"])
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"schema": CKPT_SCHEMA, "iteration": 10, "spec": asdict(spec), "config": {},
                "model": state}, ckpt)
    with pytest.raises(ModelError, match="do not fit the df-ud 64 px network"):
        export_checkpoint(ckpt, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("arch", ["df-ud", "liae-ud", "liae-t"])
def test_code_channels_match_the_codes_truefaces_discriminator_sees(arch):
    model = build_model(resolve_spec(arch, resolution=64, **SMALL)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        z_src, z_dst = model.codes(x, x)
    assert z_src.shape[1] == z_dst.shape[1] == model.code_channels
