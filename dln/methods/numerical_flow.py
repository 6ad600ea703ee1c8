"""The exact gradient flow integrated numerically, for networks without a closed form.

`integrate(task, weights, t)` follows the full weight flow

    dW_l/dt = −∂L/∂W_l = (W_D ⋯ W_{l+1})ᵀ (Σyx − W Σxx) (W_{l−1} ⋯ W_1)ᵀ,   W = W_D ⋯ W_1,

of the mean loss `L = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²` (flow time `t = lr × steps`) from any weights,
any depth, any `Σxx`: unbalanced two-layer weights, deep networks from non-aligned weights,
correlated inputs; and with `biases=[b1, …, bD]` the flow of the affine network
`ŷ = W_D(⋯(W_1 x + b_1)⋯) + b_D` (weights and biases together,
`dln.network.affine_loss_gradients`). Nothing about the result is exact: it is labelled
`"numerical-flow"` and carries an error estimate.

The integrator is diffrax's adaptive Dopri8 (`dln._ode`: the Runge–Kutta pair of order 8(7) of
Prince and Dormand, PID step control), compiled once per shape and number of records. Each step
keeps the local error below `rtol` relative to the size of each layer (`atol` added), and steps
land exactly on the requested times (no interpolation). `jax.grad` and `jax.jacfwd` work through
it (derivatives of the discrete solution, with respect to the weights, the task and the times).

**Error estimate.** Local error control does not bound the global error, so `integrate` runs the
flow a second time at a 100× looser tolerance and reports, per record, the Frobenius norm of the
difference of the two maps. The looser run's error is the larger one, so this is an upper
estimate of the error of the returned (tight) run, typically by one to two orders of magnitude.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from dln import _ode
from dln._checks import as_array, check_times, is_concrete
from dln.network import (
    affine_loss,
    affine_loss_gradients,
    affine_map,
    check_biases,
    check_weights,
    loss_gradients,
)
from dln.tasks.task import Task
from dln.trajectory import Trajectory

__all__ = ["FlowSolution", "integrate", "integrate_statistics", "flow_trajectory", "flow",
           "METHOD"]

METHOD = "numerical-flow"
# The error estimate compares with a run at this many times the tolerance.
LOOSE_FACTOR = 100.0


# The result is a `dln.Trajectory` (method `"numerical-flow"`, with `error_estimate`,
# `n_steps`, `n_rejected`, the weight and bias records); `FlowSolution` stays as a documented
# alias of the type it used to be.
FlowSolution = Trajectory


# -------------------------------------------------------------------------------- the flow
def flow(weights, sigma_xx, sigma_yx):
    """`[dW_l/dt]`: the gradient flow `−∂L/∂W_l` of every layer (`dln.network.loss_gradients`)."""
    return [-g for g in loss_gradients(weights, sigma_xx, sigma_yx)]


def _affine_flow(params, has_bias, stats, weight_decay):
    """The flow `−∂L/∂θ − γθ` of the flat parameter list `[W1, …, WD, b_l (layers with a
    bias)]` (`γ` the weight decay)."""
    D = len(has_bias)
    ws, it = params[:D], iter(params[D:])
    bs = [next(it) if h else None for h in has_bias]
    gw, gb = affine_loss_gradients(ws, bs, *stats)  # all None: exactly `loss_gradients`
    grads = list(gw) + [g for g in gb if g is not None]
    return [-g - weight_decay * p for g, p in zip(grads, params)]


@functools.partial(jax.jit, static_argnames=("max_steps", "shapes", "has_bias"))
def _integrate(y0, ts, stats, rtol, atol, max_steps, weight_decay, *, shapes, has_bias):
    """Integrate the flat parameters `y0` (weights, then the biases of the layers marked in
    `has_bias`) under the statistics `stats = (Σxx, Σyx, x̄, ȳ)` to the sorted times `ts`;
    records `(T, N)`. Each weight matrix and each bias is its own group for the tolerance."""
    sizes = [math.prod(s) for s in shapes]
    bounds = np.cumsum([0] + sizes)
    layer_of = jnp.asarray(np.repeat(np.arange(len(shapes)), sizes))

    def unravel(y):
        return [y[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes)]

    def f(y):
        return jnp.concatenate([g.ravel() for g in _affine_flow(unravel(y), has_bias, stats,
                                                                  weight_decay)])

    def scale(*ys):  # atol + rtol × (RMS size of each component's layer, start or end of a step)
        rms = [jnp.sqrt(jax.ops.segment_sum(y**2, layer_of, len(shapes)) / np.array(sizes))
               for y in ys]
        size = functools.reduce(jnp.maximum, rms)
        return jnp.maximum(atol + rtol * size[layer_of], jnp.finfo(y0.dtype).tiny)

    recs, n_acc, n_rej, failed = _ode.integrate(f, y0, ts, scale, max_steps)
    return [r.reshape((ts.shape[0],) + s) for r, s in
            zip(jnp.split(recs, bounds[1:-1], axis=1), shapes)], n_acc, n_rej, failed


def _is_tolerance(v) -> bool:
    """A finite number >= 0: a Python float or int, or a (possibly traced) 0-d array; a
    concrete value is checked, a traced one (a tolerance computed from traced data) passes."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v >= 0 and math.isfinite(v)
    if isinstance(v, (jax.Array, np.ndarray, np.generic)) and jnp.ndim(v) == 0 and \
            jnp.issubdtype(jnp.result_type(v), jnp.floating):
        return not is_concrete(v) or bool(jnp.isfinite(v) & (v >= 0))
    return False


