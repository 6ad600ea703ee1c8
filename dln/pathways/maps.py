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

from dln.pathways import measures
from dln.pathways.deficits import Freeze
from dln.pathways.exact import solve
from dln.pathways.simulate import simulate

__all__ = ["critical_period_map", "simulated_critical_period_map"]


def _grid(onsets, lengths):
    on = np.asarray(onsets, dtype=float).ravel()
    ln = np.asarray(lengths, dtype=float).ravel()
    if on.size == 0 or ln.size == 0 or np.any(on < 0) or np.any(ln < 0):
        raise ValueError(f"`onsets` and `lengths` must be non-empty and >= 0 (flow time), got "
                         f"{onsets!r} and {lengths!r}.")
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
    Arguments as `dln.pathways.solve`; returns the dictionary of the module docstring."""
    on, ln, shape = _grid(onsets, lengths)

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
