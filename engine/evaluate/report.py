"""Writing evaluation results: the table (Markdown, CSV), per-frame CSVs, PNG curves, and a contact
sheet of the worst frames per metric.

Convention: one `ShotResult` per method (a render, or a baseline); everything is written
atomically under one output folder:
    OUT/summary.csv             method, metric, mean, sd, frames
    OUT/frames_<method>.csv     every per-frame value (NaN where not measured)
    OUT/table.md                the table in the paper's layout (mean ± sd, frames per number)
    OUT/curves_<metric>.png     the per-frame curve of every method
    OUT/worst_<method>.png      per metric, the k worst frames: plate | render crops
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from engine.evaluate.acceptance import CHECKS, signoff_checks
from engine.evaluate.shot import METRICS, ShotResult
from engine.evaluate.signoff import SEGMENTS
from engine.evaluate.temporal import worst_frames
from engine.io import atomic_write_bytes, atomic_write_text, format_frame_range
from engine.io.ownership import FolderMark, text_mark
from engine.io.sheets import contact_sheet

# A folder of evaluation results is Doppel's (engine.io.ownership) when its summary.csv is.
REPORT_FOLDER = FolderMark("evaluation report", "summary.csv",
                           text_mark("evaluation summary", "method,metric,mean,sd,frames\n"))

# Columns of the table in the paper's layout (Table 1), then what the paper lacks.
TABLE = ["ssim", "gmsd", "id_source", "id_plate", "landmarks", "pose", "mouth_corr",
         "eye_corr", "jitter_landmarks", "jitter_color", "jitter_mask"]
HEADERS = {
    "ssim": "SSIM ↑", "gmsd": "GMSD ↓", "id_source": "verification ↓",
    "id_plate": "to plate id ↑", "landmarks": "landmarks ↓", "pose": "pose ↓",
    "mouth_corr": "mouth r ↑", "eye_corr": "eyes r ↑", "jitter_landmarks": "lm jitter ↓",
    "jitter_color": "flicker ↓", "jitter_mask": "mask jitter ↓",
}
# The sign-off measures per frame (engine/evaluate/signoff.py: measure_frame).
SIGNOFF_COLUMNS = (["seam", "fringe", "sharpness", "eye_contrast", "mouth_dark_plate",
                    "mouth_dark_render", "teeth_plate", "teeth_render", "mouth_width_plate",
                    "mouth_width_render", "bad_nonfinite", "bad_negative", "bad_min"]
                   + [f"seam_{s}_{c}" for s in SEGMENTS for c in "Lab"]
                   + [f"step_{s}_L" for s in SEGMENTS]
                   + [f"fringe_{s}_{c}" for s in SEGMENTS for c in "ab"])
PER_FRAME = ["ssim", "gmsd", "id_source", "id_plate", "landmarks", "pose", "mouth_plate",
             "mouth_render", "eye_plate", "eye_render", "jitter_landmarks", "jitter_color",
             "jitter_mask", "brow_da", "brow_db"] + SIGNOFF_COLUMNS
_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
            (0, 0, 0), (80, 80, 200), (255, 200, 0), (0, 120, 90), (170, 0, 90), (120, 200, 255)]


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if not math.isfinite(v) else f"{v:.{digits}f}"


def cell(stats: tuple[float, float, int], frames: int, correlation: bool = False) -> str:
    """'mean ± sd', with the frame count when it is not the row's; '–' when not measured."""
    mean, sd, n = stats
    if n == 0 or not math.isfinite(mean):
        return f"– ({n})" if n else "–"
    text = _fmt(mean, 2) if correlation else f"{_fmt(mean)} ± {_fmt(sd)}"
    return text if n == frames else f"{text} ({n})"


def markdown_table(results: Sequence[ShotResult]) -> str:
    """The table: one row per method, mean ± sd per metric, frames each number rests on."""
    head = ["method", "frames"] + [HEADERS[k] for k in TABLE]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        s = res.summary()
        n = sum(r.plate_face for r in res.rows)
        cells = [cell(s[k], n, k.endswith("_corr")) for k in TABLE]
        lines.append(f"| {res.name} | {n} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("*frames*: frames with a face on the plate; a number measured on fewer frames "
                 "shows its count in brackets (temporal numbers need the previous frame, "
                 "identity/landmarks/pose need a face in the render); '–': not measurable.")
    return "\n".join(lines)


def summary_csv(results: Sequence[ShotResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "metric", "mean", "sd", "frames"])
    for res in results:
        for key, (mean, sd, n) in res.summary().items():
            w.writerow([res.name, key, f"{mean:.6g}", f"{sd:.6g}", n])
    return buf.getvalue()


def per_frame_csv(result: ShotResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "plate_face", "render_face"] + PER_FRAME)
    for r in result.rows:
        w.writerow([r.frame, int(r.plate_face), int(r.render_face)]
                   + [f"{r.values.get(k, float('nan')):.6g}" for k in PER_FRAME])
    return buf.getvalue()


