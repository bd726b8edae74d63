"""Sign-off checks per shot: the per-frame measures of `signoff` judged against limits, as the
`check:` lines `doppel evaluate` prints, plus a close-up sheet of each check's worst frames.

A frame fails a check when its measure is past the limit; a check passes when no frame fails
(a compositor paints every failing frame). Flicker is judged on its mean over the shot.

The limits (`Limits`) and why:
- seam, fringe: ΔE*ab 3.0, a little over the 2.3 just-noticeable difference of CIE76 (Sharma,
  *Digital Color Imaging Handbook*, 2003): a step a viewer can find by looking along the edge.
- sharpness: the render keeps ≥ 0.7 of the plate's Laplacian RMS (half the energy): a face
  softer than that reads as out of focus beside the plate's own skin, hair and ears.
- mouth: on frames whose plate mouth is open (inner-lip gap ≥ 0.1 of the inter-ocular
  distance), the render's dark share ≥ 0.8 of the plate's, teeth whiteness (WID p95) no more
  than 5 below the plate's (about twice WID's 2.6 acceptability threshold, Pérez et al. 2019),
  the render's opening ≥ 0.85 of the plate's on average, and its mouth width correlated with the
  plate's (r ≥ 0.5).
- eyes: L* contrast inside the eyes ≥ 0.8 of the plate's (catchlights and iris edge kept).
- pixels: no non-finite or negative linear value where the plate has none.
- flicker: mean frame-to-frame change ≤ 1.0 ΔE (seam, fringe), ≤ 0.1 (sharpness and eye ratios),
  ≤ 0.15 (mouth dark share, render − plate).
A plate measured against itself scores exactly 0 / 1 on every one (tests/engine/evaluate).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.evaluate import signoff as so
from engine.geometry.face_measures import correlation
from engine.io import format_frame_range

CHECKS = ("seam", "fringe", "sharpness", "mouth", "eyes", "pixels")


@dataclass(frozen=True)
class Limits:
    seam: float = 3.0  # ΔE*ab, per segment
    fringe: float = 3.0  # a*b* distance, per segment
    sharpness: float = 0.7  # render / plate Laplacian RMS
    mouth_open: float = 0.1  # plate inner-lip gap / IOD: the mouth counts as open
    mouth_dark: float = 0.8  # render dark share / plate's, open frames
    teeth: float = 5.0  # WID units the render's teeth may fall below the plate's
    mouth_ratio: float = 0.85  # mean render opening / plate opening, open frames
    mouth_width_r: float = 0.5  # correlation of mouth width, plate vs render
    eyes: float = 0.8  # render / plate eye contrast
    flicker: dict[str, float] = field(default_factory=lambda: {
        "seam": 1.0, "fringe": 1.0, "sharpness": 0.1, "eye_contrast": 0.1, "mouth_dark": 0.15})


def badness(check: str, values: dict[str, float], limits: Limits) -> float:
    """How bad one frame is on one check (higher is worse; NaN where the check does not apply):
    what picks its close-ups."""
    nan = float("nan")
    if check in ("seam", "fringe"):
        return values.get(check, nan)
    if check == "sharpness":
        return -values.get("sharpness", nan)
    if check == "eyes":
        return -values.get("eye_contrast", nan)
    if check == "mouth":
        if not values.get("mouth_plate", 0.0) >= limits.mouth_open:
            return nan
        return values.get("mouth_dark_plate", nan) - values.get("mouth_dark_render", nan)
    if check == "pixels":
        n = values.get("bad_negative", 0.0) + values.get("bad_nonfinite", 0.0)
        return n if n > 0 else nan
    raise KeyError(check)


@dataclass
class WorstTiles:
    """The `k` worst frames per check with their close-ups (plate, render uint8 tiles), kept
    while frames stream by: memory stays k tiles per check whatever the shot's length."""

    k: int = 4
    heaps: dict[str, list[tuple[float, int, tuple[np.ndarray, np.ndarray]]]] = field(
        default_factory=dict)

    def offer(self, check: str, bad: float, frame: int,
              tiles: Callable[[], tuple[np.ndarray, np.ndarray]]) -> None:
        if not np.isfinite(bad):
            return
        heap = self.heaps.setdefault(check, [])
        if len(heap) < self.k:
            heapq.heappush(heap, (bad, frame, tiles()))
        elif bad > heap[0][0]:
            heapq.heapreplace(heap, (bad, frame, tiles()))

    def worst(self, check: str) -> list[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        return [(f, t) for _b, f, t in sorted(self.heaps.get(check, []), key=lambda e: -e[0])]


def _frames(frames: list[int], bad: np.ndarray) -> str:
    return format_frame_range([f for f, b in zip(frames, bad, strict=True) if b])


def _verdict(frames: list[int], bad: np.ndarray, measured: int) -> str:
    n = int(bad.sum())
    return (f"{n}/{measured} frames past the limit: "
            + ("ok" if n == 0 else f"FAIL on {_frames(frames, bad)}"))


def signoff_checks(result, limits: Limits | None = None) -> list[str]:
    """The sign-off lines of one `ShotResult` (see module doc), each ending in `ok`, `FAIL …`
    or `not measured`."""
    lim = limits or Limits()
    frames = list(result.frames)
    s = result.series
    out = []

    def fmt(x: float, d: int = 2) -> str:
        return "–" if not np.isfinite(x) else f"{x:+.{d}f}"

    for check, label, unit in (("seam", "seam (Lab step across the mask edge, render − plate)",
                                "ΔE*ab"),
                               ("fringe", "colour fringe (a*b* in the feathered ring, render − "
                                "plate)", "a*b*")):
        worst = s(check)
        ok = np.isfinite(worst)
        if not ok.any():
            out.append(f"{check}: not measured")
            continue
        parts = []
        for name in so.SEGMENTS:
            if check == "seam":
                vec = np.stack([s(f"seam_{name}_{c}") for c in "Lab"], 1)
            else:
                vec = np.stack([s(f"fringe_{name}_{c}") for c in "ab"], 1)
            good = np.isfinite(vec).all(1)
            if not good.any():
                continue
            mean = vec[good].mean(0)
            mag = float(np.linalg.norm(vec[good], axis=1).mean())
            if check == "seam":
                step = s(f"step_{name}_L")
                parts.append(f"{name} {mag:.1f} (ΔL* {fmt(mean[0], 1)}, Δa* {fmt(mean[1], 1)}, "
                             f"Δb* {fmt(mean[2], 1)}; plate's own L* step "
                             f"{fmt(float(np.nanmean(step)), 1)})")
            else:
                parts.append(f"{name} {mag:.1f} (Δa* {fmt(mean[0], 1)}, Δb* {fmt(mean[1], 1)})")
        limit = getattr(lim, check)
        bad = np.where(ok, worst > limit, False)
        out.append(f"{label}, mean {unit} per segment: " + "; ".join(parts)
                   + f"; limit {limit:g} on every segment: " + _verdict(frames, bad,
                                                                         int(ok.sum())))
    sharp = s("sharpness")
    ok = np.isfinite(sharp)
    if ok.any():
        bad = np.where(ok, sharp < lim.sharpness, False)
        out.append(f"sharpness (Laplacian RMS of the inner face, render / plate): mean "
                   f"{np.nanmean(sharp):.2f}, min {np.nanmin(sharp):.2f}; need >= "
                   f"{lim.sharpness:g}: " + _verdict(frames, bad, int(ok.sum())))
    else:
        out.append("sharpness: not measured")
    out += _mouth_lines(result, lim)
    eyes = s("eye_contrast")
    ok = np.isfinite(eyes)
    if ok.any():
        bad = np.where(ok, eyes < lim.eyes, False)
        out.append(f"eyes (L* contrast inside the eyes, render / plate): mean "
                   f"{np.nanmean(eyes):.2f}, min {np.nanmin(eyes):.2f}; need >= {lim.eyes:g}: "
                   + _verdict(frames, bad, int(ok.sum())))
    else:
        out.append("eyes: not measured")
    neg, nonfinite, low = s("bad_negative"), s("bad_nonfinite"), s("bad_min")
    ok = np.isfinite(neg)
    if ok.any():
        bad = np.where(ok, (np.nan_to_num(neg) > 0) | (np.nan_to_num(nonfinite) > 0), False)
        out.append(f"pixels (non-finite or negative linear values where the plate has none): "
                   f"{int(np.nansum(nonfinite))} non-finite, {int(np.nansum(neg))} negative "
                   f"(min {np.nanmin(low):.4g}); need none: "
                   + _verdict(frames, bad, int(ok.sum())))
    out.append(_flicker_line(result, lim))
    return out


def _mouth_lines(result, lim: Limits) -> list[str]:
    s = result.series
    frames = list(result.frames)
    opening_p, opening_r = s("mouth_plate"), s("mouth_render")
    is_open = np.isfinite(opening_p) & (opening_p >= lim.mouth_open)
    dark_p, dark_r = s("mouth_dark_plate"), s("mouth_dark_render")
    teeth_p, teeth_r = s("teeth_plate"), s("teeth_render")
    sel = is_open & np.isfinite(dark_p) & np.isfinite(dark_r) & (dark_p > 0)
    out = []
    if sel.any():
        ratio = np.where(sel, dark_r / np.where(dark_p > 0, dark_p, 1.0), np.nan)
        gap = np.where(sel, teeth_r - teeth_p, np.nan)
        bad = sel & ((ratio < lim.mouth_dark) | (gap < -lim.teeth))
        out.append(f"mouth interior ({int(sel.sum())} frames with the plate's mouth open, gap >= "
                   f"{lim.mouth_open:g} IOD): dark share render {np.nanmean(dark_r[sel]):.0%} vs "
                   f"plate {np.nanmean(dark_p[sel]):.0%} (need >= {lim.mouth_dark:g}× the "
                   f"plate's), teeth whiteness render − plate {np.nanmean(gap):+.1f} WID (need "
                   f">= {-lim.teeth:g}): " + _verdict(frames, bad, int(sel.sum())))
    else:
        out.append(f"mouth interior: not measured (no frame with the plate's mouth open >= "
                   f"{lim.mouth_open:g} IOD)")
    both = is_open & np.isfinite(opening_r) & (opening_p > 0)
    width_p, width_r = s("mouth_width_plate"), s("mouth_width_render")
    r = correlation(width_p, width_r)
    if both.any():
        ratio = float(np.mean(opening_r[both] / opening_p[both]))
        fails = []
        if ratio < lim.mouth_ratio:
            fails.append("opening")
        if not (np.isfinite(r) and r >= lim.mouth_width_r):
            fails.append("width")
        out.append(f"mouth shape: opening on open frames {ratio:.0%} of the plate's (need >= "
                   f"{lim.mouth_ratio:.0%}), mouth-width r {r:.2f} over "
                   f"{int((np.isfinite(width_p) & np.isfinite(width_r)).sum())} frames (need >= "
                   f"{lim.mouth_width_r:g}): "
                   + ("ok" if not fails else "FAIL (" + ", ".join(fails) + ")"))
    else:
        out.append("mouth shape: not measured (no open-mouth frame with a face in the render)")
    return out


FLICKER_UNITS = {"seam": "ΔE", "fringe": "a*b*", "sharpness": "", "eye_contrast": "",
                 "mouth_dark": ""}


def flicker_series(result) -> dict[str, np.ndarray]:
    """Per measure, its frame-to-frame |change| (`signoff.flicker`) over the shot."""
    s = result.series
    frames = list(result.frames)
    return {"seam": so.flicker(frames, s("seam")), "fringe": so.flicker(frames, s("fringe")),
            "sharpness": so.flicker(frames, s("sharpness")),
            "eye_contrast": so.flicker(frames, s("eye_contrast")),
            "mouth_dark": so.flicker(frames, s("mouth_dark_render") - s("mouth_dark_plate"))}


def _flicker_line(result, lim: Limits) -> str:
    parts, fails = [], []
    for key, series in flicker_series(result).items():
        fin = series[np.isfinite(series)]
        if not fin.size:
            continue
        mean = float(fin.mean())
        worst = int(np.nanargmax(series))
        unit = FLICKER_UNITS[key]
        parts.append(f"{key} {mean:.3f}{' ' + unit if unit else ''} (worst "
                     f"{result.frames[worst]}: {series[worst]:.3f})")
        if mean > lim.flicker[key]:
            fails.append(key)
    limits = ", ".join(f"{k} {v:g}" for k, v in lim.flicker.items())
    if not parts:
        return "flicker: not measured (no consecutive frames)"
    return ("flicker (mean frame-to-frame change): " + "; ".join(parts) + f"; limits {limits}: "
            + ("ok" if not fails else "FAIL (" + ", ".join(fails) + ")"))


def failed(lines: list[str]) -> bool:
    """True when any sign-off line failed."""
    return any("FAIL" in line for line in lines)
