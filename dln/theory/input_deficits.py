"""Exact modes of one deep network through windows of blurred input.

Setting (docs/theory/finite_plasticity.md, `derivations/input_deficits.py`). A network of depth
`D` starts balanced and aligned with an input-aligned task (`Σxx` diagonal in the task's right
singular basis `V`), with mode strengths `u0`, and trains by gradient flow, with weight decay
`γ` or without. A `Blur` window `[onset, onset + length)` multiplies the input by
`B = V_k V_kᵀ + f (I − V_k V_kᵀ)`, so that `Σxx → B Σxx B`, `Σyx → Σyx B`: in the mode basis
mode α keeps its directions, and its singular value and input variance become

    s_α → b_α s_α,    λ_α → b_α² λ_α,    b_α = 1 (α < keep),  f (α ≥ keep).

The modes stay decoupled, so each mode follows its own law piece by piece,

    du/dt = D u^{2−2/D} (b s − b² λ u) − D γ u,

starting each piece from where the last one ended (`dln.theory.modes.trajectory`: closed forms at
depth 1 and 2, and at any depth without weight decay; at depth ≥ 3 with weight decay the mode's
ODE is integrated, method `"reduced-integration"`). A blurred mode is driven less (`b s`) and
pulled back as before by weight decay, so at depth ≥ 3 a weak mode that is still small when the
window opens sinks below the weight-decay threshold `u_−` (`dln.modes.weight_decay_threshold`)
and is never learned afterwards: an early window does lasting damage, a late one (after the mode
is learned) does not, if the window is short enough for the mode to stay above the threshold.

Several windows may overlap: on each piece between consecutive window edges the factors of the
active windows multiply. Window edges may be traced (`jax.vmap` over onsets and lengths gives a
whole critical-period map in one compiled call).
"""

from __future__ import annotations

import jax.numpy as jnp

from dln.protocol.deficits import blur_factors
from dln.theory import modes as _modes

__all__ = ["blurred_modes"]


def blurred_modes(task, depth: int, u0, t, blurs, *, weight_decay=0.0):
    """Mode strengths `(T, K)` at flow times `t` `(T,)` through the `Blur` windows `blurs`.

    Args:
      task: an input-aligned `dln.Task` (the caller checks it).
      depth: the network's depth (static).
      u0: `(K,)` initial mode strengths (balanced, aligned weights).
      t: `(T,)` flow times `>= 0`.
      blurs: a sequence of `Blur` windows (scalar onsets and lengths; traced values allowed).
      weight_decay: `γ >= 0`.

    Returns:
      `(T, K)`: `U[:,α]ᵀ W(t) V[:,α]` of the network map, in the task's own (unblurred) modes.
    """
    s, lam = task.s, task.input_variance
    dtype = jnp.result_type(s, u0, t, float)
    t = jnp.asarray(t, dtype)
    factors = [blur_factors(b, task) for b in blurs]
    edges = [jnp.asarray(x, dtype) for b in blurs
             for x in (b.onset, b.onset + b.length)]
    cuts = jnp.sort(jnp.stack([jnp.zeros((), dtype)] + edges))  # piece starts (P,)

    def overlap_factor(time):  # the product of the active windows' factors
        b = jnp.ones_like(s)
        for blur, f in zip(blurs, factors):
            on = (blur.onset <= time) & (time < blur.onset + blur.length)
            b = b * jnp.where(on, f, 1.0)
        return b

    # one evaluation per piece: the records inside it and, at its end, the next piece's start
    n = cuts.shape[0]
    piece = jnp.clip(jnp.searchsorted(cuts, t, side="right") - 1, 0, n - 1)
    u_start = jnp.broadcast_to(jnp.asarray(u0, dtype), s.shape)
    out = jnp.zeros(t.shape + s.shape, dtype)
    for p in range(n):
        since = jnp.maximum(t - cuts[p], 0.0)
        if p + 1 < n:
            span = cuts[p + 1] - cuts[p]
            since = jnp.concatenate([jnp.minimum(since, span), span[None]])
        u = _piece(since[:, None], s, lam, overlap_factor(cuts[p]), u_start, depth,
                   weight_decay)
        if p + 1 < n:
            u, u_start = u[:-1], u[-1]
        out = jnp.where((piece == p)[:, None], u, out)
    return out


def _piece(since, s, lam, b, u_start, depth, weight_decay):
    """One piece: the mode law with `s → b s`, `λ → b² λ`, from `u_start`, at times `since`."""
    return _modes.trajectory(since, b * s, b * b * lam, u_start, depth,
                             weight_decay=weight_decay)

