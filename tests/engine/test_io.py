import os

import numpy as np
import pytest

from engine.errors import FrameRangeError, InputError, MediaError
from engine.io import (
    SequencePattern,
    atomic_path,
    find_sequence,
    format_frame_range,
    open_source,
    parse_frame_range,
    read_image,
    write_exr,
    write_image,
)


def test_exr_roundtrip_keeps_highlights_negatives_layers_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    px = rng.normal(0, 4, (12, 10, 5)).astype(np.float32)
    px[0, 0] = [65.0, -3.5, 1e-3, 1.0, 0.25]
    names = ("R", "G", "B", "A", "doppel.mask")
    path = tmp_path / "a.exr"
    write_exr(path, px, names, {"doppel/model": "m.onnx", "doppel/iterations": 42}, half=False)
    img = read_image(path)
    assert img.channels == names
    np.testing.assert_array_equal(img.pixels, px)
    assert img.metadata["doppel/model"] == "m.onnx"
    assert img.metadata["doppel/iterations"] == 42
    assert img.metadata["compression"] == "zip"
    np.testing.assert_array_equal(img.channel("doppel.mask"), px[..., 4])
    assert img.colorspace == "linear"


def test_exr_half_rounds_to_half_precision(tmp_path):
    px = np.array([[[1.0001, 60000.0, -2.5]]], np.float32)
    write_exr(tmp_path / "h.exr", px, compression="piz")
    got = read_image(tmp_path / "h.exr").pixels
    np.testing.assert_array_equal(got, px.astype(np.float16).astype(np.float32))


def test_channels_are_found_by_name_not_position(tmp_path):
    px = np.stack([np.full((4, 4), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)], -1)
    write_exr(tmp_path / "o.exr", px, ("A", "B", "G", "R"), half=False)
    img = read_image(tmp_path / "o.exr")
    rgb = img.rgb()
    assert np.allclose(rgb[0, 0], [0.4, 0.3, 0.2])
    with pytest.raises(MediaError, match="no channel 'doppel.mask'"):
        img.channel("doppel.mask")


@pytest.mark.parametrize("bits", [8, 16])
def test_png_roundtrip_at_bit_depth(tmp_path, bits):
    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8, 1).repeat(3, -1)
    write_image(tmp_path / "r.png", ramp, bits=bits)
    img = read_image(tmp_path / "r.png")
    assert img.colorspace == "srgb"
    assert np.abs(img.pixels - ramp).max() <= 0.5 / (2**bits - 1) + 1e-6


