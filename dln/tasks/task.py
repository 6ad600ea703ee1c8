"""A regression task seen through its second-order statistics.

A deep linear network trained on the mean squared error

    L(W) = 1/(2P) Σ_μ ||y_μ − W x_μ||² = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ)

depends on the data only through `sigma_xx = XᵀX/P`, `sigma_yx = YᵀX/P` and `sigma_yy = YᵀY/P`
(rows of `X`, `Y` are samples). The modes of the task are the singular triplets of
`sigma_yx = U diag(s) Vᵀ` (Saxe, McClelland & Ganguli 2014), `s` descending, `K = min(No, Ni)`
modes with zero singular values kept (docs/theory/setting.md: the common setting;
docs/theory/modes.md: the modes).

`Task.from_spectrum(s, …)` builds a task straight from its modes, stored factored (`SpectralTask`):
cheap at 10⁴–10⁵ modes, the dense correlations formed only when asked for.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_bool, check_shape, is_concrete
from dln.tasks.whitening import whiten as _whiten

# Relative size below which sigma_xx counts as diagonal in the task's right singular basis, and
# below which two singular values count as equal (for choosing a basis inside a degenerate group).
_DIAGONAL_RTOL = 1e-8


@jax.tree_util.register_pytree_node_class
class Task:
    """Second-order statistics of a regression task and their singular value decomposition.

    Build it from correlations, `Task(sigma_xx, sigma_yx, sigma_yy=None)`, from data,
    `Task.from_data(X, Y)` (`whiten=True` whitens the inputs first), or from its modes,
    `Task.from_spectrum(s, …)` (no SVD, no dense matrix: 10⁴–10⁵ modes in milliseconds). It is
    an immutable JAX pytree, so it passes through `jax.jit`, `jax.vmap` and `jax.grad`.

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
    def from_data(cls, X, Y, *, whiten: bool = False) -> Task:
        """The task of the samples `X` `(P, Ni)` and targets `Y` `(P, No)` (rows are samples).

        `sigma_xx = XᵀX/P`, `sigma_yx = YᵀX/P`, `sigma_yy = YᵀY/P` (no centring: a network
        without biases fits the raw correlations). The data and its means are kept.

        `whiten=True` first replaces `X` by `dln.whiten(X)[0] = X Σxx^{-1/2}` (symmetric inverse
        square root on the range of Σxx, no centring), so that `sigma_xx` is the identity on
        the range of the data, the task is `input_aligned` and `dln.solve` applies; the task
        then keeps the whitened `X`. To map new inputs the same way, call `dln.whiten` yourself
        and keep its `transform`.
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
        if check_bool(whiten, "whiten"):
            X = _whiten(X)[0]
        P = X.shape[0]
        return cls(X.T @ X / P, Y.T @ X / P, Y.T @ Y / P, X=X, Y=Y)

    @classmethod
    def from_spectrum(cls, s, *, input_variance=None, U=None, V=None, n_out=None, n_in=None,
                      sigma_yy=None) -> SpectralTask:
        """The task whose modes are given: `Σyx = U diag(s) Vᵀ`, `Σxx V = V diag(λ)`.

        No SVD and no dense matrix: the task is stored factored (a `SpectralTask`, a `Task` in
        every respect) and costs `O(K)` memory with the default bases, so 10⁴–10⁵ modes build
        in milliseconds and `dln.solve(task, depth=…, u0=…, t=…).modes` and `.loss` need only
        `s` and `λ` (docs/theory/modes.md). `sigma_xx`, `sigma_yx`, `U`, `V`, `lstsq_map` and
        `Trajectory.map` are formed (densely) only when asked for, on each access.

        The correlations are

            Σyx = U diag(s) Vᵀ,    Σxx = V diag(λ) Vᵀ + c (I − V Vᵀ),

        with `c` the input variance outside the modes' input directions (only when
        `n_in > K`): `c = input_variance` when that is a scalar (default 1: whitened input,
        `Σxx = I`), and `c = 0` when it is given per mode (the input lives on the modes). The
        modes are taken as given, signs and order included (no basis is chosen inside groups of
        equal `s`, unlike `Task(…)`, which picks the basis that diagonalises `Σxx`); they are
        always decoupled, `input_aligned = True`.

        Args:
          s: `(K,)` singular values, descending, `>= 0`; `K = min(n_out, n_in)` (list modes of
            strength 0 as zeros).
          input_variance: `λ`, the input variance along each mode: a scalar or `(K,)`, `>= 0`
            (default 1; `1/P` for one-hot items). `λ_α = 0` needs `s_α = 0` (no data set
            correlates an output with an input that never varies).
          U: `(n_out, K)` output directions, orthonormal columns; default the first `K`
            columns of the identity.
          V: `(n_in, K)` input directions, orthonormal columns; default the first `K` columns
            of the identity.
          n_out, n_in: the output and input sizes when `U`, resp. `V`, are not given (default
            `K`).
          sigma_yy: `Σyy = YᵀY/P`: an `(n_out, n_out)` matrix, or its diagonal `(n_out,)` (kept
            as a vector: cheap at large `n_out`); default None (then `loss` is the loss above
            its minimum, as for `Task(…)` without `sigma_yy`).

        Orthonormality of `U` and `V` is checked on random probes, in `O((n_out + n_in) K)`;
        value checks run on concrete input only (under `jit` the arguments are trusted).
        """
        return SpectralTask._build(s, input_variance, U, V, n_out, n_in, sigma_yy)

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
        if not self._knows_yy:
            return None
        return self._half_trace_yy - self._fit_energy

    @property
    def _fit_energy(self):
        """½ tr(W* Σxx W*ᵀ): how much of the loss the least-squares map removes."""
        Wstar = self.lstsq_map
        return 0.5 * jnp.sum((Wstar @ self.sigma_xx) * Wstar)

    @property
    def _loss_offset(self):
        """The loss of the zero map: ½ tr Σyy, or ½ tr(W* Σxx W*ᵀ) when Σyy is unknown."""
        return self._half_trace_yy if self._knows_yy else self._fit_energy

    @property
    def _knows_yy(self) -> bool:
        """Whether `sigma_yy` is known (then losses are absolute, else excess losses)."""
        return self.sigma_yy is not None

    @property
    def _half_trace_yy(self):
        """½ tr Σyy: the loss of the zero map (`sigma_yy` known)."""
        return 0.5 * jnp.trace(self.sigma_yy)

    def loss(self, W):
        """Mean squared-error loss of the map(s) `W` `(..., No, Ni)`.

        `L = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ) = 1/(2P) Σ_μ ||y_μ − W x_μ||²` when `sigma_yy`
        is known; otherwise the excess loss `L − min L = ½ tr((W − W*) Σxx (W − W*)ᵀ)` (the same
        expression with ½ tr Σyy replaced by ½ tr(W* Σxx W*ᵀ)).
        """
        W = self._check_map(W, "W")
        return self._loss_offset - self._overlap(W) + 0.5 * self._input_energy(W)

    def _overlap(self, W):
        """`tr(Wᵀ Σyx)` for maps `W` `(..., No, Ni)`."""
        return jnp.einsum("...ij,ij->...", W, self.sigma_yx)

    def _input_energy(self, W):
        """`tr(W Σxx Wᵀ)` for maps `W` `(..., No, Ni)`."""
        return jnp.einsum("...ij,jk,...ik->...", W, self.sigma_xx, W)

    def loss_of_modes(self, modes):
        """`loss(U diag(modes) Vᵀ)` for mode strengths `(..., K)`, valid when `input_aligned`.

        Written without cancellation as `base + ½ Σ_α λ_α (u_α − s_α/λ_α)²`, where `base` is
        `min_loss` (or 0 for the excess loss when `sigma_yy` is unknown).
        """
        modes = self._check_modes(modes)
        _, lam, targets, base = self._mode_constants
        return loss_of_strengths(modes, lam, targets, base)

    def __getstate__(self):
        """Pickling and copying leave out the memo of `_memo` (work cached on this task)."""
        state = dict(self.__dict__)
        state.pop("_memo_store", None)
        return state

    def _memo(self, key, compute):
        """`compute()`, kept on this task under `key` (a task is immutable; at most 64 entries,
        for callers that cache work on concrete values)."""
        memo = self.__dict__.get("_memo_store")
        if memo is None:
            memo = {}
            _set(self, _memo_store=memo)
        value = memo.get(key)
        if value is None:
            if len(memo) >= 64:
                memo.clear()
            value = memo[key] = compute()
        return value

    @property
    def _mode_constants(self):
        """`(s, λ, s/λ, base)` of the mode solutions and `loss_of_modes` (`base`: `min_loss`, or
        0 when `sigma_yy` is unknown): numpy arrays computed once per concrete task (the least
        squares map behind `min_loss` costs a pseudo-inverse), jax values when traced."""
        cached = self.__dict__.get("_constants")
        if cached is not None:
            return cached
        values = (self.s, self.input_variance, self.mode_targets,
                  self.min_loss if self._knows_yy else jnp.zeros((), self.s.dtype))
        if not is_concrete(values):
            return values
        values = tuple(np.asarray(v) for v in values)
        _set(self, _constants=values)
        return values

    def mode_strengths(self, W):
        """Strength of every mode in the map(s) `W` `(..., No, Ni)`: `U[:,α]ᵀ W V[:,α]`,
        `(..., K)`."""
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


def loss_of_strengths(modes, lam, targets, base, xp=jnp):
    """`base + ½ Σ_α λ_α (u_α − s_α/λ_α)²` for mode strengths `modes` `(..., K)`: the loss of
    `U diag(modes) Vᵀ` on an input-aligned task (`Task.loss_of_modes`), written without
    cancellation; `xp`: jax.numpy, or numpy for concrete eager calls."""
    gap = modes - targets
    if xp is np:  # (in place, and a BLAS product: numpy's sum over a short axis costs 3× more)
        gap *= gap
        loss = gap @ lam
        loss *= 0.5
        loss += base
        return loss
    if jnp.ndim(lam) == 1:  # (a product: XLA's reduction over the last axis costs 2× more)
        return base + 0.5 * jnp.matmul(gap * gap, lam, precision=jax.lax.Precision.HIGHEST)
    return base + 0.5 * jnp.sum(lam * gap**2, axis=-1)


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


# ---------------------------------------------------------------------------- spectral tasks
# Orthonormality of given bases is checked on this many random probe vectors (O(N K) each).
_PROBES = 4
_ORTHONORMAL_RTOL = 1e-6


@jax.tree_util.register_pytree_node_class
class SpectralTask(Task):
    """A `Task` stored through its modes: what `Task.from_spectrum` returns.

    It holds `s` `(K,)`, `input_variance` `λ` `(K,)`, the bases `U` `(No, K)` and `V` `(Ni, K)`
    (or nothing for the first `K` columns of the identity), `sigma_yy` (None, a matrix or its
    diagonal) and the input variance `c` outside the modes' input directions, and stands for

        Σyx = U diag(s) Vᵀ,    Σxx = V diag(λ) Vᵀ + c (I − V Vᵀ).

    It is a `Task` in every respect (`isinstance(task, dln.Task)`, a pytree through `jit`,
    `vmap` and `grad`); what needs only the modes (`loss_of_modes`, `mode_targets`, `min_loss`,
    and so `dln.solve`'s mode solutions) costs `O(K)`, maps are measured through the factors
    (`loss`, `mode_strengths`: `O(No Ni)` per map with identity bases), and `sigma_xx`,
    `sigma_yx`, `sigma_yy`, `U`, `V`, `lstsq_map` are formed densely on each access.
    """

    X = Y = x_mean = y_mean = None  # built from statistics, not data
    input_aligned = True  # Σxx V = V diag(λ) by construction

    def __init__(self, *args, **kwargs):
        raise TypeError("a SpectralTask is built by dln.Task.from_spectrum(s, …); for "
                        "correlations use dln.Task(sigma_xx, sigma_yx).")

    @classmethod
    def _build(cls, s, input_variance, U, V, n_out, n_in, sigma_yy):
        s = as_array(s, "s", ndim=1)
        K = s.shape[0]
        if K == 0:
            raise ValueError("`s` is empty; pass the singular values of at least one mode.")
        lam = as_array(1.0 if input_variance is None else input_variance, "input_variance",
                       ndim=(0, 1))
        if lam.ndim == 1 and lam.shape != (K,):
            raise ValueError(f"`input_variance` must be a scalar or have shape ({K},) (one "
                             f"value per mode, like `s`), got {tuple(lam.shape)}.")
        U = None if U is None else _basis(U, "U", K)
        V = None if V is None else _basis(V, "V", K)
        n_out = _side(n_out, "n_out", U, "U", K)
        n_in = _side(n_in, "n_in", V, "V", K)
        if min(n_out, n_in) != K:
            raise ValueError(
                f"`s` must have min(n_out, n_in) = {min(n_out, n_in)} entries, one per mode "
                f"(n_out = {n_out}, n_in = {n_in}), got {K}; list modes of strength 0 as zeros.")
        syy = None
        if sigma_yy is not None:
            syy = as_array(sigma_yy, "sigma_yy", ndim=(1, 2))
            if syy.shape not in ((n_out,), (n_out, n_out)):
                raise ValueError(f"`sigma_yy` must be the ({n_out}, {n_out}) matrix YᵀY/P or its "
                                 f"diagonal ({n_out},), got shape {tuple(syy.shape)}.")
        dtype = jnp.result_type(s, lam, *(a for a in (U, V, syy) if a is not None))
        other = jnp.zeros((), dtype) if lam.ndim == 1 else lam.astype(dtype)
        lam = jnp.broadcast_to(lam, (K,)).astype(dtype)
        s = s.astype(dtype)
        U, V, syy = (None if a is None else a.astype(dtype) for a in (U, V, syy))
        if is_concrete(s, lam, U, V, syy):
            _check_spectrum(np.asarray(s), np.asarray(lam), float(other), U, V, syy)
        obj = object.__new__(cls)
        _set(obj, s=s, input_variance=lam, _U=U, _V=V, _syy=syy, _other_variance=other,
             _n_out=n_out, _n_in=n_in)
        return obj

    # ----------------------------------------------------------------------------- pytree
    _data_fields = ("s", "input_variance", "_U", "_V", "_syy", "_other_variance")

    def tree_flatten(self):
        return tuple(getattr(self, f) for f in self._data_fields), (self._n_out, self._n_in)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        _set(obj, _n_out=aux[0], _n_in=aux[1], **dict(zip(cls._data_fields, children)))
        return obj

    # ------------------------------------------------------------------ sizes and factors
    @property
    def n_in(self) -> int:
        return self._n_in

    @property
    def n_out(self) -> int:
        return self._n_out

    @property
    def U(self):
        """`(No, K)` output directions (formed when the default identity columns)."""
        if self._U is not None:
            return self._U
        return jnp.eye(self._n_out, self.n_modes, dtype=self.s.dtype)

    @property
    def V(self):
        """`(Ni, K)` input directions (formed when the default identity columns)."""
        if self._V is not None:
            return self._V
        return jnp.eye(self._n_in, self.n_modes, dtype=self.s.dtype)

    @property
    def sigma_yx(self):
        """`U diag(s) Vᵀ` `(No, Ni)`, formed on each access."""
        return self.map_from_modes(self.s)

    @property
    def sigma_xx(self):
        """`V diag(λ) Vᵀ + c (I − V Vᵀ)` `(Ni, Ni)`, formed on each access."""
        lam, c = self.input_variance, self._other_variance
        if self._V is None:
            rest = jnp.broadcast_to(c, (self._n_in - self.n_modes,)).astype(lam.dtype)
            return jnp.diag(jnp.concatenate([lam, rest]))
        return c * jnp.eye(self._n_in, dtype=lam.dtype) + (self._V * (lam - c)) @ self._V.T

    @property
    def sigma_yy(self):
        """`(No, No)` output correlation (formed from its diagonal if given so), or None."""
        if self._syy is None or self._syy.ndim == 2:
            return self._syy
        return jnp.diag(self._syy)

    # ------------------------------------------------- what Task computes, through factors
    @property
    def _knows_yy(self) -> bool:
        return self._syy is not None

    @property
    def _half_trace_yy(self):
        return 0.5 * (jnp.sum(self._syy) if self._syy.ndim == 1 else jnp.trace(self._syy))

    @property
    def lstsq_map(self):
        """The least-squares map `W* = U diag(s/λ) Vᵀ` `(No, Ni)` (formed on each access)."""
        return self.map_from_modes(self.mode_targets)

    @property
    def _fit_energy(self):
        """½ tr(W* Σxx W*ᵀ) = ½ Σ_α s_α²/λ_α."""
        return 0.5 * jnp.sum(self.s * self.mode_targets)

    def _right(self, W):
        """`W V` `(..., No, K)`."""
        return W[..., : self.n_modes] if self._V is None else W @ self._V

    def _strengths(self, W):
        """`U[:,α]ᵀ W V[:,α]` `(..., K)`, unchecked."""
        WV = self._right(W)
        if self._U is None:
            return jnp.diagonal(WV[..., : self.n_modes, :], axis1=-2, axis2=-1)
        return jnp.einsum("ik,...ik->...k", self._U, WV)

    def _overlap(self, W):
        """`tr(Wᵀ Σyx) = Σ_α s_α U[:,α]ᵀ W V[:,α]`."""
        return jnp.sum(self.s * self._strengths(W), axis=-1)

    def _input_energy(self, W):
        """`tr(W Σxx Wᵀ) = Σ_α (λ_α − c) ‖W V[:,α]‖² + c ‖W‖²`."""
        columns = jnp.sum(self._right(W) ** 2, axis=-2)
        return (jnp.sum((self.input_variance - self._other_variance) * columns, axis=-1)
                + self._other_variance * jnp.sum(W**2, axis=(-2, -1)))

    def mode_strengths(self, W):
        """Strength of every mode in the map(s) `W` `(..., No, Ni)`: `U[:,α]ᵀ W V[:,α]`,
        `(..., K)`."""
        return self._strengths(self._check_map(W, "W"))

    def map_from_modes(self, modes):
        """The map `U diag(modes) Vᵀ` `(..., No, Ni)` of mode strengths `(..., K)`."""
        modes = self._check_modes(modes)
        K = self.n_modes
        if self._U is None:  # diag(modes) in the first K rows
            k = jnp.arange(K)
            left = jnp.zeros(modes.shape[:-1] + (self._n_out, K), modes.dtype)
            left = left.at[..., k, k].set(modes)
        else:
            left = self._U * modes[..., None, :]
        if self._V is None:
            pad = [(0, 0)] * (left.ndim - 1) + [(0, self._n_in - K)]
            return jnp.pad(left, pad)
        return jnp.einsum("...ok,ik->...oi", left, self._V)


def _basis(B, name, K):
    B = as_array(B, name, ndim=2)
    if B.shape[1] != K or B.shape[0] < K:
        raise ValueError(f"`{name}` must have shape (N, {K}) with N >= {K}: one orthonormal "
                         f"column per mode (K = len(s) = {K}), got {tuple(B.shape)}.")
    return B


def _side(n, name, basis, basis_name, K) -> int:
    """The size `n_out` / `n_in`: from the basis when given, else `n` (default K)."""
    if basis is not None:
        if n is not None and n != basis.shape[0]:
            raise ValueError(f"`{name}` = {n!r} disagrees with `{basis_name}`, which has "
                             f"{basis.shape[0]} rows; leave `{name}` out when passing "
                             f"`{basis_name}`.")
        return basis.shape[0]
    if n is None:
        return K
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(n).__name__} {n!r}.")
    if n < K:
        raise ValueError(f"`{name}` must be >= the number of modes K = len(s) = {K}, got {n}.")
    return int(n)


def _check_spectrum(s, lam, other, U, V, syy) -> None:
    """Value checks of `Task.from_spectrum` (concrete input), each O((No + Ni) K) at most."""
    if np.any(s < 0):
        i = int(np.argmin(s))
        raise ValueError(f"`s` must be >= 0 (singular values), got s[{i}] = {s[i]!r}.")
    rise = np.flatnonzero(np.diff(s) > 0)
    if rise.size:
        i = int(rise[0])
        raise ValueError(f"`s` must be in descending order (strongest mode first), got "
                         f"s[{i}] = {s[i]!r} < s[{i + 1}] = {s[i + 1]!r}; sort `s` (and the "
                         "columns of `U`, `V` and `input_variance` with it).")
    if np.any(lam < 0) or other < 0:
        raise ValueError(f"`input_variance` must be >= 0 (variances), got {lam.min()!r}.")
    orphan = np.flatnonzero((lam == 0) & (s > 0))
    if orphan.size:
        i = int(orphan[0])
        raise ValueError(f"mode {i} has `input_variance` 0 but s = {s[i]!r} > 0: no data set "
                         "correlates an output with an input that never varies. Give it a "
                         "positive input variance, or s = 0.")
    probe = np.random.default_rng(0).standard_normal((s.shape[0], _PROBES))
    for B, name in ((U, "U"), (V, "V")):
        if B is None:
            continue
        B = np.asarray(B)
        err = np.linalg.norm(B.T @ (B @ probe) - probe) / np.linalg.norm(probe)
        if err > _ORTHONORMAL_RTOL:
            raise ValueError(f"`{name}` must have orthonormal columns ({name}ᵀ{name} = I): on "
                             f"random probes z, ‖{name}ᵀ{name} z − z‖/‖z‖ = {err:.2e}. "
                             f"Orthonormalise it (e.g. np.linalg.qr).")
    if syy is not None:
        y = np.asarray(syy)
        if y.ndim == 2 and np.abs(y - y.T).max() > 1e-6 * max(np.abs(y).max(), 1e-300):
            raise ValueError("`sigma_yy` must be symmetric (it is YᵀY/P).")
        diag = y if y.ndim == 1 else np.diagonal(y)
        if np.any(diag < 0):
            raise ValueError(f"`sigma_yy` must have a non-negative diagonal (variances), got "
                             f"{diag.min()!r}.")
        fit = 0.5 * float(np.sum(np.where(lam > 0, s**2 / np.where(lam > 0, lam, 1.0), 0.0)))
        half = 0.5 * float(diag.sum())
        if half < fit * (1.0 - 1e-8):
            raise ValueError(
                f"`sigma_yy` is too small for these modes: ½ tr Σyy = {half:.6g} is below the "
                f"part ½ Σ s²/λ = {fit:.6g} that the least-squares map explains, so the minimum "
                "loss would be negative; no data set has these statistics.")
