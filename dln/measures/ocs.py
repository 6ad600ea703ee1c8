"""The optimal constant solution (OCS) and the early-learning measures around it.

Rubruck, Bauer, Saxe & Summerfield (2024), "Early learning of the optimal constant solution in
neural networks and humans", arXiv:2406.17467: before learning the input-output map, networks
(deep linear ones with biases exactly, others approximately) first output the OCS, the constant
that minimises the loss while ignoring the input. For the squared loss it is the mean target,

    ŷ_OCS = argmin_c 1/(2P) Σ_μ ||y_μ − c||² = ȳ = (1/P) Σ_μ y_μ,

the per-output label frequency for 0/1 labels (docs/theory/biases.md). On a hierarchy the OCS
outputs the base rate of each level for every item, positive or negative, so thresholded at 0.5
it rejects everything below the base-rate-½ levels: true-negative rate ≈ 1 and true-positive
rate ≈ 0 for fine categories during the OCS phase.

Every function takes a `Trajectory`, exact or simulated (its `offset` None means 0; the network is
`ŷ = map · x + offset`), and works on its records; batched trajectories (ensembles) keep their
leading batch axis. The items and labels are the task's data (`Task.from_data`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_real
from dln.tasks.task import Task

__all__ = ["ocs", "outputs", "ocs_distance", "closest_approach", "level_means", "rates"]


def _check_task(task):
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")


def _check_traj(traj):
    if not (hasattr(traj, "map") and isinstance(getattr(traj, "task", None), Task)
            and hasattr(traj, "t")):
        raise TypeError(f"`traj` must be a dln.Trajectory (dln.solve or dln.simulate), got "
                        f"{type(traj).__name__}.")


def _data(task: Task):
    if task.X is None or task.Y is None:
        raise ValueError("this task has no data (it was built from correlations); the OCS "
                         "measures need the items and labels: build it with "
                         "dln.Task.from_data(X, Y).")
    return task.X, task.Y


def ocs(task: Task):
    """The optimal constant solution `ȳ = (1/P) Σ_μ y_μ` `(No,)` (the mean target)."""
    _check_task(task)
    if task.y_mean is None:
        raise ValueError("the OCS is the mean target ȳ, which this task does not know (it was "
                         "built from correlations); build it with dln.Task.from_data(X, Y).")
    return task.y_mean


def outputs(traj, X=None):
    """Network outputs `ŷ_μ(t) = map(t) x_μ + offset(t)` for every item and record.

    `X` `(P, Ni)` (rows are items) defaults to the task's data. Returns `(..., T, P, No)`.
    """
    _check_traj(traj)
    if X is None:
        X, _ = _data(traj.task)
    X = as_array(X, "X", ndim=2)
    if X.shape[1] != traj.task.n_in:
        raise ValueError(f"`X` must have shape (P, {traj.task.n_in}) (rows are items, columns "
                         f"the task's inputs), got {tuple(X.shape)}.")
    out = jnp.einsum("...tij,pj->...tpi", traj.map, X.astype(traj.map.dtype))
    if traj.offset is not None:
        out = out + traj.offset[..., None, :]
    return out


def ocs_distance(traj):
    """Distance of the outputs to the OCS over time, `||Ŷ(t) − ȳ 1ᵀ||_F` over all items `(..., T,)`.

    `Ŷ(t)` is the `(No, P)` matrix of outputs on the task's items. At the OCS it is 0; at the
    start (outputs ≈ 0) it is `√P ||ȳ||`; at the least-squares fit `||Y − ȳ1ᵀ||_F` for targets
    the network can fit exactly.
    """
    out = outputs(traj)
    return jnp.sqrt(jnp.sum((out - ocs(traj.task)) ** 2, axis=(-2, -1)))


def closest_approach(traj):
    """Time and size of the closest approach to the OCS: `(t*, d*)` with
    `d* = min_t ||Ŷ(t) − ȳ1ᵀ||_F` (`ocs_distance`) and `t*` the flow time of that record.

    Record resolution: the minimum over the recorded times only, so record densely enough
    (`every`) around the OCS phase. Batched trajectories give `(B,)` arrays.
    """
    _check_traj(traj)
    d = ocs_distance(traj)
    i = jnp.argmin(d, axis=-1)
    take = lambda a: jnp.take_along_axis(a, i[..., None], axis=-1)[..., 0]
    return take(jnp.broadcast_to(traj.t, d.shape)), take(d)


def _level_masks(traj, levels):
    if isinstance(levels, (str, bytes)) or levels is None:
        raise TypeError(f"`levels` must be {traj.task.n_out} non-negative ints, got {levels!r}.")
    try:
        levels = np.asarray(levels)
    except ValueError as err:
        raise ValueError(f"`levels` must be a flat list of ints, got {levels!r}.") from err
    n_out = traj.task.n_out
    if levels.shape != (n_out,) or not np.issubdtype(levels.dtype, np.integer) or levels.min() < 0:
        raise ValueError(f"`levels` must be {n_out} non-negative ints, the hierarchy level of "
                         f"each output feature; got {levels!r}.")
    n_levels = int(levels.max()) + 1
    return jnp.asarray(levels[:, None] == np.arange(n_levels))  # (No, n_levels)


def level_means(traj, levels):
    """Mean output per hierarchy level on positives and on negatives.

    `levels` `(No,)` ints give each output feature's level (0 = root). For level k,

        pos_k(t) = mean of ŷ_{μi}(t) over pairs (item μ, feature i of level k) with y_{μi} = 1,
        neg_k(t) = the same over pairs with y_{μi} = 0

    (labels 0/1: positive means `y > 0.5`). At the OCS both equal the level's base rate (e.g.
    1, 0.5, 0.25, 0.125 on a binary tree); once the items are learned pos → 1 and neg → 0.
    Returns `(positives, negatives)`, each `(..., T, n_levels)`; NaN for a level with no
    positives (or negatives), e.g. the negatives of the root.
    """
    _check_traj(traj)
    masks = _level_masks(traj, levels).astype(traj.map.dtype)
    _, Y = _data(traj.task)
    out = outputs(traj)  # (..., T, P, No)
    res = []
    for lab in (Y > 0.5, Y <= 0.5):
        lab = lab.astype(out.dtype)  # (P, No)
        count = jnp.einsum("pi,ik->k", lab, masks)
        total = jnp.einsum("...tpi,pi,ik->...tk", out, lab, masks)
        res.append(total / jnp.where(count > 0, count, jnp.nan))
    return tuple(res)


def rates(traj, threshold=0.5, levels=None):
    """True-positive and true-negative rates of the thresholded outputs over time.

    An output counts as a "yes" when `ŷ_{μi}(t) > threshold`. Over the pairs (item μ, feature i)
    with label `y_{μi} = 1` (positives), `TP(t)` is the fraction answered yes; over those with
    `y_{μi} = 0` (negatives), `TN(t)` is the fraction answered no (correct rejections, the human
    signature in Rubruck et al. 2024). Returns `(tp, tn)`, each `(..., T)`, or with `levels`
    (`(No,)` ints, see `level_means`) each `(..., T, n_levels)` per level (NaN where a level has
    no positives or negatives). Call once per threshold to compare thresholds.
    """
    _check_traj(traj)
    threshold = check_real(threshold, "threshold")
    if levels is not None:
        _level_masks(traj, levels)
    _, Y = _data(traj.task)
    yes = outputs(traj) > threshold  # (..., T, P, No)
    dt = traj.map.dtype
    if levels is None:
        masks = jnp.ones((traj.task.n_out, 1), dt)
    else:
        masks = _level_masks(traj, levels).astype(dt)
    res = []
    for lab, hit in ((Y > 0.5, yes), (Y <= 0.5, ~yes)):
        lab = lab.astype(dt)
        count = jnp.einsum("pi,ik->k", lab, masks)
        n = jnp.einsum("...tpi,pi,ik->...tk", hit.astype(dt), lab, masks)
        r = n / jnp.where(count > 0, count, jnp.nan)
        res.append(r[..., 0] if levels is None else r)
    return tuple(res)
