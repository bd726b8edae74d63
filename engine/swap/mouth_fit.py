"""Model–plate mouth shape: does the model's source ever make the mouth this plate makes?
(issue 21)

A DF/LIAE decoder draws the mouth shapes its source faces showed. How far the mouth opens follows
the plate, but a plate "O" (the corners drawn in) swapped by a model whose source only ever opened
its mouth wide (the corners pulled out) comes out wide, with teeth where the plate shows a dark
opening: paint work on every such frame, whatever the model's training. The export records the
source's mouth shapes (metadata `src_mouths`: each source face's opening and width relative to
the source's closed mouth, `engine.geometry.mouth_shape`); `doppel analyze`, the node's Analyze,
`doppel render` (with a track) and `doppel evaluate` compare the plate's faces with them and name
the frames whose shape the source never shows, beside the fit check (`engine.swap.fit`).

Metadata: JSON `{"schema": 1, "faces": N, "points": [[opening, relative width, count], ...]}`,
openings rounded to 0.01 of the IOD and relative widths to 0.02 (a tenth of the tolerances each
is compared with; repeated shapes stored once with their count).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import ModelError
from engine.geometry.mouth_shape import (
    SHAPE_CLOSED,
    SHAPE_MIN_CLOSED,
    mouths,
    relative_mouth_width,
    uncovered_shapes,
)
from engine.io import format_frame_range
from engine.swap.infer import ModelInfo

MOUTHS_KEY = "src_mouths"
MOUTHS_SCHEMA = 1
MAX_TEXT = 1 << 20  # bytes of metadata read at most: the points are rounded and counted, so
# even a huge source stores a few thousand (franck's 1,649 faces: 288 points, 4 KB)
MAX_FACES = 10 ** 9
OPEN_STEP, WIDTH_STEP = 0.01, 0.02  # rounding of the stored points
MIN_FACES = 3  # source faces needed near a plate face's shape (as faceset coverage)


@dataclass(frozen=True)
class SourceMouths:
    """The source faces' mouth shapes as a model's export recorded them."""

    faces: int
    opening: np.ndarray  # (K,) distinct rounded openings (IOD)
    rel_width: np.ndarray  # (K,) their relative widths
    counts: np.ndarray  # (K,) how many source faces had each
    src_name: str = "src"

    @classmethod
    def from_landmarks(cls, landmarks: Iterable[np.ndarray], src_name: str = "src"
                       ) -> SourceMouths:
        """From the source faces' `(68, 2)` landmarks (any one similarity frame each: plate
        pixels or aligned crops). ModelError when no face has measurable landmarks."""
        opening, width = mouths(landmarks)
        rel = relative_mouth_width(opening, width)
        ok = np.isfinite(opening) & np.isfinite(rel)
        if not ok.any():
            raise ModelError("no source face has measurable mouth landmarks: no mouth shapes")
        keys = np.stack([np.round(opening[ok] / OPEN_STEP), np.round(rel[ok] / WIDTH_STEP)], 1)
        uniq, counts = np.unique(keys.astype(np.int64), axis=0, return_counts=True)
        return cls(int(ok.sum()), uniq[:, 0] * OPEN_STEP, uniq[:, 1] * WIDTH_STEP,
                   counts.astype(np.int64), src_name)

    def to_json(self) -> str:
        points = [[round(float(o), 4), round(float(w), 4), int(n)]
                  for o, w, n in zip(self.opening, self.rel_width, self.counts, strict=True)]
        return json.dumps({"schema": MOUTHS_SCHEMA, "faces": self.faces, "points": points},
                          separators=(",", ":"))

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], path: str = "model"
                      ) -> SourceMouths | None:
        """The shapes in a model's metadata; None for a model exported without them."""
        text = metadata.get(MOUTHS_KEY)
        if not text:
            return None
        refused = ModelError(f"{path}: metadata {MOUTHS_KEY} is not one this engine reads "
                             f"({str(text)[:60]!r}); re-export the model")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise refused
        try:
            d = json.loads(text)
        except (ValueError, RecursionError):
            raise refused from None
        if not (isinstance(d, dict) and type(d.get("schema")) is int
                and d["schema"] == MOUTHS_SCHEMA and type(d.get("faces")) is int
                and 1 <= d["faces"] <= MAX_FACES and isinstance(d.get("points"), list)
                and d["points"] and all(_point(p) for p in d["points"])):
            raise refused
        pts = np.asarray(d["points"], np.float64)
        if pts[:, 2].sum() > d["faces"]:
            raise refused
        return cls(d["faces"], pts[:, 0], pts[:, 1], pts[:, 2].astype(np.int64),
                   metadata.get("src_name", "src"))


