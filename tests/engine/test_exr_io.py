"""EXR through OpenEXR's own binding (engine.io.exr_write, engine.io.exr_read): the same file
bytes and the same arrays as OpenImageIO alone, the binding actually used where it can be, and
OpenImageIO wherever it cannot (with its errors)."""

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import MediaError
from engine.io import exr_layout, exr_read, exr_write, read_image, write_exr
from engine.io.geometry import Geometry
from engine.io.image import type_key

COMPRESSIONS = ("none", "zip", "zips", "piz", "pxr24", "rle", "b44", "b44a", "dwaa", "dwab")
NAMES = ("R", "G", "B", "A", "Z", "doppel.mask")


def _pixels(seed: int, h: int = 37, w: int = 53, c: int = 6) -> np.ndarray:
    """Values that exercise the conversion to half: noise, out-of-range, NaN with a payload,
    infinities, the rounding boundaries either side of a half value, denormals."""
    rng = np.random.default_rng(seed)
    px = (rng.standard_normal((h, w, c)) * 3).astype(np.float32)
    px[0, 0, 0] = np.nan
    px[0, 1, 0] = np.frombuffer(np.uint32(0x7FC12345).tobytes(), np.float32)[0]  # NaN payload
    px[1, 1, 1], px[1, 2, 1], px[1, 3, 1] = np.inf, -np.inf, 1e6
    px[2, 0, 2] = 1.0 + 2.0 ** -11  # exactly between two halves: to even
    px[2, 1, 2] = np.nextafter(np.float32(1.0 + 2.0 ** -11), np.float32(2))
    px[2, 2, 2] = 3e-6  # a half denormal
    return px


@pytest.fixture
def write_both(tmp_path, monkeypatch):
    """The file written through the binding and through OpenImageIO alone, as bytes."""

    def write(name, layers, **kw):
        monkeypatch.delenv("DOPPEL_EXR_IO", raising=False)
        write_exr(tmp_path / f"{name}.binding.exr", layers, **kw)
        monkeypatch.setenv("DOPPEL_EXR_IO", "oiio")
        write_exr(tmp_path / f"{name}.oiio.exr", layers, **kw)
        monkeypatch.delenv("DOPPEL_EXR_IO")
        return ((tmp_path / f"{name}.binding.exr").read_bytes(),
                (tmp_path / f"{name}.oiio.exr").read_bytes())
    return write


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("kind", ["half", "float", "mixed", "half-layers"])
def test_the_binding_writes_openimageio_s_bytes_for_every_compression_and_type(
        tmp_path, write_both, compression, kind):
    px = _pixels(COMPRESSIONS.index(compression))
    layers = [px[..., :4], px[..., 4:5], px[..., 5:]]
    kw = dict(channels=NAMES, compression=compression, half=kind != "float",
              metadata={"doppel/record": '{"frame": 1001}', "ImageDescription": "swap"},
              geometry=Geometry((11, 7, 53, 37), (0, 0, 200, 100), 1.0),
              header=(("originalDataWindow", type_key(oiio.TypeDesc("box2i")), (0, 0, 9, 9)),
                      ("smpte:TimeCode", "timecode", (1, 2)), ("owner", "string", "show")))
    if kind == "mixed":
        kw["channel_formats"] = ("half", "half", "half", "half", "float", "half")
    if kind == "half-layers":  # a half plate's layers go to the file as they are
        with np.errstate(over="ignore"):
            layers = [p.astype(np.float16) for p in layers]
    ours, theirs = write_both("f", layers, **kw)
    assert ours == theirs
    spec = oiio.ImageInput.open(str(tmp_path / "f.oiio.exr")).spec()
    assert exr_write.template_header(spec) is not None, "the binding was not used"


def test_a_render_s_region_output_is_written_by_the_binding_with_its_data_window(
        tmp_path, write_both):
    px = _pixels(3, 40, 30, 5)
    ours, theirs = write_both("r", [px[..., :4], px[..., 4:]],
                               channels=NAMES[:4] + ("doppel.mask",),
                               geometry=Geometry((1500, 900, 30, 40), (0, 0, 3840, 2160), 1.0))
    assert ours == theirs
    img = read_image(tmp_path / "r.binding.exr")
    assert img.geometry.data == (1500, 900, 30, 40)


