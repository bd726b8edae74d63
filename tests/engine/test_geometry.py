"""Outputs line up with the plate: overscan and offset data windows, header attributes.

An overscan plate (data window larger than the display window) and a plate whose data window is
an offset crop are rendered with the track made on the plain plate; each output is placed in the
frame by its own windows and composited back over its plate: outside the mask it must equal the
plate exactly, and the swapped face must land where it lands on the plain plate.
"""

import json

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import InputError
from engine.geometry.track import attach_plate, select_track
from engine.io import Geometry, open_source, read_image, write_exr
from engine.io.image import carried, type_key
from engine.shot.analyze import analyze_frames
from engine.shot.render import RenderJob, render
from engine.swap.pipeline import SwapSettings

FRAMES = [1001, 1002, 1003]
# OpenImageIO types by name, or as `type_key`s where the name does not parse back (int vectors).
ATTRS = (("owner", "string", "Doppel test plate"), ("comments", "string", "overscan"),
         ("framesPerSecond", "rational2i", (24, 1)), ("smpte:TimeCode", "timecode", (1, 0)),
         ("originalDataWindow", "box2i", (0, 0, 879, 719)),
         ("studio/cropOffset", type_key(oiio.TypeDesc(oiio.INT, oiio.VEC2)), (7, 8)),
         ("studio/tileIndex", type_key(oiio.TypeDesc(oiio.INT, oiio.VEC3)), (1, 2, 3)))


def in_frame(path) -> tuple[np.ndarray, np.ndarray, oiio.ImageSpec]:
    """(RGB, mask or None-as-zeros) of an EXR placed on its display window canvas."""
    img = read_image(path)
    spec = oiio.ImageInput.open(str(path)).spec()
    geo = img.geometry
    dx, dy, dw, dh = geo.display
    rgb = np.full((dh, dw, 3), np.nan, np.float32)
    mask = np.zeros((dh, dw), np.float32)
    x0, y0 = geo.data[0] - dx, geo.data[1] - dy
    for canvas, src in ((rgb, img.rgb()), (mask, img.channel("doppel.mask")
                                           if "doppel.mask" in img.channels else None)):
        if src is None:
            continue
        h, w = src.shape[:2]
        sx0, sy0 = max(0, -x0), max(0, -y0)
        cx0, cy0 = max(0, x0), max(0, y0)
        cw, ch = min(w - sx0, dw - cx0), min(h - sy0, dh - cy0)
        canvas[cy0:cy0 + ch, cx0:cx0 + cw] = src[sy0:sy0 + ch, sx0:sx0 + cw]
    return rgb, mask, spec


@pytest.fixture(scope="module")
def shot(tmp_path_factory, plate_pattern, analyzer):
    """Plain, overscan and offset-window copies of three plate frames, and the plain track."""
    root = tmp_path_factory.mktemp("geometry")
    src = open_source(plate_pattern)
    rng = np.random.default_rng(1)
    for item in src.read_plates(FRAMES):
        px, names, f = item.pixels, item.channels, item.number
        h, w = px.shape[:2]
        header = item.header + ATTRS
        write_exr(root / "plain" / f"plate.{f}.exr", px, names, half=False, header=header)
        # Overscan: 40 px more left/right, 30 px more top/bottom, with picture in the margin.
        big = rng.uniform(0, 2, (h + 60, w + 80, px.shape[2])).astype(np.float32)
        big[30:30 + h, 40:40 + w] = px
        write_exr(root / "overscan" / f"plate.{f}.exr", big, names, half=False, header=header,
                  geometry=Geometry((-40, -30, w + 80, h + 60), (0, 0, w, h)))
        # Offset data window: only a 520×460 region around the face is stored.
        crop = px[60:520, 180:700]
        write_exr(root / "offset" / f"plate.{f}.exr", crop, names, half=False, header=header,
                  geometry=Geometry((180, 60, 520, 460), (0, 0, w, h)))
    plain = open_source(str(root / "plain" / "plate.####.exr"))
    per_frame = analyze_frames(plain, FRAMES, analyzer, None, {}, [], [])
    track = attach_plate(select_track(per_frame), plain, "plain")
    track.settings["frames"] = "1001-1003"
    track.save(root / "track.json")
    return root


def render_kind(root, kind, demo_model):
    settings = SwapSettings.from_dict({"model": str(demo_model)})
    job = RenderJob(str(root / kind / "plate.####.exr"),
                    str(root / f"out_{kind}" / "swap.####.exr"), settings,
                    str(root / "track.json"), half=False)
    summary = render(job, FRAMES)
    assert summary.errors == [] and summary.done == FRAMES and summary.no_face == []


def test_track_records_the_plate_geometry(shot):
    data = json.loads((shot / "track.json").read_text())
    assert data["settings"]["plate"] == {"display_window": [0, 0, 880, 720], "pixel_aspect": 1.0}


