"""`doppel evaluate` and `doppel quality` end to end: exit codes, outputs, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from doppel_cli.main import main
from engine.io import write_exr


@pytest.fixture(scope="module")
def src_faceset(tmp_path_factory, samples) -> Path:
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    photos = tmp_path_factory.mktemp("photos")
    shutil.copy(samples / "photos" / "obama.jpg", photos / "obama.jpg")
    out = tmp_path_factory.mktemp("fs") / "faceset"
    extract(open_source(str(photos)), out, ExtractSettings(size=128))
    return out


def test_evaluate_writes_the_table_with_the_baseline(tmp_path, plate_pattern, src_faceset,
                                                     capsys):
    out = tmp_path / "report"
    code = main(["evaluate", plate_pattern, plate_pattern, "--faceset", str(src_faceset),
                 "-o", str(out), "--frames", "1001-1002", "--baseline", "--name", "same",
                 "--quiet"])
    assert code == 0
    table = (out / "table.md").read_text()
    assert "| no swap (plate) | 2 |" in table and "| same | 2 |" in table
    assert "1.000 ± 0.000" in table  # SSIM of the plate against itself
    assert (out / "worst_same.png").is_file() and (out / "curves_ssim.png").is_file()
    assert "ssim" in capsys.readouterr().out


def test_evaluate_refuses_renders_of_other_frames_with_exit_2(tmp_path, plate_pattern,
                                                              src_faceset, capsys):
    for f in (1, 2):
        write_exr(tmp_path / f"r.{f:04d}.exr", np.zeros((8, 8, 3), np.float32),
                  ("R", "G", "B"), {})
    code = main(["evaluate", plate_pattern, str(tmp_path / "r.####.exr"), "--faceset",
                 str(src_faceset), "-o", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "share no frame" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # a failure writes nothing


def test_evaluate_refuses_a_folder_that_is_not_a_faceset(tmp_path, plate_pattern, capsys):
    code = main(["evaluate", plate_pattern, plate_pattern, "--faceset", str(tmp_path),
                 "-o", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "faceset" in capsys.readouterr().err


@pytest.mark.slow
def test_quality_study_writes_the_report_from_the_demo_model(tmp_path, samples, demo_model):
    doc = tmp_path / "quality.md"
    code = main(["quality", "--pair", "carphone", "--samples", str(samples),
                 "--model", str(demo_model),
                 "--out", str(tmp_path / "work"), "--doc", str(doc), "--frames", "1001-1003",
                 "--modes", "rct,rct-dfl", "--quiet"])
    assert code == 0
    text = doc.read_text()
    for row in ("no swap (plate)", "naive paste", "ours, rct", "ours, rct-dfl"):
        assert f"| {row} | 3 |" in text
    assert "| rct | " in text  # the ours-vs-DFL comparison
    # another model than the pair's own: the report says what it is and what it was trained for
    assert ("The model `demo_df-ud_96.onnx` (obama trained for the plate carphone, 8000 "
            "iterations) on the plate") in text
