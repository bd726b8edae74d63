"""Model–plate mouth shape (engine/swap/mouth_fit.py): the source's mouth shapes in a model's
metadata, the per-shot verdict naming the plate frames whose shape the source never shows, and
models exported without them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import ModelError
from engine.geometry.align import mean_face
from engine.swap.infer import ModelInfo
from engine.swap.mouth_fit import MOUTHS_KEY, SourceMouths, shot_mouths


def _face(opening: float, width: float = 1.0, scale: float = 100.0, shift: float = 50.0
          ) -> np.ndarray:
    """The mean face with eye corners `scale` px apart, the inner lips `opening` of that apart
    and the mouth corners moved out from the mouth's centre by `width` (a factor)."""
    base = mean_face() * scale / np.linalg.norm(mean_face()[45] - mean_face()[36]) + shift
    base[[65, 66, 67]] = base[[63, 62, 61]]  # lips closed
    base[[65, 66, 67], 1] += opening * scale
    centre = (base[48] + base[54]) / 2
    base[[48, 54]] = centre + (base[[48, 54]] - centre) * width
    return base


def _info(meta: dict[str, str]) -> ModelInfo:
    return ModelInfo("models/m.onnx", "df-ud", 96, "full", "srgb", meta)


# A source that talks with its mouth's corners pulled out: open only wide, never round.
SOURCE = [_face(0.0)] * 20 + [_face(0.2, 1.3)] * 8 + [_face(0.1, 1.16)] * 6


def test_source_mouths_round_trip_through_metadata_with_repeated_shapes_counted_once():
    shapes = SourceMouths.from_landmarks(SOURCE, "franck")
    assert shapes.faces == 34 and shapes.counts.sum() == 34 and len(shapes.counts) == 3
    meta = {MOUTHS_KEY: shapes.to_json(), "src_name": "franck"}
    back = SourceMouths.from_metadata(meta)
    assert back.src_name == "franck" and back.faces == 34
    points = zip(back.opening.round(2), back.rel_width.round(2), back.counts, strict=True)
    assert sorted(points) == [(0.0, 1.0, 20), (0.1, 1.16, 6), (0.2, 1.3, 8)]
    assert SourceMouths.from_metadata({}) is None


@pytest.mark.parametrize("text", [
    "{", '{"schema": 1, "faces": 3}', "[" * 100_000 + "]" * 100_000, "x" * (2 << 20),
    '{"schema": 1e400, "faces": 1, "points": [[0, 1, 1]]}',
    '{"schema": 1, "faces": 1e400, "points": [[0, 1, 1]]}',
    '{"schema": true, "faces": 1, "points": [[0, 1, 1]]}',
    json.dumps({"schema": 9, "faces": 1, "points": [[0.0, 1.0, 1]]}),
    json.dumps({"schema": 1, "faces": 1, "points": [[0.0, 1.0, 0]]}),
    json.dumps({"schema": 1, "faces": 2, "points": [[0.2, 1.3, 1], [0.2, 1.0, 10 ** 19]]}),
    json.dumps({"schema": 1, "faces": 1, "points": [[[0.0, 1.0, 1]]]}),
    json.dumps({"schema": 1, "faces": 1, "points": [["0", "1", "1"]]}),
    json.dumps({"schema": 1, "faces": 1, "points": []})],
    ids=["truncated", "no-points", "deep", "huge", "schema-overflow", "faces-overflow",
         "schema-bool", "schema-9", "count-0", "count-int64", "3d", "strings", "empty"])
def test_unreadable_mouth_metadata_is_refused_naming_the_fix(text):
    with pytest.raises(ModelError, match="re-export"):
        SourceMouths.from_metadata({MOUTHS_KEY: text}, "m.onnx")
    # after a render or an analysis it is said, not raised: the work is not lost to it
    res = shot_mouths(_info({MOUTHS_KEY: text}), {1001 + i: _face(0.0) for i in range(6)})
    assert res.source is None and "re-export" in res.summary()