def test_missing_empty_truncated_and_non_image_files_name_the_file(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        read_image(tmp_path / "nope.exr")
    (tmp_path / "empty.exr").write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty.exr: file is empty"):
        read_image(tmp_path / "empty.exr")
    (tmp_path / "text.png").write_text("hello, not an image")
    with pytest.raises(MediaError, match="text.png"):
        read_image(tmp_path / "text.png")
    write_exr(tmp_path / "full.exr", np.ones((64, 64, 3), np.float32))
    data = (tmp_path / "full.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="cut.exr"):
        read_image(tmp_path / "cut.exr")


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_frame_range_syntax():
    assert parse_frame_range("1001-1005") == [1001, 1002, 1003, 1004, 1005]
    assert parse_frame_range("1,3,5-7") == [1, 3, 5, 6, 7]
    assert parse_frame_range("1001-1009x4") == [1001, 1005, 1009]
    assert parse_frame_range("5-3") == [5, 4, 3]
    assert parse_frame_range("1,1,2") == [1, 2]
    assert format_frame_range([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    for bad in ["", "a-b", "1-5x0", "1--"]:
        with pytest.raises(FrameRangeError):
            parse_frame_range(bad)


def test_sequence_patterns_and_gaps(tmp_path):
    for f in (1001, 1002, 1004):
        write_exr(tmp_path / f"p.{f:04d}.exr", np.zeros((4, 4, 3), np.float32))
    for pattern in ("p.####.exr", "p.%04d.exr", "p.#.exr"):
        found = find_sequence(tmp_path / pattern)
        assert list(found) == [1001, 1002, 1004]
    assert SequencePattern.parse("a/p.%04d.exr").path(7).name == "p.0007.exr"
    src = open_source(tmp_path / "p.####.exr")
    assert src.frames == [1001, 1002, 1003, 1004]
    items = list(src.read())
    assert isinstance(items[2], MediaError) and "frame 1003 is missing" in str(items[2])
    assert [i.number for i in items if not isinstance(i, MediaError)] == [1001, 1002, 1004]
    with pytest.raises(InputError, match="not a sequence pattern"):
        SequencePattern.parse("plain.exr")


def test_video_source_reads_every_frame_of_the_clip(samples):
    src = open_source(samples / "clip" / "carphone.mp4")
    assert src.frames == list(range(1, 121))
    frames = list(src.read([1, 60, 120]))
    assert [f.number for f in frames] == [1, 60, 120]
    assert frames[0].rgb.shape == (144, 176, 3) and frames[0].rgb.dtype == np.float32


def test_unreadable_video_is_a_media_error(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="bad.mp4"):
        open_source(tmp_path / "bad.mp4")


def test_plate_is_scene_linear_exr(plate_pattern):
    frame = next(iter(open_source(plate_pattern).read([1001])))
    assert frame.rgb.shape == (720, 880, 3)
    img = read_image(frame.path)
    assert img.channels == ("R", "G", "B", "A") and img.colorspace == "linear"


def test_atomic_writes_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_exr(tmp_path / "p.exr", np.zeros((2, 2, 3), np.float32))
    finally:
        os.umask(old)
    assert (tmp_path / "p.exr").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("compression", ["zip", "piz", "dwab", "none"])
@pytest.mark.parametrize("half", [True, False])
def test_exr_layers_write_the_bytes_of_their_concatenation(tmp_path, compression, half):
    """Layers are interleaved strip by strip on write; the file is byte for byte what
    OpenImageIO writes from the concatenated array in one call."""
    import OpenImageIO as oiio

    from engine.io import Geometry

    rng = np.random.default_rng(1)
    rgba = rng.normal(0.5, 2, (150, 97, 4)).astype(np.float32)  # not a multiple of the strip
    mask = np.zeros((150, 97), np.float32)
    mask[40:90, 20:60] = rng.uniform(0, 1, (50, 40))
    names = ("R", "G", "B", "A", "doppel.mask")
    geo = Geometry((-4, 7, 97, 150), (0, 0, 90, 160))  # data window off the origin
    write_exr(tmp_path / "layers.exr", [rgba[:, :, :4], mask], names, {"doppel/frame": 3},
              half=half, compression=compression, geometry=geo)
    whole = np.ascontiguousarray(np.concatenate([rgba, mask[..., None]], -1))
    spec = oiio.ImageSpec(97, 150, 5, "half" if half else "float")
    spec.channelnames = names
    geo.apply(spec)
    spec.attribute("compression", compression)
    spec.attribute("doppel/frame", 3)
    spec.attribute("DateTime", "")
    out = oiio.ImageOutput.create(str(tmp_path / "whole.exr"))
    assert out.open(str(tmp_path / "whole.exr"), spec) and out.write_image(whole)
    out.close()
    assert (tmp_path / "layers.exr").read_bytes() == (tmp_path / "whole.exr").read_bytes()


def test_video_frames_stream_out_as_they_are_decoded(samples, monkeypatch):
    """The first frame of a long video comes out after one chunk of decodes, not after all of
    them (a 4,800-frame clip used to be held whole: 6 GB of float frames)."""
    import cv2

    import engine.io.source as source_mod
    from engine.io import open_source

    reads = []
    real = cv2.VideoCapture

    class Counting:  # the real capture, reads counted
        def __init__(self, *a):
            self._cap = real(*a)

        def read(self):
            reads.append(1)
            return self._cap.read()

        def __getattr__(self, name):
            return getattr(self._cap, name)

    monkeypatch.setattr(source_mod.cv2, "VideoCapture", Counting)
    monkeypatch.setattr(source_mod, "CHUNK_BYTES", 4 * 360 * 288 * 3 * 4)  # four frames
    src = open_source(str(samples / "clip" / "franck.mp4"))
    it = src.read(src.frames)
    assert next(it).number == 1 and len(reads) == 4
    assert next(it).number == 2 and len(reads) == 4
    assert [next(it).number for _ in range(3)] == [3, 4, 5] and len(reads) == 8
    it.close()
    it = src.read([1, 3, 2, 2])
    assert [f.number for f in it] == [1, 3, 2, 2]


def test_half_layers_are_converted_as_openimageio_converts_them_nan_payloads_included(tmp_path):
    """Half output written layer by layer, strip by strip, is byte for byte what OpenImageIO
    writes from the whole float frame, for every half value, values between them (rounding),
    beyond half's range, and NaNs with their payloads (quiet and signalling)."""
    import OpenImageIO as oiio

    rng = np.random.default_rng(7)
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    near = (halves[:, None].astype(np.int64) + np.array([-4097, -1, 1, 4096, 4097])).ravel()
    bits = np.concatenate([halves, near.astype(np.uint32),
                           rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32),
                           np.array([0x7F800001, 0x7FA00000, 0xFFC00001, 0x7FBFFFFF, 0x477FF000,
                                     0x477FEFFF, 0x33000000, 0x33000001], np.uint32)])
    w = 500
    h = bits.size // (w * 4)
    rgba = bits[: h * w * 4].view(np.float32).reshape(h, w, 4)
    mask = rgba[..., 1].copy()
    names = ("R", "G", "B", "A", "doppel.mask")
    write_exr(tmp_path / "layers.exr", [rgba, mask], names)
    spec = oiio.ImageSpec(w, h, 5, "half")
    spec.channelnames = names
    spec.attribute("compression", "zip")
    spec.attribute("DateTime", "")
    out = oiio.ImageOutput.create(str(tmp_path / "oiio.exr"))
    assert out.open(str(tmp_path / "oiio.exr"), spec)
    assert out.write_image(np.ascontiguousarray(np.dstack([rgba, mask])))
    out.close()
    assert (tmp_path / "layers.exr").read_bytes() == (tmp_path / "oiio.exr").read_bytes()


def test_native_reads_keep_the_files_sample_type(tmp_path, samples):
    from engine.io import read_image

    plate = read_image(samples / "plate" / "plate.1001.exr", native=True)
    assert plate.pixels.dtype == np.float16
    assert np.array_equal(plate.pixels.astype(np.float32),
                          read_image(samples / "plate" / "plate.1001.exr").pixels)
    photo = read_image(samples / "photos" / "obama.jpg", native=True)
    assert photo.pixels.dtype == np.uint8 and photo.colorspace == "srgb"
    write_exr(tmp_path / "f.exr", np.ones((4, 5, 3), np.float32), half=False)
    assert read_image(tmp_path / "f.exr", native=True).pixels.dtype == np.float32


def test_half_layers_go_to_the_file_as_they_are_and_make_the_float_writes_bytes(tmp_path):
    """float16 layers written as half are not converted (a half plate's render), and the file
    is byte for byte the one written from the same values in float32."""
    rng = np.random.default_rng(3)
    rgba = rng.normal(0.5, 2, (150, 97, 4)).astype(np.float16)
    mask = rng.uniform(0, 1, (150, 97)).astype(np.float16)
    names = ("R", "G", "B", "A", "doppel.mask")
    write_exr(tmp_path / "h.exr", [rgba, mask], names)
    write_exr(tmp_path / "f.exr", [rgba.astype(np.float32), mask.astype(np.float32)], names)
    assert (tmp_path / "h.exr").read_bytes() == (tmp_path / "f.exr").read_bytes()
    # mixed layers go through float32 as before
    write_exr(tmp_path / "m.exr", [rgba, mask.astype(np.float32)], names)
    assert (tmp_path / "m.exr").read_bytes() == (tmp_path / "f.exr").read_bytes()


def test_numpy_rounds_to_half_as_openimageio_does_for_every_finite_value(tmp_path):
    """A half render composites into the float16 plate, so numpy rounds what OpenImageIO
    rounded on write before: the same half for every half value, the values either side of
    each (rounding to nearest even), denormals, overflow to infinity and random floats.
    (NaN payloads are not compared: the swap never writes a NaN; plate NaNs keep their bits.)"""
    rng = np.random.default_rng(11)
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    near = (halves[:, None].astype(np.int64) + np.array([-4097, -4096, -1, 1, 4095, 4096])).ravel()
    bits = np.concatenate([halves, near.astype(np.uint32),
                           rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)])
    values = bits.view(np.float32)
    values = values[~np.isnan(values)]
    w = 600
    h = values.size // w
    plane = values[: h * w].reshape(h, w, 1)
    write_exr(tmp_path / "oiio.exr", plane, ("Y",))  # OpenImageIO converts float → half
    theirs = read_image(tmp_path / "oiio.exr", keep_half=True).pixels
    assert theirs.dtype == np.float16
    with np.errstate(over="ignore"):  # beyond half's range: infinity, as OpenImageIO gives
        ours = plane.astype(np.float16)
    assert np.array_equal(ours.view(np.uint16), theirs.view(np.uint16))


def test_keep_half_keeps_half_files_only(tmp_path, samples):
    plate = read_image(samples / "plate" / "plate.1001.exr", keep_half=True)
    assert plate.pixels.dtype == np.float16
    assert np.array_equal(plate.pixels.astype(np.float32),
                          read_image(samples / "plate" / "plate.1001.exr").pixels)
    rows = read_image(samples / "plate" / "plate.1001.exr", lambda geo: (10, 20), keep_half=True)
    assert rows.pixels.dtype == np.float16 and not rows.pixels[:10].any()
    assert np.array_equal(rows.pixels[10:20], plate.pixels[10:20])
    photo = read_image(samples / "photos" / "obama.jpg", keep_half=True)
    assert photo.pixels.dtype == np.float32  # 8-bit codes: float as without it
    write_exr(tmp_path / "f.exr", np.ones((4, 5, 3), np.float32), half=False)
    assert read_image(tmp_path / "f.exr", keep_half=True).pixels.dtype == np.float32


def test_keep_half_reads_a_file_of_mixed_channel_types_as_float(tmp_path):
    """Half colour with a 32-bit float depth channel: not all half, so float32 for all."""
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(6, 4, 4, "half")
    spec.channelnames = ("R", "G", "B", "Z")
    spec.channelformats = (oiio.TypeDesc("half"),) * 3 + (oiio.TypeDesc("float"),)
    pixels = np.arange(6 * 4 * 4, dtype=np.float32).reshape(4, 6, 4) + 0.25
    path = str(tmp_path / "mixed.exr")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec) and out.write_image(pixels)
    out.close()
    img = read_image(path, keep_half=True)
    assert img.pixels.dtype == np.float32 and img.channels == ("R", "G", "B", "Z")
    np.testing.assert_array_equal(img.channel("Z"), pixels[..., 3])


def test_images_staged_in_memory_have_the_bytes_of_a_direct_write_and_fall_back_without_memfd(
        tmp_path, monkeypatch):
    import contextlib
    import errno

    import engine.io.atomic as atomic_mod
    import engine.io.image as image_mod

    px = np.random.default_rng(3).normal(0.4, 0.2, (40, 56, 4)).astype(np.float32)
    write_exr(tmp_path / "staged.exr", px)

    @contextlib.contextmanager
    def direct(tmp):
        yield str(tmp)

    with monkeypatch.context() as m:
        m.setattr(image_mod, "staged_in_memory", direct)
        write_exr(tmp_path / "direct.exr", px)
    assert (tmp_path / "staged.exr").read_bytes() == (tmp_path / "direct.exr").read_bytes()

    def refuse(*_a):
        raise OSError(errno.EINVAL, "no sendfile to this file system")

    with monkeypatch.context() as m:  # a target file system without sendfile: pread/write
        m.setattr(atomic_mod.os, "sendfile", refuse)
        write_exr(tmp_path / "copied.exr", px)
    assert (tmp_path / "copied.exr").read_bytes() == (tmp_path / "direct.exr").read_bytes()

    def no_memfd(*_a):
        raise OSError(errno.ENOSYS, "Function not implemented")

    with monkeypatch.context() as m:  # an old kernel or a sandbox: the temp file itself
        m.setattr(atomic_mod.os, "memfd_create", no_memfd)
        with atomic_mod.staged_in_memory(tmp_path / "t.exr") as stage:
            assert stage == str(tmp_path / "t.exr")
    monkeypatch.delattr(atomic_mod.os, "memfd_create")  # another OS: the temp file itself
    with atomic_mod.staged_in_memory(tmp_path / "t.exr") as stage:
        assert stage == str(tmp_path / "t.exr")
    write_exr(tmp_path / "fallback.exr", px)
    assert (tmp_path / "fallback.exr").read_bytes() == (tmp_path / "direct.exr").read_bytes()


# Header attributes of every kind an EXR plate holds, as OpenImageIO types: the int vectors and
# box (originalDataWindow) were lost on the way through a render, the others always worked.
def _header_attrs():
    import OpenImageIO as oiio

    T = oiio.TypeDesc
    return [
        ("originalDataWindow", T("box2i"), (0, 0, 799, 599)),
        ("studio/cropOffset", T(oiio.INT, oiio.VEC2), (7, 8)),
        ("studio/tileIndex", T(oiio.INT, oiio.VEC3), (1, 2, 3)),
        ("studio/focal", T("float"), 35.0),
        ("studio/take", T("int"), 4),
        ("studio/show", T("string"), "Doppel test plate"),
        ("worldToCamera", T("matrix"), tuple(float(i) for i in range(16))),
        ("studio/m33", T(oiio.FLOAT, oiio.MATRIX33), tuple(float(i) for i in range(9))),
        ("smpte:TimeCode", T("timecode"), (1, 0)),
        ("smpte:KeyCode", T("keycode"), (1, 2, 3, 4, 5, 6, 7)),
        ("framesPerSecond", T("rational2i"), (24000, 1001)),
        ("studio/box2f", T(oiio.FLOAT, oiio.VEC2, oiio.BOX, 2), (0.5, 1.5, 2.5, 3.5)),
        ("studio/v2f", T(oiio.FLOAT, oiio.VEC2), (0.5, 1.5)),
        ("studio/v3f", T("vector"), (0.5, 1.5, 2.5)),
        ("studio/names", T(oiio.STRING, oiio.SCALAR, oiio.NOXFORM, 2), ("left", "right")),
        ("chromaticities", T(oiio.FLOAT, oiio.SCALAR, oiio.NOXFORM, 8),
         (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329)),
    ]


def _attrs(path):
    import OpenImageIO as oiio

    from engine.io.image import carried

    inp = oiio.ImageInput.open(str(path))
    try:
        return {a.name: (str(a.type), a.value) for a in inp.spec().extra_attribs
                if carried(a.name)}
    finally:
        inp.close()


def test_header_attributes_of_every_exr_type_survive_read_pickle_and_write(tmp_path):
    """What a render does with a plate's header: read it, send it to a worker process
    (pickled), write it under the swapped pixels. Every attribute comes out with its type and
    value (v2i, v3i and box2i were written as nothing)."""
    import pickle

    import OpenImageIO as oiio

    spec = oiio.ImageSpec(8, 6, 4, "half")
    for name, kind, value in _header_attrs():
        spec.attribute(name, kind, value)
    plate = tmp_path / "plate.exr"
    out = oiio.ImageOutput.create(str(plate))
    assert out.open(str(plate), spec) and out.write_image(np.zeros((6, 8, 4), np.float16))
    out.close()
    wanted = _attrs(plate)
    assert {name for name, _, _ in _header_attrs()} <= set(wanted)  # as OpenEXR keeps them
    img = pickle.loads(pickle.dumps(read_image(plate)))
    assert write_exr(tmp_path / "out.exr", img.pixels, img.channels, header=img.header) == ()
    assert _attrs(tmp_path / "out.exr") == wanted


def test_a_header_attribute_of_a_type_the_binding_cannot_write_goes_as_text_and_is_named(
        tmp_path):
    """OpenImageIO's Python binding writes no double (an EXR's double, V2d, M44d attributes):
    the value is kept as text and the writer names it for the render's note."""
    import OpenImageIO as oiio

    from engine.io.image import type_key

    header = (("studio/exposure", type_key(oiio.TypeDesc("double")), 1.25),
              ("studio/focal", type_key(oiio.TypeDesc("float")), 35.0))
    as_text = write_exr(tmp_path / "d.exr", np.zeros((2, 2, 3), np.float32), header=header)
    assert as_text == ("studio/exposure (double)",)
    assert _attrs(tmp_path / "d.exr")["studio/exposure"] == ("string", "1.25")
    assert _attrs(tmp_path / "d.exr")["studio/focal"] == ("float", 35.0)


def _tiled_copy(src, dst, tile_height: int, mipmap: bool = False) -> None:
    """`src` rewritten as a tiled EXR (64 × `tile_height` tiles), or MIP-mapped as a texture."""
    import OpenImageIO as oiio

    if mipmap:
        assert oiio.ImageBufAlgo.make_texture(oiio.MakeTxTexture, oiio.ImageBuf(str(src)),
                                              str(dst), oiio.ImageSpec())
        return
    inp = oiio.ImageInput.open(str(src))
    spec = inp.spec().copy()
    pixels = inp.read_image(0, 0, 0, spec.nchannels, spec.format)
    inp.close()
    spec.tile_width, spec.tile_height = 64, tile_height
    out = oiio.ImageOutput.create(str(dst))
    assert out.open(str(dst), spec) and out.write_image(pixels)
    out.close()


@pytest.mark.parametrize("tile_height, mipmap", [(64, False), (48, False), (64, True)])
def test_rows_of_a_tiled_file_are_the_rows_of_the_scanline_file(tmp_path, samples, tile_height,
                                                                mipmap):
    """A face-region render reads the face's rows: a tiled plate (MIP-mapped too) gives the
    same rows as the scanline plate, zero elsewhere (it failed as "truncated or corrupt")."""
    import OpenImageIO as oiio

    plate = samples / "plate" / "plate.1001.exr"
    tiled = tmp_path / "tiled.exr"
    _tiled_copy(plate, tiled, tile_height, mipmap)
    assert oiio.ImageInput.open(str(tiled)).spec().tile_width == 64
    for span in [(0, 1), (47, 49), (100, 300), (64, 128), (700, 720), (719, 10 ** 6), (0, 720)]:
        for keep_half in (False, True):
            want = read_image(plate, lambda geo, s=span: s, keep_half=keep_half)
            got = read_image(tiled, lambda geo, s=span: s, keep_half=keep_half)
            assert got.pixels.dtype == want.pixels.dtype
            assert np.array_equal(got.pixels, want.pixels), (span, keep_half)
    assert np.array_equal(read_image(tiled).pixels, read_image(plate).pixels)


def test_a_damaged_tile_is_a_media_error_naming_the_file(tmp_path, samples):
    tiled = tmp_path / "tiled.exr"
    _tiled_copy(samples / "plate" / "plate.1001.exr", tiled, 64)
    data = tiled.read_bytes()
    tiled.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="tiled.exr: cannot read pixels"):
        read_image(tiled, lambda geo: (600, 700))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_a_still_as_openimageio_reorients_it(tmp_path, orientation):
    """EXIF Orientation 1-8 turned as ImageBufAlgo.reorient turns it (every viewer shows the
    picture so); without `upright` the file is read as stored."""
    import OpenImageIO as oiio

    rng = np.random.default_rng(orientation)
    stored = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    spec = oiio.ImageSpec(40, 30, 3, "uint8")
    spec.attribute("Orientation", orientation)
    path = tmp_path / "photo.png"
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(stored)
    out.close()
    buf = oiio.ImageBufAlgo.reorient(oiio.ImageBuf(str(path)))
    expected = buf.get_pixels(oiio.UINT8).reshape(buf.spec().height, buf.spec().width, 3)
    rows = None if orientation == 1 else (lambda geo: (0, 1))  # a turned still: read whole
    img = read_image(path, rows, native=True, upright=True)
    assert np.array_equal(img.pixels, expected)
    assert img.geometry.data == img.geometry.display == (0, 0, expected.shape[1],
                                                         expected.shape[0])
    assert img.metadata["Orientation"] == 1
    assert all(name != "Orientation" for name, _, _ in img.header) or orientation == 1
    assert np.array_equal(read_image(path, native=True).pixels, stored)


