"""Measures of competition and critical periods: shares, per-pathway performance, relative source
variance, and the Fisher information of the weights.

- `shares`: each pathway's share `K_p / Σ_q K_q` of each mode (Kleinman et al. 2024).
- `pathway_loss`: the loss of each pathway's map on its own (the deprived pathway's skill, as
  testing the deprived eye alone), and `excess_loss` of the whole network.
- `source_variances`, `relative_source_variance`: for each unit of the merged representation
  `h = Σ_p Ω_p x_p`, the variance it receives from each source with the others fixed,
  `V_i^{(p)} = (Ω_p C_pp Ω_pᵀ)_ii` (`C_pp` the source's covariance), and
  `RSV_i = (V^{(a)} − V^{(b)})/(V^{(a)} + V^{(b)}) ∈ [−1, 1]` (Kleinman, Achille & Soatto 2023;
  docs/theory/sources.md: ±1 a unit driven by one source only, 0 equal sensitivity).
- `fisher_trace`: the trace of the Fisher information of each layer's weights for the Gaussian
  output model `y ~ N(ŷ, σ² I)`: the gradient of `log p` with respect to `W_l` is
  `A_lᵀ (y − ŷ) (B_l x)ᵀ / σ²` with `A_l = W_D ⋯ W_{l+1}`, `B_l = W_{l−1} ⋯ W_1`, and averaging
  over `y ~ p_w(·|x)` and the inputs gives exactly

      tr F_l = ||A_l||_F² · tr(B_l Σxx B_lᵀ) / σ².

  It does not depend on the targets, and from small weights it only grows.
- `empirical_fisher_trace`: the second moment of the per-sample gradients of the loss at the
  data's own targets, `tr F̂_l = (1/P) Σ_μ ||A_lᵀ e_μ||² ||B_l x_μ||²` (`e_μ = ŷ_μ − y_μ`). It
  rises while the weights grow and falls as the errors vanish: the "rise then fall" of
  Achille, Rovere & Soatto (2019) holds for this quantity in a deep linear network (their
  estimator samples `y` from a softmax, whose Fisher falls as the predictions saturate; the
  Gaussian model's has no such saturation). Both are exact functions of the weights, so along an
  exact trajectory (weights `dln.init.aligned_from_strengths`) they are exact, and on recorded
  simulation weights they are the simulation's. `sampled_fisher_trace` estimates the first by
  Monte Carlo, as one would in a simulation without the formula: outputs sampled from the model
  at every item, squared norms of the per-sample score.
- `fisher_traces`: both traces along a trajectory of a single network, from its weights
  (`Trajectory.weights()`: the balanced aligned weights of an exact mode solution, with or
  without weight decay, or the recorded weights of a simulation), `(..., T, D)` each.

The Gaussian-model trace is a sum over pairs of modes: for balanced aligned weights with mode
strengths `u_α` (each layer carries `u_α^{1/D}`), `tr F_l = Σ_α u_α^{2(D−l)/D} ·
Σ_β λ_β u_β^{2(l−1)/D} / σ²` (`λ_β` the input variance of mode β; the first factor is the
output width at `l = D`, the second `tr Σxx` at `l = 1`). It grows with every mode strength,
so it falls only when a mode shrinks: never from small aligned weights under the plain flow,
but under weight decay `γ` at depth `D >= 3` a mode whose strength is below
`dln.modes.weight_decay_threshold`, or whose `γ` is above the maximum `u^{1−2/D}(s − λu)`, decays
to 0 and takes its terms with it (docs/theory/fisher.md). A decaying learning rate stops the
flow time `t = Σ lr` at a finite value, and both traces stay where they were then.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_int, check_key, check_real
from dln.init import aligned_from_strengths
from dln.network import product
from dln.protocol.sources import check_sources
from dln.tasks.task import Task
from dln.trajectory import Trajectory

__all__ = ["shares", "pathway_loss", "excess_loss", "source_variances",
           "relative_source_variance", "fisher_trace", "sampled_fisher_trace",
           "empirical_fisher_trace", "fisher_traces", "exact_weights"]


def _check_weights(weights, name="weights"):
    if isinstance(weights, (np.ndarray, jax.Array)) or not isinstance(weights, (list, tuple)) \
            or not weights:
        raise TypeError(f"`{name}` must be a non-empty list [W1, …, WD] of (…, out, in) "
                        f"matrices, got {type(weights).__name__}.")
    ws = [as_array(W, f"{name}[{l}]", finite=False) for l, W in enumerate(weights)]
    for l, W in enumerate(ws):
        if W.ndim < 2:
            raise ValueError(f"`{name}[{l}]` must be a matrix (…, out, in), got shape "
                             f"{tuple(W.shape)}.")
        if l and W.shape[-1] != ws[l - 1].shape[-2]:
            raise ValueError(f"`{name}[{l}]` has {W.shape[-1]} columns but {name}[{l - 1}] has "
                             f"{ws[l - 1].shape[-2]} rows.")
    return ws


def _check_task(task, name="task"):
    if not isinstance(task, Task):
        raise TypeError(f"`{name}` must be a dln.Task, got {type(task).__name__}.")


def _check_noise(noise_variance):
    return check_real(noise_variance, "noise_variance", low=0.0, strict=True,
                      what=" (the output noise variance σ²)")


def _check_traj(traj):
    if not isinstance(traj, Trajectory) or traj.pathways is None:
        raise TypeError("`traj` must be a trajectory of pathways (dln.pathways.solve or "
                        f"dln.pathways.simulate), got {type(traj).__name__}"
                        + (" of a single network." if isinstance(traj, Trajectory) else "."))


def shares(modes):
    """`(..., P, K)` each pathway's share `K_p/Σ_q K_q` of each mode (`1/P` where all are 0)."""
    modes = as_array(modes, "modes", finite=False)
    if modes.ndim < 2:
        raise ValueError(f"`modes` must have shape (..., P, K) (pathways × modes), got "
                         f"{tuple(modes.shape)}.")
    total = jnp.sum(modes, axis=-2, keepdims=True)
    even = jnp.full_like(modes, 1.0 / modes.shape[-2])
    return jnp.where(total != 0, modes / jnp.where(total != 0, total, 1.0), even)


