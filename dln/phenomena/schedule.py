"""Task schedules (curricula): train on task A for a duration, then on task B, then …

A schedule is a sequence of `(task, duration)` pairs, durations in flow time (`t = lr × steps`).
The network follows the gradient flow of phase p's loss `L_p(W) = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²`
(`dW_l/dt = −∂L_p/∂W_l`) for its duration, then the next phase starts from where it stopped.
This is the multi-task pre-training protocol of Kleinman, Achille & Soatto (2024,
arXiv:2308.12221; THEORY.md §6.2): pre-train on task A for T, then train on task B, and ask how
the final performance on B depends on T, on depth and on how A and B relate (`dln.task_pairs`,
`dln.transfer`).

- `solve(schedule, weights=..., t=...)`: the exact flow, phase by phase, through `dln.solve`:
  two λ-balanced layers with isotropic input give the closed-form Riccati solution in every
  phase (`"exact-riccati"`). Chaining it is exact: the flow conserves `W2ᵀW2 − W1W1ᵀ = λI`, so
  the final weights of one phase are λ-balanced again, and `Trajectory.final_weights` (exact up
  to a rotation of the hidden layer, which no observable and no later flow sees) seed the next
  phase. Anything else (deeper networks from non-aligned weights, correlated input) is the
  numerically integrated flow (`"numerical-flow"`, with an error estimate), labelled as such.
- `simulate(schedule, weights, lr=...)`: gradient descent, the whole schedule in one jitted
  `lax.scan`, batched over the phase durations (e.g. over the pre-training length T) and over
  initial weights in one compiled call. The task of each step is picked inside the loop from
  the stacked task statistics, so a batch of schedules with different switch times costs one
  loop; a schedule that ends before the longest one is frozen (no more steps) until the end.

**The reversal stall.** Gradient flow cannot change the sign of a mode: if task B asks for the
opposite of what the network learned on A (`B = −A`, `dln.task_pairs.reversal`), each mode of
B starts with the wrong sign, exactly on the stable manifold of the saddle at 0 for aligned
weights, so it stalls forever (`ScheduleTrajectory.stalled`, found exactly by the Riccati
solution), and escapes only through the residual components a random init leaves, after a time
that grows like `log(1 / residual)`, i.e. with the pre-training length.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import (
    as_array,
    check_bool,
    check_int,
    check_on_divergence,
    check_real,
    check_times,
)
from dln.network import check_weights, loss_gradients, product
from dln.simulate import lr_bound
from dln.simulation import descent
from dln.solve import solve as _solve
from dln.tasks.task import Task
from dln.trajectory import Trajectory

__all__ = ["ScheduleTrajectory", "schedule_trajectory", "solve", "simulate", "phase_bounds",
           "parse_schedule", "record_phases", "run_schedule", "gradient_step", "steps_of"]


# The result of a schedule is a `dln.Trajectory` with its schedule fields (`tasks`, `phase`,
# `bounds`, `phase_loss`, `phase_methods`); `ScheduleTrajectory` stays as a documented alias.
ScheduleTrajectory = Trajectory


def schedule_trajectory(*, t, maps, tasks, phase, bounds, final_weights, phase_methods,
                        phase_loss=None, depth=None, **extra) -> Trajectory:
    """The `dln.Trajectory` of a schedule: `maps (..., T, No, Ni)` recorded at `t`, the phase
    of each record, and the losses on every phase's task (computed from the maps unless given:
    completion passes its masked losses, and `tasks` are then its problems)."""
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


def parse_schedule(schedule, kind=Task, kind_name: str = "dln.Task"):
    """`(items, bounds, batched)` of a schedule of `(item, duration)` pairs, items of type
    `kind`: the items, the `(B, n_phases + 1)` cumulative phase boundaries (flow time),
    durations broadcast over the batch (`B = 1` if none is batched), and whether any duration
    was batched. Validates the pairs and the durations (shared by `dln.completion`)."""
    if not isinstance(schedule, (list, tuple)) or len(schedule) == 0:
        raise TypeError(f"`schedule` must be a non-empty list of ({kind_name}, duration) pairs, "
                        f"got {type(schedule).__name__}.")
    items, durations = [], []
    for i, item in enumerate(schedule):
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise TypeError(f"`schedule[{i}]` must be a ({kind_name}, duration) pair, got "
                            f"{item!r}.")
        obj, d = item
        if not isinstance(obj, kind):
            raise TypeError(f"`schedule[{i}]` must start with a {kind_name}, got "
                            f"{type(obj).__name__}.")
        d = np.asarray(as_array(d, f"schedule[{i}] duration", ndim=(0, 1)), dtype=float)
        if np.any(d < 0):
            raise ValueError(f"`schedule[{i}]` duration must be >= 0 (flow time), got {d!r}.")
        items.append(obj)
        durations.append(d)
    sizes = {d.shape[0] for d in durations if d.ndim == 1}
    if len(sizes) > 1:
        raise ValueError(f"batched durations must all have the same length, got {sorted(sizes)}.")
    batched = bool(sizes)
    B = sizes.pop() if sizes else 1
    d = np.stack([np.broadcast_to(d, (B,)) for d in durations], axis=1)
    bounds = np.concatenate([np.zeros((B, 1)), np.cumsum(d, axis=1)], axis=1)
    return tuple(items), bounds, batched


def phase_bounds(schedule):
    """`(tasks, bounds, batched)` of a schedule of `(task, duration)` pairs (`parse_schedule`);
    all tasks must have the same shape."""
    tasks, bounds, batched = parse_schedule(schedule)
    shapes = {(t.n_out, t.n_in) for t in tasks}
    if len(shapes) > 1:
        raise ValueError(f"all tasks of a schedule must have the same (n_out, n_in), got "
                         f"{sorted(shapes)}.")
    return tasks, bounds, batched


# --------------------------------------------------------------------------------- exact flow
def solve(schedule, *, weights, t=None, rtol: float = 1e-11) -> ScheduleTrajectory:
    """The exact gradient flow through a schedule of tasks, phase by phase with `dln.solve`.

    Args:
      schedule: list of `(task, duration)` pairs; durations are flow times `>= 0`, a scalar or
        a `(B,)` array to solve B schedules (e.g. a sweep over the pre-training length).
      weights: initial weights `[W1, …, WD]` (unbatched). Two λ-balanced layers with isotropic
        input (`dln.init.balanced`, `dln.init.aligned`) give the closed form in every phase.
      t: record times `(T,)` (flow time from the start of the schedule, any `>= 0`); default
        the union of all phase boundaries. Records after a schedule's end hold its final map.
      rtol: tolerance of numerically integrated phases (`dln.numerical_flow`).

    Returns:
      A `ScheduleTrajectory` (see its attributes; `methods` says which phases are exact).
    """
    tasks, bounds, batched = phase_bounds(schedule)
    weights = check_weights(tasks[0], weights, allow_batch=False)
    rtol = check_real(rtol, "rtol", low=0.0, strict=True, high=1.0)
    t = np.unique(bounds) if t is None else np.asarray(check_times(t), dtype=float)
    runs = [_solve_one(tasks, b, list(weights), t, rtol) for b in bounds]
    methods = tuple(_merge(ms) for ms in zip(*[r["methods"] for r in runs]))
    stack = (lambda key: np.stack([r[key] for r in runs])) if batched else \
        (lambda key: runs[0][key])
    maps = jnp.asarray(stack("map"))
    numerical = any(m == "numerical-flow" for m in methods)
    return schedule_trajectory(
        t=jnp.asarray(t), maps=maps, tasks=tasks, phase=stack("phase"),
        bounds=bounds if batched else bounds[0],
        final_weights=[jnp.asarray(np.stack([r["final"][i] for r in runs]) if batched
                                   else runs[0]["final"][i]) for i in range(len(weights))],
        phase_methods=methods, stalled=jnp.asarray(stack("stalled")),
        error_estimate=jnp.asarray(stack("error")) if numerical else None)


def _merge(methods):
    kinds = sorted(set(methods) - {"skipped"}) or ["skipped"]
    return kinds[0] if len(kinds) == 1 else "+".join(kinds)


def _solve_one(tasks, bounds, weights, t, rtol):
    n_out, n_in = tasks[0].n_out, tasks[0].n_in
    maps = np.zeros((len(t), n_out, n_in))
    error = np.zeros(len(t))
    stalled = np.zeros((len(tasks), tasks[0].n_modes), bool)
    methods, carried = [], 0.0
    ends = bounds[1:]
    phase = np.searchsorted(ends, t, side="left")
    for p, task in enumerate(tasks):
        start, end = bounds[p], bounds[p + 1]
        if end <= start:
            methods.append("skipped")
            if p == 0:
                maps[t <= 0] = np.asarray(product(weights))
            continue
        sel = (t <= end) & ((t >= start) if p == 0 else (t > start))
        times = np.concatenate([t[sel] - start, [end - start]])
        traj = _solve(task, weights=weights, t=times, rtol=rtol)
        methods.append(traj.method)
        maps[sel] = np.asarray(traj.map)[:-1]
        if traj.stalled is not None:
            stalled[p] = np.asarray(traj.stalled)
        if traj.error_estimate is not None:
            err = np.asarray(traj.error_estimate)
            error[sel] = carried + err[:-1]
            carried += float(err[-1])
        weights = [jnp.asarray(w) for w in traj.final_weights]
    after = t > bounds[-1]
    maps[after] = np.asarray(product(weights))
    error[after] = carried
    return dict(map=maps, phase=phase, final=[np.asarray(w) for w in weights], methods=methods,
                stalled=stalled, error=error)


# --------------------------------------------------------------------------- gradient descent
def simulate(schedule, weights, *, lr, every: int = 1, check_lr: bool = True,
             on_divergence: str = "raise") -> ScheduleTrajectory:
    """Gradient descent `W_l ← W_l − lr ∂L_p/∂W_l` through a schedule, in one compiled loop.

    Args:
      schedule: list of `(task, duration)` pairs, durations in flow time, each a multiple of
        `lr` (`steps = duration / lr`); a `(B,)` array of durations runs B schedules at once
        (one `vmap`-ed loop; e.g. all pre-training lengths of a transfer experiment).
      weights: `[W1, …, WD]`, or with a leading batch axis `(B, out, in)` (zipped with batched
        durations, so B must agree).
      lr: learning rate (a scalar).
      every: record every `every` steps (records at steps 0, every, … up to the end of the
        longest schedule, rounded up).
      check_lr: raise if `lr >= dln.lr_bound` of some task of the schedule.
      on_divergence: `"raise"` (`dln.DivergenceError`) or `"warn"`.

    Returns:
      A `ScheduleTrajectory` with `methods = ("simulation", …)` and `t = lr × step`.
    """
    tasks, bounds, batched_d = phase_bounds(schedule)
    ws = check_weights(tasks[0], weights)
    batched_w = ws[0].ndim == 3
    lr = float(as_array(lr, "lr", ndim=0))
    if not lr > 0:
        raise ValueError(f"`lr` must be > 0, got {lr!r}.")
    check_int(every, "every", 1, what=" (record every `every` steps)")
    check_bool(check_lr, "check_lr")
    check_on_divergence(on_divergence)
    if check_lr:
        bound = min(lr_bound(task, len(ws)) for task in tasks)
        if lr >= bound:
            raise ValueError(f"`lr` = {lr!r} will not converge on every task of the schedule: "
                             f"gradient descent is unstable for lr >= {bound:.6g} (dln.lr_bound)."
                             f" Use a smaller lr, e.g. {bound / 4:.3g}, or check_lr=False.")
    ends = steps_of(bounds[:, 1:], lr)
    if batched_w and batched_d and ws[0].shape[0] != ends.shape[0]:
        raise ValueError(f"batched durations ({ends.shape[0]}) and batched weights "
                         f"({ws[0].shape[0]}) are zipped; pass equal batch sizes.")
    data = (jnp.stack([task.sigma_xx for task in tasks]).astype(ws[0].dtype),
            jnp.stack([task.sigma_yx for task in tasks]).astype(ws[0].dtype))
    maps, final, finite, t = run_schedule(gradient_step(_regression_gradients), data, ws,
                                          ends, lr, every, batched_w, batched_d)
    descent.report_final_divergence(finite, lr=lr, on_divergence=on_divergence)
    phase = record_phases(ends, np.rint(np.asarray(t) / lr), batched_d,
                          ws[0].shape[0] if batched_w else None)
    B_bounds = bounds if batched_d else bounds[0]
    return schedule_trajectory(t=t, maps=maps, tasks=tasks, phase=phase, bounds=B_bounds,
                               final_weights=final, phase_methods=("simulation",) * len(tasks))


def record_phases(ends, steps, batched_d, batch=None):
    """The phase of the state after `steps` steps (`(T,)`), for phases ending at the step
    counts `ends` `(B, n_phases)`: `(B, T)` when the durations are batched, else `(T,)`
    (broadcast to `(batch, T)` for a batch of weights)."""
    if batched_d:
        return np.stack([np.searchsorted(e, steps) for e in ends])
    phase = np.searchsorted(ends[0], steps)
    return phase if batch is None else np.broadcast_to(phase, (batch,) + phase.shape)


def steps_of(times, lr):
    """Flow times → integer numbers of steps of size `lr` (raises unless each is a multiple)."""
    steps = np.rint(np.asarray(times) / lr)
    if np.any(np.abs(steps * lr - times) > 1e-9 * np.maximum(1.0, np.abs(times))):
        raise ValueError(f"schedule durations must be whole numbers of steps of size lr = {lr!r} "
                         f"(flow time = lr × steps); got phase ends {np.asarray(times)!r}.")
    return steps.astype(np.int64)


def gradient_step(gradients):
    """The `update` of gradient descent for `run_schedule`, from a function
    `gradients(ws, data_p)` of the layer gradients (cached, so `jit` sees one function)."""
    return _gradient_steps.setdefault(gradients, functools.partial(_gd_update, gradients))


_gradient_steps: dict = {}


def _gd_update(gradients, ws, data_p, lr):
    return [W - lr * g for W, g in zip(ws, gradients(ws, data_p))]


def _regression_gradients(ws, data):
    sxx, syx = data
    return loss_gradients(ws, sxx, syx)


def run_schedule(update, data, weights, ends, lr, every, batched_w, batched_d):
    """The one loop of a schedule, shared by `simulate`, `dln.completion.simulate` and the
    integrated theory of `dln.completion`.

    `update(ws, data_p, lr)` returns the weights after one step of size `lr` in phase p (for
    gradient descent `W_l − lr ∂L_p/∂W_l`), where `data_p` is the slice `p` of the stacked phase
    data `data` (a pytree of arrays with a leading phase axis). `ends`
    `(B, n_phases)` are the cumulative step counts at which the phases end (batched over B when
    `batched_d`, else B = 1). Returns `(maps (..., T, No, Ni), final weights, finite (...,),
    t (T,))` with records every `every` steps up to the longest schedule (rounded up).
    """
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"`every` must be a positive int, got {every!r}.")
    n_blocks = int(-(-int(ends[:, -1].max()) // every))
    ends_arr = jnp.asarray(ends if batched_d else ends[0])
    maps, final, finite = _run(update, data, list(weights), ends_arr,
                               jnp.asarray(lr, weights[0].dtype), jnp.asarray(every),
                               n_blocks=n_blocks, batched_w=batched_w, batched_d=batched_d)
    t = lr * np.arange(n_blocks + 1) * every
    return maps, final, finite, jnp.asarray(t, weights[0].dtype)


@functools.partial(jax.jit, static_argnames=("update", "n_blocks", "batched_w", "batched_d"))
def _run(update, data, weights, ends, lr, every, *, n_blocks, batched_w, batched_d):
    n_phases = jax.tree_util.tree_leaves(data)[0].shape[0]

    def one(ws, ends):
        def step(k, ws):
            phase = jnp.sum(k >= ends)
            data_p = jax.tree_util.tree_map(lambda a: a[jnp.minimum(phase, n_phases - 1)], data)
            new = update(ws, data_p, lr)
            live = phase < n_phases  # frozen once the schedule is over
            return [jnp.where(live, a, b) for a, b in zip(new, ws)]

        final, maps = descent.scan(ws, step, product, n_blocks, every)
        return maps, final, descent.all_finite(final)

    if batched_w or batched_d:
        one = jax.vmap(one, in_axes=(0 if batched_w else None, 0 if batched_d else None))
    return one(weights, ends)