@pytest.mark.parametrize("kind", ["overscan", "offset"])
def test_render_of_a_moved_data_window_lines_up_with_the_plate(shot, demo_model, kind):
    if not (shot / "out_plain").exists():
        render_kind(shot, "plain", demo_model)
    render_kind(shot, kind, demo_model)
    for f in FRAMES:
        ref_rgb, ref_mask, _ = in_frame(shot / "out_plain" / f"swap.{f}.exr")
        out_rgb, out_mask, spec = in_frame(shot / f"out_{kind}" / f"swap.{f}.exr")
        plate = oiio.ImageInput.open(str(shot / kind / f"plate.{f}.exr")).spec()
        # The output keeps the plate's windows, pixel aspect and attributes.
        assert (spec.x, spec.y, spec.width, spec.height) == (plate.x, plate.y, plate.width,
                                                             plate.height)
        assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (
            plate.full_x, plate.full_y, plate.full_width, plate.full_height)
        plate_attrs = {a.name: (str(a.type), a.value) for a in plate.extra_attribs
                       if carried(a.name)}
        out_attrs = {a.name: (str(a.type), a.value) for a in spec.extra_attribs}
        # OpenImageIO names EXR `owner` Copyright and `comments` ImageDescription.
        assert {"colorInteropID", "Copyright", "ImageDescription", "framesPerSecond",
                "smpte:TimeCode", "originalDataWindow", "studio/cropOffset",
                "studio/tileIndex"} <= set(plate_attrs)
        assert plate_attrs["studio/cropOffset"] == ("vector2i", (7, 8))  # typed, not text
        for name, value in plate_attrs.items():
            assert out_attrs.get(name) == value, name
        assert spec.getattribute("PixelAspectRatio") == 1.0
        assert spec.getattribute("doppel/face") == "swapped"
        # Composite back over the plate: outside the mask the merge is the plate, exactly.
        plate_rgb, _, _ = in_frame(shot / kind / f"plate.{f}.exr")
        outside = (out_mask == 0) & np.isfinite(plate_rgb).all(-1)
        assert outside.sum() > 0.25 * outside.size  # the offset plate holds 38% of the frame
        np.testing.assert_array_equal(out_rgb[outside], plate_rgb[outside])
        # The face lands where it lands on the plain plate (same mask, same pixels).
        assert out_mask.sum() > 100
        np.testing.assert_allclose(out_mask, ref_mask, atol=2e-3)
        inside = ref_mask > 0
        np.testing.assert_allclose(out_rgb[inside], ref_rgb[inside], atol=2e-3)


def test_plate_of_another_frame_size_is_refused(shot, demo_model, tmp_path):
    src = open_source(str(shot / "plain" / "plate.####.exr"))
    for item in src.read_plates(FRAMES):
        small = item.pixels[::2, ::2]
        write_exr(tmp_path / "half" / f"plate.{item.number}.exr", small, item.channels)
    job = RenderJob(str(tmp_path / "half" / "plate.####.exr"), str(tmp_path / "o" /
                                                                   "s.####.exr"),
                    SwapSettings.from_dict({"model": str(demo_model)}),
                    str(shot / "track.json"))
    with pytest.raises(InputError, match=r"frame 1001 has display window 440×360 at \(0, 0\) "
                       r"but the track was made on 880×720 at \(0, 0\); run 'doppel analyze'"):
        render(job, FRAMES)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


@pytest.mark.parametrize("kind", ["overscan", "offset"])
def test_face_region_of_a_moved_data_window_lands_where_the_face_is(shot, demo_model, kind):
    """--region face on an overscan or offset plate: placed by its own data window, the region
    is the plain plate's full render, merged, where the mask is > 0."""
    if not (shot / "out_plain").exists():
        render_kind(shot, "plain", demo_model)
    settings = SwapSettings.from_dict({"model": str(demo_model)})
    job = RenderJob(str(shot / kind / "plate.####.exr"),
                    str(shot / f"region_{kind}" / "face.####.exr"), settings,
                    str(shot / "track.json"), half=False, region="face")
    assert render(job, FRAMES).done == FRAMES
    for f in FRAMES:
        ref_rgb, ref_mask, _ = in_frame(shot / "out_plain" / f"swap.{f}.exr")
        plain_rgb, _, _ = in_frame(shot / "plain" / f"plate.{f}.exr")
        reg = read_image(shot / f"region_{kind}" / f"face.{f}.exr")
        assert reg.geometry.display == (0, 0, 880, 720)
        x, y, w, h = reg.geometry.data
        a = reg.channel("A")[..., None]
        merged = plain_rgb.copy()
        merged[y:y + h, x:x + w] = merged[y:y + h, x:x + w] * (1 - a) + reg.rgb()
        inside = ref_mask > 0
        assert inside.sum() > 100 and inside[y:y + h, x:x + w].sum() == inside.sum()
        np.testing.assert_allclose(merged[inside], ref_rgb[inside], atol=2e-3)
