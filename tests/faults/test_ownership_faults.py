"""Outputs that only replace what Doppel made (engine.io.ownership), command by command: a typo
in `-o` never destroys a user's file, and no run writes into its own inputs. Every case checks
the exit code, one error line naming the file and how to go on, and every pre-existing file
byte-identical (Snapshot)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.errors import OutputError
from engine.io import read_image
from tests.faults.conftest import Snapshot, edit_json

PATTERN = "plate.####.exr"
CROP = "faces/001001_00.png"


# -- analyze and the node's Track file ------------------------------------------------------

@pytest.mark.parametrize("name, content", [
    ("comp.nk", b"Root {\n inputs 0\n}\nRead {\n file plate.####.exr\n}\n"),
    ("notes.json", b'{"schema": 1, "notes": ["keep me"]}'),
    ("t.analysis.json", b'{"mine": true}'),  # at the analysis cache's path
], ids=["comp", "json-notes", "cache-path"])
def test_analyze_never_replaces_a_file_it_did_not_write(tmp_path, plate8, fails, name, content):
    user = tmp_path / name
    user.write_bytes(content)
    out = tmp_path / "t.json" if name == "t.analysis.json" else user
    snap = Snapshot(tmp_path)
    fails(2, [name, "exists and is not Doppel's", "--overwrite"], "analyze", plate8 / PATTERN, "-o",
          out, "--quiet")
    snap.assert_unchanged()


def test_analyze_replaces_a_track_it_wrote(tmp_path, plate8, track8, copy_of, cli):
    track = copy_of(track8)
    r = cli("analyze", plate8 / PATTERN, "-o", track, "--frames", "1001-1002", "--quiet")
    assert r.rc == 0 and json.loads(track.read_text())["settings"]["frames"] == "1001-1002"


def test_node_analyze_never_replaces_a_file_it_did_not_write(tmp_path, plate8):
    from engine.host.node import Node

    comp = tmp_path / "shot010.nk"
    comp.write_text("Root {}\n")
    snap = Snapshot(tmp_path)

    def fetch(f):
        return read_image(plate8 / f"plate.{f}.exr").pixels, (0, 0)
    with pytest.raises(OutputError, match="shot010.nk: exists and is not Doppel's track"
                                          ".*pick another Track file"):
        Node().analyze({"track_file": str(comp)}, [1001, 1002], fetch, (0, 0, 880, 720), 1.0)
    snap.assert_unchanged()


# -- facesets: sort, prune, coverage, extract -------------------------------------------------

@pytest.mark.parametrize("args", [
    ["sort", "{fs}", "--csv", "{fs}/faceset.json", "--no-identity"],
    ["sort", "{fs}", "--sheet", "{fs}/" + CROP, "--no-identity"],
    ["sort", "{fs}", "--sheet", "{fs}/" + CROP, "--no-identity", "--overwrite"],
    ["prune", "{fs}", "-o", "{tmp}/clean", "--report", "{fs}/faceset.json", "--no-identity",
     "--quiet"],
    ["prune", "{fs}", "-o", "{fs}/clean", "--no-identity", "--overwrite", "--quiet"],
    ["coverage", "{fs}", "{fs}", "-o", "{fs}/" + CROP],
    ["coverage", "{fs}", "{fs}", "-o", "{tmp}/cov.png", "--report", "{fs}/faceset.json"],
], ids=["sort-csv-index", "sort-sheet-crop", "sort-overwrite", "prune-report-index",
        "prune-inside", "coverage-plot-crop", "coverage-report-index"])
def test_faceset_commands_never_write_into_their_input(tmp_path, faceset8, copy_of, fails,
                                                        args):
    fs = copy_of(faceset8, "fs")
    snap = Snapshot(tmp_path)
    argv = [a.format(fs=fs, tmp=tmp_path) for a in args]
    fails(2, ["input", "never writes into its own inputs"], "faceset", *argv)
    snap.assert_unchanged()


def test_prune_into_a_users_folder_keeps_every_file(tmp_path, faceset8, fails):
    user = tmp_path / "user"
    (user / "faces").mkdir(parents=True)
    for rel in (CROP, "prune_report.md", "prune_metrics.csv"):
        (user / rel).write_text(f"the user's {rel}\n")
    snap = Snapshot(tmp_path)
    fails(2, ["user", "is not Doppel's faceset", "--overwrite"], "faceset", "prune", faceset8,
          "-o", user, "--no-identity", "--quiet")
    snap.assert_unchanged()


def test_prune_report_over_a_users_file_is_refused(tmp_path, faceset8, fails):
    (tmp_path / "notes.md").write_text("# my notes\n")
    snap = Snapshot(tmp_path)
    fails(2, ["notes.md", "is not Doppel's prune report", "--overwrite"], "faceset", "prune",
          faceset8,
          "-o", tmp_path / "clean", "--report", tmp_path / "notes.md", "--no-identity",
          "--quiet")
    snap.assert_unchanged()


def test_sort_outputs_are_replaced_by_the_next_sort_not_a_users_csv(tmp_path, faceset8, cli,
                                                                   fails):
    out = tmp_path / "sort.csv"
    for _ in range(2):  # the second run replaces its own listing
        assert cli("faceset", "sort", faceset8, "--csv", out, "--sheet", tmp_path / "s.png",
                   "--no-identity").rc == 0
    (tmp_path / "budget.csv").write_text("shot,cost\n010,4\n")
    snap = Snapshot(tmp_path)
    fails(2, ["budget.csv", "is not Doppel's face metrics CSV"], "faceset", "sort", faceset8,
          "--csv",
          tmp_path / "budget.csv", "--no-identity")
    snap.assert_unchanged()


def test_coverage_with_a_negative_tolerance_is_refused(tmp_path, faceset8, fails):
    fails(2, ["--tolerance", "-5"], "faceset", "coverage", faceset8, faceset8, "-o",
          tmp_path / "cov.png", "--tolerance", "-5")
    assert not list(tmp_path.iterdir())


def test_extract_into_a_users_folder_keeps_their_files(tmp_path, plate8, fails):
    user = tmp_path / "user"
    (user / "faces").mkdir(parents=True)
    (user / CROP).write_bytes(b"the user's own picture")
    snap = Snapshot(tmp_path)
    fails(2, ["user", "is not Doppel's faceset", "--overwrite"], "extract", plate8 / PATTERN,
          "-o", user, "--size", "64", "--quiet")
    snap.assert_unchanged()


def test_extract_never_writes_inside_its_folder_of_stills(tmp_path, samples, fails):
    stills = tmp_path / "stills"
    stills.mkdir()
    for p in sorted((samples / "photos").glob("obama*.jpg"))[:2]:
        shutil.copy(p, stills / p.name)
    snap = Snapshot(tmp_path)
    fails(2, ["inside the input folder"], "extract", stills, "-o", stills / "fs", "--quiet")
    snap.assert_unchanged()


# -- evaluate, quality, labels ------------------------------------------------------------

def test_evaluate_into_an_existing_file_is_bad_input(tmp_path, plate8, rendered8, faceset8,
                                                     fails):
    (tmp_path / "report").write_text("not a folder\n")
    snap = Snapshot(tmp_path)
    fails(2, ["report", "is a file, not a folder"], "evaluate", plate8 / PATTERN,
          rendered8 / "swap.####.exr", "--faceset", faceset8, "-o", tmp_path / "report",
          "--quiet")
    snap.assert_unchanged()


def test_quality_keeps_a_track_of_another_plate_in_its_working_folder(
        tmp_path, plate8, track8, faceset8, demo_model, copy_of, fails):
    work = tmp_path / "work"
    other = copy_of(track8, "work/track.json")
    edit_json(other, lambda d: d["settings"].update(source="/shots/020/plate.####.exr"))
    snap = Snapshot(tmp_path)
    fails(2, ["track.json", "tracks another plate", "/shots/020", "--overwrite"], "quality",
          "--plate", plate8 / PATTERN, "--model", demo_model, "--faceset", faceset8, "--out",
          work, "--doc", tmp_path / "q.md", "--frames", "1001-1002", "--modes", "none",
          "--quiet")
    snap.assert_unchanged()


def test_quality_doc_over_a_users_file_is_refused(tmp_path, plate8, faceset8, demo_model,
                                                  fails):
    (tmp_path / "README.md").write_text("# My project\n")
    snap = Snapshot(tmp_path)
    fails(2, ["README.md", "is not Doppel's quality report"], "quality", "--plate",
          plate8 / PATTERN,
          "--model", demo_model, "--faceset", faceset8, "--out", tmp_path / "work", "--doc",
          tmp_path / "README.md", "--quiet")
    snap.assert_unchanged()


@pytest.mark.parametrize("face", ["../../..", [1], 0.5])
def test_a_polygon_label_naming_a_path_is_skipped_not_a_crash(tmp_path, faceset8, copy_of,
                                                              fails, face):
    fs = copy_of(faceset8, "fs")
    poly = tmp_path / "p.json"
    poly.write_text(json.dumps({"schema": 1, "space": "plate", "labels": [
        {"frame": 1001, "face": face, "include": [[[300, 200], [500, 200], [400, 400]]]}]}))
    snap = Snapshot(tmp_path)
    fails(2, ["labels[0]", "whole 'frame' (and 'face') number", "nothing written"], "xseg",
          "label", fs, "--add", poly)
    snap.assert_unchanged()


# -- Send to farm, --save-config, train, export, demo ------------------------------------------

@pytest.mark.parametrize("name", ["template.yaml", "parameter_values.yaml"])
def test_send_to_farm_never_replaces_the_users_job_files(tmp_path, track8, demo_model, name):
    from engine.host.farm import write_node_job

    values = {"model": str(demo_model), "track_file": str(track8), "farm_job": str(tmp_path),
              "farm_plate": "/shots/010/plate.####.exr", "farm_output": "/out/s.####.exr"}
    mine = tmp_path / "mine"
    write_node_job({**values, "farm_job": str(mine)}, 1001, 1008)
    write_node_job({**values, "farm_job": str(mine)}, 1001, 1004)  # its own files: replaced
    assert "1004" in (mine / "parameter_values.yaml").read_text()
    (tmp_path / name).write_text("# my own job\n")
    snap = Snapshot(tmp_path)
    with pytest.raises(OutputError, match=f"{name}: exists and is not Doppel's farm job .*"
                                          "pick another Job folder"):
        write_node_job(values, 1001, 1008)
    snap.assert_unchanged()


def test_save_config_over_a_users_file_is_refused_before_the_run(tmp_path, plate8, fails):
    (tmp_path / "opts.yaml").write_text("mine: true\n")
    snap = Snapshot(tmp_path)
    fails(2, ["--save-config", "opts.yaml", "is not Doppel's options file"], "analyze",
          plate8 / PATTERN,
          "-o", tmp_path / "t.json", "--save-config", tmp_path / "opts.yaml", "--quiet")
    snap.assert_unchanged()


def test_train_into_a_users_folder_is_refused(tmp_path, faceset8, fails):
    pytest.importorskip("torch")
    from tests.faults.test_train_export_faults import train_args

    user = tmp_path / "user"
    user.mkdir()
    (user / "config.yaml").write_text("my: settings\n")
    snap = Snapshot(tmp_path)
    fails(2, ["user", "is not Doppel's model folder", "choose another --out"],
          *train_args(faceset8, faceset8, user, "--target-iters", "1"))
    snap.assert_unchanged()


def test_export_over_a_users_file_is_refused(tmp_path, copy_of, fails):
    pytest.importorskip("torch")
    import torch

    ckpt = tmp_path / "m" / "checkpoints" / "ckpt_00000001.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"schema": 1, "iteration": 1}, ckpt)
    (tmp_path / "final.onnx").write_bytes(b"the user's other model")
    snap = Snapshot(tmp_path)
    fails(2, ["final.onnx", "is not Doppel's exported model", "--overwrite"], "export",
          tmp_path / "m", "-o", tmp_path / "final.onnx")
    snap.assert_unchanged()


def test_demo_into_a_users_folder_is_refused(tmp_path, samples, fails):
    user = tmp_path / "user"
    user.mkdir()
    (user / "preview.mp4").write_bytes(b"the user's cut")
    snap = Snapshot(tmp_path)
    fails(2, ["user", "is not Doppel's demo output"], "demo", "--pair", "carphone", "--out",
          user, "--frames", "1001")
    snap.assert_unchanged()


def test_every_output_is_byte_identical_when_refused(tmp_path, plate8, rendered8, track8,
                                                     demo_model, copy_of, fails):
    """The render of a foreign EXR (the first round's case) stays the rule's own: the output
    sequence's frames are claimed with the render record as their mark."""
    out = tmp_path / "out"
    out.mkdir()
    np.save(out / "x.npy", np.zeros(3))
    shutil.copy(plate8 / "plate.1002.exr", out / "swap.1002.exr")
    snap = Snapshot(tmp_path)
    fails(2, ["swap.1002.exr", "not written by Doppel", "--overwrite"], "render",
          plate8 / PATTERN, "-o", out / "swap.####.exr", "--model", demo_model, "--track",
          track8, "--quiet")
    snap.assert_unchanged()
