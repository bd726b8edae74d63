"""XSeg labels from the formats studios have, mapped into aligned-face space (no torch here).

A label is two `S×S` float32 arrays in [0, 1] in a faceset crop's pixel frame: `mask` (1 = face,
0 = not face: hair, hands, props, background) and `valid` (1 where the label is known, 0 where it
is not: e.g. crop pixels that fall outside the plate the roto was drawn on). Training ignores
pixels whose `valid` is 0.

Sources:
- **plate mattes**: one alpha per plate frame (EXR or PNG sequence, as a roto node renders it),
  the same size as the plate; mapped into each face of that frame through the faceset's
  `img_to_crop` matrix (`plate_to_face`; `face_to_plate` is its inverse, for round trips);
- **face masks**: a folder of PNGs named like the crops (`000123_00.png`), any square size;
- **polygons**: a JSON file (`POLYGON_SCHEMA`), polygons in plate or crop pixels, rasterised
  straight into crop space (no resampling).
Stored labels live in `FACESET/labels/<crop name>.png` (Y = mask, A = valid, 8 bit), so a face is
labelled exactly when its label file exists. Imports validate everything first and write nothing
when the whole set is unusable; existing labels are replaced only when asked (`overwrite`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import InputError, MediaError
from engine.faceset.store import Faceset
from engine.io import SequencePattern, find_sequence, format_frame_range, read_image, write_image

LABEL_DIR = "labels"
POLYGON_SCHEMA = 1
RANGE_TOLERANCE = 1e-3  # filtered mattes overshoot [0, 1] by a hair; more than this is an error


class LabelError(InputError):
    """A label file or label set that cannot be used as given."""


def entry_field(entry: Any, name: str) -> Any:
    """A faceset entry's field, whether entries are plain dicts or typed records."""
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def face_key(entry: Any) -> str:
    """The label name of a face: its crop's file stem (`FFFFFF_KK`)."""
    return Path(entry_field(entry, "file")).stem


def label_path(fs: Faceset, entry: Any) -> Path:
    return fs.root / LABEL_DIR / f"{face_key(entry)}.png"


