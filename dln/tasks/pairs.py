"""Pairs of tasks with a controlled relation, and measures of how two tasks relate.

How much pre-training on task A helps or hurts learning task B depends on how the two relate
(Kleinman, Achille & Soatto 2024, arXiv:2308.12221; docs/theory/completion.md): whether their
singular subspaces overlap, whether their ranks differ, whether their singular values match, or
whether B undoes A. The generators build whitened tasks (`sigma_xx = I`, `Σyx = U diag(s) Vᵀ`) in
which each relation is set exactly:

- `rotated_pair`: B's singular vectors are A's turned by a principal angle θ, inside planes
  spanned by A's vectors and vectors orthogonal to all of A's (so every principal angle between
  the rank-r subspaces is exactly θ; needs `2r ≤ n`). Different ranks and singular values come
  from `s_a`, `s_b` (zeros make a lower rank).
- `reversal`: B = −A, the same subspaces with the opposite sign (the reversal stall,
  `dln.schedule`).

Measures: `principal_angles` between the top singular subspaces (input or output side),
`alignment` (the cosine of the two correlation matrices, −1 for a reversal),
`singular_value_overlap` (the cosine of the two singular-value vectors) and `rank`; `relation`
collects them.
"""

from __future__ import annotations

import jax
import numpy as np

from dln._checks import check_int, check_key, check_real, check_singular_values
from dln.tasks.task import Task

__all__ = ["rotated_pair", "reversal", "principal_angles", "alignment", "singular_value_overlap",
           "rank", "relation"]


def rotated_pair(key, n: int, s_a, s_b, *, angle: float = 0.0, side: str = "both"):
    """Two whitened `n × n` tasks whose rank-r singular subspaces meet at principal angle `angle`.

    `A = U diag(s_a) Vᵀ` with Haar-random orthogonal `U`, `V`; `B = U_B diag(s_b) V_Bᵀ` with
    `u_{B,k} = cos θ u_k + sin θ u_{r+k}` (and the same for `v` when `side` is `"both"` or
    `"input"`), `r = max(len(s_a), len(s_b))`. So every principal angle between the top-r
    subspaces of A and B (on the rotated side) is θ, and θ = 0 gives the same subspaces.

    Args:
      key: PRNG key.
      n: inputs = outputs.
      s_a, s_b: singular values of A and B (1-D, `>= 0`, up to r each; zeros lower the rank).
      angle: θ in radians, in `[0, π/2]`; θ > 0 needs `2r ≤ n`.
      side: which singular vectors rotate: `"both"`, `"output"` (U) or `"input"` (V).

    Returns:
      `(task_a, task_b)`.
    """
    check_key(key)
    s_a, s_b = check_singular_values(s_a, "s_a"), check_singular_values(s_b, "s_b")
    r = max(s_a.size, s_b.size)
    n = check_int(n, "n", what=" (inputs = outputs)")
    if n < r:
        raise ValueError(f"`n` must be an int >= the number of singular values ({r}), got {n!r}.")
    angle = check_real(angle, "angle", what=" (radians)")
    if not 0.0 <= angle <= np.pi / 2:
        raise ValueError(f"`angle` must be in [0, π/2] (radians), got {angle!r}.")
    if angle > 0 and 2 * r > n:
        raise ValueError(f"a principal angle > 0 between rank-{r} subspaces needs 2r <= n, got "
                         f"n = {n}; use a larger `n` or fewer singular values.")
    if side not in ("both", "output", "input"):
        raise ValueError(f"`side` must be 'both', 'output' or 'input', got {side!r}.")
    ku, kv = jax.random.split(key)
    U = _haar(ku, n)
    V = _haar(kv, n)
    pad = lambda s: np.concatenate([s, np.zeros(r - s.size)])
    s_a, s_b = pad(s_a), pad(s_b)

    def turn(Q):
        if angle == 0:
            return Q[:, :r]
        return np.cos(angle) * Q[:, :r] + np.sin(angle) * Q[:, r:2 * r]

    UB = turn(U) if side in ("both", "output") else U[:, :r]
    VB = turn(V) if side in ("both", "input") else V[:, :r]
    A = U[:, :r] @ np.diag(s_a) @ V[:, :r].T
    B = UB @ np.diag(s_b) @ VB.T
    return Task(np.eye(n), A), Task(np.eye(n), B)


def _haar(key, n):
    q, r = np.linalg.qr(np.asarray(jax.random.normal(key, (n, n)), dtype=float))
    return q * np.sign(np.diagonal(r))


