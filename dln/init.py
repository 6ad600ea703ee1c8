"""Initial weights: `[W1, …, WD]`, `W_l` of shape `(out, in)`, so the map is `W_D ⋯ W_1`.

- `aligned`: small, balanced and aligned with the task: exactly the initial condition that
  `dln.solve` assumes (Saxe et al. 2014; docs/theory/modes.md).
- `gaussian`, `orthogonal`: random weights with a scale, for simulations.
- `balanced`: random λ-balanced weights (docs/theory/two_layer.md).

Every initialiser has the same calling convention,

    init.NAME(key, task_or_dims, *, depth=None, width=None, <its own options>)

where `task_or_dims` is either the layer sizes `dims = [Ni, h1, …, No]` (`len(dims) − 1` weight
matrices) or a `dln.Task`; with a task, `depth` is required and `width` (an int, or a list of
`depth − 1` ints; default `K = min(Ni, No)`) gives `dims = [task.n_in, width…, task.n_out]`.
So `init.gaussian(key, task, depth=3, width=16, scale=0.1)` and
`init.gaussian(key, [task.n_in, 16, 16, task.n_out], 0.1)` are the same weights. `aligned` needs
a task (it aligns with its modes) and takes `key=None` for identity hidden bases; its older form
`aligned(task, depth, width=None, u0=1e-3, key=None)` is still accepted.

PRNG keys are passed explicitly (`jax.random.key(0)`), as everywhere in JAX.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_depth, check_int, check_key, check_real, is_concrete
from dln.tasks.task import Task

__all__ = ["aligned", "aligned_from_strengths", "balanced", "gaussian", "orthogonal",
           "random_orthogonal"]


def _hidden_widths(depth: int, width) -> list[int]:
    if isinstance(width, (int, np.integer)) and not isinstance(width, bool):
        widths = [int(width)] * (depth - 1)
    elif isinstance(width, (list, tuple)):
        widths = list(width)
    else:
        raise TypeError(f"`width` must be an int or a list of depth − 1 = {depth - 1} ints, got "
                        f"{type(width).__name__} {width!r}.")
    if len(widths) != depth - 1:
        raise ValueError(
            f"`width` must be an int or a list of depth − 1 = {depth - 1} hidden widths, "
            f"got {width!r}."
        )
    if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in widths):
        raise ValueError(f"`width` must hold positive ints (hidden widths), got {widths!r}.")
    return [int(h) for h in widths]


def _check_task(task):
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")


def _check_dtype(dtype):
    if dtype is None:
        return jnp.result_type(float)
    try:
        dt = jnp.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"`dtype` must be a floating dtype such as jnp.float32, got "
                        f"{dtype!r}.") from err
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"`dtype` must be a floating dtype such as jnp.float32, got {dt}.")
    return dt


def random_orthogonal(key, n: int, dtype=None):
    """A Haar-random orthogonal `(n, n)` matrix."""
    check_key(key)
    n = check_int(n, "n", 1, what=" (the matrix size)")
    dtype = _check_dtype(dtype)
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n), dtype))
    return q * jnp.sign(jnp.diagonal(r))


def aligned_from_strengths(task: Task, depth: int, strengths, bases=None):
    """Balanced aligned weights whose map has the given mode strengths `(..., K)`.

    Layer `l` carries `a_α = sign(u_α)|u_α|^{1/D}` on mode α: `W_1 = R_1 A Vᵀ`,
    `W_l = R_l A R_{l−1}ᵀ`, `W_D = U A R_{D−1}ᵀ`, with `bases = [R_1, …, R_{D−1}]` orthogonal
    `(h_l, h_l)` matrices (default identities of size K). Modes beyond the narrowest hidden
    width cannot be carried and must have strength 0.
    """
    _check_task(task)
    depth = check_depth(depth)
    strengths = as_array(strengths, "strengths")
    K = task.n_modes
    if strengths.ndim == 0 or strengths.shape[-1] != K:
        raise ValueError(f"`strengths` must have shape (..., {K}) (one value per mode of the "
                         f"task), got {tuple(strengths.shape)}.")
    if bases is None:
        bases = [jnp.eye(K, dtype=task.U.dtype)] * (depth - 1)
    if not isinstance(bases, (list, tuple)):
        raise TypeError(f"`bases` must be a list of depth − 1 = {depth - 1} orthogonal matrices, "
                        f"got {type(bases).__name__}.")
    if len(bases) != depth - 1:
        raise ValueError(f"`bases` must hold depth − 1 = {depth - 1} matrices, got {len(bases)}.")
    bases = [as_array(R, f"bases[{i}]", ndim=2) for i, R in enumerate(bases)]
    for i, R in enumerate(bases):
        if R.shape[0] != R.shape[1]:
            raise ValueError(f"`bases[{i}]` must be a square orthogonal matrix, got shape "
                             f"{tuple(R.shape)}.")
    m = min([K] + [R.shape[0] for R in bases])
    if m < K and is_concrete(strengths) and bool(jnp.any(strengths[..., m:] != 0)):
        raise ValueError(
            f"hidden width {m} cannot carry the {K} modes of the task: the strengths of modes "
            f"{m}..{K - 1} must be 0 (or widen the network)."
        )
    a = jnp.sign(strengths[..., :m]) * jnp.abs(strengths[..., :m]) ** (1.0 / depth)
    ins = [task.V[:, :m]] + [R[:, :m] for R in bases]
    outs = [R[:, :m] for R in bases] + [task.U[:, :m]]
    return [jnp.einsum("om,...m,im->...oi", o, a, i) for o, i in zip(outs, ins)]


_UNSET = object()  # `key=` not passed (aligned's older form)
_U0 = 1e-3  # the default u0 (one object: `is` tells whether u0 was passed)
_OLD_ORDER = ("task", "depth", "width", "u0", "key")


def aligned(*args, depth=None, width=None, u0=_U0, key=_UNSET):
    """Small, balanced weights aligned with the task's modes: the init `dln.solve` assumes.

    Called as every initialiser, `aligned(key, task, *, depth, width=None, u0=1e-3)`; the older
    form `aligned(task, depth, width=None, u0=1e-3, key=None)` (task first, the rest positional
    or by keyword) is still accepted and gives the same weights.

    Every layer carries mode α with strength `u0_α^{1/D}`, so the map is `U diag(u0) Vᵀ` and
    `W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ` on the hidden layers (balanced; docs/theory/modes.md).

    Args:
      key: PRNG key for random orthogonal hidden bases; None uses identity bases.
      task: the `Task` (the weights align with its modes, so layer sizes alone do not do).
      depth: number of weight matrices `D` (required).
      width: hidden width (int, or a list of `D − 1` ints); default `K = min(No, Ni)`.
        Modes beyond the narrowest width get strength 0.
      u0: initial strength, a scalar or one value `(K,)` per mode (`>= 0` for `D >= 2`).
    """
    key, task, depth, width, u0 = _aligned_arguments(args, depth, width, u0, key)
    return _aligned(task, depth, width, u0, key)


def _is_key_like(x) -> bool:
    """A PRNG key (any shape: `check_key` then says what is wrong) or a legacy raw key."""
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return True
    return isinstance(x, (jax.Array, np.ndarray)) and x.dtype == np.uint32 and x.shape == (2,)


def _aligned_arguments(args, depth, width, u0, key):
    """`(key, task, depth, width, u0)` from either form of `aligned`'s arguments."""
    if not args:
        raise TypeError("aligned() needs a task: aligned(key, task, depth=…) (key None for "
                        "identity hidden bases).")
    first = args[0]
    if isinstance(first, Task) or not (first is None or _is_key_like(first)
                                       or (len(args) > 1 and isinstance(args[1], Task))):
        # the older form aligned(task, depth, width=None, u0=1e-3, key=None)
        if len(args) > len(_OLD_ORDER):
            raise TypeError(f"aligned(task, depth, width, u0, key) takes at most 5 arguments, "
                            f"got {len(args)}.")
        given = {"depth": depth, "width": width, "u0": u0, "key": key}
        defaults = {"depth": None, "width": None, "u0": _U0, "key": _UNSET}
        for name, value in zip(_OLD_ORDER[1:], args[1:]):
            if given[name] is not defaults[name]:
                raise TypeError(f"aligned() got two values for `{name}` (positional and by "
                                "keyword).")
            given[name] = value
        _check_task(first)
        key = None if given["key"] is _UNSET else given["key"]
        if given["depth"] is None:
            raise TypeError("aligned(task, depth, …) needs `depth` (the number of weight "
                            "matrices).")
        return key, first, given["depth"], given["width"], given["u0"]
    # aligned(key, task, *, depth, width, u0)
    if key is not _UNSET:
        raise TypeError("aligned() got two values for `key`: aligned(key, task, depth=…) takes "
                        "the key first; drop `key=`.")
    if len(args) != 2:
        raise TypeError(f"aligned(key, task, *, depth, width=None, u0=1e-3) takes 2 positional "
                        f"arguments, got {len(args)}; pass depth, width and u0 by keyword.")
    key, task = args
    if not isinstance(task, Task):
        if isinstance(task, (list, tuple, np.ndarray)):
            raise TypeError(f"aligned() aligns the weights with a task's modes: its second "
                            f"argument must be a dln.Task, got the layer sizes {list(task)!r}. "
                            f"Pass the task with `depth=` and `width=`, or use "
                            f"gaussian/orthogonal/balanced for random weights of given sizes.")
        _check_task(task)
    if depth is None:
        raise TypeError("aligned(key, task, …) needs `depth` (the number of weight matrices), "
                        "e.g. aligned(key, task, depth=3).")
    return key, task, depth, width, u0


