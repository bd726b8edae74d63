"""DDP equivalence on CPU (gloo, two processes) and the checkpoint → ONNX export."""

import json

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from doppel_cli.main import main  # noqa: E402
from trainers.train import Trainer  # noqa: E402


def test_ddp_two_gloo_processes_match_one_process_with_the_global_batch(tiny_config, tmp_path):
    from dataclasses import asdict

    from trainers.ddp_check import run

    base = asdict(tiny_config(deterministic=False))
    base.pop("shots")
    two = dict(base, batch_size=2, out=str(tmp_path / "ddp"))
    one = dict(base, batch_size=4, out=str(tmp_path / "single"))
    run(two, str(tmp_path / "ddp.pt"), world=2)
    run(one, str(tmp_path / "one.pt"), world=1)
    a = torch.load(tmp_path / "ddp.pt", weights_only=True)
    b = torch.load(tmp_path / "one.pt", weights_only=True)
    init = Trainer(tiny_config(out=str(tmp_path / "init")), log=lambda s: None).model.state_dict()
    moved = 0
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-4), k
        moved += int(not torch.equal(a[k], init[k]))
    assert moved > len(a) // 2  # the step really changed the parameters


def test_export_writes_metadata_and_passes_parity(tiny_config, tmp_path, capsys):
    cfg = tiny_config(target_iters=2)
    Trainer(cfg, log=lambda s: None).run(progress=False)
    out = tmp_path / "m.onnx"
    assert main(["export", cfg.out, "-o", str(out), "--src-name", "obama"]) == 0
    assert "parity max abs diff" in capsys.readouterr().out
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["doppel.schema"] == "1" and meta["arch"] == "df-ud"
    assert meta["resolution"] == "64" and meta["face_type"] == "full"
    assert meta["colorspace"] == "srgb" and meta["src_name"] == "obama"
    assert meta["iterations"] == "2"
    assert [i.name for i in model.graph.input] == ["face"]
    assert [o.name for o in model.graph.output] == ["swap", "mask", "dst_mask", "dst_face"]
    assert "dst_fit" in meta  # the training dst faceset was at hand
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    face = np.random.default_rng(0).random((3, 3, 64, 64), "f4")
    swap, mask, dst_mask, dst_face = sess.run(None, {"face": face})
    assert swap.shape == dst_face.shape == (3, 3, 64, 64)
    assert mask.shape == dst_mask.shape == (3, 1, 64, 64)


def test_export_of_a_missing_or_foreign_checkpoint_exits_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "-o", str(tmp_path / "m.onnx")]) == 2
    bad = tmp_path / "ckpt.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["export", str(bad), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and "not a readable Doppel checkpoint" in err
    assert not (tmp_path / "m.onnx").exists()


def test_train_cli_with_a_config_file(facesets, tmp_path, capsys):
    cfg = tmp_path / "shot.yaml"
    cfg.write_text(json.dumps({"src": str(facesets[0]), "dst": str(facesets[1]), "out": "m",
                               "resolution": 64, "ae_dims": 32, "e_dims": 8, "d_dims": 8,
                               "mask_dims": 4, "batch_size": 2, "workers": 1,
                               "target_iters": 3}))
    assert main(["train", "-c", str(cfg), "--target-iters", "2", "--quiet"]) == 0
    assert "m: iteration 2" in capsys.readouterr().out
    assert (tmp_path / "m" / "config.yaml").read_text().count("target_iters: 2") == 1
    assert main(["train", "-c", str(cfg), "--quiet"]) == 2  # checkpoints exist, no --resume
    assert main(["train", "-c", str(cfg), "--resume", "--quiet"]) == 0