def _point(p: object) -> bool:
    """[opening, relative width, count]: finite numbers, a count of at least one face."""
    if not (isinstance(p, list) and len(p) == 3
            and all(type(v) in (int, float) for v in p)):
        return False
    o, w, n = p
    return (np.isfinite(o) and np.isfinite(w) and type(n) is int and 1 <= n <= MAX_FACES
            and -1.0 <= o <= 10.0 and 0.0 < w <= 10.0)


@dataclass
class ShotMouths:
    """Which plate frames hold a mouth shape the model's source never shows."""

    source: SourceMouths | None
    frames: list[int] = field(default_factory=list)  # frames measured
    narrower: list[int] = field(default_factory=list)  # a round "O" the source never makes
    wider: list[int] = field(default_factory=list)  # a stretch or smile it never makes
    model_name: str = "model"
    unavailable: str = ""  # why there is no check (source None)

    @property
    def outside(self) -> list[int]:
        return sorted(self.narrower + self.wider)

    def summary(self) -> str:
        """One line: ok, a warning naming the frames and what to do, or why it is unavailable."""
        if self.source is None:
            return f"mouth shape check unavailable for {self.model_name}: {self.unavailable}"
        if not self.frames:
            return "mouth shape: no face measured"
        name = self.source.src_name
        if not self.outside:
            return (f"mouth shape: frames {format_frame_range(self.frames)} hold mouth shapes "
                    f"the model's source ({name}) shows: ok")
        parts = []
        if self.narrower:
            parts.append(f"frames {format_frame_range(self.narrower)} hold a round mouth (the "
                         f"corners drawn in) that {name} never makes at that opening: the swap "
                         f"will draw {name}'s wider mouth there")
        if self.wider:
            parts.append(f"frames {format_frame_range(self.wider)} stretch the mouth wider "
                         f"than {name} ever does at that opening: the swap will draw it "
                         "narrower")
        return ("mouth shape: warning: " + "; ".join(parts) + f" ({len(self.outside)}/"
                f"{len(self.frames)} frames); add source footage with those mouth shapes and "
                "fine-tune, or plan paint on those frames")


def shot_mouths(info: ModelInfo, landmarks: Mapping[int, np.ndarray],
                report: Iterable[int] | None = None) -> ShotMouths:
    """The plate's mouth shapes (`landmarks`: frame → `(68, 2)`, any one similarity frame per
    face: the whole shot's, e.g. every tracked frame) against the source shapes in a model's
    metadata, reported for the frames `report` (default: all of them; a render reports the
    frames it rendered). The plate's closed-mouth width is measured over all of `landmarks`, so
    a chunk or a resumed render judges each frame alike. Unavailable, saying why, for a model
    exported without the shapes or with unreadable ones, and for a shot with fewer than
    SHAPE_MIN_CLOSED closed-mouth frames (nothing to measure a width against: a short range
    of speech would otherwise be compared with its own open mouths)."""
    name = Path(info.path).name
    try:
        source = SourceMouths.from_metadata(info.metadata, info.path)
    except ModelError as exc:  # said, not raised: it comes after a render or an analysis
        return ShotMouths(None, model_name=name, unavailable=str(exc))
    if source is None:
        return ShotMouths(None, model_name=name, unavailable=(
            "it was exported without its source's mouth shapes (no src_mouths metadata); "
            "re-export it from its checkpoint with 'doppel export' (the source faceset it was "
            "trained on, or --src-faceset)"))
    frames = sorted(landmarks)
    opening, width = mouths(landmarks[f] for f in frames)
    closed = int(np.sum(np.isfinite(width) & (opening < SHAPE_CLOSED)))
    if closed < SHAPE_MIN_CLOSED:
        return ShotMouths(None, model_name=name, unavailable=(
            f"{closed} of the shot's {len(frames)} tracked frames have the mouth closed, fewer "
            f"than {SHAPE_MIN_CLOSED} to measure its width against; analyse a longer range"))
    rel = relative_mouth_width(opening, width)
    narrower, wider = uncovered_shapes(source.opening, source.rel_width, opening, rel,
                                       MIN_FACES, source.counts)
    wanted = set(frames if report is None else report)
    measured = [f for f, o, w in zip(frames, opening, rel, strict=True)
                if f in wanted and np.isfinite(o) and np.isfinite(w)]
    return ShotMouths(source, measured, [frames[i] for i in narrower if frames[i] in wanted],
                      [frames[i] for i in wider if frames[i] in wanted], name)


__all__ = ["MOUTHS_KEY", "ShotMouths", "SourceMouths", "shot_mouths"]
