"""What the engine reads of an ONNX file without the `onnx` package: metadata and graph I/O.

A model's metadata (`metadata_props`) and its graph's inputs and outputs (names, element types,
shapes) are all the engine checks before ONNX Runtime loads a model. They are a few hundred
bytes of a file whose weights are megabytes, so they are read from the protobuf wire format
directly: the fields named below are decoded, every other field (nodes, weights) is skipped by
its length, never parsed. Importing `onnx` for this cost about 1.3 s per command (it loads
`ml_dtypes`), more than loading a model.

Fields read (onnx.proto3, proto2 wire format):
    ModelProto       7 graph, 14 metadata_props (StringStringEntryProto: 1 key, 2 value)
    GraphProto       5 initializer (TensorProto: 8 name), 11 input, 12 output
    ValueInfoProto   1 name, 2 type
    TypeProto        1 tensor_type (1 elem_type, 2 shape)
    TensorShapeProto 1 dim (1 dim_value, 2 dim_param)
A file whose bytes are not a protobuf message (a bad tag, a length past the end, an
impossible varint) raises `ModelError`; one that is well-formed but no model (no graph) does
too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import ModelError

FLOAT = 1  # TensorProto.DataType.FLOAT


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its name, element type (`TensorProto.DataType`, 1 = float32)
    and dimensions (an int, or None where symbolic or absent)."""

    name: str
    elem_type: int
    dims: tuple[int | None, ...]


@dataclass(frozen=True)
class OnnxHeader:
    """The parts of a model the engine checks: metadata, the graph's inputs (as listed, which
    older exports make include the initializers), its outputs and its initializers' names."""

    metadata: dict[str, str]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    initializers: frozenset[str] = frozenset()

    @property
    def fed_inputs(self) -> tuple[TensorInfo, ...]:
        """The inputs a caller feeds (those that are not initializers)."""
        return tuple(i for i in self.inputs if i.name not in self.initializers)


class _Malformed(Exception):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed("varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _spans(buf: memoryview) -> list[tuple[int, int | memoryview, int, int]]:
    """The fields of one message: (field number, value, start, end) with `buf[start:end]` the
    whole field as stored (tag included). The value is an int for varints and fixed-width
    values, a view of the bytes for length-delimited ones (not copied, not parsed)."""
    out: list[tuple[int, int | memoryview, int, int]] = []
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field 0")
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise _Malformed("length past the end")
            value = buf[pos:pos + size]
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise _Malformed("fixed past the end")
            value = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        else:  # groups (3, 4) are not in ONNX; 6, 7 do not exist
            raise _Malformed(f"wire type {wire}")
        out.append((number, value, start, pos))
    return out


def _fields(buf: memoryview) -> list[tuple[int, int | memoryview]]:
    """The (field number, value) pairs of one message (see `_spans`)."""
    return [(n, v) for n, v, _, _ in _spans(buf)]


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise _Malformed("string field is not length-delimited")
    return bytes(value).decode("utf-8", "replace")


def _message(value: int | memoryview) -> list[tuple[int, int | memoryview]]:
    if not isinstance(value, memoryview):
        raise _Malformed("message field is not length-delimited")
    return _fields(value)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _tensor_info(value: int | memoryview) -> TensorInfo:
    name, elem, dims = "", 0, []
    for number, v in _message(value):
        if number == 1:
            name = _text(v)
        elif number == 2:
            for tn, tv in _message(v):
                if tn != 1:  # not a tensor type (sequence, map): no dims
                    continue
                for kn, kv in _message(tv):
                    if kn == 1 and isinstance(kv, int):
                        elem = kv
                    elif kn == 2:
                        for sn, sv in _message(kv):
                            if sn == 1:
                                dim: int | None = None
                                for dn, dv in _message(sv):
                                    if dn == 1 and isinstance(dv, int):
                                        dim = _signed(dv)
                                dims.append(dim)
    return TensorInfo(name, elem, tuple(dims))


def parse_header(data: bytes | memoryview, where: str = "model",
                 hint: str = "export one with 'doppel export'") -> OnnxHeader:
    """Metadata and graph inputs/outputs of a serialized ONNX model (see the module doc);
    raises ModelError (`where: not an ONNX model (why); hint`) for bytes that are not one."""
    try:
        graph: list[tuple[int, int | memoryview]] | None = None
        metadata: dict[str, str] = {}
        for number, value in _fields(memoryview(data)):
            if number == 7:
                graph = _message(value)
            elif number == 14:
                entry = dict(_message(value))
                metadata[_text(entry.get(1, memoryview(b"")))] = _text(
                    entry.get(2, memoryview(b"")))
        if graph is None:
            raise _Malformed("no graph")
        initializers = set()
        for number, value in graph:
            if number == 5:
                for tn, tv in _message(value):
                    if tn == 8:
                        initializers.add(_text(tv))
        inputs = tuple(_tensor_info(v) for n, v in graph if n == 11)
        outputs = tuple(_tensor_info(v) for n, v in graph if n == 12)
    except _Malformed as exc:
        raise ModelError(f"{where}: not an ONNX model ({exc}); {hint}") from None
    return OnnxHeader(metadata, inputs, outputs, frozenset(initializers))


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _edit(buf: memoryview, edits: dict[int, Callable[[memoryview, int], bytes | None]]
          ) -> bytes:
    """`buf` with the length-delimited fields named in `edits` replaced by what their function
    returns for (payload, index of that field among its kind) (None: kept as stored); every
    other field is copied byte for byte."""
    out = bytearray()
    seen: dict[int, int] = {}
    for number, value, start, end in _spans(buf):
        fn = edits.get(number)
        new = None
        if fn is not None and isinstance(value, memoryview):
            index = seen.get(number, 0)
            seen[number] = index + 1
            new = fn(value, index)
        out += _field_bytes(number, new) if new is not None else buf[start:end]
    return bytes(out)


def with_symbolic_io_dims(data: bytes, where: str = "model") -> bytes:
    """The serialized model with every dimension of every graph input and output made
    symbolic (`N`, `C`, `H`, `W`, then `d4`, …), as `dim_param`s: one ONNX Runtime session
    then takes any input size (a detector's frame size). Nothing else changes."""
    def dim(payload: memoryview, i: int) -> bytes:
        kept = b"".join(bytes(payload[s:e]) for n, _, s, e in _spans(payload) if n not in (1, 2))
        name = ("N", "C", "H", "W")[i] if i < 4 else f"d{i}"
        return _field_bytes(2, name.encode()) + kept

    def value_info(payload: memoryview, _: int) -> bytes:
        tensor = {2: lambda p, _i: _edit(p, {1: dim})}  # TypeProto.Tensor.shape: its dims
        type_ = {1: lambda p, _i: _edit(p, tensor)}  # TypeProto.tensor_type
        return _edit(payload, {2: lambda p, _i: _edit(p, type_)})  # ValueInfoProto.type

    try:
        graph = {11: value_info, 12: value_info}
        return _edit(memoryview(data), {7: lambda p, _i: _edit(p, graph)})
    except _Malformed as exc:
        raise ModelError(f"{where}: not a loadable ONNX model ({exc})") from None
