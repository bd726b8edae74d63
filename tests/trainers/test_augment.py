"""Device (batched tensor) augmentation: the same augmentation as the CPU path, deterministic per
(seed, iteration), sliced like DDP."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="trainer tests need torch (the train extra)")

from trainers.augment import (  # noqa: E402
    AugmentSettings,
    BatchParams,
    DeviceAugmenter,
    augment_batch,
    draw_params,
    hsv_to_rgb,
    lab_to_rgb,
    rct,
    rgb_to_hsv,
    rgb_to_lab,
)
from trainers.data import PairDataset, augment_with, load_bank  # noqa: E402

RES = 96
CPU = torch.device("cpu")


def known_grid(res: int = RES) -> np.ndarray:
    """A smooth colour pattern with grid lines: any shift, rotation or flip shows."""
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32)
    img = np.stack([0.5 + 0.4 * np.sin(xx / 6), 0.5 + 0.4 * np.cos(yy / 8),
                    0.5 + 0.3 * np.sin((xx + 2 * yy) / 13)], -1)
    img[::12] *= 0.3
    img[:, ::12] *= 0.3
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def disc_mask(res: int = RES) -> np.ndarray:
    m = np.zeros((res, res), np.uint8)
    cv2.ellipse(m, (res // 2 + 5, res // 2), (res // 3, res // 4), 20, 0, 360, 255, -1)
    return m


def t(x: np.ndarray) -> torch.Tensor:
    x = x.transpose(2, 0, 1) if x.ndim == 3 else x[None]
    return torch.from_numpy(np.ascontiguousarray(x)).float()[None] / 255


@pytest.mark.parametrize("seed", range(8))
def test_device_geometry_matches_the_cpu_path_on_a_known_grid(seed):
    img, m = known_grid(), disc_mask()
    a = AugmentSettings()
    p = draw_params(np.random.default_rng(seed), RES, a)
    cpu = augment_with(img, m, m, p, a)
    dev = augment_batch(t(img), t(m), t(m), BatchParams.stack([p], CPU))
    for name in ("warped", "target", "mask", "em_mask"):
        diff = np.abs(cpu[name] - dev[name][0].numpy())
        assert diff.max() < 2e-3, (name, diff.max())
    # and the augmentation did something: the output is not the input
    assert np.abs(cpu["warped"] - t(img)[0].numpy()).mean() > 0.02


def test_a_flip_and_a_known_shift_land_where_expected():
    img, m = known_grid(), disc_mask()
    a = AugmentSettings(random_warp=False, hsv_jitter=0)
    p = draw_params(np.random.default_rng(0), RES, a)
    shift = np.array([[1, 0, 7.0], [0, 1, -3.0]])  # 7 px right, 3 px up
    for flip in (False, True):
        q = type(p)(None, shift, None, flip)
        out = augment_batch(t(img), t(m), t(m), BatchParams.stack([q], CPU))["target"][0]
        want = np.roll(img, (-3, 7), (0, 1)).astype(np.float32) / 255
        want = want[:, ::-1] if flip else want
        got = out.numpy().transpose(1, 2, 0)
        inner = (slice(10, -10), slice(12, -12))
        assert np.abs(got[inner] - want[inner]).max() < 1e-5


def test_hsv_and_lab_conversions_match_opencv():
    rgb = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    x = torch.from_numpy(rgb.transpose(2, 0, 1))[None]
    hsv = rgb_to_hsv(x)[0].numpy().transpose(1, 2, 0)
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue = np.abs(hsv[..., 0] - ref[..., 0])
    assert np.minimum(hue, 360 - hue).max() < 1e-2
    assert np.abs(hsv[..., 1:] - ref[..., 1:]).max() < 1e-4
    assert (hsv_to_rgb(rgb_to_hsv(x)) - x).abs().max() < 1e-5
    lab = rgb_to_lab(x)[0].numpy().transpose(1, 2, 0)
    diff = np.abs(lab - cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB))  # L 0..100, a/b ±127
    assert diff.max() < 0.5 and diff.mean() < 0.1  # OpenCV's tables round a/b to ~1/64
    assert (lab_to_rgb(rgb_to_lab(x)) - x).abs().max() < 1e-4


def test_device_rct_matches_the_engines_rct():
    from engine.swap.color_transfer import rct as engine_rct

    img, m = known_grid(), disc_mask()
    tgt = np.rint(np.clip(known_grid()[::-1] / 255 * 0.5 + 0.35, 0, 1) * 255).astype(np.uint8)
    want = engine_rct(img / np.float32(255), tgt / np.float32(255), m / np.float32(255))
    got = rct(t(img), t(tgt), t(m))[0].numpy().transpose(1, 2, 0)
    assert np.abs(got - want).max() < 1e-2
    assert np.abs(got - want).mean() < 2e-3


@pytest.fixture(scope="module")
def dataset(facesets):
    src = load_bank(str(facesets[0]), 64, "full")
    dst = load_bank(str(facesets[1]), 64, "full")
    return PairDataset(src, dst, AugmentSettings(color_transfer="rct"), seed=5)


def test_device_batches_equal_the_loader_batches_for_the_same_iteration(dataset):
    aug = DeviceAugmenter(dataset, CPU)
    for k in (0, 17):
        dev = aug.batch(k, 0, 4)
        for pos in range(4):
            cpu = dataset[(k, pos)]
            for name, v in cpu.items():
                diff = np.abs(v - dev[name][pos].numpy())
                limit = 1.5e-2 if name.startswith("src_") and "mask" not in name else 2e-3
                assert diff.max() < limit, (k, pos, name, diff.max())


def test_device_batches_are_a_function_of_seed_and_iteration(dataset):
    a, b = DeviceAugmenter(dataset, CPU), DeviceAugmenter(dataset, CPU)
    x, y, z = a.batch(3, 0, 4), b.batch(3, 0, 4), a.batch(4, 0, 4)
    assert all(torch.equal(x[n], y[n]) for n in x)
    assert not torch.equal(x["src_warped"], z["src_warped"])


def test_ddp_rank_slices_are_rows_of_the_global_batch(dataset):
    aug = DeviceAugmenter(dataset, CPU)
    whole = aug.batch(9, 0, 4)
    second = aug.batch(9, 1, 2)
    for n in whole:
        assert torch.equal(whole[n][2:4], second[n])


def test_draws_from_a_loader_process_give_the_same_batches(dataset):
    from trainers.augment import DrawDataset, upload
    from trainers.data import IterationSampler

    aug = DeviceAugmenter(dataset, CPU)
    loader = torch.utils.data.DataLoader(DrawDataset(dataset), num_workers=1,
                                         batch_sampler=IterationSampler(5, 4, stop=7))
    for k, packed in zip((5, 6), loader, strict=True):
        got, want = aug.from_packed(upload(packed, CPU)), aug.batch(k, 0, 4)
        assert all(torch.equal(got[n], want[n]) for n in want)


def test_augmentation_place_and_workers_follow_the_device_and_cores():
    from trainers.train import pick_augment, pick_workers

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert pick_augment("auto", cuda) == "device" and pick_augment("auto", cpu) == "cpu"
    assert pick_augment("device", cpu) == "device" and pick_augment("cpu", cuda) == "cpu"
    assert pick_workers(None, "device", 16) == 1 and pick_workers(None, "device", 2) == 0
    assert pick_workers(None, "cpu", 16) == 8 and pick_workers(None, "cpu", 2) == 1
    assert pick_workers(None, "cpu", 64) == 8 and pick_workers(3, "device", 16) == 3


def test_cpu_step_threads_are_the_cores_not_already_busy():
    from engine.errors import SettingsError
    from trainers.config import TrainConfig
    from trainers.train import pick_threads

    assert pick_threads(None, 2, 0.1) == 2  # idle: every core
    assert pick_threads(None, 2, 1.2) == 1  # another job on one core: one thread, not two
    assert pick_threads(None, 2, 7.0) == 1  # never fewer than one
    assert pick_threads(None, 16, 3.6) == 12 and pick_threads(4, 2, 0.0) == 4  # asked: as asked
    with pytest.raises(SettingsError, match="threads must be 1..256"):
        TrainConfig(src="a", dst="b", out="c", threads=0).validate()


def test_training_with_device_augmentation_resumes_exactly(tiny_config, tmp_path):
    from trainers.train import Trainer

    def make(out, iters, resume=False, **kw):
        cfg = tiny_config(out=str(tmp_path / out), target_iters=iters, augment="device",
                          deterministic=True, batch_size=2, **kw)
        return Trainer(cfg, resume=resume, log=lambda s: None)

    straight = make("a", 4, workers=1)  # random draws in a loader process
    straight.run(progress=False)
    make("b", 2, save_every=2).run(progress=False)
    resumed = make("b", 4, resume=True)
    resumed.run(progress=False)
    assert [h[1:] for h in resumed.history] == [h[1:] for h in straight.history]


def test_the_step_is_graphed_only_for_the_plain_recipe_on_cuda(tiny_config):
    from trainers.train import graph_eligible

    cuda, cpu, bf16 = torch.device("cuda"), torch.device("cpu"), torch.bfloat16
    cfg = tiny_config()
    assert graph_eligible(cfg, cuda, bf16, 1)
    assert graph_eligible(cfg, cuda, None, 1)
    assert not graph_eligible(cfg, cpu, bf16, 1)
    assert not graph_eligible(cfg, cuda, bf16, 2)
    assert not graph_eligible(cfg, cuda, torch.float16, 1)
    for kw in ({"cuda_graph": "off"}, {"gan_power": 0.1}, {"true_face_power": 0.1},
               {"lr_warmup": 10}, {"compile": True}):
        assert not graph_eligible(tiny_config(**kw), cuda, bf16, 1), kw
