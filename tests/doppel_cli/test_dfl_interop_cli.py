"""`doppel faceset import-dfl` end to end: faceset, XSeg masks and labels; bad input exits 2 with
one line and writes nothing; the input folder is never modified."""

import hashlib
import pickle

import numpy as np

from doppel_cli.main import main
from tests.engine.interop.dfl_fixture import Sentinel, jpeg_with_app15, write_aligned_set


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_import_dfl_writes_faceset_masks_and_labels(tmp_path, capsys):
    from engine.faceset.store import load_faceset
    from trainers.interop.dfl_labels import rasterise_in_order
    from trainers.xseg.labels import labelled_keys, load_label

    aligned = tmp_path / "data_dst" / "aligned"
    metas = write_aligned_set(aligned, count=5, size=96)
    before = _digests(aligned)
    out = tmp_path / "fs"
    assert main(["faceset", "import-dfl", str(aligned), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "faces: 5" in text and "XSeg masks: 1" in text and "XSeg labels (polygons): 1" in text
    fs = load_faceset(out)
    assert labelled_keys(fs) == {"000003_00"}
    entry = next(e for e in fs.entries if e.frame == 3)
    mask, valid = load_label(fs, entry)
    polys = metas[2]["seg_ie_polys"]["polys"]
    c = 48.0
    assert mask[int(c), int(c)] == 1.0  # inside the include polygon
    assert mask[int(c + 30), int(c)] == 0.0  # inside the exclude triangle drawn after it
    assert mask[2, 2] == 0.0 and valid.min() == 1.0
    from engine.interop.dfl_aligned import DflPolygon

    want = rasterise_in_order([DflPolygon(p["type"] == 1, np.array(p["pts"])) for p in polys],
                              96)
    assert np.abs(mask - want).max() <= 0.5 / 255
    assert _digests(aligned) == before  # the input is only read


def test_a_malicious_aligned_face_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    aligned = tmp_path / "aligned"
    write_aligned_set(aligned, count=3, size=64)
    sentinel = tmp_path / "pwned"
    payload = pickle.dumps({"face_type": "whole_face", "x": Sentinel(sentinel)})
    (aligned / "00003_0.jpg").write_bytes(jpeg_with_app15(np.zeros((64, 64, 3), np.uint8),
                                                          payload))
    before = _digests(aligned)
    out = tmp_path / "fs"
    assert main(["faceset", "import-dfl", str(aligned), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("doppel faceset: error: ")
    assert "00003_0.jpg" in err[0] and "system" in err[0]
    assert not sentinel.exists() and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert _digests(aligned) == before


def test_not_an_aligned_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["faceset", "import-dfl", str(tmp_path / "empty"), "-o",
                 str(tmp_path / "fs")]) == 2
    assert main(["faceset", "import-dfl", str(tmp_path / "none"), "-o",
                 str(tmp_path / "fs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no .jpg aligned faces" in err[0] and "not a folder" in err[1]
    assert not (tmp_path / "fs").exists()


def test_render_runs_a_dfm_and_records_morph_only_for_amp_models(tmp_path, plate_pattern,
                                                                 capsys):
    import json

    from engine.io import read_image
    from tests.engine.interop.dfm_graphs import probe_dfm

    records = {}
    for name, amp in (("plain", False), ("amp", True)):
        model = probe_dfm(tmp_path / f"{name}.dfm", res=64, morph=amp)
        out = tmp_path / name / "swap.####.exr"
        rc = main(["render", plate_pattern, "-o", str(out), "--frames", "1010", "--model",
                   str(model), "--face-type", "full", "--morph", "0.5", "--device", "cpu",
                   "--quiet"])
        assert rc == 0, capsys.readouterr().err
        meta = read_image(str(out).replace("####", "1010")).metadata
        assert meta["doppel/face"] == "swapped"
        records[name] = json.loads(meta["doppel/record"])
        assert json.loads(meta["doppel/model_meta"])["format"] == "dfm"
    assert "morph" not in records["plain"]["settings"]  # no effect: not recorded
    assert records["amp"]["settings"]["morph"] == 0.5
