"""Closed-form dynamics of one SVD mode of a deep linear network under gradient flow.

Setting (Saxe, McClelland & Ganguli 2014; docs/theory/modes.md). A network of `D` weight matrices
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
          − Σ_{k=1}^{⌊(D−1)/2⌋} [cos 2θ_k ln(a² − 2a cos θ_k + 1)
                                 − 2 sin 2θ_k atan2(−sin θ_k, a − cos θ_k)],

  θ_k = 2πk/D (partial fractions over the D-th roots of unity; `derivations/` checks it).

A mode with `s = 0` decays: `u = u0 e^{−λt}` (D = 1), else
`u = u0 (1 + (2D − 2) λ u0^{2 − 2/D} t)^{−D/(2D−2)}`.

How `D ≥ 3` is inverted. The solution is `w(τ) = W(G(w0) + τ)` where `W = G⁻¹` is one fixed
function per depth and side of the target (`0 < w < 1`: `g ∈ ℝ`, increasing; `w > 1`:
`g ∈ (0, ∞)`, decreasing). `G(w0)` is evaluated once per mode, straight from `w0` (the closed form
for `w < 3/2`, its series `G = D w^{2/D} Σ_{m≥2} w^{−m}/(mD − 2)` above, where the closed form
cancels), and each time then costs one evaluation of `W`, read from a table built with numpy once
per depth, at first use (~0.1 s): `W` is a polynomial of degree 6 on each piece, the pieces being
the octaves `[2^o, 2^{o+1})` of a coordinate `x(g) > 0` cut in 64. The octave, the piece and the
position `u ∈ [−1, 1)` in it come from the bits of `x` (exponent, next 6 bits, the rest), so a
time costs a few integer operations, 8 table reads and a Horner scheme, with no iteration (the
table reads cost most: a low degree on many pieces keeps them few).
The coordinates (arms), with `g_s = G(1/2)`:

- below the target, `g ≥ g_s`: `x = 1/2 + (g − g_s)`. Pieces are finest at the bend of the
  curve and widen towards saturation, where `1 − w ≈ e^{c_D − g}`.
- below the target, `g < g_s`: `x = 1/2 + (g_s − g) = G₀ − g + δ`, where
  `G(w) = −D/((D−2) w^{(D−2)/D}) + G₀ + O(w^{2/D})` as `w → 0`. There `w = η φ(η)` with
  `η = (D/((D−2)(x − δ)))^{D/(D−2)}` and `φ(η) = 1 + O(Dη/2)` analytic; once `Dη/2` and `qδ/x`
  are below `2^{−60}`, `w(2x) = 2^{−D/(D−2)} w(x)` to rounding, so the last tabulated octave
  serves all larger `x`, times a tabulated power of two (down to `w ~ 1e-300`).
- above the target: `x = g`, `w ≈ (q/g)^q (1 + O(1/w))` as `g → 0⁺` with `q = D/(2D−2)`:
  self-similar in the same way once `w > 2^{60}`.

Past `g = c_D + 40`, where `G(w) = −ln|1 − w| + c_D + o(1)`, `w = 1` to rounding. The table's
nodes are exact inverses (bracketed Newton, polished in `w` itself so that tiny and huge `w` keep
full relative precision); interpolation adds less than 1e-15 relative, so `w` is as accurate as
`g = G(w0) + τ` is in float64 (the conditioning of the problem). A safeguarded Newton iteration
in `y = ln(w/(1−w))` or `ln(w − 1)` per time (`_deep_newton`, ~50× slower) remains as the
independent reference the tests compare with.

All functions broadcast over modes and times and work under `jit`, `vmap` and `grad` (with
respect to times, initial values and the task); the inverse of `G` has a custom JVP from the
implicit function theorem, so derivatives do not pass through the table or the iteration.
`trajectory` does the per-mode work (`κ`, `G(w0)`) once per mode, not once per time.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dln import _ode

__all__ = ["rate", "normalized", "trajectory", "time_to_fraction", "method_name",
           "weight_decay_threshold", "weight_decay_target"]

# The normalised target is reached to float64 rounding once ln|1 − w| < −_SATURATE.
_SATURATE = 40.0


def method_name(depth: int, weight_decay: bool = False) -> str:
    """The label `dln.solve` records for the solution used at this depth: a closed form, or
    `"reduced-integration"` for `depth >= 3` with weight decay (`trajectory(...,
    weight_decay=γ)` with `γ > 0` integrates the mode ODE there)."""
    if weight_decay and depth >= 3:
        return "reduced-integration"
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
    if depth >= 3:  # G(w0) is computed at the shape of w0, before broadcasting
        tau, w0 = jnp.asarray(tau), jnp.asarray(w0)
        return jnp.broadcast_to(_deep(tau, w0, depth), jnp.broadcast_shapes(tau.shape, w0.shape))
    tau, w0 = jnp.broadcast_arrays(tau, w0)
    if depth == 1:  # written as a sum of two non-negative terms: no cancellation for small w0
        return w0 * jnp.exp(-tau) - jnp.expm1(-tau)
    # w0 + (1 − w0) e^{−τ} as a sum of two non-negative terms: no cancellation for huge w0 and
    # small τ. w0 = 0 is a fixed point (0/0 once e^{−τ} underflows).
    denominator = jnp.exp(-tau) - w0 * jnp.expm1(-tau)
    return jnp.where(w0 == 0.0, 0.0, w0 / jnp.where(w0 == 0.0, 1.0, denominator))


# --------------------------------------------------------------------------------- depth >= 3
# The antiderivative G.
def _log_ratio(ell, depth, xp=jnp):
    """ln[(a − 1)/(w − 1)] with `a = w^{1/D}`, `ell = ln w`; equals ln[expm1(ℓ/D)/expm1(ℓ)]."""
    small = xp.abs(ell) < 1e-8
    safe = xp.where(small, 1.0, ell)
    exact = xp.log(xp.expm1(safe / depth) / xp.expm1(safe))
    series = -math.log(depth) + ell * (1.0 / depth - 1.0) / 2.0
    return xp.where(small, series, exact)


def _regular_part(a, depth, xp=jnp, singular=True):
    """The part of G that is smooth at `a = 1`: G + ln|1 − a| (`xp`: jax.numpy or numpy).

    `singular=False` leaves out the term `−D/((D−2) a^{D−2})` that diverges at `a = 0`.
    """
    D = depth
    out = -D / (D - 2) * a ** (2 - D) if singular else xp.zeros_like(a)
    if D % 2 == 0:
        out = out - xp.log1p(a)
    for k in range(1, (D - 1) // 2 + 1):
        th = 2.0 * math.pi * k / D
        c, sn, c2, s2 = math.cos(th), math.sin(th), math.cos(2 * th), math.sin(2 * th)
        out = out - (c2 * xp.log(a * a - 2.0 * c * a + 1.0)
                     - 2.0 * s2 * xp.arctan2(-sn * xp.ones_like(a), a - c))
    return out


@functools.cache
def _late_constant(depth: int) -> float:
    """c_D with G(w) = −ln|1 − w| + c_D + o(1) as w → 1 (from either side)."""
    return float(_regular_part(np.float64(1.0), depth, np)) + math.log(depth)


@functools.cache
def _origin_constant(depth: int) -> float:
    """G₀ with G(w) = −D/((D−2) w^{(D−2)/D}) + G₀ + O(w^{2/D}) as w → 0."""
    return float(_regular_part(np.float64(0.0), depth, np, singular=False))


def _root(w, depth, xp=jnp):
    """`w^{1/D}` for `w > 0` to rounding: `pow(w, 1/D)` would carry the error of the float 1/D
    times `ln w` (1e-14 at w = 1e-300), so take the power of two out exactly first."""
    m, e = xp.frexp(w)  # w = m 2^e, 1/2 <= m < 1
    k = e // depth
    return xp.ldexp((m * xp.exp2((e - depth * k).astype(m.dtype))) ** (1.0 / depth), k)


# The large-w series of G is used from w = _SERIES_FROM on (converges like 1.5^-m).
_SERIES_FROM = 1.5
_SERIES_TERMS = 96


def _G_direct(w, depth, xp=jnp, log_gap=None, log_w=None):
    """G(w) straight from `w` (`0 < w`, `w != 1`; side from `w > 1`), to a few ulp of G.

    `0 < w < 1.5`: the closed form above, with `ln|1 − w|` and `a` taken directly from `w`
    (or `log_gap = ln|1 − w|` and `log_w = ln w` when the caller knows them more precisely).
    `w >= 1.5`: the closed form cancels (G → 0⁺ as w → ∞), so use its expansion in 1/w,
    `G = D w^{2/D} Σ_{m≥2} w^{−m}/(mD − 2)`. Every branch sees only safe arguments; with numpy
    (the table's nodes) each branch is evaluated on its own points only, and the series to the
    terms its smallest `w` needs.
    """
    D = depth
    if xp is np and np.ndim(w) > 0:
        w = np.asarray(w, dtype=np.float64)
        out = np.empty(w.shape)
        near = w < _SERIES_FROM
        if near.any():
            logs = [None if a is None else np.broadcast_to(a, w.shape)[near]
                    for a in (log_gap, log_w)]
            out[near] = _G_closed(w[near], D, np, *logs)
        for part in (~near & (w < 8.0), w >= 8.0):
            if part.any():
                out[part] = _G_series(w[part], D, np, float(w[part].min()))
        return out
    big = w >= _SERIES_FROM
    safe = big | (w <= 0.0) | (w == 1.0)
    closed = _G_closed(xp.where(safe, 0.5, w), D, xp, log_gap, log_w, safe)
    return xp.where(big, _G_series(xp.where(big, w, 2.0), D, xp), closed)


def _G_closed(w, depth, xp, log_gap=None, log_w=None, safe=None):
    """The closed form of G for `0 < w < _SERIES_FROM`, `w != 1` (`safe`: where to use
    `w = 1/2`, a placeholder, instead of the logarithms given)."""
    if log_gap is None:
        log_gap = xp.where(w > 1.0, xp.log(xp.maximum(w, 1.0 + 2.0**-52) - 1.0),
                           xp.log1p(-xp.minimum(w, 1.0 - 2.0**-53)))
    if log_w is None:
        log_w = xp.log(w)
    if safe is not None:
        log_gap, log_w = (xp.where(safe, math.log(0.5), a) for a in (log_gap, log_w))
    return _regular_part(_root(w, depth, xp), depth, xp) - (log_gap + _log_ratio(log_w, depth, xp))


def _G_series(w, depth, xp, w_min=_SERIES_FROM):
    """G for `w >= w_min >= _SERIES_FROM` by its series in 1/w, to the terms that `w_min`
    needs (truncation below 2^-56 relative)."""
    D = depth
    terms = min(_SERIES_TERMS, math.ceil(56.0 / math.log2(w_min)) + 2)
    inv_w = 1.0 / w
    acc = xp.zeros_like(inv_w)
    for m in range(terms + 1, 1, -1):  # Horner: Σ_{m≥2} x^{m−2}/(mD − 2)
        acc = acc * inv_w + 1.0 / (m * D - 2.0)
    a = _root(w, D, xp)
    return D * a * a * acc * inv_w * inv_w


def _velocity(w, depth):
    return jnp.abs(w) ** (2.0 - 2.0 / depth) * (1.0 - w)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def G_of_w(w, depth: int):
    """The antiderivative `G(w) = ∫ dw / (w^{2−2/D}(1−w))` for `D >= 3`, `0 < w`, `w != 1`.

    `−inf` at `w = 0`, `+inf` at `w = 1`; its derivative is `1/(w^{2−2/D}(1−w))` exactly.
    """
    return _G_of_w(jnp.asarray(w, dtype=jnp.result_type(w, float)), depth)


@functools.partial(jax.jit, static_argnums=1)
def _G_of_w(w, depth):
    g = jnp.where(w == 0.0, -jnp.inf, jnp.where(w == 1.0, jnp.inf, _G_direct(w, depth)))
    return jnp.where(w < 0.0, jnp.nan, g)


@G_of_w.defjvp
def _G_of_w_jvp(depth, primals, tangents):
    (w,), (dw,) = primals, tangents
    return G_of_w(w, depth), dw / _velocity(w, depth)


# The inverse W = G⁻¹, tabulated once per depth.
_PIECE_BITS = 6  # each octave of the table coordinate is cut into 2^6 pieces
_DEGREE = 6  # polynomial degree on each piece (a table read per coefficient: few, many pieces)
_X0 = 0.5  # below the target, both coordinates start at x = _X0 where w = 1/2
_TAIL = 60  # self-similar tails start where the neglected terms are below 2^-_TAIL
_N_SCALE = 1100  # powers of two kept for the tails (past the float64 exponent range)


class _Arm(NamedTuple):
    """One coordinate of the table: x = offset + sign·g, octaves o_lo..o_hi tabulated (`_W`
    computes the same x as `_X0 + |g − split|` on both arms below the target).

    Rows of octave o, piece m are `first_row + (o − o_lo) 2^b + m`; past the tabulated octaves
    (k octaves away) w is the nearest octave's value times `scale[first_scale + k]`.
    """

    offset: float
    sign: float
    o_lo: int
    o_hi: int
    first_row: int
    first_scale: int


class _Table(NamedTuple):
    coef: np.ndarray  # (_DEGREE + 1, rows): monomial coefficients in u ∈ [−1, 1)
    scale: np.ndarray  # (n,): 1, then 2^{−qk} (small-w tail), then 2^{q'k} (large-w tail)
    up: _Arm  # below the target, g ≥ split = G(1/2)
    down: _Arm  # below the target, g < split (to w → 0)
    above: _Arm  # above the target (x = g, to w → ∞ as g → 0)
    g_max: float  # saturation: w = 1 to rounding from here on
    split: float  # G(1/2): below the target, arm `up` from here on, arm `down` before


def _invert_np(g, above: bool, depth: int):
    """W(g) in numpy float64 for table nodes: Newton in y = ln(w/(1−w)) or ln(w − 1),
    safeguarded by bisection, then polished in w itself where w is far from 1 (y loses
    relative precision of w there)."""
    D = depth
    g = np.asarray(g, dtype=np.float64)
    c = _late_constant(D)
    late = g > c + 30.0  # 1 ∓ e^{c−g} is exact to rounding
    g_in = np.where(late, 1.0, g)  # (a placeholder with a solution on both sides)
    sgn = -1.0 if above else 1.0  # G decreases in y above the target, increases below
    if above:
        lo, hi = np.full_like(g, -80.0), np.full_like(g, 700.0)
        p = D / (2.0 * D - 2.0)
        y = np.where(g_in > 1.0, c - g_in, p * np.log(p / np.maximum(g_in, 1e-300)))
    else:
        lo, hi = np.full_like(g, -700.0), np.full_like(g, 80.0)
        y = np.where(g_in < -1.0, np.log(D / (D - 2.0) / np.maximum(-g_in, 1e-300))
                     * D / (D - 2.0), g_in - c)
    y = np.clip(y, lo + 1.0, hi - 1.0)

    def to_w(y):
        return 1.0 + np.exp(y) if above else 1.0 / (1.0 + np.exp(-y))

    def newton(y):
        w = to_w(y)
        dg_dy = -w ** (2.0 / D - 2.0) if above else w ** (2.0 / D - 1.0)
        if above:  # ln|1 − w| and ln w exactly from y: G is smooth in y even where w rounds
            log_gap, log_w = y, np.logaddexp(0.0, y)
        else:
            log_gap, log_w = -np.logaddexp(0.0, y), -np.logaddexp(0.0, -y)
        residual = _G_direct(w, D, np, log_gap, log_w) - g_in
        return y - residual / dg_dy, sgn * residual

    with np.errstate(all="ignore"):
        for _ in range(200):
            y_new, f = newton(y)
            hi, lo = np.where(f > 0, y, hi), np.where(f <= 0, y, lo)
            ok = (y_new >= lo) & (y_new <= hi) & np.isfinite(y_new)
            y_new = np.where(ok, y_new, 0.5 * (lo + hi))
            done = np.abs(y_new - y) <= 1e-11 * (1.0 + np.abs(y))
            y = y_new
            if done.all():
                break
        for _ in range(2):
            y_new, _f = newton(y)
            y = np.where(np.isfinite(y_new), np.clip(y_new, lo, hi), y)
        w = to_w(y)
        far = (w > 2.0) if above else (w < 0.5)
        w_far = np.where(far, w, 4.0 if above else 0.25)
        g_far = np.where(far, g_in, _G_direct(w_far, D, np))
        for _ in range(2):  # Newton in w: dw = (g − G(w)) w^{2−2/D}(1 − w)
            velocity = w_far ** (2.0 - 2.0 / D) * (1.0 - w_far)
            w_far = w_far - (_G_direct(w_far, D, np) - g_far) * velocity
        w = np.where(far, w_far, w)
    tail = np.exp(c - np.where(late, g, c))
    return np.where(late, 1.0 + tail if above else 1.0 - tail, w)


@functools.cache
def _table(depth: int) -> _Table:
    """Piecewise polynomial tables of W = G⁻¹ for one depth (see the module docstring)."""
    D = depth
    M, n = 1 << _PIECE_BITS, _DEGREE
    c, G0 = _late_constant(D), _origin_constant(D)
    g_max = c + _SATURATE
    split = float(_G_direct(np.float64(0.5), D, np))  # the bend of W below the target
    q, q_above = D / (D - 2.0), D / (2.0 * D - 2.0)
    log2 = math.log2
    # Small-w tail: with x = split + _X0 − g = G₀ − g + δ, w = η φ(η), η = (D/((D−2)(x − δ)))^q,
    # φ = 1 + O(Dη/2); self-similar in x once both Dη/2 and qδ/x are below 2^-_TAIL.
    delta = split + _X0 - G0
    o_down = math.ceil(max(log2(D / (D - 2.0)) + (_TAIL + log2(D / 2.0)) / q,
                           _TAIL + log2(q * abs(delta) + 1e-300))) + 1
    # Large-w tail: w ≈ (q'/g)^{q'} (1 + O(1/w)); self-similar once w > 2^_TAIL.
    o_above = math.floor(log2(q_above) - _TAIL / q_above) - 1
    o_x0 = math.floor(log2(_X0))

    def o_top(x_max):  # the octave of the largest x, with a margin for rounding
        return math.floor(log2(x_max * (1.0 + 2.0**-30)))

    spans = {  # arm: (offset, sign, o_lo, o_hi)
        "up": (_X0 - split, 1.0, o_x0, o_top(g_max - split + _X0)),
        "down": (split + _X0, -1.0, o_x0, o_down),
        "above": (0.0, 1.0, o_above, o_top(g_max)),
    }
    # Chebyshev points of each piece, in the local coordinate u ∈ [−1, 1).
    u = np.cos(np.pi * (np.arange(n + 1) + 0.5) / (n + 1))
    arms, values, first_row = {}, [], 0
    first_scale = {"up": 0, "down": 1, "above": 1 + _N_SCALE}
    for name, (offset, sign, o_lo, o_hi) in spans.items():
        octave = np.exp2(np.arange(o_lo, o_hi + 1.0))
        x = octave[:, None, None] * (1.0 + (np.arange(M)[None, :, None] + (u + 1.0) / 2.0) / M)
        g = (x.reshape(-1, n + 1) - offset) / sign
        values.append(_invert_np(g, name == "above", D))
        arms[name] = _Arm(offset, sign, o_lo, o_hi, first_row, first_scale[name])
        first_row += (o_hi - o_lo + 1) * M
    values = np.concatenate(values)  # (rows, n + 1)
    # the interpolating polynomial's coefficients in powers of u (well conditioned at this degree)
    coef = np.linalg.solve(np.vander(u, n + 1, increasing=True), values.T)  # (n + 1, rows)
    k = np.arange(_N_SCALE)

    def powers(num, den):  # 2^{k num/den}, exactly rounded: integer part of the exponent apart
        whole, part = np.divmod(k * num, den)
        return np.ldexp(np.exp2(part / den), whole)

    scale = np.concatenate([[1.0], powers(-D, D - 2), powers(D, 2 * D - 2)])
    # The tails must reach every float64 exponent: 2^-1022 (x >= tiny) to 2^1024 (inf, NaN).
    assert 1024 - arms["down"].o_hi < _N_SCALE and arms["above"].o_lo + 1022 < _N_SCALE
    return _Table(coef, scale, arms["up"], arms["down"], arms["above"], g_max, split)


def _W(g, above, depth, xp=jnp):
    """w = W(g) from the table: `g` (any shape), `above` (broadcastable to it, bool); with jax
    or numpy (`xp`). `_W_at(g, _W_modes(above, depth, xp), xp)`."""
    return _W_at(g, _W_modes(above, depth, xp), xp)


def _W_modes(above, depth, xp, g0=None):
    """The per-mode part of `W` (`above`: per mode): the arms' offsets and index parameters.

    With numpy and the per-mode starts `g0` (each g is >= its mode's `g0`), the parts of the
    evaluation no mode needs are left out: the self-similar tails (none where every `g0` is past
    them) and the choice between the two arms below the target (none where every `g0` is past
    the split)."""
    tab = _table(depth)
    i32, b = (np.intp if xp is np else np.int32), _PIECE_BITS

    def per_mode(value_above, value_below):  # a parameter of the upper arm
        return xp.where(above, i32(value_above), i32(value_below))

    def first(arm):  # row = first_row + (o_in − o_lo) 2^b + m = piece + (o_in − octave) 2^b + this
        return arm.first_row - arm.o_lo * (1 << b)

    up_arm, down = tab.up, tab.down
    # below the target x = _X0 + |g − split| on either arm (x >= _X0 even where XLA rounds
    # copies of g differently: an FMA in one place and not in another); above it, x = g
    p = dict(depth=depth, c1=xp.where(above, 0.0, tab.split), c2=xp.where(above, 0.0, _X0),
             const_up=per_mode(first(tab.above), first(up_arm)), const_down=i32(first(down)),
             o_lo_up=per_mode(tab.above.o_lo, up_arm.o_lo), o_lo_down=i32(down.o_lo),
             o_hi_up=per_mode(tab.above.o_hi, up_arm.o_hi), o_hi_down=i32(down.o_hi),
             scale_up=per_mode(tab.above.first_scale, up_arm.first_scale),
             scale_down=i32(down.first_scale), split=True, tails=True)
    if xp is np and g0 is not None:
        above, g0 = np.broadcast_arrays(above, g0)
        below = ~above
        p["split"] = bool(np.any(below & ~(g0 >= tab.split)))
        down_tail = tab.split + _X0 - 2.0 ** (down.o_hi + 1)  # x beyond the down arm's octaves
        p["tails"] = bool(np.any(below & ~(g0 > down_tail))
                          or np.any(above & ~(g0 >= 2.0 ** tab.above.o_lo)))
    return p


def _W_at(g, p, xp):
    """`W(g)` from its per-mode part `p` (`_W_modes`).

    The coordinate x > 0 of the point's arm gives, through its bits, the octave o (exponent),
    the piece m (next `_PIECE_BITS` bits) and the local coordinate u ∈ [−1, 1) (the remaining
    mantissa bits); then w = scale · Σ_i c_i u^i, with the coefficients of the row (o, m).
    A NaN `g` gives NaN.
    """
    D = p["depth"]
    dtype = g.dtype
    finfo = np.finfo(dtype)
    itype = np.int64 if finfo.bits == 64 else np.int32
    i32 = np.intp if xp is np else np.int32  # (numpy indexes with intp without a conversion)
    mant, bias, b = finfo.nmant, finfo.maxexp - 1, _PIECE_BITS
    d = g - p["c1"]
    up = d >= 0.0  # (above the target g > 0 = c1: the upper arm)
    x = xp.abs(d) + p["c2"]
    if p["tails"]:  # (x = 0 for g = 0 above the target, an infinite w)
        x = xp.maximum(x, finfo.tiny)
    bits = _bitcast(x, itype, xp)
    # Index arithmetic in int32; every index is in range: the octave is clipped into the arm's,
    # and the tail tables cover every exponent (NaN and inf included).
    piece = (bits >> (mant - b)).astype(i32, copy=False) - i32(bias << b)  # octave 2^b + m

    def arm(name):
        return xp.where(up, p[name + "_up"], p[name + "_down"]) if p["split"] else p[name + "_up"]

    row = piece + arm("const")
    scale = None
    if p["tails"]:
        octave = piece >> b
        o_in = xp.clip(octave, arm("o_lo"), arm("o_hi"))
        row = row + (o_in - octave) * i32(1 << b)
        k = xp.abs(octave - o_in)  # octaves beyond the table (self-similar tails)
        scale = _gather(_scale_table(D, dtype, xp), arm("scale") + k, xp)
    # u = 2t − 1 for the fraction t ∈ [0, 1) of the piece: the float 2(1 + t) minus 3.
    low = (bits & ((1 << (mant - b)) - 1)) << b
    u = _bitcast(low | (bias + 1) << mant, dtype, xp) - 3.0
    if xp is not np:
        u = u + (x - x)  # (NaN stays NaN)
    coef = _coef_table(D, dtype, xp)
    poly = _gather(coef[-1], row, xp)
    for i in range(coef.shape[0] - 2, -1, -1):
        if xp is np:  # (in place)
            poly *= u
            poly += coef[i][row]
        else:
            poly = poly * u + _gather(coef[i], row, xp)
    return poly if scale is None else scale * poly


def _coef_table(depth, dtype, xp):
    coef = _table(depth).coef
    return coef if xp is np and coef.dtype == dtype else xp.asarray(coef, dtype)


def _scale_table(depth, dtype, xp):
    scale = np.minimum(_table(depth).scale, np.finfo(dtype).max)  # (float32: no inf)
    return xp.asarray(scale.astype(dtype))


def _bitcast(x, dtype, xp):
    if xp is np:
        return x.view(dtype)
    return jax.lax.bitcast_convert_type(x, dtype)


def _gather(table, index, xp=jnp):
    """`table[index]` for indices known to be in range (jax: unsigned, so no wrap-around of
    negative indices to compute, and promised in bounds: no clamping)."""
    if xp is np:
        return table[index]
    return table.at[index.astype(jnp.uint32)].get(mode="promise_in_bounds")


def _materialized(x):
    """`x`, computed once: XLA fuses chains of cheap elementwise operations into their consumers
    even across a broadcast, so per-mode work (G's series: 200 operations) would be redone for
    every time of a (T, K) result. It never duplicates an expensive operation such as a division,
    so end the chain with an exact one. (`lax.optimization_barrier` is dropped on CPU.)"""
    return x / jnp.sign(jnp.abs(x) + 1.0)


@functools.partial(jax.jit, static_argnums=(2, 3))  # (one compilation per shape, called eagerly)
def _deep_table(tau, w0, depth, tails=True):
    """`w(τ) = W(G(w0) + τ)` for broadcastable `tau >= 0`, `w0 >= 0`.

    `G(w0)` is computed at the shape of `w0` (once per mode), `W` at the broadcast shape. The fixed
    points `w0 = 0` and `w0 = 1`, and `τ = 0`, return `w0` exactly; `G(w0) + τ >= c_D + 40`
    returns exactly 1; `w` never crosses 1 nor moves away from it. `tails=False` (a caller that
    knows every `G(w0)` is past the table's self-similar tails) leaves their evaluation out.
    """
    D = depth
    tau, w0 = jnp.asarray(tau), jnp.asarray(w0)
    dtype = jnp.result_type(tau, w0, float)
    tau, w0 = tau.astype(dtype), w0.astype(dtype)
    g0 = _G_start(w0, D, jnp)
    w_modes = _W_modes(w0 > 1.0, D, jnp)
    w_modes["tails"] = tails
    w = _from_start(tau, w0, _materialized(g0), w_modes, jnp)
    return jnp.where(tau == 0.0, w0, w)


def _G_start(w0, depth, xp):
    """`G(w0)` for a start `w0 >= 0` (any value at the fixed points 0 and 1; NaN for w0 < 0,
    not a valid start at depth >= 2)."""
    fixed_point = (w0 == 0.0) | (w0 == 1.0)
    g0 = _G_direct(xp.where(fixed_point | (w0 < 0.0), 0.5, w0), depth, xp)
    return xp.where(w0 < 0.0, np.nan, g0)


def _from_start(tau, w0, g0, w_modes, xp):
    """`w = W(g0 + τ)` (`_deep_table`) from the per-mode `w0`, `g0 = G(w0)` and `W`'s part."""
    g_max = _table(w_modes["depth"]).g_max
    g = xp.minimum(g0 + tau, g_max)  # (NaN stays NaN)
    w = _W_at(g, w_modes, xp)
    # w moves from w0 towards 1 and never crosses it (nor, by rounding, steps back past w0)
    above = w0 > 1.0
    low, high = xp.where(above, 1.0, w0), xp.where(above, w0, 1.0)
    fixed_point = (w0 == 0.0) | (w0 == 1.0)
    if xp is np:  # (the same, in place)
        np.minimum(np.maximum(w, low, out=w), high, out=w)
        np.copyto(w, 1.0, where=g >= g_max)
        if fixed_point.any():
            np.copyto(w, w0, where=fixed_point)
        return w
    w = jnp.where(g >= g_max, 1.0, jnp.minimum(jnp.maximum(w, low), high))
    return jnp.where(fixed_point, w0, w)


def _implicit_jvp(solve):
    """`solve(τ, w0, depth)` with derivatives from the implicit function theorem on
    G(w) = G(w0) + τ (none flow through the solver's internals)."""
    solve = jax.custom_jvp(solve, nondiff_argnums=(2,))

    @solve.defjvp
    def _jvp(depth, primals, tangents):
        tau, w0 = primals
        dtau, dw0 = tangents
        w = solve(tau, w0, depth)
        # dw = f(w) (dτ + dw0 / f(w0)), f = w^p (1−w).
        f_w, f_w0 = _velocity(w, depth), _velocity(w0, depth)
        degenerate = f_w0 == 0.0
        ratio = f_w / jnp.where(degenerate, 1.0, f_w0)
        # Fixed points: w0 = 1 is attracting (dw/dw0 = e^{−τ}); w0 = 0 is marginal (dw/dw0 = 1).
        ratio = jnp.where(degenerate, jnp.where(w0 == 1.0, jnp.exp(-tau), 1.0), ratio)
        return w, f_w * dtau + ratio * dw0

    return solve


_deep = _implicit_jvp(lambda tau, w0, depth: _deep_table(tau, w0, depth))
_deep_untailed = _implicit_jvp(lambda tau, w0, depth: _deep_table(tau, w0, depth, False))


# The reference: safeguarded Newton on G(y) = G(w0) + τ, per time (slower; used by the tests).
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


@functools.partial(jax.jit, static_argnums=2)
def _newton_solve(tau, w0, depth):
    """Invert τ = G(w) − G(w0) by Newton in y, where G is monotone and concave or convex, so
    Newton converges monotonically from the side where it is clamped (the side of w0)."""
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


_deep_newton = _implicit_jvp(_newton_solve)


# ------------------------------------------------------------------------------ physical units
def _split(s, lam):
    """Masks and safe values for active modes (s > 0) and resting modes (s = 0)."""
    active = s > 0
    s_safe = jnp.where(active, s, 1.0)
    lam_safe = jnp.where(active & (lam > 0), lam, 1.0)
    return active, s_safe, lam_safe


def trajectory(t, s, lam, u0, depth: int, *, weight_decay=0.0):
    """Mode strengths `u(t)` of `du/dt = D u^{2−2/D}(s − λu)`, broadcast over all arguments.

    Typical use: `t` of shape `(T, 1)` and `s`, `lam`, `u0` of shape `(K,)` give `(T, K)`.

    Uniformly accurate in `s ≥ 0`, continuous onto the decay of `s = 0` (and exact to rounding
    there), for any `u0 ≥ 0` against the target `s/λ`, and any `t ≥ 0`; `t = 0` returns `u0`
    exactly. Depths 1 and 2 are written in physical units as sums of non-negative terms:

    - `D = 1`: `u = u0 e^{−λt} + (s/λ)(1 − e^{−λt})` (`_exponential`);
    - `D = 2`: `1/u` obeys a linear equation, `u = u0 / (e^{−2st} + (λu0/s)(1 − e^{−2st}))`
      (`_logistic`; both continue to first order in `s` or `λ` where the ratio leaves the
      float range, `s = 0` included);

    depth `D ≥ 3` uses the normalised solution `w = W(G(w0) + κt)` (`u = (s/λ) w`), except where
    the mode is far above its target at time `t` (`w > 2^60`, e.g. `s → 0`): there the implicit
    solution equals the decay of `s = 0`, `u = u0 (1 + (2D−2) λ u0^{2−2/D} t)^{−D/(2D−2)}`, to a
    relative `O(1/w)` below rounding (`u` lies between that decay and `(1 + O(1/w))` times it).

    `weight_decay = γ >= 0` (a scalar, or broadcastable per mode) adds the L2 penalty
    `½γ Σ_l ||W_l||²` to the loss, so the mode obeys `du/dt = D u^{2−2/D}(s − λu) − Dγu`; see
    `_trajectory_decayed` (closed forms at depth 1 and 2, an integration at depth ≥ 3). A
    `γ` that is statically 0 (the default) takes exactly the code path above.
    """
    if not _static_zero(weight_decay):
        return _trajectory_decayed(t, s, lam, u0, depth, weight_decay)
    D = depth
    s, lam, u0 = jnp.broadcast_arrays(s, lam, u0)  # per-mode quantities stay at this shape
    dtype = jnp.result_type(t, s, lam, u0, float)
    t, s, lam, u0 = (jnp.asarray(a, dtype) for a in (t, s, lam, u0))
    shape = jnp.broadcast_shapes(t.shape, s.shape)
    if D <= 2:  # (exact at t = 0 as written)
        u = _closed_form(s, lam, u0, D)(t)
    else:
        u = _deep_trajectory(t, s, lam, u0, D)  # (made exact at t = 0 inside)
    return jnp.broadcast_to(u, shape).astype(dtype)


def _exponential(t, s, k, u0, xp=jnp):
    """Depth 1: `du/dt = s − k u` (`k = λ`, or `λ + γ` with weight decay),

        u = u0 e^{−kt} + (s/k)(1 − e^{−kt}),

    a sum of terms of the signs of `u0` and `s`, with `e^{−kt}` and `1 − e^{−kt}` from one
    evaluation (`_exp_expm1`) and the target `s/k` once per mode (`_exponential_modes`). Where
    `s/k` would leave the float range (`k = 0` included: `u = u0 + s t`) the expansion to first
    order in `k`, `u = u0 + s t − k t (u0 + s t/2)`, is exact to rounding and keeps `∂u/∂k`.
    Exact at `t = 0`. `xp`: jax.numpy, or numpy for concrete eager calls."""
    return _exponential_at(t, _exponential_modes(s, k, u0, xp), xp)


def _exponential_modes(s, k, u0, xp, branches=None):
    """The per-mode part of `_exponential` (`branches`: see `_maybe`)."""
    flat = k * 1e300 <= xp.abs(s)
    return dict(s=s, k=k, u0=u0, rate=-k, target=s / xp.where(flat, 1.0, k), flat=flat,
                any_flat=_maybe(flat, xp, "flat", branches))


def _exponential_at(t, c, xp):
    """`_exponential` at times `t` from its per-mode part `c`."""
    e, m = _exp_expm1(t * c["rate"], xp)
    u = c["u0"] * e - c["target"] * m
    if c["any_flat"]:
        st = c["s"] * t
        u = xp.where(c["flat"], c["u0"] + st - c["k"] * t * (c["u0"] + 0.5 * st), u)
    return u


def _logistic(t, r, lam, u0, xp=jnp):
    """Depth 2: `du/dt = 2u(r − λu)` (`r = s`, or `s − γ` with weight decay). `1/u` obeys the
    linear ODE `d(1/u)/dt = −2r/u + 2λ`: with `x = 2|r|t`, `c = λu0/|r|` (once per mode,
    `_logistic_modes`),

    - `r > 0`: `u = u0 / (e^{−x} + c (1 − e^{−x}))`,
    - `r < 0` (a lost mode): `u = u0 e^{−x} / (1 + c (1 − e^{−x}))`,
    - `r = 0`, or `c` beyond the float range: to first order in `r` (exact to rounding there,
      and keeping `∂u/∂r`), `u = u0 / (1 + 2λu0 t − 2rt (1 + λu0 t))`;

    ratios of non-negative terms (no cancellation, no overflow), with `e^{−x}` and `1 − e^{−x}`
    from one evaluation (`_exp_expm1`). Exact at `t = 0`; `u0 = 0` stays 0. `xp`: jax.numpy,
    or numpy for concrete eager calls."""
    return _logistic_at(t, _logistic_modes(r, lam, u0, xp), xp)


def _logistic_modes(r, lam, u0, xp, branches=None):
    """The per-mode part of `_logistic` (`branches`: see `_maybe`)."""
    a = xp.abs(r)
    b = lam * u0
    flat = a * 1e300 <= b
    lost = r < 0.0
    nothing = b == 0.0  # u0 = 0 (a fixed point), or λ = 0 (then r <= 0: u = u0 e^{−x})
    return dict(r=r, u0=u0, b=b, rate=-2.0 * a, c=b / xp.where(flat, 1.0, a), flat=flat,
                lost=lost, nothing=nothing, any_flat=_maybe(flat, xp, "flat", branches),
                any_lost=_maybe(lost, xp, "lost", branches),
                any_nothing=_maybe(nothing, xp, "nothing", branches))


def _logistic_at(t, c, xp):
    """`_logistic` at times `t` from its per-mode part `c`."""
    e, m = _exp_expm1(t * c["rate"], xp)
    num, den = c["u0"], e - c["c"] * m
    if c["any_lost"]:
        num = xp.where(c["lost"], c["u0"] * e, num)
        den = xp.where(c["lost"], 1.0 - c["c"] * m, den)
    if c["any_flat"]:
        bt = c["b"] * t
        den = xp.where(c["flat"], 1.0 + 2.0 * bt - 2.0 * c["r"] * t * (1.0 + bt), den)
    if c["any_nothing"]:
        den = xp.where(c["nothing"], 1.0, den)  # (e^{−x} may underflow to 0 where u0 = 0)
    return num / den


def _closed_form(s, lam, u0, depth: int, weight_decay=None, xp=jnp, branches=None):
    """`trajectory(t, s, lam, u0, depth, weight_decay=...)` at depth 1 or 2 as a function of
    `t` (e.g. `(T, 1)`), the per-mode part computed here once (`_exponential`, `_logistic`):
    with jax, or with numpy (`xp`; concrete float64 input) for small eager calls (`dln.solve`),
    without jax's cost per operation. Both give `u0` at `t = 0` exactly. `branches`: see
    `_maybe` (and `_branches`)."""
    if depth == 1:
        k = lam if weight_decay is None else lam + weight_decay
        return functools.partial(_exponential_at, c=_exponential_modes(s, k, u0, xp, branches),
                                 xp=xp)
    r = s if weight_decay is None else s - weight_decay
    return functools.partial(_logistic_at, c=_logistic_modes(r, lam, u0, xp, branches), xp=xp)


def _branches(closed_form) -> frozenset:
    """The branches a numpy `_closed_form` includes (those some mode needs), to pass to jax's."""
    c = closed_form.keywords["c"]
    return frozenset(key[4:] for key, value in c.items() if key.startswith("any_") and value)


def _maybe(mask, xp, name, branches) -> bool:
    """Whether the branch `name` selected by the per-mode `mask` may be needed: with numpy,
    where some mode's is set; under jax, all are (one traced program for all values) unless
    the caller knows the values and names those needed in `branches` (a frozenset, from the
    numpy evaluation's, e.g. `dln.solve` on a concrete task: one compilation per set)."""
    if xp is np:
        return bool(mask.any())
    return branches is None or name in branches


def _exp_expm1(y, xp=jnp):
    """`(e^y, e^y − 1)` for `y <= 0`, both to a few ulp (the second without cancellation).

    numpy: `np.exp` and `np.expm1`. jax (float64): both from one range reduction, at about the
    cost of one `exp` (XLA's `expm1` costs two): `y = k ln2 + r`, `|r| <= ln2/2` (Cody–Waite,
    `ln 2` in two parts), `p = e^r − 1` by its Taylor series to `r^13/13!` (truncation below
    `2^{−60}` relative), then `e^y = 2^k (1 + p)` and `e^y − 1 = 2^k p + (2^k − 1)`, `2^k` built
    from its bits in two factors (down to `y = −1100`, below which `e^y` is 0). Derivatives:
    both are `e^y` (custom JVP). Other dtypes: `exp` and `expm1`.
    """
    if xp is np:
        return np.exp(y), np.expm1(y)
    y = jnp.asarray(y)
    if y.dtype != jnp.float64:
        return jnp.exp(y), jnp.expm1(y)
    return _exp_expm1_f64(y)


_LN2_HI = 6.93147180369123816490e-01  # ln 2 = _LN2_HI + _LN2_LO; k _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_EXPM1_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(2, 14))  # 1/2!, …, 1/13!


@jax.custom_jvp
def _exp_expm1_f64(y):
    y = jnp.maximum(y, -1100.0)  # (NaN stays NaN)
    kf = jnp.round(y * (1.0 / math.log(2.0)))
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    acc = jnp.full_like(r, _EXPM1_TAYLOR[-1])
    for coef in _EXPM1_TAYLOR[-2::-1]:
        acc = acc * r + coef
    p = r + (r * r) * acc  # e^r − 1
    k = kf.astype(jnp.int64)
    half = k >> 1  # 2^k = 2^half 2^(k − half), each factor a normal float for k >= −2046

    def power_of_two(n):
        return jax.lax.bitcast_convert_type((n + 1023) << 52, jnp.float64)

    a, b = power_of_two(half), power_of_two(k - half)
    scale = a * b
    return a * (b * (1.0 + p)), scale * p + (scale - 1.0)


@_exp_expm1_f64.defjvp
def _exp_expm1_f64_jvp(primals, tangents):
    (y,), (dy,) = primals, tangents
    e, m = _exp_expm1_f64(y)
    return (e, m), (e * dy, e * dy)


def _exact_start(t, u0, u):
    """`u` with `t = 0` giving `u0` exactly, whatever the rounding of the formulas; derivatives
    stay those of the formula (d/dt at t = 0 is the velocity, d/du0 is 1)."""
    u0 = jnp.broadcast_to(u0, u.shape)
    slope = jnp.where(jnp.isfinite(u), u - jax.lax.stop_gradient(u), 0.0)
    return jnp.where(t == 0.0, jax.lax.stop_gradient(u0) + slope, u)


def _decay_time(x, t):
    """`t φ(x) = t (1 − e^{−x})/x` for `x = r t >= 0` (any rate `r >= 0`): `t` at `x = 0`, and
    `(1 − e^{−x})/r` as `x → ∞`; no cancellation and no 0/0 anywhere."""
    small = x < 1e-8
    x_safe = jnp.where(small, 1.0, x)
    phi = jnp.where(small, 1.0 - 0.5 * x, -jnp.expm1(-x_safe) / x_safe)
    return t * phi


# Past w = 2^_FAR the implicit solution above the target is the s = 0 decay to rounding.
_FAR = 60.0


def _deep_trajectory(t, s, lam, u0, D, branches=None):
    """Depth `D >= 3`: `u = (s/λ) W(G(w0) + κt)`, or the `s = 0` decay where `w > 2^_FAR`
    (`_deep_modes`); exact at `t = 0`. Where no mode needs the decay (`t_far <= 0` for all), it
    is not evaluated (a `lax.cond`: its power per entry would cost more than the rest).
    `branches`: None, or the parts some mode needs, known from the values (`_deep_np`):
    `"decay"`, and `"tails"` (of `W`'s table), evaluated only if named."""
    c = _deep_modes(s, lam, u0, D, jnp)
    t_far, kappa, w0 = c["t_far"], c["kappa"], c["w0"]
    shape = jnp.broadcast_shapes(jnp.shape(t), jnp.shape(s))
    deep = _deep if branches is None or "tails" in branches else _deep_untailed

    def learning(tau):
        return c["target"] * jnp.broadcast_to(deep(tau, w0, D), shape)

    def with_decay():
        far = t < t_far
        return _exact_start(t, u0, jnp.where(far, _deep_decay(t, c, jnp),
                                             learning(jnp.where(far, 0.0, kappa * t))))

    def without_decay():
        return _exact_start(t, u0, jnp.broadcast_to(learning(kappa * t), shape))

    # (exact at t = 0 inside each branch: one pass over the result)
    if branches is not None:
        return with_decay() if "decay" in branches else without_decay()
    return jax.lax.cond(jnp.any(t_far > 0.0), with_decay, without_decay)


def _deep_modes(s, lam, u0, D, xp):
    """The per-mode part of `_deep_trajectory` (jax or numpy): the target `s/λ`, the rate `κ`,
    `w0 = λu0/s`, and the decay `u0 (1 + (2D−2) λ u0^p t)^{−1/p}` (`p = 2 − 2/D`) of a mode far
    above its target, which reaches `w = 2^_FAR` at `t_far = ((u0/u_far)^p − 1)/((2D−2) λ u0^p)`,
    `u_far = 2^_FAR s/λ` (`inf` for `s = 0`; `<= 0` for a mode that starts below `u_far`): the
    solution is that decay before `t_far`, to a relative `O(1/w)` below rounding."""
    p = 2.0 - 2.0 / D
    lam_safe = xp.where(lam > 0.0, lam, 1.0)
    positive = u0 > 0.0
    u0_safe = xp.where(positive, u0, 1.0)  # (keeps unused branches finite under grad)
    active = s > 0.0
    s_safe = xp.where(active, s, 1.0)
    slope = (2.0 * D - 2.0) * lam * u0_safe ** p  # the decay: (u/u0)^{−p} = 1 + slope t
    # far above the target (s → 0 included) until t_far, found without dividing by s
    u_far = 2.0 ** _FAR * s_safe / lam_safe
    ratio = xp.where(positive & (u0_safe > u_far), u0_safe / u_far, 1.0)
    t_far = xp.where(active, xp.expm1(p * xp.log(ratio)) / xp.where(slope > 0.0, slope, 1.0),
                     np.inf)
    materialized = _materialized if xp is not np else (lambda x: x)
    return dict(
        u0=u0, u0_safe=u0_safe, positive=positive, slope=slope, p=p, t_far=t_far,
        target=materialized(s_safe / lam_safe),
        kappa=materialized(rate(s_safe, lam_safe, D)),  # (computed once per mode)
        # w0 = u0 λ/s as a product: under vmap over u0, XLA turns a division by an unbatched
        # array into a product with its reciprocal, and batched and single results would differ
        # by an ulp. Clipped: G(w0) for w0 > 1e300 is 0 to rounding next to any g the table
        # path is used for.
        w0=xp.where(active, xp.minimum(u0 * (lam_safe / s_safe), 1e300), 0.5))


def _deep_decay(t, c, xp):
    """The decay of `_deep_modes` at times `t`."""
    return xp.where(c["positive"], c["u0_safe"] * (1.0 + c["slope"] * t) ** (-1.0 / c["p"]), 0.0)


def _deep_np(s, lam, u0, depth: int):
    """`trajectory(t, s, lam, u0, depth)` at depth >= 3 with numpy (concrete float64 input), as
    a function of `t` `(T, 1)`: the per-mode part (`_deep_modes`, `G(w0)`, `W`'s) computed here
    once, then the same formulas as jax's (`_from_start`, `_W_at`) without jax's cost per
    operation, for small eager calls (`dln.solve`). `u0` at `t = 0` exactly. Returns that
    function, the largest rate a time multiplies (`κ`, and the decay's) and the `branches` of
    `_deep_trajectory` these modes need (judged with a margin: jax's `G(w0)` may differ by an
    ulp)."""
    # (modes along the first axis: numpy's loops then run along the times, the longer axis)
    c = _deep_modes(s[:, None], lam[:, None], u0[:, None], depth, np)
    w0 = c["w0"]
    g0 = _G_start(w0, depth, np)
    w_modes = _W_modes(w0 > 1.0, depth, np, g0)
    decays = bool(np.any(c["t_far"] > 0.0))

    def at(t):
        t = t.T
        u = _from_start(t * c["kappa"], w0, g0, w_modes, np)
        u *= c["target"]
        if decays:
            u = np.where(t < c["t_far"], _deep_decay(t, c, np), u)
        start = t[0] == 0.0
        if start.any():
            u[:, start] = c["u0"]
        return u.T

    tab = _table(depth)
    below = w0 <= 1.0  # (the fixed point 1 included)
    tails = (np.any(below & ~(g0 > 0.5 * (tab.split + _X0 - 2.0 ** (tab.down.o_hi + 1))))
             or np.any(~below & ~(g0 >= 2.0 ** (tab.above.o_lo + 1))))
    branches = frozenset(name for name, needed in (("decay", decays), ("tails", tails)) if needed)
    return at, float(max(c["kappa"].max(), c["slope"].max())), branches


# `trajectory` compiled once per depth and shape for every eager caller (`dln.solve`,
# `dln.biases`): the Newton solver's loop would otherwise be re-traced on every call, and two
# separate `jax.jit` wrappers would compile the same function twice.
jit_trajectory = jax.jit(trajectory, static_argnames="depth")


def time_to_fraction(fraction, s, lam, u0, depth: int):
    """Exact flow time at which each mode first reaches `fraction` of its target `s/λ`.

    For `fraction < 1`: the first `t` with `u(t) >= fraction·s/λ`; for `fraction > 1` (a mode
    approaching from above): the first `t` with `u(t) <= fraction·s/λ`. So a mode that starts
    there or beyond gives 0, and one that never gets there gives `inf` (`fraction = 1` unless it
    starts at the target, modes with `s = 0`, and `u0 = 0` at `depth >= 2`, a fixed point).
    """
    D = depth
    f, s, lam, u0 = jnp.broadcast_arrays(jnp.asarray(fraction, dtype=jnp.result_type(float)),
                                         s, lam, u0)
    active, s_safe, lam_safe = _split(s, lam)
    w0 = u0 * lam_safe / s_safe
    there = active & (((f < 1.0) & (w0 >= f)) | ((f > 1.0) & (w0 <= f)) | (w0 == f))
    reachable = active & ~there & (f != 1.0)
    if D >= 2:
        reachable = reachable & (w0 > 0)
    f_ok = jnp.where(reachable, f, 0.5)
    w0_ok = jnp.where(reachable, w0, 0.25)
    # ln((1 − w0)/(1 − f)) written without cancellation when w0 and f are close
    log_gap_ratio = jnp.log1p((f_ok - w0_ok) / (1.0 - f_ok))
    if D == 1:
        tau = log_gap_ratio
    elif D == 2:
        tau = jnp.log(f_ok / w0_ok) + log_gap_ratio
    else:
        tau = G_of_w(f_ok, D) - G_of_w(w0_ok, D)
    t = tau / rate(s_safe, lam_safe, D)
    return jnp.where(reachable, t, jnp.where(there, 0.0, jnp.inf))


# ------------------------------------------------------------------------------- weight decay
# With the L2 penalty ½γ Σ_l ||W_l||² the flow is dW_l/dt = −∂L/∂W_l − γ W_l; balanced aligned
# layers stay balanced (the imbalances decay like e^{−2γt}) and each mode obeys
#
#     du/dt = D u^{2−2/D}(s − λu) − Dγu = D u [h(u) − γ],   h(u) = u^{1−2/D}(s − λu)
#
# (derivations/weight_decay.py). Depth 1: du/dt = s − (λ+γ)u. Depth 2: the logistic of s − γ.
# Depth D ≥ 3: the origin is stable (in ln u it attracts at the rate Dγ); the nonzero fixed
# points solve h(u) = γ: the smaller is the threshold (unstable), the larger the target (stable),
# and there are none once γ exceeds max h = h(u_m), u_m = (D−2)s/((2D−2)λ).

def _static_zero(gamma) -> bool:
    """True when `gamma` is known (not traced) to be 0 everywhere; a concrete negative or
    non-finite `gamma` raises."""
    try:
        g = np.asarray(gamma)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False
    if g.dtype == object or not np.all(np.isfinite(g)) or np.any(g < 0):
        raise ValueError(f"`weight_decay` must be finite and >= 0, got {gamma!r}.")
    return not np.any(g)


def _static_positive(gamma) -> bool:
    """True when `gamma` is known (not traced) to be > 0 everywhere."""
    try:
        return bool(np.all(np.asarray(gamma) > 0))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False


def _trajectory_decayed(t, s, lam, u0, depth, gamma):
    """`trajectory(t, s, lam, u0, depth, weight_decay=gamma)`: `du/dt = D u^{2−2/D}(s − λu) − Dγu`.

    - `D = 1`: `du/dt = s − (λ+γ)u`, `_exponential` with `λ → λ + γ`, target `s/(λ+γ)`.
    - `D = 2`: `du/dt = 2u(r − λu)`, `r = s − γ`: `_logistic` with `s → r` (a mode with
      `r < 0` is lost; `r = 0` decays algebraically, `u0 / (1 + 2λu0 t)`).
    - `D >= 3`: no closed form; `_decayed_deep` integrates it (modes with `γ = 0` take the exact
      solution, so that a traced `γ` that is 0 gives the same numbers as no weight decay).

    `t = 0` returns `u0` exactly.
    """
    D = depth
    s, lam, u0, gamma = jnp.broadcast_arrays(s, lam, u0, gamma)
    dtype = jnp.result_type(t, s, lam, u0, gamma, float)
    t, s, lam, u0, gamma = (jnp.asarray(a, dtype) for a in (t, s, lam, u0, gamma))
    shape = jnp.broadcast_shapes(t.shape, s.shape)
    if D <= 2:
        u = _closed_form(s, lam, u0, D, gamma)(t)
    else:
        u = _decayed_deep(t, s, lam, u0, gamma, D)
        if not _static_positive(gamma):
            u = jnp.where(gamma == 0.0, trajectory(t, s, lam, u0, D), u)
    return _exact_start(t, u0, jnp.broadcast_to(u, shape).astype(dtype))


# The integration of the deep mode ODE with weight decay (in y = ln u).
_WD_TOL = 1e-12  # error allowance per step in ln u: 1e-12 (1 + |ln u|), i.e. relative in u
_WD_MAX_STEPS = 4096  # per mode; a mode that needs more gives NaN


def _log_velocity(y, s, lam, gamma, depth):
    """`d ln u/dt = D [u^{1−2/D}(s − λu) − γ]` at `u = e^y`."""
    return depth * (jnp.exp((1.0 - 2.0 / depth) * y) * (s - lam * jnp.exp(y)) - gamma)


def _expm1_ratio(v):
    """`(e^v − 1)/v`, 1 at `v = 0`, without cancellation."""
    small = jnp.abs(v) < 1e-8
    v_safe = jnp.where(small, 1.0, v)
    return jnp.where(small, 1.0 + 0.5 * v, jnp.expm1(v_safe) / v_safe)


def _integrate_log_mode(y0, ts, s, lam, gamma, depth, y_star, learned):
    """`ln u` of one mode at the sorted times `ts >= 0` (repeats allowed), and a failure flag.

    A mode that is learned from below its stable point `u*` (started between the threshold and
    `u*`) is integrated in `x = ln|y − y*|`, the log-distance to `y* = ln u*`:
    `dx/dt = (g(y) − g(y*))/(y − y*)`, written with `expm1` so that it stays exact as `y → y*`,
    tends to the constant `g'(y*) < 0`, and steps grow without bound once the mode has settled
    (in `y` itself they would be held to the stability limit of the explicit method). A mode
    that comes down to `u*` from above is integrated in `x = ln(v* − v)`, `v = u^{−q}`,
    `q = 2 − 2/D`, where `dv/dt = qD(λ + γv − s v^{1/q})` has no stiffness however large `u0`
    (in `ln u` its first steps would be as short as `u0^{−q}`):
    `dx/dt = qD(γ − s v*^{1/q−1} expm1(r/q)/expm1(r))`, `r = ln(v/v*)`. Far above `u*` the state
    holds `v` to an absolute `ε v*`, so `u` is accurate to about `ε (u/u*)^q` relative there
    (1e-8 at `u = 10⁴ u*`, D = 3), and to rounding once near `u*`; beyond `w = 2^60` the closed
    form of `_decayed_deep` takes over. A lost mode is integrated in `y`, where `dy/dt → −Dγ`
    as it decays.
    """
    D = depth
    p, q = 1.0 - 2.0 / D, 2.0 - 2.0 / D
    gap0 = y0 - y_star
    settled = learned & (gap0 == 0.0)
    above = learned & (gap0 > 0.0)
    below = learned & (gap0 < 0.0)
    log_v_star = -q * y_star
    x0 = jnp.where(below, jnp.log(jnp.where(below, -gap0, 1.0)), y0)
    x0 = jnp.where(above, log_v_star + jnp.log(-jnp.expm1(-q * jnp.where(above, gap0, 1.0))), x0)
    a, b = s * jnp.exp(p * y_star), lam * jnp.exp((p + 1.0) * y_star)
    c = s * jnp.exp(log_v_star * (1.0 / q - 1.0))

    def field(x):
        gap = -jnp.exp(jnp.minimum(x, 700.0))  # (below: y − y* < 0)
        up = D * (a * p * _expm1_ratio(p * gap) - b * (p + 1.0) * _expm1_ratio((p + 1.0) * gap))
        x_above = jnp.where(above, x, log_v_star - 1.0)  # (other branches: no NaN under grad)
        r = jnp.log1p(-jnp.minimum(jnp.exp(x_above - log_v_star), 1.0 - 2.0**-53))  # ln(v/v*)
        r_safe = jnp.where(r < 0.0, r, -1.0)
        ratio = jnp.where(r < -1e-8, jnp.expm1(r_safe / q) / jnp.expm1(r_safe), 1.0 / q)
        down = q * D * (gamma - c * ratio)
        return jnp.where(above, down, jnp.where(below, up, _log_velocity(x, s, lam, gamma, D)))

    recs, _, _, failed = _ode.integrate(lambda x: field(x[0])[None], x0[None], ts,
                                        _ode.rms_scale(_WD_TOL, _WD_TOL), _WD_MAX_STEPS)
    xs = recs[:, 0]
    ys = jnp.where(below, y_star - jnp.exp(xs), xs)
    xs_above = jnp.where(above, xs, log_v_star - 1.0)
    r = jnp.log1p(-jnp.minimum(jnp.exp(xs_above - log_v_star), 1.0 - 2.0**-53))
    ys = jnp.where(above, y_star - r / q, ys)
    ys = jnp.where(settled, y_star, ys)
    return ys, failed


def _decayed_deep(t, s, lam, u0, gamma, depth):
    """Depth `D >= 3` with weight decay: `du/dt = D u [u^{1−2/D}(s − λu) − γ]`, integrated.

    No closed form: each mode's ODE is integrated in `y = ln u`, where it reads
    `dy/dt = D [e^{(1−2/D)y}(s − λe^y) − γ]` — smooth at every scale of `u`, and exactly linear
    as a lost mode decays to 0 (`dy/dt → −Dγ`). `dln._ode` (diffrax's Dopri8, PID control) at
    an allowance of `1e-12 (1 + |y|)` per step (so the error is relative in `u`), steps clipped
    to land on the record times (records are step ends, not interpolations); one integration
    per mode (vmapped) through all the distinct times, sorted. Arguments broadcast as in
    `trajectory`; every mode is integrated over all of `t`, so give `t` and the modes separate
    axes (e.g. `(T, 1)` and `(K,)`). `u0 = 0` is a fixed point. Differentiable in both modes
    (`dln._ode`: "discretise then differentiate"); `d/dt` is the velocity
    `du/dt` at the computed `u` exactly. A learned mode is integrated in its log-distance to
    the stable point (see `_integrate_log_mode`), so times far past saturation (1e300) cost a
    few steps; a mode that would need more than `_WD_MAX_STEPS` steps gives NaN (none is
    known).
    """
    D = depth
    s, lam, u0, gamma = jnp.broadcast_arrays(s, lam, u0, gamma)
    t = jnp.asarray(t)
    mode_shape, out_shape = s.shape, jnp.broadcast_shapes(t.shape, s.shape)
    ts = jax.lax.stop_gradient(t).ravel()
    order = jnp.argsort(ts)
    ts_sorted, inverse = ts[order], jnp.argsort(order)
    positive = u0 > 0.0
    u0_safe = jnp.where(positive, u0, 1.0)
    lam_safe = jnp.where(lam > 0.0, lam, 1.0)
    # Far above the target (w = λu/s > 2^_FAR) the s-term is below rounding and the mode obeys
    # du/dt = −D u (λ u^{2−2/D} + γ): v = u^{−(2−2/D)} is linear, v' = (2D−2)(λ + γ v), so
    # v(t) = v0 e^{x} + (2D−2) λ t φ(x), x = (2D−2)γt. A mode that starts there follows this
    # closed form until w = 2^_FAR, at t_far, and is integrated from there (stiff to integrate).
    p = 2.0 - 2.0 / D
    u_far = jnp.exp2(_FAR) * s / lam_safe
    start_far = positive & (u0 > u_far) & (s > 0.0)
    v0, v_far = u0_safe ** -p, jnp.where(start_far, u_far, 1.0) ** -p
    rate = (2.0 * D - 2.0) * gamma
    t_far = jnp.where(start_far, jnp.log1p((v_far - v0) / (v0 + lam_safe / gamma)) / rate, 0.0)
    y0 = jnp.where(start_far, jnp.log(jnp.where(start_far, u_far, 1.0)), jnp.log(u0_safe))
    # the fixed points: the threshold and the stable point, in y = ln u
    z_small, zeta, exists = _deep_roots(s, lam, gamma, D)
    log_target = jnp.log(jnp.where(s > 0.0, s, 1.0)) - jnp.log(lam_safe)
    y_threshold, y_star = log_target + z_small, log_target + jnp.log(-jnp.expm1(zeta))
    learned = exists & (y0 > y_threshold)

    def one(y0, s, lam, gamma, y_star, learned, t_far):
        times = jnp.maximum(ts_sorted - t_far, 0.0)  # (sorted still)
        ys, failed = _integrate_log_mode(y0, times, s, lam, gamma, D, y_star, learned)
        return jnp.where(failed, jnp.nan, ys)

    Y = jax.vmap(one)(*(a.ravel() for a in (y0, s, lam, gamma, y_star, learned, t_far)))
    Y = Y[:, inverse]
    m_idx = jnp.broadcast_to(jnp.arange(s.size).reshape(mode_shape), out_shape)
    t_idx = jnp.broadcast_to(jnp.arange(ts.size).reshape(t.shape), out_shape)
    y = Y[m_idx, t_idx]
    # before t_far: the closed form far above the target
    x = rate * t
    v = v0 * jnp.exp(x) + (2.0 * D - 2.0) * lam * _decay_time(x, t)
    y = jnp.where(start_far & (t < t_far), -jnp.log(v) / p, y)
    # d/dt exactly the velocity (the primal is unchanged: t − stop_gradient(t) = 0)
    y = y + _log_velocity(y, s, lam, gamma, D) * (t - jax.lax.stop_gradient(t))
    return jnp.where(positive, jnp.exp(y), 0.0)


def _deep_roots(s, lam, gamma, depth):
    """The nonzero fixed points of a depth-`D >= 3` mode with weight decay, in `w = λu/s`.

    They solve `h(w) = w^p (1 − w) = c` with `p = 1 − 2/D`, `c = γ λ^p / s^{1+p}`; `h` rises to
    its maximum `h_m = w_m^p/(1+p)` at `w_m = p/(1+p)` and falls back to 0 at `w = 1`. Each root
    is found as the zero of a function that is increasing and concave on its side of `w_m`:
    the smaller in `z = ln w`, `F = p z + ln(1 − e^z) − ln c`, the larger in `ζ = ln(1 − w)`,
    `F = ζ + p ln(1 − e^ζ) − ln c`. Newton from a point left of the root (`z = ln(c)/p`,
    `ζ = ln c`, where `F <= 0`) then climbs monotonically to it without overshooting.
    Returns `(ln w_small, ln(1 − w_large), exists)`; tiny `w` stay exact in the logarithm.
    """
    p = 1.0 - 2.0 / depth
    s, lam, gamma = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.result_type(a, float))
                                           for a in (s, lam, gamma)))
    ok = (s > 0.0) & (lam > 0.0) & (gamma > 0.0)
    log_c = jnp.where(ok, jnp.log(jnp.where(ok, gamma, 1.0)) + p * jnp.log(jnp.where(ok, lam, 1.0))
                      - (1.0 + p) * jnp.log(jnp.where(ok, s, 1.0)), -1.0)
    w_m = p / (1.0 + p)
    log_h_max = p * math.log(w_m) - math.log1p(p)
    exists = ok & (log_c <= log_h_max)
    log_c = jnp.where(exists, log_c, log_h_max - 1.0)

    def newton(x, alpha, beta, x_max):
        def step(_, x):
            e = jnp.exp(x)
            f = alpha * x + beta * jnp.log1p(-e) - log_c
            slope = alpha - beta * e / (1.0 - e)
            x_new = x - f / jnp.where(slope > 0.0, slope, 1.0)
            return jnp.where(slope > 0.0, jnp.minimum(x_new, x_max), x)
        return jax.lax.fori_loop(0, 100, step, x)

    z = newton(jnp.minimum(log_c / p, math.log(w_m)), p, 1.0, math.log(w_m))
    zeta = newton(jnp.minimum(log_c, math.log1p(-w_m)), 1.0, p, math.log1p(-w_m))
    return z, zeta, exists


def weight_decay_threshold(s, lam, gamma, depth: int):
    """The strength a mode must start above to be learned under weight decay `γ`.

    The unstable fixed point of `du/dt = D u^{2−2/D}(s − λu) − Dγu`: at depth `D >= 3` the
    smaller positive root of `u^{1−2/D}(s − λu) = γ` (`≈ (s/λ)(γλ^p/s^{1+p})^{1/p}`,
    `p = 1 − 2/D`, i.e. `≈ (γ/s)^{D/(D−2)}` for `λ = 1`, for small `γ`); a mode started below it
    decays to 0 however long it trains, one above it is learned to `weight_decay_target`. Where
    no mode can be learned it is `inf`: at depth `D >= 3` when `γ` exceeds the maximum of
    `u^{1−2/D}(s − λu)` (or `s = 0`), at depth 2 when `s <= γ` (the origin is then stable and
    there is no positive fixed point: every mode decays, algebraically at `s = γ`). Otherwise 0
    at depth 1 (every mode goes to `s/(λ+γ)`) and at depth 2 with `s > γ` (every `u0 > 0` is
    learned to `(s − γ)/λ`). `γ = 0` gives 0 (for `s > 0`). Broadcasts; `λ > 0`.
    """
    s, lam, gamma = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.result_type(a, float))
                                           for a in (s, lam, gamma)))
    if depth == 1:
        return jnp.zeros_like(s)
    if depth == 2:
        return jnp.where(s > gamma, 0.0, jnp.inf)
    z, _, exists = _deep_roots(s, lam, gamma, depth)
    lam_safe = jnp.where(lam > 0.0, lam, 1.0)
    root = s / lam_safe * jnp.exp(z)
    return jnp.where(exists, root, jnp.where((gamma == 0.0) & (s > 0.0), 0.0, jnp.inf))


