"""The fault suite's shared fixtures: small real inputs made once per session, and `cli` that
runs a command in-process and checks the contract every fault must keep.

Every case asserts: the exit code, a single `doppel CMD: error: …` line on stderr naming the file,
frame or parameter, no traceback, no temp file left, and every pre-existing file byte-identical
(`Snapshot`). Inputs are small (8 plate frames, a 96 px model) so the suite runs in minutes on
two cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from doppel_cli.main import main

FRAMES = range(1001, 1009)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ": error: " in ln]


class Snapshot:
    """Every file under some folders, by content digest, to compare after a run."""

    def __init__(self, *roots: Path):
        self.roots = roots
        self.files = self._scan()

    def _scan(self) -> dict[str, str]:
        found = {}
        for root in self.roots:
            for p in sorted(Path(root).rglob("*")) if Path(root).is_dir() else [Path(root)]:
                if p.is_file():
                    found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        return found

    def assert_unchanged(self, allow_new: bool = False) -> None:
        now = self._scan()
        changed = [p for p, d in self.files.items() if now.get(p) != d]
        assert not changed, f"pre-existing files changed or removed: {changed}"
        if not allow_new:
            new = sorted(set(now) - set(self.files))
            assert not new, f"a failed run wrote files: {new}"


def temps(*roots: Path) -> list[Path]:
    return [p for r in roots if Path(r).exists() for p in Path(r).rglob("*")
            if ".tmp" in p.name or p.name.startswith(".doppel-write-test")]


@pytest.fixture
def cli(capsys):
    """Run `doppel ARGS…` in-process; returns Result and checks no traceback escaped."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        rc = main([str(a) for a in args])
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err and "Traceback" not in cap.out, cap.err
        return Result(rc, cap.out, cap.err)

    return run


@pytest.fixture
def fails(cli):
    """Run a command that must fail with `code` and one error line containing every `needles`
    entry; returns the line."""

    def run(code: int, needles: list[str], *args: object) -> str:
        r = cli(*args)
        assert r.rc == code, (r.rc, r.err, r.out)
        lines = r.error_lines
        assert len(lines) == 1, r.err
        assert lines[0].startswith(f"doppel {args[0]}: error: "), lines[0]
        for n in needles:
            assert n in lines[0], (n, lines[0])
        return lines[0]

    return run


@pytest.fixture(scope="session")
def plate8(tmp_path_factory, plate_pattern) -> Path:
    """Eight frames of the sample plate (read-only: tests copy it before damaging it)."""
    d = tmp_path_factory.mktemp("plate8")
    for f in FRAMES:
        shutil.copy(plate_pattern.replace("####", str(f)), d / f"plate.{f}.exr")
    return d


@pytest.fixture(scope="session")
def track8(tmp_path_factory, plate8) -> Path:
    d = tmp_path_factory.mktemp("track8")
    out = d / "track.json"
    assert main(["analyze", str(plate8 / "plate.####.exr"), "-o", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def faceset8(tmp_path_factory, plate8) -> Path:
    """A small faceset (8 crops of 64 px) extracted from plate8."""
    d = tmp_path_factory.mktemp("faceset8") / "fs"
    assert main(["extract", str(plate8 / "plate.####.exr"), "-o", str(d), "--size", "64",
                 "--quiet"]) == 0
    return d


@pytest.fixture(scope="session")
def rendered8(tmp_path_factory, plate8, track8, demo_model) -> Path:
    """plate8 rendered with the demo model (default settings) into out/swap.####.exr."""
    d = tmp_path_factory.mktemp("rendered8")
    assert main(["render", str(plate8 / "plate.####.exr"), "-o", str(d / "swap.####.exr"),
                 "--model", str(demo_model), "--track", str(track8), "--quiet"]) == 0
    return d


@pytest.fixture
def copy_of(tmp_path):
    def copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
        return dst

    return copy


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)  # edits in place (its return value, e.g. of dict.pop, is ignored)
    path.write_text(json.dumps(data))


def onnx_variant(src: Path, dst: Path, meta: dict[str, str] | None = None,
                 graph=None) -> Path:
    """A copy of a model with metadata entries replaced (or the graph edited by `graph`)."""
    import onnx

    proto = onnx.load(str(src))
    for p in proto.metadata_props:
        if meta and p.key in meta:
            p.value = meta[p.key]
    if graph is not None:
        graph(proto)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(dst))
    return dst


@pytest.fixture(autouse=True)
def _logs_in_tmp(tmp_path, monkeypatch):
    """Internal-error logs go to the test's folder, not the user's cache."""
    monkeypatch.setenv("DOPPEL_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("DOPPEL_PROGRESS_SECONDS", "0")
    yield
    assert os.environ["DOPPEL_LOG_DIR"] == str(tmp_path / "logs")
