"""The per-frame engine (DESIGN.md §6): `FaceSwapper(config).process(src, frame, look=...)`.

For one frame: landmarks from the track (or detection) → Umeyama alignment to the model's face
type → crop the plate's face **region only** → scene-linear to the model's space (sRGB transfer)
→ ONNX swap → mask (learned/hull, erode/blur in % of the face or plate pixels) → colour
transfer in model space → optional sharpen / seamless / motion blur → back to linear → inverse
warp over the face's ROI → blend in linear light. Pixels where the final mask is 0 are not
written at all, so highlights above 1, negatives, NaNs outside the face, alpha and extra
channels stay bit-exact.

Stateless per frame: the same inputs give the same pixels in any order, thread or process;
heavy state (ONNX sessions, detector, colour processor) is built once per instance from its
`EngineConfig`, and the per-frame `SwapLook` is an argument of each call.

Thread safety: one `FaceSwapper` may be shared by any number of threads. `process` and `roi`
keep no per-call state on the instance; ONNX Runtime sessions run concurrently (their `run` is
thread-safe); the detector (used only without a track) is created under a lock on first use and
its calls are serialised by that lock, since dlib's objects make no thread-safety promise.
Separate instances share nothing and may run in parallel freely.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import DTypeLike

from engine.errors import ModelError, SettingsError
from engine.geometry.align import (
    FaceType,
    align_matrix,
    crop_read_box,
    crop_roi,
    face_type,
    mean_face,
    transform_points,
    warp_from_crop,
    warp_to_crop,
)
from engine.geometry.track import Track
from engine.io.colorspace import OcioTransfer, SrgbTransfer
from engine.io.finite import finite_rgb
from engine.swap.blend import motion_blur, overlay_into, seamless, sharpen
from engine.swap.color_transfer import FACE_MASK_TRANSFERS, color_transfer, hist_match
from engine.swap.enhance import (
    Enhancer,
    check_pair,
    read_enhancer_info,
    scaled_matrix,
    upscale,
)
from engine.swap.enhance import detail as enhancer_detail
from engine.swap.fit import fit_region, reconstruction_error
from engine.swap.infer import MaskModel, ModelInfo, SwapModel
from engine.swap.mask import combine_masks, edge_ring, hull_mask, mask_px_scale, refine_mask
from engine.swap.models import load_swap_model
from engine.swap.params import OUTPUT_VIEWS
from engine.swap.settings import EngineConfig, SwapLook, SwapSettings
from engine.types import Box

__all__ = ["OUTPUT_VIEWS", "EngineConfig", "FaceSwapper", "SwapLook", "SwapResult",
           "SwapSettings"]

STATS_RING = 0.1  # colour statistics: the mask's inner ring, this fraction of the crop wide


def _border_window(size: int, fade: float = 0.04) -> np.ndarray:
    """1 inside, ramping to 0 over the outer `fade` of the crop: the crop's edge never shows."""
    ramp = np.clip((np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5) / (fade * size),
                   0.0, 1.0).astype(np.float32)
    return np.minimum.outer(ramp, ramp)


def forehead_lift(ftype: FaceType, fade: float = 0.04) -> float:
    """How far the swap's hull mask lifts the brows (`swap.mask.hull_points`) for a model of
    face type `ftype`: the compositor's 1/4 of the brow-to-chin height where the crop holds that
    much forehead, else only as far as keeps the hull's top two border fades (`fade` of the
    crop each) inside the crop. A mask reaching the crop's top is cut straight by the border
    window, exactly where the model paints the source's hairline: the band across the forehead
    (issue 21). `full` crops hold 0.21 of the half-face above the brows: lift 0.08."""
    extent = 1.0 + 2.0 * ftype.padding
    above_brows = ftype.padding + ftype.shift * extent  # unit frame, the mean face's brows at 0
    mf = mean_face()
    chin_below_bridge = float(mf[8, 1] - mf[27, 1])
    room = above_brows - 2.0 * fade * extent
    return float(np.clip(room / chin_below_bridge, 0.0, 0.25))


