"""Digests of every file a fixed set of Doppel runs writes: proof that a restructuring changed
structure, not pixels.

Runs `doppel analyze`, `extract`, `render` (full frame, face region, face layer, mask view,
colour/blur looks, two workers, detection without a track, 8-bit PNG), a farm chunk (the OpenJD
template's command line) and the FaceSwap node in the C++ test host on the sample plates, then
prints one `sha256  relative/path` line per output file, sorted. Run it before and after a change
and diff the two lists:

    .venv/bin/python tools/output_digests.py -o /tmp/before      # on the old checkout
    .venv/bin/python tools/output_digests.py -o /tmp/after       # on the new one
    diff /tmp/before/digests.txt /tmp/after/digests.txt          # nothing: same bytes

EXR metadata holds the engine version (`doppel/engine`), which a restructuring keeps; track and
faceset JSON hold no times. The node's outputs are the host's float .npy frames.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _doppel(*args: str) -> None:
    done = subprocess.run([PY, "-m", "doppel_cli", *args, "--quiet"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"doppel {' '.join(args)}: exit {done.returncode}\n{done.stderr}")


def _node(out: Path, plate: str, model: str, track: Path) -> None:
    """The node in the test host over four frames (the plate converted to .npy as the host
    tests do), default look and a look change."""
    sys.path.insert(0, str(ROOT))
    from engine.io.image import read_image

    build = Path(os.environ.get("DOPPEL_BUILD", ROOT / "build"))
    frames = out / "node_in"
    frames.mkdir(parents=True)
    lines = []
    for f in range(1001, 1005):
        d = read_image(plate.replace("####", str(f)))
        import numpy as np

        np.save(frames / f"p.{f}.npy", np.ascontiguousarray(d.pixels, np.float32))
        x, y, w, h = d.geometry.data
        lines.append(f"frame {f} {x} {y} {w} {h} {frames / f'p.{f}.npy'}")
        display = d.geometry.display[2:]
    (frames / "frames.txt").write_text(f"display {display[0]} {display[1]}\n"
                                       + "\n".join(lines) + "\n")
    node_out = out / "node"
    node_out.mkdir()
    cmd = [str(build / "ofx_test_host"), "--bundle", str(build / "FaceSwap.ofx.bundle"),
           "--source", str(frames / "frames.txt"), "--frames", "1001-1004", "--threads", "2",
           "--out", str(node_out), "--set", f"model={model}", "--set", f"track_file={track}",
           "--phase", "blur=8", "--phase", "color=rct;blur=20;output=mask"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"test host: exit {done.returncode}\n{done.stderr[-2000:]}")
    shutil.rmtree(frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True, help="new folder for the outputs")
    ap.add_argument("--no-node", action="store_true", help="skip the test host (not built)")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give a new folder")
    s = ROOT / "samples"
    plate, cap = str(s / "plate" / "plate.####.exr"), str(s / "plate_cap12" / "cap12.####.exr")
    model, franck = str(ROOT / "models/demo_df-ud_96.onnx"), \
        str(ROOT / "models/demo_franck_df-ud_96.onnx")
    track, ctrack = out / "track.json", out / "cap12_track.json"
    _doppel("analyze", plate, "-o", str(track), "--frames", "1001-1012")
    _doppel("analyze", cap, "-o", str(ctrack), "--frames", "1001-1008", "--smooth", "2")
    _doppel("extract", plate, "-o", str(out / "fs_plate"), "--select", "track", "--smooth", "3",
            "--frames", "1001-1006", "--size", "128")
    _doppel("extract", str(s / "photos"), "-o", str(out / "fs_photos"), "--size", "128")
    r = ["render", plate, "--model", model, "--track", str(track), "--frames", "1001-1004"]
    _doppel(*r[:2], "-o", str(out / "full/swap.####.exr"), *r[2:])
    _doppel(*r[:2], "-o", str(out / "region/face.####.exr"), *r[2:], "--region", "face",
            "--face-layer")
    _doppel(*r[:2], "-o", str(out / "layer/swap.####.exr"), *r[2:], "--face-layer", "--float")
    _doppel(*r[:2], "-o", str(out / "mask/swap.####.exr"), *r[2:], "--view", "mask")
    _doppel(*r[:2], "-o", str(out / "look/swap.####.exr"), *r[2:], "--color", "rct",
            "--blur", "30", "--erode", "4", "--mask-mode", "hull", "--blend", "seamless")
    _doppel(*r[:2], "-o", str(out / "workers/swap.####.exr"), *r[2:], "--workers", "2")
    _doppel(*r[:2], "-o", str(out / "png/swap.####.png"), *r[2:])
    _doppel("render", plate, "-o", str(out / "detect/swap.####.exr"), "--model", model,
            "--frames", "1001-1002")
    _doppel("render", cap, "-o", str(out / "cap12/swap.####.exr"), "--model", franck,
            "--track", str(ctrack), "--frames", "1001-1008", "--color", "rct")
    # A farm chunk: the template's render command line for frames 1005-1008.
    _doppel("render", plate, "-o", str(out / "farm/swap.####.exr"), "--model", model,
            "--track", str(track), "--frames", "1005-1008")
    if not args.no_node:
        _node(out, plate, model, track)
    rows = []
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "digests.txt" and not p.name.endswith(".log"):
            rows.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}")
    (out / "digests.txt").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