def test_plate_frames_with_a_round_mouth_the_source_never_makes_are_named():
    info = _info({MOUTHS_KEY: SourceMouths.from_landmarks(SOURCE, "franck").to_json(),
                  "src_name": "franck"})
    # the plate: closed, then a round "O" on 1005-1007, then a wide opening like the source's;
    # another person (a smaller mouth, another face size on the plate) and its own closed width
    plate = {1001 + i: _face(0.0, 0.85, 60.0, 300.0) for i in range(4)}
    plate.update({f: _face(0.0, 0.85, 60.0, 300.0) for f in (1010, 1011)})
    plate.update({f: _face(0.2, 0.85 * 0.95, 60.0, 300.0) for f in (1005, 1006, 1007)})
    plate.update({f: _face(0.2, 0.85 * 1.3, 60.0, 300.0) for f in (1008, 1009)})
    res = shot_mouths(info, plate)
    assert res.narrower == [1005, 1006, 1007] and res.wider == []
    line = res.summary()
    assert line.startswith("mouth shape: warning: frames 1005-1007 hold a round mouth") and \
        "franck never makes" in line and "(3/11 frames)" in line, line
    # the same plate without its "O" frames: every shape is the source's
    ok = shot_mouths(info, {f: lm for f, lm in plate.items() if f not in (1005, 1006, 1007)})
    assert ok.outside == [] and ok.summary().endswith(": ok")


def test_a_stretched_mouth_the_source_never_makes_is_named_as_wider():
    info = _info({MOUTHS_KEY: SourceMouths.from_landmarks(SOURCE).to_json()})
    plate = {1001 + i: _face(0.0) for i in range(6)}
    plate[1010] = _face(0.0, 1.3)  # a closed grin: the source's closed mouth is never that wide
    res = shot_mouths(info, plate)
    assert (res.narrower, res.wider) == ([], [1010])
    assert "frames 1010 stretch the mouth wider than src" in res.summary()


def test_a_model_exported_without_mouth_shapes_says_the_check_is_unavailable_and_how():
    res = shot_mouths(_info({}), {1001: _face(0.0)})
    assert res.source is None
    line = res.summary()
    assert line.startswith("mouth shape check unavailable for m.onnx") and "doppel export" in line


def test_the_bundled_franck_model_names_the_plates_round_mouths_it_will_draw_wide(
        samples, tmp_path, capsys):
    """The shipped main demo model carries franck's mouth shapes: on the cap12 plate, whose
    actor talks in round "O"s where franck's open mouth is always wide, `doppel analyze
    --model` names the open frames (three stretches of speech: 1012-1037, 1065-1101) and none
    of the closed ones."""
    from pathlib import Path

    from doppel_cli.main import main
    from engine.io import parse_frame_range

    franck = Path(__file__).resolve().parents[2] / "models" / "demo_franck_df-ud_96.onnx"
    assert main(["analyze", str(samples / "plate_cap12" / "cap12.####.exr"), "-o",
                 str(tmp_path / "t.json"), "--frames", "1001-1120x4", "--model", str(franck),
                 "--quiet"]) == 0
    line = next(x.strip() for x in capsys.readouterr().out.splitlines() if "mouth shape" in x)
    assert line.startswith("mouth shape: warning: frames ") and "franck never makes" in line, \
        line
    named = parse_frame_range(line.split("frames ")[1].split(" hold")[0])
    speech = set(range(1012, 1038)) | set(range(1065, 1102))
    assert len(named) >= 8 and set(named) <= speech, named


def test_a_shot_without_enough_closed_mouths_is_not_judged_against_its_own_speech():
    """The plate's closed-mouth width is what its widths are relative to: a range of speech
    alone (the node's Analyze over a few frames) would be compared with its own open mouths."""
    info = _info({MOUTHS_KEY: SourceMouths.from_landmarks(SOURCE).to_json()})
    talking = {1001 + i: _face(0.2, 1.3) for i in range(20)}  # the source's own shape
    res = shot_mouths(info, talking)
    assert res.source is None and "fewer than 5" in res.summary()
    assert "analyse a longer range" in res.summary()


def test_a_render_chunk_is_judged_against_the_whole_shots_closed_mouth():
    """A chunk (or a resumed render) reports its own frames, measured against every tracked
    frame: the same verdict for a frame whichever chunk renders it."""
    info = _info({MOUTHS_KEY: SourceMouths.from_landmarks(SOURCE).to_json()})
    shot = {1001 + i: _face(0.0) for i in range(6)}
    shot.update({1010 + i: _face(0.2, 0.95) for i in range(4)})  # round "O"s
    whole = shot_mouths(info, shot)
    chunk = shot_mouths(info, shot, report=[1011, 1012])
    assert whole.narrower == [1010, 1011, 1012, 1013]
    assert chunk.narrower == [1011, 1012] and chunk.frames == [1011, 1012]