def plot_curves(results: Sequence[ShotResult], key: str, width: int = 960,
                height: int = 320) -> np.ndarray:
    """uint8 RGB line plot of `key` per frame, one line per method (gaps where NaN)."""
    label, higher_better, unit = METRICS[key]
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 64, 180, 28, 36
    pw, ph = width - left - right, height - top - bottom
    frames = sorted({f for r in results for f in r.frames})
    vals = np.concatenate([r.series(key) for r in results]) if results else np.array([])
    vals = vals[np.isfinite(vals)]
    title = f"{label}{' (' + unit + ')' if unit else ''} per frame, " \
            f"{'higher' if higher_better else 'lower'} is better"
    cv2.putText(img, title, (left, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    if not frames or vals.size == 0:
        cv2.putText(img, "not measured", (left + 10, top + ph // 2), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (120, 120, 120), 1, cv2.LINE_AA)
        return img
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    f0, f1 = frames[0], max(frames[-1], frames[0] + 1)

    def xy(f: int, v: float) -> tuple[int, int]:
        return (int(round(left + (f - f0) / (f1 - f0) * pw)),
                int(round(top + (hi - v) / (hi - lo) * ph)))

    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y = xy(f0, v)[1]
        cv2.line(img, (left, y), (left + pw, y), (225, 225, 225), 1)
        cv2.putText(img, f"{v:.3g}", (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (60, 60, 60), 1,
                    cv2.LINE_AA)
    for f in (f0, frames[len(frames) // 2], frames[-1]):
        x = xy(f, lo)[0]
        cv2.putText(img, str(f), (x - 14, top + ph + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (60, 60, 60), 1, cv2.LINE_AA)
    for i, res in enumerate(results):
        colour = _PALETTE[i % len(_PALETTE)]
        series = res.series(key)
        # Lines join frames at the usual spacing; a larger gap (sampled runs) breaks them.
        gaps = np.diff(res.frames)
        step = float(np.median(gaps)) if gaps.size else 1.0
        run: list[tuple[int, int]] = []
        prev = None
        for f, v in zip(res.frames, series, strict=True):
            if run and (not np.isfinite(v) or (prev is not None and f - prev > 2 * step)):
                _polyline(img, run, colour)
                run = []
            if np.isfinite(v):
                run.append(xy(f, float(v)))
            prev = f
        _polyline(img, run, colour)
        ly = top + 12 + 16 * i
        cv2.line(img, (left + pw + 10, ly - 4), (left + pw + 28, ly - 4), colour, 2)
        cv2.putText(img, res.name[:22], (left + pw + 32, ly), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _polyline(img: np.ndarray, pts: list[tuple[int, int]], colour: tuple[int, int, int]) -> None:
    if len(pts) == 1:
        cv2.circle(img, pts[0], 2, colour, -1)
    elif pts:
        cv2.polylines(img, [np.array(pts, np.int32)], False, colour, 1, cv2.LINE_AA)


def worst_sheet(result: ShotResult, k: int = 4) -> np.ndarray | None:
    """Per metric, the `k` worst frames as plate | render tile pairs (None: nothing to show)."""
    rows_by_frame = {r.frame: r for r in result.rows}
    tiles, labels = [], []
    for key, (label, higher_better, _unit) in METRICS.items():
        worst = worst_frames(result.frames, list(result.series(key)), k,
                             higher_is_worse=not higher_better)
        for f, v in worst:
            thumbs = rows_by_frame[f].thumbs
            if thumbs is None:
                continue
            tiles += [thumbs[0], thumbs[1]]
            short = label.split(" (")[0][:14]
            labels += [f"{f} plate", f"{short} {v:.3g}"]
        while len(tiles) % (2 * k):  # one metric per row
            tiles.append(np.full_like(tiles[0], 24))
            labels.append("")
    return contact_sheet(tiles, labels, columns=2 * k, tile=128) if tiles else None


def signoff_sheet(result: ShotResult) -> np.ndarray | None:
    """Per sign-off check, its worst frames as 2× close-ups (plate | render); None: nothing."""
    if result.tiles is None:
        return None
    k = result.tiles.k
    tiles, labels = [], []
    for check in CHECKS:
        worst = result.tiles.worst(check)
        if not worst:
            continue
        for f, (plate, render) in worst:
            tiles += [plate, render]
            labels += [f"{f} plate", f"{f} {check}"]
        while len(tiles) % (2 * k):
            tiles.append(np.full_like(tiles[0], 24))
            labels.append("")
    # at the tiles' own size: the close-ups stay at 2× the plate's pixels
    return contact_sheet(tiles, labels, columns=2 * k, tile=tiles[0].shape[1]) if tiles else None


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def notes_text(results: Sequence[ShotResult]) -> str:
    lines = []
    for res in results:
        lines += [f"- {res.name}: {n}" for n in res.notes]
    return "\n".join(lines)


def checks(result: ShotResult, same_person: float = 0.6, min_mouth_r: float = 0.8,
           ssim_sd: float = 3.0) -> list[str]:
    """The demo's acceptance checks (issue 11) as plain lines, each ending in `ok` or `FAIL`:
    identity to the source under `same_person` on >= 95 % of measured frames, farther than it
    from the plate's own face on all, mouth-opening r >= `min_mouth_r`, and every frame whose
    face SSIM is more than `ssim_sd` sd below the shot's mean listed."""
    out = []
    src, plate = result.series("id_source"), result.series("id_plate")
    n_src, n_plate = int(np.isfinite(src).sum()), int(np.isfinite(plate).sum())
    if n_src:
        near = int((src[np.isfinite(src)] < same_person).sum())
        out.append(f"identity: {near}/{n_src} frames ({100 * near / n_src:.1f} %) under "
                   f"{same_person} to the source (need >= 95 %): "
                   + ("ok" if near >= 0.95 * n_src else "FAIL"))
    if n_plate:
        fin = plate[np.isfinite(plate)]
        close = [f for f, v in zip(result.frames, plate, strict=True)
                 if np.isfinite(v) and v <= same_person]
        out.append(f"to plate actor: min {fin.min():.3f} over {n_plate} frames (need > "
                   f"{same_person} on all): " + ("ok" if not close else
                                                 f"FAIL on {format_frame_range(close)}"))
    r = result.summary()["mouth_corr"][0]
    if np.isfinite(r):
        out.append(f"mouth-opening r: {r:.3f} (need >= {min_mouth_r}): "
                   + ("ok" if r >= min_mouth_r else "FAIL"))
    ssim = result.series("ssim")
    fin = ssim[np.isfinite(ssim)]
    if fin.size > 2:
        floor = float(fin.mean() - ssim_sd * fin.std())
        low = [(f, v) for f, v in zip(result.frames, ssim, strict=True)
               if np.isfinite(v) and v < floor]
        out.append(f"SSIM below mean - {ssim_sd:g} sd ({floor:.3f}): "
                   + (", ".join(f"{f} ({v:.3f})" for f, v in low) if low else "none"))
    missing = [f for f, v in zip(result.frames, src, strict=True) if not np.isfinite(v)]
    if missing:
        out.append(f"no face measured in the render on {len(missing)} frame(s): "
                   f"{format_frame_range(missing)}")
    return out


def worst_text(result: ShotResult, k: int = 5) -> str:
    """One line per metric: its k worst frames with their values."""
    out = []
    for key, (label, higher_better, _unit) in METRICS.items():
        worst = worst_frames(result.frames, list(result.series(key)), k,
                             higher_is_worse=not higher_better)
        if worst:
            out.append(f"- {label}: " + ", ".join(f"{f} ({v:.3g})" for f, v in worst))
    return "\n".join(out)


def write_report(results: Sequence[ShotResult], out: str | Path, title: str = "Evaluation",
                 plots: bool = True, extra_checks: Sequence[str] = ()) -> Path:
    """Write every file of the module doc into `out`; returns the Markdown table's path.
    `extra_checks` (e.g. the model–plate fit line) follow the last render's sign-off checks."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.csv", summary_csv(results))
    for res in results:
        atomic_write_text(out / f"frames_{slug(res.name)}.csv", per_frame_csv(res))
        if plots:
            sheet = worst_sheet(res)
            if sheet is not None:
                atomic_write_bytes(out / f"worst_{slug(res.name)}.png", png_bytes(sheet))
            sheet = signoff_sheet(res)
            if sheet is not None:
                atomic_write_bytes(out / f"signoff_{slug(res.name)}.png", png_bytes(sheet))
    if plots:
        for key in METRICS:
            atomic_write_bytes(out / f"curves_{key}.png", png_bytes(plot_curves(results, key)))
    frames = sorted({f for r in results for f in r.frames})
    md = [f"# {title}", "", f"Frames {format_frame_range(frames)}.", "", markdown_table(results)]
    notes = notes_text(results)
    if notes:
        md += ["", "Notes:", notes]
    for res in results:
        if res.name.startswith("no swap"):
            continue
        md += ["", f"Checks, {res.name}:"] + [f"- {c}" for c in checks(res)]
    for res in results:  # the plate against itself too: it must pass them all
        md += ["", f"Sign-off checks, {res.name} (close-ups: signoff_{slug(res.name)}.png):"]
        md += [f"- {c}" for c in signoff_checks(res)]
    md += [f"- {c}" for c in extra_checks]
    for res in results:
        worst = worst_text(res)
        if worst:
            md += ["", f"Worst frames, {res.name}:", worst]
    atomic_write_text(out / "table.md", "\n".join(md) + "\n")
    return out / "table.md"
