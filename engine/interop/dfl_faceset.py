"""A folder of DeepFaceLab aligned faces -> a new Doppel faceset (`doppel faceset import-dfl`).

What maps to what (DFL metadata -> `engine.faceset.store.FaceEntry`, values copied, never rounded):
    aligned JPEG pixels  -> faces/FFFFFF_KK.png (8-bit sRGB, lossless from the decoded JPEG)
    landmarks            -> landmarks_crop          image_to_face_mat -> matrix
    source_landmarks     -> landmarks               source_rect       -> bbox
    source_filename      -> source_file (the frame beside the aligned folder, as DFL's workspace
                            lays it out, when it exists), frame (its trailing number)
    face_type            -> the faceset's face type (one per faceset, as Doppel trains them)
    xseg_mask            -> masks/FFFFFF_KK.png and the entry's mask (as `doppel xseg apply`)
    seg_ie_polys         -> handed to `write_labels` (XSeg labels live in trainers)
Pose is estimated from the crop's landmarks (pitch, yaw) and the matrix's rotation (roll).

Everything is written into a hidden temp folder beside the output and renamed into place at the
end, so a bad file anywhere (or a refused pickle) leaves nothing behind. The output must be a new
(or empty) folder outside the input; the input is only read.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.errors import FacesetError, OutputError
from engine.faceset.store import FaceEntry, Faceset, crop_name, load_faceset
from engine.geometry.pose import estimate_pose
from engine.interop.dfl_aligned import (
    DflFace,
    DflPolygon,
    parse_meta,
    read_aligned_bytes,
    read_dfl_face,
    read_dfl_meta,
)
from engine.io import write_image

MASK_DIR = "masks"
SUFFIXES = (".jpg", ".jpeg")

# (faceset being written, {crop stem: polygons}) -> number of labels written
LabelWriter = Callable[[Faceset, dict[str, list[DflPolygon]]], int]


@dataclass
class DflImportSummary:
    faceset: Path
    faces: int = 0
    masks: int = 0
    labels: int = 0
    ignored: list[str] = field(default_factory=list)  # files that are not aligned JPEGs
    unmapped: list[str] = field(default_factory=list)  # DFL metadata keys Doppel does not use

    def lines(self) -> list[str]:
        out = [f"faces: {self.faces}", f"XSeg masks: {self.masks}",
               f"XSeg labels (polygons): {self.labels}"]
        if self.unmapped:
            out.append(f"DFL metadata not used: {', '.join(self.unmapped)}")
        if self.ignored:
            out.append(f"ignored (not .jpg): {len(self.ignored)}, e.g. {self.ignored[0]}")
        return out


def _check_output(aligned: Path, out: Path) -> None:
    a, o = aligned.resolve(), out.resolve()
    if o == a or a in o.parents:
        raise OutputError(f"{out}: the output lies inside the input folder {aligned}; choose a "
                          "folder elsewhere (an import never writes into its input)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out}: already exists and is not an empty folder; choose a new "
                          "folder (an import never replaces existing files)")


def _frame_numbers(faces: list[DflFace]) -> dict[str, int]:
    """Frame number per source file: its trailing number when every source has one (DFL's
    frames are numbered files), else the source's rank in name order (1-based)."""
    names = sorted({f.source_filename for f in faces})
    nums = {n: re.search(r"(\d+)$", Path(n).stem) for n in names}
    if all(nums.values()) and len({int(m.group(1)) for m in nums.values() if m}) == len(names):
        return {n: int(m.group(1)) for n, m in nums.items() if m}
    return {n: i + 1 for i, n in enumerate(names)}


def _face_index(path: Path) -> int | None:
    """DFL names aligned faces `<frame stem>_<face index>.jpg`."""
    m = re.search(r"_(\d+)$", path.stem)
    return int(m.group(1)) if m else None


def _pose(face: DflFace, size: int) -> list[float]:
    pitch, yaw, roll = estimate_pose(face.landmarks_crop, (size, size))
    m = face.image_to_face_mat
    frame_roll = -math.degrees(math.atan2(m[1, 0], m[0, 0]))  # the crop is rotated upright
    return [float(pitch), float(yaw), float(roll + frame_roll)]


