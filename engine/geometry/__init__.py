"""Face geometry: detection, 68 landmarks, alignment, pose, smoothing, identity descriptors."""
