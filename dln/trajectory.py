"""The result type shared by `dln.solve` (exact theory) and `dln.simulate` (gradient descent)."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, is_concrete
from dln.network import product
from dln.tasks.task import Task
from dln.theory import modes as _modes

_time_to_fraction = jax.jit(_modes.time_to_fraction, static_argnames="depth")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Learning trajectory of a deep linear network, exact or simulated.

    Time is flow time `t = lr × steps` (gradient descent with learning rate `lr` approximates the
    gradient flow `dW/dt = −∂L/∂W` at `t = lr × steps`, with an error of order `lr`).

    Attributes:
      t: `(T,)` flow times of the records.
      modes: `(T, K)` strength of each task mode in the network map, `U[:,α]ᵀ W(t) V[:,α]`.
      loss: `(T,)` mean squared error `1/(2P) Σ_μ ||y_μ − ŷ_μ||²` (the excess over the minimum
        when the task does not know `sigma_yy`; see `Task.loss`).
      task: the `Task`.
      method: how the trajectory was obtained (`dln.methods`): `"exact-exponential"` (depth 1),
        `"exact-logistic"` (depth 2), `"exact-implicit"` (depth ≥ 3, the implicit solution
        inverted to float64 precision), `"exact-riccati"` (two layers from any λ-balanced
        weights, `dln.riccati`), `"numerical-flow"` (the exact flow integrated numerically,
        with `error_estimate`; `dln.numerical_flow`), `"reduced-integration"` (networks with
        biases whose uniform mode has no closed form: every other mode exact, that mode's
        one-unit network integrated, with `error_estimate`; `dln.biases`) or `"simulation"`
        (gradient descent).
      depth: number of weight matrices.
      u0: `(K,)` initial mode strengths of an exact trajectory (None for a simulation).
      stored_map: `(T, No, Ni)` network maps (None for a mode solution, whose map is built from
        its modes on demand: see `map`).
      final_weights: list of the `depth` weight matrices at the last record (simulations,
        `"exact-riccati"` and `"numerical-flow"`; for `"exact-riccati"` exact up to a rotation
        of the hidden layer, which no observable and no later flow sees). They seed the next
        trajectory: `dln.solve(task_b, weights=traj.final_weights, t=...)`.
      recorded_weights: list of `(T, out, in)` weight records (simulations run with
        `record_weights=True`, `"exact-riccati"`, `"numerical-flow"`), else None.
      diverged_at: for a simulation, the first recorded step at which the weights were no
        longer finite, or −1 (None for exact trajectories).
      error_estimate: `(T,)` estimated error (Frobenius) of the map of a `"numerical-flow"`
        (see `relative_error_estimate`).
      n_steps, n_rejected: the accepted and rejected steps of a `"numerical-flow"`
        integration (`dln.numerical_flow.integrate`); None elsewhere.
      recorded_biases: list of `(T, out)` bias records of a `"numerical-flow"` with biases
        (None entries for layers without bias); None elsewhere.
      stalled: `(K,)` booleans of an `"exact-riccati"` trajectory: modes whose initial sign
        opposes the target, which stall at the saddle instead of being learned
        (`(..., n_phases, K)` through a schedule: per phase, False where no Riccati solution).
      offset: `(T, No)` output offset `c` of a network with biases, `ŷ = map · x + offset`
        (`dln.simulate(..., biases=[…])`; `c = Σ_l (W_D ⋯ W_{l+1}) b_l`); None means 0 (no
        biases).
      final_biases: list of the `depth` biases at the last record (None entries for layers
        without bias), for a simulation run with biases; else None.
      pathways: the number `P` of parallel pathways summed at the output (`dln.pathways`), or
        None for a single network. With pathways, `modes` is `(T, P, K)` (each pathway's
        contribution `K_{pα} = U[:,α]ᵀ Ω_p V[:,α]`), `map` `(T, P, No, Ni)`, `loss` that of the
        summed map; `total_modes` and `total_map` sum over pathways; `u0` is `(P, K)`;
        `final_weights` and `recorded_weights` of a simulation are `(pathways, shared)`.
      final: `(P, K)` the limit `t → ∞` of an exact pathways trajectory (each mode's final
        split, `dln.pathways.final_split`); None otherwise.

    Through a schedule of phases (`dln.schedule`, `dln.completion`: task A for a while, then B,
    …) the trajectory also has, each with the batch axes of the schedule:

      tasks: the phases' tasks (`dln.Task`, or `dln.completion.Problem`); `task` is the last.
      phase: `(..., T)` the phase each record belongs to (`n_phases` once the schedule is over:
        the weights are frozen).
      bounds: `(..., n_phases + 1)` the start of each phase and the end (flow time).
      phase_loss: `(..., T, n_phases)` the loss of each record on each phase's task (the
        masked training loss for completion); `loss` is the one on the record's own phase.
        Aliases: `losses`, `train_loss`.
      phase_methods: per phase, how it was obtained (`"skipped"` for a zero duration); alias
        `methods`. `method` joins the distinct ones with `+`.
      test_error: `(..., T, n_phases)` matrix completion's error on all entries of each
        phase's target; None elsewhere.
      weight_decay: γ of an exact trajectory solved with weight decay (None without).

    `modes` of a schedule are the strengths in the last phase's task (None for completion,
    whose problems have no modes).

    Simulations batched over initial weights or learning rates carry one leading batch axis on
    every array field.
    """

    t: Any
    modes: Any
    loss: Any
    task: Any
    method: str = dataclasses.field(metadata=dict(static=True))
    depth: int = dataclasses.field(metadata=dict(static=True))
    u0: Optional[Any] = None
    stored_map: Optional[Any] = None
    final_weights: Optional[list] = None
    recorded_weights: Optional[list] = None
    diverged_at: Optional[Any] = None
    error_estimate: Optional[Any] = None
    stalled: Optional[Any] = None
    offset: Optional[Any] = None
    final_biases: Optional[list] = None
    final: Optional[Any] = None
    pathways: Optional[int] = dataclasses.field(default=None, metadata=dict(static=True))
    tasks: Optional[tuple] = None
    phase: Optional[Any] = None
    bounds: Optional[Any] = None
    phase_loss: Optional[Any] = None
    phase_methods: Optional[tuple] = dataclasses.field(default=None,
                                                       metadata=dict(static=True))
    test_error: Optional[Any] = None
    weight_decay: Optional[Any] = None
    n_steps: Optional[Any] = None
    n_rejected: Optional[Any] = None
    recorded_biases: Optional[list] = None

    @property
    def relative_error_estimate(self):
        """`(T,)` `error_estimate / ||map||_F` (0 where the estimate is 0, inf where only the
        map is)."""
        norm = jnp.linalg.norm(self.map, axis=(-2, -1))
        return jnp.where(self.error_estimate == 0, 0.0, self.error_estimate / norm)

    @property
    def is_exact(self) -> bool:
        """True when every part was obtained in closed form (phases of zero length aside)."""
        methods = self.phase_methods if self.phase_methods is not None else (self.method,)
        return all(m.startswith("exact") or m == "skipped" for m in methods)

    # ---- schedules (aliases of the names the schedule results had)
    @property
    def losses(self):
        """Alias of `phase_loss` (`dln.schedule`)."""
        return self.phase_loss

    @property
    def train_loss(self):
        """Alias of `phase_loss` (`dln.completion`: the masked training loss)."""
        return self.phase_loss

    @property
    def methods(self):
        """Alias of `phase_methods`."""
        return self.phase_methods

    @property
    def final_losses(self):
        """`(..., n_phases)` the loss of the final weights' map on every phase's task (for
        matrix completion, whose records reach the end, the last record's training losses)."""
        if not all(hasattr(task, "loss") for task in self.tasks):
            return self.phase_loss[..., -1, :]
        W = product(self.final_weights)
        return jnp.stack([task.loss(W) for task in self.tasks], axis=-1)

    @property
    def final_loss(self):
        """`(...)` the loss of the final weights' map on the last phase's task."""
        return self.final_losses[..., -1]

    @property
    def final_test_error(self):
        """`(...)` matrix completion: the test error of the final matrix on the last target."""
        return self.test_error[..., -1, -1]

    @property
    def map(self):
        """`(T, No, Ni)` network map `W_D ⋯ W_1` at each record (for exact trajectories
        `U diag(modes) Vᵀ`, computed when asked for)."""
        if self.stored_map is not None:
            return self.stored_map
        return self.task.map_from_modes(self.modes)

    @property
    def final_map(self):
        """The network map at the last record, `(No, Ni)` (`(P, No, Ni)` with pathways)."""
        return self.map[..., -1, :, :] if self.pathways is None else self.map[..., -1, :, :, :]

    @property
    def n_pathways(self) -> int:
        """The number of parallel pathways (1 for a single network)."""
        return 1 if self.pathways is None else self.pathways

    @property
    def total_modes(self):
        """`(T, K)` mode strengths of the network map (summed over pathways, `Σ_p K_{pα}`)."""
        return self.modes if self.pathways is None else jnp.sum(self.modes, axis=-2)

    @property
    def total_map(self):
        """`(T, No, Ni)` the network map (summed over pathways, `Σ_p Ω_p`)."""
        return self.map if self.pathways is None else jnp.sum(self.map, axis=-3)

    def time_to(self, fraction):
        """Flow time at which each mode first reaches `fraction` of its target `s_α/λ_α`, `(K,)`.

        Below the target (`fraction < 1`) the first time with `u >= fraction·s/λ`, above it the
        first time with `u <= fraction·s/λ`: 0 if a mode starts there or beyond, `inf` if it
        never gets there. Exact trajectories answer in closed form
        (`dln.modes.time_to_fraction`); simulations, and trajectories with weight decay (whose
        modes do not settle at `s/λ`), by linear interpolation between the two records around
        the first crossing.

        `fraction` is a scalar or one value per mode `(K,)`, each `> 0` and finite: below 1 for
        modes rising to their target, above 1 for modes approaching it from above (e.g. 1.1 for
        "within 10 % from above"); 1 itself is reached only by a mode that starts there.
        Non-positive, NaN, infinite or complex fractions raise (when concrete).
        """
        K = self.modes.shape[-1]
        fraction = as_array(fraction, "fraction", ndim=(0, 1))
        if fraction.ndim == 1 and fraction.shape != (K,):
            raise ValueError(f"`fraction` must be a scalar or have shape ({K},) (one value per "
                             f"mode), got {tuple(fraction.shape)}.")
        if is_concrete(fraction) and np.any((f := np.asarray(fraction)) <= 0):
            raise ValueError(
                f"`fraction` must be > 0 (a fraction of each mode's target s/λ: < 1 from below, "
                f"> 1 from above), got {f.min()!r}.")
        if self.pathways is not None:
            raise ValueError("time_to() reads the modes of one network; this trajectory has "
                             f"{self.pathways} pathways (modes (T, P, K)). Use "
                             "`traj.total_modes` or `dln.pathways.measures`.")
        targets = self.task.mode_targets
        if self.is_exact and self.u0 is not None and self.weight_decay is None:
            return _time_to_fraction(fraction, self.task.s, self.task.input_variance,
                                     self.u0, depth=self.depth)
        level = fraction * targets
        # the same events as the exact answer: u >= level below the target, u <= level above
        reached = jnp.where(fraction < 1, self.modes >= level, self.modes <= level)
        gap = jnp.where(fraction < 1, self.modes - level, level - self.modes)
        first = jnp.argmax(reached, axis=-2)
        any_reached = jnp.any(reached, axis=-2)
        idx_prev = jnp.maximum(first - 1, 0)
        take = lambda a, i: jnp.take_along_axis(a, i[..., None, :], axis=-2)[..., 0, :]
        t = jnp.broadcast_to(self.t[..., :, None], self.modes.shape)
        g0, g1 = take(gap, idx_prev), take(gap, first)
        t0, t1 = take(t, idx_prev), take(t, first)
        frac = jnp.where(g1 > g0, -g0 / jnp.where(g1 > g0, g1 - g0, 1.0), 0.0)
        t_cross = jnp.where(first == 0, t0, t0 + frac * (t1 - t0))
        return jnp.where(any_reached, t_cross, jnp.inf)

    def weights(self, bases=None):
        """Per-layer weights along the trajectory, a list of `depth` arrays `(T, out, in)`.

        For an exact trajectory these are the balanced aligned weights the solution assumes
        (`dln.init.aligned`): `W_1 = R_1 A Vᵀ`, `W_l = R_l A R_{l−1}ᵀ`, `W_D = U A R_{D−1}ᵀ`
        with `A = diag(u^{1/D})` and hidden bases `bases = [R_1, …, R_{D−1}]` (orthogonal
        `(width, width)` matrices with width ≥ K; default identities of size K). For a
        simulation run with `record_weights=True`, a Riccati solution or a numerical flow they
        are the recorded weights (`bases` is ignored).
        """
        if self.recorded_weights is not None:
            return self.recorded_weights
        if self.u0 is None:
            raise ValueError(
                "this trajectory has no recorded weights; run dln.simulate(..., "
                "record_weights=True), or use `final_weights`."
            )
        from dln.init import aligned_from_strengths  # local: init depends on this module's peers

        return aligned_from_strengths(self.task, self.depth, self.modes, bases)