def test_a_header_the_binding_cannot_carry_exactly_is_written_by_openimageio(tmp_path,
                                                                            write_both):
    spec = oiio.ImageSpec(8, 6, 3, "half")
    spec.attribute("compression", "zip")
    spec.attribute("DateTime", "")
    spec.attribute("edgeKeyCode", oiio.TypeDesc("keycode"), (1, 2, 3, 4, 5, 6, 7))
    assert exr_write.template_header(spec) is None  # the binding reads a keycode as another
    px = _pixels(4, 6, 8, 3)
    assert exr_write.encode([px], spec) is None
    header = (("edgeKeyCode", "keycode", (1, 2, 3, 4, 5, 6, 7)),)
    ours, theirs = write_both("k", px, header=header)
    assert ours == theirs
    img = read_image(tmp_path / "k.binding.exr")
    assert img.metadata["edgeKeyCode"] == (1, 2, 3, 4, 5, 6, 7)


def test_without_the_binding_every_exr_is_written_and_read_by_openimageio(tmp_path, monkeypatch):
    px = _pixels(5, 9, 7, 4)
    write_exr(tmp_path / "a.exr", px)
    monkeypatch.setattr(exr_write, "_binding", False)  # as on a machine without the package
    assert not exr_write.enabled()
    write_exr(tmp_path / "b.exr", px)
    assert (tmp_path / "a.exr").read_bytes() == (tmp_path / "b.exr").read_bytes()
    assert read_image(tmp_path / "b.exr").pixels.tobytes() == \
        read_image(tmp_path / "a.exr").pixels.tobytes()


def test_drop_type_refuses_what_is_not_a_single_part_scanline_file(tmp_path):
    px = _pixels(6, 16, 16, 3)
    spec = oiio.ImageSpec(16, 16, 3, "half")
    spec.tile_width = spec.tile_height = 8
    out = oiio.ImageOutput.create(str(tmp_path / "t.exr"))
    out.open(str(tmp_path / "t.exr"), spec)
    out.write_image(px)
    out.close()
    data = (tmp_path / "t.exr").read_bytes()
    assert exr_write._drop_type(memoryview(data)) is None
    assert exr_write._drop_type(memoryview(b"not an exr at all")) is None


@pytest.fixture
def reads(monkeypatch):
    """An image read through the binding and through OpenImageIO alone."""

    def read(path, keep_half, rows=None):
        monkeypatch.setenv("DOPPEL_EXR_IO", "oiio")
        theirs = read_image(path, rows, keep_half=keep_half)
        monkeypatch.delenv("DOPPEL_EXR_IO")
        return read_image(path, rows, keep_half=keep_half), theirs
    return read


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("kind", ["half", "float", "mixed"])
def test_the_binding_reads_openimageio_s_arrays_bit_for_bit(tmp_path, reads, compression,
                                                             kind):
    px = _pixels(10 + COMPRESSIONS.index(compression))
    spec = oiio.ImageSpec(53, 37, 6, "float" if kind == "float" else "half")
    spec.channelnames = ("R", "G", "B", "A", "Z", "doppel.mask")
    if kind == "mixed":
        spec.channelformats = (oiio.TypeDesc("half"),) * 4 + (oiio.TypeDesc("float"),
                                                              oiio.TypeDesc("half"))
    spec.x, spec.y, spec.full_width, spec.full_height = 11, 7, 200, 100
    spec.attribute("compression", compression)
    path = str(tmp_path / "p.exr")
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(px)
    out.close()
    want = "half" if kind == "half" else "float"
    assert exr_read.decode(path, oiio.ImageInput.open(path).spec(), want) is not None
    for keep_half in (False, True):
        ours, theirs = reads(path, keep_half)
        assert ours.pixels.dtype == theirs.pixels.dtype
        assert ours.pixels.tobytes() == theirs.pixels.tobytes()
        assert ours.channels == theirs.channels and ours.geometry == theirs.geometry


