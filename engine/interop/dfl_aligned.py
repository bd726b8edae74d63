"""DeepFaceLab's aligned faces: a JPEG whose APP15 segment holds a pickled metadata dict.

Format facts (public DeepFaceLab documentation and files): the aligned crop is a baseline JPEG;
one APP15 segment (marker `0xFFEF`, before the image data) carries `pickle.dumps(dict)` with
    face_type            'half_face' | 'midfull_face' | 'full_face' | 'whole_face' | 'head' | …
    landmarks            68×2, aligned-crop pixels
    source_filename      the frame's file name
    source_rect          (left, top, right, bottom) in frame pixels
    source_landmarks     68×2, frame pixels
    image_to_face_mat    2×3, frame pixels -> aligned-crop pixels
    eyebrows_expand_mod  float
    seg_ie_polys         XSeg polygons in crop pixels: {'polys': [{'type': 1 include | 0 exclude,
                         'pts': [[x, y], …]}, …]} (older files: a list of (type, pts))
    xseg_mask            an encoded (PNG or JPEG) greyscale image: the applied XSeg mask
The pickle goes through `engine.interop.dfl_pickle` (data only). Conventions are OpenCV's, as
Doppel's: pixel centres at integer coordinates, so matrices and landmarks are used as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import FacesetError
from engine.interop.dfl_pickle import safe_loads

APP15 = 0xEF
# One JPEG segment holds at most 65533 payload bytes: the most DFL metadata can be.
MAX_META_BYTES = 65533
MAX_FILE_BYTES = 256 * 1024 * 1024  # an aligned crop of 4096 px is a few MB

# DeepFaceLab face type names -> Doppel's (geometry.align.FACE_TYPES); the no-align variants crop
# the same region without rotation, which the stored matrix already says.
FACE_TYPES = {"half_face": "half", "midfull_face": "mid-full", "full_face": "full",
              "full_face_no_align": "full", "whole_face": "whole", "head": "head",
              "head_no_align": "head"}


class DflFormatError(FacesetError):
    """A DeepFaceLab aligned face that cannot be read as such."""


@dataclass
class DflPolygon:
    include: bool  # DFL type 1 (include) or 0 (exclude)
    points: np.ndarray  # N×2 float64, aligned-crop pixels


@dataclass
class DflFace:
    """One aligned face's metadata, as stored (float64: nothing is rounded on import)."""

    path: Path
    dfl_face_type: str
    face_type: str  # Doppel's name for it
    landmarks_crop: np.ndarray  # 68×2 float64
    source_filename: str
    source_rect: tuple[float, float, float, float]
    source_landmarks: np.ndarray  # 68×2 float64
    image_to_face_mat: np.ndarray  # 2×3 float64
    eyebrows_expand_mod: float | None = None
    polygons: list[DflPolygon] = field(default_factory=list)
    xseg_mask: np.ndarray | None = None  # H×W float32 in [0, 1]
    extra_keys: tuple[str, ...] = ()  # metadata keys this reader does not map


def jpeg_segments(data: bytes, where: str) -> list[tuple[int, bytes]]:
    """The (marker, payload) segments of a JPEG before its image data (start of scan)."""
    if data[:2] != b"\xff\xd8":
        raise DflFormatError(f"{where}: not a JPEG file (DFL aligned faces are .jpg)")
    out, pos = [], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise DflFormatError(f"{where}: corrupt JPEG (no marker at byte {pos})")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9 or marker == 0xDA:  # end of image, start of scan: no more metadata
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            continue
        if pos + 2 > len(data):
            raise DflFormatError(f"{where}: truncated JPEG segment header at byte {pos}")
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2 or pos + length > len(data):
            raise DflFormatError(f"{where}: JPEG segment 0xFF{marker:02X} claims {length} bytes "
                                 "past the end of the file; the file is truncated")
        out.append((marker, data[pos + 2:pos + length]))
        pos += length
    return out


