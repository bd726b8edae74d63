"""The faceset on disk (DESIGN.md §4): aligned crops plus one JSON index.

Layout:
    FACESET/faceset.json            schema, settings, one entry per face
    FACESET/faces/FFFFFF_KK.png     aligned crop of face KK (largest first) on frame FFFFFF,
                                    sRGB-encoded, 8 or 16 bits
Entry fields: file, source, frame, face, bbox, score, landmarks (image px), landmarks_crop,
matrix (img_to_crop 2×3), pose (pitch, yaw, roll), detector, landmarker, mask (optional file).

Crop names carry the frame and face so a re-run writes the same files (idempotent) and entries
never shift when a frame in the middle gains or loses a face. Crops and the index are written
atomically; an index entry is added only after its crop is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacesetError
from engine.io import atomic_write_text, read_image

FACESET_SCHEMA = 1
INDEX = "faceset.json"


def crop_name(frame: int, face: int) -> str:
    return f"faces/{frame:06d}_{face:02d}.png"


@dataclass
class Faceset:
    """An index of aligned faces; `root` is the faceset folder."""

    root: Path
    face_type: str
    size: int
    settings: dict[str, Any] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": FACESET_SCHEMA, "face_type": self.face_type, "size": self.size,
                "settings": self.settings, "count": len(self.entries), "faces": self.entries}

    def save(self) -> None:
        self.entries.sort(key=lambda e: (e["frame"], e["face"]))
        atomic_write_text(self.root / INDEX, json.dumps(self.to_json(), indent=1))

    def crop_path(self, entry: dict[str, Any]) -> Path:
        return self.root / entry["file"]

    def load_crop(self, entry: dict[str, Any]) -> np.ndarray:
        """The crop as sRGB float32 `size×size×3` in [0, 1]."""
        img = read_image(self.crop_path(entry))
        if img.width != self.size or img.height != self.size:
            raise FacesetError(
                f"{self.crop_path(entry)}: crop is {img.width}×{img.height}, faceset says "
                f"{self.size}; re-extract this faceset"
            )
        return img.rgb()

    def landmarks_crop(self, entry: dict[str, Any]) -> np.ndarray:
        return np.asarray(entry["landmarks_crop"], dtype=np.float32)

    def pose(self, entry: dict[str, Any]) -> np.ndarray:
        return np.asarray(entry["pose"], dtype=np.float32)


def load_faceset(root: str | Path) -> Faceset:
    """Read and validate a faceset index; raises FacesetError naming the problem."""
    root = Path(root)
    index = root / INDEX
    if not index.is_file():
        raise FacesetError(f"{root}: no {INDEX}; is this a faceset? run 'doppel extract' first")
    try:
        data = json.loads(index.read_text())
    except json.JSONDecodeError as exc:
        raise FacesetError(f"{index}: corrupt JSON ({exc}); re-run 'doppel extract'") from None
    if data.get("schema") != FACESET_SCHEMA:
        raise FacesetError(
            f"{index}: faceset schema {data.get('schema')!r} not supported (expected "
            f"{FACESET_SCHEMA})"
        )
    return Faceset(root, data["face_type"], int(data["size"]), data.get("settings", {}),
                   list(data["faces"]))