def test_a_padded_pattern_reads_only_files_of_its_padding(tmp_path, monkeypatch):
    """`####` is `%04d` (Nuke): 1003 is cap.1003.exr, never cap.01003.exr (another padding),
    whatever order the folder lists them in; a frame needing more digits has no leading zero.
    `#` and `%d` are unpadded."""
    import engine.io.sequence as sequence

    for name, value in [("cap.1003.exr", 1), ("cap.01003.exr", 2), ("cap.12345.exr", 3),
                        ("cap.0999.exr", 4), ("cap.-0002.exr", 5), ("cap.7.exr", 6),
                        ("cap.07.exr", 7)]:
        write_exr(tmp_path / name, np.full((2, 2, 3), value, np.float32))
    (tmp_path / "cap.1004.exr.bak").write_bytes(b"")  # the suffix is the pattern's
    padded = {-2: "cap.-0002.exr", 999: "cap.0999.exr", 1003: "cap.1003.exr",
              12345: "cap.12345.exr"}
    unpadded = {7: "cap.7.exr", 1003: "cap.1003.exr", 12345: "cap.12345.exr"}
    scandir = os.scandir
    for order in (lambda e: e, lambda e: reversed(list(e))):
        monkeypatch.setattr(sequence.os, "scandir", lambda p, o=order: iter(o(scandir(p))))
        for pattern, want in [("cap.####.exr", padded), ("cap.%04d.exr", padded),
                              ("cap.@@@@.exr", padded), ("cap.#.exr", unpadded),
                              ("cap.%d.exr", unpadded)]:
            found = find_sequence(tmp_path / pattern)
            assert {f: p.name for f, p in found.items()} == want, pattern
    frame = next(iter(open_source(tmp_path / "cap.####.exr").read([1003])))
    assert frame.rgb[0, 0, 0] == 1  # cap.1003.exr, not cap.01003.exr
    assert SequencePattern.parse("cap.#.exr").path(1003).name == "cap.1003.exr"
    for f in (1, 2, 3):  # `#` over padded files: nothing, and the message says why
        write_exr(tmp_path / "p" / f"p.{f:04d}.exr", np.zeros((2, 2, 3), np.float32))
    with pytest.raises(MediaError, match=r"p.#.exr: no frames of this sequence on disk; the "
                                         r"folder holds p.0001.exr \(3 such files\) of another "
                                         "padding"):
        open_source(tmp_path / "p" / "p.#.exr")


