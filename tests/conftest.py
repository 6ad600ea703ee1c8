import os

import jax
import pytest

# Tests run in float64; the library itself never changes this global setting.
jax.config.update("jax_enable_x64", True)


@pytest.fixture
def getkey():
    """Hands out fresh PRNG keys: `key = getkey()`."""
    state = {"key": jax.random.key(1234)}

    def _next():
        state["key"], sub = jax.random.split(state["key"])
        return sub

    return _next


# Property-based tests (hypothesis): seeded and small by default (CI); a larger run locally with
# `HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_properties.py`.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=25, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("thorough", max_examples=400, derandomize=False, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
