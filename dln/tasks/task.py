"""A regression task seen through its second-order statistics.

A deep linear network trained on the mean squared error

    L(W) = 1/(2P) Σ_μ ||y_μ − W x_μ||² = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ)

depends on the data only through `sigma_xx = XᵀX/P`, `sigma_yx = YᵀX/P` and `sigma_yy = YᵀY/P`
(rows of `X`, `Y` are samples). The modes of the task are the singular triplets of
`sigma_yx = U diag(s) Vᵀ` (Saxe, McClelland & Ganguli 2014), `s` descending, `K = min(No, Ni)`
modes with zero singular values kept.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_shape, is_concrete

# Relative size below which sigma_xx counts as diagonal in the task's right singular basis, and
# below which two singular values count as equal (for choosing a basis inside a degenerate group).
_DIAGONAL_RTOL = 1e-8


@jax.tree_util.register_pytree_node_class
class Task:
    """Second-order statistics of a regression task and their singular value decomposition.

    Build it from correlations, `Task(sigma_xx, sigma_yx, sigma_yy=None)`, or from data,
    `Task.from_data(X, Y)`. It is an immutable JAX pytree, so it passes through `jax.jit`,
    `jax.vmap` and `jax.grad`.

    Attributes:
      sigma_xx: `(Ni, Ni)` input correlation `XᵀX/P`.
      sigma_yx: `(No, Ni)` input-output correlation `YᵀX/P`.
      sigma_yy: `(No, No)` output correlation `YᵀY/P`, or None when unknown (then `loss` is the
        loss above its minimum instead of the absolute loss).
      U: `(No, K)` left singular vectors of `sigma_yx` (output directions of the modes).
      s: `(K,)` singular values, descending, zeros kept; `K = min(No, Ni)`.
      V: `(Ni, K)` right singular vectors (input directions of the modes).
      input_variance: `(K,)` the input variance along each mode, `λ_α = V[:,α]ᵀ sigma_xx V[:,α]`
        (1 for whitened input, `1/P` for one-hot items).
      X, Y, x_mean, y_mean: the data and its column means when built with `from_data`, else None.
      input_aligned: True when `sigma_xx` is diagonal in the basis `V` (whitened input, or e.g.
        one-hot items), False when not, None when unknown (built from traced values). The exact
        mode solutions of `dln.solve` need it.

    Within a group of equal singular values the SVD basis is not unique; when `sigma_xx` is
    concrete, dln picks the basis inside each group (and inside the null space of `sigma_yx`)
    that diagonalises `sigma_xx` if one exists. Signs are fixed so that the largest entry of each
    column of `V` is positive.
    """

    def __init__(self, sigma_xx, sigma_yx, sigma_yy=None, *, X=None, Y=None):
        sigma_yx = as_array(sigma_yx, "sigma_yx", ndim=2)
        n_out, n_in = sigma_yx.shape
        sigma_xx = as_array(sigma_xx, "sigma_xx", ndim=2)
        check_shape(sigma_xx, "sigma_xx", (n_in, n_in))
        if sigma_yy is not None:
            sigma_yy = as_array(sigma_yy, "sigma_yy", ndim=2)
            check_shape(sigma_yy, "sigma_yy", (n_out, n_out))
        dtype = jnp.result_type(sigma_xx, sigma_yx, *(() if sigma_yy is None else (sigma_yy,)))
        sigma_xx, sigma_yx = sigma_xx.astype(dtype), sigma_yx.astype(dtype)
        sigma_yy = None if sigma_yy is None else sigma_yy.astype(dtype)
        if X is not None:
            X = as_array(X, "X", ndim=2)
            check_shape(X, "X", (X.shape[0], n_in))
        if Y is not None:
            Y = as_array(Y, "Y", ndim=2)
            check_shape(Y, "Y", (Y.shape[0], n_out))
            if X is not None and X.shape[0] != Y.shape[0]:
                raise ValueError(f"`X` and `Y` must have the same number of rows (samples); got "
                                 f"X {tuple(X.shape)} and Y {tuple(Y.shape)}.")
        _set(self, sigma_xx=sigma_xx, sigma_yx=sigma_yx, sigma_yy=sigma_yy, X=X, Y=Y,
             x_mean=None if X is None else jnp.mean(X, axis=0),
             y_mean=None if Y is None else jnp.mean(Y, axis=0))

        if is_concrete(sigma_xx, sigma_yx, sigma_yy):
            _check_covariances(sigma_xx, sigma_yx, sigma_yy)
            U, s, V, aligned = _aligned_svd(np.asarray(sigma_xx), np.asarray(sigma_yx))
            U, s, V = (jnp.asarray(a, dtype) for a in (U, s, V))
        else:  # traced (jit/vmap/grad): a differentiable SVD, no basis choice, no checks
            U, s, Vt = jnp.linalg.svd(sigma_yx, full_matrices=False)
            V, aligned = Vt.T, None
        _set(self, U=U, s=s, V=V, input_aligned=aligned,
             input_variance=jnp.einsum("ik,ij,jk->k", V, sigma_xx, V))

    @classmethod
    def from_data(cls, X, Y) -> "Task":
        """The task of the samples `X` `(P, Ni)` and targets `Y` `(P, No)` (rows are samples).

        `sigma_xx = XᵀX/P`, `sigma_yx = YᵀX/P`, `sigma_yy = YᵀY/P` (no centring: a network
        without biases fits the raw correlations). The data and its means are kept.
        """
        X = as_array(X, "X", ndim=2)
        Y = as_array(Y, "Y", ndim=2)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(
                f"`X` and `Y` must have the same number of rows (samples); got X {tuple(X.shape)} "
                f"and Y {tuple(Y.shape)}. Rows are samples: X is (P, Ni), Y is (P, No)."
            )
        if X.shape[0] == 0:
            raise ValueError("`X` and `Y` have no rows; pass at least one sample.")
        P = X.shape[0]
        return cls(X.T @ X / P, Y.T @ X / P, Y.T @ Y / P, X=X, Y=Y)

    # ----------------------------------------------------------------------------- pytree
    _data_fields = ("sigma_xx", "sigma_yx", "sigma_yy", "X", "Y", "x_mean", "y_mean",
                    "U", "s", "V", "input_variance")

    def tree_flatten(self):
        return tuple(getattr(self, f) for f in self._data_fields), (self.input_aligned,)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        _set(obj, input_aligned=aux[0], **dict(zip(cls._data_fields, children)))
        return obj

    def __setattr__(self, name, value):
        raise AttributeError(f"Task is immutable; cannot set `{name}`. Build a new Task instead.")

    def __repr__(self):
        return (f"Task(n_in={self.n_in}, n_out={self.n_out}, s={np.asarray(self.s)!r}, "
                f"input_aligned={self.input_aligned})")

    # ------------------------------------------------------------------------ properties
    @property
    def n_in(self) -> int:
        return self.sigma_yx.shape[1]

    @property
    def n_out(self) -> int:
        return self.sigma_yx.shape[0]

    @property
    def n_modes(self) -> int:
        return self.s.shape[0]

    @property
    def lstsq_map(self):
        """The least-squares map `W* = sigma_yx sigma_xx⁺` `(No, Ni)` (minimum norm)."""
        return self.sigma_yx @ jnp.linalg.pinv(self.sigma_xx, hermitian=True)

    @property
    def mode_targets(self):
        """Each mode's value at the least-squares map, `s_α / λ_α` (0 where `λ_α = 0`)."""
        lam = self.input_variance
        safe = jnp.where(lam > 0, lam, 1.0)
        return jnp.where(lam > 0, self.s / safe, 0.0)

    @property
    def min_loss(self):
        """`min_W L(W) = ½ tr Σyy − ½ tr(W* Σxx W*ᵀ)`, or None when `sigma_yy` is unknown."""
        if self.sigma_yy is None:
            return None
        return 0.5 * jnp.trace(self.sigma_yy) - self._fit_energy

    @property
    def _fit_energy(self):
        """½ tr(W* Σxx W*ᵀ): how much of the loss the least-squares map removes."""
        Wstar = self.lstsq_map
        return 0.5 * jnp.sum((Wstar @ self.sigma_xx) * Wstar)

    @property
    def _loss_offset(self):
        """The loss of the zero map: ½ tr Σyy, or ½ tr(W* Σxx W*ᵀ) when Σyy is unknown."""
        return self._fit_energy if self.sigma_yy is None else 0.5 * jnp.trace(self.sigma_yy)

    def loss(self, W):
        """Mean squared-error loss of the map(s) `W` `(..., No, Ni)`.

        `L = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ) = 1/(2P) Σ_μ ||y_μ − W x_μ||²` when `sigma_yy`
        is known; otherwise the excess loss `L − min L = ½ tr((W − W*) Σxx (W − W*)ᵀ)` (the same
        expression with ½ tr Σyy replaced by ½ tr(W* Σxx W*ᵀ)).
        """
        W = self._check_map(W, "W")
        quad = 0.5 * jnp.einsum("...ij,jk,...ik->...", W, self.sigma_xx, W)
        lin = jnp.einsum("...ij,ij->...", W, self.sigma_yx)
        return self._loss_offset - lin + quad

    def loss_of_modes(self, modes):
        """`loss(U diag(modes) Vᵀ)` for mode strengths `(..., K)`, valid when `input_aligned`.

        Written without cancellation as `base + ½ Σ_α λ_α (u_α − s_α/λ_α)²`, where `base` is
        `min_loss` (or 0 for the excess loss when `sigma_yy` is unknown).
        """
        modes = self._check_modes(modes)
        base = 0.0 if self.sigma_yy is None else self.min_loss
        gap = modes - self.mode_targets
        return base + 0.5 * jnp.sum(self.input_variance * gap**2, axis=-1)

    def mode_strengths(self, W):
        """Strength of every mode in the map(s) `W` `(..., No, Ni)`: `U[:,α]ᵀ W V[:,α]`, `(..., K)`."""
        W = self._check_map(W, "W")
        return jnp.einsum("ik,...ij,jk->...k", self.U, W, self.V)

    def map_from_modes(self, modes):
        """The map `U diag(modes) Vᵀ` `(..., No, Ni)` of mode strengths `(..., K)`."""
        modes = self._check_modes(modes)
        return jnp.einsum("ik,...k,jk->...ij", self.U, modes, self.V)




    # Shape checks of the methods' inputs (no finiteness check: a diverged record may be
    # measured, NaN in and NaN out).
    def _check_map(self, W, name):
        W = as_array(W, name, finite=False)
        if W.ndim < 2 or tuple(W.shape[-2:]) != (self.n_out, self.n_in):
            raise ValueError(f"`{name}` must have shape (..., {self.n_out}, {self.n_in}) (maps of "
                             f"this task, (n_out, n_in)), got {tuple(W.shape)}.")
        return W

    def _check_modes(self, modes):
        modes = as_array(modes, "modes", finite=False)
        if modes.ndim < 1 or modes.shape[-1] != self.n_modes:
            raise ValueError(f"`modes` must have shape (..., {self.n_modes}) (one strength per "
                             f"mode of this task), got {tuple(modes.shape)}.")
        return modes


