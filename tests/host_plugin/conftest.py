"""The FaceSwap OFX plugin driven by the C++ test host (tests/ofx_host), on the sample plate.

`make test` builds both first (`make plugin`); `DOPPEL_BUILD` names another build folder.
Frames travel as float32 .npy (the host has no EXR library); the plate is converted here from
the sample EXRs with the engine's reader, and outputs are compared with `doppel render`'s EXRs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMES = range(1001, 1051)  # 50 frames: the thread/leak test renders them all


# Every message the plugin posts, and its progress label, starts with this (docs/node.md).
PREFIX = "Doppel FaceSwap: "
_MESSAGE = re.compile(r"^host: message (?:persistent )?(\w+): (.*)$")


@dataclass
class HostRun:
    rc: int
    values: dict[str, str]
    phases: list[dict[str, str]]
    stdout: str
    stderr: str

    def messages(self) -> list[tuple[str, str]]:
        """(type, text) of every message the plugin posted."""
        return [(m[1], m[2]) for ln in self.stderr.splitlines() if (m := _MESSAGE.match(ln))]

    def errors(self) -> list[str]:
        return [text for kind, text in self.messages() if "Error" in kind]

    def actions(self) -> list[tuple[str, int]]:
        """(action, status) of every call into the plugin (with --log-actions)."""
        return [(ln.split("name=")[1].split()[0], int(ln.split("status=")[1]))
                for ln in self.stdout.splitlines() if ln.startswith("action name=")]


def _parse(stdout: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    values: dict[str, str] = {}
    phases: dict[int, dict[str, str]] = {}
    for line in stdout.splitlines():
        pairs = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "phase" in pairs:
            phases.setdefault(int(pairs["phase"]), {}).update(pairs)
        else:
            values.update(pairs)
    return values, [phases[k] for k in sorted(phases)]


@pytest.fixture(scope="session")
def build() -> Path:
    path = Path(os.environ.get("DOPPEL_BUILD", ROOT / "build"))
    host = path / "ofx_test_host"
    bundle = path / "FaceSwap.ofx.bundle" / "Contents" / "Linux-x86-64" / "FaceSwap.ofx"
    if not (host.is_file() and bundle.is_file()):
        pytest.fail(f"{path}: the OFX plugin and test host are not built; run 'make plugin'")
    return path


@pytest.fixture(scope="session")
def host(build: Path):
    """`host(*args, env=...)` runs the test host on the bundle and parses what it prints."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> HostRun:
        cmd = [str(build / "ofx_test_host"), "--bundle", str(build / "FaceSwap.ofx.bundle"),
               *args]
        full_env = {**os.environ, **(env or {})}
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
        values, phases = _parse(p.stdout)
        run = HostRun(p.returncode, values, phases, p.stdout, p.stderr)
        # One prefix for every message, in every test that drives the plugin.
        unprefixed = [t for _, t in run.messages() if not t.startswith(PREFIX)]
        labels = [ln for ln in p.stderr.splitlines() if ln.startswith("host: progress start ")
                  and not ln.startswith("host: progress start " + PREFIX)]
        assert not unprefixed and not labels, unprefixed + labels
        return run

    return run


def write_frames(folder: Path, plates: dict[int, np.ndarray], windows: dict[int, tuple],
                 display: tuple[int, int], name: str = "frames.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"display {display[0]} {display[1]}"]
    for f, px in plates.items():
        path = folder / f"{name}.{f}.npy"
        np.save(path, np.ascontiguousarray(px, np.float32))
        x, y, w, h = windows[f]
        lines.append(f"frame {f} {x} {y} {w} {h} {path}")
    out = folder / name
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="session")
def plate_npy(tmp_path_factory, plate_pattern: str) -> Path:
    """frames.txt for the host: the sample plate's first 50 frames as .npy."""
    from engine.io.image import read_image

    folder = tmp_path_factory.mktemp("plate_npy")
    plates, windows = {}, {}
    display = (0, 0)
    for f in FRAMES:
        d = read_image(plate_pattern.replace("####", str(f)))
        plates[f], windows[f] = d.pixels, d.geometry.data
        display = d.geometry.display[2:]
    return write_frames(folder, plates, windows, display)


@pytest.fixture(scope="session")
def shot_track(tmp_path_factory, plate_pattern: str) -> Path:
    """A track over the 50 frames, made by `doppel analyze` (what a TD hands the comp)."""
    path = tmp_path_factory.mktemp("track") / "track.json"
    subprocess.run([sys.executable, "-m", "doppel_cli", "analyze", plate_pattern, "-o", str(path),
                    "--frames", f"{FRAMES[0]}-{FRAMES[-1]}", "--quiet"], check=True,
                   capture_output=True)
    return path


@pytest.fixture(scope="session")
def libpython() -> str:
    """The libpython the plugin links (for the host-started-Python mode)."""
    import sysconfig

    lib = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("LDLIBRARY")
    if not lib.is_file():
        pytest.fail(f"{lib} missing: the plugin needs a shared libpython")
    return str(lib)


def render_reference(plate_pattern: str, out: Path, model: Path, track: Path, frames: str,
                     *extra: str) -> None:
    """`doppel render` of the same frames, as float EXR (the node hands the host float)."""
    subprocess.run([sys.executable, "-m", "doppel_cli", "render", plate_pattern, "-o",
                    str(out / "swap.####.exr"), "--model", str(model), "--track", str(track),
                    "--frames", frames, "--float", "--quiet", *extra], check=True,
                   capture_output=True)


def exr_rgba(path: Path) -> np.ndarray:
    from engine.io.image import read_image

    d = read_image(path)
    return d.pixels[..., [d.channels.index(c) for c in "RGBA"]]
