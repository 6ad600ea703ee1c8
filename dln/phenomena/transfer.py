"""Transfer maps: final performance on task B against the pre-training duration on task A,
across depth and the relation between the tasks (Kleinman, Achille & Soatto 2024,
arXiv:2308.12221; docs/theory/completion.md).

Both maps run through `dln.sweep.run` (progress bar, optional save/resume to an `.npz`); the
pre-training durations are batched inside each call (one shared pre-training run and one batched
loop, or one chained exact solution per grid point).

- `completion_map`: matrix completion (`dln.completion`): pre-train on a rank-`rank_a` target
  for T, then train on a rank-`rank_b` target observed on the same entries for `post`; the final
  test error on B over depth × rank of A × number of observations × init scale × seed × T (one
  shared pre-training run per grid point, the seeds batched: `completion.pretraining_sweep`).
  A `fewer_first` variant pre-trains on a subset of the observations of B itself.
- `two_layer_map`: a two-layer network on whitened regression tasks from
  `dln.task_pairs.rotated_pair`, exact (`dln.schedule.solve`, chained Riccati solution): the final
  loss on B over the principal angle between the tasks × T.
"""

from __future__ import annotations

import jax
import numpy as np

from dln import sweep
from dln._checks import (
    as_array,
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_real,
    check_singular_values,
)
from dln.init import balanced
from dln.network import product
from dln.phenomena import completion, schedule
from dln.tasks import pairs as task_pairs

__all__ = ["completion_map", "two_layer_map"]


def _ints(values, name):
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"`{name}` must be a list of positive ints, got {values!r}.")
    try:
        a = np.atleast_1d(np.asarray(values))
    except ValueError as err:
        raise ValueError(f"`{name}` must be a flat list of positive ints, got {values!r}.") from err
    if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.integer) or np.any(a < 1):
        raise ValueError(f"`{name}` must be a non-empty list of positive ints, got {values!r}.")
    return a


def _times(values, name):
    """A non-empty 1-D array of flow times >= 0 (a scalar becomes one value)."""
    a = np.atleast_1d(np.asarray(as_array(values, name, ndim=(0, 1)), dtype=float))
    if a.size == 0:
        raise ValueError(f"`{name}` is empty; pass at least one duration (flow time).")
    if np.any(a < 0):
        raise ValueError(f"`{name}` must be >= 0 (flow time), got a minimum of {a.min()!r}.")
    return a


def _multiple_of(values, name, lr):
    steps = np.rint(values / lr)
    if np.any(np.abs(steps * lr - values) > 1e-9 * np.maximum(1.0, np.abs(values))):
        raise ValueError(f"`{name}` must be whole numbers of steps of size `lr` = {lr!r} "
                         f"(flow time = lr × steps), got {values!r}.")


