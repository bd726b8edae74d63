"""`analyze_shot`: the one shot analysis (CLI, demo, node), its cache, progress and cancel."""

import json

import numpy as np
import pytest

from engine.errors import Cancelled, SettingsError
from engine.geometry.track import Track, select_track, smooth_track
from engine.io import open_source
from engine.shot.analyze import AnalyzeSettings, analyze_shot

FRAMES = list(range(1001, 1011))


@pytest.fixture(scope="module")
def source(plate_pattern):
    return open_source(plate_pattern)


@pytest.fixture(scope="module")
def shot_track(source):
    return analyze_shot(source, AnalyzeSettings(), numbers=FRAMES)


def test_shot_track_is_the_tracked_and_smoothed_per_frame_analysis(shot_track, plate_faces):
    expect = smooth_track(select_track({f: plate_faces[f] for f in FRAMES}), 3)
    assert shot_track.frames == FRAMES
    for f in FRAMES:
        np.testing.assert_allclose(shot_track.landmarks(f), expect.landmarks(f), atol=2e-3)
    s = shot_track.settings
    assert (s["frames"], s["detector"], s["max_side"], s["smooth_radius"]) == (
        "1001-1010", "centerface", 640, 3)
    assert s["source"].endswith("plate.####.exr")


def test_progress_cancel_and_resume_from_the_cache(source, shot_track, tmp_path):
    cache = tmp_path / "track.analysis.json"
    seen: list[tuple[int, int]] = []
    with pytest.raises(Cancelled, match="cancelled after 4 of 10 frames; run it again"):
        analyze_shot(source, AnalyzeSettings(), lambda d, t: seen.append((d, t)),
                     lambda: len(seen) >= 4, numbers=FRAMES, cache=cache)
    assert seen == [(1, 10), (2, 10), (3, 10), (4, 10)]
    assert len(json.loads(cache.read_text())["frames"]) == 4
    seen.clear()
    resumed = analyze_shot(source, AnalyzeSettings(), lambda d, t: seen.append((d, t)),
                           numbers=FRAMES, cache=cache)
    assert seen[-1] == (6, 6)  # only the six frames not done before were read
    assert resumed.to_json() == shot_track.to_json()


def test_cache_of_other_detector_settings_is_not_reused(source, tmp_path):
    cache = tmp_path / "a.analysis.json"
    analyze_shot(source, AnalyzeSettings(smooth=0), numbers=[1001, 1002], cache=cache)
    seen: list[int] = []
    analyze_shot(source, AnalyzeSettings(smooth=0, max_side=320),
                 lambda d, t: seen.append(d), numbers=[1001, 1002], cache=cache)
    assert seen == [1, 2]
    key = json.loads(cache.read_text())["key"]
    assert key == AnalyzeSettings(max_side=320).cache_key()


def test_cli_analyze_writes_what_the_library_returns(plate_pattern, shot_track, tmp_path):
    from doppel_cli.main import main

    out = tmp_path / "track.json"
    assert main(["analyze", plate_pattern, "-o", str(out), "--frames", "1001-1010",
                 "--quiet"]) == 0
    assert Track.load(out).to_json() == shot_track.to_json()


def test_bad_analysis_settings_are_named():
    for kw, msg in [({"detector": "x"}, "detector 'x'"), ({"smooth": -1}, "smooth"),
                    ({"face_type": "ears"}, "face type 'ears'"), ({"max_side": 8}, "max-side"),
                    ({"smooth": 51}, "smooth must be within 0..50")]:
        with pytest.raises(SettingsError, match=msg):
            AnalyzeSettings(**kw)


def test_analysis_ranges_are_the_parameter_tables():
    from engine.swap.params import BY_NAME

    for name in ("max_side", "face_index", "smooth"):
        lo, hi = BY_NAME[name].range
        AnalyzeSettings(**{name: int(lo)})
        AnalyzeSettings(**{name: int(hi)})
        with pytest.raises(SettingsError, match=name.replace("_", "-")):
            AnalyzeSettings(**{name: int(hi) + 1})


def test_detection_sees_the_same_image_in_analysis_and_render(source, demo_model, tmp_path):
    """Non-finite plate pixels follow one rule everywhere: a frame with +Inf/NaN over the eyes
    gives the same landmarks in `analyze_shot` as in the renderer's own detection."""
    from engine.io import read_image, write_exr
    from engine.io.source import ImageListSource
    from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook

    plate = read_image(source.path_of(1010))
    px = plate.pixels.copy()
    lm = analyze_shot(source, AnalyzeSettings(smooth=0), numbers=[1010]).landmarks(1010)
    y, xa, xb = int(lm[36:48, 1].mean()), int(lm[:, 0].min()), int(lm[:, 0].max())
    px[y - 3:y + 3, xa:xb, :3] = np.inf
    px[y + 8:y + 10, xa:xb, :3] = np.nan
    path = tmp_path / "plate.1010.exr"
    write_exr(path, px, list(plate.channels), {}, half=False)
    warnings: list[str] = []
    track = analyze_shot(ImageListSource({1010: path}, str(path)), AnalyzeSettings(smooth=0),
                         warnings=warnings)
    assert warnings and "NaN/Inf values replaced" in warnings[0]
    assert not np.allclose(track.landmarks(1010), lm, atol=0.01)  # the pixels did matter
    sw = FaceSwapper(EngineConfig(model=str(demo_model)))
    detected = sw.process(px, 1010, look=SwapLook(), channels=plate.channels)
    tracked = sw.process(px, 1010, look=SwapLook(), track=track, channels=plate.channels)
    assert detected.diagnostics["nonfinite_fixed"] > 0
    assert detected.image.tobytes() == tracked.image.tobytes()