def _set(obj, **fields) -> None:
    for name, value in fields.items():
        object.__setattr__(obj, name, value)


def _check_covariances(sigma_xx, sigma_yx, sigma_yy) -> None:
    sxx = np.asarray(sigma_xx)
    scale = max(float(np.abs(sxx).max()), np.finfo(sxx.dtype).tiny)
    asym = float(np.abs(sxx - sxx.T).max()) / scale
    if asym > 1e-6:
        raise ValueError(
            f"`sigma_xx` must be symmetric (it is XᵀX/P); its largest asymmetry is {asym:.2e} "
            "of its largest entry. Pass XᵀX/P, or use Task.from_data(X, Y)."
        )
    evals, evecs = np.linalg.eigh(0.5 * (sxx + sxx.T))
    if evals.min() < -1e-8 * scale:
        raise ValueError(
            f"`sigma_xx` must be positive semi-definite (it is XᵀX/P); its smallest eigenvalue "
            f"is {evals.min():.3e}."
        )
    # sigma_yx = YᵀX/P cannot have a component along an input direction of zero variance.
    null = evecs[:, evals <= 1e-10 * scale]
    syx = np.asarray(sigma_yx)
    if null.size and np.abs(syx).max() > 0:
        leak = np.linalg.norm(syx @ null) / np.linalg.norm(syx)
        if leak > 1e-6:
            raise ValueError(
                "`sigma_yx` has a component along an input direction where `sigma_xx` has zero "
                f"variance (relative size {leak:.2e}); such statistics come from no data set. "
                "Check that both were computed from the same X."
            )
    if sigma_yy is not None:
        syy = np.asarray(sigma_yy)
        if np.abs(syy - syy.T).max() > 1e-6 * max(np.abs(syy).max(), 1e-300):
            raise ValueError("`sigma_yy` must be symmetric (it is YᵀY/P).")


