"""`dln.simulate`: full-batch gradient descent on a deep linear network, in JAX.

The step works on the sufficient statistics: with `W = W_D ⋯ W_1`,

    L(W) = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ),
    ∂L/∂W_l = −(W_D ⋯ W_{l+1})ᵀ (Σyx − W Σxx) (W_{l−1} ⋯ W_1)ᵀ,

so a step costs the same for 10 samples or 10⁶. With biases (`ŷ = M x + c`, see
`dln.network.affine_loss_gradients`) the first moments `x̄`, `ȳ` enter as well, still independent
of the number of samples. The whole run is one jitted `lax.scan` that keeps
only the records (memory grows with `steps / every`, not with `steps`), and ensembles over
initial weights or learning rates are one `vmap`-ed compiled call, spread over every local
device (`devices=`, a `jax.sharding` mesh; docs/devices.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dln._checks import as_array, check_int, check_on_divergence, is_concrete
from dln.network import (
    affine_loss,
    affine_loss_gradients,
    affine_map,
    check_biases,
    check_weights,
)
from dln.protocol import Protocol
from dln.simulation import phases
from dln.simulation.descent import DivergenceError, report_divergence
from dln.simulation.pathways import simulate as simulate_pathways
from dln.tasks.task import Task
from dln.theory.biases import bias_layers
from dln.trajectory import Trajectory, phase_trajectory

__all__ = ["simulate", "DivergenceError", "lr_bound"]


_EPS = np.finfo(np.float64).eps




def lr_bound(task: Task, depth: int) -> float:
    """Largest stable learning rate at the balanced global minimum: `2 / λ_max(Hessian)`.

    The minimum is the *balanced* factorisation of the minimum-norm least-squares map
    `W* = Σyx Σxx⁺ = Σ_i σ_i u_i v_iᵀ` (`task.lstsq_map`): every layer carries the singular values
    `σ_i^{1/D}`, so `A_lA_lᵀ = (W*W*ᵀ)^{(D−l)/D}` and `B_lᵀB_l = (W*ᵀW*)^{(l−1)/D}` for the
    products `A_l = W_D⋯W_{l+1}`, `B_l = W_{l−1}⋯W_1`. It assumes hidden widths `>= rank W*`
    (else the minimum is not reachable) and zero residual `Σyx = W*Σxx`, which holds for every
    task from data. There the Hessian of the loss in the weights is the Gauss–Newton term
    `δθ ↦ ||δW Σxx^{1/2}||²`, `δW = Σ_l A_l δW_l B_l`, whose top eigenvalue is
    (docs/derivations/lr_bound.md)

        λ_max(H) = λ_max(Γ^{1/2} Ṽᵀ Σxx Ṽ Γ^{1/2}),
        Γ = diag_j Σ_{l=1}^{D} σ_1^{2(D−l)/D} σ_j^{2(l−1)/D},

    `Ṽ` the full right singular basis of `W*` (`σ_j = 0` beyond its rank), `σ_1` its largest
    singular value (singular values below the numerical-rank tolerance of `np.linalg.matrix_rank`
    count as 0: rounding noise would otherwise enter through its root `σ^{1/D}`). Depth 1 gives
    `λ_max(Σxx)`. For input aligned with the modes this is
    `max_j λ_j K(σ_1, σ_j)`, `K(σ, σ') = (σ² − σ'²)/(σ^{2/D} − σ'^{2/D})`, whose `j = 1` term is
    the mode rate `κ = D s^{2−2/D} λ^{2/D−1}` (`dln.modes.rate`); the other terms (a strong mode
    and a high-variance input direction it does not use) can be far larger, so `2/max κ` is not
    a bound in general.

    Gradient descent at this minimum is linearly stable iff `lr < lr_bound`, and it is the
    minimum that matters: descent from small or balanced initial weights conserves the layer
    imbalances `W_{l+1}ᵀW_{l+1} − W_lW_lᵀ` up to O(lr) (docs/derivations/conservation.md), so it
    approaches the balanced factorisation, and the map it approaches is the minimum-norm `W*`
    (when `Σxx` is singular the minimising maps are not unique; descent leaves the null space of
    `Σxx` where it started). For non-whitened input the balanced minimum is *not* the flattest:
    unbalanced factorisations of the same `W*` can be much flatter, so a run from unbalanced
    (e.g. large) initial weights may converge above `lr_bound`, and large initial weights can
    also diverge below it (they start sharper than the minimum).

    Args:
      task: a `dln.Task` with concrete statistics (the bound is computed eagerly in numpy).
      depth: the number of weight matrices `D`, an int >= 1.

    Returns:
      `2 / λ_max(H)` as a float; `inf` where the curvature is 0 (a zero task at depth >= 2).
    """
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}; build one with "
                        "dln.Task(sigma_xx, sigma_yx) or dln.Task.from_data(X, Y).")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise TypeError(f"`depth` must be an int >= 1 (the number of weight matrices), got "
                        f"{depth!r} of type {type(depth).__name__}; pass e.g. depth=2.")
    if depth < 1:
        raise ValueError(f"`depth` must be >= 1 (the number of weight matrices), got {depth!r}; "
                         "pass e.g. depth=1 for a shallow network or depth=2 for one hidden layer.")
    if not is_concrete(task):
        raise TypeError("`dln.lr_bound` needs a task with concrete statistics, got one holding "
                        "JAX tracers (inside jit/vmap/grad); call it outside the transformation.")
    depth = int(depth)
    sxx = np.asarray(task.sigma_xx, dtype=np.float64)
    sxx = 0.5 * (sxx + sxx.T)
    Wstar = np.asarray(task.lstsq_map, dtype=np.float64)
    # Full right singular basis of W* (σ_j = 0 beyond its rank); σ_1 = the largest.
    _, sv, Vt = np.linalg.svd(Wstar, full_matrices=True)
    sigma = np.zeros(Wstar.shape[1])
    # Below the numerical-rank tolerance (as `np.linalg.matrix_rank`) a singular value is
    # rounding noise; it must count as 0, since its root σ^{1/D} is not small.
    sigma[: sv.size] = np.where(sv > sv.max(initial=0.0) * max(Wstar.shape) * _EPS, sv, 0.0)
    top = sigma[0] if sigma.size else 0.0
    # γ_j = Σ_l σ_1^{2(D−l)/D} σ_j^{2(l−1)/D}, with 0⁰ = 1 (the l = D and l = 1 terms).
    ls = np.arange(1, depth + 1)
    gamma = np.sum(top ** (2.0 * (depth - ls) / depth)
                   * sigma[:, None] ** (2.0 * (ls - 1) / depth), axis=1)
    root = np.sqrt(gamma)
    gram = (root[:, None] * (Vt @ sxx @ Vt.T)) * root[None, :]
    curvature = float(np.linalg.eigvalsh(0.5 * (gram + gram.T)).max()) if gram.size else 0.0
    return 2.0 / curvature if curvature > 0 else float("inf")


def _regression_gradients(state, data_p, consts, now):
    """The gradients of the (affine) regression loss of a phase, from its statistics."""
    ws, bs = state
    sxx, syx, xm, ym = data_p
    return affine_loss_gradients(ws, bs, sxx, syx, xm, ym)


def _record_map(state, consts):
    W, c = affine_map(*state)
    return dict(map=W, offset=c)


def _record_map_and_weights(state, consts):
    return dict(_record_map(state, consts), weights=state[0])


def _phase_data(tasks, dtype, with_means):
    """The phases' statistics stacked along a leading phase axis (means only with biases)."""
    stack = lambda name: jnp.stack([getattr(task, name) for task in tasks]).astype(dtype)
    means = (stack("x_mean"), stack("y_mean")) if with_means else (None, None)
    return (stack("sigma_xx"), stack("sigma_yx")) + means


