"""Detail close-ups: eyes, mouth and skin of one frame at 2×, plate beside each render.

What the FaceEnhancer is for (minor detail: lashes, lip lines, pores) is too small to judge in a
whole-face view; these crops show it at twice the plate's pixels (nearest-neighbour, so no
interpolation invents or hides detail), display-encoded (sRGB).

Convention: plates and renders scene-linear `H×W×3`; landmarks 68×2 in plate pixels; the result
is a uint8 RGB image (rows: regions; columns: plate, then the renders in the order given).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from engine.io.colorspace import linear_to_srgb

# region -> landmark indices whose box (padded) is the crop; skin: the left cheek between the
# jaw line and the nose
REGIONS = {"eyes": list(range(17, 27)) + list(range(36, 48)), "mouth": list(range(48, 68)),
           "skin": [2, 3, 31, 48]}


def region_box(landmarks: np.ndarray, region: str, shape: tuple[int, ...], pad: float = 0.15
               ) -> tuple[int, int, int, int]:
    """`(x0, y0, x1, y1)` (exclusive ends) around a region's landmarks, padded by `pad` of the
    inter-ocular distance, clipped to `shape`.

    Example:
        >>> from engine.geometry.align import mean_face
        >>> region_box(mean_face() * 200 + [100, 100], "mouth", (400, 400))
        (132, 234, 268, 317)
    """
    lm = np.asarray(landmarks, np.float64)
    iod = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
    pts = lm[REGIONS[region]]
    x0, y0 = np.floor(pts.min(0) - pad * iod).astype(int)
    x1, y1 = np.ceil(pts.max(0) + pad * iod).astype(int)
    h, w = shape[:2]
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)


def closeup_sheet(plate: np.ndarray, renders: Sequence[np.ndarray], names: Sequence[str],
                  landmarks: np.ndarray, zoom: int = 2) -> np.ndarray:
    """Rows eyes, mouth, skin; columns plate then each render, each crop `zoom`× (nearest)."""
    rows = []
    for region in REGIONS:
        x0, y0, x1, y1 = region_box(landmarks, region, plate.shape)
        tiles = []
        for img in (plate, *renders):
            crop = np.clip(linear_to_srgb(np.nan_to_num(img[y0:y1, x0:x1, :3])), 0, 1)
            crop = cv2.resize(crop, ((x1 - x0) * zoom, (y1 - y0) * zoom),
                              interpolation=cv2.INTER_NEAREST)
            tiles.append(np.pad(np.rint(crop * 255).astype(np.uint8), ((2, 2), (2, 2), (0, 0)),
                                constant_values=30))
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=30)
            for r in rows]
    head = np.full((20, width, 3), 30, np.uint8)
    step = rows[0].shape[1] // (len(renders) + 1)
    for k, name in enumerate(("plate", *names)):
        cv2.putText(head, name, (k * step + 4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([head, *rows])
