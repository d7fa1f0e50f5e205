"""tinysr: image super-resolution from scratch on NumPy and Numba.

Every layer has a hand-written forward and backward pass (no autograd), the hot loops are
compiled by Numba, and every gradient is checked against finite differences and PyTorch.

* ``tinysr.nn``: layers (``Conv2d``, ``PReLU``, ``BatchNorm2d``, ``PixelShuffle``, ...)
* ``tinysr.ops``: the forward and backward rules themselves, one file per op
* ``tinysr.losses``, ``tinysr.optim``: losses and optimizers
* ``tinysr.gradcheck(...)``: check any layer's backward pass against finite differences
* ``tinysr.upscale(image, scale=3)``: super-resolve a photo with the shipped SRCNN (or bicubic)
* ``tinysr.to_device(x, "cuda")``, ``model.to("cuda")``: run on an NVIDIA GPU (numba.cuda kernels)
* ``tinysr.image``, ``tinysr.metrics``, ``tinysr.data``, ``tinysr.models``: images, PSNR/SSIM,
  training patches, networks
"""

from tinysr import losses, nn, optim
from tinysr.device import DeviceError, cuda_available, to_device
from tinysr.gradcheck import GradcheckError, gradcheck
from tinysr.nn.init import manual_seed
from tinysr.tiers import tier
from tinysr.upscale import upscale

__version__ = "0.1.0"

__all__ = [
    "DeviceError",
    "GradcheckError",
    "__version__",
    "cuda_available",
    "gradcheck",
    "losses",
    "manual_seed",
    "nn",
    "optim",
    "tier",
    "to_device",
    "upscale",
]
