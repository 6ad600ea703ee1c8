"""The result type shared by `dln.solve` (exact theory) and `dln.simulate` (gradient descent).

A `Trajectory` prints as a short summary, draws itself (`plot`: exact trajectories as lines,
simulations as markers) and is stored in a portable `.npz` file without pickle (`save`,
`Trajectory.load`). The quantities it records are those of docs/theory/setting.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, is_concrete
from dln.network import product
from dln.tasks.task import SpectralTask, Task
from dln.theory import modes as _modes

_time_to_fraction = jax.jit(_modes.time_to_fraction, static_argnames="depth")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Deferred:
    """A `Trajectory` field computed when it is read instead of stored: `compute(source)`.

    The `(T, No, Ni)` maps and `(T, out, in)` weights of a large exact solution cost far more
    memory than its constants; a trajectory can hold `Deferred(compute, source)` in
    `stored_map` or `recorded_weights` instead, and reading the field evaluates it each time
    (keep the result to reuse it). It is a pytree (the leaves of `source`; `compute` is static),
    so a trajectory that holds one passes through `jit` and `vmap` unevaluated; leading axes
    that `vmap` adds to every leaf of `source` are mapped over when the value is read.
    `Trajectory.save` stores the value.

    Attributes:
      source: a pytree, the arguments of `compute`.
      compute: a function of `source` (static: a module-level function).
      rank: `ndim` of the first leaf of `source` when it was made (so that the batch axes added
        since are known).
    """

    source: Any
    compute: Callable = dataclasses.field(metadata=dict(static=True))
    rank: int = dataclasses.field(metadata=dict(static=True))

    @classmethod
    def of(cls, compute: Callable, source) -> Deferred:
        """`compute(source)`, evaluated when read."""
        leaves = jax.tree_util.tree_leaves(source)
        return cls(source=source, compute=compute, rank=np.ndim(leaves[0]) if leaves else 0)

    def value(self):
        """`compute(source)`, vmapped over the batch axes added to `source` since it was made."""
        leaves = jax.tree_util.tree_leaves(self.source)
        fn = self.compute
        for _ in range((np.ndim(leaves[0]) - self.rank) if leaves else 0):
            fn = jax.vmap(fn)
        return fn(self.source)


class _Computed:
    """The descriptor of a `Trajectory` field that may hold a `Deferred`: reading the field gives
    the value (computed), while `jax.tree_util` (flattening), `repr` and the constructor see
    what is held."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:  # the class attribute: the field's default
            return None
        held = obj.__dict__[self.name]
        return held.value() if isinstance(held, Deferred) else held

    def __set__(self, obj, value):  # the dataclass __init__ (frozen: only there)
        obj.__dict__[self.name] = value


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
        its modes on demand: see `map`). An `"exact-riccati"` trajectory holds a `Deferred`
        here: the maps are computed from the stored solution each time the field is read.
      final_weights: list of the `depth` weight matrices at the last record (simulations,
        `"exact-riccati"` and `"numerical-flow"`; for `"exact-riccati"` exact up to a rotation
        of the hidden layer, which no observable and no later flow sees). They seed the next
        trajectory: `dln.solve(task_b, weights=traj.final_weights, t=...)`.
      recorded_weights: list of `(T, out, in)` weight records (simulations run with
        `record_weights=True`, `"exact-riccati"`, `"numerical-flow"`), else None (computed when
        read for `"exact-riccati"`, as `stored_map`).
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

    `repr(traj)` is a one-line summary (method, depth, sizes, the fields that are set), `plot`
    draws it, and `save(path)` / `Trajectory.load(path)` store it in a portable `.npz` file.
    """

    t: Any
    modes: Any
    loss: Any
    task: Any
    method: str = dataclasses.field(metadata=dict(static=True))
    depth: int = dataclasses.field(metadata=dict(static=True))
    u0: Any | None = None
    stored_map: Any | None = _Computed()
    final_weights: list | None = None
    recorded_weights: list | None = _Computed()
    diverged_at: Any | None = None
    error_estimate: Any | None = None
    stalled: Any | None = None
    offset: Any | None = None
    final_biases: list | None = None
    final: Any | None = None
    pathways: int | None = dataclasses.field(default=None, metadata=dict(static=True))
    tasks: tuple | None = None
    phase: Any | None = None
    bounds: Any | None = None
    phase_loss: Any | None = None
    phase_methods: tuple | None = dataclasses.field(default=None,
                                                       metadata=dict(static=True))
    test_error: Any | None = None
    weight_decay: Any | None = None
    n_steps: Any | None = None
    n_rejected: Any | None = None
    recorded_biases: list | None = None

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

    # ------------------------------------------------------------------------- summary
    def __repr__(self):
        def shape(a):
            return tuple(getattr(a, "shape", ()))

        t_shape = shape(self.t)
        parts = [f"method={self.method!r}", f"depth={self.depth}",
                 f"T={t_shape[-1] if t_shape else 1}"]
        if self.modes is not None:
            parts.append(f"K={shape(self.modes)[-1]}")
        if len(t_shape) > 1:
            parts.append(f"batch={t_shape[:-1]}")
        if self.pathways is not None:
            parts.append(f"pathways={self.pathways}")
        parts += [f"{name}={shape(getattr(self, name))}" for name in ("modes", "loss")
                  if getattr(self, name) is not None]
        task = self.task
        parts.append(f"task={type(task).__name__}({task.n_in}→{task.n_out})"
                     if isinstance(task, Task) else f"task={type(task).__name__}")
        shown = {"t", "modes", "loss", "task", "method", "depth", "pathways"}
        extra = [f.name for f in dataclasses.fields(self)  # what is held (nothing computed)
                 if f.name not in shown and self.__dict__[f.name] is not None]
        if extra:
            parts.append("set: " + ", ".join(extra))
        return f"Trajectory({', '.join(parts)})"

    # ------------------------------------------------------------------- save and load
    def save(self, path) -> str:
        """Store the trajectory in a portable `.npz` file (no pickle): its arrays with
        `np.savez`, and one JSON string (`"__dln_trajectory__"`) for the static fields and the
        structure of its lists, tuples and tasks.

        Tasks (`task`, and `tasks` of a schedule) are stored as their arrays and rebuilt as the
        same `dln.Task` (a `Task.from_spectrum` task stays factored); `dln.completion.Problem`s
        as their `target` and `mask`. Traced values (inside `jit`) and other objects cannot be
        stored and raise. `".npz"` is appended to a path without it, as `np.savez` does; the
        path written is returned. Read it back with `Trajectory.load(path)` (or, array by array,
        `np.load(path, allow_pickle=False)`).
        """
        arrays = {}
        fields = {f.name: _encode(getattr(self, f.name), f.name, arrays)
                  for f in dataclasses.fields(self)}
        header = json.dumps({"format": _FORMAT, "version": _VERSION, "fields": fields})
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"`path` must be a file name (str or os.PathLike), got "
                            f"{type(path).__name__} {path!r}.")
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        np.savez(path, allow_pickle=False, **arrays, **{_HEADER: np.array(header)})
        return path

    @classmethod
    def load(cls, path) -> Trajectory:
        """The trajectory stored by `save(path)`: the same fields, with numpy arrays (exactly
        the values stored) and the tasks rebuilt. Reads with `allow_pickle=False`."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"`path` must be a file name (str or os.PathLike), got "
                            f"{type(path).__name__} {path!r}.")
        with np.load(path, allow_pickle=False) as data:
            if _HEADER not in data.files:
                raise ValueError(f"`path` {os.fspath(path)!r} is not a file written by "
                                 "Trajectory.save (it has no '__dln_trajectory__' entry).")
            header = json.loads(str(data[_HEADER]))
            if header.get("format") != _FORMAT or header.get("version", 0) > _VERSION:
                raise ValueError(f"`path` {os.fspath(path)!r} holds format "
                                 f"{header.get('format')!r} version {header.get('version')!r}; "
                                 f"this dln reads {_FORMAT!r} up to version {_VERSION}.")
            fields = {name: _decode(value, data) for name, value in header["fields"].items()}
        return cls(**fields)

    # -------------------------------------------------------------------------- plot
    def plot(self, ax=None, *, what: str = "modes", simulation=None, modes=None, batch=None,
             markers: int = 60):
        """Draw the trajectory, and optionally a simulation over it, as the examples do.

        Exact and integrated trajectories are drawn as lines, simulations (method
        `"simulation"`) as markers (about `markers` per curve), one colour per mode; the x axis
        is flow time `t = lr × steps`, and the legend names the lines, the markers and the
        modes.

        Args:
          ax: a matplotlib `Axes`; default a new figure's (through `matplotlib.pyplot`).
          what: `"modes"`, the mode strengths `u_α(t) = U_αᵀ W(t) V_α` (summed over pathways),
            or `"loss"`.
          simulation: another `Trajectory` of the same task drawn over this one (typically
            `dln.simulate(...)` against `dln.solve(...)`, at the same or other times).
          modes: the indices of the modes to draw (default: the first `min(K, 10)`, the
            strongest).
          batch: the index of the run to draw when a trajectory has a batch axis (batched
            simulations).
          markers: about how many markers per simulated curve.

        Returns:
          The matplotlib `Axes`.
        """
        if what not in ("modes", "loss"):
            raise ValueError(f"`what` must be 'modes' or 'loss', got {what!r}.")
        if simulation is not None and not isinstance(simulation, Trajectory):
            raise TypeError(f"`simulation` must be a dln.Trajectory (e.g. from dln.simulate), "
                            f"got {type(simulation).__name__}.")
        markers = int(markers) if isinstance(markers, (int, np.integer)) and markers > 0 else \
            _bad_markers(markers)
        runs = [self] + ([] if simulation is None else [simulation])
        curves = [_curves(run, what, batch,
                          "`simulation`" if run is simulation else "this trajectory")
                  for run in runs]
        K = curves[0][1].shape[-1]
        if any(c[1].shape[-1] != K for c in curves):
            raise ValueError(f"`simulation` has {curves[1][1].shape[-1]} modes but this "
                             f"trajectory has {K}; draw trajectories of the same task.")
        chosen = _chosen_modes(modes, K) if what == "modes" else [0]
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        from matplotlib.lines import Line2D

        handles, labels = [], []
        for run, (t, values) in zip(runs, curves):
            simulated = _is_simulation(run)
            every = max(1, t.shape[0] // markers)
            for n, k in enumerate(chosen):
                colour = f"C{n % 10}"
                if simulated:
                    ax.plot(t[::every], values[::every, k], "o", color=colour, ms=3.5,
                            mfc="none", mew=0.9)
                else:
                    ax.plot(t, values[:, k], "-", color=colour, lw=1.8)
            style = dict(marker="o", ls="none", mfc="none") if simulated else dict(ls="-",
                                                                                  lw=1.8)
            handles.append(Line2D([], [], color="k", **style))
            labels.append("gradient descent (dln.simulate)" if simulated
                          else f"dln.solve ({run.method})")
        if what == "modes":
            s = np.asarray(self.task.s) if isinstance(self.task, Task) else None
            for n, k in enumerate(chosen):
                handles.append(Line2D([], [], color=f"C{n % 10}", lw=4))
                labels.append(f"mode {k}" + ("" if s is None else f" (s = {s[k]:.3g})"))
            total = " (sum over pathways)" if self.pathways is not None else ""
            ax.set_ylabel(r"mode strength $u_\alpha(t) = U_\alpha^\top W(t)\, V_\alpha$" + total)
        else:
            ax.set_ylabel("loss L(t)")
        ax.set_xlabel("flow time t = lr × steps")
        ax.legend(handles, labels, fontsize=8)
        return ax


# A pytree of the fields as held (a `Deferred` stays unevaluated through jit and vmap), as
# jax.tree_util.register_dataclass would register it if it did not read the fields by getattr.
_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(Trajectory) if not f.metadata.get("static"))
_STATIC_FIELDS = tuple(f.name for f in dataclasses.fields(Trajectory) if f.metadata.get("static"))


