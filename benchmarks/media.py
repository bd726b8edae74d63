"""Benchmark media made from the sample media: what a user's plates and clips look like in size.

All content is real (the cap12 webcam clip the demo model was trained for), scaled up and padded
with itself mirrored, so every pixel is picture, as in a plate:
- `clip_1080p`: the first N frames of `samples/clip/cap12.mp4` (400×300) scaled ×3.6 to
  1440×1080 and padded to 1920×1080, as an MPEG-4 video (`clip.mp4`) and as a half RGB EXR
  sequence (`clip.####.exr`, zip), the two kinds of footage `doppel extract` reads;
- `plate_case`: the demo plate `samples/plate_cap12` (800×600) on a 1920×1080 canvas (×1.8),
  on a 3840×2160 canvas with the same face size (×1.8) or with the face twice as large (×3.6),
  RGBA half zip EXR as a plate arrives, with a track (the plate's own analysis, mapped onto the
  canvas) so a render needs no detection.

Usage: python benchmarks/media.py OUT [--frames N] [--cases 1080p,4K-same-face,4K-face-x2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.geometry.track import Track  # noqa: E402
from engine.io import Geometry, open_source, read_image, write_exr  # noqa: E402
from engine.io.colorspace import srgb_to_linear  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# name: (canvas width, height, scale of the 800×600 plate)
CASES = {"1080p": (1920, 1080, 1.8), "4K-same-face": (3840, 2160, 1.8),
         "4K-face-x2": (3840, 2160, 3.6)}


def on_canvas(img: np.ndarray, size: tuple[int, int], scale: float
              ) -> tuple[np.ndarray, tuple[int, int]]:
    """`img` scaled by `scale` (bicubic), centred on a `size` canvas padded with itself
    mirrored; returns the canvas and the scaled image's top-left corner on it."""
    cw, ch = size
    h, w = img.shape[:2]
    big = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    big = big if big.ndim == img.ndim else big[..., None]
    x0, y0 = (cw - big.shape[1]) // 2, (ch - big.shape[0]) // 2
    pad = ((y0, ch - big.shape[0] - y0), (x0, cw - big.shape[1] - x0), (0, 0))
    return np.pad(big, pad, mode="symmetric"), (x0, y0)


def clip_1080p(out: Path, frames: int = 120) -> tuple[Path, str]:
    """`out/clip.mp4` and `out/exr/clip.####.exr` (frames 1..N); returns both."""
    out.mkdir(parents=True, exist_ok=True)
    video, pattern = out / "clip.mp4", out / "exr" / "clip.####.exr"
    if video.is_file() and (out / "exr" / f"clip.{frames:04d}.exr").is_file():
        return video, str(pattern)
    (out / "exr").mkdir(exist_ok=True)
    cap = cv2.VideoCapture(str(ROOT / "samples" / "clip" / "cap12.mp4"))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (1920, 1080))
    for f in range(1, frames + 1):
        ok, bgr = cap.read()
        if not ok:
            raise SystemExit(f"cap12.mp4 has fewer than {frames} frames")
        big, _ = on_canvas(bgr, (1920, 1080), 3.6)
        writer.write(np.ascontiguousarray(big))
        rgb = srgb_to_linear(big[..., ::-1].astype(np.float32) / 255.0)
        write_exr(out / "exr" / f"clip.{f:04d}.exr", rgb, ("R", "G", "B"))
    writer.release()
    cap.release()
    return video, str(pattern)


def plate_track(frames: list[int]) -> Track:
    """The cap12 plate's track over `frames` (centerface, smoothed as `doppel analyze` does)."""
    from engine.shot.analyze import AnalyzeSettings, analyze_shot

    source = open_source(ROOT / "samples" / "plate_cap12" / "cap12.####.exr")
    return analyze_shot(source, AnalyzeSettings(), numbers=frames)


def plate_case(out: Path, name: str, frames: list[int], track: Track) -> tuple[str, Path]:
    """The case's plate sequence `out/NAME/plate.####.exr` and track; returns (pattern, track)."""
    cw, ch, scale = CASES[name]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "track.json"
    pattern = str(folder / "plate.####.exr")
    faces = {}
    for f in frames:
        target = folder / f"plate.{f}.exr"
        src = read_image(ROOT / "samples" / "plate_cap12" / f"cap12.{f}.exr")
        canvas, (x0, y0) = on_canvas(src.pixels, (cw, ch), scale)
        if not target.is_file():
            write_exr(target, canvas, src.channels)
        if f in track.faces:
            lm = (track.landmarks(f) + 0.5) * scale - 0.5 + np.float32([x0, y0])
            faces[f] = track.faces[f].with_landmarks(lm)
    settings = {**track.settings, "frames": f"{frames[0]}-{frames[-1]}",
                "plate": Geometry.full(cw, ch).to_json(), "source": pattern}
    Track(faces, {}, settings).save(path)
    return pattern, path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=12, help="plate frames per case")
    ap.add_argument("--clip-frames", type=int, default=120, help="frames of the 1080p clip")
    ap.add_argument("--cases", default=",".join(CASES))
    a = ap.parse_args()
    print(clip_1080p(a.out / "clip", a.clip_frames))
    frames = list(range(1001, 1001 + a.frames))
    track = plate_track(frames)
    for name in a.cases.split(","):
        print(plate_case(a.out, name, frames, track))


if __name__ == "__main__":
    main()