def integrate_statistics(weights, biases, t, stats, *, rtol: float = 1e-11, atol=None,
                         estimate_error: bool = True, max_steps: int = 2_000_000,
                         weight_decay=0.0):
    """The engine of `integrate`, on raw statistics `stats = (Σxx, Σyx, x̄, ȳ)` (the means may be
    None without biases): checked weights and biases (None entries) in, records out.

    Returns `(weights, biases, map, offset, error, n_steps, n_rejected)`: records `(T, …)` in
    the order of `t` (`biases`/`offset` None without biases); `error` `(T,)` is the Frobenius
    distance of `[map, offset]` to a run at `LOOSE_FACTOR × rtol` (NaN if not estimated).
    Used by `integrate` and by the reduced (one-unit) flows of `dln.biases`. `atol` None: 0
    without biases; with biases (which usually start at 0, where a purely relative tolerance
    has no scale) `rtol` × the larger of the RMS mean target and the RMS initial weight.
    """
    for name, v in (("rtol", rtol), ("atol", 0.0 if atol is None else atol)):
        if not _is_tolerance(v):
            raise ValueError(f"`{name}` must be a finite float >= 0, got {v!r}.")
    if not rtol > 0:
        raise ValueError(f"`rtol` must be > 0, got {rtol!r}.")
    if atol is None:
        atol = 0.0
        if biases is not None and any(b is not None for b in biases):
            # a tolerance, not a result: no derivative through it (and traceable: no float())
            sizes = [jnp.sqrt(jnp.mean(jnp.asarray(a) ** 2)) for a in (stats[3], *weights)]
            atol = rtol * jnp.maximum(jax.lax.stop_gradient(functools.reduce(jnp.maximum, sizes)),
                                      1e-300)
    D = len(weights)
    has_bias = tuple(b is not None for b in biases) if biases is not None else (False,) * D
    params = list(weights) + [b for b in (biases or ()) if b is not None]
    dtype = weights[0].dtype
    order = jnp.argsort(t)
    ts = t[order]
    inverse = jnp.argsort(order)
    shapes = tuple(tuple(p.shape) for p in params)
    y0 = jnp.concatenate([p.ravel() for p in params])
    stats = tuple(None if a is None else jnp.asarray(a).astype(dtype) for a in stats)
    if not any(has_bias):
        stats = stats[:2] + (None, None)

    def run(tol):
        recs, n_acc, n_rej, failed = _integrate(y0, ts, stats, tol, atol, max_steps,
                                                jnp.asarray(weight_decay, dtype),
                                                shapes=shapes, has_bias=has_bias)
        if is_concrete(failed) and bool(failed):
            raise FloatingPointError(
                f"the numerical flow failed at rtol = {tol:.1e} after {int(n_acc)} steps "
                f"({int(n_rej)} rejected): the step size collapsed, the weights stopped being "
                "finite, or `max_steps` was reached. Try a larger `max_steps`, a looser `rtol`, "
                "or shorter times.")
        recs = [r[inverse] for r in recs]
        it = iter(recs[D:])
        bs = [next(it) if h else None for h in has_bias] if any(has_bias) else None
        W, c = affine_map(recs[:D], bs if bs is not None else [None] * D)
        return recs[:D], bs, W, c, n_acc, n_rej

    ws, bs, W, c, n_acc, n_rej = run(rtol)
    if estimate_error:
        _, _, W2, c2, _, _ = run(rtol * LOOSE_FACTOR)
        sq = jnp.sum((W - W2) ** 2, axis=(-2, -1))
        if c is not None:
            sq = sq + jnp.sum((c - c2) ** 2, axis=-1)
        error = jnp.sqrt(sq)
    else:
        error = jnp.full(t.shape, jnp.nan, W.dtype)
    return ws, bs, W, c, error, n_acc, n_rej