def _aligned(task, depth, width, u0, key):
    """`aligned` on checked-in arguments (the one construction of both forms)."""
    _check_task(task)
    depth = check_depth(depth)
    if key is not None:
        check_key(key)
    K = task.n_modes
    widths = _hidden_widths(depth, K if width is None else width)
    u0 = as_array(u0, "u0", ndim=(0, 1))
    if u0.ndim == 0:
        u0 = jnp.broadcast_to(u0, (K,))
    if u0.shape != (K,):
        raise ValueError(f"`u0` must be a scalar or have shape ({K},) (one per mode), got "
                         f"{tuple(u0.shape)}.")
    if depth >= 2 and is_concrete(u0) and bool(jnp.any(u0 < 0)):
        raise ValueError("`u0` must be >= 0 for depth >= 2 (u = a^D with equal layers).")
    m = min([K] + widths)
    u0 = u0.at[m:].set(0.0)
    if key is None:
        bases = [jnp.eye(h, dtype=task.U.dtype) for h in widths]
    else:
        keys = jax.random.split(key, max(depth - 1, 1))
        bases = [random_orthogonal(k, h, task.U.dtype) for k, h in zip(keys, widths)]
    return aligned_from_strengths(task, depth, u0, bases)


def _dims(dims: Sequence[int]) -> list[int]:
    if not isinstance(dims, (list, tuple, np.ndarray)):
        raise TypeError(f"`task_or_dims` must be a dln.Task or the layer sizes `dims` = "
                        f"[Ni, N1, …, No], got {type(dims).__name__} {dims!r}.")
    dims = list(dims)
    if len(dims) < 2 or any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer))
                            or d < 1 for d in dims):
        raise ValueError(
            f"`dims` must list the layer sizes [Ni, N1, …, No] (at least 2 positive ints), "
            f"got {dims!r}."
        )
    return [int(d) for d in dims]


