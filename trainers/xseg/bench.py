"""A labelled XSeg benchmark whose truth is known exactly: real faces, real object photographs.

Faces are real aligned faces (the sample plate and stills, extracted as usual). Their *face
region* is the landmark hull of the clean face (`engine.swap.mask.hull_mask`, the same hull the
engine's `hull` mask mode draws). Occluders are cut from real photographs (scikit-image's sample
data) in random shapes (ellipses, blobs, bars like microphones or pens, hand-like palms with
fingers, the horse silhouette) and composited over the face at random places, scales and angles,
often entering from the crop's edge like a hand. The true mask is `hull × (1 − occluder alpha)`,
exact to the pixel, so the scores below measure the segmenter, not a labeller's guess.

Train and test never share a face or a photograph: `TRAIN_PHOTOS` and `TEST_PHOTOS` are
disjoint, and the test faces are frames/people absent from training.

Scores (per sample, averaged): IoU of the masks thresholded at 0.5, and the boundary F-score
(Csurka et al. 2013; DAVIS's F): precision/recall of boundary pixels matched within
`max(1, round(0.008 × diagonal))` px. The baseline is the landmark-hull mask of the *clean*
face's landmarks (the best a landmark mask can do, since it cannot see occluders).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from engine.swap.mask import hull_mask

TRAIN_PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "brick", "grass", "coins",
                "page")
TEST_PHOTOS = ("immunohistochemistry", "retina", "camera", "clock", "gravel", "colorwheel",
               "moon", "text")
SHAPES = ("ellipse", "blob", "bar", "hand")


@cache
def photo(name: str) -> np.ndarray:
    """A scikit-image sample photograph as float32 RGB in [0, 1] (bundled, no download)."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3], np.float32) / (255.0 if img.dtype == np.uint8
                                                            else 1.0)


@cache
def _horse() -> np.ndarray:
    from skimage import data

    return (~data.horse()).astype(np.float32)  # the horse is False on a True background


def _shape(rng: np.random.Generator, size: int, kind: str, centre: np.ndarray,
           extent: float) -> np.ndarray:
    """An anti-aliased occluder silhouette `size×size` in [0, 1], about `extent` px across."""
    shift = 4
    canvas = np.zeros((size, size), np.uint8)
    ang = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])

    def fill(pts: np.ndarray) -> None:
        p = np.round((pts @ rot.T + centre) * (1 << shift)).astype(np.int32)
        cv2.fillPoly(canvas, [p], 255, lineType=cv2.LINE_AA, shift=shift)

    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if kind == "ellipse":
        a, b = extent / 2, extent / 2 * rng.uniform(0.35, 1.0)
        fill(np.stack([a * np.cos(t), b * np.sin(t)], 1))
    elif kind == "blob":
        k = np.arange(1, 4)
        amp = rng.normal(0, 0.18, (3,)) / k
        ph = rng.uniform(0, 2 * np.pi, 3)
        r = extent / 2 * (1 + (amp[None] * np.cos(np.outer(t, k) + ph)).sum(1))
        fill(np.stack([r * np.cos(t), r * np.sin(t)], 1))
    elif kind == "bar":  # microphone, pen, stick: long, thin, from beyond the crop
        length, width = extent * rng.uniform(1.5, 2.5), extent * rng.uniform(0.12, 0.3)
        fill(np.array([[0, -width / 2], [length, -width / 2], [length, width / 2],
                       [0, width / 2]]))
        if rng.random() < 0.5:  # a round head
            fill(np.stack([width * np.cos(t), width * np.sin(t)], 1))
    elif kind == "hand":  # palm and four fingers pointing at the face, arm off-crop
        pw = extent * 0.5
        fill(np.stack([pw * 0.6 * np.cos(t) + pw * 0.9, pw * 0.5 * np.sin(t)], 1))
        fill(np.array([[pw, -pw * 0.3], [pw * 4, -pw * 0.3], [pw * 4, pw * 0.3],
                       [pw, pw * 0.3]]))  # forearm
        for i in range(4):
            y = (i - 1.5) * pw * 0.28
            fl = pw * rng.uniform(0.7, 1.1)
            fw = pw * 0.11
            fill(np.array([[pw * 0.5, y - fw], [-fl + pw * 0.4, y - fw],
                           [-fl + pw * 0.4, y + fw], [pw * 0.5, y + fw]]))
    elif kind == "horse":
        h = _horse()
        s = extent / max(h.shape)
        m = np.array([[s * np.cos(ang), -s * np.sin(ang), 0.0],
                      [s * np.sin(ang), s * np.cos(ang), 0.0]])
        m[:, 2] = centre - m[:, :2] @ np.array([h.shape[1] / 2, h.shape[0] / 2])
        return np.clip(cv2.warpAffine(h, m, (size, size), flags=cv2.INTER_AREA
                                      if s < 1 else cv2.INTER_LINEAR), 0, 1)
    else:
        raise ValueError(f"unknown occluder shape {kind!r}")
    return canvas.astype(np.float32) / 255.0