@dataclass
class SwapResult:
    """What `process` made of one frame.

    `image` is the output view (`H×W×C`, the `out` buffer). The swap's own pixels travel over
    `roi` only (`(x0, y0, x1, y1)` in the source's pixel grid, exclusive ends; None where the
    frame passed through): `mask_roi` (`h×w` float32, the final blend mask, strength and holdout
    included) and `face_roi` (`h×w×3` float32, the unblended swapped face, scene-linear).
    Plate-sized layers are built only when a caller asks (`mask`, `face_layer`).
    """

    image: np.ndarray
    shape: tuple[int, int]  # (H, W) of the source
    roi: Box | None = None
    mask_roi: np.ndarray | None = None
    face_roi: np.ndarray | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """The blend mask over the whole source (`H×W` float32, 0 outside `roi`)."""
        return self.mask_as(np.float32)

    def mask_as(self, dtype: DTypeLike) -> np.ndarray:
        """`mask` in `dtype` (float16 for a half output: rounded by numpy, to nearest even)."""
        full = np.zeros(self.shape, dtype)
        if self.roi is not None and self.mask_roi is not None:
            x0, y0, x1, y1 = self.roi
            full[y0:y1, x0:x1] = self.mask_roi
        return full

    def face_layer(self, dtype: DTypeLike = np.float32) -> np.ndarray:
        """The unblended swapped face over the whole source (`H×W×3`, float32 unless `dtype`
        says), zero where the mask is 0."""
        full = np.zeros((*self.shape, 3), dtype)
        if self.roi is not None and self.face_roi is not None and self.mask_roi is not None:
            x0, y0, x1, y1 = self.roi
            sel = self.mask_roi > 0
            full[y0:y1, x0:x1][sel] = self.face_roi[sel]
        return full


def check_face_types(config: EngineConfig, model: ModelInfo, track: Track | None) -> None:
    """Refuse a model of another face type than the settings ask, or than the track was made
    for (a check on model metadata: needs no session)."""
    if config.face_type and config.face_type != model.face_type:
        raise ModelError(f"{model.path}: model is face type {model.face_type!r} but settings "
                         f"ask {config.face_type!r}; use a matching model")
    want = track.settings.get("face_type") if track is not None else None
    if want and want != model.face_type:
        raise ModelError(f"{model.path}: model face type {model.face_type!r} differs from the "
                         f"track's {want!r}")