def pathway_loss(traj):
    """`(..., T, P)` the loss of each pathway's contribution to the map on its own."""
    _check_traj(traj)
    return traj.task.loss(traj.map)


def excess_loss(traj):
    """`(..., T)` the network's loss above the task's minimum (`traj.loss` when `sigma_yy` is
    unknown, which is already the excess)."""
    _check_traj(traj)
    base = traj.task.min_loss
    return traj.loss if base is None else traj.loss - base


def _blocks(task, sources):
    return [task.sigma_xx[a:b, a:b] for a, b in sources]


def source_variances(task: Task, pathways, sources):
    """`(..., P, h)` the variance each unit of the merged representation receives from each
    source with the others held fixed, `(Ω_p C_pp Ω_pᵀ)_ii`.

    `pathways`: one weight list per pathway (the layers before the merge; leading axes such as
    time broadcast); `sources`: their `(start, stop)` input blocks. `C_pp` is the source's block
    of `task.sigma_xx` (the covariance for centred sources).
    """
    _check_task(task)
    if not isinstance(pathways, (list, tuple)) or not pathways:
        raise TypeError(f"`pathways` must be a list with one weight list per pathway, got "
                        f"{type(pathways).__name__}.")
    pathways = [_check_weights(ws, f"pathways[{p}]") for p, ws in enumerate(pathways)]
    check_sources(task, sources, len(pathways))
    out = []
    for ws, C in zip(pathways, _blocks(task, sources)):
        Om = product(list(ws))
        out.append(jnp.einsum("...ij,jk,...ik->...i", Om, C, Om))
    return jnp.stack(out, axis=-2)