def test_the_frame_token_is_looked_for_in_the_file_name_only(tmp_path):
    """A `#`, `@` or `%d` in a folder name is part of the folder (take#2, comp@v2)."""
    for folder in ("take#2", "comp@v2", "r%04d", "s%d"):
        write_exr(tmp_path / folder / "cap.1001.exr", np.zeros((2, 2, 3), np.float32))
        seq = SequencePattern.parse(tmp_path / folder / "cap.####.exr")
        assert seq.folder == tmp_path / folder and seq.head == "cap."
        assert seq.path(1002) == tmp_path / folder / "cap.1002.exr"
        assert list(find_sequence(tmp_path / folder / "cap.####.exr")) == [1001]
        assert open_source(tmp_path / folder / "cap.%04d.exr").frames == [1001]
        assert not SequencePattern.is_pattern(tmp_path / folder / "cap.1001.exr")
        with pytest.raises(InputError, match="not a sequence pattern"):
            SequencePattern.parse(tmp_path / folder / "cap.exr")
    write_exr(tmp_path / "out" / "1001.exr", np.zeros((2, 2, 3), np.float32))
    seq = SequencePattern.parse(tmp_path / "out" / "####.exr")  # the token first in the name
    assert seq.folder == tmp_path / "out" and seq.head == ""
    assert list(find_sequence(tmp_path / "out" / "####.exr")) == [1001]


