"""One writer per output sequence (engine.shot.claim), full disks and what a killed or
interrupted run leaves: two renders on one output, farm chunks sharing it, a real full disk
(a small tmpfs in a private mount namespace, where the machine allows one), Ctrl-C and stale
temps of killed saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.io import read_image
from engine.io.atomic import _HOST
from tests.faults.conftest import Snapshot, temps

PATTERN = "plate.####.exr"
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "DOPPEL_PROGRESS_SECONDS": "0"}


def render_args(plate, out, model, track, *extra):
    return ["render", str(plate / PATTERN), "-o", str(out / "swap.####.exr"), "--model",
            str(model), "--track", str(track), "--quiet", *[str(e) for e in extra]]


def _claims(out: Path) -> list[Path]:
    return sorted(out.glob(".swap.####.exr.claim.*.json")) if out.is_dir() else []


def _start_and_pause(args: list[str], out: Path) -> subprocess.Popen:
    """A render in another process, stopped (SIGSTOP) once it holds its claim: a job that is
    running, whatever the machine's speed."""
    proc = subprocess.Popen([sys.executable, "-m", "doppel_cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not _claims(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)
    assert _claims(out), proc.communicate(timeout=60)
    return proc


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode()


def _color(path: Path) -> str:
    return json.loads(read_image(path).metadata["doppel/settings"])["color"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP/SIGCONT")
@pytest.mark.parametrize("extra", [[], ["--workers", "2"]], ids=["serial", "workers-2"])
def test_a_second_render_with_other_settings_exits_2_at_start(tmp_path, plate8, track8,
                                                              demo_model, fails, extra):
    out = tmp_path / "out"
    first = _start_and_pause(render_args(plate8, out, demo_model, track8, "--color", "rct"), out)
    try:
        snap = Snapshot(out)
        fails(2, ["another render is writing this sequence", "with --blur 10.0 (this run 30.0)",
                  f"process {first.pid}"],
              *render_args(plate8, out, demo_model, track8, "--color", "none", "--blur", "30",
                           *extra))
        snap.assert_unchanged()  # the second job wrote nothing, not even a claim
    finally:
        rc, _, err = _finish(first)
    assert rc == 0, err
    assert {_color(p) for p in out.glob("swap.*.exr")} == {"rct"}
    assert len(list(out.glob("swap.*.exr"))) == 8 and not _claims(out) and not temps(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP/SIGCONT")
def test_two_farm_chunks_with_the_same_settings_both_complete(tmp_path, plate8, track8,
                                                              demo_model, cli):
    out = tmp_path / "out"
    chunk = ["--frames", "1001-1008", "--chunk-size", "4", "--chunk-start"]
    first = _start_and_pause(render_args(plate8, out, demo_model, track8, *chunk, "1001"), out)
    try:
        r = cli(*render_args(plate8, out, demo_model, track8, *chunk, "1005"))
    finally:
        rc, _, err = _finish(first)
    assert r.rc == 0 and "rendered: 4" in r.out, r.err
    assert rc == 0, err
    records = {read_image(p).metadata["doppel/digest"] for p in out.glob("swap.*.exr")}
    assert len(list(out.glob("swap.*.exr"))) == 8 and len(records) == 1
    assert not _claims(out) and not temps(out)


# -- full disks (a real one: a small tmpfs) -------------------------------------------------

def _in_small_disk(tmp_path: Path, size: str, script: str) -> subprocess.CompletedProcess:
    """Run `script` (sh) with a tmpfs of `size` mounted at tmp_path/disk, in a private mount
    namespace (nothing outside sees it); skips where the machine allows none."""
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs "
                                                          f"{disk}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no private mount namespace here (unshare -m): cannot make a full disk")
    return subprocess.run(["unshare", "-m", "sh", "-c",
                           f"mount -t tmpfs -o size={size} tmpfs {disk} && {script}"],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600)


LIST = ("import sys, json; from pathlib import Path; from engine.io import read_image; "
        "d = Path(sys.argv[1]); print('FILES ' + json.dumps(sorted("
        "(p.name, bool(p.suffix != '.exr' or read_image(p).metadata['doppel/engine'])) "
        "for p in d.rglob('*') if p.is_file())))")


def _files(stdout: str) -> list[list]:
    return json.loads(next(ln for ln in stdout.splitlines() if ln.startswith("FILES "))[6:])


@pytest.mark.parametrize("writers", [1, 2], ids=["serial", "workers-2"])
def test_a_full_disk_is_exit_2_disk_full_and_earlier_frames_stay_whole(tmp_path, plate8,
                                                                       track8, demo_model,
                                                                       rendered8, writers):
    # The disk holds `writers` whole frames and half of another. Each worker has one write in
    # flight, so the first writes all fit and one of them always finishes before a third
    # starts; a disk sized for one frame would let two concurrent writes fill it with neither
    # finished (a race, not the property). A later frame always finds the disk full.
    frame = max(p.stat().st_size for p in rendered8.glob("swap.*.exr"))
    size = f"{int(frame * (writers + 0.5)) // 1024}k"
    extra = ["--workers", str(writers)] if writers > 1 else []
    py = sys.executable
    args = " ".join(render_args(plate8, tmp_path / "disk", demo_model, track8, *extra))
    done = _in_small_disk(tmp_path, size, f"{py} -m doppel_cli {args}; echo rc=$?; "
                                          f"{py} -c \"{LIST}\" {tmp_path / 'disk'}")
    assert "rc=2" in done.stdout, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no "Bad file descriptor", no traceback
    assert lines[0].startswith("doppel render: error: ") and "disk full" in lines[0]
    files = _files(done.stdout)
    assert files and all(whole for _, whole in files), files  # no temp, no claim, no half frame
    assert all(name.startswith("swap.") for name, _ in files), files


def test_a_full_disk_at_a_checkpoint_save_is_exit_2_disk_full(tmp_path, faceset8):
    pytest.importorskip("torch")
    from tests.faults.test_train_export_faults import train_args

    model = tmp_path / "disk" / "model"
    args = " ".join(str(a) for a in train_args(faceset8, faceset8, model, "--target-iters", "2",
                                               "--save-every", "2"))
    done = _in_small_disk(tmp_path, "96k", f"{sys.executable} -m doppel_cli {args}; "
                                           f"echo rc=$?; ls -a {model}/checkpoints")
    assert "rc=2" in done.stdout, (done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and "disk full" in lines[0] and "ckpt_00000002.pt" in lines[0], \
        done.stderr
    assert "Traceback" not in done.stderr and ".tmp" not in done.stdout


# -- interrupted and killed runs ---------------------------------------------------------------

def _children(pid: int) -> list[int]:
    from tests.faults.test_process_faults import _children as children

    return children(pid)


def _ctrl_c_reaches_it() -> None:
    """In the child before exec: SIGINT as a terminal's process has it. A test run started in
    the background of a non-interactive shell (`.ci/run &`) inherits SIGINT ignored, and Python
    keeps an ignored SIGINT ignored: the Ctrl-C below would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_while_workers_start_prints_one_line(tmp_path, plate8, track8, demo_model):
    proc = subprocess.Popen([sys.executable, "-m", "doppel_cli",
                             *render_args(plate8, tmp_path / "o", demo_model, track8,
                                          "--workers", "2")],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_ctrl_c_reaches_it)
    deadline = time.time() + 120
    while time.time() < deadline and len(_children(proc.pid)) < 2:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.decode().strip().splitlines() == [
        "doppel render: interrupted; run the same command again to resume"], err.decode()


@pytest.mark.parametrize("delay", [0.25, 0.35, 0.5, 0.6])
def test_ctrl_c_while_the_command_starts_prints_one_line(tmp_path, plate8, track8, demo_model,
                                                         delay):
    """Whenever it lands while the command starts (its imports, the model loading on a thread,
    the first plates), Ctrl-C is one line and exit 130: inside ONNX Runtime's import it came
    out as `ImportError: initialization failed` with a traceback (exit 1), and with the model's
    session half built the interpreter's teardown aborted the process (SIGABRT, "terminate
    called without an active exception"), 2 runs in 5 at 0.5 s on a 2-core machine."""
    for attempt in range(3):  # each delay lands in another place on a loaded machine
        proc = subprocess.Popen([sys.executable, "-m", "doppel_cli",
                                 *render_args(plate8, tmp_path / f"o{attempt}", demo_model,
                                              track8)],
                                cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=_ctrl_c_reaches_it)
        time.sleep(delay)  # importing the commands' modules (seconds on a cold farm node)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        done = len(list((tmp_path / f"o{attempt}").glob("swap.*.exr"))) == 8
        if proc.returncode == 0 or (proc.returncode == -signal.SIGINT and done):
            # finished before the signal (a fast machine), or during the interpreter's exit
            # (its handlers restored: the shell reports 130 too): not the start
            continue
        assert proc.returncode == 130, err
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("doppel render: interrupted"), \
            err.decode()


def _dead_temp(folder: Path, stem: str, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{stem}.{_HOST}.{2 ** 22 + 4321}.k1ll3d.tmp{suffix}"
    temp.write_bytes(b"half written when the process was killed")
    return temp


def test_temps_of_a_killed_checkpoint_save_go_with_the_next_run(tmp_path, faceset8, copy_of,
                                                                cli):
    pytest.importorskip("torch")
    from tests.faults.test_train_export_faults import train_args

    model = tmp_path / "model"
    assert cli(*train_args(faceset8, faceset8, model, "--target-iters", "1",
                           "--save-every", "1")).rc == 0
    temp = _dead_temp(model / "checkpoints", "ckpt_00000002", ".pt")
    r = cli(*train_args(faceset8, faceset8, model, "--target-iters", "2", "--save-every", "1",
                        "--resume"))
    assert r.rc == 0 and not temp.exists() and not temps(model)


def test_temps_of_a_killed_xseg_apply_go_with_the_next_run(tmp_path, faceset8, copy_of, cli):
    from tests.engine.test_pipeline import brightness_xseg

    fs = copy_of(faceset8, "fs")
    xseg = brightness_xseg(tmp_path / "xseg.onnx", resolution=64)
    temp = _dead_temp(fs / "masks", "001001_00", ".png")
    index = _dead_temp(fs, "faceset", ".json")
    r = cli("xseg", "apply", fs, "--model", xseg, "--device", "cpu")
    assert r.rc == 0, r.err
    assert not temp.exists() and not index.exists() and not temps(fs)