def phase_trajectory(*, t, maps, tasks, phase, bounds, final_weights, phase_methods,
                     phase_loss=None, depth=None, **extra) -> Trajectory:
    """The `dln.Trajectory` of a protocol with phases: `maps (..., T, No, Ni)` recorded at `t`,
    the phase of each record, and the losses on every phase's task (computed from the maps
    unless given: completion passes its masked losses, and `tasks` are then its problems)."""
    if phase_loss is None:
        phase_loss = jnp.stack([task.loss(maps) for task in tasks], axis=-1)
    n_phases = len(tasks)
    own = jnp.minimum(jnp.asarray(phase), n_phases - 1)[..., None]
    loss = jnp.take_along_axis(phase_loss, own, axis=-1)[..., 0]
    last = tasks[-1]
    modes = last.mode_strengths(maps) if isinstance(last, Task) else None
    shown = tuple(dict.fromkeys(m for m in phase_methods if m != "skipped")) or ("skipped",)
    return Trajectory(t=t, modes=modes, loss=loss, task=last, method="+".join(shown),
                      depth=len(final_weights) if depth is None else depth, stored_map=maps,
                      final_weights=final_weights,
                      tasks=tuple(tasks), phase=jnp.asarray(phase), bounds=jnp.asarray(bounds),
                      phase_loss=phase_loss, phase_methods=tuple(phase_methods), **extra)
