"""Aligned crops for a faceset, made from the frame the analysis has in memory.

`aligned_crop(frame, matrix, size)` resamples the crop from the scene-linear pixels of the
region it reads only (`crop_read_box`), then encodes it to sRGB: the same pixels, bit for bit,
as warping the whole linear frame (`warp_to_crop` reads only that region), without a linear
copy of the frame.

`StagedCrops` is how `doppel extract` writes crops in the pass that reads the frames anyway:
while a frame is analysed, the crop of each face it found is made and written (on the writer
thread) to a temp file beside its final place, named as `engine.io.atomic`'s temps. The second
pass, which decides what the faceset keeps (selection, smoothing, the existing faceset), renames
a staged crop into place when the entry it chose has the very matrix the crop was made with;
any other crop it makes from the frame again, and whatever was staged and not taken is removed.
So a faceset's crops still change only after the analysis is complete, a crop never appears
under a name the index does not give it, and a dead run's staged files are stale temps that
the next run removes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.geometry.align import align_matrix, crop_read_box, face_type, warp_to_crop
from engine.io.atomic import staged_path
from engine.io.colorspace import linear_to_srgb
from engine.io.display import DisplayFrame
from engine.io.image import write_image
from engine.shot.overlap import Later
from engine.types import AlignedFace, Face


def aligned_crop(frame: DisplayFrame, matrix: np.ndarray, size: int) -> np.ndarray:
    """The `size`² aligned crop (sRGB-encoded float32, unclipped) of `frame` for `matrix`
    (image → crop pixels), resampled in scene-linear light from the region it reads."""
    x0, y0, x1, y1 = crop_read_box(matrix, size, frame.native.shape)
    if x1 <= x0 or y1 <= y0:  # the crop lies wholly outside: warp_to_crop uses the whole frame
        x0, y0, (y1, x1) = 0, 0, frame.shape
    region = frame.linear((x0, y0, x1, y1))
    return linear_to_srgb(warp_to_crop(region, matrix, size, origin=(x0, y0)))


class StagedCrops:
    """Crops staged while frames are analysed (module doc): `stage` is the analysis's
    per-frame hook, `take` moves one into place, `discard` removes the rest."""

    def __init__(self, crop_path: Callable[[int, int], Path], size: int, bits: int,
                 face_type_name: str):
        self._crop_path = crop_path  # (frame, face index) -> the crop's final path
        self.size, self.bits = size, bits
        self._ftype = face_type(face_type_name)
        self._staged: dict[tuple[int, int], tuple[np.ndarray, Path]] = {}

    def stage(self, frame: DisplayFrame, faces: list[Face]) -> Later[None] | None:
        """Make the crop of every face (index k as the analysis orders them) and return the
        writes of their temp files, for the writer thread."""
        jobs = []
        for k, face in enumerate(faces):
            # The matrix as the faceset entry stores it (rounded by its JSON form), so the
            # crop is the one pass 2 would make from that entry.
            exact = align_matrix(face.landmarks, self.size, self._ftype)
            matrix = np.asarray(AlignedFace(face, exact, self._ftype.name, self.size)
                                .to_json()["matrix"])
            crop = aligned_crop(frame, matrix, self.size)
            tmp = staged_path(self._crop_path(frame.number, k))
            self._staged[(frame.number, k)] = (matrix, tmp)
            jobs.append((tmp, crop))
        if not jobs:
            return None

        def write() -> None:
            for tmp, crop in jobs:
                write_image(tmp, crop, bits=self.bits)
        return Later(write)

    def take(self, frame: int, k: int, matrix: np.ndarray, target: Path) -> bool:
        """Rename the staged crop of face `k` of `frame` to `target` if it was made with
        `matrix` exactly; False (nothing done) otherwise."""
        staged = self._staged.get((frame, k))
        if staged is None or not np.array_equal(staged[0], matrix):
            return False
        del self._staged[(frame, k)]
        os.replace(staged[1], target)
        return True

    def discard(self) -> None:
        """Remove every staged crop not taken."""
        for _, tmp in self._staged.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._staged.clear()
