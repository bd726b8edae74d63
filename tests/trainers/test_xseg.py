"""XSeg trainer, export and apply on real sample faces: learning, resume, parity, masks on disk."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.errors import FacesetError, SettingsError  # noqa: E402
from engine.faceset.store import load_faceset  # noqa: E402
from engine.io import read_image, write_image  # noqa: E402
from engine.swap.infer import MaskModel  # noqa: E402
from trainers.xseg import bench  # noqa: E402
from trainers.xseg.apply import apply_xseg  # noqa: E402
from trainers.xseg.data import load_labelled  # noqa: E402
from trainers.xseg.export import export_xseg  # noqa: E402
from trainers.xseg.labels import entry_field, face_key, label_path  # noqa: E402
from trainers.xseg.train import XSegConfig, XSegTrainer, load_xseg, xseg_loss  # noqa: E402


@pytest.fixture(scope="module")
def labelled(facesets, tmp_path_factory):
    """A faceset of 20 real plate faces with occluders composited over them and their exact
    labels, plus 20 more unlabelled faces (which training must ignore)."""
    dst = load_faceset(facesets[1])
    faces = [(face_key(e), dst.load_crop(e), dst.landmarks_crop(e)) for e in dst.entries]
    root = tmp_path_factory.mktemp("xseg") / "labelled"
    fs = bench.write_labelled_faceset(root, faces, dst.face_type, seed=3)
    for e in fs.entries[20:]:
        label_path(fs, e).unlink()
    return root


def config(root, out, **kw):
    base = dict(facesets=[str(root)], out=str(out), resolution=32, width=4, batch_size=4,
                target_iters=4, save_every=1000, preview_every=1000, log_every=1, device="cpu")
    base.update(kw)
    return XSegConfig(**base)


def test_only_labelled_faces_train_and_unknown_pixels_carry_no_loss(labelled):
    bank = load_labelled([str(labelled)], 32)
    assert len(bank.names) == 20 and bank.unlabelled == 20
    logits = torch.zeros(1, 1, 8, 8, requires_grad=True)
    label = torch.ones(1, 1, 8, 8)
    valid = torch.zeros(1, 1, 8, 8)
    valid[..., :4] = 1
    sum(xseg_loss(logits, label, valid)).backward()
    assert logits.grad[..., 4:].abs().max() == 0 and logits.grad[..., :4].abs().min() > 0


def test_training_lowers_the_loss_and_writes_previews(labelled, tmp_path):
    tr = XSegTrainer(config(labelled, tmp_path / "m", target_iters=60, lr=2e-3, augment=False),
                     log=lambda s: None)
    tr.run()
    first = np.mean([h[1] + h[2] for h in tr.history[:5]])
    last = np.mean([h[1] + h[2] for h in tr.history[-5:]])
    assert last < 0.8 * first, (first, last)
    assert (tr.out / "previews" / "latest.png").is_file()
    assert (tr.out / "loss_history.png").is_file()
    assert len((tr.out / "losses.jsonl").read_text().splitlines()) == 60


def test_resume_continues_exactly(labelled, tmp_path):
    # A constant lr: with the cosine schedule the first run's target (3) would set its own lr
    # curve; an interrupted run resumed with the same target follows the same curve.
    torch.use_deterministic_algorithms(True)
    try:
        straight = XSegTrainer(config(labelled, tmp_path / "a", target_iters=6,
                                      lr_cosine=False), log=lambda s: None)
        straight.run()
        XSegTrainer(config(labelled, tmp_path / "b", target_iters=3, save_every=3,
                           lr_cosine=False), log=lambda s: None).run()
        with pytest.raises(SettingsError, match="pass --resume"):
            XSegTrainer(config(labelled, tmp_path / "b", target_iters=6), log=lambda s: None)
        resumed = XSegTrainer(config(labelled, tmp_path / "b", target_iters=6, lr_cosine=False),
                              resume=True, log=lambda s: None)
        assert resumed.iteration == 3
        resumed.run()
    finally:
        torch.use_deterministic_algorithms(False)
    assert [h[1:] for h in resumed.history] == [h[1:] for h in straight.history]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    last = sorted((tmp_path / "b" / "checkpoints").glob("*.pt"))[-1]
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["kind"] == "xseg" and ckpt["iteration"] == 6


def test_no_labels_or_a_swap_checkpoint_are_refused(facesets, labelled, tmp_path):
    with pytest.raises(FacesetError, match="no labelled faces.*doppel xseg label"):
        XSegTrainer(config(facesets[1], tmp_path / "m"), log=lambda s: None)
    with pytest.raises(SettingsError, match="resolution 36 must be a multiple of 8"):
        config(labelled, tmp_path / "m", resolution=36).validate()
    ckpt_dir = tmp_path / "swap" / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    torch.save({"schema": 1, "iteration": 1}, ckpt_dir / "ckpt_00000001.pt")
    with pytest.raises(SettingsError, match="not an XSeg checkpoint"):
        load_xseg(tmp_path / "swap")


@pytest.fixture(scope="module")
def exported(labelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("xseg_model")
    XSegTrainer(config(labelled, out / "m", target_iters=3, resolution=64), log=lambda s: None
                ).run()
    report = export_xseg(out / "m", out / "xseg.onnx")
    return out / "xseg.onnx", report


def test_export_matches_torch_and_the_engine_accepts_it(exported, labelled):
    path, report = exported
    assert report.max_abs_diff < 1e-4
    assert report.metadata["arch"] == "xseg" and report.metadata["face_type"] == "full"
    model = MaskModel(path, "cpu")
    assert model.resolution == 64 and model.info.colorspace == "srgb"
    fs = load_faceset(labelled)
    crops = np.stack([fs.load_crop(e) for e in fs.entries[:5]])
    net, _ = load_xseg(path.parent / "m")
    with torch.no_grad():
        ref = net.predict(torch.from_numpy(crops.transpose(0, 3, 1, 2)).contiguous())[:, 0]
    np.testing.assert_allclose(model.run(crops), ref.numpy(), atol=1e-4)


def test_apply_writes_every_mask_and_the_swap_trainer_uses_them(exported, facesets, tmp_path):
    from trainers.data import load_bank

    root = tmp_path / "dst"
    shutil.copytree(facesets[1], root)
    summary = apply_xseg(root, exported[0], device="cpu")
    fs = load_faceset(root)
    assert summary.written == len(fs.entries) and not summary.errors
    masks = []
    for e in fs.entries:
        mask = read_image(root / entry_field(e, "mask")).pixels[..., 0]
        assert mask.shape == (fs.size, fs.size)
        masks.append(mask)
    bank = load_bank(str(root), 64, "full")
    np.testing.assert_allclose(bank.masks / 255.0, np.stack(masks), atol=1 / 255 + 1e-6)
    again = apply_xseg(root, exported[0], device="cpu")  # resumable: same model, nothing to do
    assert again.written == 0 and again.kept == len(fs.entries)


def test_apply_never_replaces_foreign_masks_without_asking(exported, facesets, tmp_path):
    root = tmp_path / "dst"
    shutil.copytree(facesets[1], root)
    index = json.loads((root / "faceset.json").read_text())
    index["faces"][0]["mask"] = "hand/painted.png"
    (root / "faceset.json").write_text(json.dumps(index))
    write_image(root / "hand" / "painted.png", np.ones((64, 64, 1), np.float32))
    with pytest.raises(FacesetError, match="1 face.*already have masks.*--overwrite"):
        apply_xseg(root, exported[0], device="cpu")
    assert not (root / "masks").exists()
    assert apply_xseg(root, exported[0], overwrite=True, device="cpu").written == 40


def test_the_engine_renders_with_the_exported_xseg(exported, demo_model, plate_pattern,
                                                   plate_track):
    from engine.io import open_source, read_image
    from engine.swap.pipeline import FaceSwapper
    from engine.swap.settings import EngineConfig, SwapLook

    plate = read_image(open_source(plate_pattern).path_of(1010))
    sw = FaceSwapper(EngineConfig(model=str(demo_model), xseg=str(exported[0]), device="cpu"))
    hull, both, prd = (sw.process(plate.pixels, 1010, look=SwapLook(mask_mode=mode, blur=0.0),
                                  track=plate_track, channels=plate.channels).mask
                       for mode in ("hull", "hull*xseg-dst", "xseg-prd"))
    assert hull.sum() > 1000
    # hull × XSeg removes mask (the cubic warp back to the plate may ring by a few %).
    assert both.sum() < 0.99 * hull.sum() and (both <= hull + 0.1).all()
    assert prd.sum() > 0