def _aligned_svd(sxx: np.ndarray, syx: np.ndarray):
    """SVD of `syx` with the basis inside degenerate groups chosen to diagonalise `sxx`.

    Returns the compact `U (No,K)`, `s (K,)`, `V (Ni,K)` and whether `Vᵀ sxx V` is diagonal with
    the span of `V` invariant under `sxx` (so the modes decouple).
    """
    n_out, n_in = syx.shape
    K = min(n_out, n_in)
    # Compact U (No may be large); the full input basis V, whose null-space part is needed to
    # pick the input directions inside the zero group.
    U, s, Vt = np.linalg.svd(syx, full_matrices=False)
    V = Vt.T
    if n_in > K:
        V = np.concatenate([V, np.linalg.svd(Vt, full_matrices=True)[2][K:].T], axis=1)
    s_full = np.zeros(n_in)
    s_full[:K] = s
    tol = _DIAGONAL_RTOL * max(s.max(initial=0.0), np.finfo(float).tiny)
    # Groups of (numerically) equal singular values among the Ni right vectors; the null space of
    # syx (s = 0, including the Ni − K extra input directions) is one group.
    start = 0
    while start < n_in:
        stop = start + 1
        while stop < n_in and abs(s_full[stop] - s_full[start]) <= tol:
            stop += 1
        if stop - start > 1:
            block = V[:, start:stop]
            _, R = np.linalg.eigh(block.T @ sxx @ block)
            R = R[:, ::-1]  # larger input variance first inside the group
            V[:, start:stop] = block @ R
            if s_full[start] > tol:  # a nonzero group (so stop <= K): U and V rotate together
                U[:, start:stop] = U[:, start:stop] @ R
        start = stop
    U, V = U[:, :K], V[:, :K]
    # Deterministic signs: the largest-magnitude entry of each V column is positive.
    flip = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(K)])
    flip[flip == 0] = 1.0
    U, V = U * flip, V * flip
    lam = np.einsum("ik,ij,jk->k", V, sxx, V)
    return U, s[:K], V, bool(not modes_coupled(sxx, V, lam, np)) if K else True


def modes_coupled(sigma_xx, V, input_variance, xp=jnp):
    """Whether `sigma_xx` couples the modes: each mode's input direction must be an eigenvector
    of `sigma_xx`, `‖sigma_xx V − V diag(λ)‖_F ≤ 1e-6 √Ni max|sigma_xx|` (then the complement
    of their span is invariant too). `xp`: numpy for concrete values, jax.numpy when traced."""
    scale = xp.maximum(xp.max(xp.abs(sigma_xx)), xp.finfo(sigma_xx.dtype).tiny)
    off = xp.linalg.norm(sigma_xx @ V - V * input_variance) / scale
    return off > 1e-6 * math.sqrt(sigma_xx.shape[0])