def relative_source_variance(variances, pair=(0, 1)):
    """`(..., h)` `RSV_i = (V^{(a)} − V^{(b)})/(V^{(a)} + V^{(b)})` for the sources `pair` of
    `source_variances` output (0 for a unit that receives nothing)."""
    variances = as_array(variances, "variances", finite=False)
    if variances.ndim < 2:
        raise ValueError(f"`variances` must have shape (..., P, h) (`source_variances`), got "
                         f"{tuple(variances.shape)}.")
    n = variances.shape[-2]
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < n
            for i in pair)):
        raise ValueError(f"`pair` must be two source indices in 0..{n - 1}, got {pair!r}.")
    va, vb = variances[..., pair[0], :], variances[..., pair[1], :]
    total = va + vb
    return jnp.where(total > 0, (va - vb) / jnp.where(total > 0, total, 1.0), 0.0)


def _prefix_suffix(weights):
    D = len(weights)
    ones = []
    for l in range(D):
        A = product(list(weights[l + 1:])) if l + 1 < D else None
        B = product(list(weights[:l])) if l > 0 else None
        ones.append((A, B))
    return ones


def fisher_trace(task: Task, weights, noise_variance: float = 1.0):
    """`(..., D)` trace of the Fisher information of each layer for `y ~ N(ŷ, σ² I)`,
    `||A_l||_F² tr(B_l Σxx B_lᵀ)/σ²` (module docstring). Leading axes of the weights broadcast.
    """
    _check_task(task)
    weights = _check_weights(weights)
    noise_variance = _check_noise(noise_variance)
    out = []
    for A, B in _prefix_suffix(weights):
        a = (jnp.sum(A * A, axis=(-2, -1)) if A is not None
             else jnp.asarray(float(weights[-1].shape[-2])))
        b = (jnp.einsum("...ij,jk,...ik->...", B, task.sigma_xx, B) if B is not None
             else jnp.trace(task.sigma_xx))
        out.append(jnp.broadcast_to(a * b, jnp.broadcast_shapes(jnp.shape(a), jnp.shape(b))))
    return jnp.stack(out, axis=-1) / noise_variance


def sampled_fisher_trace(key, task: Task, weights, n_samples: int = 64,
                         noise_variance: float = 1.0):
    """Monte Carlo estimate of `fisher_trace` (one set of weights, needs the data): for every
    item `x_μ` and `n_samples` draws `y = ŷ_μ + ε`, `ε ~ N(0, σ² I)`, the squared norm of the
    score `∂ log p/∂W_l = A_lᵀ ε (B_l x_μ)ᵀ / σ²`, averaged. Returns `(D,)` estimates and their
    standard errors `(D,)`."""
    check_key(key)
    _check_task(task)
    if task.X is None:
        raise ValueError("sampled_fisher_trace needs the samples: build the task with "
                         "dln.Task.from_data(X, Y).")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"`n_samples` must be an int >= 2, got {n_samples!r}.")
    weights = _check_weights(weights)
    noise_variance = _check_noise(noise_variance)
    X = task.X
    n_out = weights[-1].shape[-2]
    eps = jnp.sqrt(noise_variance) * jax.random.normal(
        key, (n_samples, X.shape[0], n_out), X.dtype)
    est, err = [], []
    for A, B in _prefix_suffix(weights):
        back = eps if A is None else jnp.einsum("ij,npi->npj", A, eps)
        fwd = X if B is None else jnp.einsum("ij,pj->pi", B, X)
        per = jnp.sum(back**2, -1) * jnp.sum(fwd**2, -1) / noise_variance**2  # (n, P)
        per_draw = jnp.mean(per, axis=1)  # average over items: one estimate per draw
        est.append(jnp.mean(per_draw))
        err.append(jnp.std(per_draw, ddof=1) / np.sqrt(n_samples))
    return jnp.stack(est), jnp.stack(err)


