"""Model–plate fit (engine/swap/fit.py): the error measure, the training statistics in metadata, the
per-shot verdict and its one line; models exported before `dst_face` keep working."""

from __future__ import annotations

import json

import numpy as np
import pytest

from doppel_cli.main import main
from engine.errors import ModelError
from engine.geometry.align import mean_face
from engine.swap.fit import FIT_KEY, ShotFit, TrainingFit, fit_region, reconstruction_error
from engine.swap.infer import SwapModel


def test_reconstruction_error_is_the_mean_absolute_difference_over_the_region():
    face = np.zeros((4, 4, 3), np.float32)
    recon = face.copy()
    recon[0, 0] = (0.3, 0.6, 0.9)  # outside the region: does not count
    recon[2, 2] = (0.1, 0.2, 0.3)
    region = np.zeros((4, 4), bool)
    region[2:, 2:] = True
    assert reconstruction_error(face, recon, region) == pytest.approx(0.2 / 4)
    assert np.isnan(reconstruction_error(face, recon, np.zeros((4, 4), bool)))


def test_fit_region_is_the_face_without_forehead_or_background():
    lm = mean_face() * 40 + [30, 20]
    region = fit_region(lm, 120)
    nose, brow = lm[30].astype(int), lm[19].astype(int)
    assert region[nose[1], nose[0]]
    assert not region[brow[1] - 8, brow[0]]  # forehead above the brows: hair, crop edge
    assert not region[5, 5]


def test_training_statistics_round_trip_through_metadata_and_bad_ones_are_refused():
    fit = TrainingFit.from_errors([0.04, 0.05, 0.06, np.nan], "cap12")
    assert fit.faces == 3 and fit.median == pytest.approx(0.05)
    meta = {FIT_KEY: fit.to_json(), "dst_name": "cap12"}
    assert TrainingFit.from_metadata(meta) == fit
    assert TrainingFit.from_metadata({}) is None
    with pytest.raises(ModelError, match="not readable"):
        TrainingFit.from_metadata({FIT_KEY: "{bad"}, "m.onnx")
    other = json.loads(fit.to_json()) | {"metric": "mse"}
    with pytest.raises(ModelError, match="re-export"):
        TrainingFit.from_metadata({FIT_KEY: json.dumps(other)}, "m.onnx")


def test_the_shot_verdict_names_the_frames_outside_and_the_fix():
    training = TrainingFit(40, 0.05, 0.055, 0.06, 0.07, "carphone")
    errors = {f: 0.05 for f in range(1001, 1011)} | {1004: 0.155, 1005: 0.16, 1009: 0.2}
    fit = ShotFit(training, errors)
    assert fit.outside == [1004, 1005, 1009]
    line = fit.summary()
    assert line.startswith("model trained on carphone; warning: frames 1004-1005,1009 "
                           "reconstruct at 3.2× its training error (up to 4.0×")
    assert "doppel train --init-from" in line
    assert ShotFit(training, {1001: 0.05, 1002: 0.06}).summary().endswith("limit 1.5×): ok")


def test_a_model_without_dst_face_keeps_working_and_says_the_check_is_unavailable(
        demo_model, plate_pattern, tmp_path, capsys):
    model = SwapModel(demo_model, "cpu", 1)
    assert not model.has_fit
    swap, mask, dst_mask, dst_face = model.run_all(np.full((1, 96, 96, 3), 0.5, np.float32))
    assert dst_face is None and swap.shape == (1, 96, 96, 3)
    line = ShotFit.for_model(model, {}).summary()
    assert line.startswith("fit check unavailable for demo_df-ud_96.onnx: it has no dst_face")
    track = tmp_path / "t.json"
    assert main(["analyze", plate_pattern, "-o", str(track), "--frames", "1001-1002",
                 "--model", str(demo_model), "--quiet"]) == 0
    assert "fit: fit check unavailable" in capsys.readouterr().out
    assert main(["render", plate_pattern, "-o", str(tmp_path / "r.####.exr"), "--model",
                 str(demo_model), "--track", str(track), "--frames", "1001-1002",
                 "--quiet"]) == 0
    assert "fit check unavailable" in capsys.readouterr().out


def test_the_bundled_franck_model_fits_its_own_plate_and_warns_on_another_actor(
        samples, tmp_path, capsys):
    """Issue 21: the shipped main demo model carries dst_face and its training fit; through
    `doppel analyze --model` the cap12 plate (its training plate) is within its training error
    and the carphone plate (another actor) is named as outside."""
    from pathlib import Path

    franck = Path(__file__).resolve().parents[2] / "models" / "demo_franck_df-ud_96.onnx"
    assert SwapModel(franck, "cpu", 1).has_fit
    lines = {}
    for name, plate in (("cap12", "plate_cap12/cap12.####.exr"), ("carphone",
                                                                  "plate/plate.####.exr")):
        assert main(["analyze", str(samples / plate), "-o", str(tmp_path / f"{name}.json"),
                     "--frames", "1001-1120x20", "--model", str(franck), "--quiet"]) == 0
        lines[name] = next(x.strip() for x in capsys.readouterr().out.splitlines() if "fit:" in x)
    assert lines["cap12"].startswith("fit: model trained on cap12;") and lines[
        "cap12"].endswith("): ok"), lines
    warned = "warning: frames 1001,1021,1041,1061,1081,1101 reconstruct at"
    assert warned in lines["carphone"], lines
