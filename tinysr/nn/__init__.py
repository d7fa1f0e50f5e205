"""Layers with hand-written backward passes, named and laid out as in ``torch.nn``.

Every layer is a ``Module`` with ``forward(x)`` (caches what its gradient needs) and
``backward(grad_output)`` (returns dL/d(input), adds dL/d(parameter) into ``.grad``).
"""

from tinysr.nn.activation import LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from tinysr.nn.batchnorm import BatchNorm2d
from tinysr.nn.conv import Conv2d
from tinysr.nn.conv_transpose import ConvTranspose2d
from tinysr.nn.init import manual_seed
from tinysr.nn.linear import Flatten, Linear
from tinysr.nn.module import Module, Parameter, Sequential
from tinysr.nn.pixel_shuffle import PixelShuffle, PixelUnshuffle
from tinysr.nn.residual import Residual

__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "Module",
    "PReLU",
    "Parameter",
    "PixelShuffle",
    "PixelUnshuffle",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "manual_seed",
]
