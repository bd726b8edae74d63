"""The per-frame engine (DESIGN.md §6): `FaceSwapper(model, settings).process(...)`.

For one frame: landmarks from the track (or detection) → Umeyama alignment to the model's face
type → crop the plate's face **region only** → scene-linear to the model's space (sRGB transfer)
→ ONNX swap → mask (learned/hull, erode/blur in plate pixels) → colour transfer in model space
→ optional sharpen / seamless / motion blur → back to linear → inverse warp over the face's ROI →
blend in linear light. Pixels where the final mask is 0 are not written at all, so highlights
above 1, negatives, NaNs outside the face, alpha and extra channels stay bit-exact.

Stateless per frame: the same inputs give the same pixels in any order or process; heavy state
(ONNX sessions, detector) is built once per instance.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from engine.align import align_matrix, crop_roi, face_type, transform_points, warp_from_crop
from engine.blend import check_blend_mode, motion_blur, overlay_into, seamless, sharpen
from engine.color import TRANSFERS, color_transfer, hist_match
from engine.colorspace import OcioTransfer, SrgbTransfer
from engine.errors import ModelError, SettingsError
from engine.infer import MaskModel, SwapModel
from engine.mask import combine_masks, hull_mask, parse_mask_mode, refine_mask
from engine.track import Track

OUTPUT_VIEWS = ("comp", "face", "mask", "landmarks")


def _border_window(size: int, fade: float = 0.04) -> np.ndarray:
    """1 inside, ramping to 0 over the outer `fade` of the crop: the crop's edge never shows."""
    ramp = np.clip((np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5) / (fade * size),
                   0.0, 1.0).astype(np.float32)
    return np.minimum.outer(ramp, ramp)


