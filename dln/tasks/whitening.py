"""Whitening the inputs, so that the exact mode solutions apply (docs/theory/setting.md).

dln's input correlation is the uncentred `Σxx = XᵀX/P` (rows of `X` are samples): a network
without biases fits the raw correlations. The mode solutions of `dln.solve` need `Σxx` diagonal
in the task's right singular basis (docs/theory/modes.md); whitened input, `Σxx = I`, is the
standard way to get there. `whiten(X)` returns

    X_white = X T,    T = Σxx^{-1/2}  (the symmetric inverse square root on the range of Σxx),

the ZCA transform. With the SVD `X = A diag(σ) Bᵀ`, `Σxx = B diag(σ²/P) Bᵀ`, so
`T = B_r diag(√P/σ_r) B_rᵀ` and `X_white = √P A_r B_rᵀ`, where `r` keeps the directions whose
eigenvalue `σ²/P` exceeds `eps`. Then

    X_whiteᵀ X_white / P = B_r B_rᵀ,

the identity on the range of the data and 0 on the directions dropped. Those directions are
*zeroed*, not removed: `X_white` keeps the shape `(P, Ni)` and the input coordinates, and `T` is
`(Ni, Ni)`, so new inputs map as `x ↦ Tᵀ x = T x` (T is symmetric). The data is not centred; to
centre, pass `X − X.mean(0)` (and centre new inputs with the same mean).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_real, is_concrete

__all__ = ["whiten"]


def whiten(X, *, eps=None):
    """The whitened inputs `X Σxx^{-1/2}` and the transform `Σxx^{-1/2}` (`Σxx = XᵀX/P`).

    Args:
      X: `(P, Ni)` inputs, rows are samples.
      eps: keep the directions of `Σxx` whose eigenvalue exceeds `eps` (an absolute threshold
        on the eigenvalues of `XᵀX/P`); the others are zeroed (`T` and `X_white` have no
        component along them). Default: `λ_max (max(P, Ni) ε)²` with `ε` the machine epsilon of
        `X`'s dtype, i.e. the singular values of `X` that `numpy.linalg.matrix_rank` counts.

    Returns:
      `(X_white, transform)`: `X_white = X @ transform` `(P, Ni)`, computed as `√P A_r B_rᵀ` from
      the SVD `X = A diag(σ) Bᵀ` (no rounding amplified by `1/σ`), with
      `X_whiteᵀ X_white / P` the orthogonal projector onto the range of `Σxx` (the identity when
      `X` has full column rank); `transform` `(Ni, Ni)`, symmetric, `B_r diag(√P/σ_r) B_rᵀ`.
      `dln.Task.from_data(X_white, Y)` is then `input_aligned`, so `dln.solve` applies
      (`Task.from_data(X, Y, whiten=True)` does both).

    Pure and traceable (`jit`, `vmap`): directions are zeroed by a mask, so the shapes do not
    depend on the rank. Concrete input is computed with numpy; an input with no variance at all
    (`X = 0`) raises.
    """
    X = as_array(X, "X", ndim=2)
    P, n_in = X.shape
    if P == 0 or n_in == 0:
        raise ValueError(f"`X` must have at least one sample (row) and one input (column), got "
                         f"shape {tuple(X.shape)}.")
    if eps is not None:
        eps = check_real(eps, "eps", low=0.0, what=" (a threshold on the eigenvalues of XᵀX/P)")
    concrete = is_concrete(X, eps)
    xp = np if concrete else jnp
    Xc = np.asarray(X) if concrete else X
    A, sv, Bt = xp.linalg.svd(Xc, full_matrices=False)
    variance = sv**2 / P  # the eigenvalues of Σxx along the rows of Bt
    if concrete and not variance.max() > 0:
        raise ValueError("`X` has no variance (every entry is 0); there is nothing to whiten.")
    if eps is None:
        eps = variance.max() * (max(P, n_in) * xp.finfo(Xc.dtype).eps) ** 2
    keep = variance > eps
    root_p = np.sqrt(P)
    X_white = (A * xp.where(keep, root_p, 0.0).astype(Xc.dtype)) @ Bt
    scale = xp.where(keep, root_p / xp.where(keep, sv, 1.0), 0.0).astype(Xc.dtype)
    transform = (Bt.T * scale) @ Bt
    return jnp.asarray(X_white), jnp.asarray(transform)
