"""DeepFaceLab's XSeg polygons (`seg_ie_polys`) -> Doppel XSeg labels (`trainers.xseg.labels`).

DFL fills its polygons in the order they were drawn, include polygons with 1 and exclude
polygons with 0, so a later include can paint back over an earlier exclude; the label here is
rasterised in that same order (anti-aliased, crop pixels with centres at integers, as
`trainers.xseg.labels.rasterise`). Every pixel of an imported label is known (`valid` = 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from engine.faceset.store import Faceset
from engine.interop.dfl_aligned import DflPolygon
from trainers.xseg.labels import Label, LabelReport, save_labels

_SHIFT = 4  # sub-pixel bits for cv2.fillPoly


def rasterise_in_order(polygons: Sequence[DflPolygon], size: int) -> np.ndarray:
    """Polygons in drawing order -> mask `size×size` float32 in [0, 1]."""
    canvas = np.zeros((size, size), np.uint8)
    for poly in polygons:
        pts = np.round(np.asarray(poly.points, np.float64) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 255 if poly.include else 0, lineType=cv2.LINE_AA,
                     shift=_SHIFT)
    return canvas.astype(np.float32) / 255.0


def write_dfl_labels(fs: Faceset, polygons: dict[str, list[DflPolygon]]) -> int:
    """Write one label per face with polygons (keys: crop stems); returns how many."""
    names = fs.settings.get("dfl_files", {})
    report = LabelReport()
    for key, polys in sorted(polygons.items()):
        mask = rasterise_in_order(polys, fs.size)
        source = names.get(f"faces/{key}.png", key)
        report.labels.append(Label(key, mask, np.ones_like(mask), f"dfl seg_ie_polys {source}"))
    save_labels(fs, report)
    return len(report.written)
