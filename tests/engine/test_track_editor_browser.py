"""The track editor end to end in a real headless browser (Debian's Chromium driven by
Selenium; `make test` installs both): open the editor on a plate where the face is covered on
three frames, drag a landmark, draw a box on a frame with no detection, save; then `doppel
render` puts the face where the edits say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from doppel_cli.main import main
from engine.geometry.track import Track
from engine.io import read_image
from tests.engine.test_track_edit import COVERED, make_covered_shot

CHROMEDRIVER = "/usr/bin/chromedriver"
BOX = (305.0, 165.0, 555.0, 485.0)  # x0, y0, x1, y1 around the face (display pixels)


def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not Path(CHROMEDRIVER).is_file() or shutil.which("chromium") is None:
        pytest.skip("Chromium and its driver are not installed (make test installs them: "
                    "apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def shot(tmp_path_factory, plate_pattern):
    return make_covered_shot(tmp_path_factory.mktemp("editor"), plate_pattern)


def drag(driver, canvas, start, end, steps=4):
    """Press at plate point `start`, move to `end` (display pixels), release: the page's own
    mapping (`editor.toScreen`) gives canvas positions; offsets are from the canvas centre."""
    from selenium.webdriver.common.action_chains import ActionChains

    w, h = canvas.size["width"], canvas.size["height"]

    def at(p):
        sx, sy = driver.execute_script("return editor.toScreen(arguments[0], arguments[1]);",
                                       float(p[0]), float(p[1]))
        return int(round(sx - w / 2)), int(round(sy - h / 2))

    chain = ActionChains(driver).move_to_element_with_offset(canvas, *at(start)).click_and_hold()
    for i in range(1, steps + 1):
        t = i / steps
        chain = chain.move_to_element_with_offset(
            canvas, *at((start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))))
    chain.release().perform()


def wait_for(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def test_editor_drag_box_save_then_render_follows_the_edits(shot, tmp_path, demo_model):
    from engine.host.track_editor.server import start

    plate, original = shot
    track = tmp_path / "track.json"
    shutil.copy(original, track)
    raw = Track.load(track)
    server, url = start(plate, track)
    driver = browser()
    try:
        driver.get(url)
        wait_for(driver, "return document.body.dataset.ready === '1';")
        suspects = driver.find_elements("css selector", "#suspects li")
        assert [int(li.get_attribute("data-frame")) for li in suspects] == list(COVERED)
        canvas = driver.find_element("id", "view")
        # 1. drag the nose tip (point 30) of frame 1002 20 px to the right
        driver.execute_script("editor.show(1002);")
        nose = raw.landmarks(1002)[30]
        drag(driver, canvas, nose, nose + (20, 0))
        wait_for(driver, "return !!editor.state().keys['1002'];")
        # 2. a box around the face on 1005, where the detector found none
        driver.execute_script("editor.show(1005);")
        driver.find_element("css selector", "#tool option[value='box']").click()
        drag(driver, canvas, BOX[:2], BOX[2:])
        wait_for(driver, "return !!editor.state().keys['1005'];")
        assert "1005" not in driver.execute_script("return editor.state().suspects;")
        driver.find_element("id", "save").click()
        wait_for(driver, "return editor.state().dirty === false;")
        status = driver.find_element("id", "status").text
        assert status.startswith("saved"), status
    finally:
        driver.quit()
        server.shutdown()
    saved = Track.load(track)
    assert sorted(saved.keys) == [1002, 1005]
    assert saved.keys[1002].kind == "points" and saved.keys[1005].kind == "box"
    moved = saved.faces[1002].landmarks[30] - raw.faces[1002].landmarks[30]
    assert moved[0] == pytest.approx(20, abs=3) and abs(moved[1]) < 3
    x0, y0, x1, y1 = saved.keys[1005].box
    assert np.allclose((x0, y0, x1, y1), BOX, atol=3)
    assert json.loads(track.read_text())["frames"] == json.loads(original.read_text())["frames"]
    # render follows: 1005 swapped inside the box, 1002 differs from the unedited render
    out = tmp_path / "r" / "s.####.exr"
    assert main(["render", plate, "-o", str(out), "--model", str(demo_model), "--track",
                 str(track), "--frames", "1002,1005", "--quiet"]) == 0
    assert main(["render", plate, "-o", str(tmp_path / "u" / "s.####.exr"), "--model",
                 str(demo_model), "--track", str(original), "--frames", "1002",
                 "--quiet"]) == 0
    swapped = read_image(tmp_path / "r" / "s.1005.exr")
    assert swapped.metadata["doppel/face"] == "swapped"
    src = read_image(plate.replace("####", "1005")).pixels[..., :3]
    ys, xs = np.nonzero(np.abs(swapped.pixels[..., :3] - src).max(axis=2) > 1e-3)
    assert len(xs) > 1000 and x0 < xs.mean() < x1 and y0 < ys.mean() < y1
    edited = read_image(tmp_path / "r" / "s.1002.exr").pixels[..., :3]
    unedited = read_image(tmp_path / "u" / "s.1002.exr").pixels[..., :3]
    assert np.abs(edited - unedited).max() > 0.01  # the dragged point moved the alignment
