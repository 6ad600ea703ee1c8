"""The one adaptive ODE integrator behind every numerically integrated flow: diffrax's Dopri8.

`integrate(f, y0, ts, scale, max_steps)` wraps `diffrax.diffeqsolve` with the explicit
Runge–Kutta pair of order 8(7) of Prince & Dormand (`diffrax.Dopri8`), PID step-size control
(`diffrax.PIDController`) and steps that land exactly on the requested record times
(`diffrax.ClipStepSizeController(step_ts=ts)`, so the records are step ends, not
interpolations). What it adds to diffrax:

- **Caller-defined error allowance.** A step is accepted when the RMS of its error estimate over
  `scale(y_start, y_end)` is at most 1: `dln.numerical_flow` measures each layer against its own
  RMS size, `dln.pathways.exact` against `max(|x|, 1)`. A step that leaves the floats is rejected
  and shrunk; the step size collapsing below `1e-14 · max(|t|, 1)` fails the run.
- **A step kept across a record.** A step cut short to land on a record time does not shrink
  the next one (as in Hairer's codes).
- **Both modes of differentiation.** Undifferentiated, the solve runs in plain
  `lax.while_loop`s (diffrax's `ForwardMode` loops, the cheapest to run), which JAX cannot
  transpose; differentiated, a `jax.custom_jvp` rule runs it with `diffrax.DirectAdjoint`,
  whose loops (bounded by `max_steps`) JAX can both push tangents through (`jax.jvp`,
  `jax.jacfwd`) and transpose (`jax.grad`). Derivatives are those of the discrete solution
  ("discretise, then differentiate") with the step-size decisions held fixed, with respect to
  `y0`, the record times and whatever `f` closes over. The failure flag comes back instead of
  an exception (`throw=False`), so callers decide what to raise.

Users: `dln.numerical_flow` (weight flows; per-layer tolerances), `dln.biases` (through it),
`dln.pathways.exact` (the reduced competition flow) and `dln.completion.theory` (the end-to-end
flow of balanced networks).
"""

from __future__ import annotations

import functools

import diffrax
import jax
import jax.extend
import jax.numpy as jnp

__all__ = ["integrate", "rms_scale"]

_MIN_STEP = 1e-14  # relative to max(|t|, 1): below it the step size has collapsed


class _ScaledPID(diffrax.PIDController):
    """PID control of `error / scale(y0, y1)` (the caller's allowance), with the step that was
    cut short to land on a record restored afterwards (kept in the controller state)."""

    scale: object = None

    def init(self, terms, t0, t1, y0, dt0, args, func, error_order):
        t1, state = super().init(terms, t0, t1, y0, dt0, args, func, error_order)
        return t1, (state, t1 - t0)

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order,
                        controller_state):
        state, proposed = controller_state
        finite = jnp.all(jnp.isfinite(y1_candidate))
        y1 = jnp.where(finite, y1_candidate, y0)
        ratio = jax.lax.stop_gradient(y_error / self.scale(y0, y1))
        ratio = jnp.where(finite & jnp.all(jnp.isfinite(ratio)), ratio, jnp.inf)
        zero = jnp.zeros_like(y0)  # with rtol 0 and atol 1 the PID sees the ratio itself
        keep, next_t0, next_t1, jump, state, result = super().adapt_step_size(
            t0, t1, zero, zero, args, ratio, error_order, state)
        dt = next_t1 - next_t0
        clipped = (t1 - t0) < proposed
        dt = jax.lax.stop_gradient(jnp.where(keep & clipped, jnp.maximum(dt, proposed), dt))
        collapsed = dt <= _MIN_STEP * jnp.maximum(jnp.abs(next_t0), 1.0)
        result = diffrax.RESULTS.where(collapsed, diffrax.RESULTS.dt_min_reached, result)
        return keep, next_t0, next_t0 + dt, jump, (state, dt), result


def rms_scale(rtol, atol=0.0):
    """The allowance `atol + rtol · RMS(y)` of the whole state (the larger RMS of the step's
    start and end), floored at the smallest normal float."""
    def scale(y0, y1):
        size = jnp.maximum(jnp.sqrt(jnp.mean(y0**2)), jnp.sqrt(jnp.mean(y1**2)))
        return jnp.maximum(atol + rtol * size, jnp.finfo(y0.dtype).tiny)
    return scale


