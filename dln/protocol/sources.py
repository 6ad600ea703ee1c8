"""Tasks with several input sources: noisy views of one latent (Kleinman, Achille & Soatto 2023).

The linear form of multisensory integration (docs/theory/sources.md): a latent `z ∈ R^d` with
independent components of variances `latent_variance`, a target `y = A z`, and `n_views` views
`x_j = z + n_j` with independent noise `n_j ~ N(0, noise_variance·I)`. The input is the
concatenation `x = [x_1, …, x_n]` (source j is the block `[j d, (j + 1) d)`), and the population
statistics are

    Σxx = 1 1ᵀ ⊗ Σz + noise_variance · I,     Σyx = [A Σz, …, A Σz],     Σyy = A Σz Aᵀ.

Each view alone predicts `y` with gain `Σz (Σz + σ² I)⁻¹`; using all of them averages the noise,
so the optimum needs every source. Networks for it: `init` builds one pathway per source,
merged (summed) into shared layers (`dln.pathways.simulate(..., sources=..., shared=...)`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dln import init as _init
from dln._checks import as_array, check_bool, check_depth, check_int, check_key, check_real
from dln.tasks.task import Task

__all__ = ["views", "init", "check_sources"]



def check_sources(task: Task, sources, n=None) -> tuple:
    """The input blocks `[(start, stop), …]` of the sources, checked: pairs of ints with
    `0 <= start < stop <= Ni`, not overlapping, and `n` of them when `n` is given."""
    if not isinstance(sources, (list, tuple)) or (n is not None and len(sources) != n):
        want = f"one (start, stop) input block per pathway ({n})" if n is not None else \
            "(start, stop) input blocks"
        raise ValueError(f"`sources` must list {want}, got {sources!r}.")
    out, taken = [], np.zeros(task.n_in, bool)
    for j, blk in enumerate(sources):
        if not (isinstance(blk, (tuple, list)) and len(blk) == 2
                and all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                        for b in blk) and 0 <= blk[0] < blk[1] <= task.n_in):
            raise ValueError(f"`sources[{j}]` must be a pair of ints (start, stop) with "
                             f"0 <= start < stop <= {task.n_in}, got {blk!r}.")
        if taken[blk[0]:blk[1]].any():
            raise ValueError(f"`sources[{j}]` = {tuple(blk)} overlaps another source.")
        taken[blk[0]:blk[1]] = True
        out.append((int(blk[0]), int(blk[1])))
    return tuple(out)

def views(A, latent_variance, noise_variance: float, n_views: int = 2):
    """The task of `n_views` noisy views of one latent, and its source blocks.

    Args:
      A: `(No, d)` the target map `y = A z`.
      latent_variance: `(d,)` or a scalar, the variances of the latent's components (> 0).
      noise_variance: the noise variance of every view (>= 0).
      n_views: the number of sources (>= 1).

    Returns:
      `(task, sources)`: a `dln.Task` (population statistics, with `sigma_yy`) and the tuple of
      `(start, stop)` input blocks, one per view.
    """
    A = np.asarray(as_array(A, "A", ndim=2))
    d = A.shape[1]
    var = np.asarray(as_array(latent_variance, "latent_variance", ndim=(0, 1)), float)
    if var.ndim == 1 and var.shape != (d,):
        raise ValueError(f"`latent_variance` must be a scalar or have shape ({d},) (one per "
                         f"column of `A`), got {var.shape}.")
    var = np.broadcast_to(var, (d,))
    if np.any(var <= 0):
        raise ValueError(f"`latent_variance` must be > 0, got {latent_variance!r}.")
    noise_variance = check_real(noise_variance, "noise_variance", low=0.0)
    n_views = check_int(n_views, "n_views", 1, what=" (the number of sources)")
    Sz = np.diag(var)
    sxx = np.kron(np.ones((n_views, n_views)), Sz) + noise_variance * np.eye(n_views * d)
    syx = np.tile(A @ Sz, (1, n_views))
    task = Task(sxx, syx, A @ Sz @ A.T)
    return task, tuple((j * d, (j + 1) * d) for j in range(n_views))


def init(key, task: Task, sources, *, depth: int, width: int, shared_depth: int = 0,
         scale: float = 1e-2, batch: int | None = None, decoders: bool = False):
    """Small Gaussian weights for one pathway per source merged into shared layers.

    Pathway p has `depth` layers `(width, n_p)`, `(width, width)`, …; the shared part has
    `shared_depth` layers `(width, width)`, …, `(No, width)`; with `shared_depth = 0` the last
    pathway layer is `(No, ·)` (the pathways are summed at the output). Entries have standard
    deviation `scale` (`dln.init.gaussian`). `batch` adds a leading axis (independent draws).
    With `decoders`, also returns one reconstruction decoder per pathway, `(Ni − n_p, h_p)`,
    zero-initialised.

    Returns `(pathways, shared)` or `(pathways, shared, decoders)`.
    """
    check_key(key)
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    depth = check_depth(depth)
    width = check_int(width, "width", 1, what=" (hidden width)")
    shared_depth = check_int(shared_depth, "shared_depth", 0)
    check_real(scale, "scale", low=0.0)
    check_bool(decoders, "decoders")
    if not isinstance(sources, (list, tuple)) or not sources:
        raise TypeError(f"`sources` must be a list of (start, stop) input blocks, got "
                        f"{sources!r}.")
    check_sources(task, sources)
    if batch is not None:
        batch = check_int(batch, "batch", 1, what=" (the number of independent draws)")
        keys = jax.random.split(key, batch)
        out = [init(k, task, sources, depth=depth, width=width, shared_depth=shared_depth,
                    scale=scale, decoders=decoders) for k in keys]
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *out)
    keys = jax.random.split(key, len(sources) + 1)
    out_dim = task.n_out if shared_depth == 0 else width
    paths = [_init.gaussian(k, [b - a] + [width] * (depth - 1) + [out_dim], scale)
             for k, (a, b) in zip(keys, sources)]
    shared = (_init.gaussian(keys[-1], [width] * shared_depth + [task.n_out], scale)
              if shared_depth else [])
    if not decoders:
        return paths, shared
    decs = [jnp.zeros((task.n_in - (b - a), ws[-1].shape[0])) for (a, b), ws in
            zip(sources, paths)]
    return paths, shared, decs
