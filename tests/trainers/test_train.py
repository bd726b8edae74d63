"""The training loop on real sample facesets: learning, exact resume, checkpoints, bad input."""

import errno
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.errors import DiskFullError, FacesetError, SettingsError, TrainingError  # noqa: E402
from trainers.checkpoint import checkpoints, load_checkpoint  # noqa: E402
from trainers.data import IterationSampler, PairDataset, load_bank  # noqa: E402
from trainers.losses import dssim  # noqa: E402
from trainers.train import Trainer  # noqa: E402


def eval_dssim(trainer, n=8):
    """src→src and dst→dst DSSIM on fixed, unwarped, unflipped samples."""
    ds = trainer.dataset
    imgs = {}
    for side, bank in (("src", ds.src), ("dst", ds.dst)):
        idx = np.arange(n) % len(bank.images)
        imgs[side] = torch.from_numpy(bank.images[idx].transpose(0, 3, 1, 2) / 255.0).float()
    trainer.model.eval()
    with torch.no_grad():
        (s, _), (d, _), _ = trainer.model(imgs["src"], imgs["dst"])
    trainer.model.train()
    return (float(dssim(s, imgs["src"], 5).mean()), float(dssim(d, imgs["dst"], 5).mean()))


def test_a_few_hundred_iterations_clearly_lower_dssim(tiny_config):
    cfg = tiny_config(target_iters=300, lr=5e-4, batch_size=8, precision="auto",
                      random_warp=False, hsv_jitter=0.0)
    trainer = Trainer(cfg, log=lambda s: None)
    before = eval_dssim(trainer)
    trainer.run(progress=False)
    after = eval_dssim(trainer)
    assert after[0] < 0.75 * before[0], (before, after)
    assert after[1] < 0.75 * before[1], (before, after)
    assert (trainer.out / "previews" / "latest.png").is_file()
    assert (trainer.out / "loss_history.png").is_file()
    lines = (trainer.out / "losses.jsonl").read_text().splitlines()
    assert len(lines) == 300 and json.loads(lines[-1])["it"] == 300


def test_resume_continues_exactly(tiny_config, tmp_path):
    straight = Trainer(tiny_config(out=str(tmp_path / "a"), target_iters=6, deterministic=True),
                       log=lambda s: None)
    straight.run(progress=False)
    first = Trainer(tiny_config(out=str(tmp_path / "b"), target_iters=3, deterministic=True,
                                save_every=3), log=lambda s: None)
    first.run(progress=False)
    resumed = Trainer(tiny_config(out=str(tmp_path / "b"), target_iters=6, deterministic=True),
                      resume=True, log=lambda s: None)
    assert resumed.iteration == 3
    resumed.run(progress=False)
    assert [h[1:] for h in resumed.history] == [h[1:] for h in straight.history]
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_leaving_the_swap_pass_out_of_the_step_changes_no_loss_and_no_weight(tiny_config,
                                                                             tmp_path):
    # Before issue 14 the step also rendered dst through the src decoder and dropped it; that
    # pass is not in the loss, so taking it out must leave training exactly as it was.
    plain = Trainer(tiny_config(out=str(tmp_path / "a"), target_iters=3, deterministic=True),
                    log=lambda s: None)
    with_swap = Trainer(tiny_config(out=str(tmp_path / "b"), target_iters=3, deterministic=True),
                        log=lambda s: None)
    forward = with_swap.model.forward
    swaps = []

    def forward_with_swap(src, dst, swap=True):
        out = forward(src, dst, swap=True)
        if not swap:  # a training step: compute the swap, then drop it as the old step did
            swaps.append(out[2][0].shape)
            return out[:2]
        return out

    with_swap.model.forward = forward_with_swap
    plain.run(progress=False)
    with_swap.run(progress=False)
    assert len(swaps) == 3  # the swap was computed in every step
    assert [h[1:] for h in with_swap.history] == [h[1:] for h in plain.history]
    for a, b in zip(plain.model.parameters(), with_swap.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_batches_are_a_function_of_iteration_only(facesets):
    from trainers.data import AugmentSettings

    src = load_bank(str(facesets[0]), 64, "full")
    dst = load_bank(str(facesets[1]), 64, "full")
    ds = PairDataset(src, dst, AugmentSettings(color_transfer="rct"), seed=3)
    a = [ds[k] for k in next(iter(IterationSampler(5, 4)))]
    b = [ds[k] for k in next(iter(IterationSampler(5, 4)))]
    assert all(np.array_equal(x["src_warped"], y["src_warped"]) for x, y in zip(a, b, strict=True))
    # Rank 1 of 2 takes the second half of the same global batch.
    glob = next(iter(IterationSampler(5, 4)))
    assert next(iter(IterationSampler(5, 2, rank=1, world=2))) == glob[2:]
    # Warped input differs from its target; masks are in [0, 1].
    s = a[0]
    assert not np.allclose(s["src_warped"], s["src_target"])
    assert s["src_mask"].min() >= 0 and s["src_mask"].max() <= 1 and s["src_mask"].mean() > 0.2


def test_checkpoints_are_atomic_kept_to_n_and_load_weights_only(tiny_config):
    cfg = tiny_config(target_iters=8, save_every=2, keep_checkpoints=2)
    Trainer(cfg, log=lambda s: None).run(progress=False)
    found = checkpoints(cfg_out := __import__("pathlib").Path(cfg.out))
    assert [p.name for p in found] == ["ckpt_00000006.pt", "ckpt_00000008.pt"]
    ckpt = load_checkpoint(found[-1])
    assert ckpt["iteration"] == 8 and ckpt["spec"]["arch"] == "df-ud"
    assert not list(cfg_out.rglob("*.tmp*"))
    assert (cfg_out / "config.yaml").is_file()


def test_existing_checkpoints_need_resume_and_matching_arch(tiny_config):
    Trainer(tiny_config(target_iters=2), log=lambda s: None).run(progress=False)
    with pytest.raises(SettingsError, match="pass --resume"):
        Trainer(tiny_config(target_iters=4), log=lambda s: None)
    with pytest.raises(SettingsError, match="checkpoint is df-ud at 64 px.*asks liae-ud"):
        Trainer(tiny_config(arch="liae-ud", target_iters=4), resume=True, log=lambda s: None)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch):
    trainer = Trainer(tiny_config(target_iters=10, save_every=2), log=lambda s: None)
    import trainers.train as tt

    real = tt.reconstruction_loss
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] > 6 else out  # 2 calls per step: NaN at step 4

    monkeypatch.setattr(tt, "reconstruction_loss", flaky)
    with pytest.raises(TrainingError, match=r"loss became nan at iteration 4.*ckpt_00000002"):
        trainer.run(progress=False)
    assert [p.name for p in checkpoints(trainer.out)] == ["ckpt_00000002.pt"]


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tiny_config, monkeypatch):
    trainer = Trainer(tiny_config(target_iters=2, save_every=1), log=lambda s: None)
    trainer.run(progress=False)
    before = checkpoints(trainer.out)[-1].read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    trainer.iteration = 2
    with pytest.raises(DiskFullError, match="disk full.*ckpt_00000002.pt is intact"):
        trainer.save_checkpoint()
    assert checkpoints(trainer.out)[-1].read_bytes() == before
    assert not list(trainer.out.rglob("*.tmp*"))


