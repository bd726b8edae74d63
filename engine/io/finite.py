"""The one rule for non-finite pixels, used by every stage that reads plate pixels.

Scene-linear plates can carry NaN (failed renders, bad divisions) and ±Inf (overflowed
highlights). Wherever a stage needs finite values (detection, landmarks, the aligned crop that
extraction writes and that render feeds the model) it uses `finite_rgb`:

    NaN → 0,  +Inf → 1,  −Inf → 0

+Inf becomes 1 (display white, where an overflowed highlight belongs; any value ≥ 1 encodes the
same for the detector and the model, which see [0, 1]) and NaN/−Inf become black. Because
detection, extraction and render share the rule, a frame's detection is the same in
`doppel analyze`, `doppel extract` and `doppel render`, and the crop a model trained on is the crop
it is given. Pixels the swap does not touch keep their non-finite values in the output.
"""

from __future__ import annotations

import numpy as np

NAN, POSINF, NEGINF = 0.0, 1.0, 0.0


def count_nonfinite(a: np.ndarray) -> int:
    """Number of NaN/±Inf values in `a` (one float64 reduction when there are none; for half,
    the values whose exponent bits are all set, counted on the bits: 1 ms a 1080p frame
    against 5.5 for the reduction)."""
    if a.dtype == np.float16:
        bits = np.ascontiguousarray(a).view(np.uint16)
        return int(np.count_nonzero((bits & 0x7C00) == 0x7C00))
    if np.isfinite(a.sum(dtype=np.float64)):
        return 0
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def finite_rgb(a: np.ndarray) -> tuple[np.ndarray, int]:
    """`(array, count)`: `a` itself when all finite, else a float32 copy with the rule applied."""
    n = count_nonfinite(a)
    if n == 0:
        return a, 0
    return np.nan_to_num(a, nan=NAN, posinf=POSINF, neginf=NEGINF).astype(np.float32,
                                                                           copy=False), n
