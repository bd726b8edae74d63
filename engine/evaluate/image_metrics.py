"""Image similarity of the face region: SSIM and GMSD, both optionally restricted by a mask.

Convention: images are float32 `H×W×3` RGB, display-encoded (sRGB) in [0, 1], already aligned
(same pixels compare to the same pixels: both are cropped with the plate face's matrix); masks are
`H×W` float in [0, 1] and select pixels where mask > 0.5.

SSIM follows Wang et al. 2004 with the usual constants: a Gaussian window σ = 1.5 truncated at
3.5σ (11 taps), K1 = 0.01, K2 = 0.03, data range 1, population covariances, computed per RGB
channel and averaged (scikit-image's `structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)` gives the same map; the
tests check it).

The perceptual index is GMSD, Gradient Magnitude Similarity Deviation (Xue, Zhang, Mou, Bovik,
IEEE TIP 2014): luma, 2×2 mean and 2× decimation, Prewitt gradient magnitudes m_r, m_d,
GMS = (2 m_r m_d + c) / (m_r² + m_d² + c) with c = 170/255², GMSD = std(GMS) over the face.
0 means identical structure; larger is worse (≈0.35 is very poor). Why GMSD: it is non-learned
(no network weights to ship, none of the offline restrictions of LPIPS), it tracks human quality
ratings on LIVE/CSIQ/TID2013 about as well as MS-SSIM and FSIM, it is cheap (two 3×3 filters), and
it is insensitive to a uniform brightness offset that SSIM already reports, so the two numbers say
different things: SSIM drops with colour/contrast changes, GMSD with changed edges and texture.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import SettingsError

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
GMSD_C = 170.0 / 255.0**2
_LUMA = np.array([0.299, 0.587, 0.114], np.float64)  # the paper's rgb2gray weights


def _check_pair(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> None:
    if a.shape != b.shape:
        raise SettingsError(f"images to compare differ in shape: {a.shape} vs {b.shape}")
    if mask is not None and mask.shape != a.shape[:2]:
        raise SettingsError(f"mask shape {mask.shape} does not match the images {a.shape[:2]}")


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    if mask is None:
        return float(values.mean())
    sel = mask > 0.5
    if not sel.any():
        raise SettingsError("mask selects no pixel; nothing to compare")
    return float(values[sel].mean())


def _gauss(img: np.ndarray) -> np.ndarray:
    # 11 taps = 2 * round(3.5 σ) + 1, as scikit-image's truncate=3.5; reflect at borders.
    return cv2.GaussianBlur(img, (11, 11), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM `H×W` (mean over channels) of two images in [0, 1]."""
    _check_pair(a, b, None)
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = (SSIM_K1 * 1.0) ** 2, (SSIM_K2 * 1.0) ** 2
    maps = []
    for c in range(x.shape[2]):
        xc, yc = x[..., c], y[..., c]
        mx, my = _gauss(xc), _gauss(yc)
        vx = _gauss(xc * xc) - mx * mx
        vy = _gauss(yc * yc) - my * my
        cxy = _gauss(xc * yc) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * cxy + c2))
                    / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return np.mean(maps, axis=0)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM over the mask (whole image without one); 1 for identical images."""
    _check_pair(a, b, mask)
    return _masked_mean(ssim_map(a, b), mask)


def _luma(img: np.ndarray) -> np.ndarray:
    x = np.asarray(img, np.float64)
    return x if x.ndim == 2 else x[..., :3] @ _LUMA


def _gradient_magnitude(y: np.ndarray) -> np.ndarray:
    k = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0  # Prewitt, as in the GMSD paper
    gx = cv2.filter2D(y, cv2.CV_64F, k, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(y, cv2.CV_64F, k.T, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def _downsample2(y: np.ndarray) -> np.ndarray:
    """2×2 box mean then keep every second pixel (the paper's average filter + decimation)."""
    h, w = y.shape[0] // 2 * 2, y.shape[1] // 2 * 2
    y = y[:h, :w]
    return 0.25 * (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2])


def gms_map(a: np.ndarray, b: np.ndarray, downsample: bool = True) -> np.ndarray:
    """Gradient magnitude similarity map (1 = same local gradient), at half size by default."""
    _check_pair(a, b, None)
    ya, yb = _luma(a), _luma(b)
    if downsample:
        ya, yb = _downsample2(ya), _downsample2(yb)
    ma, mb = _gradient_magnitude(ya), _gradient_magnitude(yb)
    return (2 * ma * mb + GMSD_C) / (ma * ma + mb * mb + GMSD_C)


def gmsd(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
         downsample: bool = True) -> float:
    """GMSD (population std of the GMS map over the mask); 0 for identical images."""
    _check_pair(a, b, mask)
    g = gms_map(a, b, downsample)
    if mask is None:
        return float(g.std())
    m = np.asarray(mask, np.float64)
    if downsample:
        m = _downsample2(m)
    sel = m > 0.5
    if not sel.any():
        raise SettingsError("mask selects no pixel; nothing to compare")
    return float(g[sel].std())
