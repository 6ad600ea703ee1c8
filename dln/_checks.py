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


def _describe(x) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def as_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype=None,
             finite: bool = True):
    """Convert `x` to a floating JAX array and check its rank and (if concrete) finiteness.

    Real numbers only: complex input is a `TypeError` (it would silently lose its imaginary
    part), as are strings, objects and None; ragged nested lists are a `ValueError`.
    `finite=False` skips the finiteness check (for measures of possibly diverged records).
    """
    if x is None:
        raise TypeError(f"`{name}` is required, got None.")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"`{name}` must be an array of real numbers, got the string {x!r}.")
    try:
        arr = jnp.asarray(x) if dtype is None else jnp.asarray(x, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as err:
        kind = _array_problem(x)
        if kind is not None:
            raise ValueError(f"`{name}` {kind}; pass a rectangular array of real numbers, got "
                             f"{_describe(x)}.") from err
        raise TypeError(f"`{name}` must be an array of real numbers, got "
                        f"{type(x).__name__} {_describe(x)}.") from err
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise TypeError(
            f"`{name}` must be real, got a complex array (dtype {arr.dtype}); dln works with "
            "real numbers only. Pass the real part explicitly (`x.real`) if that is what you "
            "mean."
        )
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)
            or arr.dtype == jnp.bool_):
        raise TypeError(f"`{name}` must be an array of real numbers, got dtype {arr.dtype}.")
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
    if finite and is_concrete(arr) and not np.all(np.isfinite(host := np.asarray(arr))):
        bad = int(host.size - np.count_nonzero(np.isfinite(host)))
        raise ValueError(
            f"`{name}` contains {bad} NaN or infinite value(s); pass finite numbers "
            "(check the data or the computation that produced it)."
        )
    return arr


def _array_problem(x):
    """Why a nested list is not an array (ragged), or None when that is not the problem."""
    if not isinstance(x, (list, tuple)):
        return None
    try:
        np.asarray(x, dtype=float)
    except ValueError as err:
        if "inhomogeneous" in str(err) or "sequence" in str(err):
            return "is a ragged nested list (rows of different lengths)"
    except TypeError:
        return None
    return None


def check_int(value, name: str, minimum: int | None = None, *, what: str = "") -> int:
    """A Python (or numpy) int, not a bool, `>= minimum` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int{what}, got {type(value).__name__} {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}{what}, got {value}.")
    return int(value)


def check_weight_decay(weight_decay):
    """The weight decay `γ >= 0`: a float, a traced scalar, or None where it is concretely 0
    (the code path without decay)."""
    gamma = check_real(weight_decay, "weight_decay", low=0.0, what=" (the L2 penalty γ)")
    return None if isinstance(gamma, float) and gamma == 0.0 else gamma


def check_real(value, name: str, *, low=None, strict: bool = False, high=None,
               finite: bool = True, what: str = ""):
    """A real scalar (Python/numpy number or 0-d array; no bools, strings or complex).

    Value checks (finite, `>= low` or `> low` with `strict`, `<= high`) run when concrete;
    returns a float when concrete, else the traced value.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a real number{what}, got the bool {value!r}.")
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"`{name}` must be real{what}, got the complex number {value!r}.")
    if not isinstance(value, (int, float, np.number, np.ndarray, jax.Array)):
        raise TypeError(f"`{name}` must be a real number{what}, got {type(value).__name__} "
                        f"{_describe(value)}.")
    if isinstance(value, (np.ndarray, jax.Array)):
        if value.ndim != 0:
            raise ValueError(f"`{name}` must be a scalar{what}, got an array of shape "
                             f"{tuple(value.shape)}.")
        if jnp.issubdtype(value.dtype, jnp.complexfloating):
            raise TypeError(f"`{name}` must be real{what}, got a complex value.")
        if value.dtype == np.bool_:
            raise TypeError(f"`{name}` must be a real number{what}, got a bool array.")
        if not is_concrete(value):
            return value
    v = float(value)
    if finite and not np.isfinite(v):
        raise ValueError(f"`{name}` must be finite{what}, got {v!r}.")
    if np.isnan(v):
        raise ValueError(f"`{name}` must be a number{what}, got NaN.")
    if low is not None and (v <= low if strict else v < low):
        raise ValueError(f"`{name}` must be {'>' if strict else '>='} {low}{what}, got {v!r}.")
    if high is not None and v > high:
        raise ValueError(f"`{name}` must be <= {high}{what}, got {v!r}.")
    return v


def check_key(key, name: str = "key"):
    """A JAX PRNG key: a new-style `jax.random.key(…)` or a legacy `PRNGKey` (uint32 (2,)).

    Tracers of the right dtype/shape pass (keys can be vmapped)."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"`{name}` must be a single PRNG key, got a batch of shape "
                             f"{key.shape}; split it and call once per key (or vmap).")
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 \
            and key.shape == (2,):
        return key  # legacy raw key from jax.random.PRNGKey
    raise TypeError(f"`{name}` must be a JAX PRNG key, e.g. jax.random.key(0), got "
                    f"{type(key).__name__} {_describe(key)}.")


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {type(value).__name__} {value!r}.")
    return bool(value)


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}, got "
                         f"{value!r}.")
    return value


def check_on_divergence(on_divergence) -> str:
    return check_choice(on_divergence, "on_divergence", ("raise", "warn"))


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


def check_singular_values(s, name: str):
    """A non-empty 1-D float array of singular values `>= 0`, all finite."""
    s = np.asarray(as_array(s, name, ndim=(0, 1)), dtype=float)
    if s.ndim != 1 or s.size == 0 or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError(f"`{name}` must be a non-empty 1-D array of singular values >= 0, got "
                         f"{s!r}.")
    return s


def check_devices(devices):
    """`(devices, explicit)`: the jax devices a batch is spread over, and whether they were named.

    `devices`: None for all local devices (`jax.local_devices()`), an int `n >= 1` for the first
    n of them, or a non-empty list of distinct jax devices (e.g. `jax.devices()`, every host's,
    after `jax.distributed.initialize`).
    """
    local = jax.local_devices()
    if devices is None:
        return local, False
    if isinstance(devices, (bool, np.bool_)) or not isinstance(
            devices, (int, np.integer, list, tuple)):
        raise TypeError(f"`devices` must be None (all {len(local)} local devices), an int (the "
                        f"first n local devices) or a list of jax devices, got "
                        f"{type(devices).__name__} {devices!r}.")
    if isinstance(devices, (int, np.integer)):
        if not 1 <= devices <= len(local):
            raise ValueError(f"`devices` must be an int between 1 and the number of local "
                             f"devices ({len(local)}: {local}), got {devices!r}; or pass None "
                             f"for all of them.")
        return local[:int(devices)], True
    devices = list(devices)
    if not devices:
        raise ValueError(f"`devices` must be a non-empty list of jax devices, got "
                         f"{devices!r}; pass None for all {len(local)} local devices.")
    for d in devices:
        if not isinstance(d, jax.Device):
            raise TypeError(f"`devices` must be a list of jax devices (e.g. jax.devices()), got "
                            f"an element of type {type(d).__name__}: {d!r}.")
    if len(set(devices)) != len(devices):
        raise ValueError(f"`devices` must list distinct devices, got {devices}.")
    return devices, True
