"""engine.runtime.onnx_header: what the engine reads of an ONNX file, without the onnx package,
is what onnx reads; the detector's symbolic-dims rewrite is byte for byte onnx's."""

from pathlib import Path

import onnx
import pytest

from engine.errors import ModelError
from engine.runtime.onnx_header import parse_header, with_symbolic_io_dims

ROOT = Path(__file__).resolve().parents[2]
MODELS = [ROOT / "models" / "demo_df-ud_96.onnx", ROOT / "models" / "demo_franck_df-ud_96.onnx"]


def _onnx_view(proto):
    def info(vi):
        dims = tuple(d.dim_value if d.HasField("dim_value") else None
                     for d in vi.type.tensor_type.shape.dim)
        return vi.name, vi.type.tensor_type.elem_type, dims
    return ({p.key: p.value for p in proto.metadata_props},
            [info(i) for i in proto.graph.input], [info(o) for o in proto.graph.output],
            {t.name for t in proto.graph.initializer})


@pytest.fixture(scope="module")
def centerface(samples):
    return samples / "models" / "centerface.onnx"


def test_header_is_what_onnx_reads_for_the_bundled_models_and_the_detector(centerface):
    for path in [*MODELS, centerface]:
        data = path.read_bytes()
        head = parse_header(data, str(path))
        meta, ins, outs, inits = _onnx_view(onnx.load_model_from_string(data))
        assert head.metadata == meta
        assert [(i.name, i.elem_type, i.dims) for i in head.inputs] == ins
        assert [(o.name, o.elem_type, o.dims) for o in head.outputs] == outs
        assert head.initializers == inits
        assert [i.name for i in head.fed_inputs] == [n for n, _, _ in ins if n not in inits]


def test_symbolic_io_dims_are_byte_for_byte_what_onnx_writes(centerface):
    data = centerface.read_bytes()
    proto = onnx.load_model_from_string(data)
    for value in list(proto.graph.input) + list(proto.graph.output):
        for i, d in enumerate(value.type.tensor_type.shape.dim):
            d.dim_param = ("N", "C", "H", "W")[i] if i < 4 else f"d{i}"
    assert with_symbolic_io_dims(data) == proto.SerializeToString()


@pytest.mark.parametrize("data, why", [
    (b"garbage" * 100, "wire type"), (b"", "no graph"), (b"\x3a\xff\xff\xff\x0f", "past the end"),
])
def test_bytes_that_are_no_model_are_refused_naming_the_file(data, why):
    with pytest.raises(ModelError, match=f"m.onnx: not an ONNX model .*{why}"):
        parse_header(data, "m.onnx")
    with pytest.raises(ModelError, match="m.onnx: not a loadable ONNX model"):
        with_symbolic_io_dims(b"garbage" * 100, "m.onnx")


def test_a_truncated_model_is_refused():
    data = MODELS[0].read_bytes()
    with pytest.raises(ModelError, match="not an ONNX model"):
        parse_header(data[: len(data) // 2], "half.onnx")