def _initial_step(f, y0, scale):
    """Hairer's starting step for a method of order 8 (as in scipy's `select_initial_step`)."""
    def rms(x):
        return jnp.sqrt(jnp.mean(x**2))

    fy0 = f(y0)
    sc = scale(y0, y0)
    d0, d1 = rms(y0 / sc), rms(fy0 / sc)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.where(d1 > 0, d1, 1.0))
    d2 = rms((f(y0 + h0 * fy0) - fy0) / sc) / h0
    big = jnp.maximum(d1, d2)
    h1 = jnp.where(big <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.where(big > 0, big, 1.0)) ** (1.0 / 8))
    h = jnp.minimum(100 * h0, h1)
    return jax.lax.stop_gradient(jnp.where(jnp.isfinite(h) & (h > 0), h, 1e-6))


def integrate(f, y0, ts, scale, max_steps):
    """Integrate the autonomous `dy/dt = f(y)` for a flat `y0` `(N,)` from `t = 0` to the sorted
    times `ts >= 0` (repeats allowed).

    `scale(y_start, y_end)` gives the per-component error allowance `(N,)` of a step (e.g.
    `rms_scale(rtol, atol)`). Returns `(records (T, N), n_accepted, n_rejected, failed)`,
    `failed` True when the step size collapsed, the state left the floats or `max_steps` steps
    (accepted and rejected) beyond those the records force were used before the last record
    (the records are then not to be trusted). Steps are clipped to land on every record time, so
    `T` records cost up to `T` extra steps; they are added to the allowance, so that a dense
    grid of records never exhausts it. `f` and `scale` may close over traced values (weights of
    a task, tolerances). Traceable (jit, vmap, grad, jacfwd); compile it inside the caller's `jit`.
    """
    ts = jnp.asarray(ts, y0.dtype)
    f_closed, f_consts = _hoist(f, y0)
    scale_closed, scale_consts = _hoist(scale, y0, y0)
    return _integrate(f_closed, scale_closed, int(max_steps) + ts.shape[0], y0, ts, f_consts,
                      scale_consts)


def _hoist(fun, *example):
    """`(converted, consts)`: `converted(*args, *consts) == fun(*args)`, with every array `fun`
    closes over (traced or not) made an argument, as `jax.custom_jvp` needs (unlike
    `jax.closure_convert`, which leaves integer and boolean tracers in the closure)."""
    closed, shape = jax.make_jaxpr(fun, return_shape=True)(*example)
    jaxpr, consts = closed.jaxpr, tuple(closed.consts)
    out_tree = jax.tree_util.tree_structure(shape)

    def converted(*args):
        n = len(args) - len(consts)
        flat = jax.tree_util.tree_leaves(args[:n])
        out = jax.extend.core.jaxpr_as_fun(jax.extend.core.ClosedJaxpr(jaxpr, args[n:]))(*flat)
        return jax.tree_util.tree_unflatten(out_tree, out)

    return converted, consts


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _integrate(f, scale, max_steps, y0, ts, f_consts, scale_consts):
    # Undifferentiated: plain `lax.while_loop`s (diffrax's `ForwardMode` loops), the cheapest.
    return _solve(f, scale, max_steps, y0, ts, f_consts, scale_consts, diffrax.ForwardMode())


@_integrate.defjvp
def _integrate_jvp(f, scale, max_steps, primals, tangents):
    # Differentiated (forward mode, or reverse mode by transposing this): the adjoint whose
    # loops JAX can both push tangents through and transpose.
    def solve(*args):
        return _solve(f, scale, max_steps, *args, diffrax.DirectAdjoint())

    return jax.jvp(solve, primals, tangents)


def _solve(f, scale, max_steps, y0, ts, f_consts, scale_consts, adjoint):
    def field(y):
        return f(y, *f_consts)

    def allowance(y0, y1):
        return scale(y0, y1, *scale_consts)

    t0, t1 = jnp.zeros((), y0.dtype), ts[-1]
    controller = diffrax.ClipStepSizeController(
        _ScaledPID(rtol=0.0, atol=1.0, scale=allowance), step_ts=jax.lax.stop_gradient(ts))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: field(y)), diffrax.Dopri8(), t0, t1,
        _initial_step(field, y0, allowance), y0, saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller, max_steps=max_steps, throw=False, adjoint=adjoint)
    failed = sol.result != diffrax.RESULTS.successful
    return (sol.ys, sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"], failed)
