"""SAEHD import: layout conversions with known answers, DFL's forward pass reproduced, the model
folder round trip, options -> config, training on, export, and malicious weight files."""

import pickle

import numpy as np
import pytest
import torch

from doppel_cli.main import main
from engine.errors import ModelError, OutputError
from engine.interop.dfl_pickle import UnsafePickleError
from tests.engine.interop.dfl_fixture import Sentinel, UnknownClass
from tests.trainers.conftest import TINY
from tests.trainers.interop.saehd_fixture import saehd_options, write_saehd_folder
from tests.trainers.interop.tf_reference import SaehdReference
from trainers.interop.saehd_import import (
    conv_tf_to_torch,
    conv_torch_to_tf,
    crd_to_dcr,
    dcr_to_crd,
    dense_tf_to_torch,
    import_saehd,
    read_saehd,
    state_dict_to_tf_parts,
    tf_parts_to_state_dict,
)
from trainers.models import build_model, resolve_spec


def tiny_model(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    spec = resolve_spec(arch, resolution=64, **TINY)
    model = build_model(spec).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    return spec, model


def dfl_folder(tmp_path, arch="df-ud", face_type="full", **options):
    spec, model = tiny_model(arch)
    parts = state_dict_to_tf_parts(model.state_dict(), spec)
    folder = write_saehd_folder(tmp_path / "dfl_model", parts,
                                saehd_options(arch, face_type=face_type, **options))
    return folder, spec, model


# -- the conversions, each against a known answer -------------------------------------------
def test_conv_kernel_hwio_to_oihw():
    w = np.arange(3 * 3 * 2 * 4, dtype=np.float32).reshape(3, 3, 2, 4)  # H W I O
    t = conv_tf_to_torch(w)
    assert t.shape == (4, 2, 3, 3)
    for o, i, y, x in [(0, 0, 0, 0), (3, 1, 2, 0), (2, 0, 1, 2)]:
        assert t[o, i, y, x] == w[y, x, i, o]
    assert np.array_equal(conv_torch_to_tf(t), w)


def test_dense_io_to_oi():
    w = np.arange(12, dtype=np.float32).reshape(3, 4)  # in 3, out 4: y = x W + b
    x = np.array([1.0, -2.0, 0.5], np.float32)
    t = dense_tf_to_torch(w)
    assert t.shape == (4, 3) and np.allclose(x @ w, t @ x)


def test_depth_to_space_channel_order_dcr_to_crd():
    c = 3
    tf_order = np.arange(4 * c)  # TF channel k*C + c
    torch_order = dcr_to_crd(tf_order)
    for ch in range(c):
        for k in range(4):  # PixelShuffle reads channel ch*4 + k for sub-pixel k
            assert torch_order[ch * 4 + k] == k * c + ch
    assert np.array_equal(crd_to_dcr(torch_order), tf_order)
    # on a conv weight the permutation acts on the output axis only
    w = np.random.default_rng(0).random((4 * c, 2, 3, 3))
    assert np.array_equal(dcr_to_crd(w)[1], w[c])  # torch ch 0 sub-pixel 1 = TF channel C


def test_depth_to_space_conversion_makes_pixelshuffle_equal_tfs_dcr():
    from tests.trainers.interop.tf_reference import depth_to_space

    x_tf = np.random.default_rng(1).random((1, 2, 3, 8)).astype(np.float32)  # NHWC, C = 2
    want = depth_to_space(x_tf)
    x_torch = torch.from_numpy(dcr_to_crd(x_tf, axis=3)).permute(0, 3, 1, 2)
    got = torch.nn.functional.pixel_shuffle(x_torch, 2).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(got, want)


@pytest.mark.parametrize("arch", ["df", "df-ud", "df-t", "liae-udt", "liae-c", "df-udtc"])
def test_converted_weights_reproduce_dfls_forward_pass(arch):
    spec, model = tiny_model(arch)
    parts = state_dict_to_tf_parts(model.state_dict(), spec)
    state = tf_parts_to_state_dict(parts, spec, "t")
    fresh = build_model(spec).eval()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = np.random.default_rng(2).random((2, 64, 64, 3)).astype(np.float32)
    with torch.no_grad():
        got = [a.permute(0, 2, 3, 1).numpy()
               for a in fresh.swap(torch.from_numpy(x).permute(0, 3, 1, 2))]
    want = SaehdReference(parts, arch, 64).swap(x)  # numpy, DFL's conventions (float64)
    for g, w in zip(got, want, strict=True):
        assert np.abs(g - w).max() < 1e-5  # measured ~1e-7 (float32 vs float64)


# -- the model folder ---------------------------------------------------------------------------
@pytest.mark.parametrize("arch, face_type", [("df-ud", "full"), ("liae-udt", "whole")])
def test_saehd_folder_round_trips_exactly_with_options_mapped(tmp_path, arch, face_type):
    folder, spec, model = dfl_folder(tmp_path, arch, face_type)
    imp = read_saehd(folder)
    assert imp.spec == spec and imp.face_type == face_type and imp.iteration == 4321
    for k, v in model.state_dict().items():
        assert np.array_equal(imp.state[k], v.numpy()), k  # bit for bit
    cfg = imp.config
    assert (cfg["arch"], cfg["resolution"], cfg["mask_dims"]) == (arch, 64, TINY["mask_dims"])
    assert cfg["eyes_mouth_priority"] is True and cfg["uniform_yaw"] is False
    assert cfg["random_flip"] is True and cfg["hsv_jitter"] == 0.1
    assert cfg["color_transfer"] == "rct" and cfg["clip_grad"] == 1.0 and cfg["batch_size"] == 4
    assert "adabelief=True" in imp.unmapped and "lr_dropout='n'" in imp.unmapped
    assert "target_iters" not in cfg  # DFL's 0 = no target
    assert 1000 <= len(imp.history) <= 2200 and imp.history[0] == [1.0, 0.5, 0.4]


def test_a_layout_mismatch_names_the_variable(tmp_path):
    spec, model = tiny_model("df")
    parts = state_dict_to_tf_parts(model.state_dict(), spec)
    folder = write_saehd_folder(tmp_path / "m", parts, saehd_options("df-ud"))  # options lie
    with pytest.raises(ModelError, match=r"lacks down1/downs_0/conv1/weight:0|shape"):
        read_saehd(folder)
    parts["encoder"]["down1/downs_9/conv1/weight:0"] = np.zeros(3, np.float32)
    folder = write_saehd_folder(tmp_path / "m2", parts, saehd_options("df"))
    with pytest.raises(ModelError, match="downs_9"):
        read_saehd(folder)


@pytest.mark.parametrize("options, needle", [
    (dict(archi="dfhd"), "no Doppel equivalent"),
    (dict(archi="df-udx"), "no Doppel equivalent"),
    (dict(face_type="custom"), "face type 'custom'"),
    (dict(resolution=640), "resolution 640"),
])
def test_options_doppel_cannot_map_are_refused(tmp_path, options, needle):
    spec, model = tiny_model("df-ud")
    parts = state_dict_to_tf_parts(model.state_dict(), spec)
    folder = write_saehd_folder(tmp_path / "m", parts, saehd_options("df-ud", **options))
    with pytest.raises(ModelError, match=needle):
        read_saehd(folder)


def test_several_models_in_a_folder_are_picked_by_data_file(tmp_path):
    folder, spec, _ = dfl_folder(tmp_path)
    _, other = tiny_model("df-ud", seed=5)
    write_saehd_folder(folder, state_dict_to_tf_parts(other.state_dict(), spec),
                       saehd_options("df-ud"), name="second")
    with pytest.raises(ModelError, match="several models"):
        read_saehd(folder)
    imp = read_saehd(folder / "second_SAEHD_data.dat")
    assert np.array_equal(imp.state["encoder.net.0.0.weight"],
                          other.state_dict()["encoder.net.0.0.weight"].numpy())


# -- malicious files -------------------------------------------------------------------------
def test_os_system_reducer_in_a_weights_file_is_refused_and_nothing_written(tmp_path):
    folder, _, _ = dfl_folder(tmp_path)
    sentinel = tmp_path / "pwned"
    (folder / "new_SAEHD_decoder_src.npy").write_bytes(
        pickle.dumps({"out_conv/weight:0": Sentinel(sentinel)}, 4))
    with pytest.raises(UnsafePickleError, match=r"decoder_src\.npy.*system"):
        import_saehd(folder, tmp_path / "out")
    assert not sentinel.exists() and not (tmp_path / "out").exists()


def test_unknown_class_in_the_data_file_is_refused(tmp_path):
    folder, _, _ = dfl_folder(tmp_path)
    (folder / "new_SAEHD_data.dat").write_bytes(pickle.dumps({"options": UnknownClass()}))
    with pytest.raises(UnsafePickleError, match="UnknownClass"):
        read_saehd(folder)


def test_oversized_weights_payload_is_refused_unread(tmp_path):
    folder, _, _ = dfl_folder(tmp_path)
    sentinel = tmp_path / "pwned"
    (folder / "new_SAEHD_inter.npy").write_bytes(
        pickle.dumps({"pad": np.zeros(50_000), "x": Sentinel(sentinel)}, 4))
    with pytest.raises(UnsafePickleError, match="refused unread"):
        read_saehd(folder, max_weights_bytes=100_000)
    assert not sentinel.exists()


# -- the commands: import, export, train on -----------------------------------------------------
def test_import_command_writes_a_checkpoint_that_exports_like_the_original(tmp_path, capsys):
    from engine.swap.dfm import DfmModel
    from engine.swap.infer import SwapModel

    folder, spec, model = dfl_folder(tmp_path)
    out = tmp_path / "imported"
    assert main(["import-dfl-model", str(folder), "-o", str(out)]) == 0
    assert "adabelief=True" in capsys.readouterr().out
    assert (out / "checkpoints" / "ckpt_00004321.pt").is_file()
    assert (out / "config.yaml").is_file()
    assert main(["export", str(out), "-o", str(tmp_path / "m.onnx")]) == 0
    assert main(["export", str(out), "-o", str(tmp_path / "m.dfm"), "--format", "dfm"]) == 0
    faces = np.random.default_rng(3).random((2, 64, 64, 3), dtype=np.float32)
    with torch.no_grad():
        want = [a.permute(0, 2, 3, 1).numpy()
                for a in model.swap(torch.from_numpy(faces).permute(0, 3, 1, 2))]
    native = SwapModel(tmp_path / "m.onnx", "cpu").run(faces)
    via_dfm = DfmModel(tmp_path / "m.dfm", "cpu").run(faces)
    for got in (native, via_dfm):
        assert np.abs(got[0] - want[0]).max() < 1e-5
        assert np.abs(got[1] - want[1][..., 0]).max() < 1e-5
    # a second import into the same folder, or into the DFL folder, writes nothing
    assert main(["import-dfl-model", str(folder), "-o", str(out)]) == 2
    assert main(["import-dfl-model", str(folder), "-o", str(folder / "x")]) == 2
    assert not (folder / "x").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("import-dfl-model: error:" in line for line in err)


def test_import_refuses_existing_output(tmp_path):
    folder, _, _ = dfl_folder(tmp_path)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    with pytest.raises(OutputError, match="not an empty folder"):
        import_saehd(folder, tmp_path / "busy")


def test_training_continues_from_dfl_weights(tiny_config, tmp_path):
    from trainers.checkpoint import checkpoints, load_checkpoint
    from trainers.train import Trainer

    folder, spec, model = dfl_folder(tmp_path)
    cfg = tiny_config(out=str(tmp_path / "fine"), init_from_dfl=str(folder), target_iters=2,
                      save_every=2)
    trainer = Trainer(cfg, log=lambda s: None)
    for k, v in model.state_dict().items():  # starts exactly from the imported weights
        assert torch.equal(trainer.model.state_dict()[k].cpu(), v), k
    result = trainer.run(progress=False)
    assert result["iteration"] == 2 and np.isfinite(result["losses"]["src"])
    after = load_checkpoint(checkpoints(tmp_path / "fine")[-1])["model"]
    assert not torch.equal(after["decoder_src.rgb_out.weight"],
                           model.state_dict()["decoder_src.rgb_out.weight"])
    # the imported model folder itself resumes at DFL's iteration (fresh Adam)
    out = tmp_path / "imported"
    import_saehd(folder, out)
    resumed = Trainer(tiny_config(out=str(out), target_iters=4322, save_every=4322),
                      resume=True, log=lambda s: None)
    assert resumed.iteration == 4321
    assert resumed.run(progress=False)["iteration"] == 4322


def test_init_from_dfl_refuses_another_face_type(tiny_config, tmp_path):
    from engine.errors import SettingsError
    from trainers.train import Trainer

    folder, _, _ = dfl_folder(tmp_path, face_type="whole")
    with pytest.raises(SettingsError, match="face type 'whole'"):
        Trainer(tiny_config(out=str(tmp_path / "m"), init_from_dfl=str(folder)),
                log=lambda s: None)


def test_train_cli_takes_the_network_shape_from_the_dfl_options(facesets, tmp_path):
    from trainers.checkpoint import checkpoints, load_checkpoint

    folder, spec, _ = dfl_folder(tmp_path, "liae-ud")
    out = tmp_path / "m"
    args = ["train", "--init-from-dfl", str(folder), "--src", str(facesets[0]), "--dst",
            str(facesets[1]), "--out", str(out), "--target-iters", "1", "--batch-size", "2",
            "--workers", "0", "--precision", "fp32", "--preview-every", "1000", "--quiet"]
    assert main(args) == 0  # no --arch/--resolution/dims: they come from the DFL model
    ckpt = load_checkpoint(checkpoints(out)[-1])
    assert ckpt["spec"]["arch"] == "liae-ud" and ckpt["spec"]["ae_dims"] == TINY["ae_dims"]
    assert ckpt["config"]["init_from_dfl"] == str(folder)


def test_quick96_maps_to_its_fixed_layout():
    from trainers.interop.saehd_import import spec_from_options

    spec, face_type = spec_from_options({}, "Quick96", "q")
    assert (spec.arch, spec.resolution, spec.ae_dims, spec.e_dims, spec.d_dims,
            spec.mask_dims, face_type) == ("df-ud", 96, 128, 64, 64, 16, "full")