def _flatten(traj):
    held = traj.__dict__
    return [held[n] for n in _DATA_FIELDS], tuple(held[n] for n in _STATIC_FIELDS)


def _flatten_with_keys(traj):
    children, static = _flatten(traj)
    return [(jax.tree_util.GetAttrKey(n), c) for n, c in zip(_DATA_FIELDS, children)], static


def _unflatten(static, children):
    return Trajectory(**dict(zip(_DATA_FIELDS, children)), **dict(zip(_STATIC_FIELDS, static)))


jax.tree_util.register_pytree_with_keys(Trajectory, _flatten_with_keys, _unflatten, _flatten)


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


# ------------------------------------------------------------------------ save and load
_FORMAT = "dln.Trajectory"
_VERSION = 1
_HEADER = "__dln_trajectory__"
_TASKS = {cls.__name__: cls for cls in (Task, SpectralTask)}


def _encode(value, where, arrays):
    """A JSON description of a field's value; its arrays go into `arrays` (named `a<i>`)."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, np.generic):
        return {"value": value.item()}
    if isinstance(value, (np.ndarray, jax.Array)):
        if not is_concrete(value):
            raise ValueError(f"cannot save `{where}`: it is a traced value (inside jit, vmap or "
                             "grad); save the trajectory outside the transformation.")
        if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            value = jax.random.key_data(value)
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"cannot save `{where}`: an array of dtype {array.dtype} (only "
                            "numbers and bools are stored, without pickle).")
        name = f"a{len(arrays)}"
        arrays[name] = array
        return {"array": name}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]
        return {"list" if isinstance(value, list) else "tuple": items}
    if type(value).__name__ in _TASKS and isinstance(value, Task):
        children, aux = value.tree_flatten()
        return {"task": type(value).__name__,
                "children": [_encode(c, f"{where} (a Task)", arrays) for c in children],
                "aux": list(aux)}
    if type(value).__name__ == "Problem" and type(value).__module__.startswith("dln."):
        return {"problem": {"target": _encode(value.target, f"{where}.target", arrays),
                            "mask": _encode(value.mask, f"{where}.mask", arrays)}}
    raise TypeError(f"cannot save `{where}`: a {type(value).__name__} (Trajectory.save stores "
                    "arrays, numbers, strings, lists and tuples of them, dln.Task and "
                    "dln.completion.Problem).")


def _decode(spec, data):
    """The value that `_encode` described, its arrays read from the open `.npz` `data`."""
    if spec is None:
        return None
    if "value" in spec:
        return spec["value"]
    if "array" in spec:
        return data[spec["array"]]
    if "list" in spec:
        return [_decode(s, data) for s in spec["list"]]
    if "tuple" in spec:
        return tuple(_decode(s, data) for s in spec["tuple"])
    if "task" in spec:
        children = [_decode(s, data) for s in spec["children"]]
        return _TASKS[spec["task"]].tree_unflatten(tuple(spec["aux"]), children)
    if "problem" in spec:
        from dln.phenomena.completion import Problem  # local: the phenomena build on this module

        return Problem(_decode(spec["problem"]["target"], data),
                       _decode(spec["problem"]["mask"], data))
    raise ValueError(f"unreadable entry {spec!r} in a Trajectory file.")


# ---------------------------------------------------------------------------------- plot
def _is_simulation(traj) -> bool:
    return "simulation" in traj.method.split("+")


def _bad_markers(markers):
    raise ValueError(f"`markers` must be a positive int (markers per curve), got {markers!r}.")


def _chosen_modes(modes, K):
    """The mode indices to draw: default the first min(K, 10)."""
    if modes is None:
        return list(range(min(K, 10)))
    chosen = [modes] if isinstance(modes, (int, np.integer)) else list(np.ravel(modes))
    if not chosen or any(isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer))
                         or not 0 <= k < K for k in chosen):
        raise ValueError(f"`modes` must be mode indices in 0..{K - 1}, got {modes!r}.")
    return [int(k) for k in chosen]


def _curves(traj, what, batch, name):
    """`(t (T,), values (T, K))` of one trajectory: its (summed) modes or its loss `(T, 1)`."""
    if what == "modes":
        if traj.modes is None:
            raise ValueError(f"{name} has no modes (matrix completion records the maps of its "
                             "problems); draw what='loss'.")
        values = np.asarray(traj.total_modes)
    else:
        values = np.asarray(traj.loss)[..., None]
    t = np.asarray(traj.t)
    if t.ndim > 1:
        if batch is None:
            raise ValueError(f"{name} has a batch axis of shape {t.shape[:-1]} (a batched run); "
                             "pass `batch=i` to draw run i.")
        try:
            t, values = t[batch], values[batch]
        except (IndexError, TypeError) as err:
            raise ValueError(f"`batch` = {batch!r} is not an index of the batch axis "
                             f"{np.asarray(traj.t).shape[:-1]} of {name}.") from err
        if t.ndim != 1:
            raise ValueError(f"`batch` = {batch!r} must pick one run of the batch axis "
                             f"{np.asarray(traj.t).shape[:-1]} of {name}.")
    return t, values
