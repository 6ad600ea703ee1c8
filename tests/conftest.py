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
