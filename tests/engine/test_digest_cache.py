"""engine.runtime.digest_cache: a model's digest remembered across runs, never for a file that
changed, and only in the user's cache folder."""

import hashlib
import json
import os
import time

import pytest

import engine.runtime.digest_cache as dc


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("DOPPEL_CACHE", str(folder))
    monkeypatch.setattr(dc, "SETTLE_S", 0.05)  # the rule, with a test-sized settle time
    return folder


def _entries(folder):
    return sorted((folder / "digests").glob("*.json")) if (folder / "digests").is_dir() else []


def test_the_digest_is_the_files_sha256_and_is_stored_in_the_user_cache_only(tmp_path, cache):
    models = tmp_path / "models"
    models.mkdir()
    path = models / "m.onnx"
    path.write_bytes(os.urandom(300_000))
    time.sleep(0.1)  # older than SETTLE_S: cacheable
    data, digest = dc.read_with_digest(path)
    assert data == path.read_bytes() and digest == hashlib.sha256(data).hexdigest()
    assert len(_entries(cache)) == 1
    assert sorted(p.name for p in models.iterdir()) == ["m.onnx"]  # nothing beside the input


def test_a_stored_digest_is_used_while_the_file_is_unchanged(tmp_path, cache):
    path = tmp_path / "m.onnx"
    path.write_bytes(os.urandom(200_000))
    time.sleep(0.1)
    dc.read_with_digest(path)
    (entry,) = _entries(cache)
    stored = json.loads(entry.read_text())
    stored["sha256"] = "remembered"  # a hit returns what was stored, without hashing
    entry.write_text(json.dumps(stored))
    assert dc.read_with_digest(path)[1] == "remembered"


@pytest.mark.parametrize("change", ["in place, same size, mtime put back", "replaced by rename",
                                    "appended"])
def test_a_changed_file_never_reuses_a_stored_digest(tmp_path, cache, change):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"a" * 100_000)
    time.sleep(0.1)
    old = dc.read_with_digest(path)[1]
    st = path.stat()
    if change.startswith("in place"):
        with open(path, "r+b") as fh:
            fh.seek(50_000)
            fh.write(b"b")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as rsync -t or cp -p would
    elif change.startswith("replaced"):
        other = tmp_path / "other"
        other.write_bytes(b"c" * 100_000)
        os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(other, path)
    else:
        with open(path, "ab") as fh:
            fh.write(b"d")
    data, digest = dc.read_with_digest(path)
    assert digest == hashlib.sha256(data).hexdigest() != old


def test_a_file_changed_moments_ago_is_not_cached(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(dc, "SETTLE_S", 60.0)
    path = tmp_path / "fresh.onnx"
    path.write_bytes(b"x" * 1000)
    assert dc.read_with_digest(path)[1] == hashlib.sha256(b"x" * 1000).hexdigest()
    assert _entries(cache) == []


def test_an_entry_whose_bytes_sample_differs_is_not_used(tmp_path, cache):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"a" * 200_000)
    time.sleep(0.1)
    dc.read_with_digest(path)
    (entry,) = _entries(cache)
    stored = json.loads(entry.read_text())
    stored.update(sha256="stale", sample="0" * 64)
    entry.write_text(json.dumps(stored))
    assert dc.read_with_digest(path)[1] == hashlib.sha256(b"a" * 200_000).hexdigest()


@pytest.mark.parametrize("setting", ["off", "a file"])
def test_a_cache_turned_off_or_unwritable_changes_nothing(tmp_path, monkeypatch, setting):
    monkeypatch.setattr(dc, "SETTLE_S", 0.0)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("DOPPEL_CACHE", "off" if setting == "off" else str(blocker))
    path = tmp_path / "m.onnx"
    path.write_bytes(b"m" * 5000)
    for _ in range(2):
        assert dc.read_with_digest(path)[1] == hashlib.sha256(b"m" * 5000).hexdigest()
    assert blocker.read_text() == "x"
