"""The plugin under ThreadSanitizer (`make tsan`: build-tsan/, the plugin, the bridge and the test
host built with -fsanitize=thread): render threads, look changes, Analyze's callbacks and string
parameters from one shared host buffer, with no race reported outside the suppressed libraries
(tests/host_plugin/tsan.supp: OpenCV's and ONNX Runtime's own thread pools, which are not
instrumented). Without the plugin's lock around string parameter reads this reports the race
(checked by hand; docs/node.md)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUPPRESSIONS = ROOT / "tests" / "host_plugin" / "tsan.supp"


@pytest.fixture(scope="module")
def tsan_host():
    build = Path(os.environ.get("DOPPEL_TSAN_BUILD", ROOT / "build-tsan"))
    host, bundle = build / "ofx_test_host", build / "FaceSwap.ofx.bundle"
    if not host.is_file():
        pytest.skip(f"{build}: no ThreadSanitizer build; run 'make tsan'")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TSAN_OPTIONS": f"suppressions={SUPPRESSIONS} halt_on_error=0 "
                                              "report_signal_unsafe=0 exitcode=66"}
        return subprocess.run([str(host), "--bundle", str(bundle), *args], capture_output=True,
                              text=True, timeout=1800, env=env)

    return run


@pytest.mark.slow  # about a minute on 2 cores: everything runs 5-15 times slower under TSan
def test_the_plugin_runs_clean_under_thread_sanitizer(tsan_host, tmp_path, plate_npy,
                                                      demo_model, shot_track):
    node = ["--set", f"model={demo_model}", "--set", f"track_file={shot_track}"]
    run = tsan_host("--source", str(plate_npy), "--frames", "1001-1004", "--threads", "4",
                    "--shared-string-buffer", "--tile-rows", "180", *node,
                    "--phase", "", "--phase", "blur=12;color=lct")
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr[-6000:]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "phase=0 ok=4 failed=0" in run.stdout and "phase=1 ok=4 failed=0" in run.stdout
    # Analyze: the host's frames come through callbacks that release the GIL; cancelled after
    # two frames (the progress callback), then resumed to the end.
    lines = plate_npy.read_text().splitlines()
    small = tmp_path / "frames.txt"
    small.write_text("\n".join(lines[:4]) + "\n")  # 1001-1003
    track = tmp_path / "t.json"
    for extra in (["--cancel-after", "2"], []):
        run = tsan_host("--source", str(small), "--set", f"track_file={track}",
                        "--shared-string-buffer", "--press", "analyze", *extra)
        assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr[-6000:]
    assert run.returncode == 0 and track.is_file(), run.stderr[-3000:]
