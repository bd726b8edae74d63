"""`doppel demo` (what `make demo` runs) on a few frames: EXRs, contact sheet and MP4."""

import cv2

from doppel_cli.main import main
from engine.io import read_image


def test_demo_writes_swapped_exrs_a_contact_sheet_and_a_preview(tmp_path, samples, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--pair", "carphone", "--samples", str(samples), "--out", str(out),
                 "--frames", "1001-1003"]) == 0
    assert "3 frames rendered" in capsys.readouterr().out
    exr = read_image(out / "swap.1002.exr")
    assert "doppel.mask" in exr.channels and exr.channel("doppel.mask").max() > 0.9
    sheet = read_image(out / "contact_sheet.png")
    assert sheet.width == 8 * 200 and sheet.height >= 2 * 200  # 3 frames x 4 tiles
    cap = cv2.VideoCapture(str(out / "preview.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def test_demo_without_samples_says_how_to_get_them(tmp_path, capsys):
    assert main(["demo", "--samples", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "make samples" in capsys.readouterr().err


def test_demo_franck_pair_renders_the_cap12_plate_at_its_size(tmp_path, samples, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--samples", str(samples), "--out", str(out),
                 "--frames", "1001-1002"]) == 0
    exr = read_image(out / "swap.1001.exr")
    plate = read_image(samples / "plate_cap12" / "cap12.1001.exr")
    assert (exr.width, exr.height) == (plate.width, plate.height) == (800, 600)
    assert exr.channel("doppel.mask").max() > 0.9


def test_contact_sheet_picks_the_widest_mouth_and_the_most_turned_frame():
    from engine.io.sheets import sheet_frames

    frames = list(range(1001, 1121))
    mouth = {f: 0.01 for f in frames} | {1063: 0.2, 1090: 0.001}
    yaw = {f: 2.0 for f in frames} | {1100: -25.0}
    picks = dict(sheet_frames(frames, mouth, yaw, count=6))
    assert picks[1063] == "widest mouth" and picks[1100] == "most turned"
    assert picks[1090] == "mouth shut" and len(picks) == 6
    assert sorted(picks) == list(picks)


def test_demo_on_an_older_sample_set_says_to_fetch_again(tmp_path, capsys):
    (tmp_path / ".complete").write_text("carphone plate/plate.####.exr frames 1001-1120\n")
    assert main(["demo", "--samples", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "sample plate missing; run 'make samples'" in capsys.readouterr().err