def completion_map(key, *, n: int, rank_b: int, pretrain, post: float, lr: float,
                   depths=(1, 2, 3), ranks_a=(4,), n_obs=(160,), scales=(1e-3,),
                   kind: str = "gaussian", fewer_first: int | None = None, seeds: int | None = None,
                   every: int | None = None, path=None, progress=True):
    """Final test error on B after pre-training on A for each duration in `pretrain`, over a
    grid of depths, ranks of A, numbers of observations and init scales, for `seeds` random
    draws of the problem.

    Each grid point is one `dln.completion.pretraining_sweep` call: the pre-training run is
    shared by all the durations (run once to the longest), and the seeds are batched (one
    `vmap`-ed loop). A seed draws the targets A and B, the observed entries and the initial
    weights; seed 0 uses `key` itself, seed s `jax.random.fold_in(key, s)`. Within a seed the
    draws are the same at every grid point, so the grid varies one factor at a time (the
    observed entries of different counts are nested, `observation_masks`).

    Args:
      key: PRNG key.
      n: matrix size; rank_b: rank of B.
      pretrain: `(K,)` pre-training durations (flow time, multiples of `lr`).
      post: training time on B (flow time, a multiple of `lr`).
      lr: learning rate.
      depths, ranks_a, n_obs, scales: the grid (ints, ints, ints ≤ n², floats > 0).
      kind: init kind of `dln.completion.init`.
      fewer_first: if set, A is B itself observed on its first `fewer_first` entries (the
        "fewer observations first" deficit; `ranks_a` is then ignored).
      seeds: number of random draws (an int >= 1); None (the default): one draw and no seed
        axis in the results, as before seeds could be asked for.
      every: if set, also record the test error on B every `every` steps of the training on B.
      path, progress: see `dln.sweep.run` (save after every grid point and resume; a tqdm
        bar).

    Returns:
      dict with `final_test_error` `(n_depths, n_ranks, n_obs, n_scales, seeds, K)` (without
      the `seeds` axis when `seeds` is None) (mean over
      all `n²` entries of `(M_B − W)²`), `final_train_loss` (the masked loss on B) and
      `switch_test_error_a` (the test error on A at the end of the pre-training), of the
      same shape, and the grid values (`pretrain`, `depth`, `rank_a`, `n_obs`, `scale`,
      `seeds`); with `every`, also `test_error` (`(…, seeds, K, R)`, the training on B) and
      `t` `(R,)` (its flow times since the switch).
    """
    check_key(key)
    n = check_int(n, "n", 1, what=" (the matrix size)")
    rank_b = check_int(rank_b, "rank_b", 1)
    if rank_b > n:
        raise ValueError(f"`rank_b` ({rank_b}) cannot exceed `n` ({n}).")
    pretrain = _times(pretrain, "pretrain")
    post = check_real(post, "post", low=0.0, what=" (flow time)")
    lr = check_real(lr, "lr", low=0.0, strict=True)
    _multiple_of(pretrain, "pretrain", lr)
    _multiple_of(np.asarray([post]), "post", lr)
    depths, ranks_a, n_obs = (_ints(v, k) for v, k in ((depths, "depths"), (ranks_a, "ranks_a"),
                                                       (n_obs, "n_obs")))
    if np.any(ranks_a > n):
        raise ValueError(f"`ranks_a` must be <= `n` = {n}, got {ranks_a.tolist()}.")
    scales = _times(scales, "scales")
    if np.any(scales <= 0):
        raise ValueError(f"`scales` must be > 0 (init scales), got {scales.tolist()}.")
    check_choice(kind, "kind", ("gaussian", "orthogonal", "identity"))
    if fewer_first is not None:
        fewer_first = check_int(fewer_first, "fewer_first", 1, what=" (a number of entries)")
        if fewer_first > n * n:
            raise ValueError(f"`fewer_first` must be <= n² = {n * n}, got {fewer_first}.")
    if np.any(n_obs > n * n) or (fewer_first is not None and np.any(n_obs < fewer_first)):
        raise ValueError(f"`n_obs` must be <= n² = {n * n} (and >= `fewer_first`), got {n_obs}.")
    seed_axis = seeds is not None
    seeds = 1 if seeds is None else check_int(seeds, "seeds", 1,
                                              what=" (the number of random draws)")
    if every is not None:
        every = check_int(every, "every", 1, what=" (steps between records)")
        if round(post / lr) % every:
            raise ValueError(f"`every` ({every}) must divide the steps on B "
                             f"(post / lr = {round(post / lr)}).")
    counts = sorted(set(n_obs.tolist()) | ({fewer_first} if fewer_first else set()))
    draws = []
    for s in range(seeds):
        k_b, k_a, k_mask, k_w = jax.random.split(key if s == 0 else jax.random.fold_in(key, s),
                                                 4)
        draws.append(dict(M_b=completion.low_rank_matrix(k_b, n, rank_b), k_a=k_a, k_w=k_w,
                          masks=dict(zip(counts,
                                         completion.observation_masks(k_mask, n, counts)))))

    def fn(p):
        out = {name: [] for name in ("final_test_error", "final_train_loss",
                                     "switch_test_error_a")
               + (("test_error",) if every is not None else ())}
        for depth, rank_a, n_ob, scale in zip(p["depth"], p["rank_a"], p["n_obs"], p["scale"]):
            problems_a, problems_b, layers = [], [], []
            for d in draws:
                problems_b.append(completion.Problem(d["M_b"], d["masks"][int(n_ob)]))
                problems_a.append(
                    completion.Problem(d["M_b"], d["masks"][fewer_first]) if fewer_first else
                    completion.Problem(completion.low_rank_matrix(d["k_a"], n, int(rank_a)),
                                       d["masks"][int(n_ob)]))
                layers.append(completion.init(d["k_w"], n, int(depth), float(scale), kind))
            weights = [np.stack(ws) for ws in zip(*layers)]  # (seeds, n, n) per layer
            res = completion.pretraining_sweep(problems_a, problems_b, weights,
                                               pretrain=pretrain, post=post, lr=lr,
                                               every=every)
            for name, v in out.items():
                v.append(res[name])
        return {name: np.stack(v) if seed_axis else np.stack(v)[:, 0]
                for name, v in out.items()}

    grid = dict(depth=depths, rank_a=ranks_a, n_obs=n_obs, scale=np.asarray(scales, float))
    # (fn loops over its point in Python: one point per call, on one device)
    out = sweep.run(fn, grid, chunk=1, path=path, devices=1,
                    progress="completion transfer map" if progress is True else progress)
    if every is not None:
        out["t"] = lr * every * np.arange(round(post / lr) // every + 1)
    return dict(out, pretrain=pretrain, seeds=seeds if seed_axis else None, **grid)


def two_layer_map(key, *, n: int, s_a, s_b, angles, pretrain, post: float, scale: float = 1e-2,
                  lam: float = 0.0, reversal: bool = False, path=None, progress=True):
    """Exact final loss on B of a two-layer network pre-trained on A (chained Riccati solution).

    A and B are whitened `n × n` tasks with singular values `s_a`, `s_b` whose singular subspaces
    meet at each principal angle in `angles` (`dln.task_pairs.rotated_pair`); with
    `reversal=True`, B = −(the rotated B). The initial weights are λ-balanced
    (`dln.init.balanced(key, [n, n, n], scale, lam)`), the same for all grid points.

    Returns:
      dict with `final_loss` `(n_angles, K)` (excess loss on B at the end), `stalled_modes`
      `(n_angles, K)` (number of B modes the exact solution finds stalled), `angles`,
      `pretrain`.
    """
    check_key(key)
    n = check_int(n, "n", 1, what=" (inputs = outputs of the tasks)")
    s_a = check_singular_values(s_a, "s_a")
    s_b = check_singular_values(s_b, "s_b")
    r = max(s_a.size, s_b.size)
    if n < r:
        raise ValueError(f"`n` ({n}) must be >= the number of singular values in `s_a`/`s_b` "
                         f"({r}).")
    angles = _times(angles, "angles")
    if np.any(angles > np.pi / 2):
        raise ValueError(f"`angles` must be in [0, π/2] (radians), got a maximum of "
                         f"{angles.max()!r}.")
    if np.any(angles > 0) and 2 * r > n:
        raise ValueError(f"`angles` > 0 between rank-{r} subspaces need 2r <= `n`, got n = {n}; "
                         "use a larger `n` or fewer singular values.")
    pretrain = _times(pretrain, "pretrain")
    post = check_real(post, "post", low=0.0, what=" (flow time)")
    check_real(scale, "scale", low=0.0)
    lam = check_real(lam, "lam")
    check_bool(reversal, "reversal")
    k_pair, k_w = jax.random.split(key)
    weights = balanced(k_w, [n, n, n], scale, lam)

    def fn(p):
        losses, stalled = [], []
        for angle in p["angle"]:
            A, B = task_pairs.rotated_pair(k_pair, n, s_a, s_b, angle=float(angle))
            if reversal:
                B = task_pairs.reversal(B)
            traj = schedule.solve([(A, pretrain), (B, post)], weights=weights)
            if not traj.is_exact:  # never for λ-balanced two-layer weights and whitened tasks
                raise RuntimeError(f"expected the exact solution, got {traj.methods}.")
            losses.append(np.asarray(B.loss(product(traj.final_weights))))
            stalled.append(np.asarray(traj.stalled[:, 1]).sum(axis=-1))
        return dict(final_loss=np.stack(losses), stalled_modes=np.stack(stalled))

    out = sweep.run(fn, dict(angle=angles), chunk=1, path=path, devices=1,
                    progress="two-layer transfer map" if progress is True else progress)
    return dict(out, angles=angles, pretrain=pretrain)
