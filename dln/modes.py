"""Closed-form dynamics of one SVD mode of a deep linear network under gradient flow.

Setting (Saxe, McClelland & Ganguli 2014; THEORY.md §1.2, §1.4). A network of `D` weight matrices
starts small, balanced and aligned with the task: every layer carries mode α with the same
strength `a`, so the mode's strength in the network map is `u = a^D`. With input variance
`λ = V[:,α]ᵀ Σxx V[:,α]` along the mode (`λ = 1` for whitened input), the flow `dW/dt = −∂L/∂W`
(time `t = lr × steps`) reduces to

    du/dt = D u^{2 − 2/D} (s − λ u).

Writing `u = (s/λ) w` and `τ = κ t` with the *rate*

    κ = D s^{2 − 2/D} λ^{2/D − 1}

every mode obeys the same normalised equation `dw/dτ = w^{2 − 2/D} (1 − w)`, whose fixed point is
`w = 1` (the least-squares value `s/λ`). Its solutions:

- `D = 1`: `w = 1 − (1 − w0) e^{−τ} = w0 e^{−τ} + (1 − e^{−τ})` (exponential).
- `D = 2`: `w = w0 / (w0 + (1 − w0) e^{−τ})` (logistic).
- `D ≥ 3`: implicit, `τ = G(w) − G(w0)` with the antiderivative, in `a = w^{1/D}`,

      G = −D/((D−2) a^{D−2}) − ln|1−a| − [D even] ln(1+a)
          − Σ_{k=1}^{⌊(D−1)/2⌋} [cos 2θ_k ln(a² − 2a cos θ_k + 1) − 2 sin 2θ_k atan2(−sin θ_k, a − cos θ_k)],

  θ_k = 2πk/D (partial fractions over the D-th roots of unity; `derivations/` checks it). It is
  inverted by a safeguarded Newton iteration in the variable `y = ln(w/(1−w))` (approach from
  below) or `y = ln(w − 1)` (from above), in which `G` is smooth, monotone and concave or convex,
  so Newton converges monotonically from the side where it is clamped. `G` is evaluated without
  cancellation (a series for `w ≥ 8`), so `u(t)` has full float64 relative precision for tiny
  init, huge `t`, and init above the target.

A mode with `s = 0` decays: `u = u0 e^{−λt}` (D = 1), else
`u = u0 (1 + (2D − 2) λ u0^{2 − 2/D} t)^{−D/(2D−2)}`.

All functions broadcast over modes and times and work under `jit`, `vmap` and `grad` (with
respect to times, initial values and the task); the Newton inverse has a custom JVP from the
implicit function theorem, so derivatives do not pass through the iteration.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["rate", "normalized", "trajectory", "time_to_fraction", "method_name"]

# The normalised target is reached to float64 rounding once ln|1 − w| < −_SATURATE.
_SATURATE = 40.0


def method_name(depth: int) -> str:
    """The label `dln.solve` records for the closed form used at this depth."""
    return {1: "exact-exponential", 2: "exact-logistic"}.get(depth, "exact-implicit")


def rate(s, lam, depth: int):
    """The rate `κ = D s^{2−2/D} λ^{2/D−1}` that turns flow time into normalised time `τ = κ t`.

    It is also the curvature of the loss along the balanced direction of the mode at its fixed
    point, so gradient descent on that mode is stable only for `lr < 2/κ`.
    """
    D = depth
    return D * s ** (2.0 - 2.0 / D) * lam ** (2.0 / D - 1.0)


def normalized(tau, w0, depth: int):
    """Solution `w(τ)` of `dw/dτ = w^{2−2/D}(1 − w)` from `w(0) = w0`, broadcast over arguments.

    `w0 >= 0` for `depth >= 2` (a balanced network's mode cannot change sign); `tau >= 0`.
    """
    tau, w0 = jnp.broadcast_arrays(tau, w0)
    if depth == 1:  # written as a sum of two non-negative terms: no cancellation for small w0
        return w0 * jnp.exp(-tau) - jnp.expm1(-tau)
    if depth == 2:
        # w0 = 0 is a fixed point (0/0 once e^{−τ} underflows)
        return jnp.where(w0 == 0.0, 0.0, w0 / (w0 + (1.0 - w0) * jnp.exp(-tau)))
    return _deep(tau, w0, depth)


# --------------------------------------------------------------------------------- depth >= 3
def _log_ratio(ell, depth):
    """ln[(a − 1)/(w − 1)] with `a = w^{1/D}`, `ell = ln w`; equals ln[expm1(ℓ/D)/expm1(ℓ)]."""
    small = jnp.abs(ell) < 1e-8
    safe = jnp.where(small, 1.0, ell)
    exact = jnp.log(jnp.expm1(safe / depth) / jnp.expm1(safe))
    series = -math.log(depth) + ell * (1.0 / depth - 1.0) / 2.0
    return jnp.where(small, series, exact)


def _regular_part(a, depth, xp=jnp):
    """The part of G that is smooth at `a = 1`: G + ln|1 − a| (`xp`: jax.numpy or numpy)."""
    D = depth
    out = -D / (D - 2) * a ** (2 - D)
    if D % 2 == 0:
        out = out - xp.log1p(a)
    for k in range(1, (D - 1) // 2 + 1):
        th = 2.0 * math.pi * k / D
        c, sn, c2, s2 = math.cos(th), math.sin(th), math.cos(2 * th), math.sin(2 * th)
        out = out - (c2 * xp.log(a * a - 2.0 * c * a + 1.0)
                     - 2.0 * s2 * xp.arctan2(-sn * xp.ones_like(a), a - c))
    return out


@functools.lru_cache(maxsize=None)
def _late_constant(depth: int) -> float:
    """c_D with G(w) = −ln|1 − w| + c_D + o(1) as w → 1 (from either side)."""
    return float(_regular_part(np.float64(1.0), depth, np)) + math.log(depth)


def _G(y, above, depth):
    """G as a function of `y = ln(w/(1−w))` (`above` False) or `y = ln(w − 1)` (`above` True)."""
    D = depth
    ell = jnp.where(above, jax.nn.softplus(y), -jax.nn.softplus(-y))  # ln w
    log_gap = jnp.where(above, y, -jax.nn.softplus(y))  # ln|1 − w|
    a = jnp.exp(ell / D)
    closed = _regular_part(a, D) - (log_gap + _log_ratio(ell, D))
    # For w >= 8 (above only) the log form cancels; use G = D w^{2/D} Σ_{m≥2} w^{−m}/(mD − 2).
    big = above & (ell > math.log(8.0))
    inv_w = jnp.exp(-jnp.where(big, ell, math.log(8.0)))
    series = jnp.zeros_like(inv_w)
    for m in range(21, 1, -1):  # Horner: Σ_{m=2}^{21} x^m/(mD − 2) = x(1/(2D−2) + x(…))·x
        series = (series + 1.0 / (m * D - 2.0)) * inv_w
    series = D * jnp.exp(2.0 * jnp.where(big, ell, 0.0) / D) * series * inv_w
    return jnp.where(big, series, closed)


def _dG_dy(y, above, depth):
    ell = jnp.where(above, jax.nn.softplus(y), -jax.nn.softplus(-y))
    return jnp.where(above, -jnp.exp(-(2.0 - 2.0 / depth) * ell),
                     jnp.exp((2.0 / depth - 1.0) * ell))


def _to_y(w, above):
    """The Newton variable of w (finite for 0 < w < 1 and w > 1)."""
    safe_below = jnp.clip(w, 1e-300, 1.0 - 1e-16)
    safe_above = jnp.maximum(w, 1.0 + 1e-16)
    return jnp.where(above, jnp.log(safe_above - 1.0),
                     jnp.log(safe_below) - jnp.log1p(-safe_below))


def G_of_w(w, depth: int):
    """The antiderivative `G(w) = ∫ dw / (w^{2−2/D}(1−w))` for `D >= 3`, `0 < w`, `w != 1`."""
    above = w > 1.0
    return _G(_to_y(w, above), above, depth)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _deep(tau, w0, depth):
    D = depth
    above = w0 > 1.0
    y0 = _to_y(w0, above)
    c = _late_constant(D)
    g = jnp.minimum(_G(y0, above, D) + tau, c + _SATURATE)
    # Starting guesses from the asymptotics of G, clamped to the side of w0 (monotone Newton).
    y_late = jnp.where(above, c - g, g - c)
    q = (D - 2.0) / D
    neg_g = jnp.maximum(-g, 1e-300)
    y_early = jnp.log(D / (D - 2.0) / neg_g) / q
    y_guess = jnp.where(above, y_late, jnp.where(g < 0, jnp.minimum(y_late, y_early), y_late))
    y_start = jnp.where(above, jnp.minimum(y0, y_guess), jnp.maximum(y0, y_guess))

    def step(y):
        y_new = y - (_G(y, above, D) - g) / _dG_dy(y, above, D)
        return jnp.where(above, jnp.minimum(y_new, y0), jnp.maximum(y_new, y0))

    # Quadratic convergence: once a step is below 1e-9 (relative), one more step reaches rounding
    # level, so iterate to 1e-9 and polish once (a rounding-level test would never stop).
    def cond(state):
        y, dy, it = state
        return (it < 100) & jnp.any(jnp.abs(dy) > 1e-9 * (1.0 + jnp.abs(y)))

    def body(state):
        y, _, it = state
        y_new = step(y)
        return y_new, y_new - y, it + 1

    y, _, _ = jax.lax.while_loop(cond, body, (y_start, jnp.full_like(y_start, jnp.inf), 0))
    y = step(y)
    w = jnp.where(above, 1.0 + jnp.exp(y), jax.nn.sigmoid(y))
    fixed = (w0 == 0.0) | (w0 == 1.0) | (tau == 0.0)
    return jnp.where(fixed, w0, w)


def _velocity(w, depth):
    return jnp.abs(w) ** (2.0 - 2.0 / depth) * (1.0 - w)


@_deep.defjvp
def _deep_jvp(depth, primals, tangents):
    tau, w0 = primals
    dtau, dw0 = tangents
    w = _deep(tau, w0, depth)
    # Implicit function theorem on G(w) = G(w0) + τ: dw = f(w) (dτ + dw0 / f(w0)), f = w^p (1−w).
    f_w, f_w0 = _velocity(w, depth), _velocity(w0, depth)
    degenerate = f_w0 == 0.0
    ratio = f_w / jnp.where(degenerate, 1.0, f_w0)
    # Fixed points: w0 = 1 is attracting (dw/dw0 = e^{−τ}); w0 = 0 is marginal (dw/dw0 = 1).
    ratio = jnp.where(degenerate, jnp.where(w0 == 1.0, jnp.exp(-tau), 1.0), ratio)
    return w, f_w * dtau + ratio * dw0


# ------------------------------------------------------------------------------ physical units
def _split(s, lam):
    """Masks and safe values for active modes (s > 0) and resting modes (s = 0)."""
    active = s > 0
    s_safe = jnp.where(active, s, 1.0)
    lam_safe = jnp.where(active & (lam > 0), lam, 1.0)
    return active, s_safe, lam_safe


def trajectory(t, s, lam, u0, depth: int):
    """Mode strengths `u(t)` of `du/dt = D u^{2−2/D}(s − λu)`, broadcast over all arguments.

    Typical use: `t` of shape `(T, 1)` and `s`, `lam`, `u0` of shape `(K,)` give `(T, K)`.
    """
    D = depth
    s, lam, u0, t = jnp.broadcast_arrays(s, lam, u0, t)
    active, s_safe, lam_safe = _split(s, lam)
    target = s_safe / lam_safe
    w = normalized(rate(s_safe, lam_safe, D) * t, u0 / target, D)
    learning = target * w
    if D == 1:
        resting = u0 * jnp.exp(-lam * t)
    else:
        p = 2.0 - 2.0 / D
        u0_safe = jnp.where(active, 1.0, u0)  # keep the unused branch finite under grad
        resting = u0_safe * (1.0 + (2.0 * D - 2.0) * lam * u0_safe ** p * t) ** (-1.0 / p)
    return jnp.where(active, learning, resting)


def time_to_fraction(fraction, s, lam, u0, depth: int):
    """Exact flow time at which each mode reaches `fraction` of its target `s/λ`.

    0 if it starts there; `inf` if it never gets there (the fraction lies on the other side of
    the start, is the target itself, or the mode has `s = 0` or starts at 0 for `depth >= 2`).
    """
    D = depth
    f, s, lam, u0 = jnp.broadcast_arrays(jnp.asarray(fraction, dtype=jnp.result_type(float)),
                                         s, lam, u0)
    active, s_safe, lam_safe = _split(s, lam)
    w0 = u0 * lam_safe / s_safe
    reachable = active & (((w0 < f) & (f < 1.0)) | ((w0 > f) & (f > 1.0)))
    if D >= 2:
        reachable = reachable & (w0 > 0)
    f_ok = jnp.where(reachable, f, 0.5)
    w0_ok = jnp.where(reachable, w0, jnp.where(f_ok > 1, 2.0, 0.25))
    if D == 1:
        tau = jnp.log((1.0 - w0_ok) / (1.0 - f_ok))
    elif D == 2:
        tau = jnp.log(f_ok * (1.0 - w0_ok) / (w0_ok * (1.0 - f_ok)))
    else:
        tau = G_of_w(f_ok, D) - G_of_w(w0_ok, D)
    t = tau / rate(s_safe, lam_safe, D)
    return jnp.where(reachable, t, jnp.where(active & (w0 == f), 0.0, jnp.inf))
