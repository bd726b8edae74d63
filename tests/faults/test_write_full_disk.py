"""An image write on a disk that fills at any byte: a `DiskFullError` and nothing left, or the
whole file; never a truncated file under the target's name.

OpenEXR writes the last chunks and the offset table when the file is closed, so a disk that
fills then fails the close, not the pixel writes (found by the full-disk render with two
workers: a truncated frame published with exit 2). Every fill point is tried: one small tmpfs
per size, in a private mount namespace, 4 KiB apart from empty to past the file's size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.io import write_exr, write_image

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import json, sys
from pathlib import Path
import numpy as np
from engine.errors import DiskFullError
from engine.io import read_image, write_exr, write_image

kind, src, folders = sys.argv[1], sys.argv[2], sys.argv[3:]
layers = [np.load(p) for p in src.split(",")]
report = {}
for d in folders:
    target = Path(d) / ("f.exr" if kind != "png" else "f.png")
    try:
        if kind == "checkpoint":
            import torch
            from trainers.checkpoint import save_checkpoint
            target = save_checkpoint(Path(d), {"schema": 1, "iteration": 7,
                                               "w": torch.from_numpy(layers[0])}, keep=2)
            outcome = "written"
        elif kind == "exr":
            write_exr(target, layers[0])
        elif kind == "exr-layers":
            write_exr(target, layers, ("R", "G", "B", "A", "doppel.mask"))
        else:
            write_image(target, layers[0], bits=16)
        outcome = "written"
    except DiskFullError:
        outcome = "full"
    except Exception as exc:  # noqa: BLE001 - reported, the test names it
        outcome = f"other {type(exc).__name__}: {exc}"
    left = sorted(p.name for p in Path(d).iterdir())
    if outcome == "written" and kind == "checkpoint":
        try:
            back = torch.load(target, weights_only=True)["w"].numpy()
            whole = bool((back == layers[0]).all())
        except Exception as exc:  # noqa: BLE001
            whole = f"{type(exc).__name__}: {exc}"
        report[d] = [outcome, sorted(str(p.relative_to(d)) for p in Path(d).rglob("*")
                                     if p.is_file()), whole]
    elif outcome == "written":
        try:
            back = read_image(target).pixels
            whole = back.shape[:2] == layers[0].shape[:2]
        except Exception as exc:  # noqa: BLE001
            whole = f"{type(exc).__name__}: {exc}"
        report[d] = [outcome, left, whole]
    else:
        report[d] = [outcome, [str(p.relative_to(d)) for p in Path(d).rglob("*")
                               if p.is_file()], None]
print("REPORT " + json.dumps(report))
"""


def _sweep(tmp_path: Path, kind: str, layers: list[np.ndarray], size: int) -> dict:
    srcs = []
    for i, a in enumerate(layers):
        srcs.append(str(tmp_path / f"layer{i}.npy"))
        np.save(srcs[-1], a)
    probe = tmp_path / "probe"
    probe.mkdir()
    if subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
                      capture_output=True).returncode != 0:
        pytest.skip("no private mount namespace here (unshare -m): cannot make a full disk")
    kib = list(range(4, size // 1024 + 12, 4))
    folders = [tmp_path / f"disk{k}" for k in kib]
    for f in folders:
        f.mkdir()
    mounts = " && ".join(f"mount -t tmpfs -o size={k}k tmpfs {f}"
                         for k, f in zip(kib, folders, strict=True))
    script = (f"{mounts} && {sys.executable} -c '{WRITER}' {kind} {','.join(srcs)} "
              + " ".join(str(f) for f in folders))
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          timeout=600)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("REPORT ")), None)
    assert line, done.stderr
    return json.loads(line[7:])


def _frame(h: int = 160, w: int = 200) -> np.ndarray:
    """Plate-like content (a gradient with grain: it compresses as footage does)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([x / w, y / h, (x + y) / (w + h)], -1) + rng.normal(0, 0.02, (h, w, 3))
    return np.concatenate([rgb, np.ones((h, w, 1)), (x / w)[..., None]], -1).astype(np.float32)


def _assert_whole_or_nothing(report: dict, name: str) -> None:
    """Each fill point of a sweep: "disk full" and no file at all (no temp, no partial file
    under the target's name), or the one file `name`, whole; both outcomes seen."""
    outcomes = {d: r[0] for d, r in report.items()}
    assert set(outcomes.values()) <= {"written", "full"}, outcomes
    for d, (outcome, left, whole) in report.items():
        if outcome == "full":
            assert left == [], (d, left)
        else:
            assert whole is True and left == [name], (d, whole, left)
    assert "full" in outcomes.values() and "written" in outcomes.values()  # both were tried


@pytest.mark.parametrize("kind", ["exr", "exr-layers", "png"])
def test_a_disk_filling_at_any_byte_leaves_the_whole_file_or_a_disk_full_error_and_nothing(
        tmp_path, kind):
    frame = _frame()
    layers = [frame] if kind != "exr-layers" else [frame[..., :4], frame[..., 4:]]
    ref = tmp_path / ("ref.png" if kind == "png" else "ref.exr")
    if kind == "png":
        write_image(ref, frame[..., :3], bits=16)
        layers = [frame[..., :3]]
    else:
        write_exr(ref, layers if kind == "exr-layers" else frame,
                  ("R", "G", "B", "A", "doppel.mask") if kind == "exr-layers" else None)
    _assert_whole_or_nothing(_sweep(tmp_path, kind, layers, ref.stat().st_size),
                             ref.name.replace("ref", "f"))


def test_a_checkpoint_save_on_a_disk_filling_at_any_byte_is_whole_or_disk_full(tmp_path):
    pytest.importorskip("torch")
    import torch

    from trainers.checkpoint import save_checkpoint

    w = _frame()
    ref = save_checkpoint(tmp_path / "ref", {"schema": 1, "iteration": 7,
                                              "w": torch.from_numpy(w)}, keep=2)
    _assert_whole_or_nothing(_sweep(tmp_path, "checkpoint", [w], ref.stat().st_size),
                             str(ref.relative_to(tmp_path / "ref")))
