"""Image quality metrics of the super-resolution literature: PSNR and SSIM, computed the way the tables are.

Both take two images of the same shape and dtype, ``(H, W)`` or ``(H, W, C)``:

* uint8 images have peak value L = 255;
* float32/float64 images are assumed to lie in [0, 1] and have peak L = 1.

and the same two options:

* ``crop_border``: shave this many pixels from every border first (the benchmark shaves ``scale`` pixels,
  where bicubic and network outputs are unreliable);
* ``test_y_channel``: compare only the luma of MATLAB's ``rgb2ycbcr`` (``tinysr.image.rgb_to_y``), as
  published tables do. For uint8 input Y is the unrounded float in [16, 235] and L stays 255; for float
  input Y is in [16/255, 235/255] and L stays 1. A 1-channel image is its own Y.

Everything is computed in float64, so a float32 input gives the same number as its float64 copy.

The reference implementation is scikit-image's; the tests hold tinysr to
``peak_signal_noise_ratio(a, b, data_range=255)`` (to 1e-12) and to
``structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)`` (to 1e-6; the ``channel_axis=-1`` mean for colour images).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from tinysr.image import rgb_to_y

__all__ = ["psnr", "ssim"]

# SSIM constants of Wang et al. 2004.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_SIGMA = 1.5
# 3.5 sigma, rounded as scipy.ndimage does: radius 5, an 11x11 window (as scikit-image and the paper).
_SSIM_TRUNCATE = 3.5
SSIM_RADIUS = int(_SSIM_TRUNCATE * SSIM_SIGMA + 0.5)


def psnr(img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB::

        MSE  = mean over all pixels and channels of (img1 - img2)^2
        PSNR = 10 log10(L^2 / MSE)            L = 255 for uint8, 1 for float images in [0, 1]

    Returns ``inf`` for identical images. See the module docstring for ``crop_border`` and
    ``test_y_channel``. Raises ``ValueError`` for images of different shapes or dtypes (naming both) or a
    bad ``crop_border``, ``TypeError`` for a dtype other than uint8/float32/float64.
    """
    a, b, peak = _prepare("psnr", img1, img2, crop_border, test_y_channel)
    mse = np.mean((a - b) ** 2, dtype=np.float64)
    if mse == 0:
        return math.inf
    return float(10 * np.log10((peak**2) / mse))


def ssim(img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """Structural similarity (Wang et al. 2004), the mean over channels of the mean SSIM map.

    With w the 11x11 Gaussian window (sigma 1.5, normalised to sum 1) and ``*`` correlation, per channel::

        mu_x = w * x,   mu_y = w * y
        s_xx = w * (x x) - mu_x^2,   s_yy = w * (y y) - mu_y^2,   s_xy = w * (x y) - mu_x mu_y
                                                        (population (co)variances: no N / (N - 1) factor)
        SSIM = (2 mu_x mu_y + C1) (2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (s_xx + s_yy + C2))
        C1 = (0.01 L)^2,   C2 = (0.03 L)^2        L = 255 for uint8, 1 for float images in [0, 1]

    The map is averaged over the valid region only: positions whose whole window lies inside the image
    (``SSIM_RADIUS`` = 5 pixels are dropped from every side; no padding ever enters the score). The images
    must be at least 11x11 after ``crop_border``. The result is in [-1, 1] and is 1 for identical images.

    Raises like ``psnr``.
    """
    a, b, peak = _prepare("ssim", img1, img2, crop_border, test_y_channel)
    window = 2 * SSIM_RADIUS + 1
    if a.shape[0] < window or a.shape[1] < window:
        raise ValueError(
            f"ssim: expected images of at least {window}x{window} pixels (after crop_border={crop_border}), "
            f"got {a.shape[0]}x{a.shape[1]}"
        )
    scores = [_ssim_channel(a[:, :, c], b[:, :, c], peak) for c in range(a.shape[2])]
    return float(np.mean(scores))


def _ssim_channel(x: np.ndarray, y: np.ndarray, peak: float) -> float:
    """Mean SSIM of one float64 channel pair ``(H, W)``."""
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2

    def window_mean(values: np.ndarray) -> np.ndarray:
        # The filter's border mode only changes values within SSIM_RADIUS of the edge, which are cropped
        # below: what remains is the exact valid-region correlation with the 11x11 Gaussian.
        return ndimage.gaussian_filter(values, sigma=SSIM_SIGMA, truncate=_SSIM_TRUNCATE, mode="reflect")

    mu_x, mu_y = window_mean(x), window_mean(y)
    var_x = window_mean(x * x) - mu_x * mu_x
    var_y = window_mean(y * y) - mu_y * mu_y
    cov_xy = window_mean(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    ssim_map = numerator / denominator
    r = SSIM_RADIUS
    return float(ssim_map[r:-r, r:-r].mean(dtype=np.float64))


def _prepare(metric: str, img1, img2, crop_border, test_y_channel) -> tuple[np.ndarray, np.ndarray, float]:
    """Check the pair, crop, take Y if asked; return float64 ``(H, W, C)`` arrays and the peak value."""
    for name, image in (("img1", img1), ("img2", img2)):
        if not isinstance(image, np.ndarray):
            raise TypeError(f"{metric}: expected {name} to be a numpy.ndarray, got {type(image).__name__}")
    if img1.dtype != img2.dtype:
        raise ValueError(
            f"{metric}: expected img1 and img2 with the same dtype, got img1 {img1.dtype} and img2 {img2.dtype}"
        )
    if img1.shape != img2.shape:
        raise ValueError(
            f"{metric}: expected img1 and img2 with the same shape, got img1 {img1.shape} and img2 {img2.shape}"
        )
    if img1.dtype == np.uint8:
        peak = 255.0
    elif img1.dtype in (np.float32, np.float64):
        peak = 1.0
    else:
        raise TypeError(
            f"{metric}: expected images with dtype uint8 (peak 255) or float32/float64 in [0, 1] (peak 1), "
            f"got dtype {img1.dtype}"
        )
    if img1.ndim == 2:
        img1, img2 = img1[:, :, None], img2[:, :, None]
    if img1.ndim != 3 or img1.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{metric}: expected images of shape (H, W) or (H, W, C) with C in (1, 3, 4), got {img1.shape}"
        )
    if isinstance(crop_border, (bool, np.bool_)) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"{metric}: expected crop_border to be an int >= 0, got {crop_border!r}")
    height, width = img1.shape[:2]
    if 2 * crop_border >= min(height, width):
        raise ValueError(
            f"{metric}: crop_border={crop_border} leaves nothing of images of {height}x{width} pixels"
        )
    if crop_border > 0:
        img1 = img1[crop_border:-crop_border, crop_border:-crop_border]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border]
    if img1.dtype != np.uint8:
        img1, img2 = img1.astype(np.float64), img2.astype(np.float64)
    if test_y_channel:
        if img1.shape[2] == 4:
            raise ValueError(
                f"{metric}: test_y_channel needs RGB or grey images, got 4 channels {img1.shape}; "
                f"drop alpha with image[..., :3]"
            )
        # rgb_to_y keeps the 0..255 scale for uint8 and the 0..1 scale for floats, so the peak is unchanged.
        return rgb_to_y(img1)[:, :, None], rgb_to_y(img2)[:, :, None], peak
    return img1.astype(np.float64), img2.astype(np.float64), peak
