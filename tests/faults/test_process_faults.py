"""Process-level faults: internal errors (exit 3 + log), signals and workers, noisy decoders,
progress in farm logs (no TTY)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.faults.conftest import temps

PATTERN = "plate.####.exr"


def test_internal_error_exits_3_with_one_line_and_a_logged_traceback(tmp_path, plate8, cli,
                                                                      monkeypatch):
    import engine.faceset.extract

    def broken(*args, **kwargs):
        return {}["a key that is not there"]
    monkeypatch.setattr(engine.faceset.extract, "extract", broken)
    r = cli("extract", plate8 / PATTERN, "-o", tmp_path / "fs", "--quiet")
    assert r.rc == 3
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("doppel extract: internal error: KeyError")
    logs = list((tmp_path / "logs").glob("doppel-extract-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    text = logs[0].read_text()
    assert "Traceback" in text and "a key that is not there" in text


def test_permission_denied_is_bad_input_not_a_crash(tmp_path, plate8, cli, monkeypatch):
    import engine.faceset.extract

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "fs"))
    monkeypatch.setattr(engine.faceset.extract, "extract", denied)
    r = cli("extract", plate8 / PATTERN, "-o", tmp_path / "fs", "--quiet")
    assert r.rc == 2 and "permission denied" in r.err and str(tmp_path / "fs") in r.err


def test_non_tty_progress_is_plain_lines(tmp_path, plate8, track8, demo_model, capsys):
    from tests.faults.conftest import main

    rc = main(["render", str(plate8 / PATTERN), "-o", str(tmp_path / "o" / "s.####.exr"),
               "--model", str(demo_model), "--track", str(track8), "--frames", "1001-1003"])
    err = capsys.readouterr().err
    assert rc == 0 and "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("render: ")]
    assert lines[-1].startswith("render: 3/3 frames (100%)") and "frames/s" in lines[-1]


def test_corrupt_video_prints_one_ffmpeg_line_not_hundreds(tmp_path, capfd, samples):
    import cv2

    from tests.faults.conftest import main

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"XVID"), 24, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(60):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(clip.read_bytes())
    rng2 = np.random.default_rng(1)
    for i in rng2.integers(4000, len(data) - 100, 400):  # smash the stream, keep the header
        data[i:i + 8] = b"\xff" * 8
    clip.write_bytes(bytes(data))
    main(["extract", str(clip), "-o", str(tmp_path / "fs"), "--size", "64", "--quiet"])
    out, err = capfd.readouterr()
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 3, err[:2000]
    assert len(out.splitlines()) <= 15, out[:2000]


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_with_the_main_process(tmp_path, plate_pattern, demo_model, sig):
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "doppel_cli", "render", plate_pattern, "-o",
           str(out / "s.####.exr"), "--model", str(demo_model), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[2])
    deadline = time.time() + 240
    workers: list[int] = []
    while time.time() < deadline:
        workers = [p for p in _children(proc.pid) if "spawn_main" in
                   (Path("/proc") / str(p) / "cmdline").read_text(errors="ignore")]
        if len(workers) >= 2 and out.is_dir() and list(out.glob("s.*.exr")):
            break
        time.sleep(0.2)
    assert len(workers) >= 2, "workers never started"
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    survivors = [p for p in workers if _alive(p)]
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert not survivors, "workers outlived the main process"
    # Whatever was written is whole: every output frame opens; a resume's cleanup removes the
    # temp files the killed workers left (their processes are gone).
    from engine.io import read_image
    from engine.io.atomic import remove_stale_temps

    for f in out.glob("s.*.exr"):
        assert read_image(f).metadata["doppel/engine"]
    remove_stale_temps(out)
    assert not temps(out)
