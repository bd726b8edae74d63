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
