"""The `doppel` command is reachable as `python -m doppel_cli` and lists every subcommand."""

import subprocess
import sys

from doppel_cli.main import COMMANDS


def test_python_m_doppel_cli_prints_help_with_every_command():
    done = subprocess.run([sys.executable, "-m", "doppel_cli", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("samples", "extract", "analyze", "render", "train", "export", "demo"):
        assert name in COMMANDS
        assert name in done.stdout


def test_unknown_command_is_bad_input():
    done = subprocess.run([sys.executable, "-m", "doppel_cli", "no-such-command"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_a_command_imports_only_what_it_runs():
    """`doppel render` builds its own arguments only: no other command's module, no onnx (its
    metadata is read from the wire format), no scipy (the seamless blend imports it), no torch
    nor dlib's detectors' models before a frame needs them."""
    code = ("import sys\n"
            "from doppel_cli.main import main\n"
            "try:\n"
            "    main(['render', '--help'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'scipy', 'torch')\n"
            "             or m in ('doppel_cli.extract', 'doppel_cli.train', 'engine.evaluate'))\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-2000:]


def test_output_into_a_closed_pipe_ends_quietly_with_sigpipes_status(tmp_path):
    """`doppel … | head`: the reader has gone. No traceback, no 'internal error' and no log;
    141 as a shell reports a command ended by SIGPIPE when the command saw it."""
    import os
    from pathlib import Path

    from engine.geometry.align import mean_face
    from engine.geometry.track import Track
    from engine.types import Detection, Face

    lm = (mean_face() * 200 + 100).astype("float32")
    face = Face(Detection((90.0, 90.0, 310.0, 310.0), 0.9, "centerface"), lm, "dlib", (0, 0, 0))
    track = tmp_path / "t.json"
    Track({f: face for f in range(1, 4)}, {}, {}).save(track)
    for args in (["render", "--help"], ["track", "health", str(track)]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first line
        done = subprocess.run([sys.executable, "-m", "doppel_cli", *args], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
        os.close(write)
        # help: argparse exits itself (0, its output lost at exit); a run: 141
        assert done.returncode == (0 if "--help" in args else 141), (args, done.stderr)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, args
