"""The engine as a host uses it: config/look split, any-stride sources, caller buffers, ROI,
and one instance shared by many threads (DESIGN.md §6)."""

import random
import threading

import numpy as np
import onnxruntime as ort
import pytest

from engine.errors import SettingsError
from engine.geometry.track import Track
from engine.io import open_source, read_image
from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook

LOOKS = [SwapLook(), SwapLook(blur=20.0, erode=4.0), SwapLook(color="mkl", strength=0.5),
         SwapLook(mask_mode="hull", blend="seamless"), SwapLook(output="mask"),
         SwapLook(output="face", sharpen=0.5, motion_blur=0.5), SwapLook(color="none"),
         SwapLook(output="landmarks")]


@pytest.fixture(scope="module")
def plates(plate_pattern):
    src = open_source(plate_pattern)
    return {f: read_image(src.path_of(f)) for f in range(1001, 1051)}


@pytest.fixture(scope="module")
def swapper(demo_model):
    return FaceSwapper(EngineConfig(model=str(demo_model), threads=1))


@pytest.fixture
def sessions(monkeypatch):
    """Counts real ONNX Runtime session constructions (the sessions themselves are real)."""
    made: list[str] = []
    real = ort.InferenceSession

    class Counting(real):
        def __init__(self, *args, **kwargs):
            made.append(type(args[0]).__name__)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", Counting)
    return made


def test_changing_only_look_values_builds_no_new_session(sessions, demo_model, plates,
                                                         plate_track, tmp_path):
    from tests.engine.test_pipeline import brightness_xseg

    xseg = brightness_xseg(tmp_path / "xseg.onnx")
    sw = FaceSwapper(EngineConfig(model=str(demo_model), xseg=str(xseg)))
    assert len(sessions) == 2  # swap model + XSeg model, once
    p = plates[1010]
    outs = [sw.process(p.pixels, 1010, look=look, track=plate_track, channels=p.channels).image
            for look in LOOKS + [SwapLook(mask_mode="xseg-dst*learned-prd")]]
    assert len(sessions) == 2
    assert len({o.tobytes() for o in outs}) == len(outs)  # every look did change the pixels
    sw.process(p.pixels, 1010, look=SwapLook(), track=None, channels=p.channels)
    assert len(sessions) == 3  # the detector, built on the first frame without a track
    sw.process(p.pixels, 1010, look=SwapLook(face_index=1, blur=3.0), track=None,
               channels=p.channels)
    assert len(sessions) == 3


def test_bottom_up_source_and_caller_out_buffer_are_bit_identical(swapper, plates,
                                                                  plate_track):
    p = plates[1012]
    px = p.pixels.copy()
    px[5:9, 5:9, 0] = np.nan  # non-finite values outside the face pass through as they are
    for look in (SwapLook(), SwapLook(output="mask"), SwapLook(output="landmarks")):
        ref = swapper.process(px, 1012, look=look, track=plate_track, channels=p.channels)
        bottom_up = np.ascontiguousarray(px[::-1])  # rows stored bottom to top, as OFX does
        view = bottom_up[::-1]  # negative row stride, top-down image
        view.flags.writeable = False
        assert view.strides[0] < 0
        out_mem = np.full_like(bottom_up, 3.0)
        out = out_mem[::-1]
        res = swapper.process(view, 1012, look=look, track=plate_track, out=out,
                              channels=p.channels)
        assert res.image is out and np.shares_memory(res.image, out_mem)
        np.testing.assert_array_equal(out, ref.image)  # NaN == NaN in position too
        assert out.tobytes() == ref.image.tobytes()
        np.testing.assert_array_equal(view, px)  # the source was not written
        inplace = px.copy()
        res = swapper.process(inplace, 1012, look=look, track=plate_track, out=inplace,
                              channels=p.channels)
        assert inplace.tobytes() == ref.image.tobytes()
        assert res.mask.tobytes() == ref.mask.tobytes()


def test_out_buffer_must_match_the_source(swapper, plates, plate_track):
    p = plates[1010]
    with pytest.raises(SettingsError, match="out buffer"):
        swapper.process(p.pixels, 1010, look=SwapLook(), track=plate_track,
                        out=np.zeros((4, 4, 4), np.float32), channels=p.channels)
    with pytest.raises(SettingsError, match="float32"):
        swapper.process(p.pixels.astype(np.float64), 1010, look=SwapLook(), track=plate_track,
                        channels=p.channels)
    with pytest.raises(SettingsError, match="out buffer"):  # half source, float out
        swapper.process(p.pixels.astype(np.float16), 1010, look=SwapLook(), track=plate_track,
                        out=np.zeros(p.pixels.shape, np.float32), channels=p.channels)


