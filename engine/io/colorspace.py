"""Transfer functions between scene-linear and display-encoded (sRGB) values.

Convention: float32 arrays of any shape, values per channel. `srgb_to_linear` and
`linear_to_srgb` are the IEC 61966-2-1 piecewise curves, extended as odd functions below 0 and by
the same power law above 1, so they are exact inverses over the whole float range and
highlights/negatives survive a round trip.
"""

from __future__ import annotations

import numpy as np

_A = 0.055
_THRESH_ENC = 0.04045
_THRESH_LIN = 0.0031308


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """Decode sRGB-encoded values to scene-linear (float32).

    Example:
        >>> lin = srgb_to_linear(np.array([0.0, 0.04045, 0.5, 1.0], dtype=np.float32))
        >>> lin.dtype, np.round(lin, 4)  # encoded 0.5 is about 21% of linear white
        (dtype('float32'), array([0.    , 0.0031, 0.214 , 1.    ], dtype=float32))
    """
    x = np.asarray(encoded, dtype=np.float32)
    a = np.abs(x)
    lin = np.where(a <= _THRESH_ENC, a / 12.92, ((a + _A) / (1 + _A)) ** 2.4)
    return (np.sign(x) * lin).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode scene-linear values with the sRGB transfer curve (float32).

    Example:
        Mid grey (0.18) encodes to about 0.46; values above 1 and below 0 are kept, not
        clipped, so highlights and negatives survive the round trip:

        >>> np.round(linear_to_srgb([0.0, 0.18, 1.0, 4.0, -0.1]), 4)
        array([ 0.    ,  0.4614,  1.    ,  1.8248, -0.3492], dtype=float32)
        >>> x = np.array([-0.25, 0.0, 0.18, 1.0, 16.0], dtype=np.float32)
        >>> bool(np.allclose(srgb_to_linear(linear_to_srgb(x)), x, rtol=1e-5))
        True
    """
    x = np.asarray(linear, dtype=np.float32)
    a = np.abs(x)
    enc = np.where(a <= _THRESH_LIN, a * 12.92, (1 + _A) * np.power(a, 1 / 2.4) - _A)
    return (np.sign(x) * enc).astype(np.float32)


def to_display_uint8(linear_rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB -> sRGB uint8 (clipped), the form detectors and previews expect.

    Example:
        >>> linear = np.array([[[0.0, 0.18, 1.0], [2.0, -1.0, np.nan]]], dtype=np.float32)
        >>> to_display_uint8(linear)  # (1, 2, 3): NaN and negatives -> 0, over 1 -> 255
        array([[[  0, 118, 255],
                [255,   0,   0]]], dtype=uint8)
    """
    enc = linear_to_srgb(np.nan_to_num(linear_rgb, nan=0.0, posinf=1.0, neginf=0.0))
    return np.rint(np.clip(enc, 0.0, 1.0) * 255.0).astype(np.uint8)


class SrgbTransfer:
    """The default model-space conversion: the sRGB transfer curve on linear Rec.709 values."""

    name = "srgb"

    def to_model(self, linear: np.ndarray) -> np.ndarray:
        """Plate (scene-linear) pixels → the model's sRGB-encoded space (`linear_to_srgb`).

        Example:
            >>> np.round(SrgbTransfer().to_model(np.array([0.0, 0.18, 1.0], np.float32)), 4)
            array([0.    , 0.4614, 1.    ], dtype=float32)
        """
        return linear_to_srgb(linear)

    def to_linear(self, encoded: np.ndarray) -> np.ndarray:
        """Model-space (sRGB-encoded) pixels → scene-linear (`srgb_to_linear`).

        Example:
            >>> t = SrgbTransfer()
            >>> np.round(t.to_linear(np.array([0.0, 0.5, 1.0], np.float32)), 4)
            array([0.   , 0.214, 1.   ], dtype=float32)
            >>> x = np.array([0.02, 0.18, 3.0], np.float32)
            >>> bool(np.allclose(t.to_linear(t.to_model(x)), x, rtol=1e-5))
            True
        """
        return srgb_to_linear(encoded)


class OcioTransfer:
    """Model-space conversion through an OpenColorIO config (PyOpenColorIO, the `ocio` extra).

    `config` is a file path or a built-in URI (`ocio://cg-config-latest` needs no file);
    `plate_space` is the plates' scene-linear space (e.g. `ACEScg`), `model_space` the
    display-encoded space the model was trained in (e.g. `sRGB Encoded Rec.709 (sRGB)`).
    """

    def __init__(self, config: str, plate_space: str, model_space: str):
        from engine.errors import SettingsError

        try:
            import PyOpenColorIO as ocio
        except ImportError:
            raise SettingsError("an OCIO config was given but PyOpenColorIO is missing; "
                                "pip install 'doppel[ocio]' (package opencolorio)") from None
        try:
            cfg = ocio.Config.CreateFromFile(config)
            fwd = cfg.getProcessor(plate_space, model_space)
            inv = cfg.getProcessor(model_space, plate_space)
        except Exception as exc:  # OCIO raises its own Exception type with a clear text
            raise SettingsError(f"OCIO config {config!r}, {plate_space!r} -> {model_space!r}: "
                                f"{exc}") from None
        self.name = f"ocio:{plate_space}->{model_space}"
        self._fwd = fwd.getDefaultCPUProcessor()
        self._inv = inv.getDefaultCPUProcessor()

    @staticmethod
    def _apply(proc, img: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(img, dtype=np.float32).copy()
        proc.applyRGB(out)
        return out

    def to_model(self, linear: np.ndarray) -> np.ndarray:
        return self._apply(self._fwd, linear)

    def to_linear(self, encoded: np.ndarray) -> np.ndarray:
        return self._apply(self._inv, encoded)
