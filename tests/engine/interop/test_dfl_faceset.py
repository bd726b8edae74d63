"""DeepFaceLab aligned faces (fixture written from the format facts) -> Doppel faceset."""

import pickle

import numpy as np
import pytest

from engine.errors import FacesetError, OutputError
from engine.faceset.store import load_faceset
from engine.interop.dfl_aligned import (
    DflFormatError,
    jpeg_segments,
    read_dfl_face,
    read_dfl_meta,
)
from engine.interop.dfl_faceset import import_dfl_faceset
from engine.interop.dfl_pickle import UnsafePickleError
from tests.engine.interop.dfl_fixture import (
    Sentinel,
    jpeg_with_app15,
    write_aligned_set,
)


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfl") / "data_src" / "aligned"
    metas = write_aligned_set(root, count=6, size=128)
    return root, metas


def test_landmarks_matrices_and_sources_import_exactly(aligned, tmp_path):
    root, metas = aligned
    summary = import_dfl_faceset(root, tmp_path / "fs")
    fs = load_faceset(tmp_path / "fs")
    assert summary.faces == len(fs.entries) == 6
    assert fs.face_type == "whole" and fs.size == 128
    for e, m in zip(fs.entries, metas, strict=True):  # frames 1..6 from 00001.png …
        assert e.frame == int(m["source_filename"][:5]) and e.face == 0
        assert e.landmarks_crop == m["landmarks"]  # float64 lists, bit for bit
        assert e.landmarks == m["source_landmarks"]
        assert e.matrix == m["image_to_face_mat"].tolist()
        assert e.bbox == [float(v) for v in m["source_rect"]]
        assert e.source_file == str(root.parent.resolve() / m["source_filename"])
        assert e.face_type == "whole"
    # the crop is the JPEG's pixels, losslessly in a PNG
    face, rgb = read_dfl_face(root / "00002_0.jpg")
    assert np.array_equal(np.rint(fs.load_crop(fs.entries[1]) * 255).astype(np.uint8), rgb)
    assert face.dfl_face_type == "whole_face"


def test_pose_from_the_crop_and_the_matrix_rotation(aligned, tmp_path):
    root, metas = aligned
    import_dfl_faceset(root, tmp_path / "fs")
    fs = load_faceset(tmp_path / "fs")
    for e, m in zip(fs.entries, metas, strict=True):
        mat = m["image_to_face_mat"]
        tilt = -np.degrees(np.arctan2(mat[1, 0], mat[0, 0]))
        assert abs(e.pose[2] - tilt) < 3.0  # the fixture's faces are otherwise frontal
        assert abs(e.pose[1]) < 10.0


def test_xseg_mask_becomes_the_entry_mask_and_polygons_reach_the_label_writer(aligned,
                                                                               tmp_path):
    root, _ = aligned
    seen = {}

    def writer(fs, polygons):
        seen.update(polygons)
        assert (fs.root / "faceset.json").is_file()  # the index exists when labels are written
        return len(polygons)

    summary = import_dfl_faceset(root, tmp_path / "fs", writer)
    fs = load_faceset(tmp_path / "fs")
    assert summary.masks == 1 and summary.labels == 1
    masked = [e for e in fs.entries if e.mask]
    assert [e.frame for e in masked] == [4]
    from engine.io import read_image

    mask = read_image(fs.mask_path(masked[0])).pixels[..., 0]
    assert mask.shape == (128, 128) and mask[64, 64] == 1.0 and mask[2, 2] == 0.0
    (key, polys), = seen.items()
    assert key == "000003_00" and [p.include for p in polys] == [True, False]
    assert polys[1].points[0].tolist() == [64 - 10.5, 64 + 20.25]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_reads(tmp_path, protocol):
    metas = write_aligned_set(tmp_path / "a", count=2, size=64, face_type="full",
                              protocol=protocol)
    import_dfl_faceset(tmp_path / "a", tmp_path / "fs")
    fs = load_faceset(tmp_path / "fs")
    assert fs.face_type == "full" and fs.entries[0].matrix == metas[0]["image_to_face_mat"].tolist()