def import_dfl_faceset(aligned_dir: str | Path, out: str | Path,
                       write_labels: LabelWriter | None = None) -> DflImportSummary:
    """Read every aligned JPEG in `aligned_dir` and write a new faceset at `out`.

    Any unreadable, inconsistent or refused file raises (FacesetError / UnsafePickleError,
    naming it) and nothing is left at `out`.
    """
    aligned, out = Path(aligned_dir), Path(out)
    if not aligned.is_dir():
        raise FacesetError(f"{aligned}: not a folder; give DeepFaceLab's aligned folder "
                           "(e.g. workspace/data_src/aligned)")
    files = sorted(p for p in aligned.iterdir() if p.is_file())
    jpgs = [p for p in files if p.suffix.lower() in SUFFIXES]
    if not jpgs:
        raise FacesetError(f"{aligned}: no .jpg aligned faces inside; give DeepFaceLab's "
                           "aligned folder")
    _check_output(aligned, out)
    summary = DflImportSummary(out, ignored=[p.name for p in files if p not in jpgs])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        fs = _write_all(aligned, jpgs, tmp, summary, write_labels)
        fs.save()
        if out.exists():
            out.rmdir()  # checked empty above
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    load_faceset(out)  # what was written reads back
    return summary


def _write_all(aligned: Path, jpgs: list[Path], tmp: Path, summary: DflImportSummary,
               write_labels: LabelWriter | None) -> Faceset:
    # Metadata first (small): types, sizes and frame numbering are known before any pixel.
    metas: list[DflFace] = []
    for p in jpgs:
        meta = read_dfl_meta(read_aligned_bytes(p), str(p))
        metas.append(DflFace(path=p, **parse_meta(meta, str(p))))
    types = {f.face_type for f in metas}
    if len(types) > 1:
        by_type = {t: next(f.path.name for f in metas if f.face_type == t) for t in types}
        raise FacesetError(f"{aligned}: mixes face types "
                           f"{', '.join(f'{t} ({n})' for t, n in sorted(by_type.items()))}; a "
                           "Doppel faceset holds one face type: import them separately")
    frames = _frame_numbers(metas)
    used: set[tuple[int, int]] = set()
    fs: Faceset | None = None
    polygons: dict[str, list[DflPolygon]] = {}
    unmapped: set[str] = set()
    workspace = aligned.resolve().parent  # DFL: workspace/data_src/{aligned/, frames}
    for meta in metas:
        face, rgb = read_dfl_face(meta.path)
        size = rgb.shape[0]
        if fs is None:
            fs = Faceset(tmp, face.face_type, size, {
                "importer": "dfl", "imported_from": str(aligned.resolve()),
                "dfl_face_type": face.dfl_face_type, "dfl_files": {}})
        elif size != fs.size:
            raise FacesetError(f"{meta.path}: aligned face is {size} px, the others "
                               f"{fs.size} px; a faceset holds one crop size")
        frame = frames[face.source_filename]
        k = _face_index(meta.path)
        if k is None or (frame, k) in used:
            k = min(i for i in range(len(used) + 1) if (frame, i) not in used)
        used.add((frame, k))
        src = workspace / face.source_filename
        entry = FaceEntry(
            file=crop_name(frame, k), source=str(workspace), frame=frame, face=k,
            bbox=list(face.source_rect), score=1.0,
            landmarks=face.source_landmarks.tolist(), landmarks_crop=face.landmarks_crop.tolist(),
            matrix=face.image_to_face_mat.tolist(), face_type=face.face_type,
            pose=_pose(face, size), detector="dfl", landmarker="dfl",
            source_file=str(src) if src.is_file() else None)
        write_image(fs.crop_path(entry), rgb.astype(np.float32) / 255.0)
        if face.xseg_mask is not None:
            mask = face.xseg_mask
            if mask.shape != (size, size):
                interp = cv2.INTER_AREA if mask.shape[0] > size else cv2.INTER_LINEAR
                mask = cv2.resize(mask, (size, size), interpolation=interp)
            entry.mask = f"{MASK_DIR}/{Path(entry.file).name}"
            write_image(fs.path(entry.mask, "mask"), np.clip(mask, 0, 1)[..., None],
                        channels=("Y",), metadata={"doppel/source": f"dfl xseg_mask {meta.path}"})
            summary.masks += 1
        if face.polygons:
            polygons[Path(entry.file).stem] = face.polygons
        if face.eyebrows_expand_mod not in (None, 1.0):
            unmapped.add("eyebrows_expand_mod")
        unmapped.update(face.extra_keys)
        fs.settings["dfl_files"][entry.file] = meta.path.name
        fs.entries.append(entry)
        summary.faces += 1
    assert fs is not None  # jpgs is not empty
    if polygons and write_labels is not None:
        fs.save()  # the label writer reads the index
        summary.labels = write_labels(fs, polygons)
    elif polygons:
        summary.unmapped.append("seg_ie_polys (no label writer)")
    summary.unmapped += sorted(unmapped)
    return fs
