"""Pose coverage of a source faceset against a destination (the plate's faces).

A destination face is *covered* when the source has at least `min_faces` faces within
`tolerance` degrees of it in both yaw and pitch: the decoder has seen that angle of the source
person (DeepFaceLab's guidance: the source set should span the plate's angles, paper §3.1).
Uncovered destination faces are reported as frame ranges and as the yaw/pitch cells they fall
in, so a TD knows which angles to shoot or find. Convention: pose (pitch, yaw, roll) in degrees
as `FaceEntry.pose` stores it; yaw > 0 = turned to the image's left.

The mouth likewise (`mouth_coverage`): a DF/LIAE decoder renders only the mouth shapes it saw,
so a plate mouth opened wider than the source ever opens comes out closed or smiling (issue 21).
A destination face's mouth is covered when at least `min_faces` source faces open theirs at
least as wide, less `MOUTH_TOLERANCE`. Opening: the inner-lip gap over the outer-eye-corner
distance (`engine.geometry.face_measures.mouth_opening`; ≈0 closed, 0.1 clearly open).

And the mouth's *shape* (`engine.geometry.mouth_shape`): a round "O" and a wide talking mouth
open alike, and a decoder shown only wide openings renders every open plate mouth wide. A
destination face's shape is covered when at least `min_faces` source faces open near it at a
width, relative to their closed mouth, near its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.errors import FacesetError, SettingsError
from engine.faceset.store import Faceset
from engine.geometry.mouth_shape import (
    SHAPE_OPEN_TOLERANCE,
    SHAPE_WIDTH_TOLERANCE,
    mouths,
    relative_mouth_width,
    source_widths_near,
    uncovered_shapes,
)
from engine.io.ownership import image_mark, text_mark

PLOT_KIND = "pose coverage plot"
PLOT_MARK = image_mark(PLOT_KIND)
REPORT_MARK = text_mark("pose coverage report", "# Pose coverage: ")

CELL = 10.0  # degrees; cells in which missing angles are reported
# Of the IOD: a source mouth this much less open still covers a plate mouth (the landmarker's
# own frame-to-frame noise on the inner lips is about 0.01-0.02 at these face sizes).
MOUTH_TOLERANCE = 0.03


@dataclass
class Coverage:
    """How well `src` covers the angles of `dst`."""

    src_count: int
    dst_count: int
    covered: int  # dst faces with >= min_faces src faces near their pose
    tolerance: float
    min_faces: int
    uncovered_frames: list[int] = field(default_factory=list)
    missing_cells: list[tuple[float, float, int]] = field(default_factory=list)  # yaw, pitch, n
    src_range: tuple[float, float, float, float] = (0, 0, 0, 0)  # yaw min/max, pitch min/max
    dst_range: tuple[float, float, float, float] = (0, 0, 0, 0)

    @property
    def fraction(self) -> float:
        return self.covered / self.dst_count if self.dst_count else 1.0

    def lines(self) -> list[str]:
        """Human-readable summary (plain text; also the Markdown report's body)."""
        def span(r: tuple[float, float, float, float]) -> str:
            return f"yaw {r[0]:+.0f}..{r[1]:+.0f}°, pitch {r[2]:+.0f}..{r[3]:+.0f}°"

        out = [f"source: {self.src_count} faces, {span(self.src_range)}",
               f"destination: {self.dst_count} faces, {span(self.dst_range)}",
               f"covered: {self.covered}/{self.dst_count} destination faces "
               f"({100 * self.fraction:.1f} %) have >= {self.min_faces} source faces within "
               f"±{self.tolerance:g}° of yaw and pitch"]
        if self.uncovered_frames:
            out.append(f"uncovered frames: {frame_ranges(self.uncovered_frames)}")
            out.append("source lacks these angles (cell centre yaw, pitch: destination faces): "
                       + "; ".join(f"{y:+.0f}°, {p:+.0f}°: {n}"
                                   for y, p, n in self.missing_cells))
        return out


def frame_ranges(frames: Sequence[int]) -> str:
    """`[1,2,3,7,9,10]` -> `1-3, 7, 9-10`."""
    out, run = [], []
    for f in sorted(frames):
        if run and f == run[-1] + 1:
            run.append(f)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [f]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def _yaw_pitch(fs: Faceset, role: str) -> np.ndarray:
    if not fs.entries:
        raise FacesetError(f"{fs.root}: the {role} faceset has no faces; extract it first")
    return np.array([[e.pose[1], e.pose[0]] for e in fs.entries], np.float64)


def _range(yp: np.ndarray) -> tuple[float, float, float, float]:
    return (float(yp[:, 0].min()), float(yp[:, 0].max()), float(yp[:, 1].min()),
            float(yp[:, 1].max()))


def pose_coverage(src: Faceset, dst: Faceset, tolerance: float = 5.0,
                  min_faces: int = 3) -> Coverage:
    """Coverage of `dst`'s yaw/pitch by `src` (see the module docstring). `tolerance` in
    degrees (0 < tolerance ≤ 180), `min_faces` ≥ 1; SettingsError names the bad one."""
    if not (np.isfinite(tolerance) and 0.0 < tolerance <= 180.0):
        raise SettingsError(f"--tolerance must be within 0..180 degrees (more than 0), got "
                            f"{tolerance!r}")
    if not 1 <= min_faces <= 1_000_000:
        raise SettingsError(f"--min-faces must be at least 1, got {min_faces!r}")
    s, d = _yaw_pitch(src, "source"), _yaw_pitch(dst, "destination")
    # in chunks of destination faces: memory stays ~256 × len(src), whatever the set sizes
    near = np.concatenate([(np.abs(d[i:i + 256, None, :] - s[None, :, :]) <= tolerance)
                           .all(axis=2).sum(axis=1) for i in range(0, len(d), 256)])
    ok = near >= min_faces
    frames = [e.frame for e, good in zip(dst.entries, ok, strict=True) if not good]
    cells: dict[tuple[float, float], int] = {}
    for y, p in d[~ok]:
        key = ((np.floor(y / CELL) + 0.5) * CELL, (np.floor(p / CELL) + 0.5) * CELL)
        cells[key] = cells.get(key, 0) + 1
    missing = sorted(((y, p, n) for (y, p), n in cells.items()), key=lambda c: -c[2])
    return Coverage(len(s), len(d), int(ok.sum()), tolerance, min_faces, sorted(frames),
                    [(float(y), float(p), int(n)) for y, p, n in missing], _range(s), _range(d))


@dataclass
class MouthCoverage:
    """How well `src` covers how far `dst` opens its mouth (see the module docstring)."""

    src_open: float  # the widest opening the source shows on >= min_faces faces
    dst_open: float  # the destination's widest opening
    uncovered_frames: list[int]
    dst_count: int
    min_faces: int
    # the mouth's shape: destination faces whose opening the source shows only at another
    # width (narrower: an "O" the source never makes; wider: a stretch or smile it never makes)
    shape_narrower_frames: list[int] = field(default_factory=list)
    shape_wider_frames: list[int] = field(default_factory=list)
    # relative width (of the closed mouth's) of the uncovered destination faces, and of the
    # source faces at their openings: (5th, 95th percentile)
    shape_dst_width: tuple[float, float] = (1.0, 1.0)
    shape_src_width: tuple[float, float] = (1.0, 1.0)

    @property
    def shape_uncovered_frames(self) -> list[int]:
        return sorted(self.shape_narrower_frames + self.shape_wider_frames)

    def lines(self) -> list[str]:
        out = [f"mouth: the source opens to {self.src_open:.2f} of the eye-corner distance (on "
               f">= {self.min_faces} faces), the destination to {self.dst_open:.2f}"]
        if self.uncovered_frames:
            out.append(f"mouth uncovered: {len(self.uncovered_frames)}/{self.dst_count} "
                       "destination faces open wider than the source shows (the swap will "
                       f"close or narrow them): frames {frame_ranges(self.uncovered_frames)}; "
                       "add source footage with the mouth that wide")
        else:
            out.append(f"mouth covered: every destination face opens no wider than the source "
                       f"(within {MOUTH_TOLERANCE:g})")
        shape = self.shape_uncovered_frames
        if shape:
            kinds = []
            if self.shape_narrower_frames:
                kinds.append(f"{len(self.shape_narrower_frames)} narrower (a round 'O', "
                             f"the corners drawn in): frames "
                             f"{frame_ranges(self.shape_narrower_frames)}")
            if self.shape_wider_frames:
                kinds.append(f"{len(self.shape_wider_frames)} wider (a stretch or a smile): "
                             f"frames {frame_ranges(self.shape_wider_frames)}")
            src = (f"{self.shape_src_width[0]:.2f}-{self.shape_src_width[1]:.2f}"
                   if np.isfinite(self.shape_src_width).all() else "none")
            out.append(f"mouth shape uncovered: {len(shape)}/{self.dst_count} destination "
                       f"faces hold their mouth at a width the source never shows at that "
                       f"opening ({self.shape_dst_width[0]:.2f}-{self.shape_dst_width[1]:.2f} of "
                       f"their closed width; the source's at those openings {src}), so the "
                       f"swap will show the source's shape there; {'; '.join(kinds)}; add "
                       "source footage with those mouth shapes")
        else:
            out.append(f"mouth shape covered: every destination face's opening and width "
                       f"(relative to its closed mouth) is on >= {self.min_faces} source faces "
                       f"(within {SHAPE_OPEN_TOLERANCE:g} and {SHAPE_WIDTH_TOLERANCE:g})")
        return out


def _mouths(fs: Faceset, role: str) -> tuple[np.ndarray, np.ndarray]:
    """Per face: mouth opening and mouth width (both over the IOD; NaN where degenerate)."""
    if not fs.entries:
        raise FacesetError(f"{fs.root}: the {role} faceset has no faces; extract it first")
    return mouths(fs.landmarks_crop(e) for e in fs.entries)


def mouth_coverage(src: Faceset, dst: Faceset, min_faces: int = 3) -> MouthCoverage:
    """Which destination faces open their mouth wider than the source does on `min_faces`
    faces (less MOUTH_TOLERANCE)."""
    if not 1 <= min_faces <= 1_000_000:
        raise SettingsError(f"--min-faces must be at least 1, got {min_faces!r}")
    (s_open, s_width), (d, d_width) = _mouths(src, "source"), _mouths(dst, "destination")
    s = np.sort(s_open[np.isfinite(s_open)])[::-1]
    # fewer source faces than needed: no mouth is covered, not even a closed one
    widest = float(s[min_faces - 1]) if len(s) >= min_faces else -np.inf
    bad = np.isfinite(d) & (d > widest + MOUTH_TOLERANCE)
    frames = sorted(e.frame for e, b in zip(dst.entries, bad, strict=True) if b)
    cov = MouthCoverage(max(widest, 0.0), float(np.nanmax(d)) if np.isfinite(d).any() else 0.0,
                        frames, len(d), min_faces)
    _shape_coverage(cov, dst, (s_open, relative_mouth_width(s_open, s_width)),
                    (d, relative_mouth_width(d, d_width)), bad)
    return cov


def _shape_coverage(cov: MouthCoverage, dst: Faceset, src_mouths: tuple[np.ndarray, np.ndarray],
                    dst_mouths: tuple[np.ndarray, np.ndarray], too_wide: np.ndarray) -> None:
    """Fill `cov`'s shape fields (faces already uncovered by their opening are not judged
    again: an opening the source never reaches is reported as that)."""
    (so, sw), (do, dw) = src_mouths, dst_mouths
    do = np.where(too_wide, np.nan, do)
    narrower, wider = uncovered_shapes(so, sw, do, dw, cov.min_faces)
    if narrower.size or wider.size:
        idx = np.concatenate([narrower, wider])
        cov.shape_narrower_frames = sorted(dst.entries[i].frame for i in narrower)
        cov.shape_wider_frames = sorted(dst.entries[i].frame for i in wider)
        cov.shape_dst_width = (float(np.percentile(dw[idx], 5)),
                               float(np.percentile(dw[idx], 95)))
        near = source_widths_near(so, sw, do[idx])
        cov.shape_src_width = ((float(np.percentile(near, 5)), float(np.percentile(near, 95)))
                               if near.size else (float("nan"), float("nan")))


def coverage_plot(src: Faceset, dst: Faceset, cov: Coverage, size: int = 640) -> np.ndarray:
    """RGB uint8 plot, yaw (x) against pitch (y): source faces blue, covered destination faces
    green, uncovered destination faces red, on a 10° grid."""
    s, d = _yaw_pitch(src, "source"), _yaw_pitch(dst, "destination")
    both = np.concatenate([s, d])
    lo = np.floor(both.min(axis=0) / CELL - 1) * CELL
    hi = np.ceil(both.max(axis=0) / CELL + 1) * CELL
    margin = 48
    img = np.full((size, size, 3), 255, np.uint8)

    def xy(y: float, p: float) -> tuple[int, int]:
        u = (y - lo[0]) / (hi[0] - lo[0])
        v = (p - lo[1]) / (hi[1] - lo[1])
        return (int(margin + u * (size - 2 * margin)), int(size - margin - v * (size - 2 * margin)))

    for g in np.arange(lo[0], hi[0] + 1e-6, CELL):
        cv2.line(img, xy(g, lo[1]), xy(g, hi[1]), (225, 225, 225), 1)
        cv2.putText(img, f"{g:+.0f}", (xy(g, lo[1])[0] - 12, size - margin + 18),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for g in np.arange(lo[1], hi[1] + 1e-6, CELL):
        cv2.line(img, xy(lo[0], g), xy(hi[0], g), (225, 225, 225), 1)
        cv2.putText(img, f"{g:+.0f}", (4, xy(lo[0], g)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (60, 60, 60), 1, cv2.LINE_AA)
    for y, p in s:
        cv2.circle(img, xy(y, p), 2, (70, 110, 230), -1)
    uncovered = set(cov.uncovered_frames)
    for e, (y, p) in zip(dst.entries, d, strict=True):
        colour = (220, 40, 40) if e.frame in uncovered else (30, 170, 60)
        cv2.circle(img, xy(y, p), 3, colour, 1, cv2.LINE_AA)
    cv2.putText(img, f"yaw (deg) ->   source {cov.src_count} (blue), destination {cov.dst_count}: "
                f"covered (green) {100 * cov.fraction:.0f}%, not (red)", (margin, 20),
                cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "pitch (deg)", (4, margin - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                cv2.LINE_AA)
    return img


__all__ = ["CELL", "MOUTH_TOLERANCE", "Coverage", "MouthCoverage", "coverage_plot",
           "frame_ranges", "mouth_coverage", "pose_coverage", "relative_mouth_width"]
