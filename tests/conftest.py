import functools
import importlib.util
import os
import pathlib

import jax
import pytest

# Tests run in float64; the library itself never changes this global setting.
jax.config.update("jax_enable_x64", True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Release every test module's compiled XLA executables when the module ends. A whole run
    otherwise keeps thousands of them, and their memory maps reach the kernel's limit
    (`vm.max_map_count`, 65530 by default), where XLA's CPU compiler aborts the process."""
    yield
    jax.clear_caches()


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


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@functools.cache
def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_example():
    """Imports `examples/<name>.py` once per session (its jitted functions keep their caches):
    `module = load_example("saxe2014_modes")`."""
    return _load_example
