"""FaceSwapper on real plate frames with the bundled demo model."""

import numpy as np
import pytest

from engine.errors import ModelError, SettingsError
from engine.io import read_image
from engine.swap.color_transfer import TRANSFERS
from engine.swap.pipeline import EngineConfig, FaceSwapper, SwapLook

LOOK = SwapLook()


@pytest.fixture(scope="module")
def swapper(demo_model):
    return FaceSwapper(EngineConfig(model=str(demo_model)))


@pytest.fixture(scope="module")
def plate_1010(plate_pattern):
    from engine.io import open_source

    return read_image(open_source(plate_pattern).path_of(1010))


def test_swap_changes_the_face_and_nothing_outside_the_mask(swapper, plate_1010, plate_track):
    px = plate_1010.pixels.copy()
    px[0:4, 0:4, 0] = 7.5  # highlights above 1
    px[4:8, 0:4, 1] = -0.25  # negatives
    px[8:10, 0:4, 2] = np.nan  # NaN outside the face passes through untouched
    px[..., 3] = np.linspace(0, 1, px.shape[1])[None]  # a real alpha ramp
    res = swapper.process(px, 1010, look=LOOK, track=plate_track, channels=plate_1010.channels)
    assert res.diagnostics["swapped"] and "landmarks" in res.diagnostics["timings_ms"]
    m = res.mask
    outside = m == 0
    a, b = res.image[outside], px[outside]
    assert np.array_equal(a[np.isfinite(b)], b[np.isfinite(b)])
    assert np.isnan(res.image[8:10, 0:4, 2]).all()
    np.testing.assert_array_equal(res.image[..., 3], px[..., 3])  # alpha passes through
    inside = m > 0.5
    assert inside.sum() > 5000
    assert np.abs(res.image[inside][:, :3] - px[inside][:, :3]).mean() > 0.005