def _malicious_face(folder, payload):
    write_aligned_set(folder, count=3, size=64)
    good = (folder / "00002_0.jpg").read_bytes()
    seg = dict(jpeg_segments(good, "x"))
    rgb = read_dfl_face(folder / "00002_0.jpg")[1]
    assert 0xEF in seg
    (folder / "00002_0.jpg").write_bytes(jpeg_with_app15(rgb, payload))


def test_os_system_reducer_in_an_aligned_jpeg_is_refused_and_nothing_written(tmp_path):
    sentinel = tmp_path / "pwned"
    meta = {"face_type": "whole_face", "landmarks": Sentinel(sentinel)}
    _malicious_face(tmp_path / "a", pickle.dumps(meta, protocol=4))
    with pytest.raises(UnsafePickleError, match=r"00002_0\.jpg.*system"):
        import_dfl_faceset(tmp_path / "a", tmp_path / "fs")
    assert not sentinel.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001.png", "00002.png",
                                                          "00003.png", "a"]


def test_unknown_class_in_an_aligned_jpeg_is_refused(tmp_path):
    from tests.engine.interop.dfl_fixture import UnknownClass

    _malicious_face(tmp_path / "a", pickle.dumps({"face_type": UnknownClass()}))
    with pytest.raises(UnsafePickleError, match="UnknownClass"):
        import_dfl_faceset(tmp_path / "a", tmp_path / "fs")
    assert not (tmp_path / "fs").exists()


def test_oversized_metadata_payload_is_refused_unread(tmp_path):
    sentinel = tmp_path / "pwned"
    payload = pickle.dumps({"pad": np.zeros(5000, np.uint8), "x": Sentinel(sentinel)})
    data = jpeg_with_app15(np.zeros((8, 8, 3), np.uint8), payload)
    with pytest.raises(UnsafePickleError, match="above the 4,096-byte limit"):
        read_dfl_meta(data, "big.jpg", max_bytes=4096)
    assert not sentinel.exists()


def test_bad_inputs_are_one_line_errors_and_write_nothing(aligned, tmp_path):
    root, _ = aligned
    cases = []
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x.jpg").write_bytes(jpeg_with_app15(np.zeros((8, 8, 3), np.uint8), b"")[:2]
                                  + b"\xff\xd9")
    cases.append((plain, DflFormatError, "no DeepFaceLab metadata"))
    trunc = tmp_path / "trunc"
    write_aligned_set(trunc, count=2, size=64)
    data = (trunc / "00001_0.jpg").read_bytes()
    (trunc / "00001_0.jpg").write_bytes(data[:40])
    cases.append((trunc, DflFormatError, "truncated"))
    mixed = tmp_path / "mixed"
    write_aligned_set(mixed, count=2, size=64, face_type="full")
    write_aligned_set(tmp_path / "other", count=1, size=64, face_type="head", seed=3)
    (mixed / "00009_0.jpg").write_bytes((tmp_path / "other" / "00001_0.jpg").read_bytes())
    cases.append((mixed, FacesetError, "mixes face types"))
    sizes = tmp_path / "sizes"
    write_aligned_set(sizes, count=2, size=64)
    write_aligned_set(tmp_path / "big", count=1, size=96, seed=4)
    (sizes / "00009_0.jpg").write_bytes((tmp_path / "big" / "00001_0.jpg").read_bytes())
    cases.append((sizes, FacesetError, "96 px"))
    for folder, kind, needle in cases:
        out = tmp_path / f"out_{folder.name}"
        with pytest.raises(kind, match=needle) as err:
            import_dfl_faceset(folder, out)
        assert "\n" not in str(err.value)
        assert not out.exists(), folder
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_output_must_be_new_and_outside_the_input(aligned, tmp_path):
    root, _ = aligned
    with pytest.raises(OutputError, match="inside the input"):
        import_dfl_faceset(root, root / "fs")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not an empty folder"):
        import_dfl_faceset(root, taken)
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert import_dfl_faceset(root, empty).faces == 6