def test_a_half_source_gives_the_float_result_rounded_to_half(swapper, plates, plate_track):
    """A float16 plate (a half render's) is swapped in float32 over the ROI: the output is
    the float32 plate's output rounded to half, value for value, mask and face alike."""
    p = plates[1010]
    half = p.pixels.astype(np.float16)
    ref = swapper.process(half.astype(np.float32), 1010, look=SwapLook(), track=plate_track,
                          channels=p.channels)
    got = swapper.process(half, 1010, look=SwapLook(), track=plate_track, channels=p.channels)
    assert got.image.dtype == np.float16 and got.roi == ref.roi
    assert np.array_equal(got.image.view(np.uint16),
                          ref.image.astype(np.float16).view(np.uint16))
    np.testing.assert_array_equal(got.mask_roi, ref.mask_roi)
    np.testing.assert_array_equal(got.face_roi, ref.face_roi)
    assert got.mask_as(np.float16).dtype == np.float16
    assert np.array_equal(got.mask_as(np.float16), ref.mask.astype(np.float16))
    # Non-finite plate values, in the face and outside it: the face is made from the one
    # rule's finite values as in float, and a NaN the swap does not cover keeps its bits.
    x0, y0, x1, y1 = got.roi
    bad = half.copy()
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    bad[cy, cx, 0], bad[cy + 1, cx, 1], bad[cy, cx + 1, 2] = np.nan, np.inf, -np.inf
    bad[2, 3, 0] = np.float16(np.nan)
    payload = np.array([0x7E01], np.uint16).view(np.float16)[0]  # a NaN with a payload
    bad[4, 5, 1] = payload
    ref = swapper.process(bad.astype(np.float32), 1010, look=SwapLook(), track=plate_track,
                          channels=p.channels)
    got = swapper.process(bad, 1010, look=SwapLook(), track=plate_track, channels=p.channels)
    assert got.diagnostics["nonfinite_fixed"] == ref.diagnostics["nonfinite_fixed"] == 3
    assert np.isfinite(got.image[cy, cx, :3]).all()
    want = ref.image.astype(np.float16)
    same = np.isfinite(want)
    assert np.array_equal(np.isfinite(got.image), same)
    assert np.array_equal(got.image[same].view(np.uint16), want[same].view(np.uint16))
    assert got.image[4, 5, 1].view(np.uint16) == 0x7E01


@pytest.mark.parametrize("look", [SwapLook(), SwapLook(blend="seamless", blur=25.0),
                                  SwapLook(output="landmarks"), SwapLook(output="face")],
                         ids=["comp", "seamless", "landmarks", "face"])
def test_roi_is_all_the_frame_reads_and_writes(swapper, plates, plate_track, look):
    rng = np.random.default_rng(1)
    for f in (1001, 1030, 1050):
        p = plates[f]
        x0, y0, x1, y1 = swapper.roi(f, plate_track, look, p.pixels.shape)
        h, w = p.pixels.shape[:2]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and (x1 - x0) * (y1 - y0) < h * w / 2
        ref = swapper.process(p.pixels, f, look=look, track=plate_track, channels=p.channels)
        # Garbage outside the ROI must change nothing inside it, and pass through outside.
        noisy = rng.normal(0, 50, p.pixels.shape).astype(np.float32)
        noisy[y0:y1, x0:x1] = p.pixels[y0:y1, x0:x1]
        res = swapper.process(noisy, f, look=look, track=plate_track, channels=p.channels)
        assert res.image[y0:y1, x0:x1].tobytes() == ref.image[y0:y1, x0:x1].tobytes()
        outside = np.ones((h, w), bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(res.image[outside], noisy[outside])
        unclipped = swapper.roi(f, plate_track, look)
        assert unclipped[0] <= x0 and unclipped[2] >= x1


def test_roi_none_where_the_frame_passes_through(swapper, plates, plate_track):
    p = plates[1010]
    empty = Track({})
    assert swapper.roi(1010, empty, SwapLook()) is None
    res = swapper.process(p.pixels, 1010, look=SwapLook(), track=empty, channels=p.channels)
    assert res.image.tobytes() == p.pixels.tobytes()
    assert swapper.roi(1010, None, SwapLook(), p.pixels.shape) == (0, 0, p.width, p.height)
    with pytest.raises(SettingsError, match="needs the plate shape"):
        swapper.roi(1010, None, SwapLook())
    far = Track({1010: plate_track.faces[1010]},
                {1010: plate_track.landmarks(1010) + np.float32(10000)})
    assert swapper.roi(1010, far, SwapLook(), p.pixels.shape) is None


def test_eight_threads_on_one_instance_match_a_serial_run(swapper, plates, plate_track):
    frames = sorted(plates)
    looks = (SwapLook(), SwapLook(blur=16.0, color="lct"))

    def run(f, look):
        p = plates[f]
        r = swapper.process(p.pixels, f, look=look, track=plate_track, channels=p.channels)
        return r.image.tobytes() + r.mask.tobytes()

    serial = {(f, k): run(f, look) for f in frames for k, look in enumerate(looks)}
    got: dict[tuple[int, int, int], bytes] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(t):
        try:
            order = frames[:]
            random.Random(t).shuffle(order)
            start.wait()
            for f in order:
                got[(t, f, t % 2)] = run(f, looks[t % 2])
        except BaseException as exc:  # reported below, never lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(got) == 8 * 50
    mismatched = [key for key, v in got.items() if v != serial[(key[1], key[2])]]
    assert not mismatched


def test_threads_detecting_on_one_instance_match_a_serial_run(demo_model, plates):
    sw = FaceSwapper(EngineConfig(model=str(demo_model), threads=1))  # detector built lazily
    frames = [1001, 1020, 1040, 1050]

    def run(f):
        p = plates[f]
        r = sw.process(p.pixels, f, look=SwapLook(), channels=p.channels)
        return r.image.tobytes()

    got: dict[tuple[int, int], bytes] = {}
    threads = [threading.Thread(target=lambda t=t: got.update({(t, f): run(f)
                                                                for f in frames}))
               for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    serial = {f: run(f) for f in frames}
    assert len(got) == 16 and all(v == serial[f] for (_, f), v in got.items())
