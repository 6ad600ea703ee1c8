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
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from dln import modes as _modes
from dln._checks import as_array, is_concrete
from dln.network import (affine_loss, affine_loss_gradients, affine_map, check_biases,
                         check_weights)
from dln.task import Task
from dln.trajectory import Trajectory

__all__ = ["simulate", "DivergenceError", "lr_bound"]


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the weights stopped being finite during the run."""


def lr_bound(task: Task, depth: int) -> float:
    """Learning rate above which gradient descent cannot converge on this task.

    At a global minimum every mode has curvature `κ_α = D s_α^{2−2/D} λ_α^{2/D−1}` along its
    balanced direction (`dln.modes.rate`; the balanced minima are the flattest), and depth 1 has
    curvature `λ_max(Σxx)`. Gradient descent is stable at a minimum only if `lr < 2/curvature`
    (THEORY.md §0.1), so `lr >= lr_bound` never converges. Returns `inf` for a zero task.
    """
    if depth == 1:
        curvature = float(np.linalg.eigvalsh(np.asarray(task.sigma_xx)).max())
    else:
        s, lam = np.asarray(task.s), np.asarray(task.input_variance)
        active = (s > 0) & (lam > 0)
        if not active.any():
            return float("inf")
        curvature = float(np.max(np.asarray(_modes.rate(s[active], lam[active], depth))))
    return 2.0 / curvature if curvature > 0 else float("inf")


def _run_one(task, state, lr, n_blocks, every, record_weights):
    """Gradient descent on the state `(weights, biases)`; `biases` entries may all be None, in
    which case `affine_loss_gradients` is exactly the bias-free gradient."""
    dtype = state[0][0].dtype
    sxx, syx = task.sigma_xx.astype(dtype), task.sigma_yx.astype(dtype)
    has_bias = any(b is not None for b in state[1])
    xm = task.x_mean.astype(dtype) if has_bias else None
    ym = task.y_mean.astype(dtype) if has_bias else None

    def step(_, st):
        ws, bs = st
        gw, gb = affine_loss_gradients(ws, bs, sxx, syx, xm, ym)
        return ([W - lr * g for W, g in zip(ws, gw)],
                [None if b is None else b - lr * g for b, g in zip(bs, gb)])

    def record(st):
        ws, bs = st
        W, c = affine_map(ws, bs)
        leaves = jax.tree_util.tree_leaves(st)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))
        rec = dict(map=W, offset=c, finite=finite)
        if record_weights:
            rec["weights"] = ws
        return rec

    return _scan(state, step, record, n_blocks, every)


def _scan(state, step, record, n_blocks, every):

    def block(st, _):
        st = jax.lax.fori_loop(0, every, step, st)  # `every` is traced: no recompile per value
        return st, record(st)

    final, recs = jax.lax.scan(block, state, None, length=n_blocks)
    first = record(state)
    recs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, recs)
    return final, recs


@functools.partial(jax.jit, static_argnames=("n_blocks", "record_weights", "batch_weights",
                                             "batch_lr"))
def _run(task, weights, lr, every, *, n_blocks, record_weights, batch_weights, batch_lr,
         biases=None):
    # `biases` None: no biases (the same path, every entry None); else [b1, …, bD]
    state = (list(weights), [None] * len(weights) if biases is None else list(biases))
    fn = functools.partial(_run_one, every=every, n_blocks=n_blocks, record_weights=record_weights)
    if batch_weights or batch_lr:
        fn = jax.vmap(fn, in_axes=(None, 0 if batch_weights else None, 0 if batch_lr else None))
    final, recs = fn(task, state, lr)
    recs["modes"] = task.mode_strengths(recs["map"])
    recs["loss"] = affine_loss(task, recs["map"], recs["offset"])
    step_numbers = jnp.arange(n_blocks + 1) * every
    t = (lr[..., None] if batch_lr else lr) * step_numbers.astype(lr.dtype)
    recs["t"] = jnp.broadcast_to(t, recs["loss"].shape)
    finite = recs.pop("finite")
    recs["diverged_at"] = jnp.where(jnp.all(finite, axis=-1), -1,
                                    step_numbers[jnp.argmin(finite, axis=-1)])
    return final, recs


def simulate(task: Task, weights, *, lr, steps: int, every: int = 1, biases=None,
             record_weights: bool = False, check_lr: bool = True,
             on_divergence: str = "raise") -> Trajectory:
    """Full-batch gradient descent `W_l ← W_l − lr ∂L/∂W_l` on `L = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²`.

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
      lr: learning rate, a scalar or `(B,)` to batch over learning rates (with batched weights
        the two batches are zipped, so B must agree).
      steps: number of gradient steps; a multiple of `every`.
      every: record the state every `every` steps (records at steps 0, every, …, steps).
      record_weights: also record every layer's weights (`Trajectory.weights()`).
      check_lr: raise before running if `lr >= dln.lr_bound(task, depth)`, where no
        minimum is stable (the bound is exact; pass False to study unstable runs).
      on_divergence: `"raise"` (default) raises `DivergenceError` if the weights stop being
        finite; `"warn"` warns and returns, with `Trajectory.diverged_at` marking the first
        non-finite record step (−1 where finite).

    Returns:
      A `Trajectory` with `t = lr × step` `(T,)`, `modes (T, K)` (of the map), `map (T, No, Ni)`,
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
    lr = as_array(lr, "lr", ndim=(0, 1)).astype(dtype)
    batch_lr = lr.ndim == 1
    if batch_lr and batch_weights and lr.shape[0] != weights[0].shape[0]:
        raise ValueError(
            f"batched `lr` has {lr.shape[0]} values but the weights are a batch of "
            f"{weights[0].shape[0]}; they are zipped, so pass equal batch sizes (tile them "
            "for an outer product)."
        )
    if is_concrete(lr) and np.any(np.asarray(lr) <= 0):
        raise ValueError(f"`lr` must be > 0, got {np.asarray(lr)!r}.")
    steps, every = _check_steps(steps, every)
    if check_lr and is_concrete(lr):
        bound = lr_bound(task, depth)
        if (largest := float(np.max(np.asarray(lr)))) >= bound:
            raise ValueError(
                f"`lr` = {largest!r} will not converge: at depth {depth} gradient "
                f"descent on this task is unstable for lr >= {bound:.6g} (2 / the loss curvature "
                "at the flattest minimum; see dln.lr_bound). Use a smaller lr, e.g. "
                f"{bound / 4:.3g}, or pass check_lr=False to run anyway."
            )
    if on_divergence not in ("raise", "warn"):
        raise ValueError(f"`on_divergence` must be 'raise' or 'warn', got {on_divergence!r}.")

    final, recs = _run(task, weights, lr, jnp.asarray(every), n_blocks=steps // every,
                       record_weights=record_weights, batch_weights=batch_weights,
                       batch_lr=batch_lr, biases=biases)
    final, final_biases = final
    if biases is None:
        final_biases = None
    diverged_at = recs["diverged_at"]
    if is_concrete(diverged_at) and np.any((bad := np.asarray(diverged_at)) >= 0):
        where = (f"at step {int(bad)}" if bad.ndim == 0 else
                 f"in {int((bad >= 0).sum())} of {bad.size} runs (first at step "
                 f"{int(bad[bad >= 0].min())})")
        message = (f"gradient descent diverged {where} with lr = {np.asarray(lr)!r}: the weights "
                   "became infinite or NaN. Lower `lr` (dln.lr_bound gives the "
                   "stability limit at the minimum; large initial weights need less).")
        if on_divergence == "raise":
            raise DivergenceError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
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
