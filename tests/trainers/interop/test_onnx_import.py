"""Fine-tuning from an exported ONNX model (`init_from: model.onnx`): a shipped model is often
all a TD has, its checkpoint left on the machine that trained it."""

import pytest

torch = pytest.importorskip("torch")

from doppel_cli.main import main  # noqa: E402
from engine.errors import ModelError, SettingsError  # noqa: E402
from trainers.checkpoint import load_checkpoint  # noqa: E402
from trainers.export import export_checkpoint, write_onnx  # noqa: E402
from trainers.train import Trainer  # noqa: E402


@pytest.fixture(scope="module")
def trained(facesets, tmp_path_factory):
    """A tiny model trained 3 iterations and exported: (trainer, checkpoint folder, onnx)."""
    from trainers.config import TrainConfig

    root = tmp_path_factory.mktemp("onnx_init")
    cfg = TrainConfig(src=str(facesets[0]), dst=str(facesets[1]), out=str(root / "m"),
                      arch="df-ud", resolution=64, batch_size=4, workers=0, precision="fp32",
                      save_every=1000, preview_every=1000, log_every=1, target_iters=3,
                      ae_dims=32, e_dims=8, d_dims=8, mask_dims=4).validate()
    tr = Trainer(cfg, log=lambda s: None)
    tr.run(progress=False)
    onnx_path = root / "m.onnx"
    export_checkpoint(cfg.out, onnx_path, "obama", "carphone")
    return tr, root / "m", onnx_path


def old_style_export(trainer, path):
    """An export as Doppel wrote them before `dst_face` (the bundled demo models): the dst
    decoder's colour branch is not in the graph, so not in the file."""
    class Swap3(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, face):
            return self.inner.swap_and_reconstruct(face)[:3]

    res = trainer.spec.resolution
    meta = {"doppel.schema": "1", "arch": "df-ud", "resolution": str(res), "face_type": "full",
            "dims": "32/8/8/4", "src_name": "obama", "dst_name": "carphone", "iterations": "3"}
    write_onnx(Swap3(trainer.model.float()).eval(), torch.rand(1, 3, res, res), path,
               ["swap", "mask", "dst_mask"], meta, 1e-4)


def test_every_weight_of_an_exported_model_starts_the_run(trained, tiny_config, tmp_path):
    tr, _, onnx_path = trained
    logs = []
    fine = Trainer(tiny_config(out=str(tmp_path / "fine"), init_from=str(onnx_path)),
                   log=logs.append)
    assert fine.iteration == 0
    for (name, a), b in zip(tr.model.state_dict().items(), fine.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert any("fine-tuning from" in line and "starting fresh" not in line for line in logs)
    fine.run(progress=False)
    assert load_checkpoint(fine.out / "checkpoints" / "ckpt_00000004.pt")["config"][
        "init_from"] == str(onnx_path)


def test_a_model_without_the_dst_colour_branch_starts_that_branch_fresh(trained, tiny_config,
                                                                         tmp_path):
    tr, _, _ = trained
    old = tmp_path / "old.onnx"
    old_style_export(tr, old)
    logs = []
    fine = Trainer(tiny_config(out=str(tmp_path / "fine"), init_from=str(old)), log=logs.append)
    theirs, ours = tr.model.state_dict(), fine.model.state_dict()
    for name in theirs:
        same = torch.equal(theirs[name], ours[name])
        assert same == (not name.startswith(("decoder_dst.rgb", "decoder_dst.rgb_out"))), name
    assert any("starting fresh: decoder_dst.rgb, decoder_dst.rgb_out" in line for line in logs)


def test_a_deepfacelive_dfm_doppel_exported_starts_the_run_too(trained, tiny_config, tmp_path):
    from trainers.interop.dfm_export import export_dfm

    tr, folder, _ = trained
    dfm = tmp_path / "m.dfm"
    export_dfm(folder, dfm, "obama", "carphone")
    logs = []
    fine = Trainer(tiny_config(out=str(tmp_path / "fine"), init_from=str(dfm)), log=logs.append)
    theirs, ours = tr.model.state_dict(), fine.model.state_dict()
    for name in theirs:  # the .dfm graph is the swap only: no dst decoder colour branch
        assert torch.equal(theirs[name], ours[name]) == (
            not name.startswith("decoder_dst.rgb")), name
    assert any("starting fresh: decoder_dst.rgb" in line for line in logs)


def test_a_model_of_another_shape_or_face_type_is_refused_by_name(trained, tiny_config,
                                                                    tmp_path):
    _, _, onnx_path = trained
    with pytest.raises(SettingsError, match="dims 32/8/8/4.*dims 32/8/8/8"):
        Trainer(tiny_config(out=str(tmp_path / "a"), init_from=str(onnx_path), mask_dims=8),
                log=lambda s: None)
    with pytest.raises(SettingsError, match="face type 'full'.*'whole'"):
        Trainer(tiny_config(out=str(tmp_path / "b"), init_from=str(onnx_path),
                            face_type="whole"), log=lambda s: None)
    assert not (tmp_path / "a" / "checkpoints").exists()


def test_an_onnx_file_doppel_did_not_export_is_refused(trained, tiny_config, samples, tmp_path):
    foreign = next((samples / "models").rglob("*.onnx"))  # a detector from a registry package
    with pytest.raises(ModelError, match="not a model Doppel exported"):
        Trainer(tiny_config(out=str(tmp_path / "a"), init_from=str(foreign)), log=lambda s: None)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        Trainer(tiny_config(out=str(tmp_path / "b"), init_from=str(junk)), log=lambda s: None)


def test_doppel_train_takes_the_models_shape_from_the_onnx_file(trained, facesets, tmp_path,
                                                                capsys):
    tr, _, onnx_path = trained
    out = tmp_path / "cli"
    assert main(["train", "--src", str(facesets[0]), "--dst", str(facesets[1]), "--out",
                 str(out), "--init-from", str(onnx_path), "--target-iters", "1",
                 "--batch-size", "2", "--workers", "0", "--precision", "fp32", "--quiet"]) == 0
    ckpt = load_checkpoint(sorted((out / "checkpoints").glob("ckpt_*.pt"))[-1])
    assert ckpt["spec"] == {**ckpt["spec"], "resolution": 64, "ae_dims": 32, "e_dims": 8,
                            "d_dims": 8, "mask_dims": 4}
    assert "iteration 1" in capsys.readouterr().out
