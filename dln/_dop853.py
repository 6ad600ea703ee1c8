"""Adaptive DOP853 in JAX: the one explicit integrator behind every labelled numerical flow.

The explicit Runge–Kutta pair of Dormand and Prince of order 8 with embedded error estimators of
orders 5 and 3 (Hairer, Nørsett & Wanner, *Solving Ordinary Differential Equations I*, §II.10;
the coefficients are those of Hairer's code), with adaptive steps that land exactly on the
requested record times (no interpolation). One `lax.while_loop`; the twelve stages run in a
`fori_loop`, so the vector field is compiled once, not twelve times.

Users: `dln.numerical_flow` (weight flows; per-layer tolerances), `dln.biases` (through it) and
`dln.pathways.exact` (the reduced competition flow).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["integrate"]

# DOP853 (Hairer's coefficients): nodes, stage matrix, weights, error estimators.
_A = (
    (),
    (0.05260015195876773,),
    (0.0197250569845379, 0.0591751709536137),
    (0.02958758547680685, 0.0, 0.08876275643042054),
    (0.2413651341592667, 0.0, -0.8845494793282861, 0.924834003261792),
    (0.037037037037037035, 0.0, 0.0, 0.17082860872947386, 0.12546768756682242),
    (0.037109375, 0.0, 0.0, 0.17025221101954405, 0.06021653898045596, -0.017578125),
    (0.03709200011850479, 0.0, 0.0, 0.17038392571223998, 0.10726203044637328,
     -0.015319437748624402, 0.008273789163814023),
    (0.6241109587160757, 0.0, 0.0, -3.3608926294469414, -0.868219346841726,
     27.59209969944671, 20.154067550477894, -43.48988418106996),
    (0.47766253643826434, 0.0, 0.0, -2.4881146199716677, -0.590290826836843,
     21.230051448181193, 15.279233632882423, -33.28821096898486, -0.020331201708508627),
    (-0.9371424300859873, 0.0, 0.0, 5.186372428844064, 1.0914373489967295,
     -8.149787010746927, -18.52006565999696, 22.739487099350505, 2.4936055526796523,
     -3.0467644718982196),
    (2.273310147516538, 0.0, 0.0, -10.53449546673725, -2.0008720582248625,
     -17.9589318631188, 27.94888452941996, -2.8589982771350235, -8.87285693353063,
     12.360567175794303, 0.6433927460157636),
)
_B = (0.054293734116568765, 0.0, 0.0, 0.0, 0.0, 4.450312892752409, 1.8915178993145003,
      -5.801203960010585, 0.3111643669578199, -0.1521609496625161, 0.20136540080403034,
      0.04471061572777259)
_E3 = (-0.18980075407240762, 0.0, 0.0, 0.0, 0.0, 4.450312892752409, 1.8915178993145003,
       -5.801203960010585, -0.4226823213237919, -0.1521609496625161, 0.20136540080403034,
       0.02265179219836082)
_E5 = (0.01312004499419488, 0.0, 0.0, 0.0, 0.0, -1.2251564463762044, -0.4957589496572502,
       1.6643771824549864, -0.35032884874997366, 0.3341791187130175, 0.08192320648511571,
       -0.022355307863886294)
_ORDER_EST = 7  # the step-size exponent is −1/(7 + 1)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0

_A_FULL = np.zeros((12, 12))
for _i, _row in enumerate(_A):
    _A_FULL[_i, :len(_row)] = _row
_WEIGHTS = np.stack([np.asarray(_B), np.asarray(_E5), np.asarray(_E3)])


def _step(f, y, fy, h):
    """One DOP853 step of `dy/dt = f(y)`: the new state and the two embedded error vectors."""
    stages = jnp.zeros((12,) + y.shape, y.dtype).at[0].set(fy)
    A = jnp.asarray(_A_FULL, y.dtype)

    def stage(i, stages):
        return stages.at[i].set(f(y + h * jnp.tensordot(A[i], stages, axes=1)))

    stages = jax.lax.fori_loop(1, 12, stage, stages)
    new, err5, err3 = jnp.tensordot(jnp.asarray(_WEIGHTS, y.dtype), stages, axes=1)
    return y + h * new, err5, err3


def _initial_step(f, y0, fy0, scale):
    """Hairer's starting step (as in scipy's `select_initial_step`)."""
    def rms(x):
        return jnp.sqrt(jnp.mean(x**2))

    sc = scale(y0)
    d0, d1 = rms(y0 / sc), rms(fy0 / sc)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.where(d1 > 0, d1, 1.0))
    d2 = rms((f(y0 + h0 * fy0) - fy0) / sc) / h0
    big = jnp.maximum(d1, d2)
    h1 = jnp.where(big <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.where(big > 0, big, 1.0)) ** (1.0 / (_ORDER_EST + 1)))
    return jnp.minimum(100 * h0, h1)


def integrate(f, y0, ts, scale, max_steps):
    """Integrate `dy/dt = f(y)` for a flat `y0` `(N,)` from `t = 0` to the sorted times `ts`.

    `scale(*ys)` gives the per-component error allowance `(N,)` (e.g. `atol + rtol·|y|`) for
    the states of a step; a step is accepted when the RMS of its error over the allowance is at
    most 1. Returns `(records (T, N), n_accepted, n_rejected, failed)`, `failed` True when the
    step size collapsed, the state left the floats or `max_steps` steps (accepted and rejected)
    were used before the last record. Traceable; compile it inside the caller's `jit`.
    """
    T = ts.shape[0]
    fy0 = f(y0)

    def cond(state):
        _, _, _, _, k, _, n_acc, n_rej, failed = state
        return (k < T) & (n_acc + n_rej < max_steps) & ~failed

    def record(state):
        t, y, fy, h, k, out, n_acc, n_rej, failed = state
        return t, y, fy, h, k + 1, out.at[k].set(y), n_acc, n_rej, failed

    def step(state):
        t, y, fy, h, k, out, n_acc, n_rej, failed = state
        remaining = ts[k] - t
        clipped = 1.01 * h >= remaining  # land exactly on the record time
        h_eff = jnp.where(clipped, remaining, h)
        y_new, err5, err3 = _step(f, y, fy, h_eff)
        sc = scale(y, y_new)
        n5, n3 = jnp.sum((err5 / sc) ** 2), jnp.sum((err3 / sc) ** 2)
        denom = jnp.where(n5 + n3 > 0, n5 + 0.01 * n3, 1.0)
        err = jnp.abs(h_eff) * n5 / jnp.sqrt(denom * y.shape[0])
        ok = jnp.all(jnp.isfinite(y_new)) & jnp.isfinite(err)
        accept = ok & (err <= 1.0)
        factor = jnp.where(err == 0, _MAX_FACTOR,
                           _SAFETY * jnp.where(err > 0, err, 1.0) ** (-1.0 / (_ORDER_EST + 1)))
        factor = jnp.clip(factor, _MIN_FACTOR, jnp.where(accept, _MAX_FACTOR, 1.0))
        factor = jnp.where(ok, factor, _MIN_FACTOR)
        h_next = h_eff * factor
        h_next = jnp.where(accept & clipped, jnp.maximum(h, h_next), h_next)
        t_new = jnp.where(clipped, ts[k], t + h_eff)
        fy_new = jax.lax.cond(accept, f, lambda _: fy, y_new)
        too_small = h_next <= 1e-14 * jnp.maximum(jnp.abs(t), 1.0)
        return (jnp.where(accept, t_new, t), jnp.where(accept, y_new, y),
                jnp.where(accept, fy_new, fy), h_next, k, out, n_acc + accept,
                n_rej + ~accept, failed | too_small)

    def body(state):
        return jax.lax.cond(state[0] >= ts[state[4]], record, step, state)

    out = jnp.full((T,) + y0.shape, jnp.nan, y0.dtype)
    zero = jnp.asarray(0)
    state = (jnp.zeros((), y0.dtype), y0, fy0, _initial_step(f, y0, fy0, scale), zero, out,
             zero, zero, jnp.asarray(False))
    _, _, _, _, k, out, n_acc, n_rej, failed = jax.lax.while_loop(cond, body, state)
    return out, n_acc, n_rej, failed | (k < T)