def weight_decay_target(s, lam, gamma, depth: int):
    """The strength a learned mode settles at under weight decay `γ` (0 if none).

    The stable nonzero fixed point of `du/dt = D u^{2−2/D}(s − λu) − Dγu`: `s/(λ+γ)` at depth 1,
    `max(s − γ, 0)/λ` at depth 2, and at depth `D >= 3` the larger root of
    `u^{1−2/D}(s − λu) = γ` (`≈ (s − γ(λ/s)^{1−2/D})/λ` for small `γ`, always below `s/λ`), or 0
    where there is none (`γ` above the maximum of the left side: every mode is lost). Only modes
    started above `weight_decay_threshold` reach it. Broadcasts; `λ > 0`.
    """
    s, lam, gamma = jnp.broadcast_arrays(*(jnp.asarray(a, jnp.result_type(a, float))
                                           for a in (s, lam, gamma)))
    if depth == 1:
        return s / (lam + gamma)
    if depth == 2:
        return jnp.maximum(s - gamma, 0.0) / lam
    _, zeta, exists = _deep_roots(s, lam, gamma, depth)
    lam_safe = jnp.where(lam > 0.0, lam, 1.0)
    root = -(s / lam_safe) * jnp.expm1(zeta)
    return jnp.where(exists, root, jnp.where(gamma == 0.0, s / lam_safe, 0.0))
