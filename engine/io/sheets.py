"""Diagnostic drawing: boxes and landmarks over images, and contact sheets.

Convention: drawing happens on sRGB uint8 `H×W×3` RGB images (previews, never plates).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_GROUPS = [(0, 17), (17, 22), (22, 27), (27, 31), (31, 36), (36, 42), (42, 48), (48, 60), (60, 68)]
_CLOSED = {(36, 42), (42, 48), (48, 60), (60, 68)}


def draw_face(image: np.ndarray, landmarks: np.ndarray | None = None,
              bbox: Sequence[float] | None = None, label: str = "") -> np.ndarray:
    """A copy of `image` with the box (green), landmark outlines (cyan) and a label."""
    out = np.ascontiguousarray(image.copy())
    scale = max(1, round(max(out.shape[:2]) / 400))
    if bbox is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in bbox)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), scale)
        if label:
            cv2.putText(out, label, (x0, max(y0 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * scale, (0, 255, 0), scale, cv2.LINE_AA)
    if landmarks is not None:
        pts = np.round(np.asarray(landmarks)).astype(np.int32)
        for a, b in _GROUPS:
            cv2.polylines(out, [pts[a:b]], (a, b) in _CLOSED, (0, 220, 255), 1, cv2.LINE_AA)
        for x, y in pts:
            cv2.circle(out, (int(x), int(y)), scale, (255, 80, 0), -1, cv2.LINE_AA)
    return out


def contact_sheet(tiles: Sequence[np.ndarray], labels: Sequence[str] | None = None,
                  columns: int = 8, tile: int = 160) -> np.ndarray:
    """Grid of uint8 RGB tiles (resized to `tile`²) with optional captions; uint8 RGB out."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    rows = -(-len(tiles) // columns)
    cap = 14 if labels else 0
    sheet = np.full((rows * (tile + cap), min(columns, len(tiles)) * tile, 3), 24, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = r * (tile + cap), c * tile
        sheet[y:y + tile, x:x + tile] = cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA)
        if labels:
            cv2.putText(sheet, labels[i], (x + 3, y + tile + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (230, 230, 230), 1, cv2.LINE_AA)
    return sheet


def sheet_frames(frames: Sequence[int], mouth: dict[int, float], yaw: dict[int, float],
                 count: int = 6) -> list[tuple[int, str]]:
    """Frames for a contact sheet that shows the hard cases, not only easy ones.

    The widest-open mouth and the most turned head (largest |yaw|) first, then the narrowest
    mouth, then frames evenly spaced over the shot; each with a caption tag ("widest mouth",
    "most turned", "mouth shut", ""). `mouth`/`yaw` hold the tracked plate's per-frame mouth
    opening (inner-lip gap / inter-ocular distance) and yaw in degrees; frames without them are
    only used for the even spacing. Returned in frame order.
    """
    picks: dict[int, str] = {}
    if mouth:
        picks[max(mouth, key=lambda f: mouth[f])] = "widest mouth"
    if yaw:
        turned = max(yaw, key=lambda f: abs(yaw[f]))
        picks.setdefault(turned, "most turned")
    if mouth and len(picks) < count:
        picks.setdefault(min(mouth, key=lambda f: mouth[f]), "mouth shut")
    rest = [f for f in frames if f not in picks]
    need = count - len(picks)
    if need > 0 and rest:
        for i in np.linspace(0, len(rest) - 1, min(need, len(rest))).round().astype(int):
            picks.setdefault(rest[i], "")
    return sorted(picks.items())


def face_window(landmarks: np.ndarray, shape: tuple[int, ...], scale: float = 2.2
                ) -> tuple[int, int, int, int]:
    """Square `x0, y0, x1, y1` (pixels, end exclusive) around 68 landmarks, `scale`× their
    larger extent, shifted to stay inside an image of `shape` (H, W, ...) where it fits."""
    pts = np.asarray(landmarks, np.float64)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    h, w = int(shape[0]), int(shape[1])
    side = int(min(max(x1 - x0, y1 - y0) * scale, h, w))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(np.clip(round(cx - side / 2), 0, w - side))
    top = int(np.clip(round(cy - side / 2), 0, h - side))
    return left, top, left + side, top + side
