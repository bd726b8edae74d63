"""Small hand-built `.dfm` graphs (real ONNX files) with known outputs, for the adapter tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")


def _channel(name: str, src: str, c: int) -> list[onnx.NodeProto]:
    return [helper.make_node("Slice", [src, f"{name}_s", f"{name}_e", "axis3"], [name])]


def probe_dfm(path: Path, res: int = 16, morph: bool = False, in_name: str = "in_face:0",
              morph_name: str = "morph_value:0", outputs: tuple[str, ...] = OUT,
              in_shape: list | None = None, extra_input: str | None = None,
              mask_channels: int = 1) -> Path:
    """out_face_mask = channel 0 of the input (B), out_celeb_face = input (× morph for AMP),
    out_celeb_face_mask = channel 2 (R)."""
    inits = [numpy_helper.from_array(np.array([3], np.int64), "axis3")]
    nodes = []
    for name, c in (("m0", 0), ("m2", 2)):
        inits += [numpy_helper.from_array(np.array([c], np.int64), f"{name}_s"),
                  numpy_helper.from_array(np.array([c + mask_channels], np.int64), f"{name}_e")]
        nodes += _channel(name, in_name, c)
    inputs = [helper.make_tensor_value_info(in_name, TensorProto.FLOAT,
                                            in_shape or ["N", res, res, 3])]
    if morph:
        inputs.append(helper.make_tensor_value_info(morph_name, TensorProto.FLOAT, [1]))
        nodes.append(helper.make_node("Mul", [in_name, morph_name], ["celeb"]))
    else:
        nodes.append(helper.make_node("Identity", [in_name], ["celeb"]))
    if extra_input:
        inputs.append(helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, [1]))
    sources = {"out_face_mask": "m0", "out_celeb_face": "celeb", "out_celeb_face_mask": "m2"}
    outs = []
    for name in outputs:
        src = sources[name.split(":")[0]]
        nodes.append(helper.make_node("Identity", [src], [name]))
        ch = 3 if src == "celeb" else mask_channels
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", res, res, ch]))
    graph = helper.make_graph(nodes, "probe", inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
