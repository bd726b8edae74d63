"""Training previews: the paper's Figure 6 grid and a loss-history plot, as uint8 RGB images.

Grid columns: src, src→src, dst, dst→dst, src→dst (the swap); one row per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

COLUMNS = ("src", "src->src", "dst", "dst->dst", "src->dst")


def preview_grid(columns: Sequence[np.ndarray], tile: int = 128,
                 names: Sequence[str] = COLUMNS) -> np.ndarray:
    """`columns`: arrays `N×3×R×R` in [0, 1] (numpy), one per name; returns a uint8 `H×W×3` grid."""
    n = columns[0].shape[0]
    head = 18
    grid = np.full((head + n * tile, len(columns) * tile, 3), 30, np.uint8)
    for c, (name, col) in enumerate(zip(names, columns, strict=True)):
        cv2.putText(grid, name, (c * tile + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (235, 235, 235), 1, cv2.LINE_AA)
        for r in range(n):
            img = np.clip(col[r].transpose(1, 2, 0), 0, 1)
            img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
            grid[head + r * tile: head + (r + 1) * tile, c * tile:(c + 1) * tile] = np.rint(
                img * 255).astype(np.uint8)
    return grid


def loss_plot(history: Sequence[tuple[int, float, float]], width: int = 640,
              height: int = 240, names: tuple[str, str] = ("src2src", "dst2dst")) -> np.ndarray:
    """Two losses (src2src orange, dst2dst blue by default) over iterations, log y; uint8 RGB."""
    img = np.full((height, width, 3), 24, np.uint8)
    if len(history) < 2:
        return img
    h = np.asarray(history, np.float64)
    its, vals = h[:, 0], np.log10(np.maximum(h[:, 1:], 1e-6))
    lo, hi = vals.min(), vals.max()
    span = max(hi - lo, 1e-6)
    pad = 10

    def xy(i: np.ndarray, v: np.ndarray) -> np.ndarray:
        x = pad + (i - its[0]) / max(its[-1] - its[0], 1) * (width - 2 * pad)
        y = height - pad - (v - lo) / span * (height - 2 * pad)
        return np.stack([x, y], 1).astype(np.int32)

    for col, color in ((0, (255, 160, 40)), (1, (60, 160, 255))):
        cv2.polylines(img, [xy(its, vals[:, col])], False, color, 1, cv2.LINE_AA)
    cv2.putText(img, f"{names[0]} {h[-1, 1]:.4f}  {names[1]} {h[-1, 2]:.4f}  it {int(its[-1])}",
                (pad, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
    return img
