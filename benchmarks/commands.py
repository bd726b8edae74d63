"""What a user pays: whole `doppel` commands timed from launch, startup and I/O included.

Each measurement starts a fresh `python -m doppel_cli ...` process (as a farm task does), on
the media of `benchmarks/media.py` (real content at 1080p and 4K), with the trained demo model
(`models/demo_franck_df-ud_96.onnx`). With `--baseline DIR` every command also runs from another
checkout (the code before a change), alternating A, B, A, B… in the same rounds, so both see the
same machine; medians and the per-round ratios are printed.

Cases (`--cases`, comma separated):
- `extract-video`, `extract-exr`: `doppel extract` of the 1080p clip (MPEG-4 video, or the half
  EXR sequence) into a new faceset, all faces, 256 px crops: wall seconds / frames. Beside it,
  in this process, per frame on the same decoded frames: dlib's HOG detector on the
  full-resolution frame (upsample 1) + the 68-point predictor (the usual way, the issue's
  reference), and our analysis alone (CenterFace at 640 px + the predictor, built as
  `doppel extract` builds it).
- `extract-track`: as `extract-video` with `--select track --smooth 3` (the two-pass case).
- `render-1080p`, `render-4K`: a farm chunk, `doppel render` of 10 frames with the track:
  seconds from launch to the first output frame on disk (the file appears atomically), and
  the chunk's wall time.

Usage: python benchmarks/commands.py [--media /tmp/doppel-media] [--rounds 3]
       [--baseline /path/to/old/checkout] [--cases extract-video,render-1080p]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MODEL = ROOT / "models" / "demo_franck_df-ud_96.onnx"
CASES = ("extract-video", "extract-exr", "extract-track", "render-1080p", "render-4K")


def doppel(checkout: Path, args: list[str], first: Path | None = None
           ) -> tuple[float, float | None]:
    """Run `doppel ARGS` from `checkout` in a fresh process: (wall s, s to `first` on disk)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "doppel_cli", *args], cwd=checkout, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = None
    while proc.poll() is None:
        if first is not None and seen is None and first.exists():
            seen = time.perf_counter() - t0
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"doppel {' '.join(args)} ({checkout}): exit {proc.returncode}\n"
                         + proc.stderr.read().decode()[-2000:])
    if first is not None and seen is None and first.exists():
        seen = wall
    return wall, seen


def analysis_per_frame(video: Path, frames: int) -> dict[str, float]:
    """ms per frame on decoded 1080p frames: dlib full-frame HOG + landmarks, and ours."""
    import cv2

    from engine.geometry.analyzer import FaceAnalyzer
    from engine.geometry.detect import CenterFaceDetector, DlibHogDetector
    from engine.geometry.landmarks import DlibLandmarker

    cap = cv2.VideoCapture(str(video))
    images = []
    step = max(1, frames // 12)
    for i in range(frames):
        ok, bgr = cap.read()
        if not ok:
            break
        if i % step == 0:
            images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    from engine.runtime.sysinfo import pipeline_threads

    lmk = DlibLandmarker()
    # Ours as `doppel extract` builds it (ONNX Runtime threads and spinning as in its pipeline).
    ours = CenterFaceDetector(max_side=640, threads=pipeline_threads(), spinning=False)
    variants = {"dlib full-frame": FaceAnalyzer(DlibHogDetector(max_side=0, upsample=1), lmk),
                "ours (analysis)": FaceAnalyzer(ours, lmk)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for an in variants.values():
        an.analyze_srgb(images[0])
    for img in images:  # interleaved per frame
        for name, an in variants.items():
            t = time.perf_counter()
            an.analyze_srgb(img)
            times[name].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=Path(tempfile.gettempdir()) / "doppel-media")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="another checkout to compare (runs B)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--clip-frames", type=int, default=120)
    a = ap.parse_args()
    import media

    from engine.runtime.sysinfo import machine_line

    print(machine_line())
    video, exr = media.clip_1080p(a.media / "clip", a.clip_frames)
    plates = {}
    cases = a.cases.split(",")
    if any(c.startswith("render") for c in cases):
        frames = list(range(1001, 1011))
        track = media.plate_track(frames)
        for name in ("1080p", "4K-same-face"):
            plates[name] = media.plate_case(a.media, name, frames, track)
    checkouts = {"A": ROOT} | ({"B": a.baseline.resolve()} if a.baseline else {})
    work = Path(tempfile.mkdtemp(prefix="doppel-commands-"))
    runs: dict[tuple[str, str, str], list[float]] = {}

    def note(case: str, who: str, key: str, value: float | None) -> None:
        if value is not None:
            runs.setdefault((case, who, key), []).append(value)

    jobs: dict[str, Callable[[Path, Path], list[str]]] = {
        "extract-video": lambda ck, out: ["extract", str(video), "-o", str(out), "--quiet"],
        "extract-exr": lambda ck, out: ["extract", exr, "-o", str(out), "--quiet"],
        "extract-track": lambda ck, out: ["extract", str(video), "-o", str(out), "--select",
                                          "track", "--smooth", "3", "--quiet"],
    }
    try:
        for r in range(a.rounds):
            for case in cases:
                for who, ck in (list(checkouts.items()) if r % 2 == 0
                                else list(checkouts.items())[::-1]):
                    out = work / f"{case}-{who}-{r}"
                    if case.startswith("extract"):
                        wall, _ = doppel(ck, jobs[case](ck, out))
                        note(case, who, "ms/frame", wall * 1000 / a.clip_frames)
                    else:
                        pattern, track = plates["1080p" if case == "render-1080p"
                                                else "4K-same-face"]
                        target = out / "swap.####.exr"
                        wall, first = doppel(ck, [
                            "render", pattern, "-o", str(target), "--model", str(MODEL),
                            "--track", str(track), "--frames", "1001-1010", "--quiet"],
                            first=out / "swap.1001.exr")
                        note(case, who, "first frame s", first)
                        note(case, who, "10-frame chunk s", wall)
                    shutil.rmtree(out, ignore_errors=True)
            print(f"round {r + 1}/{a.rounds} done", flush=True)
        if any(c.startswith("extract") for c in cases):
            for k, v in analysis_per_frame(video, a.clip_frames).items():
                print(f"in-process, 1080p, per frame: {k} {v:.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'case':<16}{'figure':<18}" + "".join(f"{w:>10}" for w in checkouts)
          + ("   A/B per round (median)" if "B" in checkouts else ""))
    for case in cases:
        for key in sorted({k for c, _, k in runs if c == case}):
            row = {w: runs.get((case, w, key), []) for w in checkouts}
            line = f"{case:<16}{key:<18}" + "".join(
                f"{statistics.median(v):10.3f}" if v else f"{'-':>10}" for v in row.values())
            if "B" in row and row["A"] and row["B"]:
                ratios = [x / y for x, y in zip(row["A"], row["B"], strict=False)]
                line += f"   {statistics.median(ratios):.3f}"
            print(line)


if __name__ == "__main__":
    main()
