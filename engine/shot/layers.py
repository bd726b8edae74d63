"""The output layer format of a rendered frame, and its atomic write.

Full frame (`region="full"`): every input channel (`R,G,B,A`, …) with the output view, plus the
`doppel.mask` layer (the blend mask) and, on request, `doppel.face.R/G/B` (the unblended swapped
face, zero where the mask is 0). Face region (`region="face"`): a premultiplied RGBA layer over
only the rectangle the swap changed (`face_region_layers`). EXR keeps the plate's data/display
windows, pixel aspect and header attributes; PNG/TIFF/JPEG get the sRGB-encoded RGB with the
metadata as text. Channels are always named; readers look them up by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import __version__
from engine.errors import SettingsError
from engine.io import write_exr, write_image
from engine.io.image import Geometry, HeaderItem
from engine.shot.resume import DESCRIPTION, digest
from engine.swap.infer import ModelInfo
from engine.swap.pipeline import SwapResult

REGIONS = ("full", "face")
FACE = ("doppel.face.R", "doppel.face.G", "doppel.face.B")


@dataclass(frozen=True)
class OutputFormat:
    """How a frame is written: extra layers, precision, compression, which region."""

    face_layer: bool = False
    half: bool = True
    compression: str = "zip"
    region: str = "full"  # "full": the whole plate; "face": only what the swap changed

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise SettingsError(f"--region {self.region!r} unknown; use one of "
                                f"{', '.join(REGIONS)}")

    def record(self) -> dict[str, Any]:
        # "region" only when not the default: full-frame records (and so files) stay as
        # they were before the option existed, and such renders resume.
        return {"face_layer": self.face_layer, "half": self.half,
                "compression": self.compression,
                **({"region": self.region} if self.region != "full" else {})}


# Sample types a half EXR cannot hold without loss: such plate channels stay float.
_WIDE = ("float", "double", "uint", "int", "uint32", "int32")


def channel_formats(fmt: OutputFormat, names: tuple[str, ...], plate_formats: tuple[str, ...],
                    plate_channels: tuple[str, ...]) -> tuple[str, ...] | None:
    """Each output channel's EXR type, or None for all alike (`half` or `--float`).

    A half render ("half" is the default) writes a plate's float channels as float: half holds
    three decimal digits and nothing above 65504, so a float depth, position or ID (Cryptomatte)
    pass would be rounded and a bright highlight become inf although the swap never touched
    them. (An integer channel is read normalised to [0, 1] and so written float: an integer ID
    pass does not survive a render; docs/engine.md.) Plate
    channels keep their file's type; the swap's own layers (`doppel.mask`, the face layer, a
    face region's RGB) take the type of the plate's `R`; `A` and the mask of a face region are
    half. A plate whose types are unknown (video, a host's frames) or all half gives None."""
    if not fmt.half or not plate_formats or len(plate_formats) != len(plate_channels):
        return None
    wide = {c: ("float" if f in _WIDE else "half")
            for c, f in zip(plate_channels, plate_formats, strict=True)}
    if "float" not in wide.values():
        return None
    rgb = wide.get("R", "half")
    out = []
    for n in names:
        if fmt.region == "face":
            out.append(rgb if n in ("R", "G", "B") or n in FACE else "half")
        elif n in wide:
            out.append(wide[n])
        else:  # doppel.mask, the face layer
            out.append(rgb if n in FACE else "half")
    return tuple(out)


@dataclass(frozen=True)
class FrameWrite:
    """A swapped frame ready to be written (the writer stage's task): layers side by side
    (`H×W×k` each, written without concatenating them), their channel names, where they sit."""

    target: Path
    layers: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    metadata: dict[str, Any]
    geometry: Geometry | None
    header: tuple[HeaderItem, ...]
    diagnostics: dict[str, Any]
    formats: tuple[str, ...] | None = None  # per channel "half"/"float"; None: all alike


def frame_metadata(model: ModelInfo, frame: int, diag: dict[str, Any],
                   record: dict[str, Any]) -> dict[str, Any]:
    """The attributes every output frame carries (model, settings, record and its digest)."""
    return {
        "doppel/engine": __version__,
        "doppel/model": Path(model.path).name,
        "doppel/model_digest": model.digest,
        "doppel/model_meta": json.dumps(model.metadata, sort_keys=True),
        "doppel/settings": json.dumps(record["settings"], sort_keys=True),
        "doppel/record": json.dumps(record, sort_keys=True),
        "doppel/digest": digest(record),
        "doppel/frame": frame,
        "doppel/face": "swapped" if diag.get("swapped") else diag.get("reason", "no face"),
        "doppel/nonfinite_fixed": int(diag.get("nonfinite_fixed", 0)),
    }


def full_frame_layers(result: SwapResult, channels: tuple[str, ...], face_layer: bool
                      ) -> tuple[list[np.ndarray], list[str]]:
    """The whole output view with every input channel, `doppel.mask`, and the face on request."""
    dtype = result.image.dtype  # float16 for a half plate: every layer half, none converted
    layers = [result.image, result.mask_as(dtype)[..., None]]
    names = list(channels) + ["doppel.mask"]
    if face_layer:  # unblended swapped face, for the compositor's own mix
        layers.append(result.face_layer(dtype))
        names += list(FACE)
    return layers, names


def face_region_layers(result: SwapResult, geometry: Geometry | None, face_layer: bool = False
                       ) -> tuple[list[np.ndarray], list[str], Geometry]:
    """The swap as a premultiplied RGBA layer over only the region it changed.

    Convention: `A` = the blend mask (strength included, = `doppel.mask`); `R,G,B` = the
    unblended swapped face (scene-linear) × `A`, so `plate × (1 − A) + RGB` is the comp.
    The data window is `result.roi` in the plate's pixel grid (offset by the plate's
    data-window origin), the display window the plate's. A frame where nothing was swapped
    gets one transparent pixel at the display window's origin (EXR needs ≥ 1 pixel).
    """
    h, w = result.shape
    geo = geometry or Geometry.full(w, h)
    names = ["R", "G", "B", "A", "doppel.mask"]
    if result.roi is None or result.face_roi is None or result.mask_roi is None:
        empty = np.zeros((1, 1, 1), np.float32)
        layers = [np.zeros((1, 1, 3), np.float32), empty, empty]
        data = (geo.display[0], geo.display[1], 1, 1)
        face = np.zeros((1, 1, 3), np.float32)
    else:
        x0, y0, x1, y1 = result.roi
        alpha = result.mask_roi[..., None]
        face = result.face_roi
        layers = [face * alpha, alpha, alpha]
        data = (geo.data[0] + x0, geo.data[1] + y0, x1 - x0, y1 - y0)
    if face_layer:
        layers.append(face)
        names += list(FACE)
    return layers, names, Geometry(data, geo.display, geo.pixel_aspect)


def frame_write(fmt: OutputFormat, result: SwapResult, channels: tuple[str, ...],
                geometry: Geometry | None, header: tuple[HeaderItem, ...],
                target: Path, metadata: dict[str, Any], plate_formats: tuple[str, ...] = ()
                ) -> FrameWrite:
    """What to write for one swapped frame in format `fmt` (`plate_formats`: each plate
    channel's type in its file, `channel_formats`)."""
    if fmt.region == "face":
        layers, names, geometry = face_region_layers(result, geometry, fmt.face_layer)
    else:
        layers, names = full_frame_layers(result, channels, fmt.face_layer)
    return FrameWrite(target, tuple(layers), tuple(names), metadata, geometry, header,
                      result.diagnostics,
                      channel_formats(fmt, tuple(names), plate_formats, channels))


def write_frame(fmt: OutputFormat, frame: FrameWrite) -> dict[str, Any]:
    """Write a swapped frame atomically; returns its diagnostics."""
    target = frame.target
    if target.suffix.lower() == ".exr":
        as_text = write_exr(target, frame.layers, frame.names, frame.metadata, half=fmt.half,
                            compression=fmt.compression, geometry=frame.geometry,
                            header=frame.header, channel_formats=frame.formats)
        if as_text:  # the render reports them once (a note), not per frame
            return {**frame.diagnostics, "header_as_text": list(as_text)}
    else:
        from engine.io.colorspace import linear_to_srgb

        # PNG keeps our attributes as text chunks; TIFF and JPEG keep only a description.
        text_meta = {k: str(v) for k, v in frame.metadata.items()}
        if target.suffix.lower() != ".png":
            text_meta = {"ImageDescription": DESCRIPTION + json.dumps(text_meta,
                                                                       sort_keys=True)}
        write_image(target, linear_to_srgb(frame.layers[0][..., :3]), bits=16
                    if target.suffix.lower() in (".png", ".tif", ".tiff") else 8,
                    metadata=text_meta)
    return frame.diagnostics
