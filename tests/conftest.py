"""Hypothesis profiles: ``ci`` (quick, the default) and ``thorough``; pick with HYPOTHESIS_PROFILE.

    HYPOTHESIS_PROFILE=thorough pytest tests/

``deadline=None`` everywhere: the first call of a Numba kernel compiles it, which would
otherwise trip hypothesis' per-example deadline.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
