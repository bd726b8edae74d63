"""The FaceEnhancer trainer (docs/enhancer.md): a small residual ×2 detail network trained per
identity on (the swap model's own reconstruction of a src face, that src face at 2× the model's
resolution)."""
