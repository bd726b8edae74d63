"""`doppel xseg apply`: an exported XSeg model's mask for every face of a faceset (no torch).

Masks go to `FACESET/masks/<crop name>.png` (8-bit grey, the faceset's size, PNG metadata
`doppel/xseg_model` = the model's content digest) and each entry's `mask` field names its file;
the swap trainer then uses them for its masked loss and mask target (trainers/data.py). The
model may have another face type or resolution than the faceset: faces are warped into the
model's crop through their landmarks and the mask warped back, as the engine does per frame.

Resumable and non-destructive: a mask already written by the same model (same digest) is kept; a
face whose mask came from elsewhere (another model, a hand-made file) is only replaced with
`overwrite`, otherwise the run stops before writing anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacesetError, MediaError
from engine.faceset.store import Faceset, load_faceset
from engine.geometry.align import align_matrix, invert_similarity
from engine.io import read_image, write_image
from engine.io.atomic import remove_stale_temps
from engine.swap.infer import MaskModel
from trainers.xseg.labels import entry_field, face_key

MASK_DIR = "masks"
DIGEST_KEY = "doppel/xseg_model"


@dataclass
class ApplySummary:
    written: int = 0
    kept: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return ([f"masks written: {self.written} (unchanged, kept: {self.kept})",
                 f"errors: {len(self.errors)}"] + [f"  error: {e}" for e in self.errors])


def model_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _set_mask(entry: Any, value: str) -> None:
    if isinstance(entry, dict):
        entry["mask"] = value
    else:
        entry.mask = value


def _existing_digest(fs: Faceset, entry: Any, target: Path) -> str | None:
    """The digest recorded in the face's current mask, '' for a foreign mask, None for none."""
    current = entry_field(entry, "mask")
    path = fs.mask_path(entry) if current else target  # confined to the faceset folder
    if not path.is_file():
        return None if not current else ""
    try:
        return str(read_image(path).metadata.get(DIGEST_KEY, ""))
    except MediaError:
        return ""


def masks_for(model: MaskModel, crops: np.ndarray, to_model: list[np.ndarray | None],
              size: int) -> np.ndarray:
    """Masks `N×S×S` in the faceset's crop frame for crops `N×S×S×3` (sRGB [0, 1]).

    `to_model[i]` maps crop pixels to the model's crop pixels (None: same framing, resize only).
    """
    r = model.resolution
    faces = []
    for crop, m in zip(crops, to_model, strict=True):
        if m is None:
            interp = cv2.INTER_AREA if size > r else cv2.INTER_LINEAR
            faces.append(cv2.resize(crop, (r, r), interpolation=interp))
        else:
            faces.append(cv2.warpAffine(crop, m, (r, r), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE))
    out = model.run(np.stack(faces).astype(np.float32))
    back = []
    for mask, m in zip(out, to_model, strict=True):
        if m is None:
            back.append(cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR))
        else:
            back.append(cv2.warpAffine(mask, invert_similarity(m), (size, size),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
    return np.clip(np.stack(back), 0.0, 1.0)


def _to_model(fs: Faceset, entry: Any, model: MaskModel) -> np.ndarray | None:
    ft = model.info.face_type
    if ft == fs.face_type:
        return None
    m = np.asarray(entry_field(entry, "matrix"), np.float64)
    mx = align_matrix(np.asarray(entry_field(entry, "landmarks"), np.float64),
                      model.resolution, ft)
    inv = invert_similarity(m)  # crop -> image
    return mx[:, :2] @ np.vstack([inv, [0, 0, 1]])[:2] + np.hstack(
        [np.zeros((2, 2)), mx[:, 2:]])


def apply_xseg(faceset: str | Path, model_path: str | Path, overwrite: bool = False,
               device: str = "auto", batch: int = 16,
               progress: Callable[[Iterable[Any], int, str], Iterable[Any]] | None = None
               ) -> ApplySummary:
    """Write an XSeg mask for every face of `faceset`; returns what was done."""
    fs = load_faceset(faceset)
    if not fs.entries:
        raise FacesetError(f"{fs.root}: faceset holds no faces")
    model = MaskModel(model_path, device)
    digest = model_digest(model_path)
    for folder in (fs.root, fs.root / MASK_DIR):  # temps of a killed run (SIGKILL) go first
        remove_stale_temps(folder)
    summary = ApplySummary()
    todo, clashes = [], []
    for e in fs.entries:
        target = fs.root / MASK_DIR / f"{face_key(e)}.png"
        have = _existing_digest(fs, e, target)
        if have == digest and target.is_file():
            _set_mask(e, f"{MASK_DIR}/{target.name}")
            summary.kept += 1
        elif have is None or overwrite:
            todo.append((e, target))
        else:
            clashes.append(face_key(e))
    if clashes:
        raise FacesetError(f"{fs.root}: {len(clashes)} face(s) already have masks from another "
                           f"source ({', '.join(clashes[:5])}{'…' if len(clashes) > 5 else ''}); "
                           "pass --overwrite to replace them; nothing written")
    prog = progress or (lambda it, total, desc: it)
    chunks = [todo[i:i + batch] for i in range(0, len(todo), batch)]
    for chunk in prog(chunks, len(chunks), "xseg"):
        crops, maps, ok = [], [], []
        for e, target in chunk:
            try:
                crops.append(fs.load_crop(e))
            except (MediaError, FacesetError) as exc:
                summary.errors.append(str(exc))
                continue
            maps.append(_to_model(fs, e, model))
            ok.append((e, target))
        if not ok:
            continue
        for (e, target), mask in zip(ok, masks_for(model, np.stack(crops), maps, fs.size),
                                     strict=True):
            write_image(target, mask[..., None], channels=("Y",),
                        metadata={DIGEST_KEY: digest, "doppel/xseg_path": str(model_path)})
            _set_mask(e, f"{MASK_DIR}/{target.name}")
            summary.written += 1
        fs.save()  # the index follows each batch, so an interrupted run resumes
    fs.save()
    return summary