def test_a_libpng_error_does_not_reach_the_terminal(tmp_path, capfd):
    """libpng prints `libpng error: …` beside the MediaError that says the same."""
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(MediaError, match="broken.png: not a readable image"):
        read_image(tmp_path / "broken.png")
    assert "libpng" not in capfd.readouterr().err


def test_a_textures_header_leaves_a_written_frame_readable(tmp_path, samples):
    """maketx's `textureformat` made OpenImageIO's EXR writer declare MIP levels the scanlines
    never fill: a render of a MIP-mapped plate wrote unreadable frames with exit 0."""
    _tiled_copy(samples / "plate" / "plate.1001.exr", tmp_path / "tex.exr", 64, mipmap=True)
    img = read_image(tmp_path / "tex.exr")
    assert "textureformat" in img.metadata
    write_exr(tmp_path / "out.exr", img.pixels, img.channels, header=img.header)
    assert np.array_equal(read_image(tmp_path / "out.exr").pixels, img.pixels)


def test_png_reads_on_many_threads_leave_stderr_where_it_was(tmp_path):
    """Each PNG read redirects file descriptor 2 (libpng's lines): reads on several threads at
    once (the track editor serves frames so) must each find and restore the real stderr, not
    leave it on another read's deleted temp file."""
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    write_image(tmp_path / "good.png", np.zeros((64, 64, 3), np.float32))

    def read(i: int) -> None:
        try:
            read_image(tmp_path / ("broken.png" if i % 2 else "good.png"))
        except MediaError:
            pass
    before = os.fstat(2)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(read, range(400)))
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_tiff_plates_and_stills_are_read_and_pass_the_layout_check(tmp_path):
    """Asking a single-page TIFF for a second page (the multi-part check) left its reader
    without a spec and with an error set, so every TIFF read failed: only EXR is asked now."""
    import OpenImageIO as oiio

    from engine.io import open_source
    from engine.io.image import check_layout

    rng = np.random.default_rng(0)
    for f in (1, 2):
        px = (rng.random((20, 30, 3)) * 65535).astype(np.uint16)
        spec = oiio.ImageSpec(30, 20, 3, "uint16")
        out = oiio.ImageOutput.create(str(tmp_path / f"p.{f:04d}.tif"))
        assert out.open(str(tmp_path / f"p.{f:04d}.tif"), spec) and out.write_image(px)
        out.close()
    assert check_layout(tmp_path / "p.0001.tif") == ()
    frames = list(open_source(tmp_path / "p.####.tif").read())
    assert [fr.number for fr in frames] == [1, 2] and frames[0].rgb.shape == (20, 30, 3)
    assert read_image(tmp_path / "p.0002.tif").channels == ("R", "G", "B")


def test_a_luminance_chroma_exr_is_not_read_as_grey(tmp_path):
    from engine.errors import LayoutError
    from engine.io.image import check_layout

    write_exr(tmp_path / "yc.exr", np.zeros((4, 4, 3), np.float32), ["Y", "RY", "BY"])
    with pytest.raises(LayoutError, match="no R, G, B channels"):
        check_layout(tmp_path / "yc.exr")
    write_exr(tmp_path / "y.exr", np.zeros((4, 4, 2), np.float32), ["Y", "A"])
    assert check_layout(tmp_path / "y.exr") == ()
