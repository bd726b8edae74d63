"""The FaceEnhancer trainer: pairs from the swap model's own reconstructions, a few steps on a tiny
faceset, exact resume, export with the metadata the engine pairs it by, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="trainer tests need torch (the train extra)")

from engine.errors import FacesetError, SettingsError  # noqa: E402


@pytest.fixture(scope="module")
def src192(tmp_path_factory, samples, analyzer) -> Path:
    """The demo model's src faces (three Obama photos) at 2× its 96 px."""
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    root = tmp_path_factory.mktemp("enh_facesets")
    stills = root / "obama"
    stills.mkdir()
    for p in sorted((samples / "photos").glob("obama*.jpg")):
        shutil.copy(p, stills / p.name)
    extract(open_source(stills), root / "src192", ExtractSettings(size=192), analyzer=analyzer)
    return root / "src192"


def _cfg(model, faceset, out, **kw):
    from trainers.enhancer.config import EnhancerConfig

    base = dict(model=str(model), faceset=str(faceset), out=str(out), width=8, blocks=1,
                patch=16, batch_size=2, target_iters=4, save_every=2, preview_every=2,
                log_every=1, threads=1, device="cpu")
    base.update(kw)
    return EnhancerConfig(**base)


def test_pairs_are_the_models_reconstruction_and_the_face_at_twice_its_size(demo_model, src192):
    from engine.swap.infer import SwapModel
    from trainers.enhancer.data import draw_batch, load_pairs

    bank = load_pairs(src192, SwapModel(demo_model, "cpu", 1))
    n = len(bank.names)
    assert bank.recon.shape == (n, 96, 96, 3) and bank.target.shape == (n, 192, 192, 3)
    # the reconstruction resembles its own src face (same alignment), not another one
    small = bank.target.astype(np.float32).reshape(n, 96, 2, 96, 2, 3).mean((2, 4)) / 255
    err = np.abs(bank.recon[:, None].astype(np.float32) - small[None]).mean((2, 3, 4))
    assert (err.argmin(1) == np.arange(n)).all()
    x, y = draw_batch(bank, 0, 7, 3, 16, True)
    assert x.shape == (3, 3, 16, 16) and y.shape == (3, 3, 32, 32)
    assert np.array_equal(draw_batch(bank, 0, 7, 3, 16, True)[0], x)  # by (seed, iteration)
    # synthetic pairs: the target itself made soft, aligned with it
    xs, ys = draw_batch(bank, 0, 7, 3, 16, False, synthetic=1.0)
    half = ys.reshape(3, 3, 16, 2, 16, 2).mean((3, 5))
    assert np.abs(xs - half).mean() < np.abs(x - half).mean() and np.abs(xs - half).mean() < 0.03
    # a wider blur range makes softer synthetic inputs (less edge energy), still aligned
    xw, yw = draw_batch(bank, 0, 7, 3, 16, False, synthetic=1.0, soften_sigma=(2.5, 3.0))
    assert np.array_equal(yw, ys)

    def edges(a):
        return np.abs(np.diff(a, axis=-1)).mean()
    assert edges(xw) < 0.8 * edges(xs)


def test_training_writes_previews_and_resumes_exactly(demo_model, src192, tmp_path):
    from trainers.enhancer.train import EnhancerTrainer

    whole = EnhancerTrainer(_cfg(demo_model, src192, tmp_path / "whole"), log=lambda s: None)
    whole.run()
    out = tmp_path / "parts"
    EnhancerTrainer(_cfg(demo_model, src192, out, target_iters=2), log=lambda s: None).run()
    with pytest.raises(SettingsError, match="--resume"):
        EnhancerTrainer(_cfg(demo_model, src192, out), log=lambda s: None)
    resumed = EnhancerTrainer(_cfg(demo_model, src192, out), resume=True, log=lambda s: None)
    assert resumed.iteration == 2
    resumed.run()
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    for name in ("config.json", "losses.jsonl", "loss_history.png", "previews/latest.png"):
        assert (out / name).is_file(), name
    assert len(whole.history) == 4 and all(np.isfinite(h[1]) for h in whole.history)


def test_export_round_trip_names_the_swap_model(demo_model, src192, tmp_path):
    import onnxruntime as ort

    from engine.swap.enhance import Enhancer, check_pair
    from engine.swap.infer import read_model_info
    from trainers.enhancer.export import export_enhancer
    from trainers.enhancer.train import EnhancerTrainer, load_enhancer

    out = tmp_path / "enh"
    EnhancerTrainer(_cfg(demo_model, src192, out, target_iters=2), log=lambda s: None).run()
    report = export_enhancer(out, tmp_path / "enh.onnx")
    assert report.max_abs_diff <= 1e-4
    enh = Enhancer(tmp_path / "enh.onnx", "cpu", 1)
    model = read_model_info(demo_model)[0]
    assert enh.info.swap_model == demo_model.name and enh.info.swap_digest == model.digest
    check_pair(enh.info, model)
    face = np.random.default_rng(0).random((1, 96, 96, 3), dtype=np.float32)
    got = enh.run(face)
    net, _ = load_enhancer(out)
    with torch.no_grad():
        ref = net(torch.from_numpy(face.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    assert got.shape == (1, 192, 192, 3) and np.abs(got - ref).max() < 1e-4
    assert ort is not None


def test_a_faceset_below_twice_the_resolution_and_a_checkpoint_model_are_refused(
        demo_model, facesets, tmp_path):
    from trainers.enhancer.train import EnhancerTrainer

    with pytest.raises(FacesetError, match="--size 192"):
        EnhancerTrainer(_cfg(demo_model, facesets[0], tmp_path / "a"), log=lambda s: None)
    with pytest.raises(SettingsError, match="exported swap model"):
        EnhancerTrainer(_cfg(tmp_path, facesets[0], tmp_path / "b"), log=lambda s: None)


def test_untrained_net_is_the_plain_upscale():
    from engine.swap.enhance import upscale
    from trainers.enhancer.config import EnhancerSpec
    from trainers.enhancer.model import EnhancerNet

    net = EnhancerNet(EnhancerSpec(32, 8, 1)).eval()
    face = np.random.default_rng(1).random((32, 32, 3), dtype=np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(face.transpose(2, 0, 1)[None]))[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(out, upscale(face), atol=1e-5)


def test_soften_range_is_validated_by_name():
    from trainers.enhancer.config import EnhancerConfig

    base = dict(model="m.onnx", faceset="fs", out="o")
    assert EnhancerConfig(**base, soften_min=0.8, soften_max=2.2).validate().soften_max == 2.2
    for lo, hi in ((2.0, 1.0), (0.0, 1.0), (1.0, 9.0)):
        with pytest.raises(SettingsError, match="soften_min"):
            EnhancerConfig(**base, soften_min=lo, soften_max=hi).validate()
