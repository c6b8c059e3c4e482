"""Shared test configuration: hypothesis profiles and a guard on global state.

Profiles: ``ci`` (derandomized: the same examples every run, no deadline) is used when the
environment variable CI is set, ``dev`` (random, more examples) otherwise; pick one explicitly
with ``HYPOTHESIS_PROFILE=intense`` etc.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=40, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "intense", deadline=None, max_examples=500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Fail a test that leaves grad mode, anomaly mode or the default dtype changed."""
    import tinygrad_nn as tg
    from tinygrad_nn.engine import anomaly

    yield
    leaked = []
    if not tg.is_grad_enabled():
        leaked.append("grad mode left disabled")
    if anomaly.enabled:
        leaked.append("detect_anomaly left on")
    if tg.get_default_dtype() != np.float32:
        leaked.append(f"default dtype left as {tg.get_default_dtype()}")
    from tinygrad_nn.engine.grad_mode import mode
    mode.enabled = True
    anomaly.enabled = False
    tg.set_default_dtype(np.float32)
    if leaked:
        pytest.fail("test changed global state: " + ", ".join(leaked))
