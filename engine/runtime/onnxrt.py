"""ONNX Runtime sessions: provider choice (TensorRT > CUDA > CPU), threads, quiet logs.

One place decides which execution provider runs a model, so detectors, swap models and XSeg
agree and the selection logic is testable without a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnxruntime as ort

from engine.errors import ModelError, SettingsError

DEVICES = ("auto", "cpu", "cuda", "tensorrt")


def providers_for(device: str = "auto", available: Sequence[str] | None = None) -> list[str]:
    """Execution providers for `device`, best first, from those `available` (ORT's by default).

    auto: TensorRT, then CUDA when present, always ending with CPU; cpu: CPU only;
    cuda / tensorrt: that provider (error if missing) with the lower ones as fallback.
    """
    have = list(ort.get_available_providers() if available is None else available)
    order = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    if device not in DEVICES:
        raise SettingsError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("cuda", "tensorrt"):
        wanted = "CUDAExecutionProvider" if device == "cuda" else "TensorrtExecutionProvider"
        if wanted not in have:
            raise SettingsError(
                f"device {device!r} asked for but this onnxruntime lacks {wanted} (has "
                f"{', '.join(have)}); install the gpu extra (onnxruntime-gpu) or use --device cpu"
            )
        order = order[order.index(wanted):]
    return [p for p in order if p in have or p == "CPUExecutionProvider"]


def session_options(threads: int = 0, spinning: bool = True) -> ort.SessionOptions:
    """`spinning=False`: ONNX Runtime's pool threads sleep when a run ends instead of spinning
    on the cores, which threads sharing them (the render's EXR reader and writer) then get
    (measured: docs/benchmarks.md, render pipeline)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: ORT's per-initializer warnings are noise here
    if threads > 0:
        opts.intra_op_num_threads = threads
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def create_session(model: str | bytes, device: str = "auto", threads: int = 0,
                   spinning: bool = True, where: str = "") -> ort.InferenceSession:
    """An ONNX Runtime session for `model` (a path or the file's bytes). With `where` (the
    file, for the message), a model ONNX Runtime cannot load raises ModelError (one line)
    instead of ONNX Runtime's own exception."""
    providers = providers_for(device)
    try:
        return ort.InferenceSession(model, session_options(threads, spinning),
                                    providers=providers)
    except MemoryError:
        raise
    except Exception as exc:  # ORT's pybind exceptions (Fail, InvalidProtobuf, ...)
        if not where:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelError(f"{where}: ONNX Runtime cannot load this model ({first}); re-export "
                         "it") from None
