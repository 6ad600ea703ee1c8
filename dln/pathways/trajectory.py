"""The result type of `dln.pathways.solve` (exact theory) and `dln.pathways.simulate`."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp

from dln.task import Task

__all__ = ["PathwayTrajectory"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PathwayTrajectory:
    """Learning trajectory of a network of parallel pathways summed at the output.

    Time is flow time `t = lr × steps`.

    Attributes:
      t: `(T,)` flow times of the records.
      modes: `(T, P, K)` strength of each task mode in each pathway's contribution to the map,
        `K_{pα} = U[:,α]ᵀ Ω_p V[:,α]` (P pathways, K modes).
      loss: `(T,)` mean squared error of the summed map (see `Task.loss`).
      task: the `Task`.
      method: `"exact-exponential"` (depth 1), `"exact-logistic"` (depth 2), `"exact-implicit"`
        (depth ≥ 3 where every piece has a closed form: one plastic pathway per mode),
        `"reduced-integration"` (depth ≥ 3 with two or more plastic pathways, or a negative
        effective target: the exact one-dimensional reduction of the flow, integrated
        numerically to `rtol`; never called exact) or `"simulation"` (gradient descent).
      depth: number of weight matrices per pathway.
      u0: `(P, K)` initial strengths of an exact trajectory (None for a simulation).
      stored_map: `(T, P, No, Ni)` each pathway's contribution to the map (simulations; exact
        trajectories build it from `modes` on demand, see `map`).
      final_weights: simulations: `(pathways, shared)`, the weights at the last record.
      recorded_weights: simulations run with `record_weights=True`: `(pathways, shared)` with a
        leading time axis on every matrix.
      final: `(P, K)` the limit `t → ∞` of an exact trajectory (each mode's final split,
        `dln.pathways.final_split`), None for simulations.
      diverged_at: for a simulation, the first recorded step at which the weights were no
        longer finite, or −1 (None for exact trajectories); see `on_divergence`.

    Simulations batched over weights or deficits carry leading batch axes on every array field.
    """

    t: Any
    modes: Any
    loss: Any
    task: Task
    method: str = dataclasses.field(metadata=dict(static=True))
    depth: int = dataclasses.field(metadata=dict(static=True))
    u0: Optional[Any] = None
    stored_map: Optional[Any] = None
    final_weights: Optional[Any] = None
    recorded_weights: Optional[Any] = None
    final: Optional[Any] = None
    diverged_at: Optional[Any] = None

    @property
    def is_exact(self) -> bool:
        return self.method.startswith("exact")

    @property
    def n_pathways(self) -> int:
        return self.modes.shape[-2]

    @property
    def map(self):
        """`(T, P, No, Ni)` each pathway's contribution to the network map."""
        if self.stored_map is not None:
            return self.stored_map
        return self.task.map_from_modes(self.modes)

    @property
    def total_modes(self):
        """`(T, K)` mode strengths of the summed map, `Σ_p K_{pα}`."""
        return jnp.sum(self.modes, axis=-2)

    @property
    def total_map(self):
        """`(T, No, Ni)` the network map `Σ_p Ω_p`."""
        return jnp.sum(self.map, axis=-3)