def test_same_frame_gives_the_same_pixels_every_time(swapper, plate_1010, plate_track):
    a, b = (swapper.process(plate_1010.pixels, 1010, look=LOOK, track=plate_track,
                            channels=plate_1010.channels) for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_nan_in_the_face_is_sanitised_and_reported(swapper, plate_1010, plate_track):
    px = plate_1010.pixels.copy()
    x, y = plate_track.landmarks(1010)[30].astype(int)  # nose tip
    px[y - 3:y + 3, x - 3:x + 3, :3] = np.nan
    res = swapper.process(px, 1010, look=LOOK, track=plate_track, channels=plate_1010.channels)
    assert res.diagnostics["nonfinite_fixed"] == 6 * 6 * 3
    assert np.isfinite(res.image[res.mask > 0][:, :3]).all()


def test_no_face_passes_the_plate_through(swapper, plate_1010):
    from engine.geometry.track import Track

    empty = Track({})
    res = swapper.process(plate_1010.pixels, 1010, look=LOOK, track=empty,
                          channels=plate_1010.channels)
    assert not res.diagnostics["swapped"] and res.diagnostics["reason"] == "no face"
    assert np.array_equal(res.image, plate_1010.pixels) and not res.mask.any()


def test_detection_path_matches_a_raw_track(demo_model, plate_1010, plate_faces):
    from engine.geometry.track import select_track

    raw = select_track(plate_faces)  # unsmoothed: the same landmarks detection gives
    sw = FaceSwapper(EngineConfig(model=str(demo_model)))
    a = sw.process(plate_1010.pixels, 1010, look=LOOK, track=None, channels=plate_1010.channels)
    b = sw.process(plate_1010.pixels, 1010, look=LOOK, track=raw, channels=plate_1010.channels)
    assert a.diagnostics["faces_found"] == 1
    assert np.array_equal(a.image, b.image)


def test_erode_and_blur_in_plate_pixels_mean_the_same_at_two_plate_resolutions(
        demo_model, plate_1010, plate_track):
    import cv2

    from engine.geometry.track import Track

    lm = plate_track.landmarks(1010)
    small = plate_1010.pixels
    big = cv2.resize(small, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    masks = []
    for img, scale, erode, blur in ((small, 1, 6.0, 10.0), (big, 2, 12.0, 20.0)):
        t = Track({1010: plate_track.faces[1010]}, {1010: (lm + 0.5) * scale - 0.5})
        sw = FaceSwapper(EngineConfig(model=str(demo_model)))
        look = SwapLook(erode=erode, blur=blur, mask_units="px")
        masks.append(sw.process(img, 1010, look=look, track=t, channels=plate_1010.channels).mask)
    down = cv2.resize(masks[1], masks[0].shape[::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(down - masks[0]).mean() < 0.01
    def area(erode):
        sw = FaceSwapper(EngineConfig(model=str(demo_model)))
        return sw.process(small, 1010, look=SwapLook(erode=erode, blur=0.0, mask_units="px"),
                          track=plate_track, channels=plate_1010.channels).mask.sum()

    assert area(12.0) < 0.9 * area(0.0) < area(-12.0) * 0.9  # erode shrinks, dilate grows


def test_face_units_give_the_same_mask_whatever_the_faces_size_on_the_plate(demo_model,
                                                                            plate_1010,
                                                                            plate_track):
    """`mask_units="face"`: erode and blur in % of the face, so the same numbers cover the same
    part of a face twice as large (a dolly-in, a 4K plate); in plate pixels they do not."""
    import cv2

    from engine.geometry.track import Track

    lm = plate_track.landmarks(1010)
    small = plate_1010.pixels
    big = cv2.resize(small, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)

    def masks(look):
        out = []
        for img, scale in ((small, 1), (big, 2)):
            t = Track({1010: plate_track.faces[1010]}, {1010: (lm + 0.5) * scale - 0.5})
            sw = FaceSwapper(EngineConfig(model=str(demo_model)))
            out.append(sw.process(img, 1010, look=look, track=t,
                                  channels=plate_1010.channels).mask)
        down = cv2.resize(out[1], out[0].shape[::-1], interpolation=cv2.INTER_AREA)
        # The difference over the mask's own area (the plate around it is zero in both).
        return float(np.abs(down - out[0]).sum() / out[0].sum()), out[0]

    face_diff, face_mask = masks(SwapLook(erode=4.0, blur=8.0, mask_units="face"))
    px_diff, px_mask = masks(SwapLook(erode=4.0, blur=8.0, mask_units="px"))
    assert face_diff < 0.002 and px_diff > 0.005  # measured: 0.0004 and 0.011
    assert np.abs(face_mask - px_mask).sum() > 0.05 * px_mask.sum()  # the units matter


@pytest.mark.parametrize("view", ["face", "mask", "landmarks"])
def test_output_views(swapper, demo_model, plate_1010, plate_track, view):
    res = swapper.process(plate_1010.pixels, 1010, look=SwapLook(output=view), track=plate_track,
                          channels=plate_1010.channels)
    if view == "mask":
        np.testing.assert_array_equal(res.image[..., 0], res.mask)
    else:
        assert not np.array_equal(res.image, plate_1010.pixels)


def test_settings_are_validated_once():
    for kw, msg in [({"blend": "smudge"}, "blend mode"), ({"strength": 2.0}, "strength"),
                    ({"mask_mode": "learned-prd*ears"}, "unknown term"),
                    ({"color": "sepia"}, "color 'sepia'"), ({"output": "x"}, "output 'x'")]:
        with pytest.raises(SettingsError, match=msg):
            SwapLook(**kw)


def test_bad_model_files_are_model_errors(tmp_path, demo_model):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelError, match="junk.onnx"):
        FaceSwapper(EngineConfig(model=str(junk)))
    with pytest.raises(ModelError, match="model file not found"):
        FaceSwapper(EngineConfig(model=str(tmp_path / "none.onnx")))
    import onnx

    proto = onnx.load(str(demo_model))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ModelError, match="lacks Doppel metadata"):
        FaceSwapper(EngineConfig(model=str(bare)))
    with pytest.raises(ModelError, match="face type 'full' but settings ask 'head'"):
        FaceSwapper(EngineConfig(model=str(demo_model), face_type="head"))


def test_ocio_builtin_config_matches_the_srgb_default_and_acescg_differs(demo_model, plate_1010,
                                                                        plate_track):
    pytest.importorskip("PyOpenColorIO", reason="the ocio extra is not installed")
    base = dict(model=str(demo_model), ocio_config="ocio://cg-config-latest")
    default = FaceSwapper(EngineConfig(model=str(demo_model))).process(
        plate_1010.pixels, 1010, look=LOOK, track=plate_track, channels=plate_1010.channels)
    srgb = FaceSwapper(EngineConfig(**base)).process(
        plate_1010.pixels, 1010, look=LOOK, track=plate_track, channels=plate_1010.channels)
    inside = default.mask > 0.5
    diff = np.abs(srgb.image[inside] - default.image[inside])
    assert diff.mean() < 2e-4 and diff.max() < 5e-3  # OCIO evaluates the curve its own way
    aces = FaceSwapper(EngineConfig(**base, ocio_plate_space="ACEScg")).process(
        plate_1010.pixels, 1010, look=LOOK, track=plate_track, channels=plate_1010.channels)
    assert np.abs(aces.image[inside] - default.image[inside]).mean() > 5e-3
    with pytest.raises(SettingsError, match="OCIO config"):
        FaceSwapper(EngineConfig(**base, ocio_plate_space="No Such Space"))


def brightness_xseg(path, resolution=96, face_type="full"):
    """A small real ONNX segmentation model: mask = sigmoid(20·(mean(RGB) − 0.35))."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ReduceMean", ["face", "axes"], ["mean"], keepdims=1),
        helper.make_node("Sub", ["mean", "thr"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["mask"]),
    ]
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
             helper.make_tensor("thr", TensorProto.FLOAT, [], [0.35]),
             helper.make_tensor("gain", TensorProto.FLOAT, [], [20.0])]
    graph = helper.make_graph(
        nodes, "xseg", [helper.make_tensor_value_info("face", TensorProto.FLOAT,
                                                      ["N", 3, resolution, resolution])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT,
                                       ["N", 1, resolution, resolution])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    for k, v in {"doppel.schema": "1", "arch": "xseg", "resolution": str(resolution),
                 "face_type": face_type, "colorspace": "srgb"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_xseg_masks_come_from_the_xseg_model(tmp_path, demo_model, plate_1010, plate_track):
    from engine.geometry.align import align_matrix

    xseg = brightness_xseg(tmp_path / "xseg.onnx")
    sw = FaceSwapper(EngineConfig(model=str(demo_model), xseg=str(xseg)))
    xlook = SwapLook(mask_mode="xseg-dst", blur=0.0)
    rng = np.random.default_rng(0)
    dst, swap = rng.random((2, 96, 96, 3), np.float32)
    lm = plate_track.landmarks(1010)
    masks = sw._xseg_masks(sw.xseg, lm, align_matrix(lm, 96, "full"), dst, swap)
    expected = 1 / (1 + np.exp(-20 * (dst.mean(-1) - 0.35)))
    np.testing.assert_allclose(masks["xseg-dst"], expected, atol=1e-4)
    res = sw.process(plate_1010.pixels, 1010, look=xlook, track=plate_track,
                     channels=plate_1010.channels)
    hull = sw.process(plate_1010.pixels, 1010, look=SwapLook(mask_mode="hull", blur=0.0),
                      track=plate_track, channels=plate_1010.channels)
    assert res.mask.sum() > 1000 and np.abs(res.mask - hull.mask).mean() > 0.01
    with pytest.raises(SettingsError, match="needs 'xseg-dst'.*XSeg model"):
        FaceSwapper(EngineConfig(model=str(demo_model))).process(
            plate_1010.pixels, 1010, look=xlook, track=plate_track, channels=plate_1010.channels)
    with pytest.raises(ModelError, match=r"XSeg model needs input 'face' and output\(s\) mask"):
        FaceSwapper(EngineConfig(model=str(demo_model), xseg=str(demo_model)))


def affine_swap_model(path, weight, offset, resolution=96, dst_face=False):
    """A small real ONNX swap model: swap = face · weight + offset (`3×R×R` constants), both
    learned masks 1; with `dst_face`, the reconstruction is the input itself."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    r = resolution
    nodes = [helper.make_node("Mul", ["face", "weight"], ["scaled"]),
             helper.make_node("Add", ["scaled", "offset"], ["swap"]),
             helper.make_node("ReduceMean", ["face", "axes"], ["mean"], keepdims=1),
             helper.make_node("Mul", ["mean", "zero"], ["nil"]),
             helper.make_node("Add", ["nil", "one"], ["mask"]),
             helper.make_node("Identity", ["mask"], ["dst_mask"])]
    outputs = ["swap", "mask", "dst_mask"]
    if dst_face:
        nodes.append(helper.make_node("Identity", ["face"], ["dst_face"]))
        outputs.append("dst_face")
    inits = [numpy_helper.from_array(np.asarray(weight, np.float32)[None], "weight"),
             numpy_helper.from_array(np.asarray(offset, np.float32)[None], "offset"),
             helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
             helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])]
    graph = helper.make_graph(
        nodes, "swap", [helper.make_tensor_value_info("face", TensorProto.FLOAT,
                                                      ["N", 3, r, r])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT,
                                       ["N", 1 if "mask" in o else 3, r, r]) for o in outputs],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    for k, v in {"doppel.schema": "1", "arch": "test", "resolution": str(r),
                 "face_type": "full", "colorspace": "srgb"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_the_swapped_face_keeps_its_linear_range_through_the_warp_back(tmp_path, plate_1010,
                                                                       plate_track):
    # A hard black/white checkerboard: a cubic resampling overshoots below 0 beside every edge.
    yy, xx = np.mgrid[0:96, 0:96]
    checker = np.broadcast_to((((yy // 3) + (xx // 3)) % 2).astype(np.float32), (3, 96, 96))
    path = affine_swap_model(tmp_path / "checker.onnx", np.zeros((3, 96, 96)), checker)
    sw = FaceSwapper(EngineConfig(model=str(path)))
    res = sw.process(plate_1010.pixels, 1010, look=SwapLook(color="none", blur=0.0, erode=0.0),
                     track=plate_track, channels=plate_1010.channels)
    assert res.face_roi.min() >= 0.0 and res.face_roi.max() <= 1.0
    assert res.image[..., :3].min() >= min(float(plate_1010.pixels[..., :3].min()), 0.0)


def test_colour_statistics_come_from_the_masks_inner_edge(tmp_path, plate_1010, plate_track):
    # The swap is the plate's own face with a dark patch in its middle (another person's
    # eyes and brows): matched along the edge, the edge keeps the plate's colour exactly; a
    # match over the whole mask would brighten the edge to make up for the patch.
    weight = np.ones((3, 96, 96), np.float32)
    weight[:, 30:66, 25:71] = 0.3
    path = affine_swap_model(tmp_path / "patch.onnx", weight, np.zeros((3, 96, 96)))
    sw = FaceSwapper(EngineConfig(model=str(path)))
    look = SwapLook(color="rct", mask_mode="hull", erode=0.0, blur=0.0)
    res = sw.process(plate_1010.pixels, 1010, look=look, track=plate_track,
                     channels=plate_1010.channels)
    import cv2

    inside = (res.mask > 0.99).astype(np.uint8)
    ring = (inside > 0) & (cv2.distanceTransform(inside, cv2.DIST_L2, 3) <= 8)
    diff = np.abs(res.image[ring][:, :3] - plate_1010.pixels[ring][:, :3]).mean()
    assert diff < 0.004, diff
    centre = plate_track.landmarks(1010)[29].astype(int)  # in the patch: darker than the plate
    assert res.image[centre[1], centre[0], 0] < 0.7 * plate_1010.pixels[centre[1], centre[0], 0]


def test_the_default_mask_stays_inside_the_plate_face_and_a_full_face_crop():
    from engine.geometry.align import FACE_TYPES, mean_face
    from engine.swap.mask import hull_points
    from engine.swap.pipeline import forehead_lift
    from engine.swap.settings import SwapLook

    assert SwapLook().mask_mode == "learned-prd*learned-dst*hull"
    # A face-relative feather, three quarters of it inside the outline (its ±2σ span is the
    # blur: erode a quarter leaves a quarter outside, as measured in docs/evaluation.md).
    assert SwapLook().mask_units == "face" and SwapLook().erode == SwapLook().blur / 4
    assert forehead_lift(FACE_TYPES["whole"]) == forehead_lift(FACE_TYPES["head"]) == 0.25
    for name in ("full", "whole", "head"):  # half, mid-full: the brows are the crop's top
        ft = FACE_TYPES[name]
        extent = 1 + 2 * ft.padding
        top = hull_points(mean_face(), forehead_lift(ft))[:, 1].min()  # unit frame
        crop_top = -ft.padding - ft.shift * extent
        assert top >= crop_top + 2 * 0.04 * extent - 1e-9, name  # two border fades inside
    assert forehead_lift(FACE_TYPES["full"]) == pytest.approx(0.08, abs=0.005)
def test_without_composite_the_face_and_mask_are_the_same_and_the_plate_is_untouched(
        swapper, plate_1010, plate_track):
    """The face-region output's path: the swap's own pixels as with the composite, no blend."""
    full = swapper.process(plate_1010.pixels, 1010, look=LOOK, track=plate_track,
                           channels=plate_1010.channels)
    out = plate_1010.pixels.copy()
    bare = swapper.process(plate_1010.pixels, 1010, look=LOOK, track=plate_track, out=out,
                           channels=plate_1010.channels, composite=False)
    assert bare.roi == full.roi and bare.diagnostics["swapped"]
    assert np.array_equal(bare.mask_roi, full.mask_roi)
    assert np.array_equal(bare.face_roi, full.face_roi)
    assert np.array_equal(bare.image, plate_1010.pixels)


@pytest.mark.parametrize("mode", ["none", *sorted(TRANSFERS)])
def test_every_colour_mode_keeps_the_face_a_face(swapper, plate_1010, plate_track, mode):
    """No colour mode may blank the face: inside the mask the render keeps the plate face's
    brightness to within a factor of two and has no black hole where the plate has none (the
    DeepFaceLab modes once zero-filled the face's middle: a black face, exit 0)."""
    res = swapper.process(plate_1010.pixels, 1010, look=SwapLook(color=mode),
                          track=plate_track, channels=plate_1010.channels)
    x0, y0, x1, y1 = res.roi
    inside = res.mask_roi > 0.9
    face = res.image[y0:y1, x0:x1, :3][inside]
    plate = plate_1010.pixels[y0:y1, x0:x1, :3][inside]
    assert inside.sum() > 1000
    assert 0.5 < face.mean() / plate.mean() < 2.0, (face.mean(), plate.mean())
    dark = face.max(-1) < 0.01
    assert dark.mean() <= (plate.max(-1) < 0.01).mean() + 0.01, dark.mean()
