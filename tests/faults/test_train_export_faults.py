"""Faults of `doppel train` and `doppel export`: facesets, configs, checkpoints, resume, outputs."""

import json

import pytest

from tests.faults.conftest import Snapshot, edit_json, temps

pytest.importorskip("torch", reason="train/export faults need torch (the train extra)")

TINY = ["--arch", "df-ud", "--resolution", "64", "--ae-dims", "32", "--e-dims", "8",
        "--d-dims", "8", "--mask-dims", "4", "--batch-size", "2", "--workers", "0",
        "--precision", "fp32", "--preview-every", "1000", "--log-every", "1", "--quiet"]


def train_args(src, dst, out, *extra):
    return ["train", "--src", src, "--dst", dst, "--out", out, *TINY, *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, faceset8):
    """A model folder trained 2 iterations with a checkpoint at 2."""
    from tests.faults.conftest import main

    out = tmp_path_factory.mktemp("trained") / "model"
    args = train_args(faceset8, faceset8, out, "--target-iters", "2", "--save-every", "2")
    assert main([str(a) for a in args]) == 0
    return out


def test_missing_faceset(tmp_path, faceset8, fails):
    fails(2, ["nowhere", "no faceset.json"],
          *train_args(tmp_path / "nowhere", faceset8, tmp_path / "m", "--target-iters", "1"))


def test_faceset_entry_outside_its_folder_is_never_read(tmp_path, faceset8, copy_of, fails):
    fs = copy_of(faceset8, "fs")
    (tmp_path / "secret.png").write_bytes((fs / "faces" / "001001_00.png").read_bytes())
    edit_json(fs / "faceset.json", lambda d: d["faces"][0].update(file="../secret.png"))
    snap = Snapshot(tmp_path)
    fails(2, ["../secret.png", "outside"],
          *train_args(fs, faceset8, tmp_path / "m", "--target-iters", "1"))
    snap.assert_unchanged()


def test_faceset_entry_missing_keys(tmp_path, faceset8, copy_of, fails):
    fs = copy_of(faceset8, "fs")
    edit_json(fs / "faceset.json", lambda d: d["faces"][3].pop("landmarks_crop"))
    fails(2, ["faces[3]", "landmarks_crop"],
          *train_args(fs, faceset8, tmp_path / "m", "--target-iters", "1"))


@pytest.mark.parametrize("flag, value", [("--resolution", "7"), ("--lr", "nan"),
                                         ("--batch-size", "0"), ("--target-iters", "-5"),
                                         ("--beta1", "inf")])
def test_bad_train_settings(tmp_path, faceset8, fails, flag, value):
    fails(2, [flag.lstrip("-").replace("-", "_")],
          *train_args(faceset8, faceset8, tmp_path / "m", flag, value))
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("content, needles", [
    (None, ["cfg.yaml", "not found"]),
    ("src: [unclosed", ["cfg.yaml", "not valid YAML"]),
    ("- a\n- b\n", ["cfg.yaml", "mapping"]),
    ("srcc: x\n", ["unknown key", "srcc"]),
], ids=["missing", "bad-yaml", "list", "unknown-key"])
def test_bad_config_file(tmp_path, fails, content, needles):
    cfg = tmp_path / "cfg.yaml"
    if content is not None:
        cfg.write_text(content)
    fails(2, needles, "train", "-c", cfg, "--quiet")


def test_existing_checkpoints_without_resume_are_kept(trained, faceset8, copy_of, fails):
    out = copy_of(trained, "model")
    snap = Snapshot(out)
    fails(2, ["--resume"], *train_args(faceset8, faceset8, out, "--target-iters", "3"))
    snap.assert_unchanged()


def test_partial_last_log_line_does_not_stop_resume(trained, faceset8, copy_of, cli):
    out = copy_of(trained, "model")
    with open(out / "losses.jsonl", "a") as fh:
        fh.write('{"it": 3, "src": 0.1')  # the kill came mid-line
    r = cli(*train_args(faceset8, faceset8, out, "--target-iters", "3", "--save-every", "3",
                        "--resume"))
    assert r.rc == 0, r.err
    lines = (out / "losses.jsonl").read_text().splitlines()
    assert [json.loads(ln)["it"] for ln in lines][-1] == 3
    assert not temps(out)


def test_corrupt_checkpoint_on_resume(trained, faceset8, copy_of, fails):
    out = copy_of(trained, "model")
    ckpt = sorted((out / "checkpoints").glob("ckpt_*.pt"))[-1]
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    snap = Snapshot(out)
    fails(2, [ckpt.name, "not a readable Doppel checkpoint"],
          *train_args(faceset8, faceset8, out, "--target-iters", "3", "--resume"))
    snap.assert_unchanged()


# -- export -------------------------------------------------------------------------------------

def test_export_missing_checkpoint(tmp_path, fails):
    fails(2, ["nope.pt", "not found"], "export", tmp_path / "nope.pt", "-o", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_export_garbage_checkpoint(tmp_path, fails):
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not really")
    fails(2, ["junk.pt", "not a readable Doppel checkpoint"], "export", tmp_path / "junk.pt",
          "-o", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_export_folder_without_checkpoints(tmp_path, fails):
    (tmp_path / "empty").mkdir()
    fails(2, ["empty", "no checkpoints"], "export", tmp_path / "empty", "-o",
          tmp_path / "m.onnx")


def test_export_onto_a_folder(trained, tmp_path, fails):
    (tmp_path / "m.onnx").mkdir()
    fails(2, ["m.onnx", "folder"], "export", trained, "-o", tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").is_dir() and not temps(tmp_path)


def test_export_bad_tolerance(trained, tmp_path, fails):
    fails(2, ["--tolerance"], "export", trained, "-o", tmp_path / "m.onnx", "--tolerance", "-1")
