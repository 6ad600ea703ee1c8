"""Input validation shared by the public functions.

Every check names the argument, shows what was received and says what to do. Checks on *values*
(NaN, signs, symmetry) run only on concrete arrays: under `jax.jit`, `jax.vmap` or `jax.grad` the
values are abstract tracers and the checks are skipped, so the functions stay traceable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(*xs) -> bool:
    """True when none of the leaves of `xs` is a JAX tracer (values can be inspected)."""
    leaves = jax.tree_util.tree_leaves(xs)
    return not any(isinstance(x, jax.core.Tracer) for x in leaves)


def as_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype=None):
    """Convert `x` to a floating JAX array and check its rank and (if concrete) finiteness."""
    if x is None:
        raise TypeError(f"`{name}` is required, got None.")
    try:
        arr = jnp.asarray(x) if dtype is None else jnp.asarray(x, dtype=dtype)
    except TypeError as err:
        raise TypeError(f"`{name}` must be an array of numbers, got {type(x).__name__}.") from err
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(
                f"`{name}` must have {' or '.join(map(str, allowed))} dimension(s), "
                f"got shape {tuple(arr.shape)}."
            )
    # numpy, not jax.numpy, for value checks: no compilation per new shape
    if is_concrete(arr) and not np.all(np.isfinite(host := np.asarray(arr))):
        bad = int(host.size - np.count_nonzero(np.isfinite(host)))
        raise ValueError(
            f"`{name}` contains {bad} NaN or infinite value(s); pass finite numbers "
            "(check the data or the computation that produced it)."
        )
    return arr


def check_shape(arr, name: str, shape: tuple[int, ...]) -> None:
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}, got {tuple(arr.shape)}.")


def check_times(t, name: str = "t"):
    """Times as a 1-D array (a scalar becomes shape (1,)); concrete times must be >= 0."""
    t = as_array(t, name, ndim=(0, 1))
    t = jnp.atleast_1d(t)
    if is_concrete(t) and t.size and (low := float(np.min(np.asarray(t)))) < 0:
        raise ValueError(
            f"`{name}` must be >= 0 (flow time t = lr x steps starts at 0), got a minimum of "
            f"{low!r}."
        )
    return t


def check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise TypeError(
            f"`depth` must be a Python int (the number of weight matrices), got {depth!r}."
        )
    if depth < 1:
        raise ValueError(f"`depth` must be >= 1 (number of weight matrices), got {depth}.")
    return int(depth)
