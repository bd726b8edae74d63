"""The swap stages, one per module, and `FaceSwapper`, which runs them per frame."""
