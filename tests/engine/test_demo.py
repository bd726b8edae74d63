"""`doppel demo` (what `make demo` runs) on a few frames: EXRs, contact sheet and MP4."""

import cv2

from doppel_cli.main import main
from engine.io import read_image


def test_demo_writes_swapped_exrs_a_contact_sheet_and_a_preview(tmp_path, samples, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--samples", str(samples), "--out", str(out),
                 "--frames", "1001-1003"]) == 0
    assert "3 frames rendered" in capsys.readouterr().out
    exr = read_image(out / "swap.1002.exr")
    assert "doppel.mask" in exr.channels and exr.channel("doppel.mask").max() > 0.9
    sheet = read_image(out / "contact_sheet.png")
    assert sheet.width >= 3 * 220 and sheet.height >= 220
    cap = cv2.VideoCapture(str(out / "preview.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def test_demo_without_samples_says_how_to_get_them(tmp_path, capsys):
    assert main(["demo", "--samples", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "make samples" in capsys.readouterr().err