class FaceSwapper:
    """Heavy state once per instance (`EngineConfig`); `process` and `roi` are pure per frame."""

    def __init__(self, config: EngineConfig, model: SwapModel | None = None,
                 analyzer: Any = None, spinning: bool = True):
        """`spinning=False` lets ONNX Runtime's threads sleep between runs (engine.runtime.onnxrt):
        for callers whose own threads share the cores, as the render pipeline's do."""
        if not isinstance(config, EngineConfig):
            raise SettingsError(f"FaceSwapper takes an EngineConfig, got {type(config).__name__}"
                                " (a SwapSettings splits into .config and .look)")
        self.config = config
        if model is None:
            if not config.model:
                raise SettingsError("no model given; set the model path (an exported .onnx)")
            model = load_swap_model(config.model, config.device, config.threads, spinning,
                                    config.face_type)
        self.model = model
        check_face_types(config, model.info, None)
        self.ftype = face_type(model.info.face_type)
        self._border = _border_window(model.resolution)
        self._lift = forehead_lift(self.ftype)
        self._analyzer = analyzer
        self._detect_lock = threading.Lock()
        self.xseg = MaskModel(config.xseg, config.device, config.threads, spinning) \
            if config.xseg else None
        # The enhancer's pairing is checked now (metadata only); its session is built on the
        # first frame that asks for it (enhance > 0), so enhance 0 costs nothing.
        self.enhancer_info = None
        if config.enhancer:
            self.enhancer_info = read_enhancer_info(config.enhancer)[0]
            check_pair(self.enhancer_info, model.info)
        self._enhancer: Enhancer | None = None
        self._enhancer_lock = threading.Lock()
        self._spinning = spinning
        self.transfer = (OcioTransfer(config.ocio_config, config.ocio_plate_space,
                                      config.ocio_model_space)
                         if config.ocio_config else SrgbTransfer())

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

    def _enhance(self, swap: np.ndarray) -> np.ndarray:
        """The enhancer's detail for one swapped crop (`R×R×3` model space), `2R×2R×3`
        (`engine.swap.enhance.detail`). The session is built once, under the lock."""
        with self._enhancer_lock:
            if self._enhancer is None:
                self._enhancer = Enhancer(self.config.enhancer, self.config.device,
                                          self.config.threads, self._spinning)
        return enhancer_detail(self._enhancer.run(swap[None])[0], swap)

    def _detect(self, rgb_linear: np.ndarray) -> list[Any]:
        """Faces on a whole frame, largest first; the detector is built once, under the lock."""
        with self._detect_lock:
            if self._analyzer is None:
                from engine.geometry.analyzer import FaceAnalyzer

                self._analyzer = FaceAnalyzer.create(self.config.detector,
                                                     device=self.config.device)
            return self._analyzer.analyze(rgb_linear)

    def _landmarks(self, src: np.ndarray, rgb_idx: list[int], frame: int, look: SwapLook,
                   track: Track | None, diag: dict[str, Any]) -> np.ndarray | None:
        if track is not None:
            diag["faces_found"] = int(frame in track.faces)
            return track.landmarks(frame) if frame in track.faces else None
        # Detection needs the whole frame (the only full-frame work; a track avoids it).
        rgb, _ = finite_rgb(np.asarray(src[..., rgb_idx], np.float32))
        faces = self._detect(rgb)
        diag["faces_found"] = len(faces)
        if look.face_index >= len(faces):
            return None
        return faces[look.face_index].landmarks

    def _read_box(self, m: np.ndarray, shape: tuple[int, ...] | None) -> Box:
        """The plate region the aligned crop is resampled from (clipped when `shape` is given)."""
        return crop_read_box(m, self.model.resolution, shape)

    def roi(self, frame: int, track: Track | None, look: SwapLook,
            shape: tuple[int, ...] | None = None) -> Box | None:
        """The plate rectangle `(x0, y0, x1, y1)` (exclusive ends) that `process` reads and
        writes on `frame`; None where the frame passes through unchanged (no tracked face).

        Outside this rectangle the output is the source (views comp, face, landmarks) or the
        source with black RGB (view mask), so a host can fetch and render only this region.
        Without a track the frame must be detected whole: the full plate (needs `shape`).
        `shape` (`(H, W, …)`) clips the rectangle to the plate; without it the rectangle may
        reach outside the plate (hosts clip to their region of definition).
        """
        if track is None:
            if shape is None:
                raise SettingsError("roi without a track needs the plate shape: detection "
                                    "reads the whole frame")
            return (0, 0, int(shape[1]), int(shape[0]))
        if frame not in track.faces:
            return None
        lm = track.landmarks(frame)
        box = self._read_box(align_matrix(lm, self.model.resolution, self.ftype), shape)
        if look.output == "landmarks":  # the dots may lie outside the crop (half face type)
            x, y = np.round(lm).astype(int).T
            box = (min(box[0], int(x.min()) - 1), min(box[1], int(y.min()) - 1),
                   max(box[2], int(x.max()) + 2), max(box[3], int(y.max()) + 2))
            if shape is not None:
                h, w = shape[:2]
                box = (max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h))
        if box[2] <= box[0] or box[3] <= box[1]:
            return None
        return box

    def _motion(self, frame: int, look: SwapLook, track: Track | None,
                img_to_crop: np.ndarray) -> tuple[float, float]:
        s = look.motion_blur
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

    @staticmethod
    def _output_buffer(src: np.ndarray, out: np.ndarray | None, frame: int) -> np.ndarray:
        if src.ndim != 3 or src.shape[2] < 3 or src.dtype not in (np.float32, np.float16):
            raise SettingsError(f"frame {frame}: source must be float32 (or float16) H×W×C "
                                f"with C ≥ 3, got "
                                f"{src.dtype} {src.shape}")
        if out is None:
            return src.copy()  # C-contiguous whatever the source's strides
        if out.shape != src.shape or out.dtype != src.dtype:
            raise SettingsError(f"frame {frame}: out buffer is {out.dtype} {out.shape}, the "
                                f"source {src.dtype} {src.shape}; give a matching buffer")
        if not out.flags.writeable:
            raise SettingsError(f"frame {frame}: out buffer is read-only")
        if out is not src:
            np.copyto(out, src)
        return out

    def process(self, src: np.ndarray, frame: int, *, look: SwapLook,
                track: Track | None = None, holdout: np.ndarray | None = None,
                out: np.ndarray | None = None, channels: tuple[str, ...] | None = None,
                composite: bool = True) -> SwapResult:
        """Swap the face on one frame.

        `src`: `H×W×C` float32 scene-linear, read only, any strides (a host's bottom-up buffer
        is a negative-stride view), or float16 (a half plate for a half output: the swap
        computes in float32 over its ROI and the output is rounded to half where it changes);
        `channels` names its channels (default R,G,B[,A,…]).
        `out`: where to write the output (same shape and dtype, any strides); None allocates
        it. `out` may be `src` itself (in place, as `doppel render` does: saves a frame copy);
        every read of `src` happens before the first write.
        `holdout`: optional `H×W` matte in [0, 1] where the swap must not show (the node's Mask
        input). Returns the output (`image`, which is `out`), the rectangle the swap wrote with
        its mask and face over it (`SwapResult`), and diagnostics.
        `composite=False`: the output view is not made (`image` is `out` with the source's
        pixels): for a caller that writes only the face and mask over the ROI (the face-region
        output), which then costs no per-pixel blend over the face's area.
        """
        t_all = time.perf_counter()
        times: dict[str, float] = {}
        diag: dict[str, Any] = {"frame": frame, "swapped": False}
        names = channels or ("R", "G", "B", "A")[: src.shape[2]]
        try:
            rgb_idx = [names.index(c) for c in ("R", "G", "B")]
        except ValueError:
            raise SettingsError(f"frame {frame}: no R, G, B channels in {names}") from None
        out = self._output_buffer(src, out, frame)
        h, w = src.shape[:2]

        def lap(name: str, t0: float) -> float:
            now = time.perf_counter()
            times[name] = (now - t0) * 1000
            return now

        def pass_through(reason: str) -> SwapResult:
            diag.update(reason=reason, timings_ms=times)
            return SwapResult(out, (h, w), diagnostics=diag)

        t = time.perf_counter()
        lm = self._landmarks(src, rgb_idx, frame, look, track, diag)
        t = lap("landmarks", t)
        if lm is None:
            return pass_through("no face")

        r = self.model.resolution
        m = align_matrix(lm, r, self.ftype)
        roi0 = self._read_box(m, src.shape)
        x0, y0, x1, y1 = roi0
        if x1 <= x0 or y1 <= y0:
            return pass_through("face outside the frame")
        rgb_sel = slice(0, 3) if rgb_idx == [0, 1, 2] else rgb_idx  # a slice copies once
        plate_roi = np.ascontiguousarray(src[y0:y1, x0:x1][..., rgb_sel], dtype=np.float32)
        plate_roi, diag["nonfinite_fixed"] = finite_rgb(plate_roi)
        # The crop is resampled from the ROI alone: cost follows the face, not the plate.
        dst_lin = warp_to_crop(plate_roi, m, r, origin=(x0, y0))  # the extraction/training crop
        dst_srgb = np.clip(self.transfer.to_model(dst_lin), 0.0, 1.0)
        t = lap("align_crop", t)

        swap, prd, dst_mask, dst_face = (None if a is None else a[0] for a in
                                         self.model.run_all(dst_srgb[None], morph=look.morph))
        t = lap("infer", t)
        detail = None
        if self.enhancer_info is not None and look.enhance > 0:
            # On the model's own output, as trained (trainers/enhancer): the detail this
            # autoencoder loses for this person, added after colour and the face effects.
            detail = self._enhance(swap)
            t = lap("enhance", t)

        lm_crop = transform_points(lm, m)
        if dst_face is not None:  # how well the model knows this face (engine/swap/fit.py)
            diag["fit_error"] = reconstruction_error(dst_srgb, dst_face, fit_region(lm_crop, r))
        sources = {"learned-prd": prd, "learned-dst": dst_mask,
                   "hull": hull_mask(lm_crop, (r, r), self._lift)}
        if self.xseg is not None:
            sources.update(self._xseg_masks(self.xseg, lm, m, dst_srgb, swap))
        mask = combine_masks(look.mask_mode, sources)
        px_scale = mask_px_scale(look.mask_units, m, r, self.ftype.padding)
        mask = refine_mask(mask, look.erode, look.blur, px_scale) * self._border
        t = lap("mask", t)

        if look.color != "none":
            # Statistics along the mask's inner edge, where swap and plate meet and must match;
            # the face's middle (eyes, brows, mouth, beard) differs between two people and
            # biased the match (issue 21: the seam; docs/evaluation.md). DeepFaceLab's own
            # modes get the face mask, as in DFL (color_transfer.FACE_MASK_TRANSFERS).
            stats = (mask if look.color in FACE_MASK_TRANSFERS
                     else edge_ring(mask, STATS_RING * r))
            swap = color_transfer(look.color, swap, dst_srgb, stats, stats)
        t = lap("color", t)

        if look.blend == "hist-overlay":
            swap = hist_match(swap, dst_srgb, mask, mask)
        swap = sharpen(swap, look.sharpen)
        if look.blend == "seamless":
            swap = seamless(dst_srgb, swap, mask)
        motion = self._motion(frame, look, track, m)
        if motion != (0.0, 0.0):
            swap = motion_blur(swap, motion)
            mask = motion_blur(mask, motion)
        warp_m = m
        if detail is not None:  # the warp back samples the 2× crop: real detail on a big face
            if motion != (0.0, 0.0):
                detail = motion_blur(detail, (2 * motion[0], 2 * motion[1]))
            swap = upscale(swap) + np.float32(look.enhance) * detail
            warp_m = scaled_matrix(m)
        swap_lin = self.transfer.to_linear(np.clip(swap, 0.0, 1.0))
        t = lap("face_fx", t)

        # Face and mask go back in one 4-channel warp, over the part of the ROI the mask covers.
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if rows.size == 0:
            return pass_through("empty mask")
        box = (cols[0] - 1.5, rows[0] - 1.5, cols[-1] + 1.5, rows[-1] + 1.5)
        bx0, by0, bx1, by1 = crop_roi(m, r, src.shape, box=box)
        x0, y0 = max(bx0, roi0[0]), max(by0, roi0[1])
        x1, y1 = max(min(bx1, roi0[2]), x0 + 1), max(min(by1, roi0[3]), y0 + 1)
        roi = (x0, y0, x1, y1)
        plate_roi = plate_roi[y0 - roi0[1]:y1 - roi0[1], x0 - roi0[0]:x1 - roi0[0]]
        back = warp_from_crop(np.dstack([swap_lin, mask if warp_m is m else upscale(mask)]),
                              warp_m, roi)
        # The cubic warp overshoots beside dark and bright edges: the face is bounded to the
        # range it had in linear light before the warp (the clip above is in model space and
        # comes before it; issue 21: negative linear values in the comp), the mask to [0, 1].
        # One per-channel clip of the 4-channel warp (OpenCV's, with a scalar per channel:
        # 15× numpy's broadcast clip over a big face; the same values, nothing here is NaN).
        flat = swap_lin.reshape(-1, 3)
        lo, hi = flat.min(0), flat.max(0)
        bounds_lo = (float(lo[0]), float(lo[1]), float(lo[2]), 0.0)
        bounds_hi = (float(hi[0]), float(hi[1]), float(hi[2]), 1.0)
        cv2.max(back, bounds_lo, dst=back)
        cv2.min(back, bounds_hi, dst=back)
        face_roi, mask_roi = back[..., :3], back[..., 3].copy()
        if holdout is not None:
            mask_roi *= 1.0 - np.clip(holdout[y0:y1, x0:x1], 0.0, 1.0)
        mask_roi *= look.strength
        t = lap("warp_back", t)

        if not composite:
            lap("composite", t)
            times["total"] = (time.perf_counter() - t_all) * 1000
            diag.update(swapped=True, timings_ms=times)
            return SwapResult(out, (h, w), (x0, y0, x1, y1), mask_roi, face_roi, diag)
        sel = mask_roi > 0
        region = out[y0:y1, x0:x1]
        if look.output in ("comp", "face"):
            blended = face_roi
            if look.output == "comp":
                blended = overlay_into(face_roi.copy(), plate_roi, mask_roi)  # keeps face_roi
            # Written only where the mask is > 0: everything else stays bit-exact.
            for k, c in enumerate(rgb_idx):
                np.copyto(region[..., c], blended[..., k], where=sel)
        if look.output == "mask":
            for c in rgb_idx:
                out[..., c] = 0.0
                out[y0:y1, x0:x1, c] = mask_roi
        elif look.output == "landmarks":
            for x, y in np.round(lm).astype(int):
                if 0 <= x < w and 0 <= y < h:
                    for c, v in zip(rgb_idx, (0.0, 1.0, 1.0), strict=True):
                        out[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2, c] = v
        lap("composite", t)
        times["total"] = (time.perf_counter() - t_all) * 1000
        diag.update(swapped=True, timings_ms=times)
        return SwapResult(out, (h, w), (x0, y0, x1, y1), mask_roi, face_roi, diag)
