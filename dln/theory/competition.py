"""Exact dynamics of competing pathways, piecewise through deficit windows.

Setting (Kleinman, Achille & Soatto 2024, arXiv:2308.12221; Shi, Shea-Brown & Buice 2022;
docs/theory/pathways.md). P pathways of depth D share the input and are summed at the output,
`ŷ = Σ_p Ω_p x`, `Ω_p = W^p_D ⋯ W^p_1`. From small, balanced weights aligned with the task's
modes (each pathway as in `dln.init.aligned`), the strength `K_{pα} = U[:,α]ᵀ Ω_p V[:,α]` of mode
α in pathway p obeys (flow time `t = lr × steps`)

    dK_p/dt = D K_p^{2−2/D} (s − λ Σ_q K_q)        (a plastic pathway),
    dK_p/dt = 0                                     (a frozen one),

with `s`, `λ` the mode's singular value and input variance: every pathway sees the same error.
Modes do not interact, so everything below is per mode (`derivations/pathways.py` derives it).

**The competition clock.** Divide by `D K_p^{2−2/D}`: the right side `e = s − λΣK` is the same
for all plastic pathways, so with `θ(t) = ∫ e dt` every plastic pathway satisfies
`φ(K_p(t)) = φ(K_p(0)) + θ(t)` for `φ' = 1/(D K^{2−2/D})`:

    D = 1:  K_p = K_p(0) + θ               (the differences K_a − K_b are conserved)
    D = 2:  K_p = K_p(0) e^{2θ}            (the ratios K_a / K_b are conserved)
    D ≥ 3:  K_p^{−(D−2)/D} = K_p(0)^{−(D−2)/D} − (D−2) θ
            (the differences of K_p^{2/D−1} are conserved)

so all plastic pathways are functions of one scalar, and `Σ_p K_p` is increasing in it.

- `D = 1`: the total obeys `dΣK/dt = m (s − λΣK)` with m plastic pathways: the depth-1 law of
  `dln.modes` at time `m t`; each pathway gets `(ΣK − ΣK(0))/m` on top of its start.
- `D = 2`: `dΣK/dt = 2 ΣK (s − λΣK)`: the logistic of `dln.modes`, and the ratios stay fixed.
- `D ≥ 3`, one plastic pathway: `dln.modes`' exact implicit solution with the effective target
  `s − λ Σ_frozen K`.
- `D ≥ 3`, two or more plastic pathways: no closed form is known. The flow is reduced exactly
  to one scalar (the log-strength `y = ln K_r` of the largest pathway `r`, the others being
  `K_p = K_r (1 + c_p K_r^{(D−2)/D})^{−D/(D−2)}` with the conserved `c_p ≥ 0`), an autonomous
  ODE `dy/dt = F(y)` whose time is a one-dimensional integral, evaluated by fixed-cost
  quadrature and inverted by Newton steps (below). Labelled `"reduced-integration"`.

**How the reduced flow is evaluated (D ≥ 3).** With `q = (D−2)/D` and `w = K_r^{−q} = e^{−qy}`
the pathways are `K_p = (w + c_p)^{−1/q}` and `dw/dt = −(D−2)(s − λΣ_p K_p)` exactly. When the
pathways approach their fixed point `y_∞` (`s_eff > 0`, `λ > 0`; the root of `ΣK_p = s/λ`, from
Newton steps in `w`, where `ΣK_p(w)` is convex, climbing to it monotonically), the time to reach
`Δ = |y_∞ − y|` from `Δ_0` is

    t(Δ) = A ln(Δ_0/Δ) + (w_0 − w)/((D−2)s) + ∫_Δ^{Δ_0} R(Δ') dΔ',

`A = 1/(Dλ Σ_p K_p(y_∞) a_p)`, `a_p = 1/(w_∞ + c_p)`: the log singularity of the fixed point and
the far-field growth `e^{−qy}/(Ds)` of a tiny start are integrated exactly, and the remainder
`R = 1/|F| − A/Δ − σw/(Ds)` (`σ = ±1`: below or above the target) is analytic on `[0, Δ_0]`. It
is computed without cancellation from the fixed point, `s − λΣK_p = λ δ Σ_p K_p(y_∞) a_p
φ(a_p δ)` with `δ = w − w_∞` and `φ(x) = (1 − (1 + x)^{−1/q})/x`, and its antiderivative is the
Chebyshev interpolant's on `_PANELS` equal panels of `_NODES` points each
(`dln.theory.quadrature`). The inverse `Δ(t)` takes `_NEWTON` Newton steps in `ln Δ` inside
the panel that brackets `t` (`dt/d ln Δ = −Δ/|F|` exactly; the pole's logarithm gives the start
on the first panel). No loop depends on the data, so `vmap` and accelerators see straight-line
code. Against mpmath at 30 digits the strengths agree to ~1e-14 relative, from starts of 1e-12
to above the target (`tests/test_competition_quadrature.py`; the problem's conditioning, a time
error of one ulp moving `K` by `ulp · t · |d ln K/dt|`, is the only limit). Derivatives
(`jax.grad`) come from the implicit function theorem for the root and for the inverse. Decaying
modes (`s_eff <= 0`: frozen pathways past the target; or `λ = 0`) are integrated in `y` with
adaptive Dopri8 steps (diffrax) to `rtol`, and that loop is skipped when no mode decays.

**Final split.** As `t → ∞` the plastic pathways settle where `Σ_p K_p = s_eff/λ` on the curve
of the conserved quantities: `K_p = K_p(0) + (s/λ − ΣK(0))/m` (D = 1), `K_p = K_p(0) s/(λ ΣK(0))`
(D = 2), and for D ≥ 3 the one root `y_∞` of `Σ_p K_p(y) = s/λ` (Newton steps to float64
precision; `final_split`).

**Deficits.** `Freeze` windows cut time into pieces; on each piece the frozen pathways are
constants (they shift the target to `s_eff = s − λ Σ_frozen K`) and the plastic ones follow the
solution above from the state at the start of the piece. A frozen pathway's mode can thus be
left behind permanently: when the deficit ends, the conserved quantities fix the final split.
`s_eff ≤ 0` (frozen pathways already past the target) is handled: D = 1 by the sign symmetry of
the linear law, D = 2 by the logistic with a negative rate (still exact), D ≥ 3 by the reduced
integration. `Lesion(p, α)` removes mode α from pathway p for good (strength 0, never plastic).

**Weight decay** `γ` (`weight_decay=`; frozen pathways get neither gradient nor decay):
`dK_p/dt = D K_p^{2−2/D}(s − λΣK) − DγK_p`, so `dφ(K_p)/dt = e − γK_p^{2/D−1}`. D = 1: the
offsets from the plastic mean decay as `e^{−γt}`, the mean obeys `dM/dt = s_eff − (mλ + γ)M`
(closed form). D = 2: ratios conserved, the total is the logistic of `s_eff − γ` (closed form).
D ≥ 3: `φ_a − φ_b` grows as `e^{(D−2)γt}` (the leader takes all); one plastic pathway uses
`dln.modes.trajectory(..., weight_decay=γ)`, several are integrated in `y_p = ln K_p`
(`"reduced-integration"`); the limit is not closed form (`final` NaN).

**Unbalanced ("large") initialisation** (`imbalance=c`): per mode and pathway the first layer
`p` (the entries of `u0`, any sign) and the other layers `√(p² + c)`; `c` is conserved (decays as
`e^{−2γt}` with weight decay), `K_p = p (p² + c)^{(D−1)/2}` and
`dp/dt = (p² + c)^{(D−1)/2} e − γp`, integrated per mode in `(p, c)` (`"reduced-integration"`;
`final` NaN). `derivations/pathways.py`, sections 7–8.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from dln import _ode
from dln._checks import (
    as_array,
    check_depth,
    check_int,
    check_times,
    check_weight_decay,
    is_concrete,
)
from dln.protocol.deficits import Freeze, Lesion, active, as_schedule
from dln.tasks.task import Task
from dln.theory import modes as _modes
from dln.theory import quadrature
from dln.trajectory import Trajectory

__all__ = ["solve", "final_split", "REDUCED"]

REDUCED = "reduced-integration"
_ROOT_STEPS = 6  # Newton steps for y_∞ (monotone from below in w = K_r^{−q}), + 2 log2 P
_PANELS = 3  # equal Chebyshev panels in Δ = |y_∞ − y| on [0, Δ(0)]
_NODES = 16  # Chebyshev points per panel
_NEWTON = 8  # Newton steps of the inverse t ↦ Δ
_SATURATED = math.log(1e-30)  # ln Δ below which K_p(Δ) = K_p(y_∞) to rounding


# ------------------------------------------------------------------------------ argument checks
def check_u0(task, u0, depth):
    if not isinstance(u0, (tuple, list)) or len(u0) < 1:
        raise TypeError(
            "`u0` must be a tuple with one entry per pathway (each a scalar or one value per "
            f"mode), e.g. (1e-3, 1e-3) for two pathways; got {type(u0).__name__} {u0!r}.")
    K = task.n_modes
    rows = []
    for p, u in enumerate(u0):
        u = as_array(u, f"u0[{p}]", ndim=(0, 1))
        if u.ndim == 1 and u.shape != (K,):
            raise ValueError(f"`u0[{p}]` must be a scalar or have shape ({K},) (one value per "
                             f"mode), got {tuple(u.shape)}.")
        rows.append(jnp.broadcast_to(u, (K,)))
    u0 = jnp.stack(rows).astype(jnp.result_type(*rows, task.s))
    if depth >= 2 and is_concrete(u0) and bool(jnp.any(u0 < 0)):
        raise ValueError(
            f"`u0` must be >= 0 for depth {depth}: a balanced aligned pathway has K = a^D and "
            "gradient flow cannot change the sign of a mode. Use depth 1 or positive values.")
    return u0


def _split_schedule(schedule, n_pathways, K):
    freezes = [d for d in schedule if isinstance(d, Freeze)]
    lesions = [d for d in schedule if isinstance(d, Lesion)]
    others = [d for d in schedule if not isinstance(d, (Freeze, Lesion))]
    if others:
        raise ValueError(
            f"the exact pathway solution handles Freeze and Lesion deficits; got "
            f"{type(others[0]).__name__}, which changes the input statistics and couples the "
            "modes. Simulate it with dln.pathways.simulate.")
    for d in freezes:
        if d.onset.ndim or d.length.ndim:
            raise ValueError("deficit windows of the exact solution must be scalars; use "
                             "jax.vmap over `solve` for a batch of windows.")
    lesioned = np.zeros((n_pathways, K), bool)
    for d in lesions:
        if d.mode >= K:
            raise ValueError(f"Lesion names mode {d.mode}, but the task has {K} modes.")
        lesioned[d.pathway, d.mode] = True
    return freezes, jnp.asarray(lesioned)


# ------------------------------------------------------------------------- closed-form pieces
def _linear_total(t, s, lam, total0):
    """Depth-1 law `dT/dt = s − λT` for any sign of `s` (sign symmetry of the linear law)."""
    pos = _modes.trajectory(t, jnp.abs(s), lam, jnp.where(s >= 0, total0, -total0), 1)
    return jnp.where(s >= 0, pos, -pos)


def _logistic_total(t, s, lam, total0):
    """Depth-2 law `dT/dt = 2T(s − λT)`, `T ≥ 0`, for any sign of `s`. For `s < 0` the
    logistic `T = (s/λ) w0/(w0 + (1 − w0) e^{−2st})`, `w0 = λT0/s`, still solves it."""
    pos = _modes.trajectory(t, jnp.maximum(s, 0.0), lam, total0, 2)
    s_neg = jnp.where(s < 0, s, -1.0)
    lam_safe = jnp.where(lam > 0, lam, 1.0)
    neg = (s_neg / lam_safe) * _modes.normalized(2.0 * s_neg * t, lam_safe * total0 / s_neg, 2)
    return jnp.where(s < 0, neg, pos)


# ------------------------------------------------------------------ depth >= 3: the reduction
def _reduction(K0, plastic, s_eff, lam, depth):
    """Constants of the one-dimensional reduction for each mode (columns of `K0 (P, K)`)."""
    q = (depth - 2.0) / depth
    live = plastic & (K0 > 0)
    ref = jnp.max(jnp.where(live, K0, 0.0), axis=0)  # K_r(0), the largest plastic pathway
    moving = ref > 0
    ref_safe = jnp.where(moving, ref, 1.0)
    K0_safe = jnp.where(live, K0, 1.0)
    # c_p = K_p^{−q} − K_r^{−q} ≥ 0, written as K_r^{−q} ((K_r/K_p)^q − 1) without cancellation
    c = jnp.where(live, ref_safe ** (-q) * jnp.expm1(q * jnp.log(ref_safe / K0_safe)), jnp.inf)
    return dict(q=q, c=c, live=live, y0=jnp.log(ref_safe), moving=moving)


def _psum(x):
    """`Σ_p x[..., p, :]` by unrolled adds (P is small and static): fuses with the elementwise
    work that produces `x`, where a reduction would start a separate, slower kernel on CPU."""
    return functools.reduce(jnp.add, [x[..., p, :] for p in range(x.shape[-2])])


def _strengths(y, red):
    """`K_p(y)` `(..., P, K)` and `Σ_p K_p`, `dΣK/dy` for the log-strength `y (..., K)`."""
    q, c, live = red["q"], red["c"], red["live"]
    # masked lanes are made zero through the inputs (y = −∞), not by selecting the outputs:
    # XLA's CPU backend does not vectorise a select after exp/log1p (about 10× slower)
    y = jnp.where(live, y[..., None, :], -jnp.inf)
    x = jnp.where(live, c, 0.0) * jnp.exp(q * y)
    Kp = jnp.exp(y - jnp.log1p(x) / q)
    return Kp, _psum(Kp), _psum(Kp / (1.0 + x))


def _root(red, target):
    """`y_∞` with `Σ_p K_p(y_∞) = target` (> 0).

    In `w = K_r^{−q} = e^{−qy}` the pathways are `K_p = (w + c_p)^{−1/q}`, so
    `E(w) = target − Σ_p (w + c_p)^{−1/q}` is increasing and concave. Newton from
    `w = target^{−q}` (the leader alone at the target, `E <= 0`) therefore climbs monotonically
    to the root without overshooting; `_ROOT_STEPS + 2⌈log2 P⌉` steps (the root lies in
    `[target^{−q}, (target/m)^{−q}]`, a ratio of at most `m^q`) and one Newton step in `y`
    reach float64 precision (measured: ≤ 1e-15 relative on ΣK for P ≤ 8, D = 3–10, starts
    1e-12 to 10). Fixed cost, no data-dependent loop.
    """
    q, c = red["q"], red["c"]
    kappa = 1.0 / q

    def newton(_, w):
        base = w + c  # c_p = ∞ off the live pathways: K_p = 0 there
        Kp = jnp.exp(-kappa * jnp.log(base))
        slope = kappa * _psum(Kp / base)  # −dΣK/dw > 0
        step = (_psum(Kp) - target) / jnp.where(slope > 0, slope, 1.0)
        return jnp.where(slope > 0, w + jnp.maximum(step, 0.0), w)

    w = jnp.exp(-q * jnp.log(target))
    steps = _ROOT_STEPS + 2 * math.ceil(math.log2(max(c.shape[0], 2)))  # 8 for 2 pathways
    w = jax.lax.fori_loop(0, steps, newton, w)
    y = jax.lax.stop_gradient(-jnp.log(w) / q)
    _, total, slope = _strengths(y, red)
    polish = jnp.where(slope > 0, (target - total) / jnp.where(slope > 0, slope, 1.0), 0.0)
    y = jax.lax.stop_gradient(y + polish)
    # the derivative of the root by the implicit function theorem (a Newton step's, whose value
    # is subtracted again), not the iteration's
    _, total, slope = _strengths(y, red)
    slope = jax.lax.stop_gradient(slope)
    step = jnp.where(slope > 0, (target - total) / jnp.where(slope > 0, slope, 1.0), 0.0)
    return y + (step - jax.lax.stop_gradient(step))


def _approach(red, y_inf, s_eff, lam, dts, depth, approach):
    """Plastic strengths `(T, P, K)` at the durations `dts` on the lanes where the plastic
    pathways approach their fixed point `y_∞` (`s_eff > 0`, `λ > 0`): fixed-cost quadrature of
    `t(y) = ∫ dy/F(y)` and a Newton inverse (module docstring, "How the reduced flow is
    evaluated"). Other lanes get finite garbage (the caller masks them)."""
    q, c = red["q"], red["c"]
    kappa = 1.0 / q
    y0 = red["y0"]
    y_inf = jnp.where(approach, y_inf, y0 + 1.0)
    s = jnp.where(approach, s_eff, 1.0)
    lam = jnp.where(approach, lam, 1.0)
    sigma = jnp.where(y_inf >= y0, 1.0, -1.0)  # +1: growing to the fixed point from below
    gap0 = jnp.abs(y_inf - y0)
    w_inf = jnp.exp(-q * y_inf)
    a = 1.0 / (w_inf + c)  # (P, K); 0 off the live pathways (c_p = ∞)
    K_inf = _strengths(y_inf, red)[0]
    A = 1.0 / (depth * lam * _psum(K_inf * a))  # residue of 1/|F| at y_∞

    n_path = c.shape[0]

    def trailing(v, extra):  # per-mode values against arrays with `extra` axes after K
        return v.reshape(v.shape + (1,) * extra)

    def w_minus(gap, extra=0):  # δ = w − w_∞ at the distance `gap` from y_∞
        return trailing(w_inf, extra) * jnp.expm1(trailing(sigma * q, extra) * gap)

    def scaled(gap, extra=0):
        """`Δ/|F|` at `Δ = gap > 0`, from `E/δ = λ Σ_p K_p(y_∞) a_p φ(a_p δ)` (no cancellation
        near the fixed point; pathways unrolled so that XLA fuses the whole expression)."""
        delta = w_minus(gap, extra)
        e_over_delta = 0.0
        for i in range(n_path):
            x = trailing(a[i], extra) * delta
            x = jnp.where(x == 0, 1e-300, x)  # φ(0) = 1/q; a_p = K_p(y_∞) = 0 off the live
            phi = -jnp.expm1(-kappa * jnp.log1p(x)) / x  # (1 − (1 + x)^{−1/q})/x
            e_over_delta = e_over_delta + trailing(K_inf[i] * a[i], extra) * phi
        e_over_delta = trailing(lam, extra) * e_over_delta
        return (gap / jnp.abs(delta) * (trailing(w_inf, extra) + delta)
                / (depth * e_over_delta)), delta

    def remainder(gap, extra):  # 1/|F| − A/Δ − σ w/(D s): analytic on [0, Δ(0)]
        H, delta = scaled(gap, extra)
        return ((H - trailing(A, extra)) / gap
                - trailing(sigma / (depth * s), extra) * (trailing(w_inf, extra) + delta))

    x_cheb, M = quadrature.nodes(_NODES)
    half = gap0 / (2 * _PANELS)
    mids = (2.0 * jnp.arange(_PANELS) + 1.0)[:, None] * half  # (N, K)
    values = remainder(mids[..., None] + half[:, None] * jnp.asarray(x_cheb), 1)  # (N, K, n)
    coef = half[:, None] * jnp.einsum("nki,ji->nkj", values, jnp.asarray(M))  # (N, K, n + 1)
    totals = quadrature.antiderivative(coef, 1.0)  # the remainder's integral over each panel
    starts = [jnp.zeros_like(gap0)]  # its integral from 0 to each panel's start
    for k in range(_PANELS - 1):
        starts.append(starts[-1] + totals[k])
    whole = starts[-1] + totals[-1]
    starts = jnp.stack(starts)
    delta0 = w_minus(gap0)
    exp_scale = 1.0 / ((depth - 2.0) * s)

    def pick(table, panel):  # table[panel] per mode, by selects (fuses; no gather)
        out = table[0]
        for k in range(1, _PANELS):
            hit = panel == k
            out = jnp.where(hit[..., None] if table.ndim == 3 else hit, table[k], out)
        return out

    def time_at(gap, panel):  # t(Δ) for Δ in the panel `panel` (ints, broadcasting)
        b, Q, mid = pick(coef, panel), pick(starts, panel), pick(mids, panel)
        # x in [−1, 1] up to rounding, which is kept (with its derivative: a clip at ±1 would
        # cut it where Δ = Δ_0 rounds outside); far outside, clipped
        x = (gap - mid) / half
        local = quadrature.antiderivative(b, jnp.where(jnp.abs(x) > 1.5, jnp.clip(x, -1.0, 1.0),
                                                       x))
        return (A * jnp.log(gap0 / gap) + (delta0 - w_minus(gap)) * exp_scale
                + whole - (Q + local))

    t = dts[:, None]
    edges = gap0 * (jnp.arange(1, _PANELS) / _PANELS)[:, None]  # interior edges (N − 1, K)
    t_edges = time_at(edges, jnp.arange(1, _PANELS)[:, None])  # t at them, decreasing
    panel = jnp.sum(t[None] < t_edges[:, None, :], axis=0)  # (T, K): Δ(t) in this panel
    lo_edge = jnp.where(panel > 0, panel * gap0 / _PANELS, 0.0)
    hi_edge = (panel + 1) * gap0 / _PANELS
    log_floor = _SATURATED  # below it the state is the fixed point to rounding
    v_lo = jnp.where(panel > 0, jnp.log(jnp.where(panel > 0, lo_edge, 1.0)), log_floor)
    v_hi = jnp.log(hi_edge)
    t_all = [jnp.full_like(gap0, jnp.inf)] + list(t_edges) + [jnp.zeros_like(gap0)]
    t_lo = pick(jnp.stack(t_all[:-1]), panel)  # t at the panel's edges
    t_hi = pick(jnp.stack(t_all[1:]), panel)
    # start: the pole's logarithm on the first panel, linear in ln Δ on the others
    frac = jnp.where(panel > 0, (t_lo - t) / jnp.where(panel > 0, t_lo - t_hi, 1.0), 0.0)
    v = jnp.where(panel > 0, v_lo + frac * (v_hi - v_lo), v_hi - (t - t_hi) / A)
    v = jax.lax.stop_gradient(jnp.clip(v, v_lo, v_hi))

    def newton(_, v):  # dt/d ln Δ = −Δ/|F|
        gap = jnp.exp(v)
        step = (time_at(gap, panel) - t) / scaled(gap)[0]
        return jax.lax.stop_gradient(jnp.clip(v + step, v_lo, v_hi))

    v = jax.lax.fori_loop(0, _NEWTON, newton, v)  # a loop: unrolled, XLA would recompute
    # derivatives by the implicit function theorem: one Newton step whose value is removed
    gap = jnp.exp(v)
    step = (time_at(gap, panel) - t) / jax.lax.stop_gradient(scaled(gap)[0])
    v = v + (step - jax.lax.stop_gradient(step))
    delta = w_minus(jnp.exp(v))
    return K_inf * jnp.exp(-kappa * jnp.log1p(a * delta[:, None, :]))


def _reduced_integration(K0, plastic, s_eff, lam, dts, depth, rtol, max_steps):
    """Plastic strengths `(T, P, K)` at the sorted durations `dts`, from `K0` (the reduction).

    Lanes that approach their fixed point (`s_eff > 0`, `λ > 0`: every learning mode) take the
    fixed-cost quadrature `_approach`; the decaying ones (`s_eff <= 0`, or `λ = 0`) integrate
    `dy/dt = D e^{(1−2/D)y}(s_eff − λΣK)` with Dopri8 (`_integrate`, whose loop sees a zero
    field on every other lane). Returns the strengths and a flag that is True if the
    integration failed.
    """
    red = _reduction(K0, plastic, s_eff, lam, depth)
    lam_safe = jnp.where(lam > 0, lam, 1.0)
    approach = red["moving"] & (s_eff > 0) & (lam > 0)
    target = jnp.where(approach, s_eff / lam_safe, 1.0)
    y_inf = _root(red, target)
    gap0 = y_inf - red["y0"]
    static = ~red["moving"] | (approach & (gap0 == 0))
    approach = approach & (gap0 != 0)
    decay = ~approach & ~static
    p = 1.0 - 2.0 / depth

    def f(y):
        _, total, _ = _strengths(y, red)
        return jnp.where(decay, depth * jnp.exp(p * y) * (s_eff - lam * total), 0.0)

    # with no decaying lane the integration is skipped (records at t = 0: no step is taken)
    recs, failed = _integrate(f, red["y0"], jnp.where(jnp.any(decay), dts, 0.0), rtol,
                              max_steps)
    K = jnp.where(approach, _approach(red, y_inf, s_eff, lam, dts, depth, approach),
                  _strengths(recs, red)[0])
    K = _exact_start(K0, plastic, s_eff, lam, dts, depth, K)
    return jnp.where(red["live"] & ~static, K, K0), failed


def _exact_start(K0, plastic, s_eff, lam, dts, depth, K):
    """`K` with `t = 0` giving `K0` exactly, not through the inverse, as `K0 + t v`: the
    derivative by `t` there is the flow's velocity `v = D K^{2−2/D}(s_eff − λΣ_plastic K)`
    (0 for frozen pathways) and the derivative by `K0` the identity."""
    total0 = jnp.sum(jnp.where(plastic, K0, 0.0), axis=0)
    velocity = jnp.where(plastic, depth * K0 ** (2.0 - 2.0 / depth) * (s_eff - lam * total0), 0.0)
    t = dts[:, None, None]
    return jnp.where(t == 0.0, K0 + t * velocity, K)


def _integrate(f, x0, ts, rtol, max_steps):
    """Adaptive Dopri8 (`dln._ode`) for the vector ODE `dx/dt = f(x)` to the sorted record
    times `ts >= 0`; error per component relative to `max(|x|, 1)`. Records `(T, K)` and a
    failure flag."""
    def scale(*xs):
        size = functools.reduce(jnp.maximum, [jnp.abs(x) for x in xs])
        return rtol * jnp.maximum(size, 1.0)

    recs, _, _, failed = _ode.integrate(f, x0, ts, scale, max_steps)
    return recs, failed


# ---------------------------------------------------------------------------- one piece
def _evolve(K0, plastic, s, lam, dts, depth, rtol, max_steps, gamma=None):
    """Strengths `(T, P, K)` after the sorted durations `dts` on a piece where `plastic (P, K)`
    pathways learn and the others are frozen. Returns `(K, failed, used_reduction)`.
    `gamma` (None: statically no weight decay) takes `_evolve_decayed`."""
    if gamma is not None:
        return _evolve_decayed(K0, plastic, s, lam, dts, depth, rtol, max_steps, gamma)
    frozen_sum = jnp.sum(jnp.where(plastic, 0.0, K0), axis=0)
    s_eff = s - lam * frozen_sum
    m = jnp.sum(plastic, axis=0)
    total0 = jnp.sum(jnp.where(plastic, K0, 0.0), axis=0)
    t = dts[:, None]
    m_safe = jnp.maximum(m, 1)
    no = jnp.zeros((), bool)
    if depth == 1:
        total = _linear_total(m_safe * t, s_eff, lam, total0)
        K = K0 + jnp.where(plastic, ((total - total0) / m_safe)[:, None, :], 0.0)
        return K, no, no
    if depth == 2:
        total = _logistic_total(t, s_eff, lam, total0)
        ratio = jnp.where(total0 > 0, total / jnp.where(total0 > 0, total0, 1.0), 1.0)
        K = jnp.where(plastic, K0 * ratio[:, None, :], K0)
        return K, no, no
    # depth >= 3
    one = (m == 1) & (s_eff >= 0)
    single = _modes.trajectory(t, jnp.where(one, s_eff, 0.0), lam, total0, depth)
    K_single = jnp.where(plastic, single[:, None, :], K0)
    need = (m >= 2) | ((m == 1) & (s_eff < 0))
    K_red, failed = _reduced_integration(K0, plastic & need, s_eff, lam, dts, depth, rtol,
                                         max_steps)
    K = jnp.where(need, K_red, K_single)
    live_need = need & (jnp.sum(jnp.where(plastic, K0, 0.0) > 0, axis=0) > 0)
    return K, failed & jnp.any(need), jnp.any(live_need)


def _evolve_decayed(K0, plastic, s, lam, dts, depth, rtol, max_steps, gamma):
    """`_evolve` with weight decay `γ`: `dK_p/dt = D K_p^{2−2/D}(s − λΣK) − DγK_p` (plastic).

    - D = 1: the plastic mean `M` obeys `dM/dt = s_eff − (mλ + γ)M` (closed form) and each
      pathway's offset from it decays as `e^{−γt}`.
    - D = 2: ratios are conserved and the plastic total is the logistic of `s_eff − γ`.
    - D >= 3: one plastic pathway (`s_eff >= 0`) is `dln.modes.trajectory(...,
      weight_decay=γ)` with the target `s_eff`; otherwise `_decayed_integration`.
    """
    frozen_sum = jnp.sum(jnp.where(plastic, 0.0, K0), axis=0)
    s_eff = s - lam * frozen_sum
    m = jnp.sum(plastic, axis=0)
    m_safe = jnp.maximum(m, 1)
    total0 = jnp.sum(jnp.where(plastic, K0, 0.0), axis=0)
    t = dts[:, None]
    no = jnp.zeros((), bool)
    if depth == 1:
        mean0 = total0 / m_safe
        mean = _modes._exponential(t, s_eff, m_safe * lam + gamma, mean0)
        offset = (K0 - mean0) * jnp.exp(-gamma * t)[:, None, :]
        return jnp.where(plastic, mean[:, None, :] + offset, K0), no, no
    if depth == 2:
        total = _logistic_total(t, s_eff - gamma, lam, total0)
        ratio = jnp.where(total0 > 0, total / jnp.where(total0 > 0, total0, 1.0), 1.0)
        return jnp.where(plastic, K0 * ratio[:, None, :], K0), no, no
    one = (m == 1) & (s_eff >= 0)
    single = _modes.trajectory(t, jnp.where(one, s_eff, 0.0), lam, total0, depth,
                               weight_decay=gamma)
    K_single = jnp.where(plastic, single[:, None, :], K0)
    need = ~one & (m >= 1)
    K_int, failed = _decayed_integration(K0, plastic & need, s_eff, lam, gamma, dts, depth,
                                         rtol, max_steps)
    K = jnp.where(need, K_int, K_single)
    return K, failed & jnp.any(need), jnp.ones((), bool)


def _decayed_integration(K0, plastic, s_eff, lam, gamma, dts, depth, rtol, max_steps):
    """Depth >= 3 with weight decay, several plastic pathways (or a negative `s_eff`): the
    per-mode ODE `dy_p/dt = D [K_p^{1−2/D}(s_eff − λΣ_plastic K) − γ]` in `y_p = ln K_p`
    (Dopri8, `_integrate`; smooth at every scale of K, and linear as a losing pathway decays).
    Returns the strengths `(T, P, K)` and a failure flag."""
    live = plastic & (K0 > 0)
    shape = K0.shape
    y0 = jnp.log(jnp.where(live, K0, 1.0))
    p = 1.0 - 2.0 / depth

    def f(x):
        y = x.reshape(shape)
        K = jnp.where(live, jnp.exp(y), 0.0)
        error = s_eff - lam * jnp.sum(K, axis=0)
        return jnp.where(live, depth * (jnp.exp(p * y) * error - gamma), 0.0).ravel()

    recs, failed = _integrate(f, y0.ravel(), dts, rtol, max_steps)
    K = jnp.exp(recs.reshape((-1,) + shape))
    return jnp.where(live, K, K0), failed


def _limit_decayed(K0, plastic, s, lam, depth, gamma):
    """The limit `t → ∞` with weight decay `γ` (where `γ > 0`; `_limit` where `γ = 0`):
    depth 1, every plastic pathway at `s_eff/(mλ + γ)` (the offsets decay); depth 2, the ratios
    kept and the total at `max(s_eff − γ, 0)/λ`; depth >= 3, no closed form: NaN."""
    plain = _limit(K0, plastic, s, lam, depth)
    if depth == 1:
        m = jnp.maximum(jnp.sum(plastic, axis=0), 1)
        s_eff = s - lam * jnp.sum(jnp.where(plastic, 0.0, K0), axis=0)
        rate = m * lam + gamma
        level = s_eff / jnp.where(rate > 0, rate, 1.0)
        decayed = jnp.where(plastic, level, K0)
    elif depth == 2:
        decayed = _limit(K0, plastic, s - gamma, lam, depth)
    else:
        decayed = jnp.where(plastic & (K0 != 0), jnp.nan, K0)
    return jnp.where(gamma > 0, decayed, plain)


def _limit(K0, plastic, s, lam, depth):
    """The limit `t → ∞` with the given plastic set (the final split)."""
    m = jnp.sum(plastic, axis=0)
    m_safe = jnp.maximum(m, 1)
    frozen_sum = jnp.sum(jnp.where(plastic, 0.0, K0), axis=0)
    s_eff = s - lam * frozen_sum
    total0 = jnp.sum(jnp.where(plastic, K0, 0.0), axis=0)
    lam_pos = lam > 0
    lam_safe = jnp.where(lam_pos, lam, 1.0)
    target = jnp.where(lam_pos, s_eff / lam_safe, total0)
    if depth == 1:
        return jnp.where(plastic, K0 + ((target - total0) / m_safe), K0)
    reachable = (s_eff > 0) & lam_pos
    if depth == 2:
        ratio = jnp.where(total0 > 0, jnp.where(reachable, target, 0.0)
                          / jnp.where(total0 > 0, total0, 1.0), 1.0)
        return jnp.where(plastic, K0 * ratio, K0)
    red = _reduction(K0, plastic, s_eff, lam, depth)
    y_inf = _root(red, jnp.where(reachable, target, 1.0))
    K_inf = _strengths(y_inf, red)[0]
    # no positive target: every plastic pathway decays to 0 (or stays at 0)
    K_inf = jnp.where(reachable & red["moving"], K_inf, 0.0)
    return jnp.where(red["live"], K_inf, K0)


# --------------------------------------------------------------------------------- schedule
def _pieces(freezes, dtype):
    """Piece boundaries `(n + 1,)` (0, the sorted window edges) and plastic masks per piece."""
    edges = [jnp.zeros((), dtype)]
    for d in freezes:
        edges += [d.onset.astype(dtype), (d.onset + d.length).astype(dtype)]
    return jnp.sort(jnp.stack(edges))


def _plastic_at(freezes, lesioned, start):
    plastic = ~lesioned
    for d in freezes:
        hit = active(d, start)
        row = jnp.zeros(plastic.shape[0], bool).at[d.pathway].set(True)
        plastic = plastic & ~(hit & row)[:, None]
    return plastic


@functools.partial(jax.jit, static_argnames=("depth", "max_steps"))
def _solve(task, u0, freezes, lesioned, t_sorted, gamma, *, depth, rtol, max_steps):
    s, lam = task.s, task.input_variance
    K = jnp.where(lesioned, 0.0, u0)
    edges = _pieces(freezes, u0.dtype)
    ends = jnp.concatenate([edges[1:], jnp.full((1,), jnp.inf, edges.dtype)])

    def piece(carry, edge):  # one piece between window edges (a loop: compiled once)
        K, out, failed, reduced = carry
        start, end = edge
        plastic = _plastic_at(freezes, lesioned, start)
        since = t_sorted - start  # clipped to [0, end − start] by selects: the derivative at
        dts = jnp.where(since < 0, 0.0, jnp.where(since > end - start, end - start, since))
        # the piece's start (t = start) is that of the inside, not half of it as a clip's
        width = jnp.where(jnp.isfinite(end), end - start, dts[-1])
        # evaluate at the record times and, last, at the end of the piece (the next start)
        values, bad, used = _evolve(K, plastic, s, lam, jnp.concatenate([dts, width[None]]),
                                    depth, rtol, max_steps, gamma)
        inside = (t_sorted >= start) & (t_sorted < end)
        out = jnp.where(inside[:, None, None], values[:-1], out)
        K = jnp.where(jnp.isfinite(end), values[-1], K)
        return (K, out, failed | bad, reduced | used), None

    out = jnp.broadcast_to(K, (t_sorted.shape[0],) + K.shape)
    no = jnp.zeros((), bool)
    (K, out, failed, reduced), _ = jax.lax.scan(piece, (K, out, no, no), (edges, ends))
    plastic = _plastic_at(freezes, lesioned, edges[-1])
    if gamma is None:
        final = _limit(K, plastic, s, lam, depth)
    else:
        final = _limit_decayed(K, plastic, s, lam, depth, gamma)
    return out, final, failed, reduced


# ------------------------------------------------------------ unbalanced ("large") initialisation
def _imbalanced_strengths(p, c, depth):
    """`K = p (p² + c)^{(D−1)/2}`: the first layer `p`, the other `D − 1` layers `√(p² + c)`."""
    return p * (p * p + c) ** ((depth - 1) / 2.0)


@functools.partial(jax.jit, static_argnames=("depth", "max_steps"))
def _solve_imbalanced(task, p0, c0, freezes, lesioned, t_sorted, gamma, *, depth, rtol,
                      max_steps):
    """Unbalanced pathways: per mode and pathway the first layer `p` and `c = q² − p²`,
    `dp/dt = (p² + c)^{(D−1)/2} e − γp`, `dc/dt = −2γc` (plastic; frozen: 0), with the shared
    error `e = s − λ Σ_q K_q`, integrated by Dopri8 through the pieces of the windows."""
    s, lam = task.s, task.input_variance
    shape = p0.shape
    gamma = jnp.zeros((), p0.dtype) if gamma is None else gamma
    x = jnp.stack([jnp.where(lesioned, 0.0, p0), jnp.where(lesioned, 0.0, c0)])
    edges = _pieces(freezes, p0.dtype)
    ends = jnp.concatenate([edges[1:], jnp.full((1,), jnp.inf, edges.dtype)])
    half = (depth - 1) / 2.0

    def piece(carry, edge):
        x, out, failed = carry
        start, end = edge
        plastic = _plastic_at(freezes, lesioned, start)

        def f(flat):
            p, c = flat.reshape((2,) + shape)
            r = (p * p + c) ** half
            error = s - lam * jnp.sum(p * r, axis=0)
            dp = jnp.where(plastic, r * error - gamma * p, 0.0)
            dc = jnp.where(plastic, -2.0 * gamma * c, 0.0)
            return jnp.stack([dp, dc]).ravel()

        since = t_sorted - start  # clipped to [0, end − start] by selects: the derivative at
        dts = jnp.where(since < 0, 0.0, jnp.where(since > end - start, end - start, since))
        # the piece's start (t = start) is that of the inside, not half of it as a clip's
        width = jnp.where(jnp.isfinite(end), end - start, dts[-1])
        recs, bad = _integrate(f, x.ravel(), jnp.concatenate([dts, width[None]]), rtol,
                               max_steps)
        recs = recs.reshape((-1, 2) + shape)
        inside = (t_sorted >= start) & (t_sorted < end)
        out = jnp.where(inside[:, None, None, None], recs[:-1], out)
        x = jnp.where(jnp.isfinite(end), recs[-1], x)
        return (x, out, failed | bad), None

    out = jnp.broadcast_to(x, (t_sorted.shape[0],) + x.shape)
    (x, out, failed), _ = jax.lax.scan(piece, (x, out, jnp.zeros((), bool)), (edges, ends))
    return _imbalanced_strengths(out[:, 0], out[:, 1], depth), failed


def solve(task: Task, *, depth: int, u0, t, deficit=None, rtol: float = 1e-12,
          max_steps: int = 200_000, weight_decay=0.0, imbalance=0.0) -> Trajectory:
    """Exact trajectory of competing pathways under gradient flow, through deficits.

    Args:
      task: a `dln.Task` whose `sigma_xx` is diagonal in its right singular basis.
      depth: weight matrices per pathway (a Python int, static).
      u0: one entry per pathway (at least one), each a scalar or `(K,)` initial strengths of
        the pathway's modes (`>= 0` for depth >= 2; weights `dln.pathways.aligned`). With
        `imbalance = c > 0` (depth >= 2) the entries are instead the first-layer values `p`
        of each mode (any sign), the other layers being `√(p² + c)`.
      t: flow times `(T,)` or a scalar, `>= 0`, any order.
      deficit: None, a pair `(onset, length)` (freezes the second pathway on
        `[onset, onset + length)`), a `Freeze` or `Lesion`, or a list of them
        (`dln.pathways.deficits`). Windows are scalars; `jax.vmap` over `solve` for batches.
      rtol: relative tolerance of the adaptive (Dopri8) integrations: weight decay at
        depth >= 3, imbalance, and depth >= 3 modes that decay (`s − λ Σ_frozen K <= 0`). The
        competition of several plastic pathways approaching their target (every learning
        mode) is evaluated at a fixed cost to float64 accuracy whatever `rtol`.
      max_steps: most Dopri8 steps of one such integration.
      weight_decay: `γ >= 0` (a scalar, may be traced), the L2 penalty `½γ Σ ||W||²` on every
        weight: a plastic pathway's mode obeys `dK_p/dt = D K_p^{2−2/D}(s − λΣ_q K_q) − DγK_p`,
        a frozen one gets neither gradient nor decay. Depth 1 and 2 stay closed forms (the
        offsets between pathways decay as `e^{−γt}` at depth 1; at depth 2 the ratios are kept
        and the total is the logistic of `s − γ`). At depth >= 3 weight decay sharpens the
        winner-take-all and nothing is closed form: one plastic pathway follows
        `dln.modes.trajectory(..., weight_decay=γ)`, several are integrated in `ln K`
        (`"reduced-integration"`). `final` is then NaN for the plastic pathways (no closed form
        for the limit; `final_split` raises): read the trajectory at a large `t`.
      imbalance: `c >= 0` (a Python float), Kleinman et al.'s (after Shi et al.) "large"
        unbalanced initialisation for `c > 0` (`c = 1` theirs): per mode and pathway the first
        layer is `p` (from `u0`) and the other `D − 1` layers `√(p² + c)`, so
        `K_p = p (p² + c)^{(D−1)/2}`; the imbalance `c` is conserved by the flow (it decays as
        `e^{−2γt}` with weight decay) and `dp/dt = (p² + c)^{(D−1)/2}(s − λΣ_q K_q) − γp`.
        Integrated per mode (Dopri8 in `(p, c)`, `"reduced-integration"`); `final` is NaN (no
        closed form for the limit). Weights: `dln.pathways.aligned(..., imbalance=c)`. Depth 1
        has no other layers: `c` changes nothing there (the closed form is used).

    Returns:
      A `dln.Trajectory` with `pathways = P`, `modes (T, P, K)`, `map (T, P, No, Ni)`,
      `loss (T,)`, the `method`, `u0` the initial strengths `(P, K)` and `final (P, K)`, the
      limit `t → ∞` (the final split).

    Works under `jax.jit` and `jax.vmap` (over `u0`, `t`, deficit windows, `weight_decay` and
    task arrays), with `depth` static. Raises `FloatingPointError` (concrete inputs) if an
    integration fails.
    """
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}; build one with "
                        "dln.Task(sigma_xx, sigma_yx) or dln.Task.from_data(X, Y).")
    depth = check_depth(depth)
    if task.input_aligned is False:
        raise ValueError(
            "pathways.solve(): the exact mode solution needs `sigma_xx` diagonal in the task's "
            "right singular basis V (whitened input, one-hot items); this task's sigma_xx "
            "couples the modes. Whiten the inputs or use dln.pathways.simulate.")
    c = _check_imbalance(imbalance)
    imbalanced = c > 0 and depth >= 2
    u0 = check_u0(task, u0, 1 if imbalanced else depth)
    n_pathways, K = u0.shape
    schedule = as_schedule(deficit, n_pathways=n_pathways)
    freezes, lesioned = _split_schedule(schedule, n_pathways, K)
    t = check_times(t).astype(u0.dtype)
    if not (isinstance(rtol, float) and 0 < rtol < 1 and math.isfinite(rtol)):
        raise ValueError(f"`rtol` must be a float in (0, 1), got {rtol!r}.")
    max_steps = check_int(max_steps, "max_steps", 1, what=" (Dopri8 steps)")
    gamma = check_weight_decay(weight_decay)
    gamma = None if gamma is None else jnp.asarray(gamma, u0.dtype)
    order = jnp.argsort(t)
    inverse = jnp.argsort(order)
    if imbalanced:
        c0 = jnp.full(u0.shape, c, u0.dtype)
        out, failed = _solve_imbalanced(task, u0, c0, tuple(freezes), lesioned, t[order], gamma,
                                        depth=depth, rtol=rtol, max_steps=max_steps)
        strengths0 = _imbalanced_strengths(jnp.where(lesioned, 0.0, u0), c0, depth)
        final = jnp.full(u0.shape, jnp.nan, u0.dtype)
        method = REDUCED
    else:
        out, final, failed, reduced = _solve(task, u0, tuple(freezes), lesioned, t[order],
                                             gamma, depth=depth, rtol=rtol,
                                             max_steps=max_steps)
        strengths0 = u0
        if depth <= 2:
            method = _modes.method_name(depth)
        elif is_concrete(reduced):
            method = REDUCED if bool(reduced) else _modes.method_name(depth)
        else:
            method = REDUCED
    if is_concrete(failed) and bool(failed):
        raise FloatingPointError(
            "the integration of the pathway competition failed (step size collapsed or "
            f"`max_steps` = {max_steps} reached). Try a larger `max_steps` or a looser `rtol`.")
    modes = out[inverse]
    loss = task.loss_of_modes(jnp.sum(modes, axis=-2))
    return Trajectory(t=t, modes=modes, loss=loss, task=task, method=method, depth=depth,
                      u0=strengths0, final=final, pathways=len(u0))


