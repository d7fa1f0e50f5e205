"""Hypothesis strategies shared by the tests: they build only valid inputs.

Values are drawn as float64 arrays from a seeded generator (hypothesis draws the seed), which
shrinks well and is much faster than drawing every element. ``away_from_zero`` keeps inputs out
of the neighbourhood of kinks (ReLU at 0, L1 at 0) where finite differences are meaningless.
"""

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def random_array(seed: int, shape, *, low=-1.0, high=1.0, away_from_zero: float = 0.0) -> np.ndarray:
    """A float64 array of uniform values in [low, high), with |v| >= away_from_zero if asked."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=shape)
    if away_from_zero > 0:
        sign = np.where(x >= 0, 1.0, -1.0)
        x = sign * (away_from_zero + np.abs(x))
    return x


@st.composite
def arrays(draw, shape, **kwargs) -> np.ndarray:
    """Strategy form of ``random_array`` for a fixed shape."""
    return random_array(draw(seeds), shape, **kwargs)
