"""XSeg: a few-shot face segmenter trained from compositors' roto (paper §3.1).

Modules: `labels` (roto mattes, per-face masks and polygons → aligned-face labels; no torch),
`model` (the network), `data` (labelled faces + augmentation), `train` (the loop, checkpoints,
previews), `export` (ONNX for the engine's `MaskModel`), `apply` (masks for a whole faceset),
`bench` (the composited-occluder benchmark).
"""