@dataclass(frozen=True)
class SwapSettings:
    """Every user-facing knob of the node and of `doppel render`, validated once."""

    model: str = ""
    face_index: int = 0  # without a track: which detected face, largest first
    face_type: str = ""  # "" = the model's; else must match it (guards against a wrong model)
    mask_mode: str = "learned-prd*learned-dst"
    erode: float = 0.0  # plate pixels; negative dilates
    blur: float = 8.0  # plate pixels of feather
    color: str = "rct"  # none | rct | lct | mkl | idt | sot | mix | hist
    blend: str = "overlay"  # overlay | seamless | hist-overlay
    strength: float = 1.0  # mix of the swap over the plate, 0..1
    sharpen: float = 0.0  # unsharp amount on the swapped face
    motion_blur: float = 0.0  # shutter fraction of the face's motion between frames (needs track)
    output: str = "comp"  # comp | face | mask | landmarks
    xseg: str = ""  # optional XSeg model (.onnx) for the xseg-prd / xseg-dst mask terms
    ocio_config: str = ""  # "" = sRGB transfer; else an OCIO config path or ocio:// URI
    ocio_plate_space: str = "Linear Rec.709 (sRGB)"  # the plates' space in that config
    ocio_model_space: str = "sRGB Encoded Rec.709 (sRGB)"  # the model's space in that config
    detector: str = "centerface"
    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        parse_mask_mode(self.mask_mode)
        check_blend_mode(self.blend)
        if self.color != "none" and self.color not in TRANSFERS:
            raise SettingsError(f"color {self.color!r} unknown; use none or "
                                f"{', '.join(TRANSFERS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise SettingsError(f"strength must be within 0..1, got {self.strength}")
        if self.blur < 0 or self.sharpen < 0 or self.motion_blur < 0:
            raise SettingsError("blur, sharpen and motion_blur must be ≥ 0")
        if self.output not in OUTPUT_VIEWS:
            raise SettingsError(f"output {self.output!r} unknown; use {', '.join(OUTPUT_VIEWS)}")
        if self.face_type:
            face_type(self.face_type)
        if self.face_index < 0:
            raise SettingsError(f"face_index must be ≥ 0, got {self.face_index}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SwapResult:
    image: np.ndarray  # H×W×C, the output view (comp by default)
    mask: np.ndarray  # H×W float32, the final blend mask in plate pixels
    diagnostics: dict[str, Any] = field(default_factory=dict)
    face: np.ndarray | None = None  # H×W×3 unblended swapped face (zero outside), on request


class FaceSwapper:
    """Heavy state once (model session, detector); `process` is pure per frame."""

    def __init__(self, settings: SwapSettings, model: SwapModel | None = None,
                 analyzer: Any = None):
        self.settings = settings
        if model is None:
            if not settings.model:
                raise SettingsError("no model given; set the model path (an exported .onnx)")
            model = SwapModel(settings.model, settings.device, settings.threads)
        self.model = model
        if settings.face_type and settings.face_type != model.info.face_type:
            raise ModelError(f"{model.info.path}: model is face type {model.info.face_type!r} "
                             f"but settings ask {settings.face_type!r}; use a matching model")
        self.ftype = face_type(model.info.face_type)
        self._border = _border_window(model.resolution)
        self._analyzer = analyzer
        self.xseg = MaskModel(settings.xseg, settings.device, settings.threads) \
            if settings.xseg else None
        self.transfer = (OcioTransfer(settings.ocio_config, settings.ocio_plate_space,
                                      settings.ocio_model_space)
                         if settings.ocio_config else SrgbTransfer())

    def _xseg_masks(self, xseg: MaskModel, lm: np.ndarray, m: np.ndarray, dst_srgb: np.ndarray,
                    swap: np.ndarray) -> dict[str, np.ndarray]:
        """XSeg on the plate's face (xseg-dst) and on the swapped face (xseg-prd), both brought
        into the swap crop; the XSeg model may use another resolution or face type."""
        r, rx = self.model.resolution, xseg.resolution
        mx = align_matrix(lm, rx, xseg.info.face_type)
        # swap crop -> xseg crop: mx ∘ m⁻¹ (both 2×3 image→crop similarities)
        inv = cv2.invertAffineTransform(m)
        to_x = mx[:, :2] @ inv[:, :2], mx[:, :2] @ inv[:, 2] + mx[:, 2]
        to_x = np.hstack([to_x[0], to_x[1][:, None]])
        faces = np.stack([cv2.warpAffine(img, to_x, (rx, rx), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE)
                          for img in (dst_srgb, swap)])
        masks = xseg.run(faces)
        back = [cv2.warpAffine(mk, to_x, (r, r), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) for mk in masks]
        return {"xseg-dst": back[0], "xseg-prd": back[1]}

    def check_track(self, track: Track) -> None:
        """Refuse a track made for another face type than the model's."""
        want = track.settings.get("face_type")
        if want and want != self.model.info.face_type:
            raise ModelError(f"{self.model.info.path}: model face type "
                             f"{self.model.info.face_type!r} differs from the track's {want!r}")

    @property
    def analyzer(self):
        if self._analyzer is None:
            from engine.analyze import FaceAnalyzer

            self._analyzer = FaceAnalyzer.create(self.settings.detector,
                                                 device=self.settings.device)
        return self._analyzer

    def _landmarks(self, pixels: np.ndarray, rgb_idx: list[int], frame: int,
                   track: Track | None, diag: dict[str, Any]) -> np.ndarray | None:
        if track is not None:
            diag["faces_found"] = int(frame in track.faces)
            return track.landmarks(frame) if frame in track.faces else None
        # Detection needs the whole frame (the only full-frame work; a track avoids it).
        finite = np.nan_to_num(pixels[..., rgb_idx], nan=0.0, posinf=1.0, neginf=0.0)
        faces = self.analyzer.analyze(finite)
        diag["faces_found"] = len(faces)
        if self.settings.face_index >= len(faces):
            return None
        return faces[self.settings.face_index].landmarks

    def _motion(self, frame: int, track: Track | None, img_to_crop: np.ndarray
                ) -> tuple[float, float]:
        s = self.settings.motion_blur
        if s <= 0 or track is None:
            return (0.0, 0.0)
        prev, nxt = frame - 1, frame + 1
        have = [f for f in (prev, nxt) if f in track.faces]
        if not have:
            return (0.0, 0.0)
        a = track.landmarks(prev if prev in track.faces else frame).mean(0)
        b = track.landmarks(nxt if nxt in track.faces else frame).mean(0)
        per_frame = (b - a) / (2 if len(have) == 2 else 1)
        v = img_to_crop[:, :2] @ per_frame * s  # plate px per frame → crop px over the shutter
        return (float(v[0]), float(v[1]))

    def process(self, pixels: np.ndarray, frame: int, track: Track | None = None,
                holdout: np.ndarray | None = None, channels: tuple[str, ...] | None = None,
                inplace: bool = False, want_face: bool = False) -> SwapResult:
        """Swap the face on one frame.

        `pixels`: `H×W×C` float32 scene-linear; `channels` names them (default R,G,B[,A,…]);
        `holdout`: optional `H×W` matte in [0, 1] where the swap must not show (the node's Mask
        input). With `inplace` the input array is modified and returned (saves a frame copy);
        `want_face` also returns the unblended swapped face as a plate-sized layer.
        """
        s = self.settings
        t_all = time.perf_counter()
        times: dict[str, float] = {}
        diag: dict[str, Any] = {"frame": frame, "swapped": False}
        names = channels or ("R", "G", "B", "A")[: pixels.shape[2]]
        try:
            rgb_idx = [names.index(c) for c in ("R", "G", "B")]
        except ValueError:
            raise SettingsError(f"frame {frame}: no R, G, B channels in {names}") from None
        out = pixels if inplace else pixels.copy()
        h, w = pixels.shape[:2]
        mask_full = np.zeros((h, w), np.float32)

        def lap(name: str, t0: float) -> float:
            now = time.perf_counter()
            times[name] = (now - t0) * 1000
            return now

        def pass_through(reason: str) -> SwapResult:
            diag.update(reason=reason, timings_ms=times)
            return SwapResult(out, mask_full, diag,
                              np.zeros((h, w, 3), np.float32) if want_face else None)

        t = time.perf_counter()
        lm = self._landmarks(pixels, rgb_idx, frame, track, diag)
        t = lap("landmarks", t)
        if lm is None:
            return pass_through("no face")

        r = self.model.resolution
        m = align_matrix(lm, r, self.ftype)
        roi0 = crop_roi(m, r, pixels.shape)
        x0, y0, x1, y1 = roi0
        if x1 <= x0 or y1 <= y0:
            return pass_through("face outside the frame")
        plate_roi = np.ascontiguousarray(pixels[y0:y1, x0:x1][..., rgb_idx], dtype=np.float32)
        # One reduction tells whether anything is non-finite; count only then (rare path).
        finite = bool(np.isfinite(plate_roi.sum(dtype=np.float64)))
        diag["nonfinite_fixed"] = 0 if finite else int((~np.isfinite(plate_roi)).sum())
        if diag["nonfinite_fixed"]:
            plate_roi = np.nan_to_num(plate_roi, nan=0.0, posinf=1.0, neginf=0.0)
        # The crop is resampled from the ROI alone: cost follows the face, not the plate.
        roi_to_crop = m.copy()
        roi_to_crop[:, 2] = m[:, 2] + m[:, :2] @ np.array([x0, y0], np.float64)
        dst_lin = cv2.warpAffine(plate_roi, roi_to_crop, (r, r), flags=cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_REPLICATE)
        dst_srgb = np.clip(self.transfer.to_model(dst_lin), 0.0, 1.0)
        t = lap("align_crop", t)

        swap, prd, dst_mask = (a[0] for a in self.model.run(dst_srgb[None]))
        t = lap("infer", t)

        lm_crop = transform_points(lm, m)
        sources = {"learned-prd": prd, "learned-dst": dst_mask, "hull": hull_mask(lm_crop, (r, r))}
        if self.xseg is not None:
            sources.update(self._xseg_masks(self.xseg, lm, m, dst_srgb, swap))
        mask = combine_masks(s.mask_mode, sources)
        px_scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        mask = refine_mask(mask, s.erode, s.blur, px_scale) * self._border
        t = lap("mask", t)

        if s.color != "none":
            swap = color_transfer(s.color, swap, dst_srgb, mask, mask)
        t = lap("color", t)

        if s.blend == "hist-overlay":
            swap = hist_match(swap, dst_srgb, mask, mask)
        swap = sharpen(swap, s.sharpen)
        if s.blend == "seamless":
            swap = seamless(dst_srgb, swap, mask)
        motion = self._motion(frame, track, m)
        if motion != (0.0, 0.0):
            swap = motion_blur(swap, motion)
            mask = motion_blur(mask, motion)
        swap_lin = self.transfer.to_linear(np.clip(swap, 0.0, 1.0))
        t = lap("face_fx", t)

        # Face and mask go back in one 4-channel warp, over the part of the ROI the mask covers.
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if rows.size == 0:
            return pass_through("empty mask")
        box = (cols[0] - 1.5, rows[0] - 1.5, cols[-1] + 1.5, rows[-1] + 1.5)
        bx0, by0, bx1, by1 = crop_roi(m, r, pixels.shape, box=box)
        x0, y0 = max(bx0, roi0[0]), max(by0, roi0[1])
        x1, y1 = max(min(bx1, roi0[2]), x0 + 1), max(min(by1, roi0[3]), y0 + 1)
        roi = (x0, y0, x1, y1)
        plate_roi = plate_roi[y0 - roi0[1]:y1 - roi0[1], x0 - roi0[0]:x1 - roi0[0]]
        back = warp_from_crop(np.dstack([swap_lin, mask]), m, roi)
        face_roi, mask_roi = back[..., :3], np.clip(back[..., 3], 0.0, 1.0)
        if holdout is not None:
            mask_roi *= 1.0 - np.clip(holdout[y0:y1, x0:x1], 0.0, 1.0)
        mask_roi *= s.strength
        t = lap("warp_back", t)

        sel = mask_roi > 0
        region = out[y0:y1, x0:x1]
        if s.output in ("comp", "face"):
            blended = face_roi
            if s.output == "comp":
                blended = overlay_into(np.ascontiguousarray(face_roi), plate_roi, mask_roi)
            # Written only where the mask is > 0: everything else stays bit-exact.
            for k, c in enumerate(rgb_idx):
                np.copyto(region[..., c], blended[..., k], where=sel)
        mask_full[y0:y1, x0:x1] = mask_roi
        if s.output == "mask":
            for c in rgb_idx:
                out[..., c] = mask_full
        elif s.output == "landmarks":
            for x, y in np.round(lm).astype(int):
                if 0 <= x < w and 0 <= y < h:
                    for c, v in zip(rgb_idx, (0.0, 1.0, 1.0), strict=True):
                        out[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2, c] = v
        face_full = None
        if want_face:
            face_full = np.zeros((h, w, 3), np.float32)
            face_full[y0:y1, x0:x1][sel] = face_roi[sel]
        lap("composite", t)
        times["total"] = (time.perf_counter() - t_all) * 1000
        diag.update(swapped=True, roi=[x0, y0, x1, y1], timings_ms=times)
        return SwapResult(out, mask_full, diag, face_full)
