"""Measures of the learning regime, lazy (kernel) ↔ rich (feature learning).

For a two-layer network `ŷ = W2W1x` the neural tangent kernel on inputs `x, x'` is

    Θ(x, x')_{jk} = δ_jk xᵀ W1ᵀW1 x' + (W2W2ᵀ)_jk xᵀx'

(docs/theory/two_layer.md), so it is read off the representational similarities `W1ᵀW1` and `W2W2ᵀ`,
the diagonal blocks of `QQᵀ` that `dln.riccati` gives exactly. In the lazy regime (large `|λ|`) the
kernel hardly moves during learning; in the rich regime (small init, λ = 0) it changes completely
(Dominé et al. 2025; docs/theory/two_layer.md). The measures:

- `ntk(blocks, X)`: the kernel on given inputs;
- `kernel_distance(K1, K2)` = `1 − ⟨K1, K2⟩_F / (||K1||_F ||K2||_F)` (0: same up to scale);
- `ntk_movement(blocks, X)`: the kernel distance of every record from the first;
- `convergence_time(solution_or_trajectory, tol)`: when the excess loss falls below `tol` of its
  initial value (exact for a `dln.riccati.TwoLayerSolution`);
- the representations at convergence: `TwoLayerSolution.limit()` (exact) and
  `dln.riccati.converged_representations(task, lam)` (the closed forms of
  docs/theory/two_layer.md).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_real
from dln.theory.riccati import Blocks, TwoLayerSolution
from dln.trajectory import Trajectory

__all__ = ["ntk", "kernel_distance", "ntk_movement", "convergence_time"]

# Number of times per evaluation when searching for the convergence time (one compilation).
_GRID = 16


def _check_blocks(blocks, name="blocks"):
    if not isinstance(blocks, Blocks):
        raise TypeError(f"`{name}` must be dln.riccati.Blocks (TwoLayerSolution.blocks(t) or "
                        f"Blocks.from_weights), got {type(blocks).__name__}.")


def ntk(blocks: Blocks, X=None):
    """The neural tangent kernel of a two-layer network on the inputs `X`.

    Args:
      blocks: `Blocks` (from `TwoLayerSolution.blocks(t)` or `Blocks.from_weights`), any leading
        axes.
      X: `(P, Ni)` inputs, rows are samples; default the identity (the kernel on the input
        basis, `Θ = I ⊗ W1ᵀW1 + W2W2ᵀ ⊗ I`).

    Returns:
      `(..., No·P, No·P)`, output-major: entry `(j·P + μ, k·P + ν)` is
      `Σ_θ ∂ŷ_j(x_μ)/∂θ ∂ŷ_k(x_ν)/∂θ = δ_jk x_μᵀW1ᵀW1x_ν + (W2W2ᵀ)_jk x_μᵀx_ν`.
    """
    _check_blocks(blocks)
    A, B = blocks.input_similarity, blocks.output_similarity
    n_out, n_in = B.shape[-1], A.shape[-1]
    X = jnp.eye(n_in, dtype=A.dtype) if X is None else as_array(X, "X").astype(A.dtype)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"`X` must have shape (P, {n_in}) (rows are samples), got "
                         f"{tuple(X.shape)}.")
    P = X.shape[0]
    inner = jnp.einsum("ui,...ij,vj->...uv", X, A, X)  # x_μᵀ W1ᵀW1 x_ν
    gram = X @ X.T
    eye = jnp.eye(n_out, dtype=A.dtype)
    K = (eye[:, None, :, None] * inner[..., None, :, None, :]
         + B[..., :, None, :, None] * gram[:, None, :])
    return K.reshape(K.shape[:-4] + (n_out * P, n_out * P))


def kernel_distance(K1, K2):
    """`1 − ⟨K1, K2⟩_F / (||K1||_F ||K2||_F)` over the last two axes (broadcasts): 0 for kernels
    equal up to a positive factor, up to 1 for orthogonal ones."""
    K1 = as_array(K1, "K1", finite=False)
    K2 = as_array(K2, "K2", finite=False)
    for name, K in (("K1", K1), ("K2", K2)):
        if K.ndim < 2:
            raise ValueError(f"`{name}` must be a kernel matrix (..., n, n), got shape "
                             f"{tuple(K.shape)}.")
    if K1.shape[-2:] != K2.shape[-2:]:
        raise ValueError(f"`K2` must have the kernel shape of `K1`, {tuple(K1.shape[-2:])}, got "
                         f"{tuple(K2.shape[-2:])}.")
    dot = jnp.sum(K1 * K2, axis=(-2, -1))
    norms = jnp.linalg.norm(K1, axis=(-2, -1)) * jnp.linalg.norm(K2, axis=(-2, -1))
    return 1.0 - dot / norms


def ntk_movement(blocks: Blocks, X=None, reference: Blocks | None = None):
    """`(T,)` how far the neural tangent kernel has moved: `kernel_distance(Θ(t_0), Θ(t))` for
    `blocks` with a leading time axis (reference: the first record, or the `reference`
    blocks). Near 0 throughout: lazy; of order 1: rich."""
    _check_blocks(blocks)
    if reference is not None:
        _check_blocks(reference, "reference")
    K = ntk(blocks, X)
    K0 = K[0] if reference is None else ntk(reference, X)
    return kernel_distance(K0, K)


def convergence_time(solution, tol: float = 1e-3, *, limit_loss=None):
    """The flow time at which the excess loss `(L(t) − L∞)/(L(0) − L∞)` first falls to `tol`.

    Gradient flow never increases the loss, so the time is well defined.

    - For a `dln.riccati.TwoLayerSolution` it is exact: `L∞` is the loss of the exact limit
      (`solution.limit()`, which accounts for stalled modes and narrow hidden layers), and the
      time is found on the closed form to relative precision ~1e-10. 0 if the network starts
      at its limit; `inf` if the excess decays too slowly to reach `tol` before `1e6/μ_max`.
    - For a `Trajectory` it is read off the records (linear interpolation at the first
      crossing); `L∞` is `limit_loss`, by default the last record's loss (so run long
      enough); `inf` if no record crosses.
    """
    tol = check_real(tol, "tol", low=0.0, strict=True, what=" (a fraction of the initial "
                     "excess loss, in (0, 1))")
    if not tol < 1:
        raise ValueError(f"`tol` must be in (0, 1), got {tol!r}.")
    if limit_loss is not None:
        limit_loss = check_real(limit_loss, "limit_loss")
    if isinstance(solution, TwoLayerSolution):
        return _exact_convergence_time(solution, tol)
    if not isinstance(solution, Trajectory):
        raise TypeError("`solution` must be a dln.riccati.TwoLayerSolution or a "
                        f"dln.Trajectory, got {type(solution).__name__}.")
    loss = np.asarray(solution.loss)
    t = np.asarray(solution.t)
    order = np.argsort(t, kind="stable")
    t, loss = t[order], loss[order]
    final = loss[-1] if limit_loss is None else float(limit_loss)
    span = loss[0] - final
    if not span > 0:
        return 0.0
    excess = (loss - final) / span
    below = np.nonzero(excess <= tol)[0]
    if below.size == 0:
        return float("inf")
    i = int(below[0])
    if i == 0:
        return float(t[0])
    e0, e1 = excess[i - 1], excess[i]
    return float(t[i - 1] + (e0 - tol) / (e0 - e1) * (t[i] - t[i - 1]))


def _exact_convergence_time(sol: TwoLayerSolution, tol: float) -> float:
    task = sol.task
    limit = float(task.loss(sol.limit().map))

    def excess(times):
        return (np.asarray(sol.trajectory(times).loss) - limit) / span

    span = float(np.asarray(sol.trajectory(np.zeros(_GRID)).loss)[0]) - limit
    if not span > 1e-14 * max(abs(limit), 1e-300):
        return 0.0
    rate = float(jnp.max(jnp.abs(sol.mu)))
    rate = rate if rate > 0 else 1.0
    grid = np.geomspace(1e-6, 1e6, _GRID) / rate
    e = excess(grid)
    hit = np.nonzero(e <= tol)[0]
    if hit.size == 0:
        return float("inf")
    i = int(hit[0])
    lo, hi = (0.0 if i == 0 else grid[i - 1]), grid[i]
    for _ in range(12):  # each round narrows the bracket 15-fold
        grid = np.linspace(lo, hi, _GRID)
        e = excess(grid)
        j = int(np.nonzero(e <= tol)[0][0]) if np.any(e <= tol) else _GRID - 1
        lo, hi = grid[max(j - 1, 0)], grid[j]
        if hi - lo <= 1e-12 * hi:
            break
    return float(hi)

