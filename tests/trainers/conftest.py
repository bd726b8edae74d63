"""Small real facesets from the sample media, shared by the trainer tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="trainer tests need torch (the train extra)")

TINY = dict(ae_dims=32, e_dims=8, d_dims=8, mask_dims=4)


@pytest.fixture(scope="session")
def facesets(tmp_path_factory, samples, analyzer) -> tuple[Path, Path]:
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    root = tmp_path_factory.mktemp("facesets")
    stills = root / "obama"
    stills.mkdir()
    for p in sorted((samples / "photos").glob("obama*.jpg")):
        shutil.copy(p, stills / p.name)
    s = ExtractSettings(size=64)
    extract(open_source(stills), root / "src", s, analyzer=analyzer)
    extract(open_source(samples / "plate" / "plate.####.exr"), root / "dst", s,
            frames=range(1001, 1041), analyzer=analyzer)
    return root / "src", root / "dst"


@pytest.fixture
def tiny_config(facesets, tmp_path):
    from trainers.config import TrainConfig

    def make(**kw):
        base = dict(src=str(facesets[0]), dst=str(facesets[1]), out=str(tmp_path / "model"),
                    arch="df-ud", resolution=64, batch_size=4, workers=0, precision="fp32",
                    save_every=1000, preview_every=1000, log_every=1, target_iters=4, **TINY)
        base.update(kw)
        return TrainConfig(**base).validate()

    return make