def _check_imbalance(imbalance) -> float:
    if isinstance(imbalance, bool) or not isinstance(imbalance, (int, float, np.integer,
                                                                 np.floating)):
        raise TypeError(f"`imbalance` must be a number c >= 0 (a Python float: it selects the "
                        f"solution), got {type(imbalance).__name__} {imbalance!r}.")
    c = float(imbalance)
    if not (math.isfinite(c) and c >= 0):
        raise ValueError(f"`imbalance` must be finite and >= 0 (c = q² − p², the conserved "
                         f"difference of the squared layer strengths), got {imbalance!r}.")
    return c


def final_split(task: Task, *, depth: int, u0, deficit=None, weight_decay=0.0) -> jnp.ndarray:
    """Each mode's final split `(P, K)`: the limit `t → ∞` of `solve` with the same arguments
    (closed form for depth 1 and 2, a one-dimensional root for depth >= 3; module docstring).

    With `weight_decay = γ > 0`: depth 1, every plastic pathway ends at `s_eff/(mλ + γ)` (the
    differences decay); depth 2, the ratios are kept and the total is `max(s_eff − γ, 0)/λ`;
    depth >= 3 has no closed form for the limit (weight decay drives every pathway but the
    leader to 0, and whether the leader survives depends on the path) and raises: read
    `solve(..., t=large).modes[-1]` instead.
    """
    gamma = as_array(weight_decay, "weight_decay", ndim=0)
    if check_depth(depth) >= 3 and not (is_concrete(gamma) and float(gamma) == 0):
        raise ValueError(
            f"final_split(): with `weight_decay` > 0 at depth {depth} the limit has no closed "
            "form (the leading pathway survives or decays depending on the path); read "
            "dln.pathways.solve(..., weight_decay=γ, t=<a late time>).modes[-1] instead.")
    return solve(task, depth=depth, u0=u0, t=0.0, deficit=deficit,
                 weight_decay=weight_decay).final