def _points(value: Any, shape: tuple[int, ...], name: str, where: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DflFormatError(f"{where}: metadata {name} is not numeric ({type(value).__name__})"
                             ) from None
    if arr.shape != shape or not np.isfinite(arr).all():
        raise DflFormatError(f"{where}: metadata {name} has shape {arr.shape}, expected "
                             f"{'×'.join(map(str, shape))} finite numbers")
    return arr


def _polygons(value: Any, where: str) -> list[DflPolygon]:
    if value is None:
        return []
    items = value.get("polys") if isinstance(value, dict) else value
    if not isinstance(items, (list, tuple)):
        raise DflFormatError(f"{where}: seg_ie_polys is {type(value).__name__}, expected a dict "
                             "with 'polys' or a list")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            kind, pts = item.get("type"), item.get("pts")
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            kind, pts = item
        else:
            raise DflFormatError(f"{where}: seg_ie_polys[{i}] is neither {{type, pts}} nor "
                                 "(type, pts)")
        if kind not in (0, 1):
            raise DflFormatError(f"{where}: seg_ie_polys[{i}] type {kind!r}, expected 1 "
                                 "(include) or 0 (exclude)")
        try:
            arr = np.array([] if pts is None else pts, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise DflFormatError(f"{where}: seg_ie_polys[{i}] points are not [x, y] pairs"
                                 ) from None
        if not np.isfinite(arr).all():
            raise DflFormatError(f"{where}: seg_ie_polys[{i}] has non-finite points")
        if len(arr) >= 3:  # DFL keeps polygons still being drawn; fewer points fill nothing
            out.append(DflPolygon(kind == 1, arr))
    return out


def _xseg_mask(value: Any, where: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 1:
        buf = value
    elif isinstance(value, (bytes, bytearray)):
        buf = np.frombuffer(bytes(value), np.uint8)
    else:
        raise DflFormatError(f"{where}: xseg_mask is {type(value).__name__}, expected encoded "
                             "image bytes")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim not in (2, 3) or img.dtype != np.uint8:
        raise DflFormatError(f"{where}: xseg_mask does not decode as an 8-bit image")
    if img.ndim == 3:
        img = img[..., 0]
    return img.astype(np.float32) / 255.0


def parse_meta(meta: Any, where: str) -> dict[str, Any]:
    """Validate a DFL metadata dict into DflFace fields (without path)."""
    if not isinstance(meta, dict):
        raise DflFormatError(f"{where}: DFL metadata is a {type(meta).__name__}, not a dict")
    missing = [k for k in ("face_type", "landmarks", "image_to_face_mat", "source_filename")
               if meta.get(k) is None]
    if missing:
        raise DflFormatError(f"{where}: DFL metadata lacks {', '.join(missing)} (a face from a "
                             "DeepFaceLab older than 2.0?); re-extract it with DeepFaceLab 2")
    ftype = meta["face_type"]
    if ftype not in FACE_TYPES:
        raise DflFormatError(f"{where}: DFL face type {ftype!r} has no Doppel equivalent "
                             f"(known: {', '.join(FACE_TYPES)})")
    if not isinstance(meta["source_filename"], str) or not meta["source_filename"]:
        raise DflFormatError(f"{where}: source_filename is {meta['source_filename']!r}")
    mat = _points(meta["image_to_face_mat"], (2, 3), "image_to_face_mat", where)
    if abs(np.linalg.det(mat[:, :2])) < 1e-12:
        raise DflFormatError(f"{where}: image_to_face_mat is singular")
    lm_crop = _points(meta["landmarks"], (68, 2), "landmarks", where)
    if meta.get("source_landmarks") is not None:
        lm_src = _points(meta["source_landmarks"], (68, 2), "source_landmarks", where)
    else:  # derived from the crop's landmarks through the inverse matrix
        inv = cv2.invertAffineTransform(mat)
        lm_src = lm_crop @ inv[:, :2].T + inv[:, 2]
    if meta.get("source_rect") is not None:
        rect = _points(meta["source_rect"], (4,), "source_rect", where)
    else:
        rect = np.concatenate([lm_src.min(0), lm_src.max(0)])
    ebm = meta.get("eyebrows_expand_mod")
    if ebm is not None and not isinstance(ebm, (int, float, np.floating)):
        raise DflFormatError(f"{where}: eyebrows_expand_mod is {type(ebm).__name__}")
    known = {"face_type", "landmarks", "source_filename", "source_rect", "source_landmarks",
             "image_to_face_mat", "eyebrows_expand_mod", "seg_ie_polys", "xseg_mask"}
    return dict(dfl_face_type=ftype, face_type=FACE_TYPES[ftype], landmarks_crop=lm_crop,
                source_filename=meta["source_filename"],
                source_rect=tuple(float(v) for v in rect), source_landmarks=lm_src,
                image_to_face_mat=mat, eyebrows_expand_mod=None if ebm is None else float(ebm),
                polygons=_polygons(meta.get("seg_ie_polys"), where),
                xseg_mask=_xseg_mask(meta.get("xseg_mask"), where),
                extra_keys=tuple(sorted(str(k) for k in meta if k not in known)))


def read_dfl_meta(data: bytes, where: str, max_bytes: int = MAX_META_BYTES) -> dict[str, Any]:
    """The unpickled (restricted) APP15 metadata of a DFL aligned JPEG's bytes."""
    found = [payload for marker, payload in jpeg_segments(data, where) if marker == APP15]
    if not found:
        raise DflFormatError(f"{where}: no DeepFaceLab metadata (APP15 segment) in this JPEG; "
                             "is it an aligned face from DeepFaceLab's extractor?")
    if len(found) > 1:
        raise DflFormatError(f"{where}: {len(found)} APP15 segments; DeepFaceLab writes one")
    return safe_loads(found[0], f"{where} (APP15 metadata)", max_bytes)


def read_aligned_bytes(path: str | Path) -> bytes:
    """The bytes of an aligned JPEG, refusing files larger than any aligned face unread."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DflFormatError(f"{path}: {size:,} bytes, larger than any aligned face "
                             f"({MAX_FILE_BYTES:,}); refused unread")
    return path.read_bytes()


def read_dfl_face(path: str | Path, max_meta_bytes: int = MAX_META_BYTES
                  ) -> tuple[DflFace, np.ndarray]:
    """A DFL aligned face: (metadata, crop as sRGB uint8 `S×S×3` RGB)."""
    path = Path(path)
    data = read_aligned_bytes(path)
    meta = read_dfl_meta(data, str(path), max_meta_bytes)
    face = DflFace(path=path, **parse_meta(meta, str(path)))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DflFormatError(f"{path}: the JPEG image data does not decode")
    h, w = bgr.shape[:2]
    if h != w:
        raise DflFormatError(f"{path}: aligned face is {w}×{h}, not square")
    return face, np.ascontiguousarray(bgr[..., ::-1])