def test_channels_in_any_file_order_come_back_in_openimageio_s_order(tmp_path, reads):
    px = _pixels(20, 8, 8, 5)
    write_exr(tmp_path / "o.exr", px, ("Z", "R", "G", "B", "A"))
    ours, theirs = reads(tmp_path / "o.exr", False)
    assert ours.channels == theirs.channels
    assert ours.pixels.tobytes() == theirs.pixels.tobytes()


@pytest.mark.parametrize("damage", ["truncated", "chunk-leader", "offsets-zero"])
def test_a_damaged_exr_is_left_to_openimageio_and_prints_nothing(tmp_path, capfd, damage):
    """Truncated, or a chunk's leader overrunning the file: OpenImageIO's error. A zeroed chunk
    table (a writer that died before filling it, the chunks whole): OpenEXR rebuilds the table
    from the chunks, and OpenImageIO reads the picture."""
    path = tmp_path / "d.exr"
    px = _pixels(21, 64, 64, 4)
    write_exr(path, px, half=False)
    data = bytearray(path.read_bytes())
    spec = oiio.ImageInput.open(str(path)).spec()
    assert exr_read.chunks_complete(path)
    end = exr_layout.header(bytes(data))[1]
    first = int.from_bytes(data[end:end + 8], "little")
    if damage == "truncated":
        data = data[:len(data) - 100]
    elif damage == "offsets-zero":
        data[end:first] = bytes(first - end)
    else:
        data[first + 4:first + 8] = (10 ** 8).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert not exr_read.chunks_complete(path)
    assert exr_read.decode(path, spec, "float") is None
    capfd.readouterr()
    if damage == "offsets-zero":
        assert read_image(path).pixels.tobytes() == px.tobytes()
    else:
        with pytest.raises(MediaError, match="truncated or corrupt"):
            read_image(path)
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""


def test_a_chunk_damaged_inside_is_an_error_and_the_binding_s_warning_stays_off_stdout(
        tmp_path, capsys):
    """Compressed bytes damaged inside a chunk (its leader intact) pass the table check; the
    binding fails on them, the warning it prints on sys.stdout is dropped, and OpenImageIO's
    error is the one reported."""
    path = tmp_path / "c.exr"
    smooth = np.broadcast_to(np.linspace(0, 1, 64, dtype=np.float32)[None, :, None], (64, 64, 4))
    write_exr(path, smooth, half=False)  # compressible: its chunks hold zip streams
    data = bytearray(path.read_bytes())
    end = exr_layout.header(bytes(data))[1]
    first = int.from_bytes(data[end:end + 8], "little")
    data[first + 8:first + 208] = bytes(range(200))  # the first chunk's zip stream
    path.write_bytes(bytes(data))
    assert exr_read.chunks_complete(path)
    capsys.readouterr()
    with pytest.raises(MediaError, match="truncated or corrupt"):
        read_image(path)
    assert capsys.readouterr().out == ""


def _plate(tmp_path, compression, kind="half", h=70, w=23, order=None):
    px = _pixels(30 + COMPRESSIONS.index(compression), h, w, 5)
    spec = oiio.ImageSpec(w, h, 5, "float" if kind == "float" else "half")
    spec.channelnames = ("R", "G", "B", "A", "Z")
    if kind == "mixed":
        spec.channelformats = (oiio.TypeDesc("half"),) * 4 + (oiio.TypeDesc("float"),)
    spec.x, spec.y, spec.full_width, spec.full_height = 5, 9, 40, 100
    spec.attribute("compression", compression)
    if order:
        spec.attribute("openexr:lineOrder", order)
    path = str(tmp_path / f"rows_{compression}_{kind}.exr")
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(px)
    out.close()
    return path


