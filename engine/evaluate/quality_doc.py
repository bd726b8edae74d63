"""docs/quality.md: the quality study written up (generated, never edited by hand).

Takes the study's results (baselines first, then our render per colour mode, then the
DeepFaceLab-behaviour modes) and writes the table in the paper's layout, the colour-mode
comparison (ours vs DFL's behaviour, pair by pair), the regional brow-band cast per mode, the
worst frames and the curves. Images are copied next to the document (docs/quality/).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from engine import __version__
from engine.evaluate.acceptance import signoff_checks
from engine.evaluate.identity import SAME_PERSON, SourceIdentity
from engine.evaluate.report import checks, markdown_table, notes_text, slug, worst_text
from engine.evaluate.shot import METRICS, ShotResult
from engine.io import atomic_write_bytes, atomic_write_text, format_frame_range
from engine.io.ownership import FolderMark, text_mark
from engine.runtime.sysinfo import cpu_name

# Our mode -> the DeepFaceLab behaviour it is named after (the four that differ).
DOC_MARK = text_mark("quality report", "# Quality report")


def images_folder(doc: Path) -> FolderMark:
    """The doc's image folder (`<doc stem>/` beside it) is Doppel's when the doc is."""
    return FolderMark("quality report's image folder", f"../{doc.name}", DOC_MARK)


DFL_PAIRS = {"rct": "rct-dfl", "idt": "idt-dfl", "sot": "sot-dfl", "mix": "mix-dfl"}
COMPARE = ("ssim", "gmsd", "jitter_color")
CURVES = ("curves_ssim.png", "curves_jitter_color.png", "curves_landmarks.png",
          "curves_id_source.png", "curves_pose.png", "curves_jitter_mask.png")
SHEETS = ("naive paste", "ours, rct", "ours, rct-local")


def _mode(result: ShotResult) -> str | None:
    """The colour mode of a colour-mode row (`ours, rct`); None for baselines and for the detail
    rows (`ours, rct + …`)."""
    if not result.name.startswith("ours, ") or " + " in result.name:
        return None
    return result.name.split(", ", 1)[1]


def _ours(result: ShotResult) -> bool:
    return result.name.startswith("ours, ")


DETAIL_BASE = "ours, rct"
UNSHARP = "ours, rct + unsharp "
ENHANCED = "ours, rct + enhancer"
# The unsharp amount a compositor would keep: the sharpest whose identity distance stays within
# this of the plain render's (sharpening does not change who it is until it invents structure).
KEEP_ID = 0.01
DETAIL_COLUMNS = (("sharpness", "sharpness vs plate ↑"), ("id_source", "verification ↓"),
                  ("ssim", "SSIM ↑"), ("seam", "seam ΔE ↓"), ("fringe", "fringe a*b* ↓"),
                  ("eye_contrast", "eye contrast ↑"))


def best_unsharp(results: Sequence[ShotResult]) -> ShotResult | None:
    """The unsharp row with the highest sharpness that loses no identity against the plain
    render (verification ≤ +KEEP_ID); None without such rows."""
    by_name = {r.name: r for r in results}
    base = by_name.get(DETAIL_BASE)
    if base is None:
        return None
    ok = [r for r in results if r.name.startswith(UNSHARP)
          and _series_mean(r, "id_source") <= _series_mean(base, "id_source") + KEEP_ID]
    return max(ok, key=lambda r: _series_mean(r, "sharpness"), default=None)


def detail_table(results: Sequence[ShotResult]) -> list[str]:
    """Markdown lines: the plain render, every unsharp amount and the FaceEnhancer side by side
    (the FaceEnhancer's acceptance numbers); empty when the study had no detail rows."""
    rows = [r for r in results if r.name == DETAIL_BASE or r.name.startswith("ours, rct + ")]
    if len(rows) < 2:
        return []
    best = best_unsharp(results)
    lines = ["| method | " + " | ".join(label for _, label in DETAIL_COLUMNS) + " |",
             "|---|" + "---|" * len(DETAIL_COLUMNS)]
    for r in rows:
        name = r.name + (" (best unsharp)" if best is not None and r is best else "")
        cells = [f"{_series_mean(r, k):.3f}" for k, _ in DETAIL_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _mean(result: ShotResult, key: str) -> float:
    return result.summary()[key][0]


def _better(key: str, a: float, b: float) -> bool:
    higher = METRICS[key][1]
    return a > b if higher else a < b


def colour_comparison(results: Sequence[ShotResult]) -> list[str]:
    """Markdown lines: per differing mode, ours vs DFL's behaviour on SSIM, GMSD and flicker."""
    by_mode = {_mode(r): r for r in results if _mode(r)}
    lines = ["| mode | " + " | ".join(f"{METRICS[k][0]} ours / DFL" for k in COMPARE)
             + " | brow Δa*, Δb* ours / DFL | better on this shot |",
             "|---|" + "---|" * (len(COMPARE) + 2)]
    for ours, dfl in DFL_PAIRS.items():
        if ours not in by_mode or dfl not in by_mode:
            continue
        a, b = by_mode[ours], by_mode[dfl]
        cells, wins = [], 0
        for k in COMPARE:
            va, vb = _mean(a, k), _mean(b, k)
            cells.append(f"{va:.3f} / {vb:.3f}")
            wins += _better(k, va, vb)
        cast = [f"{_series_mean(r, 'brow_da'):+.1f}, {_series_mean(r, 'brow_db'):+.1f}"
                for r in (a, b)]
        verdict = "ours" if wins * 2 > len(COMPARE) else "DFL's"
        lines.append(f"| {ours} | " + " | ".join(cells) + f" | {cast[0]} / {cast[1]} | "
                     f"{verdict} ({wins}/{len(COMPARE)}) |")
    return lines


def _series_mean(result: ShotResult, key: str) -> float:
    v = result.series(key)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _dfl_pairs(results: Sequence[ShotResult]) -> list[tuple[ShotResult, ShotResult]]:
    """(ours, DeepFaceLab's behaviour) result pairs of the colour modes rendered both ways."""
    by_mode = {_mode(r): r for r in results if _mode(r)}
    return [(by_mode[o], by_mode[d]) for o, d in DFL_PAIRS.items()
            if o in by_mode and d in by_mode]


def findings(results: Sequence[ShotResult]) -> list[str]:
    """Plain sentences from the numbers (computed, so they stay true when the numbers move)."""
    by_mode = {_mode(r): r for r in results if _mode(r)}
    pairs = _dfl_pairs(results)
    out = []
    for key in COMPARE:
        wins = sum(_better(key, _mean(a, key), _mean(b, key)) for a, b in pairs)
        out.append(f"- {METRICS[key][0]}: ours better than DFL's behaviour in {wins} of "
                   f"{len(pairs)} pairs.")
    cast = [(math.hypot(_series_mean(r, "brow_da"), _series_mean(r, "brow_db")), m)
            for m, r in by_mode.items() if math.isfinite(_series_mean(r, "brow_da"))]
    if cast:
        best, worst = min(cast), max(cast)
        out.append(f"- Smallest brow/eye-socket cast: {best[1]} ({best[0]:.2f} a*b* units); "
                   f"largest: {worst[1]} ({worst[0]:.2f}).")
    return out


def cast_table(results: Sequence[ShotResult]) -> list[str]:
    lines = ["| method | brow-band Δa* | brow-band Δb* | distance in a*b* |", "|---|---|---|---|"]
    for r in results:
        da, db = _series_mean(r, "brow_da"), _series_mean(r, "brow_db")
        if math.isfinite(da):
            lines.append(f"| {r.name} | {da:+.2f} | {db:+.2f} | {math.hypot(da, db):.2f} |")
    return lines


def ranking(results: Sequence[ShotResult], key: str) -> str:
    modes = [r for r in results if _mode(r)]
    vals = [(r.summary()[key][0], r.name) for r in modes]
    vals = [v for v in vals if math.isfinite(v[0])]
    vals.sort(reverse=METRICS[key][1])
    return ", ".join(f"{n.split(', ', 1)[1]} {v:.3f}" for v, n in vals)


def detail_section(results: Sequence[ShotResult], images: dict[str, str]) -> list[str]:
    """The FaceEnhancer against the unsharp mask (docs/enhancer.md), when the study rendered
    them."""
    table = detail_table(results)
    if not table:
        return []
    md = ["## Detail: the FaceEnhancer vs the unsharp mask", "",
          "The rct render as it is, with the unsharp mask at each amount swept (`sharpen`), and "
          "with the FaceEnhancer trained for this model (`enhance` 1; "
          "[enhancer.md](enhancer.md)). Means over the frames; sharpness is the Laplacian RMS "
          "of the inner face over the plate's (sign-off check), seam and fringe the largest "
          "segment per frame. The best unsharp amount is the sharpest whose verification stays "
          f"within {KEEP_ID} of the plain render's.", "", *table, ""]
    if "closeups.png" in images:
        md += ["Close-ups at 2× (nearest neighbour) of the middle frame: eyes, mouth, skin; "
               "plate, then the renders of the table's order.", "",
               f"![detail close-ups]({images['closeups.png']})", ""]
    return md


def write_quality_doc(results: Sequence[ShotResult], identity: SourceIdentity, doc: str | Path,
                      report_dir: str | Path, *, command: str, model: str, model_meta: dict,
                      plate: str, minutes: float, intro: Sequence[str] = (),
                      closeups: str | Path | None = None) -> Path:
    """Write `doc` (Markdown) and copy the study's images into `<doc stem>/` beside it."""
    doc = Path(doc)
    img_dir = doc.parent / doc.stem
    img_dir.mkdir(parents=True, exist_ok=True)
    report_dir = Path(report_dir)
    images = {}
    # Curves as they are; worst-frame sheets of the rows discussed, as JPEG (a tenth of the
    # PNG's size: the repository keeps them).
    for name in CURVES:
        if (report_dir / name).is_file():
            shutil.copyfile(report_dir / name, img_dir / name)
            images[name] = f"{img_dir.name}/{name}"
    for r in results:
        if r.name not in SHEETS:
            continue
        for kind in ("worst", "signoff"):  # signoff: 2× close-ups of the sign-off checks
            src = report_dir / f"{kind}_{slug(r.name)}.png"
            if src.is_file():
                name = f"{kind}_{slug(r.name)}.jpg"
                data = cv2.imread(str(src), cv2.IMREAD_COLOR)
                ok, jpg = cv2.imencode(".jpg", data, [cv2.IMWRITE_JPEG_QUALITY, 85])
                if ok:
                    atomic_write_bytes(img_dir / name, jpg.tobytes())
                    images[name] = f"{img_dir.name}/{name}"
    if closeups is not None and Path(closeups).is_file():  # PNG: JPEG would blur the detail
        shutil.copyfile(closeups, img_dir / "closeups.png")
        images["closeups.png"] = f"{img_dir.name}/closeups.png"
    frames = sorted({f for r in results for f in r.frames})
    md = [
        f"# Quality report: {Path(model).name} on {Path(plate).parent.name or plate}",
        "",
        f"Generated by `{command}` — do not edit by hand. Doppel {__version__}; model "
        f"`{Path(model).name}` ({model_meta.get('arch', '?')}, "
        f"{model_meta.get('resolution', '?')} px, {model_meta.get('face_type', '?')} face, "
        f"{model_meta.get('iterations', '?')} iterations); plate `{plate}`, frames "
        f"{format_frame_range(frames)} ({len(frames)} frames); source identity: centroid of "
        f"{identity.count} faceset faces (median spread {identity.spread:.3f}); measured on "
        f"{cpu_name()}, {minutes:.0f} min for the whole run.",
        "",
        *intro,
        "Metric definitions, and why these: [evaluation.md](evaluation.md). Colour modes and how "
        "they differ from DeepFaceLab's: [color-transfer.md](color-transfer.md).",
        "",
        "## The table (the paper's Table 1 layout, plus expression transfer and stability)",
        "",
        "mean ± sd over the frames; `verification` is the dlib distance of the swapped face to "
        f"the source identity (< {SAME_PERSON} = same person); `to plate id` its distance to the "
        "plate's own face on the same frame (a swap should be far); landmarks in inter-ocular "
        "distances; pose in degrees (expression-free fit); `mouth r`/`eyes r`: correlation of "
        "mouth/eye opening plate vs render over the shot; jitter columns are the frame-to-frame "
        "change of the render relative to the plate (IOD, 8-bit code values, IOD).",
        "",
        markdown_table(results),
        "",
        "Baselines computed in the same run: **no swap** is the plate itself (perfect structure, "
        "wrong identity), **naive paste** pastes the nearest-pose source crop without mask, "
        "colour or blending.",
        "",
        *detail_section(results, images),
        *([] if not _dfl_pairs(results) else [
            "## Colour transfer: ours vs DeepFaceLab's behaviour",
            "",
            "`rct`, `lct`, `mkl` compute what DeepFaceLab computes; the four below do not. Each "
            "pair was rendered with the same model, mask and frames; `*-dfl` re-implements "
            "DeepFaceLab's behaviour (engine/swap/color_transfer.py).",
            "",
            *colour_comparison(results),
            "",
            *findings(results),
            ""]),
        f"SSIM by colour mode: {ranking(results, 'ssim')}.",
        "",
        f"Colour flicker by colour mode: {ranking(results, 'jitter_color')}.",
        "",
        "## The brow and eye-socket cast",
        "",
        "Mean Lab a*, b* of the render minus the plate over the brow-to-eye band (brows, upper "
        "lids, sockets), per frame then averaged. Negative a* is towards green, negative b* "
        "towards blue: both negative is the teal cast seen in the demo's brows and eye sockets. "
        "Why it appears is explained in [color-transfer.md](color-transfer.md#the-teal-cast).",
        "",
        *cast_table(results),
        "",
        "## Curves and worst frames",
        "",
    ]
    for name, path in images.items():
        if name.startswith("curves_"):
            md.append(f"![{name[:-4]}]({path})")
    md.append("")
    for r in results:
        key = f"worst_{slug(r.name)}.jpg"
        if key in images:
            md += [f"Worst frames, {r.name} (per row one metric: plate | render, four worst):",
                   "", f"![worst {r.name}]({images[key]})", "", worst_text(r), ""]
    md += ["## Acceptance checks", "",
           "Per render row: identity to the source under 0.6 on >= 95 % of frames, farther than "
           "0.6 from the plate actor on every frame, mouth-opening r >= 0.8, and every frame whose "
           "face SSIM falls more than 3 sd below the shot's mean listed (`doppel evaluate` prints "
           "the same lines).", ""]
    for r in results:
        if _ours(r):
            md += [f"- **{r.name}**: " + "; ".join(checks(r))]
    md += ["", "## Sign-off checks (what a compositor sees at 2–3× zoom)", "",
           "Seams across the mask edge, colour fringe in its feather, sharpness, the mouth "
           "interior when the plate's mouth is open, eye detail, non-finite and negative "
           "pixels, and the flicker of each; limits and why in "
           "[evaluation.md](evaluation.md#sign-off-checks). The plate against itself passes "
           "them all.", ""]
    for r in results:
        if _ours(r) or r.name.startswith("no swap"):
            md += [f"- **{r.name}**:"] + [f"  - {c}" for c in signoff_checks(r)]
    for r in results:
        key = f"signoff_{slug(r.name)}.jpg"
        if key in images:
            md += ["", f"Sign-off close-ups at 2×, {r.name} (per row one check: plate | "
                   "render, four worst frames):", "", f"![sign-off {r.name}]({images[key]})"]
    md.append("")
    notes = notes_text(results)
    if notes:
        md += ["## Notes", "", notes, ""]
    atomic_write_text(doc, "\n".join(md) + "\n")
    return doc
