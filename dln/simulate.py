"""`dln.simulate`: full-batch gradient descent on a deep linear network, in JAX.

The step works on the sufficient statistics: with `W = W_D ⋯ W_1`,

    L(W) = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ),
    ∂L/∂W_l = −(W_D ⋯ W_{l+1})ᵀ (Σyx − W Σxx) (W_{l−1} ⋯ W_1)ᵀ,

so a step costs the same for 10 samples or 10⁶. With biases (`ŷ = M x + c`, see
`dln.network.affine_loss_gradients`) the first moments `x̄`, `ȳ` enter as well, still independent
of the number of samples. The whole run is one jitted `lax.scan` that keeps
only the records (memory grows with `steps / every`, not with `steps`), and ensembles over
initial weights or learning rates are one `vmap`-ed compiled call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_on_divergence, is_concrete
from dln.network import (
    affine_loss,
    affine_loss_gradients,
    affine_map,
    check_biases,
    check_weights,
)
from dln.simulation.descent import (
    DivergenceError,
    all_finite,
    first_divergence,
    report_divergence,
    scan,
)
from dln.tasks.task import Task
from dln.trajectory import Trajectory

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

        λ_max(H) = λ_max(Γ^{1/2} Ṽᵀ Σxx Ṽ Γ^{1/2}),   Γ = diag_j Σ_{l=1}^{D} σ_1^{2(D−l)/D} σ_j^{2(l−1)/D},

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


def _run_one(task, state, lr, n_blocks, every, record_weights, schedule, weight_decay):
    """Gradient descent on the state `(weights, biases)`; `biases` entries may all be None, in
    which case `affine_loss_gradients` is exactly the bias-free gradient. The step size is `lr`,
    or `schedule(k)` at step `k` when a schedule is given; the flow time `Σ lr` is carried."""
    dtype = state[0][0].dtype
    sxx, syx = task.sigma_xx.astype(dtype), task.sigma_yx.astype(dtype)
    has_bias = any(b is not None for b in state[1])
    xm = task.x_mean.astype(dtype) if has_bias else None
    ym = task.y_mean.astype(dtype) if has_bias else None
    decay = weight_decay is not None

    def step(k, carry):
        (ws, bs), t = carry
        rate = lr if schedule is None else jnp.asarray(schedule(k), dtype)
        gw, gb = affine_loss_gradients(ws, bs, sxx, syx, xm, ym)
        if decay:  # the gradient of ½γ Σ (||W_l||² + ||b_l||²)
            gw = [g + weight_decay * W for g, W in zip(gw, ws)]
            gb = [None if g is None else g + weight_decay * b for g, b in zip(gb, bs)]
        state = ([W - rate * g for W, g in zip(ws, gw)],
                 [None if b is None else b - rate * g for b, g in zip(bs, gb)])
        return state, t + rate

    def record(carry):
        (ws, bs), t = carry
        W, c = affine_map(ws, bs)
        rec = dict(map=W, offset=c, finite=all_finite((ws, bs)), flow_time=t)
        if record_weights:
            rec["weights"] = ws
        return rec

    final, recs = scan((state, jnp.zeros((), dtype)), step, record, n_blocks, every)
    return final[0], recs


@functools.partial(jax.jit, static_argnames=("n_blocks", "record_weights", "batch_weights",
                                             "batch_lr", "schedule"))
def _run(task, weights, lr, every, *, n_blocks, record_weights, batch_weights, batch_lr,
         biases=None, schedule=None, weight_decay=None):
    # `biases` None: no biases (the same path, every entry None); else [b1, …, bD]
    state = (list(weights), [None] * len(weights) if biases is None else list(biases))
    fn = functools.partial(_run_one, every=every, n_blocks=n_blocks, record_weights=record_weights,
                           schedule=schedule, weight_decay=weight_decay)
    if batch_weights or batch_lr:
        fn = jax.vmap(fn, in_axes=(None, 0 if batch_weights else None, 0 if batch_lr else None))
    final, recs = fn(task, state, lr)
    recs["modes"] = task.mode_strengths(recs["map"])
    recs["loss"] = affine_loss(task, recs["map"], recs["offset"])
    step_numbers = jnp.arange(n_blocks + 1) * every
    flow_time = recs.pop("flow_time")
    if schedule is None:  # t = lr × steps, exactly
        flow_time = (lr[..., None] if batch_lr else lr) * step_numbers.astype(lr.dtype)
    recs["t"] = jnp.broadcast_to(flow_time, recs["loss"].shape)
    recs["diverged_at"] = first_divergence(recs.pop("finite"), step_numbers)
    return final, recs


def _schedule_values(schedule, steps):
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


def simulate(task: Task, weights, *, lr, steps: int, every: int = 1, biases=None,
             weight_decay=0.0, record_weights: bool = False, check_lr: bool = True,
             on_divergence: str = "raise") -> Trajectory:
    """Full-batch gradient descent `W_l ← W_l − lr ∂L/∂W_l` on `L = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²`.

    With `weight_decay = γ > 0` the loss gains `½γ Σ_l ||W_l||²` (and `½γ ||b_l||²` for the
    biases): `W_l ← W_l − lr (∂L/∂W_l + γ W_l)`. The recorded `loss` stays the data loss `L`.

    Args:
      task: the `dln.Task` (only its correlations, and with biases its means, enter a step).
      weights: `[W1, …, WD]`, `W_l` of shape `(out, in)`, any depth and widths; give every
        matrix a leading batch axis `(B, out, in)` to run an ensemble of `B` networks.
      biases: optional `[b1, …, bD]`, each None (no bias in that layer) or an `(out,)` vector
        (`(B, out)` with batched weights); the network is then `h_l = W_l h_{l−1} + b_l`, i.e.
        `ŷ = M x + c` with map `M = W_D ⋯ W_1` and offset `c = Σ_l (W_D ⋯ W_{l+1}) b_l`, and
        the biases descend too (`b_l ← b_l − lr ∂L/∂b_l`, `dln.network.affine_loss_gradients`).
        Needs a task that knows the means `x̄`, `ȳ` (`Task.from_data`). All None is the same as
        no biases.
      lr: learning rate: a number; `(B,)` to batch over learning rates (with batched weights
        the two batches are zipped, so B must agree); or a schedule, a JAX-traceable callable
        from the step index `k = 0, 1, …` to the learning rate of step k (optax's convention:
        its schedules work as they are). The flow time recorded is `t = Σ_{j<k} lr_j`, so
        `dln.solve(..., t=sim.t)` is the theory of an annealed run.
      weight_decay: `γ >= 0`, the L2 penalty on every weight (and bias); default 0.
      steps: number of gradient steps; a multiple of `every`.
      every: record the state every `every` steps (records at steps 0, every, …, steps).
      record_weights: also record every layer's weights (`Trajectory.weights()`).
      check_lr: raise before running if `lr >= dln.lr_bound(task, depth)` (for a schedule:
        its largest value over the run), where the balanced
        global minimum (the one descent from small or balanced weights approaches) is unstable
        (the bound is exact there; pass False to study unstable runs). Skipped when `lr` or the
        task is traced.
      on_divergence: `"raise"` (default) raises `DivergenceError` if the weights stop being
        finite; `"warn"` warns and returns, with `Trajectory.diverged_at` marking the first
        non-finite record step (−1 where finite).

    Returns:
      A `Trajectory` with `t = lr × step` (`Σ lr` for a schedule) `(T,)`, `modes (T, K)` (of
      the map), `map (T, No, Ni)`,
      `loss (T,)` (with the offset), `final_weights`; with biases also `offset (T, No)` and
      `final_biases`; and a leading batch axis on all of them for ensembles.
      Computation follows the weights' dtype (float32 or float64).
    """
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    weights = check_weights(task, weights)
    if biases is not None:
        biases = check_biases(task, weights, biases)
    depth = len(weights)
    batch_weights = weights[0].ndim == 3
    dtype = weights[0].dtype
    steps, every = _check_steps(steps, every)
    schedule = lr if callable(lr) else None
    if schedule is not None:
        # a concrete stand-in for the checks below: the largest rate of the run
        lr = _schedule_values(schedule, steps).max()
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
    if check_lr and is_concrete(lr) and is_concrete(task):
        bound = lr_bound(task, depth)
        if (largest := float(np.max(np.asarray(lr)))) >= bound:
            raise ValueError(
                f"`lr` = {largest!r} will not converge: at depth {depth} gradient descent on this "
                f"task is unstable for lr >= {bound:.6g} (2 / the largest Hessian eigenvalue at "
                "the balanced global minimum, which descent from small or balanced weights "
                "approaches; see dln.lr_bound). Use a smaller lr, e.g. "
                f"{bound / 4:.3g}, or pass check_lr=False to run anyway."
            )
    check_on_divergence(on_divergence)

    decay = None if (is_concrete(gamma) and float(gamma) == 0.0) else gamma
    final, recs = _run(task, weights, lr, jnp.asarray(every), n_blocks=steps // every,
                       record_weights=record_weights, batch_weights=batch_weights,
                       batch_lr=batch_lr, biases=biases, schedule=schedule, weight_decay=decay)
    final, final_biases = final
    if biases is None:
        final_biases = None
    diverged_at = recs["diverged_at"]
    report_divergence(diverged_at, what="", lr=np.asarray(lr) if is_concrete(lr) else lr,
                      advice="Lower `lr` (dln.lr_bound gives the stability limit at the minimum; "
                      "large initial weights need less).", on_divergence=on_divergence)
    return Trajectory(
        t=recs["t"], modes=recs["modes"], loss=recs["loss"], task=task, method="simulation",
        depth=depth, stored_map=recs["map"], final_weights=final,
        recorded_weights=recs.get("weights"), diverged_at=diverged_at,
        offset=recs.get("offset"), final_biases=final_biases,
    )


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
