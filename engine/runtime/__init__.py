"""Runtime: ONNX Runtime sessions, model assets from registry packages, the machine."""