def _layer_sizes(name: str, task_or_dims, depth, width) -> list[int]:
    """The layer sizes `[Ni, h1, …, No]` from a list of sizes or from a `Task` with `depth` and
    `width` (default `K = min(Ni, No)`): the one calling convention of every initialiser."""
    if isinstance(task_or_dims, Task):
        task = task_or_dims
        if depth is None:
            raise TypeError(f"{name}(key, task, …) needs `depth` (the number of weight matrices), "
                            f"e.g. {name}(key, task, depth=3); or pass the layer sizes "
                            f"[Ni, h1, …, No] instead of the task.")
        depth = check_depth(depth)
        widths = _hidden_widths(depth, task.n_modes if width is None else width)
        return [task.n_in, *widths, task.n_out]
    dims = _dims(task_or_dims)
    if width is not None:
        raise TypeError(f"`width` goes with a dln.Task ({name}(key, task, depth=…, width=…)); "
                        f"the layer sizes dims = {dims} already give the hidden widths. Leave "
                        f"`width` out, or pass the task.")
    if depth is not None and check_depth(depth) != len(dims) - 1:
        raise ValueError(f"`depth` = {depth} disagrees with the layer sizes dims = {dims}, which "
                         f"give {len(dims) - 1} weight matrices; leave `depth` out with dims.")
    return dims


def _scale(scale, name="scale"):
    """A finite scale >= 0 (0 gives zero weights); traced values pass unchecked."""
    return check_real(scale, name, low=0.0, what=" (a standard deviation)")