def reversal(task: Task) -> Task:
    """The task B = −A: the same input correlation, `Σyx → −Σyx` (and the same `Σyy`)."""
    _check_task(task, "task")
    return Task(task.sigma_xx, -task.sigma_yx, task.sigma_yy)


def _check_task(task, name):
    if not isinstance(task, Task):
        raise TypeError(f"`{name}` must be a dln.Task, got {type(task).__name__}.")


def _check_pair(task_a, task_b):
    _check_task(task_a, "task_a")
    _check_task(task_b, "task_b")
    if (task_a.n_out, task_a.n_in) != (task_b.n_out, task_b.n_in):
        raise ValueError(f"`task_b` must have the shape of `task_a` (n_out, n_in) = "
                         f"{(task_a.n_out, task_a.n_in)} to be compared with it, got "
                         f"{(task_b.n_out, task_b.n_in)}.")


def rank(task: Task, rtol: float = 1e-10) -> int:
    """Number of singular values of `Σyx` above `rtol × s_max`."""
    _check_task(task, "task")
    rtol = check_real(rtol, "rtol", low=0.0)
    s = np.asarray(task.s)
    return int(np.sum(s > rtol * s.max())) if s.size and s.max() > 0 else 0


def principal_angles(task_a: Task, task_b: Task, *, r: int | None = None,
                     side: str = "output"):
    """The principal angles (radians, ascending) between the top-`r` singular subspaces of the
    two tasks' `Σyx`, on the output (`U`) or input (`V`) side; `r` default: the smaller rank.

    `cos θ_k` are the singular values of `U_aᵀ U_b` and `sin θ_k` those of
    `U_b − U_a U_aᵀ U_b` (Björck & Golub 1973); θ = atan2(sin, cos) is accurate at every angle.
    """
    _check_pair(task_a, task_b)
    if side not in ("output", "input"):
        raise ValueError(f"`side` must be 'output' or 'input', got {side!r}.")
    if r is None:
        r = min(rank(task_a), rank(task_b))
        if r < 1:
            raise ValueError("a task has rank 0 (Σyx = 0): there is no singular subspace to "
                             "compare; pass tasks with nonzero correlations.")
    r = check_int(r, "r", 1, what=" (subspace dimension)")
    limit = min(task_a.n_modes, task_b.n_modes)
    if r > limit:
        raise ValueError(f"`r` must be <= {limit} (the number of modes of the tasks), got {r}.")
    Qa, Qb = (np.asarray(t.U if side == "output" else t.V)[:, :r] for t in (task_a, task_b))
    C = Qa.T @ Qb
    cos = np.linalg.svd(C, compute_uv=False)  # descending
    sin = np.sort(np.linalg.svd(Qb - Qa @ C, compute_uv=False)[:r])  # ascending
    return np.arctan2(sin, cos)


def alignment(task_a: Task, task_b: Task) -> float:
    """`⟨Σyx_a, Σyx_b⟩_F / (||Σyx_a||_F ||Σyx_b||_F)`: 1 for the same task up to scale, 0 for
    orthogonal tasks, −1 for a reversal."""
    _check_pair(task_a, task_b)
    a, b = np.asarray(task_a.sigma_yx), np.asarray(task_b.sigma_yx)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(np.sum(a * b) / (na * nb)) if na > 0 and nb > 0 else 0.0


def singular_value_overlap(task_a: Task, task_b: Task) -> float:
    """Cosine between the descending singular-value vectors of the two tasks (1 when they are
    proportional; zeros pad the shorter one)."""
    _check_task(task_a, "task_a")
    _check_task(task_b, "task_b")
    sa, sb = np.asarray(task_a.s), np.asarray(task_b.s)
    k = max(sa.size, sb.size)
    sa, sb = np.pad(sa, (0, k - sa.size)), np.pad(sb, (0, k - sb.size))
    den = np.linalg.norm(sa) * np.linalg.norm(sb)
    return float(sa @ sb / den) if den > 0 else 0.0


def relation(task_a: Task, task_b: Task) -> dict:
    """All measures at once: ranks, output- and input-side principal angles (at the smaller
    rank), alignment and singular-value overlap."""
    _check_pair(task_a, task_b)
    return dict(rank_a=rank(task_a), rank_b=rank(task_b),
                angles_output=principal_angles(task_a, task_b, side="output"),
                angles_input=principal_angles(task_a, task_b, side="input"),
                alignment=alignment(task_a, task_b),
                singular_value_overlap=singular_value_overlap(task_a, task_b))
