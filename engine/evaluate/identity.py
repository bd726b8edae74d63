"""Identity verification as in the paper (dlib's default face verification): 128-d descriptors.

The source identity is the centroid of the descriptors of every face of the source faceset
(computed on the aligned crops with their crop landmarks). Per frame, the swapped face's
descriptor is compared with it and with the plate face's own descriptor on that frame: a swap
should be near the source (< 0.6, dlib's same-person threshold) and far from the plate.
Convention: descriptors `(128,)` float32; distances Euclidean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import FacesetError
from engine.faceset.store import Faceset

SAME_PERSON = 0.6  # dlib's threshold: below it, two descriptors are the same person


@dataclass(frozen=True)
class SourceIdentity:
    """Centroid of a faceset's descriptors and how tightly they agree."""

    centroid: np.ndarray  # (128,) float32
    count: int
    spread: float  # median distance of the faces to the centroid
    outliers: list[str] = field(default_factory=list)  # crops farther than SAME_PERSON


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def source_identity(faceset: Faceset, describer, max_faces: int = 200) -> SourceIdentity:
    """Describe up to `max_faces` crops of `faceset` (evenly spaced); raise if none can be.

    `describer` is an `engine.geometry.descriptor.FaceDescriber` (or anything with its `describe`).
    """
    entries = faceset.entries
    if not entries:
        raise FacesetError(f"{faceset.root}: the source faceset has no faces, so there is no "
                           "identity to compare the swap with; extract the source photos first")
    picks = entries if len(entries) <= max_faces else [
        entries[i] for i in np.linspace(0, len(entries) - 1, max_faces).round().astype(int)]
    descs, names = [], []
    for e in picks:
        crop = np.rint(np.clip(faceset.load_crop(e), 0, 1) * 255).astype(np.uint8)
        descs.append(describer.describe(crop, faceset.landmarks_crop(e)))
        names.append(e.file)
    stack = np.stack(descs).astype(np.float64)
    centroid = stack.mean(axis=0)
    d = np.linalg.norm(stack - centroid, axis=1)
    outliers = [n for n, v in zip(names, d, strict=True) if v > SAME_PERSON]
    if len(outliers) * 2 > len(names):
        raise FacesetError(f"{faceset.root}: its faces do not agree on one identity ("
                           f"{len(outliers)} of {len(names)} are farther than {SAME_PERSON} from "
                           "their mean); clean the faceset to the source person")
    return SourceIdentity(centroid.astype(np.float32), len(descs), float(np.median(d)), outliers)