def test_a_failing_checkpoint_writer_is_a_training_error_not_a_crash(tiny_config, monkeypatch):
    trainer = Trainer(tiny_config(target_iters=1, save_every=1), log=lambda s: None)
    trainer.run(progress=False)

    def broken(*a, **k):  # what PyTorch's C++ writer raises (space left: not a full disk)
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed\nmore")
    monkeypatch.setattr(torch, "save", broken)
    trainer.iteration = 2
    with pytest.raises(TrainingError, match="failed writing file data/0.*ckpt_00000001.pt is "
                                            "intact"):
        trainer.save_checkpoint()
    assert not list(trainer.out.rglob("*.tmp*"))


def test_tiny_empty_or_mixed_facesets_are_refused(facesets, tmp_path):
    import shutil

    from engine.faceset.store import load_faceset

    fs = load_faceset(facesets[0])
    one = tmp_path / "one"
    shutil.copytree(facesets[0], one)
    data = json.loads((one / "faceset.json").read_text())
    data["faces"] = data["faces"][:1]
    (one / "faceset.json").write_text(json.dumps(data))
    with pytest.raises(FacesetError, match="only 1 usable faces"):
        load_bank(str(one), 64, "full")
    with pytest.raises(FacesetError, match="face type is 'full'.*'whole'"):
        load_bank(str(facesets[0]), 64, "whole")
    mixed = tmp_path / "mixed"
    shutil.copytree(facesets[0], mixed)
    data = json.loads((mixed / "faceset.json").read_text())
    data["faces"][0]["face_type"] = "head"
    (mixed / "faceset.json").write_text(json.dumps(data))
    with pytest.raises(FacesetError, match="mixes face types"):
        load_bank(str(mixed), 64, "full")
    assert len(fs.entries) == 3


def test_a_corrupt_crop_is_skipped_and_reported(facesets, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(facesets[1], bad)
    victim = sorted((bad / "faces").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])
    bank = load_bank(str(bad), 64, "full")
    assert len(bank.images) == 39 and len(bank.skipped) == 1 and victim.name in bank.skipped[0]


def test_gan_and_trueface_train_and_resume_with_their_discriminators(tiny_config, tmp_path):
    cfg = tiny_config(out=str(tmp_path / "g"), target_iters=2, gan_power=0.1,
                      true_face_power=0.01, eyes_mouth_priority=True, save_every=2)
    tr = Trainer(cfg, log=lambda s: None)
    tr.run(progress=False)
    ckpt = load_checkpoint(checkpoints(tr.out)[-1])
    assert {"disc", "disc_opt", "code_disc", "code_disc_opt"} <= set(ckpt)
    resumed = Trainer(tiny_config(out=str(tmp_path / "g"), target_iters=3, gan_power=0.1,
                                  true_face_power=0.01, eyes_mouth_priority=True),
                      resume=True, log=lambda s: None)
    for a, b in zip(tr.disc.parameters(), resumed.disc.parameters(), strict=True):
        assert torch.equal(a, b)
    resumed.run(progress=False)
    assert resumed.iteration == 3 and np.isfinite(resumed.history[-1][1])


def test_pretrain_on_one_faceset_then_fine_tune_from_it(tiny_config, facesets, tmp_path):
    pre = Trainer(tiny_config(out=str(tmp_path / "pre"), dst="", pretrain=True, target_iters=2),
                  log=lambda s: None)
    assert pre.dataset.dst is pre.dataset.src
    pre.run(progress=False)
    ckpt = checkpoints(pre.out)[-1]
    fine = Trainer(tiny_config(out=str(tmp_path / "fine"), init_from=str(ckpt), target_iters=1),
                   log=lambda s: None)
    assert fine.iteration == 0
    for a, b in zip(pre.model.parameters(), fine.model.parameters(), strict=True):
        assert torch.equal(a, b)
