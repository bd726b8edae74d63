"""`--config` / `--save-config` for render, analyze and extract: a YAML file of options, flags
override it, the resolved options repeat a run exactly, typos are refused by name."""

from __future__ import annotations

import json

import pytest

from doppel_cli.main import main


def _yaml(path, text: str):
    path.write_text(text)
    return str(path)


def test_flags_override_the_file_and_the_saved_options_repeat_the_render(
        tmp_path, plate_pattern, demo_model, capsys):
    from engine.io import read_image

    cfg = _yaml(tmp_path / "c.yaml", f"model: {demo_model}\nblur: 30\ncolor: none\n"
                                     "frames: '1001'\n")
    out = tmp_path / "o" / "s.####.exr"
    saved = tmp_path / "resolved.yaml"
    assert main(["render", plate_pattern, "-o", str(out), "--config", cfg, "--color", "lct",
                 "--save-config", str(saved), "--quiet"]) == 0
    settings = json.loads(read_image(tmp_path / "o" / "s.1001.exr").metadata["doppel/settings"])
    assert settings["blur"] == 30.0 and settings["color"] == "lct"  # file, then the flag
    assert saved.read_text().startswith("# doppel resolved options")
    capsys.readouterr()
    # The saved options alone (no flags) are the same render: resume finds the frame done.
    assert main(["render", plate_pattern, "--config", str(saved)]) == 0
    assert "skipped (already done): 1" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("blurr: 3\n", "unknown option 'blurr'"),
    ("input: x.exr\n", "'input' is a positional argument"),
    ("color: purple\n", "'purple' is not one of"),
    ("blur: [1, 2\n", "not valid YAML at line"),
    ("- blur\n", "needs a mapping"),
], ids=["typo", "positional", "choice", "yaml", "not-a-mapping"])
def test_a_bad_config_is_one_line_exit_2_and_nothing_written(tmp_path, plate_pattern,
                                                              demo_model, capsys, text,
                                                              message):
    cfg = _yaml(tmp_path / "c.yaml", text)
    rc = main(["render", plate_pattern, "-o", str(tmp_path / "o" / "s.####.exr"), "--model",
               str(demo_model), "--config", cfg])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


def test_save_config_never_replaces_a_users_file(tmp_path, plate_pattern, capsys):
    mine = tmp_path / "notes.yaml"
    mine.write_text("my notes\n")
    rc = main(["analyze", plate_pattern, "-o", str(tmp_path / "t.json"), "--frames", "1001",
               "--save-config", str(mine), "--quiet"])
    assert rc == 2 and "is not Doppel's options file" in capsys.readouterr().err
    assert mine.read_text() == "my notes\n"


def test_analyze_and_extract_take_their_options_from_a_file(tmp_path, plate_pattern):
    cfg = _yaml(tmp_path / "a.yaml", "frames: 1001-1002\nsmooth: 0\n")
    assert main(["analyze", plate_pattern, "-o", str(tmp_path / "t.json"), "--config", cfg,
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["settings"]["frames"] == "1001-1002"
    cfg = _yaml(tmp_path / "e.yaml", "frames: '1001'\nsize: 64\n")
    assert main(["extract", plate_pattern, "-o", str(tmp_path / "fs"), "--config", cfg,
                 "--quiet"]) == 0
    index = json.loads((tmp_path / "fs" / "faceset.json").read_text())
    assert index["size"] == 64 and {f["frame"] for f in index["faces"]} == {1001}