def integrate(task: Task, weights, t, *, biases=None, rtol: float = 1e-11, atol=None,
              estimate_error: bool = True, max_steps: int = 2_000_000,
              weight_decay=0.0) -> Trajectory:
    """Integrate the gradient flow `dW_l/dt = −∂L/∂W_l − γW_l` from `weights` to the times `t`.

    Args:
      task: the `dln.Task` (any `sigma_xx`).
      weights: `[W1, …, WD]`, `W_l` of shape `(out, in)`, any depth and widths (no batch axis).
      t: flow times `(T,)` or a scalar, `>= 0`, any order (`t = lr × steps`).
      biases: optional `[b1, …, bD]`, each None or an `(out,)` vector: the biases flow with the
        weights (`db_l/dt = −∂L/∂b_l`); needs a task with its means (`Task.from_data`).
      rtol: relative tolerance of each step, per layer (default 1e-11).
      atol: absolute tolerance added to `rtol × (size of the layer)`; default 0 without biases,
        `rtol` × (RMS of ȳ or of the initial weights, the larger) with biases.
      estimate_error: run again at `LOOSE_FACTOR × rtol` for `error_estimate` (else NaN).
      max_steps: the most steps (accepted and rejected) a run may take.
      weight_decay: `γ >= 0`, the L2 penalty `½γ Σ ||θ||²` on every weight and bias.

    Returns:
      A `dln.Trajectory` with method `"numerical-flow"`: the map, modes and loss at every
      record, `recorded_weights` (`weights()`), `final_weights` (at `t[-1]`), `error_estimate`
      (the distance of `map` and `offset`, in Frobenius norm together, to a run at
      `LOOSE_FACTOR × rtol`: an upper estimate; NaN if not estimated), `n_steps` and
      `n_rejected`; with biases also `offset`, `recorded_biases` and `final_biases`.

    Raises `FloatingPointError` (concrete inputs) if a run fails: the step size collapses, the
    weights leave the floats, or `max_steps` is reached first.
    """
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    ws = check_weights(task, weights, allow_batch=False)
    bs = None if biases is None else check_biases(task, ws, biases)
    t = check_times(t).astype(ws[0].dtype)
    stats = (task.sigma_xx, task.sigma_yx, task.x_mean, task.y_mean)
    gamma = as_array(weight_decay, "weight_decay", ndim=0)
    if is_concrete(gamma) and float(gamma) < 0:
        raise ValueError(f"`weight_decay` must be >= 0, got {float(gamma)!r}.")
    recs, brecs, W, c, error, n_acc, n_rej = integrate_statistics(
        ws, bs, t, stats, rtol=rtol, atol=atol, estimate_error=estimate_error,
        max_steps=max_steps, weight_decay=gamma)
    final_biases = None if brecs is None else [None if b is None else b[-1] for b in brecs]
    return Trajectory(t=t, modes=task.mode_strengths(W), loss=affine_loss(task, W, c),
                      task=task, method=METHOD, depth=len(recs), stored_map=W,
                      final_weights=[w[-1] for w in recs], recorded_weights=list(recs),
                      offset=c, final_biases=final_biases, error_estimate=error, n_steps=n_acc,
                      n_rejected=n_rej, recorded_biases=brecs)


def flow_trajectory(task: Task, weights, t, *, biases=None, rtol: float = 1e-11,
                    atol=None, max_steps: int = 2_000_000, weight_decay=0.0) -> Trajectory:
    """`integrate(...)`: the numerically integrated flow as a `dln.Trajectory` (method
    `"numerical-flow"`, with `error_estimate`)."""
    return integrate(task, weights, t, biases=biases, rtol=rtol, atol=atol,
                     max_steps=max_steps, weight_decay=weight_decay)
