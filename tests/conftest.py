"""Shared fixtures: the real sample media (fetched by `make samples`) and the heavy models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def pytest_collection_modifyitems(config, items):
    """Slow tests (minutes each) run only when asked: `-m slow`, or DOPPEL_SLOW_TESTS=1; the
    default suite must stay within its budget on a 2-core machine."""
    if "slow" in (config.getoption("-m") or "") or os.environ.get("DOPPEL_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow (minutes): run with -m slow or DOPPEL_SLOW_TESTS=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _user_cache_in_tmp(tmp_path_factory):
    """Caches across runs (model digests: engine.runtime.digest_cache) go to a folder of this
    session, not the user's cache, in this process and the commands it starts."""
    old = os.environ.get("DOPPEL_CACHE")
    os.environ["DOPPEL_CACHE"] = str(tmp_path_factory.mktemp("doppel-cache"))
    yield
    if old is None:
        os.environ.pop("DOPPEL_CACHE", None)
    else:
        os.environ["DOPPEL_CACHE"] = old


@pytest.fixture(scope="session")
def samples() -> Path:
    if not (SAMPLES / ".complete").is_file():
        pytest.fail("sample media missing: run 'make samples' (make test does it for you)")
    return SAMPLES


@pytest.fixture(scope="session")
def plate_pattern(samples: Path) -> str:
    return str(samples / "plate" / "plate.####.exr")


@pytest.fixture(scope="session")
def analyzer():
    from engine.geometry.analyzer import FaceAnalyzer

    return FaceAnalyzer.create("centerface", describe=True)


@pytest.fixture(scope="session")
def hog_analyzer():
    from engine.geometry.analyzer import FaceAnalyzer

    return FaceAnalyzer.create("hog", upsample=1)


@pytest.fixture(scope="session")
def photo_srgb(samples: Path):
    """Load a sample photo as sRGB uint8 RGB."""
    from engine.io import read_image

    def load(name: str) -> np.ndarray:
        img = read_image(samples / "photos" / name).rgb()
        return np.rint(img * 255).astype(np.uint8)

    return load


@pytest.fixture(scope="session")
def plate_faces(plate_pattern: str, analyzer):
    """{frame: [Face]} for every frame of the sample plate (analysed once per session)."""
    from engine.io import open_source

    src = open_source(plate_pattern)
    return {fr.number: analyzer.analyze(fr.rgb) for fr in src.read()}


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The bundled, trained demo model (committed; rebuilt by `make demo-model`)."""
    path = ROOT / "models" / "demo_df-ud_96.onnx"
    if not path.is_file():
        pytest.fail(f"{path} missing: it is committed with the repo (make demo-model rebuilds it)")
    return path


@pytest.fixture(scope="session")
def plate_track(plate_faces):
    """The sample plate's tracked and smoothed face (a Track, no file)."""
    from engine.geometry.track import select_track, smooth_track

    return smooth_track(select_track(plate_faces), radius=3)