def _texture(rng: np.random.Generator, size: int, src: np.ndarray) -> np.ndarray:
    """A random rotated, scaled crop of a photograph covering `size×size`."""
    h, w = src.shape[:2]
    scale = rng.uniform(0.4, 1.2) * size / min(h, w) * 2
    ang = rng.uniform(-180, 180)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, scale)
    m[:, 2] += np.array([size / 2, size / 2]) - np.array([w / 2, h / 2])
    m[:, 2] += rng.uniform(-0.3, 0.3, 2) * size * scale
    tex = cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_AREA if scale < 1
                         else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.6, 1.3)
    return np.clip(tex * gain, 0, 1).astype(np.float32)


def occlude(face: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
            photos: tuple[str, ...], shapes: tuple[str, ...] = SHAPES
            ) -> tuple[np.ndarray, np.ndarray]:
    """Composite one occluder over an aligned face (`S×S×3` sRGB [0, 1]); returns
    (image, occluder alpha `S×S`). The occluder overlaps the face hull."""
    size = face.shape[0]
    hull = hull_mask(landmarks, (size, size))
    ys, xs = np.nonzero(hull > 0.5)
    i = rng.integers(len(xs))
    kind = shapes[rng.integers(len(shapes))]
    extent = size * rng.uniform(0.4, 0.8)
    centre = np.array([xs[i], ys[i]], np.float64)
    if kind in ("ellipse", "blob", "horse"):
        centre = centre + rng.normal(0, size * 0.05, 2)
    alpha = _shape(rng, size, kind, centre, extent)
    if rng.random() < 0.3:  # defocused edge
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.3, 1.0) * size / 128)
    tex = _texture(rng, size, photo(photos[rng.integers(len(photos))]))
    a = alpha[..., None]
    return (face * (1 - a) + tex * a).astype(np.float32), alpha


@dataclass
class BenchSet:
    """Composited faces, their exact masks and the landmark-hull baseline, `N×S×S(×3)`."""

    images: np.ndarray
    truth: np.ndarray
    hull: np.ndarray
    names: list[str]


def make_set(faces: list[tuple[str, np.ndarray, np.ndarray]], per_face: int, seed: int,
             photos: tuple[str, ...], shapes: tuple[str, ...] = SHAPES, clean: float = 0.0
             ) -> BenchSet:
    """`faces`: (name, crop `S×S×3` sRGB [0, 1], crop landmarks `68×2`). Each face gets
    `per_face` composites; a fraction `clean` of them get no occluder."""
    rng = np.random.default_rng(seed)
    images, truth, hulls, names = [], [], [], []
    for name, crop, lm in faces:
        size = crop.shape[0]
        hull = hull_mask(lm, (size, size))
        for j in range(per_face):
            if rng.random() < clean:
                img, alpha = crop.astype(np.float32), np.zeros((size, size), np.float32)
            else:
                img, alpha = occlude(crop, lm, rng, photos, shapes)
            images.append(img)
            truth.append(hull * (1 - alpha))
            hulls.append(hull)
            names.append(f"{name}#{j}")
    return BenchSet(np.stack(images), np.stack(truth), np.stack(hulls), names)