def gaussian(key, task_or_dims, scale=None, dtype=None, *, depth=None, width=None):
    """Independent Gaussian weights with entries of standard deviation `scale`.

    Args:
      key: a PRNG key.
      task_or_dims: the layer sizes `dims = [Ni, N1, …, No]` (`len(dims) − 1` matrices, `W_l` of
        shape `(dims[l], dims[l−1])`), or a `dln.Task` with `depth` and `width`.
      scale: the standard deviation of the entries (`>= 0`; small for the rich regime). Default
        None: `1/√fan_in` per layer, `1/√dims[l−1]` for `W_l` (LeCun), which keeps the size of
        a signal through the layers.
      dtype: floating dtype (default: JAX's default float).
      depth, width: with a task, the number of weight matrices (required) and the hidden widths
        (an int or `depth − 1` ints; default `min(Ni, No)`).
    """
    check_key(key)
    dims = _layer_sizes("gaussian", task_or_dims, depth, width)
    if scale is None:
        scales = [1.0 / math.sqrt(i) for i in dims[:-1]]
    else:
        _scale(scale)
        scales = [scale] * (len(dims) - 1)
    dtype = _check_dtype(dtype)
    keys = jax.random.split(key, len(dims) - 1)
    return [c * jax.random.normal(k, (o, i), dtype)
            for c, k, i, o in zip(scales, keys, dims, dims[1:])]


def orthogonal(key, task_or_dims, scale: float = 1.0, dtype=None, *, depth=None, width=None):
    """Scaled (semi-)orthogonal weights: each `W_l / scale` has orthonormal rows or columns.

    `task_or_dims`: the layer sizes `dims = [Ni, N1, …, No]`, or a `dln.Task` with `depth` and
    `width` (default hidden width `min(Ni, No)`). With equal sizes the map is `scale^D` times an
    orthogonal matrix (Saxe et al. 2014: depth-independent learning from orthogonal init).
    """
    check_key(key)
    dims = _layer_sizes("orthogonal", task_or_dims, depth, width)
    _scale(scale)
    dtype = _check_dtype(dtype)
    keys = jax.random.split(key, len(dims) - 1)
    out = []
    for k, i, o in zip(keys, dims, dims[1:]):
        Q = random_orthogonal(k, max(i, o), dtype)
        out.append(scale * Q[:o, :i])
    return out


