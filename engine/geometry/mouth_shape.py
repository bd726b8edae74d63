"""Mouth shape: how far a mouth opens and how wide it is while it does, relative to the same
person's closed mouth; and which faces of one set hold a shape no face of another set shows.

How far a mouth opens is not what it looks like: a round "O" (the corners drawn in) and a wide
talking mouth (the corners pulled out, the teeth showing) open alike. A DF/LIAE decoder renders
only the mouth shapes its source showed, so a plate "O" swapped by a model whose source never
made one comes out wide (issue 21). Both faceset coverage (`engine.faceset.coverage`) and the
model's source-mouth check (`engine.swap.mouth_fit`) use this one rule.

Conventions: `opening` is the inner-lip gap over the inter-ocular distance (IOD,
`face_measures.mouth_opening`: ≈0 closed, 0.1 clearly open); `width` the mouth-corner distance
over the IOD (`face_measures.mouth_width`); the *relative width* is `width` over the person's
closed-mouth width (`relative_mouth_width`), so two people's mouths compare by what they do, not
by their anatomy: 1 = the closed mouth's width, an "O" below it, a smile or a stretch above.
All are similarity-invariant: landmarks in plate pixels or in an aligned crop give the same.

Example:
    >>> import numpy as np
    >>> src_open, src_rel = np.array([0.0, 0.0, 0.0, 0.2, 0.2, 0.2]), np.ones(6) * 1.3
    >>> narrower, wider = uncovered_shapes(src_open, src_rel, np.array([0.2]), np.array([0.95]),
    ...                                    min_faces=3)
    >>> (narrower.tolist(), wider.tolist())
    ([0], [])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.errors import SettingsError
from engine.geometry.face_measures import mouth_opening, mouth_width

# A source face covers a destination face's shape when it opens within SHAPE_OPEN_TOLERANCE
# (IOD) of it at a relative width within SHAPE_WIDTH_TOLERANCE of its own. The landmarker
# spreads a still, closed mouth's width over about ±0.03 of it (5th to 95th percentile over the
# demo plate's closed frames: 0.96-1.05), so 0.08 is past its noise and short of an "O" (0.95
# against a talking smile's 1.2-1.3).
SHAPE_OPEN_TOLERANCE = 0.05
SHAPE_WIDTH_TOLERANCE = 0.08
# The faces whose width is the person's closed width: closed (opened less than SHAPE_CLOSED), or,
# where fewer than SHAPE_MIN_CLOSED are, the fifth of the faces opened least.
SHAPE_CLOSED = 0.03
SHAPE_MIN_CLOSED = 5


def mouths(landmarks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Opening and width (over the IOD) of each face's `(68, 2)` landmarks; NaN for a face
    whose landmarks are degenerate (the eye corners on one point)."""
    opening, width = [], []
    for lm in landmarks:
        try:
            o, w = mouth_opening(lm), mouth_width(lm)
        except SettingsError:
            o = w = float("nan")
        opening.append(o)
        width.append(w)
    return np.asarray(opening, np.float64), np.asarray(width, np.float64)


def relative_mouth_width(opening: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Each face's mouth width over the same person's closed-mouth width: the median width of
    the faces opened less than SHAPE_CLOSED, or, with fewer than SHAPE_MIN_CLOSED of those, of
    the fifth opened least. NaN where either measure is, or where no face is measurable."""
    opening = np.asarray(opening, np.float64)
    width = np.asarray(width, np.float64)
    ok = np.isfinite(opening) & np.isfinite(width)
    if not ok.any():
        return np.full(opening.shape, np.nan)
    closed = ok & (opening < SHAPE_CLOSED)
    if closed.sum() < SHAPE_MIN_CLOSED:
        closed = ok & (opening <= np.percentile(opening[ok], 20))
    return np.where(ok, width / float(np.median(width[closed])), np.nan)


def uncovered_shapes(src_open: np.ndarray, src_rel: np.ndarray, dst_open: np.ndarray,
                     dst_rel: np.ndarray, min_faces: int = 3,
                     counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the destination faces with fewer than `min_faces` source faces near both their
    opening and their relative width, split into those narrower than what the source does at
    that opening (its median relative width there, or overall where it never opens that far)
    and those wider. `counts` weighs each source point (a model's metadata stores repeated
    shapes once); destination faces with a NaN measure are neither."""
    so = np.asarray(src_open, np.float64)
    sw = np.asarray(src_rel, np.float64)
    n = np.ones(so.shape) if counts is None else np.asarray(counts, np.float64)
    ok = np.isfinite(so) & np.isfinite(sw)
    so, sw, n = so[ok], sw[ok], n[ok]
    narrower, wider = [], []
    for i, (o, w) in enumerate(zip(np.asarray(dst_open, np.float64),
                                   np.asarray(dst_rel, np.float64), strict=True)):
        if not (np.isfinite(o) and np.isfinite(w)):
            continue
        near = np.abs(so - o) <= SHAPE_OPEN_TOLERANCE
        if n[near & (np.abs(sw - w) <= SHAPE_WIDTH_TOLERANCE)].sum() >= min_faces:
            continue
        pool = sw[near] if near.any() else sw
        typical = _weighted_median(pool, n[near] if near.any() else n) if pool.size else w
        (narrower if w < typical else wider).append(i)
    return np.asarray(narrower, np.int64), np.asarray(wider, np.int64)


def source_widths_near(src_open: np.ndarray, src_rel: np.ndarray, dst_open: np.ndarray
                       ) -> np.ndarray:
    """The source's relative widths at the given destination openings (within
    SHAPE_OPEN_TOLERANCE of any of them): what the source does where the destination differs."""
    so = np.asarray(src_open, np.float64)
    sw = np.asarray(src_rel, np.float64)
    d = np.asarray(dst_open, np.float64)
    if d.size == 0 or so.size == 0:
        return np.zeros(0)
    near = (np.abs(so[:, None] - d[None, :]) <= SHAPE_OPEN_TOLERANCE).any(axis=1)
    return sw[near & np.isfinite(sw)]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    c = np.cumsum(w)
    return float(v[np.searchsorted(c, c[-1] / 2.0)])


__all__ = ["SHAPE_CLOSED", "SHAPE_MIN_CLOSED", "SHAPE_OPEN_TOLERANCE", "SHAPE_WIDTH_TOLERANCE",
           "mouths", "relative_mouth_width", "source_widths_near", "uncovered_shapes"]
