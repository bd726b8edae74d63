"""torch → ONNX export of trained models (imports torch lazily; the engine itself never does)."""
