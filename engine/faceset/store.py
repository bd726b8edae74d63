"""The faceset on disk (DESIGN.md §4): aligned crops plus one JSON index.

Layout:
    FACESET/faceset.json            schema, settings, one entry per face
    FACESET/faces/FFFFFF_KK.png     aligned crop of face KK (largest first) on frame FFFFFF,
                                    sRGB-encoded, 8 or 16 bits
Entry fields (`FaceEntry`): file, source, source_file, frame, face, bbox, score, landmarks (image
px), landmarks_crop, matrix (img_to_crop 2×3), face_type, pose (pitch, yaw, roll), detector,
landmarker, mask (optional file).

Crop names carry the frame and face so a re-run writes the same files (idempotent) and entries
never shift when a frame in the middle gains or loses a face. Crops and the index are written
atomically; an index entry is added only after its crop is complete. Every file an entry names
is resolved and must lie inside the faceset folder (`engine.io.paths.inside`): an index edited to
say `../somewhere` is refused, never read or deleted.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacesetError, InputError
from engine.geometry.track import ANALYSIS_MARK
from engine.io import atomic_write_text, read_image
from engine.io.ownership import FolderMark, json_mark
from engine.io.paths import inside

FACESET_SCHEMA = 1
INDEX = "faceset.json"
INDEX_MARK = json_mark("faceset index", "face_type", "size", "faces")
# A folder is a faceset Doppel wrote when its index is ours, or while an extract that was
# interrupted before the index holds its analysis cache (engine.io.ownership).
FACESET_FOLDER = FolderMark("faceset", INDEX, INDEX_MARK, also=((".analysis.json",
                                                                   ANALYSIS_MARK),))


def crop_name(frame: int, face: int) -> str:
    return f"faces/{frame:06d}_{face:02d}.png"


@dataclass
class FaceEntry:
    """One aligned face of a faceset, as stored in `faceset.json` (`faces[i]`)."""

    file: str  # crop, relative to the faceset folder
    source: str  # the footage it was extracted from (sequence pattern, video, folder)
    frame: int
    face: int  # index among the frame's faces, largest first
    bbox: list[float]  # x0, y0, x1, y1 in source pixels
    score: float
    landmarks: list[list[float]]  # 68×2 source pixels
    landmarks_crop: list[list[float]]  # 68×2 crop pixels
    matrix: list[list[float]]  # 2×3 source pixels → crop pixels
    face_type: str
    pose: list[float]  # pitch, yaw, roll in degrees
    detector: str = ""
    landmarker: str = ""
    mask: str | None = None  # optional mask file, relative to the faceset folder
    source_file: str | None = None  # the file the face came from (stills, sequences)

    @property
    def key(self) -> tuple[int, int]:
        return (self.frame, self.face)

    @property
    def yaw(self) -> float:
        return float(self.pose[1])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> FaceEntry:
        """Validate one index entry; FacesetError names the entry and the bad field."""
        if not isinstance(data, dict):
            raise FacesetError(f"{where}: entry is {type(data).__name__}, not an object; "
                               "re-run 'doppel extract'")
        names = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING]
        missing = [k for k in required if k not in data]
        if missing:
            raise FacesetError(f"{where}: missing {', '.join(missing)}; re-run 'doppel extract'")
        entry = cls(**{k: v for k, v in data.items() if k in names})
        try:
            ok = (isinstance(entry.frame, int) and isinstance(entry.face, int)
                  and np.asarray(entry.matrix, np.float64).shape == (2, 3)
                  and np.asarray(entry.landmarks_crop, np.float32).shape == (68, 2)
                  and np.asarray(entry.landmarks, np.float32).shape == (68, 2)
                  and np.asarray(entry.pose, np.float32).shape == (3,)
                  and np.asarray(entry.bbox, np.float32).shape == (4,))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise FacesetError(f"{where}: malformed frame/face/matrix/landmarks/pose/bbox; "
                               "re-run 'doppel extract'")
        return entry


@dataclass
class Faceset:
    """An index of aligned faces; `root` is the faceset folder."""

    root: Path
    face_type: str
    size: int
    settings: dict[str, Any] = field(default_factory=dict)
    entries: list[FaceEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": FACESET_SCHEMA, "face_type": self.face_type, "size": self.size,
                "settings": self.settings, "count": len(self.entries),
                "faces": [e.to_json() for e in self.entries]}

    def save(self) -> None:
        self.entries.sort(key=lambda e: e.key)
        atomic_write_text(self.root / INDEX, json.dumps(self.to_json(), indent=1))

    def path(self, relative: str, field_name: str = "file") -> Path:
        """A file named by the index, checked to lie inside the faceset folder."""
        try:
            return inside(self.root, relative, f"{self.root / INDEX}: {field_name}")
        except InputError as exc:
            raise FacesetError(str(exc)) from None

    def crop_path(self, entry: FaceEntry) -> Path:
        return self.path(entry.file)

    def mask_path(self, entry: FaceEntry) -> Path | None:
        return None if not entry.mask else self.path(entry.mask, "mask")

    def load_crop(self, entry: FaceEntry) -> np.ndarray:
        """The crop as sRGB float32 `size×size×3` in [0, 1]."""
        img = read_image(self.crop_path(entry))
        if img.width != self.size or img.height != self.size:
            raise FacesetError(
                f"{self.crop_path(entry)}: crop is {img.width}×{img.height}, faceset says "
                f"{self.size}; re-extract this faceset"
            )
        return img.rgb()

    def landmarks_crop(self, entry: FaceEntry) -> np.ndarray:
        return np.asarray(entry.landmarks_crop, dtype=np.float32)

    def pose(self, entry: FaceEntry) -> np.ndarray:
        return np.asarray(entry.pose, dtype=np.float32)


def load_faceset(root: str | Path) -> Faceset:
    """Read and validate a faceset index; raises FacesetError naming the problem."""
    root = Path(root)
    index = root / INDEX
    if not index.is_file():
        raise FacesetError(f"{root}: no {INDEX}; is this a faceset? run 'doppel extract' first")
    try:
        data = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FacesetError(f"{index}: corrupt JSON ({exc}); re-run 'doppel extract'") from None
    if not isinstance(data, dict):
        raise FacesetError(f"{index}: not a faceset index (a JSON {type(data).__name__}); "
                           "re-run 'doppel extract'")
    if data.get("schema") != FACESET_SCHEMA:
        raise FacesetError(
            f"{index}: faceset schema {data.get('schema')!r} not supported (expected "
            f"{FACESET_SCHEMA})"
        )
    missing = [k for k in ("face_type", "size", "faces") if k not in data]
    if missing:
        raise FacesetError(f"{index}: missing {', '.join(missing)}; re-run 'doppel extract'")
    if not isinstance(data["faces"], list) or not isinstance(data["size"], int):
        raise FacesetError(f"{index}: 'faces' must be a list and 'size' an integer; "
                           "re-run 'doppel extract'")
    settings = data.get("settings", {})
    fs = Faceset(root, str(data["face_type"]), int(data["size"]),
                 settings if isinstance(settings, dict) else {})
    for i, e in enumerate(data["faces"]):
        entry = FaceEntry.from_json(e, f"{index}: faces[{i}]")
        fs.path(entry.file)  # refuse an index pointing outside before anything reads it
        fs.mask_path(entry)
        fs.entries.append(entry)
    return fs
