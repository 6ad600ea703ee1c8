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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_depth, check_int, check_times
from dln.measures import pathways as measures
from dln.protocol.deficits import Freeze
from dln.simulation.pathways import simulate
from dln.tasks.task import Task
from dln.theory.competition import check_u0, solve

__all__ = ["critical_period_map", "simulated_critical_period_map"]


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


def critical_period_map(task, *, depth: int, u0, onsets, lengths, t: float, pathway: int = 1):
    """The exact map: pathway `pathway` frozen on `[onset, onset + length)` for every onset ×
    length, the state at flow time `t` (pass a large `t`, or use `final_split`, for the limit).

    Args:
      task, depth, u0: as `dln.pathways.solve`.
      onsets, lengths: `(n_onsets,)` and `(n_lengths,)` flow times, each `>= 0` and finite
        (a scalar counts as one value); every pair is one window.
      t: the flow time (a scalar `>= 0`) at which the state is read.
      pathway: the frozen pathway (an index into `u0`).

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
    check_u0(task, u0, depth)  # before the vmapped call, with concrete values

    def one(o, ell):
        return solve(task, depth=depth, u0=u0, t=t, deficit=Freeze(pathway, o, ell)).modes[-1]

    return _result(task, jax.jit(jax.vmap(one))(on, ln), shape)


def simulated_critical_period_map(task, weights, *, lr, steps: int, onsets, lengths,
                                  pathway: int = 1, **simulate_kwargs):
    """The same map from gradient descent: one batched `dln.pathways.simulate` call from
    `weights` (one list per pathway, unbatched) over all windows, the state after `steps`
    steps (flow time `lr × steps`). Extra keyword arguments go to `simulate`."""
    on, ln, shape = _grid(onsets, lengths)
    sim = simulate(task, weights, lr=lr, steps=steps, every=steps,
                   deficit=Freeze(pathway, on, ln), **simulate_kwargs)
    return _result(task, sim.modes[:, -1], shape)
