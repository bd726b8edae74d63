"""Faceset sort/prune on real faces: franck's stills plus planted faults (another person, a
blurred copy, an exact duplicate, a colour-cast copy), and the pose-coverage report."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from doppel_cli.main import main
from engine.errors import FacesetError, SettingsError
from engine.faceset.coverage import (
    coverage_plot,
    frame_ranges,
    mouth_coverage,
    pose_coverage,
)
from engine.faceset.sort import (
    PruneSettings,
    measure,
    prune_plan,
    sharpness,
    sort_order,
    write_pruned,
)
from engine.faceset.store import FaceEntry, Faceset, load_faceset
from engine.geometry.descriptor import FaceDescriber

PLANTED = {"blurred": "zz_blurred.jpg", "copy": "zz_copy.jpg", "tinted": "zz_tinted.jpg",
           "other": "zz_biden.jpg"}


@pytest.fixture(scope="module")
def mixed_faceset(tmp_path_factory, samples):
    """Faceset of the 11 franck stills + 4 planted faults; returns (Faceset, {role: crop file})."""
    from engine.faceset.extract import ExtractSettings, extract
    from engine.io import open_source

    photos = tmp_path_factory.mktemp("photos")
    stills = sorted((samples / "photos" / "franck").glob("franck_*.jpg"))
    assert len(stills) == 11
    for p in stills:
        shutil.copy(p, photos / p.name)
    base = cv2.imread(str(stills[0]))
    cv2.imwrite(str(photos / PLANTED["blurred"]), cv2.GaussianBlur(base, (0, 0), 4.0))
    shutil.copy(stills[0], photos / PLANTED["copy"])
    tint = base.astype(np.float32) * np.array([1.6, 0.5, 0.5], np.float32)  # BGR: blue cast
    cv2.imwrite(str(photos / PLANTED["tinted"]), np.clip(tint, 0, 255).astype(np.uint8))
    shutil.copy(samples / "photos" / "biden.jpg", photos / PLANTED["other"])
    out = tmp_path_factory.mktemp("fs") / "faceset"
    extract(open_source(str(photos)), out, ExtractSettings(size=128))
    fs = load_faceset(out)
    names = {Path_name(e.source_file): e.file for e in fs.entries if e.face == 0}
    roles = {role: names[name] for role, name in PLANTED.items()}
    roles["original"] = names[stills[0].name]
    return fs, roles


def Path_name(p: str | None) -> str:  # noqa: N802 - tiny helper for the fixture
    from pathlib import Path

    return Path(p or "").name


@pytest.fixture(scope="module")
def metrics(mixed_faceset):
    fs, _ = mixed_faceset
    return measure(fs, FaceDescriber())


def _by_file(metrics):
    return {m.file: m for m in metrics}


def test_sharpness_drops_when_the_same_face_is_blurred(mixed_faceset, metrics):
    _, roles = mixed_faceset
    m = _by_file(metrics)
    assert m[roles["blurred"]].sharpness < 0.5 * m[roles["original"]].sharpness
    assert sort_order(metrics, "sharpness")[-1].file == roles["blurred"]


def test_sharpness_is_measured_at_one_scale_whatever_the_crop_size():
    rng = np.random.default_rng(0)
    crop = cv2.resize(rng.random((64, 64, 3)).astype(np.float32), (128, 128))
    lm = np.array([[20, 20], [108, 20], [108, 108], [20, 108]] * 17, np.float32)
    big = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_NEAREST)
    assert sharpness(big, lm * 2) == pytest.approx(sharpness(crop, lm), rel=0.1)


def test_another_person_is_an_identity_outlier_and_franck_is_not(mixed_faceset, metrics):
    _, roles = mixed_faceset
    m = _by_file(metrics)
    assert m[roles["other"]].identity > 0.6
    franck = [v for k, v in m.items() if k != roles["other"]]
    assert max(v.identity for v in franck) < 0.6


def test_a_colour_cast_is_a_histogram_outlier(mixed_faceset, metrics):
    _, roles = mixed_faceset
    m = _by_file(metrics)
    typical = np.median([v.hist for v in metrics])
    assert m[roles["tinted"]].hist > 0.5 > typical


def test_prune_rejects_each_planted_fault_for_its_reason(mixed_faceset, metrics):
    fs, roles = mixed_faceset
    plan = prune_plan(fs, metrics, PruneSettings(blur_fraction=0.05))
    assert plan.rejected[roles["other"]] == "identity"
    assert plan.rejected[roles["tinted"]] == "hist"
    assert plan.rejected[roles["blurred"]] == "blur"
    # the copy and the original are identical: whichever comes first is kept, the other goes
    pair = {roles["copy"], roles["original"]}
    assert len(pair & set(plan.keep)) == 1
    gone = (pair - set(plan.keep)).pop()
    assert plan.rejected[gone] == "duplicate"
    assert _by_file(plan.metrics)[gone].duplicate_of in pair
    assert len(plan.keep) == len(metrics) - 4


def test_pruned_faceset_is_new_and_the_input_is_untouched(mixed_faceset, metrics, tmp_path):
    fs, roles = mixed_faceset
    before = (fs.root / "faceset.json").read_bytes()
    crops_before = sorted(p.name for p in (fs.root / "faces").iterdir())
    plan = prune_plan(fs, metrics, PruneSettings(blur_fraction=0.05))
    new = write_pruned(fs, plan, tmp_path / "clean")
    assert sorted(e.file for e in new.entries) == sorted(plan.keep)
    assert all((new.root / e.file).is_file() for e in new.entries)
    assert not (new.root / roles["other"]).exists()
    assert (fs.root / "faceset.json").read_bytes() == before
    assert sorted(p.name for p in (fs.root / "faces").iterdir()) == crops_before
    with pytest.raises(SettingsError, match="not the input"):
        write_pruned(fs, plan, fs.root)
    with pytest.raises(SettingsError, match="already holds a faceset"):
        write_pruned(fs, plan, tmp_path / "clean")


def test_all_faces_rejected_is_an_error_naming_the_reasons(mixed_faceset, metrics):
    fs, _ = mixed_faceset
    with pytest.raises(FacesetError, match=r"all 15 faces rejected .*identity"):
        prune_plan(fs, metrics, PruneSettings(max_identity=0.0))


def test_bad_thresholds_are_refused_by_name():
    with pytest.raises(SettingsError, match="--blur-fraction"):
        PruneSettings(blur_fraction=1.5).check()
    with pytest.raises(SettingsError, match="--max-faces"):
        PruneSettings(max_faces=0).check()


def test_a_face_cap_keeps_the_rare_angles(mixed_faceset, metrics):
    fs, _ = mixed_faceset
    fake = [type(m)(**{**m.__dict__}) for m in metrics]
    for i, m in enumerate(fake):  # all frontal but one turned far
        m.yaw, m.pitch, m.identity, m.hist = (40.0 if i == 3 else 0.5 * i), 0.0, 0.1, 0.0
    plan = prune_plan(fs, fake, PruneSettings(blur_fraction=0, duplicate_diff=0, max_faces=3))
    assert len(plan.keep) == 3 and fake[3].file in plan.keep


def test_cli_prune_writes_a_report_and_sort_writes_a_listing(mixed_faceset, tmp_path, capsys):
    fs, roles = mixed_faceset
    assert main(["faceset", "prune", str(fs.root), "-o", str(tmp_path / "clean"),
                 "--blur-fraction", "0.05", "--quiet"]) == 0
    report = (tmp_path / "clean" / "prune_report.md").read_text()
    assert "| identity | 1 |" in report and roles["other"] in report
    assert "kept 11 of 15" in capsys.readouterr().out
    assert main(["faceset", "sort", str(fs.root), "--by", "identity", "--no-identity",
                 "--csv", str(tmp_path / "s.csv"), "--sheet", str(tmp_path / "s.png")]) == 0
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0].startswith("file,frame,sharpness") and len(rows) == 16
    assert (tmp_path / "s.png").stat().st_size > 0


def _entries(poses: list[tuple[float, float]], start: int = 1) -> list[FaceEntry]:
    z = [[0.0, 0.0]] * 68
    return [FaceEntry(f"faces/{start + i:06d}_00.png", "x", start + i, 0, [0, 0, 1, 1], 1.0, z, z,
                      [[1, 0, 0], [0, 1, 0]], "full", [p, y, 0.0])
            for i, (y, p) in enumerate(poses)]


def test_coverage_names_the_plate_angles_the_source_lacks(tmp_path):
    src = Faceset(tmp_path, "full", 128, {}, _entries([(y, 0.0) for y in range(-10, 11)] * 3))
    dst = Faceset(tmp_path, "full", 128, {}, _entries([(0.0, 0.0)] * 5 + [(35.0, 2.0)] * 3,
                                                      start=1001))
    cov = pose_coverage(src, dst, tolerance=5, min_faces=3)
    assert (cov.covered, cov.dst_count) == (5, 8)
    assert cov.uncovered_frames == [1006, 1007, 1008]
    assert cov.missing_cells == [(35.0, 5.0, 3)]
    text = "\n".join(cov.lines())
    assert "1006-1008" in text and "+35°, +5°: 3" in text
    img = coverage_plot(src, dst, cov)
    assert img.shape == (640, 640, 3) and (img[..., 0] > 200).any()


def _mouth_entries(openings: list[float], start: int = 1,
                   widths: list[float] | None = None) -> list[FaceEntry]:
    """Faces of the mean face's shape (eye corners 100 px apart) with the inner lips that far
    apart, as a fraction of the eye-corner distance, and the mouth's corners moved out from its
    centre by `widths` (a factor of the mean face's mouth width; 1 where not given)."""
    from engine.geometry.align import mean_face

    base = mean_face() * 100.0 / np.linalg.norm(mean_face()[45] - mean_face()[36]) + 50.0
    base[[65, 66, 67]] = base[[63, 62, 61]]  # lips closed: each lower inner point on its upper
    out = []
    for i, gap in enumerate(openings):
        lm = base.copy()
        lm[[65, 66, 67], 1] += gap * 100.0
        if widths is not None:
            centre = (lm[48] + lm[54]) / 2
            lm[[48, 54]] = centre + (lm[[48, 54]] - centre) * widths[i]
        out.append(FaceEntry(f"faces/{start + i:06d}_00.png", "x", start + i, 0, [0, 0, 1, 1],
                             1.0, lm.tolist(), lm.tolist(), [[1, 0, 0], [0, 1, 0]], "full",
                             [0.0, 0.0, 0.0]))
    return out


def test_mouth_coverage_names_the_plate_frames_open_wider_than_the_source(tmp_path):
    src = Faceset(tmp_path, "full", 128, {}, _mouth_entries([0.0] * 10 + [0.15] * 3 + [0.3]))
    dst = Faceset(tmp_path, "full", 128, {}, _mouth_entries([0.0, 0.1, 0.17, 0.2, 0.25, 0.05],
                                                            start=1001))
    cov = mouth_coverage(src, dst, min_faces=3)
    # the widest opening on >= 3 source faces is 0.15: 0.17 is within the tolerance, 0.2 not
    assert cov.src_open == pytest.approx(0.15) and cov.dst_open == pytest.approx(0.25)
    assert cov.uncovered_frames == [1004, 1005]
    assert "frames 1004-1005" in "\n".join(cov.lines())
    assert mouth_coverage(src, dst, min_faces=1).uncovered_frames == []  # 0.3 on one face
    few = Faceset(tmp_path, "full", 128, {}, _mouth_entries([0.3, 0.3]))
    assert mouth_coverage(few, dst, min_faces=3).uncovered_frames == list(range(1001, 1007))


def test_mouth_shape_coverage_names_the_plate_frames_whose_mouth_the_source_never_shapes(
        tmp_path):
    # the source opens wide only with its corners pulled out (a talking smile), never round
    src = Faceset(tmp_path, "full", 128, {}, _mouth_entries(
        [0.0] * 10 + [0.2] * 5 + [0.05] * 4, widths=[1.0] * 10 + [1.3] * 5 + [1.0] * 4))
    # the plate: closed, a wide opening as the source's, a round "O", a slight opening
    dst = Faceset(tmp_path, "full", 128, {}, _mouth_entries(
        [0.0] * 4 + [0.2] * 2 + [0.2] * 3 + [0.05], start=1001,
        widths=[1.0] * 4 + [1.3] * 2 + [0.95] * 3 + [1.0]))
    cov = mouth_coverage(src, dst, min_faces=3)
    assert cov.uncovered_frames == []  # it opens no wider than the source: the old check passes
    assert cov.shape_narrower_frames == [1007, 1008, 1009]
    assert cov.shape_wider_frames == []
    assert cov.shape_dst_width == pytest.approx((0.95, 0.95), abs=1e-6)
    assert cov.shape_src_width == pytest.approx((1.3, 1.3), abs=1e-6)
    text = "\n".join(cov.lines())
    assert "mouth shape uncovered: 3/10" in text and "round 'O'" in text
    assert "frames 1007-1009" in text
    # the source's own faces are all covered by itself
    assert mouth_coverage(src, src, min_faces=3).shape_uncovered_frames == []
    assert "mouth shape covered" in "\n".join(mouth_coverage(src, src, 3).lines())


def test_mouth_shape_coverage_compares_what_the_mouth_does_not_its_size(tmp_path):
    # the plate actor's mouth is 20 % narrower than the source's everywhere: anatomy, not an
    # expression; the same expressions relative to each closed mouth are covered
    src = Faceset(tmp_path, "full", 128, {}, _mouth_entries(
        [0.0] * 10 + [0.2] * 5, widths=[1.0] * 10 + [1.3] * 5))
    dst = Faceset(tmp_path, "full", 128, {}, _mouth_entries(
        [0.0] * 6 + [0.2] * 3, start=1001, widths=[0.8] * 6 + [0.8 * 1.3] * 3))
    assert mouth_coverage(src, dst, min_faces=3).shape_uncovered_frames == []
    # a smile the source never makes at that opening is named as wider
    grin = Faceset(tmp_path, "full", 128, {}, _mouth_entries(
        [0.0] * 6 + [0.0] * 2, start=1001, widths=[1.0] * 6 + [1.25] * 2))
    cov = mouth_coverage(src, grin, min_faces=3)
    assert (cov.shape_narrower_frames, cov.shape_wider_frames) == ([], [1007, 1008])
    assert "wider (a stretch or a smile): frames 1007-1008" in "\n".join(cov.lines())


def test_relative_mouth_width_takes_the_least_open_fifth_without_closed_mouths():
    from engine.geometry.mouth_shape import relative_mouth_width

    opening = np.array([0.1, 0.12, 0.2, 0.3, 0.25, 0.15, 0.18, 0.22, 0.28, 0.11])
    width = np.array([0.5, 0.52, 0.7, 0.8, 0.75, 0.6, 0.65, 0.7, 0.78, 0.51, ])
    rel = relative_mouth_width(opening, width)
    # the fifth opened least: 0.1 and 0.11 (widths 0.5 and 0.51), median 0.505
    assert rel == pytest.approx(width / 0.505)
    assert np.isnan(relative_mouth_width(np.array([np.nan]), np.array([0.5]))).all()


def test_frame_ranges_collapse_runs():
    assert frame_ranges([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"


def test_cli_coverage_fails_when_no_plate_angle_is_covered(tmp_path, capsys):
    for name, poses in (("src", [(60.0, 0.0)] * 4), ("dst", [(0.0, 0.0)] * 4)):
        fs = Faceset(tmp_path / name, "full", 128, {}, _entries(poses))
        fs.root.mkdir()
        fs.save()
    rc = main(["faceset", "coverage", str(tmp_path / "src"), str(tmp_path / "dst"),
               "-o", str(tmp_path / "cov.png"), "--report", str(tmp_path / "cov.md")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "no faces at any of the destination's angles" in err
    assert "lacks these angles" in (tmp_path / "cov.md").read_text()
    # faces without usable landmarks are not judged for the mouth (and do not crash it)
    assert "mouth: the source opens to 0.00" in (tmp_path / "cov.md").read_text()