def balanced(key, task_or_dims, scale=None, lam: float = 0.0, dtype=None, *, depth=None,
             width=None):
    """Random λ-balanced weights of any depth: `W_{l+1}ᵀ W_{l+1} − W_l W_lᵀ = λ I` at every
    hidden layer (the sign of Dominé et al. 2025: λ > 0 makes later layers larger).

    Gradient flow conserves these imbalances, so λ labels the whole trajectory: λ = 0 is the
    balanced (rich) case, `|λ|` large the lazy one. Two-layer λ-balanced weights have the exact
    solution `dln.riccati`.

    Built by SVDs: `W_l = R_l S_l R_{l−1}ᵀ` with Haar-random orthogonal `R_0 (Ni, Ni)`, …,
    `R_D (No, No)` and rectangular-diagonal `S_l` whose squared singular values step by λ from
    one layer to the next, `σ_{l+1,j}² = σ_{l,j}² + λ` (zero where a layer is too narrow to
    carry index j). The free values are the singular values of a Gaussian matrix with entries of
    standard deviation `scale`, of the first layer's shape for λ ≥ 0 (kept for the first
    `min(dims)` indices when λ = 0) and of the last layer's for λ < 0.

    Args:
      key: a PRNG key.
      task_or_dims: layer sizes `dims = [Ni, N1, …, No]` (`len(dims) − 1` matrices, `W_l`
        `(dims[l], dims[l−1])`), or a `dln.Task` with `depth` and `width`.
      scale: standard deviation of the Gaussian whose singular values seed the construction.
        Default None: `1/√fan_in` of that Gaussian matrix (`1/√dims[0]` for λ ≥ 0,
        `1/√dims[-2]` for λ < 0).
      lam: the imbalance λ (a Python float, any sign: its sign fixes the construction).
      dtype: floating dtype (default: JAX's default float).
      depth, width: with a task, the number of weight matrices (required) and the hidden widths
        (an int or `depth − 1` ints; default `min(Ni, No)`, which every λ allows).

    A hidden layer of a λ-balanced network has full rank on the side that λ enlarges, so λ > 0
    needs `dims[1] ≤ dims[2] ≤ … ≤ dims[-1]` and λ < 0 needs `dims[0] ≥ dims[1] ≥ … ≥ dims[-2]`
    (two layers: `Nh ≤ No`, resp. `Nh ≤ Ni`; docs/theory/two_layer.md: the hidden layer cannot be
    the widest). Other widths raise a `ValueError`.
    """
    check_key(key)
    dims = _layer_sizes("balanced", task_or_dims, depth, width)
    depth = len(dims) - 1
    if scale is not None:
        _scale(scale)
    lam = check_real(lam, "lam", what=" (the imbalance λ, a Python float)")
    if not isinstance(lam, float):
        raise TypeError("`lam` must be a concrete Python float (its sign picks the construction), "
                        "got a traced value; close over it instead of passing it through jit.")
    dtype = _check_dtype(dtype)
    hidden = dims[1:-1]
    if lam > 0 and any(a > b for a, b in zip(dims[1:], dims[2:])):
        raise ValueError(
            f"λ-balanced weights with `lam` = {lam} > 0 need widths that never shrink after the "
            f"input, dims[1] ≤ dims[2] ≤ … ≤ dims[-1]: W_{{l+1}}ᵀW_{{l+1}} = W_lW_lᵀ + λI has "
            f"full rank N_l, so layer l + 1 needs at least N_l units. Got dims={dims} (hidden "
            f"{hidden}). Widen the later layers, or use lam <= 0.")
    if lam < 0 and any(a < b for a, b in zip(dims[:-1], dims[1:-1])):
        raise ValueError(
            f"λ-balanced weights with `lam` = {lam} < 0 need widths that never grow before the "
            f"output, dims[0] ≥ dims[1] ≥ … ≥ dims[-2]: W_lW_lᵀ = W_{{l+1}}ᵀW_{{l+1}} − λI has "
            f"full rank N_l, so layer l − 1 needs at least N_l units. Got dims={dims} (hidden "
            f"{hidden}). Widen the earlier layers, or use lam >= 0.")
    # All random numbers in one draw; the algebra in numpy when the key is concrete (no
    # compilation per shape), in jax.numpy under jit/vmap (the same code).
    base_shape = (dims[1], dims[0]) if lam >= 0 else (dims[-1], dims[-2])
    if scale is None:
        scale = 1.0 / math.sqrt(base_shape[1])
    sizes = [base_shape[0] * base_shape[1]] + [d * d for d in dims]
    # (drawn in a power-of-two length: few distinct shapes, few compilations)
    draw = jax.random.normal(key, (1 << (sum(sizes) - 1).bit_length(),), dtype)
    xp = np if is_concrete(draw, scale) else jnp
    draw = xp.asarray(draw)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(draw[start:start + size])
        start += size
    free = xp.linalg.svd(scale * pieces[0].reshape(base_shape), compute_uv=False)
    if lam == 0:
        free = free[: min(dims)]
    # Squared singular values per layer: index j of layer l lives on min(dims[l], dims[l−1]).
    widths = [min(dims[l], dims[l + 1]) for l in range(depth)]

    def padded(values, n):  # values (length ≤ n) followed by zeros
        return xp.concatenate([values, xp.zeros(n - values.shape[0], values.dtype)])

    sq = [None] * depth
    first = 0 if lam >= 0 else depth - 1
    sq[first] = padded(free**2, widths[first])
    for l in (range(1, depth) if lam >= 0 else range(depth - 2, -1, -1)):
        # the hidden layer shared with the neighbour already built, and its values padded to it
        prev, shared = (sq[l - 1], dims[l]) if lam >= 0 else (sq[l + 1], dims[l + 1])
        sq[l] = (padded(prev, shared) + abs(lam))[: widths[l]]  # (the checks make the rest 0)
    bases = []
    for d, g in zip(dims, pieces[1:]):  # Haar-random orthogonal matrices
        q, r = xp.linalg.qr(g.reshape(d, d))
        bases.append(q * xp.sign(xp.diagonal(r)))
    out = []
    for l in range(depth):
        S = xp.zeros((dims[l + 1], dims[l]), dtype)
        S = S + padded(xp.sqrt(sq[l]), dims[l + 1])[:, None] * xp.eye(dims[l + 1], dims[l],
                                                                       dtype=dtype)
        out.append(bases[l + 1] @ S @ bases[l].T)
    return [jnp.asarray(w) for w in out] if xp is np else out