# -- geometry -------------------------------------------------------------------------------
def _warp(img: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample `img` by `matrix` (source → destination pixels, pixel centres at integers)
    into `shape = (H, W)`; outside the source is 0. Shrinking by more than 2× pre-filters with a
    Gaussian (symmetric, so edges do not move)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    src = img
    if scale < 0.5:
        src = cv2.GaussianBlur(img, (0, 0), 0.4 / scale)
    return cv2.warpAffine(src, np.asarray(matrix, np.float64), (shape[1], shape[0]),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def plate_to_face(alpha: np.ndarray, img_to_crop: np.ndarray, size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A plate matte `H×W` in [0, 1] → (`mask`, `valid`) `size×size` in the aligned crop.

    `img_to_crop` is the faceset entry's `2×3` plate → crop matrix. `valid` is 0 where the crop
    looks outside the plate (the roto says nothing there), with a linear ramp at the plate edge.
    """
    alpha = np.ascontiguousarray(alpha, np.float32)
    mask = _warp(alpha, img_to_crop, (size, size))
    valid = _warp(np.ones_like(alpha), img_to_crop, (size, size))
    # Where valid < 1 the mask was blended with the zero border; renormalise what is known.
    known = valid > 1e-3
    mask[known] /= valid[known]
    valid = np.where(valid > 0.999, 1.0, valid).astype(np.float32)
    return np.clip(mask, 0.0, 1.0), valid


def face_to_plate(mask: np.ndarray, img_to_crop: np.ndarray, plate_shape: tuple[int, int]
                  ) -> np.ndarray:
    """A crop-space mask `S×S` → plate pixels `H×W` (0 outside the crop's footprint)."""
    crop_to_img = cv2.invertAffineTransform(np.asarray(img_to_crop, np.float64))
    return np.clip(_warp(np.ascontiguousarray(mask, np.float32), crop_to_img, plate_shape),
                   0.0, 1.0)


def rasterise(include: Iterable[np.ndarray], exclude: Iterable[np.ndarray], size: int
              ) -> np.ndarray:
    """Polygons (`(N, 2)` crop pixels, centres at integers) → anti-aliased mask `size×size`:
    include polygons filled, then exclude polygons cut out (DeepFaceLab's include/exclude)."""
    shift = 4
    canvas = np.zeros((size, size), np.uint8)
    for polys, value in ((include, 255), (exclude, 0)):
        for poly in polys:
            pts = np.round(np.asarray(poly, np.float64) * (1 << shift)).astype(np.int32)
            cv2.fillPoly(canvas, [pts], value, lineType=cv2.LINE_AA, shift=shift)
    return canvas.astype(np.float32) / 255.0


# -- reading and checking label images -------------------------------------------------------
def check_range(values: np.ndarray, where: str) -> np.ndarray:
    """Clip a matte to [0, 1]; NaN/Inf or values beyond [0, 1] ± `RANGE_TOLERANCE` raise."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise LabelError(f"{where}: {int(bad.sum())} NaN/Inf pixels in the matte; re-render it")
    lo, hi = float(values.min()), float(values.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise LabelError(f"{where}: matte values span [{lo:.4g}, {hi:.4g}], outside [0, 1]; "
                         "render the roto's alpha (0..1), not a premultiplied or graded image")
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def read_matte(path: str | Path, channel: str = "") -> np.ndarray:
    """The matte of a label image, `H×W` float32 in [0, 1].

    `channel` names the channel; by default `A` when the image has one, else its only channel.
    """
    img = read_image(path)
    if channel:
        values = img.channel(channel)
    elif "A" in img.channels:
        values = img.channel("A")
    elif len(img.channels) == 1:
        values = img.pixels[..., 0]
    else:
        raise LabelError(f"{path}: has channels {', '.join(img.channels)} and no alpha; name the "
                         "matte's channel (--channel R)")
    return check_range(values, str(path))


# -- the label set of a faceset ----------------------------------------------------------------
@dataclass
class Label:
    key: str  # crop stem
    mask: np.ndarray  # S×S float32
    valid: np.ndarray  # S×S float32
    source: str  # where it came from (file, frame)


@dataclass
class LabelReport:
    """What an import found: labels to write and what was skipped, one line per problem."""

    labels: list[Label] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"labels written: {len(self.written)} (unchanged: {len(self.unchanged)})",
               f"skipped: {len(self.skipped)}"]
        return out + [f"  skipped: {s}" for s in self.skipped]


def labelled_keys(fs: Faceset) -> set[str]:
    """Crop stems of the faces that have a label file."""
    folder = fs.root / LABEL_DIR
    keys = {face_key(e) for e in fs.entries}
    return {p.stem for p in folder.glob("*.png")} & keys if folder.is_dir() else set()


def load_label(fs: Faceset, entry: Any, size: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """A stored label as (`mask`, `valid`) at `size` (default: the faceset's)."""
    path = label_path(fs, entry)
    img = read_image(path)
    if img.width != img.height:
        raise LabelError(f"{path}: label is {img.width}×{img.height}, not square")
    mask = check_range(img.pixels[..., 0], str(path))
    valid = (check_range(img.pixels[..., 1], str(path)) if img.pixels.shape[2] > 1
             else np.ones_like(mask))
    size = size or fs.size
    if img.width != size:
        interp = cv2.INTER_AREA if img.width > size else cv2.INTER_LINEAR
        mask = cv2.resize(mask, (size, size), interpolation=interp)
        valid = cv2.resize(valid, (size, size), interpolation=interp)
    return mask, valid


def save_labels(fs: Faceset, report: LabelReport, overwrite: bool = False) -> LabelReport:
    """Write `report.labels` into the faceset; refuses (writing nothing) when any would replace a
    different existing label and `overwrite` is off. Returns the report with `written` filled."""
    if not report.labels:
        raise LabelError(f"{fs.root}: no usable labels"
                         + (f" ({len(report.skipped)} skipped: {report.skipped[0]})"
                            if report.skipped else "") + "; nothing written")
    entries = {face_key(e): e for e in fs.entries}
    plans, clashes = [], []
    for lab in report.labels:
        path = label_path(fs, entries[lab.key])
        pixels = np.dstack([lab.mask, lab.valid])
        if path.is_file():
            old = read_image(path).pixels
            same = old.shape == pixels.shape and np.abs(
                old - np.rint(pixels * 255) / 255).max() < 0.5 / 255
            if same:
                report.unchanged.append(lab.key)
                continue
            if not overwrite:
                clashes.append(lab.key)
                continue
        plans.append((path, pixels, lab))
    if clashes:
        raise LabelError(f"{fs.root / LABEL_DIR}: {len(clashes)} face(s) already have different "
                         f"labels ({', '.join(clashes[:5])}{'…' if len(clashes) > 5 else ''}); "
                         "pass --overwrite to replace them; nothing written")
    for path, pixels, lab in plans:
        write_image(path, pixels, channels=("Y", "A"),
                    metadata={"doppel/label_source": lab.source})
        report.written.append(lab.key)
    return report


# -- importers ---------------------------------------------------------------------------------
def plate_size(entry: Any) -> tuple[int, int] | None:
    """(H, W) of the plate frame a face came from, read from the file's header; None when the
    footage is not found where the faceset says."""
    import OpenImageIO as oiio

    from engine.io import open_source

    path = None
    if isinstance(entry, dict):
        path = entry.get("source_file")
    else:
        path = getattr(entry, "source_file", None)
    if not path:
        try:
            path = open_source(entry_field(entry, "source")).path_of(entry_field(entry, "frame"))
        except (InputError, OSError):
            return None
    if path is None or not Path(path).is_file():
        return None
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return None
    spec = inp.spec()
    inp.close()
    return spec.height, spec.width


def from_plate_mattes(fs: Faceset, pattern: str, channel: str = "",
                      plate_shape: tuple[int, int] | None = None) -> LabelReport:
    """Labels from a per-frame matte sequence (`roto.####.exr`) for every face on those frames.

    Each matte must be the plate's size (`plate_shape` (H, W), else read from the faceset's
    footage); frames with a matte but no face in the faceset are skipped and reported.
    """
    if not SequencePattern.is_pattern(pattern):
        raise LabelError(f"{pattern}: give the mattes as a sequence pattern (roto.####.exr)")
    found = find_sequence(pattern)
    if not found:
        raise LabelError(f"{pattern}: no matte files on disk; check the pattern")
    by_frame: dict[int, list[Any]] = {}
    for e in fs.entries:
        by_frame.setdefault(int(entry_field(e, "frame")), []).append(e)
    report = LabelReport()
    faceless = [f for f in found if f not in by_frame]
    if faceless:
        report.skipped.append(f"{pattern}: frames {format_frame_range(faceless)} have mattes "
                              "but no face in the faceset")
    for frame, path in found.items():
        if frame not in by_frame:
            continue
        try:
            alpha = read_matte(path, channel)
        except (LabelError, MediaError) as exc:
            report.skipped.append(str(exc))
            continue
        for e in by_frame[frame]:
            want = plate_shape or plate_size(e)
            if want is None:
                report.skipped.append(f"{path}: cannot check the matte against the plate "
                                      f"({entry_field(e, 'source')} not found); pass --plate-size")
                continue
            if alpha.shape != tuple(want):
                report.skipped.append(
                    f"{path}: matte is {alpha.shape[1]}×{alpha.shape[0]}, the plate frame "
                    f"{frame} is {want[1]}×{want[0]}; render the roto at plate resolution")
                continue
            mask, valid = plate_to_face(alpha, np.asarray(entry_field(e, "matrix")), fs.size)
            report.labels.append(Label(face_key(e), mask, valid, f"{path}"))
    return report


def from_face_masks(fs: Faceset, folder: str | Path, channel: str = "") -> LabelReport:
    """Labels from per-face mask images named like the crops (`000123_00.png`), any square size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"{folder}: not a folder of per-face masks")
    keys = {face_key(e) for e in fs.entries}
    report = LabelReport()
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".exr", ".tif",
                                                                        ".tiff"))
    for p in files:
        if p.stem not in keys:
            report.skipped.append(f"{p}: no face {p.stem} in the faceset (names must match "
                                  "faces/*.png)")
            continue
        try:
            m = read_matte(p, channel)
        except (LabelError, MediaError) as exc:
            report.skipped.append(str(exc))
            continue
        if m.shape[0] != m.shape[1]:
            report.skipped.append(f"{p}: mask is {m.shape[1]}×{m.shape[0]}; face masks are "
                                  "square, like the crops")
            continue
        if m.shape[0] != fs.size:
            interp = cv2.INTER_AREA if m.shape[0] > fs.size else cv2.INTER_LINEAR
            m = np.clip(cv2.resize(m, (fs.size, fs.size), interpolation=interp), 0, 1)
        report.labels.append(Label(p.stem, m, np.ones_like(m), str(p)))
    return report


def _whole(value: object) -> int:
    """A frame or face number from JSON: an integer (or a float/str holding one), else
    ValueError (a path, a list, a fraction)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def from_polygons(fs: Faceset, path: str | Path) -> LabelReport:
    """Labels from a polygon JSON:

        {"schema": 1, "space": "plate" | "face",
         "labels": [{"frame": 1001, "face": 0, "include": [[[x, y], ...], ...],
                     "exclude": [[[x, y], ...]]}, ...]}

    Points are pixels (centres at integers) of the plate (`space: plate`; `face` may be left out
    to label every face of the frame) or of the face's crop (`space: face`, `face` required).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LabelError(f"{path}: not a readable polygon JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != POLYGON_SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else None
        raise LabelError(f"{path}: polygon schema {got!r} not supported (expected "
                         f"{POLYGON_SCHEMA})")
    space = data.get("space")
    if space not in ("plate", "face"):
        raise LabelError(f"{path}: 'space' must be 'plate' or 'face', got {space!r}")
    report = LabelReport()
    by_key = {(int(entry_field(e, "frame")), int(entry_field(e, "face"))): e for e in fs.entries}
    for i, item in enumerate(data.get("labels") or []):
        where = f"{path}: labels[{i}]"
        try:
            frame = _whole(item["frame"])
            face = None if item.get("face") is None else _whole(item["face"])
            polys = {k: [np.asarray(p, np.float64) for p in item.get(k, [])]
                     for k in ("include", "exclude")}
        except (KeyError, TypeError, ValueError, AttributeError):
            report.skipped.append(f"{where}: needs a whole 'frame' (and 'face') number and "
                                  "polygon lists of [x, y] points")
            continue
        if any(p.ndim != 2 or p.shape[1] != 2 or len(p) < 3 or not np.isfinite(p).all()
               for ps in polys.values() for p in ps):
            report.skipped.append(f"{where}: each polygon needs ≥ 3 finite [x, y] points")
            continue
        if not polys["include"] and not polys["exclude"]:
            report.skipped.append(f"{where}: no polygons drawn (frame {frame})")
            continue
        if space == "face" and face is None:
            report.skipped.append(f"{where}: face-space polygons need 'face'")
            continue
        targets = [e for (f, k), e in by_key.items()
                   if f == frame and (face is None or k == face)]
        if not targets:
            report.skipped.append(f"{where}: no face {'' if face is None else face} on frame "
                                  f"{frame} in the faceset")
            continue
        for e in targets:
            m = np.asarray(entry_field(e, "matrix"), np.float64)
            to_crop = (lambda p, m=m: p @ m[:, :2].T + m[:, 2]) if space == "plate" else (
                lambda p: p)
            mask = rasterise([to_crop(p) for p in polys["include"]],
                             [to_crop(p) for p in polys["exclude"]], fs.size)
            report.labels.append(Label(face_key(e), mask, np.ones_like(mask), f"{where}"))
    if not data.get("labels"):
        report.skipped.append(f"{path}: 'labels' is empty")
    return report


def import_labels(fs: Faceset, source: str, channel: str = "",
                  plate_shape: tuple[int, int] | None = None) -> LabelReport:
    """Dispatch on the source: a sequence pattern (plate mattes), a folder (face masks) or a
    `.json` file (polygons)."""
    if source.lower().endswith(".json"):
        return from_polygons(fs, source)
    if Path(source).is_dir():
        return from_face_masks(fs, source, channel)
    if SequencePattern.is_pattern(source):
        return from_plate_mattes(fs, source, channel, plate_shape)
    raise LabelError(f"{source}: give plate mattes as a sequence (roto.####.exr), a folder of "
                     "per-face masks, or a polygon .json")


# -- what to label, and what is labelled -------------------------------------------------------
def pick_for_labelling(fs: Faceset, count: int) -> list[Any]:
    """`count` representative faces: farthest-point sampling over pose (pitch, yaw, roll in
    15° units) and time (the shot's length as 2 units), starting from the most typical face, so
    the picks cover the head turns and the whole shot as DeepFaceLab's guide advises."""
    entries = list(fs.entries)
    if count >= len(entries):
        return entries
    frames = np.array([float(entry_field(e, "frame")) for e in entries])
    span = max(float(np.ptp(frames)), 1.0)
    feats = np.column_stack([np.asarray([entry_field(e, "pose") for e in entries], np.float64)
                             / 15.0, (frames - frames.min()) / span * 2.0])
    first = int(np.argmin(np.linalg.norm(feats - np.median(feats, 0), axis=1)))
    picked = [first]
    dist = np.linalg.norm(feats - feats[first], axis=1)
    while len(picked) < count:
        nxt = int(np.argmax(dist))
        picked.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(feats - feats[nxt], axis=1))
    return [entries[i] for i in sorted(picked)]


def export_for_labelling(fs: Faceset, out: str | Path, count: int, overwrite: bool = False
                         ) -> list[Any]:
    """Write what a compositor needs to label `count` representative faces into `out`:
    `faces/<name>.png` (the crops, to paint per-face masks of the same name), `frames.txt`
    (their plate frames in farm syntax, to roto in the comp and render as `roto.####.exr`) and
    `polygons.json` (a polygon template, one item per face, in face space)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise LabelError(f"{out}: folder is not empty; choose another or pass --overwrite")
    picks = pick_for_labelling(fs, count)
    from engine.io import atomic_write_bytes, atomic_write_text

    for e in picks:
        atomic_write_bytes(out / "faces" / Path(entry_field(e, "file")).name,
                           fs.crop_path(e).read_bytes())
    frames = sorted({int(entry_field(e, "frame")) for e in picks})
    atomic_write_text(out / "frames.txt", format_frame_range(frames) + "\n")
    template = {"schema": POLYGON_SCHEMA, "space": "face",
                "labels": [{"frame": int(entry_field(e, "frame")),
                            "face": int(entry_field(e, "face")), "include": [], "exclude": []}
                           for e in picks]}
    atomic_write_text(out / "polygons.json", json.dumps(template, indent=1))
    return picks


def label_status(fs: Faceset) -> list[str]:
    """Lines saying which faces are labelled (count, frames) and which are not."""
    keys = labelled_keys(fs)
    done = [e for e in fs.entries if face_key(e) in keys]
    frames = sorted({int(entry_field(e, "frame")) for e in done})
    lines = [f"{fs.root}: {len(done)} of {len(fs.entries)} faces labelled"]
    if frames:
        lines.append(f"  labelled frames: {format_frame_range(frames)}")
        lines += [f"  labelled: {face_key(e)}" for e in done]
    return lines
