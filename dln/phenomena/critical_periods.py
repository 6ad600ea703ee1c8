"""Critical-period maps: final performance against the onset and length of a deficit.

Kleinman, Achille & Soatto (2024), Achille, Rovere & Soatto (2019): a deficit that freezes one
pathway during `[onset, onset + length)` early in training leaves a permanent split of the modes,
the same deficit late does nothing. The map runs the whole grid of windows at once:

- `critical_period_map`: exact, `jax.vmap` of `dln.pathways.solve` over the windows (one
  compiled call);
- `simulated_critical_period_map`: gradient descent, one batched `dln.pathways.simulate` call
  over the windows (deficits inside the jitted scan).

Both return the same dictionary, so theory and simulation compare entry by entry: `modes`
`(n_onsets, n_lengths, P, K)` at the final time, `shares` (each pathway's share of each mode),
`pathway_loss` `(n_onsets, n_lengths, P)` (each pathway's map tested on its own: the deprived
pathway's skill) and `loss` `(n_onsets, n_lengths)` (the whole network).

The whole network's damage, in one deep network whose input is blurred or flipped during the
window (Achille, Rovere & Soatto 2019), under finite plasticity (weight decay, a finite or
annealed budget of flow time; docs/theory/finite_plasticity.md):

- `network_critical_period_map`: exact for a `Blur` of an input-aligned task (the modes through
  the window, `dln.theory.input_deficits`), `jax.vmap` over the windows, one compiled call per
  weight decay (each value compiles once: 0 takes the closed forms alone);
- `simulated_network_critical_period_map`: gradient descent (`Blur` or `Flip`, a number or a
  schedule as `lr`), one batched `dln.simulate` call over the windows per weight decay.

Both return `modes` `(…, n_onsets, n_lengths, K)`, `loss` `(…, n_onsets, n_lengths)` on the
undeprived task at the end, `baseline_loss` `(…)`, the same training without the deficit, and
`excess = loss − baseline_loss`: the damage the window leaves (`…` is the weight-decay axis when
`weight_decay` is an array).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import (
    as_array,
    check_depth,
    check_int,
    check_real,
    check_times,
    check_weight_decay,
)
from dln.measures import pathways as measures
from dln.protocol import Protocol
from dln.protocol.deficits import INPUT, Blur, Freeze
from dln.simulate import simulate as simulate_network
from dln.simulation import phases
from dln.simulation.pathways import simulate
from dln.tasks.task import Task
from dln.theory.competition import check_u0, solve
from dln.theory.input_deficits import blurred_modes

__all__ = ["critical_period_map", "simulated_critical_period_map", "network_critical_period_map",
           "simulated_network_critical_period_map"]


def _grid(onsets, lengths):
    on = np.asarray(as_array(onsets, "onsets", ndim=(0, 1)), dtype=float).ravel()
    ln = np.asarray(as_array(lengths, "lengths", ndim=(0, 1)), dtype=float).ravel()
    for name, v, _given in (("onsets", on, onsets), ("lengths", ln, lengths)):
        if v.size == 0:
            raise ValueError(f"`{name}` is empty; pass at least one value (flow time).")
        if np.any(v < 0):
            raise ValueError(f"`{name}` must be >= 0 (flow time), got a minimum of {v.min()!r}.")
    O, L = np.meshgrid(on, ln, indexing="ij")
    return jnp.asarray(O.ravel()), jnp.asarray(L.ravel()), (on.size, ln.size)


def _result(task, modes, shape):
    modes = modes.reshape(shape + modes.shape[-2:])
    maps = task.map_from_modes(modes)  # (O, L, P, No, Ni)
    return {"modes": modes, "shares": measures.shares(modes),
            "pathway_loss": task.loss(maps), "loss": task.loss(jnp.sum(maps, axis=-3))}


def critical_period_map(task, *, depth: int, u0, onsets, lengths, t: float, pathway: int = 1,
                        weight_decay=0.0, imbalance=0.0):
    """The exact map: pathway `pathway` frozen on `[onset, onset + length)` for every onset ×
    length, the state at flow time `t` (pass a large `t`, or use `final_split`, for the limit).

    Args:
      task, depth, u0: as `dln.pathways.solve`.
      onsets, lengths: `(n_onsets,)` and `(n_lengths,)` flow times, each `>= 0` and finite
        (a scalar counts as one value); every pair is one window.
      t: the flow time (a scalar `>= 0`) at which the state is read.
      pathway: the frozen pathway (an index into `u0`).
      weight_decay, imbalance: as `dln.pathways.solve` (the L2 penalty `γ`; the "large"
        initialisation `c`, with `u0` then the first-layer values).

    Returns:
      A dict of four arrays, indexed first by the onset and then by the length of the window
      (entry `[i, j]` is the window `[onsets[i], onsets[i] + lengths[j])`, with `onsets` and
      `lengths` flattened to 1-D); `P = len(u0)` pathways, `K = task.n_modes` modes; every
      value is read from the state of `dln.pathways.solve` at flow time `t` (closed form, or its
      labelled reduced integration at depth >= 3 with several plastic pathways):

      - `"modes"` `(n_onsets, n_lengths, P, K)`: `K_{pα}(t)`, the strength of mode α in
        pathway p (`U[:,α]ᵀ Ω_p V[:,α]`), i.e. `dln.pathways.solve(...).modes[-1]` per window;
      - `"shares"` `(n_onsets, n_lengths, P, K)`: each pathway's share of each mode,
        `K_p / Σ_q K_q` (`1/P` where every pathway holds 0; `dln.pathways.measures.shares`);
      - `"pathway_loss"` `(n_onsets, n_lengths, P)`: `task.loss` of each pathway's map
        `U diag(K_p) Vᵀ` on its own, as if the other pathways were removed (the deprived
        pathway's skill);
      - `"loss"` `(n_onsets, n_lengths)`: `task.loss` of the whole network's map
        `Σ_p U diag(K_p) Vᵀ`.

      Losses are the mean loss `1/(2P_data) Σ_μ ||y_μ − ŷ_μ||²` when the task knows
      `sigma_yy`, else the loss above its minimum (`dln.Task.loss`).
    """
    on, ln, shape = _grid(onsets, lengths)
    t = check_times(t)
    if t.shape != (1,) or jnp.ndim(t) != 1:
        raise ValueError("`t` must be a single flow time (a scalar).")
    t = float(t[0])
    depth = check_depth(depth)
    pathway = check_int(pathway, "pathway", 0, what=" (an index)")
    if isinstance(u0, (tuple, list)) and pathway >= len(u0):
        raise ValueError(f"`pathway` = {pathway} names no pathway: `u0` has {len(u0)} entries "
                         f"(indices 0..{len(u0) - 1}).")
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    # before the vmapped call, with concrete values (first-layer values p may be negative)
    strengths = check_u0(task, u0, 1 if isinstance(imbalance, (int, float)) and imbalance > 0
                         else depth)
    gamma = check_weight_decay(weight_decay)
    if isinstance(imbalance, (np.ndarray, jax.Array)):  # a static argument below: a number
        raise TypeError(f"`imbalance` must be a number c >= 0 (a Python float: it selects the "
                        f"solution), got {type(imbalance).__name__} {imbalance!r}.")
    modes = _exact_map(task, strengths, jnp.asarray(t, strengths.dtype), on, ln,
                       None if gamma is None else jnp.asarray(gamma, strengths.dtype),
                       depth=depth, pathway=pathway, imbalance=imbalance)
    return _result(task, modes, shape)


@functools.partial(jax.jit, static_argnames=("depth", "pathway", "imbalance"))
def _exact_map(task, u0, t, on, ln, gamma, *, depth, pathway, imbalance):
    """`(O·L, P, K)` strengths at `t` for every window: `dln.pathways.solve` vmapped over the
    windows, compiled once per depth, frozen pathway, imbalance, shapes and whether there is
    weight decay (`gamma` None: none, the closed forms and the decay-free reduction)."""

    def one(o, ell):
        return solve(task, depth=depth, u0=tuple(u0), t=t, deficit=Freeze(pathway, o, ell),
                     weight_decay=0.0 if gamma is None else gamma,
                     imbalance=imbalance).modes[-1]

    return jax.vmap(one)(on, ln)


def simulated_critical_period_map(task, weights, *, lr, steps: int, onsets, lengths,
                                  pathway: int = 1, **simulate_kwargs):
    """The same map from gradient descent: one batched `dln.pathways.simulate` call from
    `weights` (one list per pathway, unbatched) over all windows, the state after `steps`
    steps (flow time `lr × steps`). Extra keyword arguments go to `simulate`."""
    on, ln, shape = _grid(onsets, lengths)
    sim = simulate(task, weights, lr=lr, steps=steps, every=steps,
                   deficit=Freeze(pathway, on, ln), **simulate_kwargs)
    return _result(task, sim.modes[:, -1], shape)


# ------------------------------------------------------------------ one network, blur or flip
def _decays(weight_decay):
    g = np.asarray(as_array(weight_decay, "weight_decay", ndim=(0, 1)), dtype=float)
    if g.size == 0 or np.any(~(g >= 0)):
        raise ValueError(f"`weight_decay` must be >= 0 (one value or a 1-D array of values), "
                         f"got {weight_decay!r}.")
    return g


def _window_deficit(deficit, onset, length):
    if not isinstance(deficit, INPUT):
        raise TypeError(f"`deficit` must be a dln.Blur or dln.Flip (its onset and length are "
                        f"replaced by the map's windows), got {type(deficit).__name__}.")
    return dataclasses.replace(deficit, onset=onset, length=length)


def network_critical_period_map(task, *, depth: int, u0, deficit, onsets, lengths, t,
                                weight_decay=0.0, lr=None):
    """The exact whole-network map: one network of depth `depth` from balanced aligned weights
    of mode strengths `u0`, its input blurred (`deficit`, a `dln.Blur`) on
    `[onset, onset + length)` for every onset × length, read at flow time `t`.

    Args:
      task: an input-aligned `dln.Task` (`Σxx` diagonal in the task's modes).
      depth: weight matrices.
      u0: a scalar or `(K,)` initial mode strengths (`>= 0` at depth >= 2).
      deficit: a `dln.Blur` (its `keep` and `factor` are used; its window is replaced).
      onsets, lengths: flow times (scalars or 1-D); every pair is one window.
      t: the flow time at which the network is read (the budget of training: with an annealed
        learning rate, `Σ lr` over the whole run).
      weight_decay: `γ >= 0`, a number or a 1-D array (a leading axis of the results).
      lr: None (`onsets`, `lengths`, `t` are flow times), or the learning rate of a gradient-
        descent run, a number or a schedule (a callable step → lr): then `onsets`, `lengths`
        and `t` count **steps** (as the papers count epochs) and are turned into flow time,
        the step `k` at `Σ_{j<k} lr_j`; the result is the flow that the run follows.

    Returns:
      A dict: `modes` `(…, n_onsets, n_lengths, K)`, the strengths of the task's modes at `t`;
      `loss` `(…, n_onsets, n_lengths)`, the loss on the task itself (undeprived data) at `t`;
      `baseline_loss` `(…)`, the same training without a deficit; `excess` = `loss −
      baseline_loss`. `…` is the weight-decay axis when `weight_decay` is an array. Depth 1, 2
      and no weight decay are closed forms; depth >= 3 with weight decay integrates each
      mode's ODE (`dln.theory.modes`, method `"reduced-integration"`).
    """
    if not isinstance(deficit, Blur):
        raise TypeError(f"`deficit` must be a dln.Blur for the exact map (a flip changes the "
                        f"modes' directions: use simulated_network_critical_period_map), got "
                        f"{type(deficit).__name__}.")
    on, ln, shape = _grid(onsets, lengths)
    if lr is None:
        t = float(check_real(t, "t", low=0.0, what=" (the flow time of the reading)"))
    else:
        on, ln, t = _steps_to_flow_time(lr, on, ln, t)
    depth = check_depth(depth)
    g = _decays(weight_decay)
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    if task.input_aligned is not True:
        raise ValueError("network_critical_period_map needs an input-aligned task (`sigma_xx` "
                         "diagonal in the task's modes: whitened or one-hot input); use "
                         "simulated_network_critical_period_map, or whiten the inputs.")
    u0 = _initial_strengths(task, depth, u0)
    factor = jnp.asarray(deficit.factor)
    runs = [_blur_map(task, u0, float(t), on, ln, factor, depth=depth, keep=deficit.keep,
                      gamma=float(gamma)) for gamma in g.ravel()]
    modes = jnp.stack([m for m, _ in runs])
    base = jnp.stack([b for _, b in runs])
    return _network_result(task, modes.reshape((g.size,) + shape + modes.shape[-1:]), base,
                           g.ndim == 0)


def _initial_strengths(task, depth, u0):
    K = task.n_modes
    u0 = np.asarray(as_array(u0, "u0", ndim=(0, 1)), dtype=float)
    if u0.ndim == 1 and u0.shape != (K,):
        raise ValueError(f"`u0` must be a scalar or have shape ({K},) (one value per mode), got "
                         f"{u0.shape}.")
    if depth >= 2 and np.any(u0 < 0):
        raise ValueError(f"`u0` must be >= 0 for depth {depth} (balanced aligned weights: "
                         "gradient flow cannot change the sign of a mode).")
    return jnp.asarray(np.broadcast_to(u0, (K,)), task.s.dtype)


def _steps_to_flow_time(lr, on, ln, steps):
    """Windows `[k0, k0 + L)` and a run of `steps` steps, in flow time `Σ_{j<k} lr_j`."""
    steps = check_int(steps, "t", 1, what=" (with `lr`, the number of steps of the run)")
    for name, v in (("onsets", on), ("lengths", ln)):
        if np.any(v != np.round(v)):
            raise ValueError(f"with `lr`, `{name}` count steps: give whole numbers, got "
                             f"{float(np.asarray(v)[np.asarray(v) != np.round(v)][0])!r}.")
    if callable(lr):
        rates = phases.schedule_values(lr, steps)
    else:
        rate = float(check_real(lr, "lr", low=0.0, strict=True, what=" (the learning rate)"))
        rates = np.full(steps, rate)
    clock = np.concatenate([[0.0], np.cumsum(rates)])  # flow time at step k, k = 0 … steps
    at = lambda k: clock[np.minimum(k, steps).astype(int)]  # noqa: E731
    start, end = at(np.asarray(on)), at(np.asarray(on) + np.asarray(ln))
    return jnp.asarray(start), jnp.asarray(end - start), float(clock[-1])


@functools.partial(jax.jit, static_argnames=("depth", "keep", "gamma"))
def _blur_map(task, u0, t, on, ln, factor, *, depth, keep, gamma):
    """`(O·L, K)` modes at `t` for every window, and `(K,)` without a deficit. `gamma` is
    static: 0 takes the closed forms alone, `γ > 0` the integration alone (compiled once per
    value)."""
    times = jnp.reshape(t, (1,))

    def one(o, ell):
        blur = Blur(onset=o, length=ell, keep=keep, factor=factor)
        return blurred_modes(task, depth, u0, times, [blur], weight_decay=gamma)[-1]

    base = blurred_modes(task, depth, u0, times, [], weight_decay=gamma)[-1]
    return jax.vmap(one)(on, ln), base


def _network_result(task, modes, base, scalar):
    loss = task.loss_of_modes(modes)
    baseline = task.loss_of_modes(base)
    out = {"modes": modes, "loss": loss, "baseline_loss": baseline,
           "excess": loss - baseline[:, None, None]}
    return {k: v[0] for k, v in out.items()} if scalar else out


def simulated_network_critical_period_map(task, weights, *, lr, steps: int, deficit, onsets,
                                          lengths, weight_decay=0.0, **simulate_kwargs):
    """The whole-network map from gradient descent: one network from `weights` (unbatched),
    its input blurred or flipped (`deficit`, a `dln.Blur` or `dln.Flip`) on
    `[onset, onset + length)` (flow time) for every onset × length, read after `steps` steps.

    `lr` is a number or a schedule (a callable step → learning rate); `onsets` and `lengths`
    are flow time here, read on the run's clock `Σ lr` (for windows in steps, convert them
    with the clock, as `network_critical_period_map(..., lr=)` does). One batched
    `dln.simulate` call runs all windows for each weight decay, and one more the undeprived
    baseline. Returns the dict of
    `network_critical_period_map`, the modes read from the final map in the task's modes.
    Extra keyword arguments go to `dln.simulate`."""
    on, ln, shape = _grid(onsets, lengths)
    steps = check_int(steps, "steps", 1, what=" (gradient steps)")
    g = _decays(weight_decay)
    windowed = Protocol(task, depth=len(weights), deficits=_window_deficit(deficit, on, ln))
    plain = Protocol(task, depth=len(weights))
    modes, base = [], []
    for gamma in g.ravel():
        run = simulate_network(windowed, weights, lr=lr, steps=steps, every=steps,
                               weight_decay=float(gamma), **simulate_kwargs)
        ref = simulate_network(plain, weights, lr=lr, steps=steps, every=steps,
                               weight_decay=float(gamma), **simulate_kwargs)
        modes.append(task.mode_strengths(run.map[:, -1]))
        base.append(task.mode_strengths(ref.map[-1]))
    modes = jnp.stack(modes).reshape((g.size,) + shape + (task.n_modes,))
    return _network_result(task, modes, jnp.stack(base), g.ndim == 0)
