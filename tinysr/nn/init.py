"""Seedable weight initialisation, as PyTorch's defaults.

Every layer that creates weights takes ``rng``: an ``int`` seed, a ``numpy.random.Generator``,
or ``None`` for tinysr's default generator, which ``tinysr.manual_seed(seed)`` resets. So a
network built after ``manual_seed(0)`` has the same weights every time.
"""

from __future__ import annotations

import math

import numpy as np

from tinysr.nn.module import Parameter

_default_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reset the default generator used by layers built with ``rng=None``."""
    global _default_generator
    _default_generator = np.random.default_rng(seed)


def get_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Turn an ``rng`` argument into a Generator (see the module docstring)."""
    if rng is None:
        return _default_generator
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"expected rng to be an int seed, a numpy Generator or None, got {rng!r}")


def kaiming_uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """PyTorch's default for Conv2d and Linear weights: ``kaiming_uniform_(w, a=sqrt(5))``.

    With a = sqrt(5) the gain is sqrt(2 / (1 + a^2)) = sqrt(1/3), so the bound is
    gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in): ``w ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    """
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def bias_uniform(size: int, fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """PyTorch's default bias: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=(size,)).astype(dtype)


def default_parameters(shape: tuple[int, ...], fan_in: int, bias_size: int | None, rng: np.random.Generator,
                       dtype) -> tuple[Parameter, Parameter | None]:
    """PyTorch's start for a layer's ``weight`` (of ``shape``) and ``bias`` (``bias_size``, or None for no bias).

    Both ~ ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, the weight drawn first: Conv2d, ConvTranspose2d, Linear.
    """
    weight = Parameter(kaiming_uniform(shape, fan_in, rng, dtype))
    return weight, None if bias_size is None else Parameter(bias_uniform(bias_size, fan_in, rng, dtype))