def empirical_fisher_trace(task: Task, weights, total_map=None):
    """`(..., D)` `(1/P) Σ_μ ||A_lᵀ e_μ||² ||B_l x_μ||²` per layer, at the data's targets
    (needs `Task.from_data`). `total_map` (default `W_D ⋯ W_1`) is the map that makes the
    errors `e_μ = total_map x_μ − y_μ` (for a pathway, the whole network's map)."""
    _check_task(task)
    if task.X is None:
        raise ValueError("empirical_fisher_trace needs the samples: build the task with "
                         "dln.Task.from_data(X, Y).")
    weights = _check_weights(weights)
    X, Y = task.X, task.Y
    M = product(list(weights)) if total_map is None else as_array(total_map, "total_map")
    if M.ndim < 2 or M.shape[-2:] != (task.n_out, task.n_in):
        raise ValueError(f"`total_map` must have shape (..., {task.n_out}, {task.n_in}) (the "
                         f"task's maps), got {tuple(M.shape)}.")
    err = jnp.einsum("...ij,pj->...pi", M, X) - Y  # (..., P, No)
    out = []
    for A, B in _prefix_suffix(weights):
        back = err if A is None else jnp.einsum("...ij,...pi->...pj", A, err)
        fwd = X if B is None else jnp.einsum("...ij,pj->...pi", B, X)
        out.append(jnp.mean(jnp.sum(back**2, -1) * jnp.sum(fwd**2, -1), axis=-1))
    return jnp.stack(out, axis=-1)


def fisher_traces(traj, noise_variance: float = 1.0):
    """The Fisher traces of a single network along its trajectory, `(model, empirical)`.

    `model` `(..., T, D)`: `fisher_trace` (Gaussian output model `y ~ N(ŷ, σ² I)`,
    `tr F_l = ||A_l||_F² tr(B_l Σxx B_lᵀ)/σ²`, `A_l = W_D ⋯ W_{l+1}`, `B_l = W_{l−1} ⋯ W_1`);
    `empirical` `(..., T, D)`: `empirical_fisher_trace`, `(1/P) Σ_μ ||A_lᵀ e_μ||² ||B_l x_μ||²`
    with `e_μ = ŷ_μ − y_μ` (None when the task has no samples, i.e. was not built with
    `dln.Task.from_data`). Both are read off `traj.weights()`: the balanced aligned weights of an
    exact mode solution (`dln.solve`, with or without `weight_decay`; exact functions of time),
    or the recorded weights of a simulation (`dln.simulate(..., record_weights=True)`, the
    simulation's own values, any schedule or weight decay). Leading batch axes broadcast. Sum
    over the last axis for the trace of the Fisher information of all the weights.

    The network must have no biases, and the measures use `traj.task` (the last phase's task of
    a schedule). For pathways use `fisher_trace` on `exact_weights(traj, p)` or the recorded
    pathway weights.
    """
    if not isinstance(traj, Trajectory):
        raise TypeError(f"`traj` must be a dln.Trajectory, got {type(traj).__name__}.")
    if traj.pathways is not None:
        raise TypeError("`traj` is a trajectory of pathways: use fisher_trace on "
                        "exact_weights(traj, pathway) (exact) or on the recorded weights of each "
                        "pathway (simulation).")
    if traj.offset is not None:
        raise ValueError("fisher_traces covers networks without biases; this trajectory has an "
                         "output offset (biases).")
    task = traj.task
    _check_task(task, "traj.task")
    weights = list(traj.weights())
    model = fisher_trace(task, weights, noise_variance)
    empirical = None if task.X is None else empirical_fisher_trace(task, weights)
    return model, empirical


def exact_weights(traj, pathway: int = 0):
    """The balanced aligned weights of one pathway along an exact trajectory, a list of
    `(T, out, in)` (identity hidden bases; `dln.init.aligned_from_strengths`)."""
    _check_traj(traj)
    if getattr(traj, "is_exact", False) is not True and traj.method != "reduced-integration":
        raise TypeError(f"`traj` must be an exact trajectory of pathways (dln.pathways.solve), got "
                        f"method {getattr(traj, 'method', None)!r}; a simulation has its weights "
                        "in `final_weights` / `recorded_weights`.")
    pathway = check_int(pathway, "pathway", 0)
    if pathway >= traj.modes.shape[-2]:
        raise ValueError(f"`pathway` = {pathway} names no pathway: the trajectory has "
                         f"{traj.modes.shape[-2]} (indices 0..{traj.modes.shape[-2] - 1}).")
    return aligned_from_strengths(traj.task, traj.depth, traj.modes[..., pathway, :])