# -- scores ------------------------------------------------------------------------------------
def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    p, t = pred > 0.5, truth > 0.5
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def _boundary(b: np.ndarray) -> np.ndarray:
    b8 = b.astype(np.uint8)
    return (b8 - cv2.erode(b8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                           borderValue=0)) > 0


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: int | None = None) -> float:
    """Boundary F-score of two masks (thresholded at 0.5); `tolerance` in px (default 0.8 % of
    the diagonal, at least 1)."""
    h, w = truth.shape
    tol = tolerance if tolerance is not None else max(1, round(0.008 * np.hypot(h, w)))
    bp, bt = _boundary(pred > 0.5), _boundary(truth > 0.5)
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    dt_t = cv2.distanceTransform((~bt).astype(np.uint8), cv2.DIST_L2, 3)
    dt_p = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float((dt_t[bp] <= tol).mean())
    recall = float((dt_p[bt] <= tol).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def scores(masks: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Mean IoU and boundary F over a set (`N×S×S`)."""
    return {"iou": float(np.mean([iou(m, t) for m, t in zip(masks, truth, strict=True)])),
            "boundary_f": float(np.mean([boundary_f(m, t)
                                         for m, t in zip(masks, truth, strict=True)]))}


# -- building and running ---------------------------------------------------------------------
def write_labelled_faceset(out, faces: list[tuple[str, np.ndarray, np.ndarray]],
                           face_type: str, seed: int, photos: tuple[str, ...] = TRAIN_PHOTOS,
                           clean: float = 0.15):
    """A faceset at `out` of `faces` (name, crop, crop landmarks) with an occluder composited
    over each crop and its exact mask stored as the face's XSeg label, as an imported roto would
    be. Entries are framed as the crops themselves (identity matrix)."""
    from pathlib import Path

    from engine.faceset import store as fsmod
    from engine.io import write_image
    from trainers.xseg.labels import Label, LabelReport, save_labels

    out = Path(out)
    fs = fsmod.Faceset(out, face_type, faces[0][1].shape[0], {"xseg_benchmark": seed})
    typed = getattr(fsmod, "FaceEntry", None)
    report = LabelReport()
    for i, (name, crop, lm) in enumerate(faces):
        one = make_set([(name, crop, lm)], 1, seed + i, photos, clean=clean)
        size = crop.shape[0]
        entry = {"file": fsmod.crop_name(i, 0), "source": name, "frame": i, "face": 0,
                 "bbox": [0.0, 0.0, float(size), float(size)], "score": 1.0,
                 "landmarks": np.asarray(lm).tolist(), "landmarks_crop": np.asarray(lm).tolist(),
                 "matrix": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "face_type": face_type,
                 "pose": [0.0, 0.0, 0.0], "detector": "", "landmarker": "", "mask": None}
        write_image(out / entry["file"], one.images[0])
        fs.entries.append(typed(**entry) if typed is not None else entry)
        report.labels.append(Label(f"{i:06d}_00", one.truth[0], np.ones_like(one.truth[0]),
                                   f"benchmark {name} seed {seed + i}"))
    fs.save()
    save_labels(fs, report)
    return fs


def aligned_faces(frames: dict, landmarks: dict, size: int, face_type: str = "full"
                  ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, crop, crop landmarks) from scene-linear frames `{name: H×W×3}` and their 68-point
    landmarks `{name: 68×2}`, aligned as extraction does."""
    from engine.geometry.align import align_matrix, transform_points, warp_to_crop
    from engine.io.colorspace import linear_to_srgb

    out = []
    for name, rgb in frames.items():
        m = align_matrix(landmarks[name], size, face_type)
        crop = np.clip(linear_to_srgb(warp_to_crop(rgb, m, size)), 0, 1).astype(np.float32)
        out.append((name, crop, transform_points(landmarks[name], m)))
    return out


def predict(model, images: np.ndarray) -> np.ndarray:
    """An XSeg ONNX model (`engine.swap.infer.MaskModel`) over faces of its framing `N×S×S×3`."""
    from trainers.xseg.apply import masks_for

    out = [masks_for(model, images[i:i + 16], [None] * len(images[i:i + 16]), images.shape[1])
           for i in range(0, len(images), 16)]
    return np.concatenate(out)


def plate_and_still_faces(plate_pattern: str, track, analyzer, photos_dir, size: int,
                          train_frames: list[int], test_frames: list[int]):
    """The benchmark's faces: `train_frames` and `test_frames` of the sample plate (landmarks
    from its smoothed track) and every still in `photos_dir` (detected with `analyzer`), aligned
    as full faces at `size`. Returns (train, test); the stills (other people) are test only."""
    from pathlib import Path

    from engine.io import open_source, read_image
    from engine.io.colorspace import srgb_to_linear

    frames, lms = {}, {}
    for fr in open_source(plate_pattern).read(train_frames + test_frames):
        if isinstance(fr, Exception):
            raise fr
        frames[f"plate.{fr.number}"] = fr.rgb
        lms[f"plate.{fr.number}"] = track.landmarks(fr.number)
    for p in sorted(Path(photos_dir).iterdir()):
        rgb = srgb_to_linear(read_image(p).rgb())
        faces = analyzer.analyze(rgb)
        if faces:
            frames[p.stem], lms[p.stem] = rgb, faces[0].landmarks
    aligned = aligned_faces(frames, lms, size)
    train_names = {f"plate.{f}" for f in train_frames}
    return ([f for f in aligned if f[0] in train_names],
            [f for f in aligned if f[0] not in train_names])


def run_benchmark(train, test, out, resolution: int, iters: int, width: int = 8,
                  lr: float = 1e-3, batch: int = 8, per_face: int = 4, seed: int = 1,
                  log=print) -> dict:
    """Label `train` faces with training occluders, train and export an XSeg model, and score it
    against the landmark hull on `test` faces with unseen occluders. Returns the figures and
    the exported model's path."""
    import time
    from pathlib import Path

    from engine.swap.infer import MaskModel
    from trainers.xseg.export import export_xseg
    from trainers.xseg.train import XSegConfig, XSegTrainer

    out = Path(out)
    write_labelled_faceset(out / "labelled", train, "full", seed)
    cfg = XSegConfig(facesets=[str(out / "labelled")], out=str(out / "model"),
                     resolution=resolution, width=width, batch_size=batch, lr=lr,
                     target_iters=iters, save_every=max(iters, 1), preview_every=max(iters, 1),
                     log_every=max(iters // 20, 1), seed=seed)
    t0 = time.perf_counter()
    XSegTrainer(cfg, resume=True, log=log).run()
    train_s = time.perf_counter() - t0
    model_path = out / "xseg.onnx"
    export_xseg(out / "model", model_path)
    ts = make_set(test, per_face, seed + 1000, TEST_PHOTOS)
    pred = predict(MaskModel(model_path, "cpu"), ts.images)
    people = np.array([not n.startswith("plate.") for n in ts.names])
    result = {"train_faces": len(train), "test_samples": len(ts.names), "resolution": resolution,
              "iterations": iters, "train_seconds": round(train_s, 1),
              "xseg": scores(pred, ts.truth), "hull": scores(ts.hull, ts.truth),
              "model": str(model_path)}
    for name, sel in (("same_shot", ~people), ("other_people", people)):
        if sel.any():
            result[f"xseg_{name}"] = scores(pred[sel], ts.truth[sel])
            result[f"hull_{name}"] = scores(ts.hull[sel], ts.truth[sel])
    return result
