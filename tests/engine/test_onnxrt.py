import pytest

from engine.errors import SettingsError
from engine.runtime.onnxrt import providers_for

GPU = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_auto_prefers_tensorrt_then_cuda_and_always_keeps_cpu():
    assert providers_for("auto", GPU) == GPU
    assert providers_for("auto", GPU[1:]) == GPU[1:]
    assert providers_for("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_explicit_devices():
    assert providers_for("cpu", GPU) == ["CPUExecutionProvider"]
    assert providers_for("cuda", GPU) == GPU[1:]
    assert providers_for("tensorrt", GPU) == GPU


def test_missing_gpu_provider_is_a_clear_error():
    with pytest.raises(SettingsError, match="lacks CUDAExecutionProvider.*--device cpu"):
        providers_for("cuda", ["CPUExecutionProvider"])
    with pytest.raises(SettingsError, match="device must be one of"):
        providers_for("gpu0", GPU)