def _run(tasks, weights, biases, lr, ends, every, *, n_blocks, record_weights, batch, schedule,
         weight_decay, freeze, mesh):
    """The gradient-descent loop (`dln.simulation.phases.run`) on `(weights, biases)`; `biases`
    entries may all be None, in which case the gradient is exactly the bias-free one."""
    dtype = weights[0].dtype
    state = (list(weights), [None] * len(weights) if biases is None else list(biases))
    data = _phase_data(tasks, dtype, any(b is not None for b in state[1]))
    record = _record_map_and_weights if record_weights else _record_map
    return phases.run(_regression_gradients, record, data, state, lr, ends, every, weight_decay,
                      n_blocks=n_blocks, schedule=schedule, freeze=freeze, batch=batch + (False,),
                      mesh=mesh)


def simulate(task: Task | Protocol, weights: Sequence[ArrayLike | Sequence[ArrayLike]], *,
             lr: ArrayLike | Callable[[jax.Array], ArrayLike], steps: int | None = None,
             every: int = 1, biases: Sequence[ArrayLike | None] | None = None,
             weight_decay: ArrayLike = 0.0, record_weights: bool = False, check_lr: bool = True,
             on_divergence: Literal["raise", "warn"] = "raise",
             devices: int | Sequence[jax.Device] | None = None) -> Trajectory:
    """Full-batch gradient descent `W_l ← W_l − lr ∂L/∂W_l` on `L = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²`.

    With `weight_decay = γ > 0` the loss gains `½γ Σ_l ||W_l||²` (and `½γ ||b_l||²` for the
    biases): `W_l ← W_l − lr (∂L/∂W_l + γ W_l)`. The recorded `loss` stays the data loss `L`.

    Args:
      task: the `dln.Task` (only its correlations, and with biases its means, enter a step), or
        a `dln.Protocol` (phases of tasks, deficits, the architecture; `dln.protocol`). With
        several phases, step k trains on the task of the phase that flow time `Σ_{j<k} lr_j`
        is in; records after the protocol's end hold its final state. A protocol with pathways,
        sources, shared layers or deficits runs the pathway network
        (`dln.simulation.pathways`, with `weights` one list per pathway, then the shared
        layers).
      weights: `[W1, …, WD]`, `W_l` of shape `(out, in)`, any depth and widths; give every
        matrix a leading batch axis `(B, out, in)` to run an ensemble of `B` networks.
      biases: optional `[b1, …, bD]`, each None (no bias in that layer) or an `(out,)` vector
        (`(B, out)` with batched weights); the network is then `h_l = W_l h_{l−1} + b_l`, i.e.
        `ŷ = M x + c` with map `M = W_D ⋯ W_1` and offset `c = Σ_l (W_D ⋯ W_{l+1}) b_l`, and
        the biases descend too (`b_l ← b_l − lr ∂L/∂b_l`, `dln.network.affine_loss_gradients`).
        Needs a task that knows the means `x̄`, `ȳ` (`Task.from_data`). All None is the same as
        no biases. A protocol whose architecture has `biases=` starts them at 0.
      lr: learning rate: a number; `(B,)` to batch over learning rates (with batched weights
        the two batches are zipped, so B must agree); or a schedule, a JAX-traceable callable
        from the step index `k = 0, 1, …` to the learning rate of step k (optax's convention:
        its schedules work as they are). The flow time recorded is `t = Σ_{j<k} lr_j`, so
        `dln.solve(..., t=sim.t)` is the theory of an annealed run.
      weight_decay: `γ >= 0`, the L2 penalty on every weight (and bias); default 0.
      steps: number of gradient steps; a multiple of `every`. A protocol whose phases all end
        sets it (durations are flow time: `duration / lr` steps, each a whole number; under a
        schedule a phase ends at the first step whose flow time reaches its end, and `steps`
        must be given).
      every: record the state every `every` steps (records at steps 0, every, …, steps; for
        a protocol, up to its end rounded up).
      record_weights: also record every layer's weights (`Trajectory.weights()`).
      check_lr: raise before running if `lr >= dln.lr_bound(task, depth)` (for a schedule:
        its largest value over the run; for a protocol: the smallest bound of its tasks, or
        with a `Blur`/`Flip` the bound of the undeprived task, where training ends), where
        the balanced global minimum (the one descent from small or balanced weights
        approaches) is unstable (the bound is exact there; pass False to study unstable runs).
        Skipped when `lr` or the task is traced.
      on_divergence: `"raise"` (default) raises `DivergenceError` if the weights stop being
        finite; `"warn"` warns and returns, with `Trajectory.diverged_at` marking the first
        non-finite record step (−1 where finite).
      devices: the devices a batch (of weights, learning rates or protocol durations) is spread
        over: None (default) for all local devices (`jax.local_devices()`), an int n for the
        first n of them, or a list of jax devices (`jax.devices()` spans every host after
        `jax.distributed.initialize`). With several, the batch is padded to a multiple of
        their number, sharded along a 1-D `jax.sharding` mesh, run as one SPMD computation
        and gathered back to the default device without the padding: the same values as on
        one device (docs/devices.md). A single run, or one inside `jit`/`vmap`/`grad`, stays
        where it is.

    Returns:
      A `Trajectory` with `t = lr × step` (`Σ lr` for a schedule) `(T,)`, `modes (T, K)` (of
      the map), `map (T, No, Ni)`,
      `loss (T,)` (with the offset), `final_weights`; with biases also `offset (T, No)` and
      `final_biases`; and a leading batch axis on all of them for ensembles. A protocol of
      several phases (or one that ends) adds `tasks`, `phase`, `bounds`, `phase_loss` (the loss
      on every phase's task) and `phase_methods`; `loss` is then the loss on the task being
      trained at each record. Computation follows the weights' dtype (float32 or float64).
    """
    protocol = None
    if isinstance(task, Protocol):
        protocol = task
        if protocol.input_deficit is not None:  # the window's three phases; the clean loss
            if check_lr and isinstance(weights, (list, tuple)) and is_concrete(protocol.task):
                # the limit of the undeprived task, where training ends: a window's task (e.g. a
                # blur, whose own minimum amplifies the attenuated inputs) has a lower one that
                # a window does not reach; inside it, divergence is still caught
                if (largest := _largest_lr(lr, steps)) is not None:
                    _check_lr_below([protocol.task], len(weights), largest)
            sim = simulate(protocol.as_phases(), weights, lr=lr, steps=steps, every=every,
                           biases=biases, weight_decay=weight_decay,
                           record_weights=record_weights, check_lr=False,
                           on_divergence=on_divergence, devices=devices)
            return dataclasses.replace(sim, loss=sim.phase_loss[..., 0])
        if not protocol.plain:
            return _simulate_pathways(protocol, weights, lr=lr, steps=steps, every=every,
                                      biases=biases, weight_decay=weight_decay,
                                      record_weights=record_weights, check_lr=check_lr,
                                      on_divergence=on_divergence, devices=devices)
        tasks = protocol.tasks
        if protocol.n_phases == 1 and protocol.open_ended:
            protocol = None  # one phase without end: the plain run, as for its task
    elif isinstance(task, Task):
        tasks = (task,)
        if steps is None:
            raise TypeError("simulate() needs `steps` (the number of gradient steps) for a "
                            "dln.Task; pass e.g. steps=1000 (or a dln.Protocol whose phases end).")
    else:
        raise TypeError(f"`task` must be a dln.Task or a dln.Protocol, got {type(task).__name__};"
                        " build one with dln.Task(sigma_xx, sigma_yx) or dln.Task.from_data(X, Y).")
    weights = check_weights(tasks[0], weights)
    if biases is None and isinstance(task, Protocol) and task.architecture.biases is not None:
        biases = _zero_biases(weights, task.architecture.biases)
    if biases is not None:
        biases = check_biases(tasks[0], weights, biases)
    depth = len(weights)
    batch_weights = weights[0].ndim == 3
    dtype = weights[0].dtype
    if protocol is None:
        steps, every = _check_steps(steps, every)
    else:
        every = check_int(every, "every", 1, what=" (record every `every` steps)")
        if steps is not None:
            steps = check_int(steps, "steps", 0, what=" (gradient steps)")
    schedule = lr if callable(lr) else None
    if schedule is not None:
        if steps is None:
            raise TypeError("with a learning-rate schedule `lr`, pass `steps`: the number of "
                            "steps a protocol's flow-time durations take depends on it.")
        values = phases.schedule_values(schedule, steps)
        lr = values.max()  # a concrete stand-in for the checks below: the largest rate
    lr = as_array(lr, "lr", ndim=(0, 1)).astype(dtype)
    batch_lr = lr.ndim == 1
    gamma = as_array(weight_decay, "weight_decay", ndim=0).astype(dtype)
    if is_concrete(gamma) and float(gamma) < 0:
        raise ValueError(f"`weight_decay` must be >= 0 (the L2 penalty γ), got {float(gamma)!r}.")
    if batch_lr and batch_weights and lr.shape[0] != weights[0].shape[0]:
        raise ValueError(
            f"batched `lr` has {lr.shape[0]} values but the weights are a batch of "
            f"{weights[0].shape[0]}; they are zipped, so pass equal batch sizes (tile them "
            "for an outer product)."
        )
    if is_concrete(lr) and np.any(np.asarray(lr) <= 0):
        raise ValueError(f"`lr` must be > 0, got {np.asarray(lr)!r}.")
    if check_lr and is_concrete(lr) and all(is_concrete(t) for t in tasks):
        _check_lr_below(tasks, depth, float(np.max(np.asarray(lr))))
    check_on_divergence(on_divergence)
    mesh = phases.device_mesh(devices)

    if protocol is None:
        ends, batch_ends, freeze = np.array([steps]), False, False
        n_blocks = steps // every
    else:
        if not is_concrete(lr):
            raise TypeError("`lr` must be concrete with a dln.Protocol: it sets how many steps "
                            "each phase takes.")
        ends, steps = _protocol_ends(protocol, lr, values if schedule is not None else None,
                                     steps, batch_weights and weights[0].shape[0])
        batch_ends = ends.shape[0] > 1 or protocol.batched or batch_lr
        n_blocks = -(-steps // every)
        freeze = True
        ends = ends if batch_ends else ends[0]
    decay = None if (is_concrete(gamma) and float(gamma) == 0.0) else gamma
    final, recs = _run(tasks, weights, biases, lr, jnp.asarray(ends), int(every),
                       n_blocks=n_blocks, record_weights=record_weights,
                       batch=(batch_weights, batch_lr, batch_ends), schedule=schedule,
                       weight_decay=decay, freeze=freeze, mesh=mesh)
    final, final_biases = final
    if biases is None:
        final_biases = None
    step_numbers = np.arange(n_blocks + 1) * every
    flow_time = recs.pop("flow_time")
    if schedule is None:  # t = lr × steps, exactly
        flow_time = (lr[..., None] if batch_lr else lr) * jnp.asarray(step_numbers, lr.dtype)
    diverged_at = recs["diverged_at"]
    report_divergence(diverged_at, what="", lr=np.asarray(lr) if is_concrete(lr) else lr,
                      advice="Lower `lr` (dln.lr_bound gives the stability limit at the minimum; "
                      "large initial weights need less).", on_divergence=on_divergence)
    maps, offset = recs["map"], recs.get("offset")
    common = dict(final_weights=final, recorded_weights=recs.get("weights"),
                  diverged_at=diverged_at, offset=offset, final_biases=final_biases)
    if protocol is None:
        loss = affine_loss(tasks[0], maps, offset)
        return Trajectory(t=jnp.broadcast_to(flow_time, loss.shape), loss=loss, task=tasks[0],
                          modes=tasks[0].mode_strengths(maps), method="simulation",
                          depth=depth, stored_map=maps, **common)
    phase_loss = jnp.stack([affine_loss(t, maps, offset) for t in tasks], axis=-1)
    batch = weights[0].shape[0] if batch_weights else (lr.shape[0] if batch_lr else None)
    phase = phases.record_phases(np.atleast_2d(ends), step_numbers, batch_ends, batch)
    final_weights = common.pop("final_weights")
    return phase_trajectory(
        t=flow_time, maps=maps, tasks=tasks,  # (T,): batches share the record times
        phase=phase, bounds=protocol.bounds if protocol.batched else protocol.bounds[0],
        final_weights=final_weights, phase_methods=("simulation",) * len(tasks),
        phase_loss=phase_loss, depth=depth, **common)


def _largest_lr(lr, steps):
    """The largest learning rate of `lr` (a number, a batch, or a schedule over `steps`), or
    None when it is unknown (traced, or a schedule without `steps`)."""
    if callable(lr):
        return None if steps is None else float(phases.schedule_values(lr, steps).max())
    return float(np.max(np.asarray(lr, dtype=float))) if is_concrete(lr) else None


def _check_lr_below(tasks, depth, largest):
    """Raise if `largest` is at or above the smallest `lr_bound` of `tasks` at `depth`."""
    bound = min(lr_bound(t, depth) for t in tasks)
    if largest >= bound:
        raise ValueError(
            f"`lr` = {largest!r} will not converge: at depth {depth} gradient descent on "
            f"{'this task' if len(tasks) == 1 else 'one of the tasks'} is unstable for "
            f"lr >= {bound:.6g} (2 / the largest Hessian eigenvalue at "
            "the balanced global minimum, which descent from small or balanced weights "
            "approaches; see dln.lr_bound). Use a smaller lr, e.g. "
            f"{bound / 4:.3g}, or pass check_lr=False to run anyway."
        )


def _protocol_ends(protocol, lr, values, steps, weight_batch):
    """The step counts `(B, n_phases)` at which a protocol's phases end, and the steps of the
    run (default: the protocol's end). Each phase ends where the flow time reaches its boundary
    (`phases.phase_ends`: from the learning rate, or from the schedule's `values` of every
    step); an open last phase ends at `steps`. `B` zips batched durations with batched learning
    rates (and with the `weight_batch`, when given)."""
    bounds, open_end = protocol.bounds, protocol.open_ended
    lrs = None if values is not None else np.atleast_1d(np.asarray(lr, dtype=float))
    n_d = bounds.shape[0] if protocol.batched else 1
    n_lr = 1 if lrs is None or np.ndim(lr) == 0 else lrs.shape[0]
    if n_d > 1 and n_lr > 1 and n_d != n_lr:
        raise ValueError(f"batched durations ({n_d}) and batched `lr` ({n_lr}) are zipped; pass "
                         "equal batch sizes.")
    B = max(n_d, n_lr)
    if weight_batch and B > 1 and weight_batch != B:
        raise ValueError(f"batched durations or `lr` ({B}) and batched weights ({weight_batch}) "
                         "are zipped; pass equal batch sizes.")
    if open_end and steps is None:
        raise TypeError("the protocol's last phase has no end: pass `steps` (the length of the "
                        "run), or give the last phase a duration.")
    rows = []
    for b in range(B):
        row = bounds[b if n_d > 1 else 0]
        rate = values if lrs is None else lrs[b if n_lr > 1 else 0]
        kept = row[:-1] if open_end else row
        ends = phases.phase_ends(kept[None], rate)[0]
        rows.append(np.append(ends, steps) if open_end else ends)
    ends = np.stack(rows)
    if steps is None:
        steps = int(ends[:, -1].max())
    return np.minimum(ends, steps), steps


def _zero_biases(weights, pattern):
    """Zero initial biases `[b1, …, bD]` on the layers that `pattern` names (None elsewhere)."""
    has = bias_layers(pattern, len(weights))
    return [jnp.zeros(W.shape[:-1], W.dtype) if h else None for W, h in zip(weights, has)]


def _simulate_pathways(protocol, weights, *, lr, steps, every, biases, weight_decay,
                       record_weights, check_lr, on_divergence, devices):
    """A protocol with pathways, sources, shared layers or deficits: the pathway network."""
    arch = protocol.architecture
    if biases is not None:
        raise ValueError("`biases` are not part of pathway networks; pass biases=None (a "
                         "protocol with biases has one pathway and no deficits).")
    n = arch.pathways + (1 if arch.shared else 0)
    if not isinstance(weights, (list, tuple)) or len(weights) != n:
        shared = ", then the shared layers" if arch.shared else ""
        raise ValueError(f"`weights` must list one weight list per pathway ({arch.pathways}"
                         f"{shared}) for this protocol, got "
                         f"{len(weights) if isinstance(weights, (list, tuple)) else weights!r}.")
    paths, shared = list(weights[:arch.pathways]), (weights[-1] if arch.shared else None)
    for p, path in enumerate(paths):
        if not isinstance(path, (list, tuple)) or len(path) != arch.depth:
            raise ValueError(f"`weights[{p}]` must be pathway {p}'s {arch.depth} weight matrices "
                             f"(the architecture's depth), got {path!r:.80}.")
    if shared is not None and (not isinstance(shared, (list, tuple))
                               or len(shared) != arch.shared):
        raise ValueError(f"`weights[{arch.pathways}]` must be the {arch.shared} shared layers, "
                         f"got {shared!r:.80}.")
    if steps is None:
        duration = protocol.phases[0][1]
        if protocol.open_ended:
            raise TypeError("the protocol's phase has no end: pass `steps` (the length of the "
                            "run), or give the phase a duration.")
        if callable(lr):
            raise TypeError("with a learning-rate schedule `lr`, pass `steps`: the number of "
                            "steps the protocol's flow-time duration takes depends on it.")
        steps = int(phases.steps_of(np.asarray([duration], dtype=float), float(lr))[0])
        if steps % every:
            raise ValueError(f"the protocol's duration is {steps} steps of lr = {lr!r}, not a "
                             f"multiple of `every` = {every}; pick `every` dividing it.")
    return simulate_pathways(protocol.task, paths, lr=lr, steps=steps, every=every,
                             deficit=list(protocol.deficits) or None,
                             sources=list(arch.sources) if arch.sources else None,
                             shared=shared, record_weights=record_weights, check_lr=check_lr,
                             on_divergence=on_divergence, weight_decay=weight_decay,
                             devices=devices)


def _check_steps(steps, every):
    for name, v in (("steps", steps), ("every", every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"`{name}` must be an int, got {v!r}.")
    if steps < 0 or every < 1:
        raise ValueError(f"need `steps` >= 0 and `every` >= 1, got steps={steps}, every={every}.")
    if steps % every:
        raise ValueError(
            f"`steps` ({steps}) must be a multiple of `every` ({every}) so the last record is "
            f"the final state; e.g. steps={steps - steps % every + every}."
        )
    return int(steps), int(every)