def _oiio_rows(path, r0, r1, kind):
    inp = oiio.ImageInput.open(path)
    spec = inp.spec()
    part = inp.read_scanlines(0, 0, spec.y + r0, spec.y + r1, 0, 0, spec.nchannels, kind)
    inp.close()
    return np.asarray(part).reshape(r1 - r0, spec.width, spec.nchannels), spec


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("kind", ["half", "mixed"])
def test_a_row_range_decoded_from_its_chunks_alone_is_openimageio_s_rows(
        tmp_path, compression, kind):
    """First row, last row, one row, a span across chunk boundaries, the last (partial) chunk,
    the whole window: the binding's decode of just those chunks gives OpenImageIO's rows."""
    path = _plate(tmp_path, compression, kind)
    want = "half" if kind == "half" else "float"
    for r0, r1 in ((0, 1), (69, 70), (17, 18), (15, 33), (31, 65), (64, 70), (0, 70)):
        theirs, spec = _oiio_rows(path, r0, r1, want)
        ours = exr_read.decode_rows(path, spec, want, r0, r1)
        assert ours is not None, (r0, r1)
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), (r0, r1)


def test_a_face_region_read_is_the_same_through_the_binding(tmp_path, reads):
    path = _plate(tmp_path, "zip")
    ours, theirs = reads(path, True, lambda geometry: (20, 41))
    assert ours.pixels.tobytes() == theirs.pixels.tobytes()
    assert not ours.pixels[:20].any() and ours.pixels[20:41].any()


def test_write_exr_and_read_image_go_through_the_binding(tmp_path, monkeypatch):
    """The whole-file comparisons above would pass with OpenImageIO alone: this one fails if
    the engine's own reads and writes stopped using the binding."""
    used: dict[str, list[bool]] = {"encode": [], "decode": [], "decode_rows": []}

    def watch(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kw):
            result = real(*args, **kw)
            used[name].append(result is not None)
            return result
        monkeypatch.setattr(module, name, wrapper)
    watch(exr_write, "encode")
    watch(exr_read, "decode")
    watch(exr_read, "decode_rows")
    px = _pixels(40, 48, 16, 5)
    write_exr(tmp_path / "u.exr", [px[..., :4], px[..., 4:]], NAMES[:4] + ("doppel.mask",))
    read_image(tmp_path / "u.exr")
    read_image(tmp_path / "u.exr", lambda geometry: (17, 33), keep_half=True)
    assert used == {"encode": [True], "decode": [True], "decode_rows": [True]}


def test_a_compression_level_is_left_to_openimageio(tmp_path):
    """OpenImageIO passes a `zip:9` level to OpenEXR outside the header: the binding's file
    would differ, so the binding is not used for it."""
    spec = oiio.ImageSpec(8, 40, 3, "half")
    spec.attribute("compression", "zip:9")
    assert exr_write.template_header(spec) is None


def test_the_binding_s_stdout_warning_is_dropped_for_its_thread_only_and_stdout_restored():
    import sys
    import threading

    from engine.io.exr_read import _stdout_of_others

    class Sink:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text
            return len(text)

        def flush(self):
            pass
    original, sink = sys.stdout, Sink()
    sys.stdout = sink
    try:
        inside, release = threading.Event(), threading.Event()

        def decoding():
            with _stdout_of_others():
                print("dropped")
                inside.set()
                release.wait(5)
        other = threading.Thread(target=decoding)
        other.start()
        inside.wait(5)
        with _stdout_of_others():  # a second decode at the same time shares the proxy
            print("also dropped")
        print("kept")  # this thread is not decoding any more
        assert sys.stdout is not sink  # the other decode is still on
        release.set()
        other.join()
        assert sys.stdout is sink
        assert sink.text == "kept\n"
    finally:
        sys.stdout = original


def test_rows_of_a_file_stored_bottom_up_or_damaged_are_left_to_openimageio(tmp_path):
    path = _plate(tmp_path, "zip", order="decreasingY")
    _, spec = _oiio_rows(path, 0, 1, "half")
    assert exr_read.decode_rows(path, spec, "half", 10, 20) is None
    path = _plate(tmp_path, "piz")
    _, spec = _oiio_rows(path, 0, 1, "half")
    data = bytearray(open(path, "rb").read())
    end = exr_layout.header(bytes(data))[1]
    second = int.from_bytes(data[end + 8:end + 16], "little")
    data[second:second + 4] = (12345).to_bytes(4, "little")  # the chunk's leader: wrong row
    open(path, "wb").write(bytes(data))
    assert exr_read.decode_rows(path, spec, "half", 0, 10) is not None  # chunk 0 is intact
    assert exr_read.decode_rows(path, spec, "half", 33, 40) is None
