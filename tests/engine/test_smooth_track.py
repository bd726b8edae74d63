import json

import numpy as np
import pytest

from engine.errors import InputError
from engine.geometry.align import mean_face
from engine.geometry.smooth import smooth_landmarks
from engine.geometry.track import Track, select_track, smooth_track
from engine.types import Detection, Face


def jittered_track(n=60, jitter=1.0, step_at=None, step=40.0, seed=0):
    rng = np.random.default_rng(seed)
    base = (mean_face() - 0.5) * 120 + 400  # face scale ~ 45 px
    truth = np.stack([base + [0.5 * t, 0.0] for t in range(n)])  # slow, steady pan
    if step_at is not None:
        truth[step_at:] += [step, 0.0]
    noisy = truth + rng.normal(0, jitter, truth.shape)
    return list(range(1001, 1001 + n)), noisy.astype(np.float32), truth


def frame_to_frame(x):
    return np.abs(np.diff(x, axis=0)).mean()


def test_smoothing_reduces_frame_to_frame_jitter():
    frames, noisy, truth = jittered_track()
    out = smooth_landmarks(frames, noisy, radius=3)
    true_motion = frame_to_frame(truth)
    assert frame_to_frame(out) - true_motion < 0.4 * (frame_to_frame(noisy) - true_motion)
    assert np.abs(out - truth).mean() < 0.7 * np.abs(noisy - truth).mean()


def test_smoothing_does_not_lag_steady_motion():
    frames, noisy, truth = jittered_track(jitter=0.0)
    out = smooth_landmarks(frames, noisy, radius=3)
    np.testing.assert_allclose(out[3:-3], truth[3:-3], atol=1e-3)


def test_a_real_step_is_followed_within_a_few_frames():
    frames, noisy, truth = jittered_track(step_at=30)
    out = smooth_landmarks(frames, noisy, radius=4)
    err = np.abs(out - truth).mean(axis=(1, 2))
    assert (err[32:] < 1.5).all() and (err[:28] < 1.5).all()
    assert err[28:32].max() < 10  # never smeared halfway across the 40 px step


def test_smoothing_only_uses_contiguous_frames():
    frames = [1, 2, 3, 10, 11, 12]
    lm = np.stack([mean_face() * 100 + (0 if f < 10 else 5) for f in frames]).astype(np.float32)
    out = smooth_landmarks(frames, lm, radius=3, motion_sigma=10.0)
    np.testing.assert_allclose(out, lm, atol=1e-4)


def face_at(x, y, size=100.0, desc=None):
    lm = (mean_face() - 0.5) * size * 0.8 + [x, y]
    det = Detection((x - size / 2, y - size / 2, x + size / 2, y + size / 2), 0.9, "test")
    return Face(det, lm.astype(np.float32), "test", (0.0, 0.0, 0.0),
                None if desc is None else np.asarray(desc, np.float32))


def test_track_follows_the_nearest_face_not_the_largest():
    # Person A (smaller) is picked first by index 1; a larger B stays put; A walks right.
    faces = {f: [face_at(500, 300, 160), face_at(100 + 10 * (f - 1), 300, 100)]
             for f in range(1, 20)}
    track = select_track(faces, face_index=1)
    xs = [track.faces[f].detection.center[0] for f in track.frames]
    assert xs == pytest.approx([100 + 10 * i for i in range(19)])


def test_track_by_reference_descriptor_picks_that_identity():
    a, b = np.zeros(128), np.full(128, 0.1)  # |a - b| = 1.13 > 0.6
    faces = {f: [face_at(500, 300, 160, b), face_at(100, 300, 100, a + 0.001 * f)]
             for f in range(1, 6)}
    track = select_track(faces, reference=a)
    assert all(track.faces[f].detection.center[0] == 100 for f in track.frames)


def test_track_json_roundtrip_and_schema_check(tmp_path):
    faces = {f: [face_at(100 + f, 200)] for f in range(1001, 1011)}
    track = smooth_track(select_track(faces), radius=2)
    track.save(tmp_path / "t.json")
    back = Track.load(tmp_path / "t.json")
    assert back.frames == track.frames
    np.testing.assert_allclose(back.landmarks(1005), track.landmarks(1005), atol=1e-3)
    data = json.loads((tmp_path / "t.json").read_text())
    data["schema"] = 99
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="schema 99 not supported"):
        Track.load(tmp_path / "t.json")
