"""tools/ablation.py end to end on one tiny model (slow: extraction + training + render)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ablation_script_trains_exports_renders_and_writes_the_table(tmp_path, samples):
    spec = importlib.util.spec_from_file_location("ablation", ROOT / "tools" / "ablation.py")
    ablation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablation)
    doc = tmp_path / "ablation.md"
    code = ablation.main(["--samples", str(samples), "--out", str(tmp_path / "work"),
                          "--doc", str(doc), "--iters", "2", "--resolution", "64",
                          "--frames", "1001-1002", "--variants", "LIAE", "--device", "cpu",
                          "--note", "smoke"])
    assert code == 0
    text = doc.read_text()
    assert "| LIAE | 2 |" in text and "smoke" in text and "--note" not in text
    assert (tmp_path / "work" / "liae" / "liae.onnx").is_file()
