"""Swap settings split by cost (DESIGN.md §3): `EngineConfig` builds heavy state once per
`FaceSwapper`; `SwapLook` holds the per-frame knobs a compositor drags.

Changing a `SwapLook` value never rebuilds an ONNX Runtime session, a detector or a colour
processor: `process(..., look=...)` takes the look per call. `SwapSettings` is the whole resolved
setting (config + look), what `doppel render` exposes as flags and records in every output file;
its flat dictionary (`to_dict`) keeps one key per knob, so recorded settings read the same as
before the split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from engine.errors import SettingsError
from engine.geometry.align import face_type
from engine.runtime.onnxrt import DEVICES
from engine.swap.blend import check_blend_mode
from engine.swap.color_transfer import TRANSFERS
from engine.swap.mask import parse_mask_mode
from engine.swap.params import (
    MASK_UNITS,
    OUTPUT_VIEWS,
    PLATE_PIXEL_KNOBS,
    bounds,
    settings_from_values,
)

# Numeric knobs are checked against the parameter table's ranges (engine/swap/params.py, the one
# place they live): beyond them a knob only makes nonsense or exhausts memory (an erode of 1e6 px
# asks for a 547 GB kernel); nan/inf are refused too.


@dataclass(frozen=True)
class EngineConfig:
    """What builds heavy state once per `FaceSwapper` (sessions, detector, colour processor)."""

    model: str = ""  # exported swap model (.onnx)
    face_type: str = ""  # "" = the model's; else must match it (guards against a wrong model)
    xseg: str = ""  # optional XSeg model (.onnx) for the xseg-prd / xseg-dst mask terms
    enhancer: str = ""  # optional FaceEnhancer (.onnx) trained for this swap model
    ocio_config: str = ""  # "" = sRGB transfer; else an OCIO config path or ocio:// URI
    ocio_plate_space: str = "Linear Rec.709 (sRGB)"  # the plates' space in that config
    ocio_model_space: str = "sRGB Encoded Rec.709 (sRGB)"  # the model's space in that config
    detector: str = "centerface"  # used only on frames without a track
    device: str = "auto"  # auto | cpu | cuda | tensorrt
    threads: int = 0  # ONNX Runtime intra-op threads per session (0 = its default)

    def __post_init__(self) -> None:
        if self.face_type:
            face_type(self.face_type)
        if self.device not in DEVICES:
            raise SettingsError(f"device must be one of {', '.join(DEVICES)}, got "
                                f"{self.device!r}")
        lo, hi = bounds("threads")
        if not lo <= self.threads <= hi:
            raise SettingsError(f"--threads must be within {lo:g}..{hi:g} (0 = default), got "
                                f"{self.threads}")


@dataclass(frozen=True)
class SwapLook:
    """The per-frame knobs (cheap to change between calls; validated once when built)."""

    face_index: int = 0  # without a track: which detected face, largest first
    # The model's masks bounded by the plate face's own outline (hull): a model's learned masks
    # run past the face into the background it was trained on (issue 21: the violet jaw
    # fringe). The feather is face-relative (a fixed plate-pixel feather is wide on a small
    # face and thin on a close-up) and mostly inside the outline (erode a quarter of the blur:
    # measured on the demo, docs/evaluation.md; half the blur put the feather's ring on the
    # source's spill along a turned cheek, a fringe on 28 of 120 frames).
    mask_mode: str = "learned-prd*learned-dst*hull"
    erode: float = 2.5  # mask_units (% of the face or plate pixels); negative dilates
    blur: float = 10.0  # mask_units of feather
    mask_units: str = "face"  # face | px (engine/swap/mask.py mask_px_scale)
    # rct, then broad a*/b* matched region by region (engine/swap/color_transfer.py): global
    # statistics cannot correct a regional difference such as a stubbled jaw or a blue-screen
    # cast beside it (issue 21: the demo's jaw seam and fringe past the limit on 120 and 117 of
    # 120 frames with rct, 4 and 6 with rct-local)
    color: str = "rct-local"  # none | rct | rct-local | lct | mkl | idt | sot | mix | hist | ...
    blend: str = "overlay"  # overlay | seamless | hist-overlay
    strength: float = 1.0  # mix of the swap over the plate, 0..1
    sharpen: float = 0.0  # unsharp amount on the swapped face
    # FaceEnhancer strength (needs EngineConfig.enhancer): 0 = today's pixels, nothing run
    enhance: float = 1.0
    motion_blur: float = 0.0  # shutter fraction of the face's motion between frames (needs track)
    output: str = "comp"  # comp | face | mask | landmarks
    morph: float = 0.75  # AMP .dfm models: morph towards the source (DeepFaceLive's default)

    def __post_init__(self) -> None:
        parse_mask_mode(self.mask_mode)
        check_blend_mode(self.blend)
        if self.color != "none" and self.color not in TRANSFERS:
            raise SettingsError(f"color {self.color!r} unknown; use none or "
                                f"{', '.join(TRANSFERS)}")
        for f in fields(self):
            if f.type not in ("float", "int"):
                continue
            value = getattr(self, f.name)
            lo, hi = bounds(f.name)
            name = f.name
            if not (math.isfinite(value) and lo <= value <= hi):
                raise SettingsError(f"--{name.replace('_', '-')} must be within {lo:g}..{hi:g}, "
                                    f"got {value!r}")
        if self.mask_units not in MASK_UNITS:
            raise SettingsError(f"mask_units {self.mask_units!r} unknown; use "
                                f"{', '.join(MASK_UNITS)}")
        if self.output not in OUTPUT_VIEWS:
            raise SettingsError(f"output {self.output!r} unknown; use {', '.join(OUTPUT_VIEWS)}")
        if self.face_index < 0:
            raise SettingsError(f"face_index must be ≥ 0, got {self.face_index}")

    def at_scale(self, scale: float) -> SwapLook:
        """This look for a render at `scale` (a host's proxy: 0.5 = half resolution): every
        knob that is a length in plate pixels (the parameter table's `unit="px"`: erode, blur)
        scaled with it, so the mask covers the same part of the face at any scale. The same
        object at scale 1, or when erode and blur are face-relative (`mask_units` "face":
        they follow the face's size on the plate already)."""
        if scale == 1.0 or self.mask_units == "face":
            return self
        return replace(self, **{k: getattr(self, k) * scale for k in PLATE_PIXEL_KNOBS})


CONFIG_KEYS = tuple(f.name for f in fields(EngineConfig))
LOOK_KEYS = tuple(f.name for f in fields(SwapLook))


@dataclass(frozen=True)
class SwapSettings:
    """The whole resolved setting: `config` (heavy) and `look` (per frame)."""

    config: EngineConfig = field(default_factory=EngineConfig)
    look: SwapLook = field(default_factory=SwapLook)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SwapSettings:
        """Build from one flat mapping of knob names (as `to_dict` writes and the CLI parses)."""
        unknown = sorted(set(values) - set(CONFIG_KEYS) - set(LOOK_KEYS))
        if unknown:
            raise SettingsError(f"unknown swap setting(s) {', '.join(unknown)}; known: "
                                f"{', '.join(CONFIG_KEYS + LOOK_KEYS)}")
        return cls(EngineConfig(**{k: v for k, v in values.items() if k in CONFIG_KEYS}),
                   SwapLook(**{k: v for k, v in values.items() if k in LOOK_KEYS}))

    def to_dict(self) -> dict[str, Any]:
        """One flat dictionary of every knob (what outputs record)."""
        return {**asdict(self.config), **asdict(self.look)}

    def with_values(self, **values: Any) -> SwapSettings:
        """A copy with some knobs changed, each routed to config or look by its name."""
        return SwapSettings.from_dict({**self.to_dict(), **values})

    def with_look(self, look: SwapLook) -> SwapSettings:
        return replace(self, look=look)


def values_to_settings(values: Mapping[str, Any]) -> tuple[EngineConfig, SwapLook]:
    """The engine's settings from a node's flat values (the parameter table's names; missing
    knobs take the table's defaults, keys of other targets are ignored)."""
    return settings_from_values(EngineConfig, values), settings_from_values(SwapLook, values)
