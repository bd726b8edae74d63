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
