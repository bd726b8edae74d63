import pytest

pytest.importorskip("torch")

from engine.errors import SettingsError  # noqa: E402
from trainers.config import load_configs  # noqa: E402


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return str(p)


def test_unknown_key_lists_the_valid_ones(tmp_path):
    path = write(tmp_path, "src: a\ndst: b\nout: m\nbatchsize: 4\n")
    with pytest.raises(SettingsError, match=r"unknown key\(s\) batchsize; valid keys: src, dst"):
        load_configs(path, {})


def test_cli_overrides_the_file_and_paths_are_relative_to_it(tmp_path):
    path = write(tmp_path, "src: fs/a\ndst: fs/b\nout: m\nbatch_size: 4\nresolution: 96\n")
    [cfg] = load_configs(path, {"batch_size": 16})
    assert cfg.batch_size == 16 and cfg.resolution == 96
    assert cfg.src == str(tmp_path / "fs" / "a")


def test_paths_given_on_the_command_line_are_relative_to_the_working_directory(tmp_path):
    path = write(tmp_path, "src: fs/a\ndst: fs/b\nout: m\n")
    [cfg] = load_configs(path, {"dst": "here/b", "init_from": "models/m.onnx", "out": "/abs/m"})
    assert (cfg.src, cfg.dst, cfg.init_from, cfg.out) == (
        str(tmp_path / "fs" / "a"), "here/b", "models/m.onnx", "/abs/m")


def test_shots_train_one_after_another_with_their_own_out(tmp_path):
    path = write(tmp_path, "dst: plate\narch: liae-ud\nshots:\n  - {src: a, out: m1}\n"
                           "  - {src: b, out: m2, arch: df-ud}\n")
    c1, c2 = load_configs(path, {})
    assert (c1.arch, c2.arch) == ("liae-ud", "df-ud") and c1.out != c2.out
    same = write(tmp_path, "dst: p\nout: m\nshots:\n  - {src: a}\n  - {src: b}\n")
    with pytest.raises(SettingsError, match="same 'out'"):
        load_configs(same, {})


@pytest.mark.parametrize("text, message", [
    ("src: a\ndst: b\nout: m\nbatch_size: many\n", "batch_size must be a int"),
    ("src: a\ndst: b\nout: m\nprecision: fp8\n", "precision must be one of"),
    ("src: a\nout: m\n", "needs 'dst'"),
    ("src: a\ndst: b\nout: m\narch: df-q\n", "letters must be a subset"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_config_errors_say_what_to_fix(tmp_path, text, message):
    with pytest.raises(SettingsError, match=message):
        load_configs(write(tmp_path, text), {})


def test_device_and_precision_selection_fall_back_cleanly(monkeypatch):
    import torch

    from trainers.train import pick_device, pick_precision

    assert pick_device("cpu").type == "cpu"
    assert pick_precision("fp32", torch.device("cpu")) is None
    assert pick_precision("bf16", torch.device("cpu")) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    with pytest.raises(SettingsError, match="no CUDA device"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert pick_precision("auto", torch.device("cuda")) is torch.float16
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert pick_precision("auto", torch.device("cpu")) is None
