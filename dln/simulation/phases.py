"""The one gradient-descent loop: steps through the phases of a protocol, inside `jit`.

Every simulator drives this loop by supplying its gradient and its records: `dln.simulate`
(weights and biases on task statistics, one phase or several), `dln.schedule.simulate`
(through `dln.simulate`), `dln.completion.simulate` (masked matrix-completion losses) and
`dln.pathways.simulate` (pathways and sources, whose gradient reads the deficit windows at the
step's flow time). At step `k` the loop

1. finds the phase `p = #{q : k >= ends_q}` (phases end at the step counts `ends`),
2. takes the phase's slice `data_p` of the stacked phase data,
3. makes the step `θ ← θ − lr_k (∇L_p(θ) + γ θ)` (`lr_k` a number or `schedule(k)`, `γ` the
   weight decay), and
4. past the end of the last phase leaves the state as it is (`freeze`), so a batch of
   protocols of different lengths shares one loop and one time axis.

It carries the time `Σ lr_k` (flow time; past the end, the shared record axis of a batch)
and records `record(θ)` every `every`
steps, with whether the state is still finite (`dln.simulation.descent`). Batches of initial
states, learning rates and phase ends are one `vmap`-ed compiled call, which a `mesh`
(`device_mesh`) spreads over several devices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dln._checks import check_devices
from dln.simulation.descent import all_finite, first_divergence, scan

__all__ = ["run", "device_mesh", "steps_of", "record_phases", "phase_ends", "schedule_values"]


def run(gradients, record, data, state, rate, ends, every, weight_decay=None, consts=None, *,
        n_blocks: int, schedule=None, freeze: bool = True, batch=(False, False, False, False),
        mesh: Mesh | None = None):
    """Gradient descent through phases; returns `(final state, records)`.

    Args:
      gradients: `gradients(state, data_p, consts, now)`, the gradient of phase p's loss at
        flow time `now` (`k × lr` at step k, or `Σ lr` under a schedule: deficit windows are
        read from it), a pytree like `state` (None where `state` has None). Static: pass a
        module-level function.
      record: `record(state, consts)`, a dict of arrays recorded every `every` steps. Static.
      data: a pytree of arrays with a leading phase axis.
      state: the initial state, a pytree (e.g. `[W1, …, WD]`).
      rate: the learning rate, a scalar (ignored under a `schedule`).
      ends: `(n_phases,)` ints, the step count at which each phase ends.
      every: steps between records (a static int: the inner loop has a fixed length, so
        reverse-mode `jax.grad` runs through it).
      weight_decay: None or `γ`, adding `γ θ` to every gradient.
      consts: a pytree the gradient and the records read at every step (e.g. a pathway
        network's selectors, layer masks and deficit windows), not split by phase.
      n_blocks: records after the first (static); the loop makes `n_blocks · every` steps.
      schedule: None or a callable `k → lr_k` (static).
      freeze: whether steps past the last phase's end are skipped (static; False when the loop
        never passes it).
      batch: which of `(state, rate, ends, consts)` carry a leading batch axis (zipped); the
        entry of `consts` may be a tuple of per-entry flags (`vmap`'s `in_axes` prefix).
      mesh: None, or a 1-D `jax.sharding.Mesh` (axis `"batch"`, `device_mesh`) to spread a
        batch over: the batch is padded to a multiple of the mesh size by repeating its last
        member, the batched inputs are sharded along it and the rest replicated, the one
        compiled loop runs SPMD (each device its slice), and the padding is stripped from the
        gathered results, which land on the default device as with one device (the same values:
        the members of a batch never mix).

    The records gain `finite` (whether the state was finite), `flow_time` (the `Σ lr` so far)
    and `diverged_at` (the step of the first non-finite record, −1 where none), and have the
    batch axis first.
    """
    args = (state, rate, ends, consts)
    if mesh is None or not _any(batch) or not _concrete(args):
        return _run(gradients, record, data, state, rate, ends, every, weight_decay, consts,
                    n_blocks=n_blocks, schedule=schedule, freeze=freeze, batch=batch)
    size = _batch_size(args, batch)
    pad = -size % mesh.size
    spread = NamedSharding(mesh, PartitionSpec("batch"))
    whole = NamedSharding(mesh, PartitionSpec())
    # several hosts: every host places the same host values (`jax.device_put` of numpy arrays)
    host = np.asarray if not spread.is_fully_addressable else (lambda a: a)
    padded = lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]) if pad else a
    args = _place(args, batch, lambda a: jax.device_put(host(padded(a)), spread),
                  lambda a: jax.device_put(host(a), whole))
    data, weight_decay = _place((data, weight_decay), False, None,
                                lambda a: jax.device_put(host(a), whole))
    final, recs = _run(gradients, record, data, *args[:3], every, weight_decay, args[3],
                       n_blocks=n_blocks, schedule=schedule, freeze=freeze, batch=batch)
    return jax.tree_util.tree_map(lambda a: _gather(a, size), (final, recs))


@functools.partial(jax.jit, static_argnames=("gradients", "record", "every", "n_blocks",
                                             "schedule", "freeze", "batch"))
def _run(gradients, record, data, state, rate, ends, every, weight_decay, consts, *,
         n_blocks, schedule, freeze, batch):
    """`run` on one device (or SPMD over the shardings of its inputs)."""
    n_phases = jax.tree_util.tree_leaves(data)[0].shape[0]

    def one_run(state, rate, ends, consts):
        dtype = jax.tree_util.tree_leaves(state)[0].dtype
        stepper = _stepper(gradients, data, consts, n_phases, schedule, weight_decay, freeze,
                           rate, ends, dtype)

        def rec(carry):
            state, t = carry
            return dict(record(state, consts), finite=all_finite(state), flow_time=t)

        (final, _), recs = scan((state, jnp.zeros((), dtype)), stepper, rec, n_blocks, every)
        return final, recs

    fn = one_run
    if any(map(_any, batch)):
        fn = jax.vmap(fn, in_axes=tuple(_axes(b) for b in batch))
    final, recs = fn(state, rate, ends, consts)
    recs["diverged_at"] = first_divergence(recs.pop("finite"), jnp.arange(n_blocks + 1) * every)
    return final, recs


def _any(flag):
    return any(map(_any, flag)) if isinstance(flag, tuple) else bool(flag)


def _axes(flag):
    return tuple(map(_axes, flag)) if isinstance(flag, tuple) else (0 if flag else None)


def _place(tree, flag, batched, whole):
    """`batched` applied to the array leaves of `tree` that `flag` (a `batch` prefix) marks
    batched, `whole` to the others (None: left as they are)."""
    if isinstance(flag, tuple):
        return tuple(_place(t, f, batched, whole) for t, f in zip(tree, flag))
    fn = batched if flag else whole
    if fn is None:
        return tree
    return jax.tree_util.tree_map(
        lambda a: fn(a) if isinstance(a, (jax.Array, np.ndarray)) else a, tree)


def _batch_size(tree, flag):
    sizes = []
    _place(tree, flag, lambda a: sizes.append(a.shape[0]) or a, None)
    return sizes[0]


def _concrete(tree):
    return not any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(tree))


def _gather(a, size):
    """The first `size` entries of a result sharded over a mesh, on the default device (from
    every host when the mesh spans several: each gets the whole batch)."""
    if not a.is_fully_addressable:
        from jax.experimental import multihost_utils
        a = multihost_utils.process_allgather(a, tiled=True)
    return jnp.asarray(np.asarray(a)[:size])


def device_mesh(devices) -> Mesh | None:
    """The 1-D mesh (axis `"batch"`) of `devices`, or None for a single device.

    `devices`: None for all local devices (`jax.local_devices()`), an int `n >= 1` for the
    first n of them, or a non-empty list of distinct jax devices (e.g. `jax.devices()`, every
    host's, after `jax.distributed.initialize`).
    """
    devices, _ = check_devices(devices)
    if len(devices) == 1 and devices[0] == jax.local_devices()[0]:
        return None
    return Mesh(np.array(devices), ("batch",))


def _stepper(gradients, data, consts, n_phases, schedule, weight_decay, freeze, rate, ends,
             dtype):
    """`step(k, (state, t))` of the loop for one run (see `run`)."""

    def step(k, carry):
        state, t = carry
        phase = jnp.sum(k >= ends)
        if n_phases == 1:
            data_p = jax.tree_util.tree_map(lambda a: a[0], data)
        else:
            data_p = jax.tree_util.tree_map(lambda a: a[jnp.minimum(phase, n_phases - 1)], data)
        lr = rate if schedule is None else jnp.asarray(schedule(k), dtype)
        now = k * rate if schedule is None else t
        grads = gradients(state, data_p, consts, now)
        if weight_decay is not None:  # the gradient of ½γ||θ||²
            grads = jax.tree_util.tree_map(lambda g, w: g + weight_decay * w, grads, state)
        new = jax.tree_util.tree_map(lambda w, g: w - lr * g, state, grads)
        if freeze:  # past the last phase the state stays where it is (the clock runs on)
            live = phase < n_phases
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(live, a, b), new, state)
        return new, t + lr

    return step


def steps_of(times, lr):
    """Flow times → integer numbers of steps of size `lr` (raises unless each is a multiple)."""
    steps = np.rint(np.asarray(times) / lr)
    if np.any(np.abs(steps * lr - times) > 1e-9 * np.maximum(1.0, np.abs(times))):
        raise ValueError(f"schedule durations must be whole numbers of steps of size lr = {lr!r} "
                         f"(flow time = lr × steps); got phase ends {np.asarray(times)!r}.")
    return steps.astype(np.int64)


def phase_ends(bounds, rates):
    """The step counts `(B, n_phases)` at which phases end, from their flow-time boundaries
    `bounds` `(B, n_phases + 1)` and the flow time `rates` gives per step: a number (each end a
    whole number of steps, `steps_of`), or the `(steps,)` learning rates of a schedule, where a
    phase ends at the first step whose flow time `Σ lr` reaches its boundary (to 1e-9 relative;
    boundaries the run does not reach end at its last step)."""
    rates = np.asarray(rates, dtype=float)
    if rates.ndim == 0:
        return steps_of(bounds[:, 1:], float(rates))
    flow = np.concatenate([[0.0], np.cumsum(rates)])
    ends = bounds[:, 1:]
    tol = 1e-9 * np.maximum(1.0, np.abs(ends))
    return np.searchsorted(flow, ends - tol, side="left").astype(np.int64)


def record_phases(ends, steps, batched_d, batch=None):
    """The phase of the state after `steps` steps (`(T,)`), for phases ending at the step
    counts `ends` `(B, n_phases)`: `(B, T)` when the durations are batched, else `(T,)`
    (broadcast to `(batch, T)` for a batch of weights)."""
    if batched_d:
        return np.stack([np.searchsorted(e, steps) for e in ends])
    phase = np.searchsorted(ends[0], steps)
    return phase if batch is None else np.broadcast_to(phase, (batch,) + phase.shape)


def schedule_values(schedule, steps):
    """The learning rates `schedule(k)` of steps `k = 0 … steps−1`, checked (concrete)."""
    try:
        values = jax.jit(jax.vmap(schedule))(jnp.arange(max(steps, 1)))
    except Exception as err:  # noqa: BLE001 (any failure of the user's function)
        raise TypeError(
            "`lr` is a callable, so it must be a schedule: a JAX-traceable function of the step "
            "index k (an int array) returning the learning rate, as optax's schedules are; "
            f"calling it on jnp.arange(steps) failed with {type(err).__name__}: {err}"
        ) from err
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (max(steps, 1),):
        raise ValueError(f"the schedule `lr` must return one number per step, got shape "
                         f"{values.shape[1:]} per step.")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        k = int(np.argmax(~np.isfinite(values) | (values <= 0)))
        raise ValueError(f"the schedule `lr` must give finite learning rates > 0 at every step; "
                         f"at step {k} it gives {values[k]!r}.")
    return values
