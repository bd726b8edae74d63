"""How close the render crop is to the crop the model was trained on (PSNR), before and after
the one crop function (`engine.geometry.align.warp_to_crop`) replaced render's own bicubic warp.

For sample-plate frames (landmarks from the track), the model-space (sRGB) crop at the model
resolution (96, the demo model) is compared with the training crop the trainer feeds the model:
the faceset crop (`doppel extract --size 128`, 8-bit sRGB PNG) area-resized to 96 as
`trainers.data.load_bank` does. Two training crops: as the bundled demo model's faceset was
extracted (the previous rule: Lanczos-4 when shrinking more than 2×, else bicubic) and as
`doppel extract` makes it now (`warp_to_crop`). Two render crops: the previous one (plain
bicubic warp) and the current one (`warp_to_crop`). Higher PSNR = closer to what was trained.
Also times the two render crops side by side (CPU time of this process, interleaved, from the
face's region as the renderer reads it), so their cost is comparable on a loaded machine.
Usage: python benchmarks/crop_match.py [--track TRACK.json] (default: analyses the plate).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.geometry.align import align_matrix, crop_read_box, warp_to_crop  # noqa: E402
from engine.io import open_source  # noqa: E402
from engine.io.colorspace import linear_to_srgb  # noqa: E402


def previous_extract_crop(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The extraction rule before the one crop function (kept here only to measure against)."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    interp = cv2.INTER_LANCZOS4 if scale < 0.5 else cv2.INTER_CUBIC
    return cv2.warpAffine(img, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)


def previous_render_crop(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def training_crop(rgb: np.ndarray, lm: np.ndarray, crop_fn, faceset_size: int, res: int
                  ) -> np.ndarray:
    crop = linear_to_srgb(crop_fn(rgb, align_matrix(lm, faceset_size, "full"), faceset_size))
    u8 = np.rint(np.clip(crop, 0, 1) * 255).astype(np.uint8)
    return cv2.resize(u8, (res, res), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def crop_cost(src, frames, track, res: int, reps: int) -> dict[str, float]:
    """Median CPU ms of each render crop, alternating, from the face's region of the frame."""
    times: dict[str, list[float]] = {"previous (bicubic)": [], "warp_to_crop": []}
    for fr in src.read(frames):
        m = align_matrix(track.landmarks(fr.number), res, "full")
        x0, y0, x1, y1 = crop_read_box(m, res, fr.rgb.shape)
        roi = np.ascontiguousarray(fr.rgb[y0:y1, x0:x1])
        shifted = m.copy()
        shifted[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
        for _ in range(reps):
            t = time.process_time()
            previous_render_crop(roi, shifted, res)
            times["previous (bicubic)"].append((time.process_time() - t) * 1000)
            t = time.process_time()
            warp_to_crop(roi, m, res, origin=(x0, y0))
            times["warp_to_crop"].append((time.process_time() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default="samples")
    ap.add_argument("--track", help="track cache of the sample plate (default: analyse it)")
    ap.add_argument("--every", type=int, default=7, help="use every Nth plate frame")
    ap.add_argument("--res", type=int, default=96, help="model resolution")
    ap.add_argument("--faceset-size", type=int, default=128)
    ap.add_argument("--timing-res", type=int, default=128, help="model resolution timed")
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    src = open_source(Path(a.samples) / "plate" / "plate.####.exr")
    frames = src.frames[:: a.every]
    if a.track:
        from engine.geometry.track import Track

        track = Track.load(a.track)
    else:
        from engine.shot.analyze import AnalyzeSettings, analyze_shot

        track = analyze_shot(src, AnalyzeSettings(), numbers=frames)
    rows: dict[tuple[str, str], list[float]] = {}
    scales = []
    for fr in src.read(frames):
        lm = track.landmarks(fr.number)
        m = align_matrix(lm, a.res, "full")
        scales.append(float(np.sqrt(abs(np.linalg.det(m[:, :2])))))
        trained = {"previous extract rule": training_crop(fr.rgb, lm, previous_extract_crop,
                                                          a.faceset_size, a.res),
                   "warp_to_crop": training_crop(fr.rgb, lm, warp_to_crop, a.faceset_size,
                                                 a.res)}
        render = {"previous (bicubic)": previous_render_crop(fr.rgb, m, a.res),
                  "warp_to_crop": warp_to_crop(fr.rgb, m, a.res)}
        for rn, rc in render.items():
            model_in = np.clip(linear_to_srgb(rc), 0, 1)
            for tn, tc in trained.items():
                rows.setdefault((rn, tn), []).append(psnr(model_in, tc))
    print(f"{len(frames)} frames, render crop scale {np.mean(scales):.3f} (model {a.res} px, "
          f"faceset {a.faceset_size} px)")
    print(f"crop cost at {a.timing_res} px from the face region (CPU ms, median of "
          f"{a.reps} x {len(frames)} interleaved): " + ", ".join(
              f"{k} {v:.2f}" for k, v in crop_cost(src, frames, track, a.timing_res,
                                                   a.reps).items()))
    print("| render crop | training crop extracted with | PSNR mean (dB) | min (dB) |")
    print("|---|---|---:|---:|")
    for (rn, tn), v in rows.items():
        print(f"| {rn} | {tn} | {np.mean(v):.2f} | {np.min(v):.2f} |")


if __name__ == "__main__":
    main()
