"""`doppel xseg label|train|export|apply` end to end on a real faceset, exit codes included."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from doppel_cli.main import main  # noqa: E402
from engine.faceset.store import load_faceset  # noqa: E402
from engine.io import write_exr  # noqa: E402
from trainers.xseg.labels import entry_field, label_path  # noqa: E402


@pytest.fixture
def dst(facesets, tmp_path):
    root = tmp_path / "dst"
    shutil.copytree(facesets[1], root)
    return root


def test_label_reports_exports_and_imports(dst, tmp_path, capsys):
    assert main(["xseg", "label", str(dst)]) == 0
    assert "0 of 40 faces labelled" in capsys.readouterr().out
    to = tmp_path / "to_label"
    assert main(["xseg", "label", str(dst), "--pick", "5", "--to", str(to)]) == 0
    assert len(list((to / "faces").glob("*.png"))) == 5
    assert (to / "frames.txt").read_text().strip()
    assert len(json.loads((to / "polygons.json").read_text())["labels"]) == 5
    assert main(["xseg", "label", str(dst), "--pick", "5", "--to", str(to)]) == 2
    assert "not empty" in capsys.readouterr().err

    # Roto for two frames: one good, one rendered at half resolution.
    good = np.zeros((720, 880, 1), np.float32)
    good[200:500, 300:600] = 1.0
    write_exr(tmp_path / "roto.1005.exr", good, ("A",))
    write_exr(tmp_path / "roto.1006.exr", good[::2, ::2], ("A",))
    code = main(["xseg", "label", str(dst), "--add", str(tmp_path / "roto.####.exr")])
    out = capsys.readouterr().out
    assert code == 1
    assert "labels written: 1" in out and "1 of 40 faces labelled" in out
    assert "roto.1006.exr: matte is 440×360, the plate frame 1006 is 880×720" in out
    fs = load_faceset(dst)
    e = next(e for e in fs.entries if entry_field(e, "frame") == 1005)
    assert label_path(fs, e).is_file()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["xseg", "label", str(dst), "--add", str(empty)]) == 2
    assert "no usable labels" in capsys.readouterr().err


def test_train_export_apply(dst, tmp_path, capsys):
    from trainers.xseg import bench

    fs = load_faceset(dst)
    faces = [(str(i), fs.load_crop(e), fs.landmarks_crop(e)) for i, e in enumerate(fs.entries)]
    bench.write_labelled_faceset(tmp_path / "lab", faces[:8], fs.face_type, seed=0)
    model = tmp_path / "xseg"
    args = ["xseg", "train", str(tmp_path / "lab"), "-o", str(model), "--resolution", "32",
            "--width", "4", "--batch-size", "2", "--target-iters", "2", "--quiet",
            "--device", "cpu"]
    assert main(args) == 0
    assert "iteration 2" in capsys.readouterr().out
    assert main(args) == 2  # checkpoints exist: refuses without --resume
    assert "--resume" in capsys.readouterr().err
    onnx = tmp_path / "xseg.onnx"
    assert main(["xseg", "export", str(model), "-o", str(onnx)]) == 0
    assert main(["xseg", "apply", str(dst), "--model", str(onnx), "--device", "cpu"]) == 0
    assert "masks written: 40" in capsys.readouterr().out
    assert all(entry_field(e, "mask") for e in load_faceset(dst).entries)
    assert main(["xseg", "export", str(tmp_path / "nothing"), "-o", str(onnx)]) == 2
