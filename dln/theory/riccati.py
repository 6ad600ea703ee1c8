"""The exact two-layer gradient flow from λ-balanced weights: the matrix Riccati solution.

Setting (Fukumizu 1998; Braun et al. 2022; Dominé et al. 2025; docs/theory/two_layer.md;
`docs/derivations/riccati.md` derives every step). The network `ŷ = W2 W1 x`, `W1 (Nh, Ni)`,
`W2 (No, Nh)`, follows the gradient flow `dW/dt = −∂L/∂W` of the mean loss
`L = 1/(2P) Σ_μ ||y_μ − W2W1x_μ||²` (flow time `t = lr × steps`). Its weights are **λ-balanced**,

    W2ᵀW2 − W1W1ᵀ = λ I_Nh            (this sign: λ > 0 means the output layer is larger),

a quantity the flow conserves, so λ is fixed by the initial weights (λ = 0 is the balanced case).
λ > 0 needs `Nh ≤ No` and λ < 0 needs `Nh ≤ Ni` (the larger layer has full rank Nh).

With isotropic input `Σxx = c I` (c = 1: whitened) stack `Q = √c [W1ᵀ; W2]` `(Ni+No, Nh)`. Then

    dQ/dt = F Q − ½ Q Qᵀ Q,      F = [[−(cλ/2) I_Ni, Σyxᵀ], [Σyx, (cλ/2) I_No]],

and `P = QQᵀ = c [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]]` obeys the matrix Riccati equation
`dP/dt = FP + PF − P²`, solved by

    P(t) = e^{Ft} Q0 [I + Q0ᵀ K(t) Q0]^{−1} Q0ᵀ e^{Ft},      K(t) = ∫_0^t e^{2Fs} ds.

The blocks of P are the network map `W2W1` and the input- and output-side representational
similarities `W1ᵀW1` and `W2W2ᵀ` (from which the neural tangent kernel follows, `dln.regime`).

**Stable evaluation.** `e^{Ft}` overflows for large t, and the direct formula loses all accuracy
long before. F is diagonalised in closed form from the task's SVD `Σyx = U diag(s) Vᵀ`: each mode
gives the pair `μ = ±ω`, `ω = √(s² + c²λ²/4)`, with eigenvectors `[sin φ v; cos φ u]` and
`[cos φ v; −sin φ u]`, `φ = ½ atan2(s, cλ/2)`; unmatched input directions (`Ni > No`) have
`μ = −cλ/2`, unmatched output directions (`No > Ni`) `μ = +cλ/2`. In the eigenbasis `O` (sorted by
`μ` descending), `R = OᵀQ0` is brought to column-echelon form `R = L Vᵀ_h` (`V_h` orthonormal
columns; column `a` of `L` starts at its pivot row `p_a`). Scaling column `a` by
`e^{−σ_a t}`, `σ_a = max(μ_{p_a}, 0)`, gives the exact identity

    OᵀP O = W M^{−1} Wᵀ,   W_ia = L_ia e^{(μ_i − σ_a)t},
    M = diag(e^{−2σ t}) + Ŵᵀ diag(q) Ŵ,   Ŵ_ia = L_ia e^{(max(μ_i,0) − σ_a)t},
    q_i = (1 − e^{−2|μ_i|t}) / (2|μ_i|)  (t at μ_i = 0),

in which every exponent is ≤ 0 (rows below a pivot have smaller μ) and `M` stays well
conditioned: float64 at any t (1e4, 1e300), no overflow. `P(t)` is `QQᵀ` for the factor
`Q(t) = O W C^{−ᵀ}` (`M = CCᵀ`), which is returned as representative weights (the true weights are
this factor up to a rotation of the hidden layer, which no observable and no later flow sees).

**Evaluation.** The constants (`O`, `μ`, `L`) are computed once; all times are then evaluated as
batched products in one compiled kernel (in chunks of times that stay in cache), costing per time
the `n·m` exponentials of `Ŵ`, the product `M`, its Cholesky factor and one solve (products
only: `C^{−1}` by doubling of triangular blocks). The modes and the loss need no map: in the
task's singular bases `Ũ = [U, U⊥]`, `Ṽ = [V, V⊥]` the map is `X = Z_out M^{−1} Z_inᵀ / c` with
`[Z_in; Z_out] = [Ṽᵀ O_in; Ũᵀ O_out] W` (two entries per row of `W`), the modes are its first K
diagonal entries, and with `Σxx = cI` the loss is `loss_of_modes(u) + ½ c Σ_{off-diagonal} X²`
(no cancellation near the target). The `(T, No, Ni)` maps and the weights are computed from the
solution only when a trajectory's `map` or `recorded_weights` is read.

**Stalled modes.** Gradient flow cannot change the sign of a mode: a mode whose initial sign opposes
the target (docs/theory/two_layer.md: the matrix `B` of Braun et al.'s SVD-basis form is singular)
has no component along its growing eigenvector, and it converges to the saddle instead of the
target, while the hidden dimension it would have used goes to a slower direction. The echelon form
finds this exactly: a growing direction that is not a pivot although a slower one is. Components
below `stall_rtol × ||Q0||` count as zero (rounding makes an exactly opposed mode ~1e-16, and in
exact arithmetic it never escapes); such modes are reported in `TwoLayerSolution.stalled`.

**Weight decay** (`weight_decay=γ`, the penalty `½γ(||W1||² + ||W2||²)`, flow
`dW/dt = −∂L/∂W − γW`; `docs/derivations/weight_decay.md`, section "Two layers from general
balanced weights"). The imbalance now decays, `W2ᵀW2 − W1W1ᵀ = λ e^{−2γt} I`, so only balanced
weights (λ = 0) keep a constant `F`: for them

    dQ/dt = (F − γI) Q − ½ Q Qᵀ Q,
    P(t) = e^{(F−γ)t} Q0 [I + Q0ᵀ K_γ(t) Q0]^{−1} Q0ᵀ e^{(F−γ)t},  K_γ(t) = ∫_0^t e^{2(F−γ)s} ds,

the same solution with every eigenvalue `μ` of `F` replaced by `μ − γ` (the eigenvectors, the
echelon form and the stable evaluation are unchanged). A mode with `s ≤ γ` no longer grows and
decays to 0 (algebraically, like 1/t, at `s = γ`); one with `s > γ` fills to `2(s − γ)`: the map
converges to `s − γ` along it. Isotropic input `Σxx = cI` reduces to it as before (γ is not
rescaled). For λ ≠ 0 the equation has the time-dependent `F(t)` with `λ → λe^{−2γt}`: its linear
part needs Whittaker functions of `e^{−2γt}` and `M(t)` a quadrature of their products, so there
is no closed form and λ-balanced weights with λ ≠ 0 are rejected when γ > 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import check_times, check_weight_decay, is_concrete
from dln.network import check_weights
from dln.tasks.task import Task
from dln.trajectory import Deferred, Trajectory

__all__ = ["TwoLayerSolution", "Blocks", "two_layer_solution", "two_layer_trajectory",
           "two_layer_blocks", "lambda_balance", "isotropic_input_scale", "inapplicable_reason",
           "converged_representations", "applies", "METHOD"]

METHOD = "exact-riccati"

# Relative imbalance residual ||W2ᵀW2 − W1W1ᵀ − λI|| / (||W2ᵀW2|| + ||W1W1ᵀ||) above which the
# weights are not λ-balanced (rounding in a construction leaves ~1e-16), in float64; for other
# dtypes at least 100 × their machine epsilon.
BALANCE_RTOL = 1e-10
# Relative size below which a component of the initial weights along an eigendirection counts
# as exactly zero (a stalled mode); rounding leaves ~1e-16. Float64; at least 100 × epsilon.
STALL_RTOL = 1e-11
# Relative deviation of Σxx from c·I above which the input is not isotropic.
ISOTROPY_RTOL = 1e-10
# Eigenvalues of F closer than this (relative to the largest) are one degenerate group.
_TIE_RTOL = 1e-10


# ---------------------------------------------------------------------------------- results
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Blocks:
    """The blocks of `QQᵀ` of a two-layer network, `Q = [W1ᵀ; W2]`, at one or more times.

    Attributes:
      map: `(..., No, Ni)` the network map `W2 W1` (bottom-left block).
      input_similarity: `(..., Ni, Ni)` input-side representational similarity `W1ᵀW1`
        (top-left block; the hidden representations' Gram matrix over input directions).
      output_similarity: `(..., No, No)` output-side representational similarity `W2W2ᵀ`
        (bottom-right block).
    """

    map: Any
    input_similarity: Any
    output_similarity: Any

    @property
    def qqt(self):
        """`(..., Ni+No, Ni+No)` the whole `QQᵀ = [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]]`."""
        top = jnp.concatenate([self.input_similarity, jnp.swapaxes(self.map, -1, -2)], -1)
        bottom = jnp.concatenate([self.map, self.output_similarity], -1)
        return jnp.concatenate([top, bottom], -2)

    @classmethod
    def from_weights(cls, weights) -> Blocks:
        """The blocks of two-layer weights `[W1 (..., Nh, Ni), W2 (..., No, Nh)]` (any leading
        axes, e.g. a simulation's `recorded_weights`)."""
        if len(weights) != 2:
            raise ValueError(f"`weights` must be two matrices [W1, W2], got {len(weights)}.")
        W1, W2 = (jnp.asarray(w) for w in weights)
        return cls(map=W2 @ W1, input_similarity=jnp.swapaxes(W1, -1, -2) @ W1,
                   output_similarity=W2 @ jnp.swapaxes(W2, -1, -2))

    @classmethod
    def from_qqt(cls, qqt, n_in: int) -> Blocks:
        """Split `QQᵀ` `(..., Ni+No, Ni+No)` into blocks (`n_in` = Ni)."""
        qqt = jnp.asarray(qqt)
        return cls(map=qqt[..., n_in:, :n_in], input_similarity=qqt[..., :n_in, :n_in],
                   output_similarity=qqt[..., n_in:, n_in:])


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TwoLayerSolution:
    """The constants of the exact two-layer flow from one initial condition; evaluate it at any
    times with `blocks(t)`, `qqt(t)`, `weights(t)` or `trajectory(t)` (vectorised over `t`,
    compiled once per shape). Build it with `two_layer_solution`.

    Attributes:
      task: the `Task` (its `sigma_xx = c I`).
      imbalance: λ, with `W2ᵀW2 − W1W1ᵀ = λ I_Nh` (conserved).
      input_scale: `c`, with `sigma_xx = c I` (1 for whitened input).
      mu: `(n,)` eigenvalues of `F` (in the whitened units `√c W`), descending, `n = Ni + No`;
        with weight decay γ those of `F − γI` (the growth rates).
      basis: `(n, n)` the eigenvectors `O` of `F`, columns in the order of `mu`.
      echelon: `(n, m)` the column-echelon factor `L` of `OᵀQ0` (`m = min(n, Nh)`; columns
        beyond the rank of `Q0` are zero).
      pivots: `(m,)` pivot row of each column of `L` (−1 for an empty column).
      stalled: `(K,)` True for each task mode (`s_α > 0`) that stalls at the saddle instead of
        being learned (its initial sign opposes the target; see the module docstring). With
        weight decay only modes with `s > γ` can stall (the others decay whatever their sign).
      hidden: `(m, Nh)` orthonormal rows: the hidden coordinates of the initial weights
        (`Q0 ≈ O L hidden`), so that the representative weights `Q(t) hidden` start at the
        given weights and stay in their hidden coordinates.
      initial: the initial weights `[W1, W2]`, returned exactly at `t = 0`.
      task_rows, task_coefs: `(Ni + No, 2)` the task's singular bases in the eigenbasis:
        `[Ṽᵀ O_in; Ũᵀ O_out]` (`Ṽ = [V, V⊥]`, `Ũ = [U, U⊥]`, `O_in`/`O_out` the input/output
        rows of `O`) has two nonzeros per row, `task_coefs[r, j]` in column `task_rows[r, j]`:
        `(sin φ, cos φ)` at the pair `(+ω, −ω)` of mode α on the input side, `(cos φ, −sin φ)`
        on the output side, and `(1, 0)` at the unmatched directions.
      n_hidden: `Nh`, the hidden width.
      weight_decay: γ of the flow (None without weight decay); `mu` then holds the
        eigenvalues of `F − γI`.
    """

    task: Task
    imbalance: Any
    input_scale: Any
    mu: Any
    basis: Any
    echelon: Any
    pivots: Any
    stalled: Any
    hidden: Any
    initial: Any
    task_rows: Any
    task_coefs: Any
    n_hidden: int = dataclasses.field(metadata=dict(static=True))
    weight_decay: Any = None

    @property
    def n_in(self) -> int:
        return self.task.n_in

    @property
    def n_out(self) -> int:
        return self.task.n_out

    @property
    def any_stalled(self) -> bool:
        """True if some mode stalls (only for concrete values)."""
        return bool(np.any(np.asarray(self.stalled)))

    def factor(self, t):
        """`Q(t) = [W1ᵀ; W2]` `(T, Ni+No, Nh)`, the representative weights of `weights(t)`."""
        return _evaluate(self, check_times(t))["factor"]

    def qqt(self, t):
        """`QQᵀ(t) = [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]]` `(T, Ni+No, Ni+No)`."""
        return _qqt(self.factor(t))

    def blocks(self, t) -> Blocks:
        """The map and the representational similarities at times `t` (each with a leading
        `(T,)` axis)."""
        return Blocks.from_qqt(self.qqt(t), self.n_in)

    def weights(self, t):
        """Representative weights `[W1 (T, Nh, Ni), W2 (T, No, Nh)]`: the exact weights up to a
        rotation `W1 → R W1`, `W2 → W2 Rᵀ` of the hidden layer (which leaves the map, the
        representations, the imbalance and the future flow unchanged), in the hidden
        coordinates of the initial weights, which they equal at `t = 0`. Use them to continue
        the flow: `two_layer_solution(task_b, [W1[-1], W2[-1]])`."""
        return _evaluate(self, check_times(t))["weights"]

    def limit(self) -> Blocks:
        """The blocks at `t → ∞` (exact: each growing eigendirection that is reached is filled
        to `2μ` (`2(μ − γ)` with weight decay), the rest decay; degenerate eigenvalues within
        1e-10 count as equal)."""
        return Blocks.from_qqt(_limit_qqt(self), self.n_in)

    def trajectory(self, t, *, invalid=None) -> Trajectory:
        """A `dln.Trajectory` (method `"exact-riccati"`, depth 2) with the `stalled` modes, the
        representative weights at `t[-1]` (`weights(t)`, exact up to a rotation of the hidden
        layer) as `final_weights` (for chaining), and the maps and `recorded_weights`
        computed from this solution when they are read (`dln.trajectory.Deferred`): `modes`
        and `loss` come from the factors without forming the `(T, No, Ni)` maps.

        `invalid`: an optional (traced) boolean; where True, `modes`, `loss` and the maps are
        NaN (assumptions that could only be checked inside the computation).
        """
        t = check_times(t)
        out = _summary(self, t)
        modes, loss = out["modes"], out["loss"]
        if invalid is not None:
            modes, loss = (jnp.where(invalid, jnp.nan, a) for a in (modes, loss))
        return Trajectory(t=t, modes=modes, loss=loss, task=self.task, method=METHOD, depth=2,
                          stored_map=Deferred.of(_deferred_map, (self, t, invalid)),
                          final_weights=out["final_weights"],
                          recorded_weights=Deferred.of(_deferred_weights, (self, t)),
                          stalled=self.stalled, weight_decay=self.weight_decay)


# ------------------------------------------------------------------------------- checks
def lambda_balance(weights):
    """`(λ, residual)` of two-layer weights `[W1, W2]`: `λ = tr(W2ᵀW2 − W1W1ᵀ)/Nh` and the
    relative residual `||W2ᵀW2 − W1W1ᵀ − λI||_F / (||W2ᵀW2||_F + ||W1W1ᵀ||_F)` (0 for exactly
    λ-balanced weights; rounding leaves ~1e-16). Floats for concrete weights, else arrays."""
    xp = np if is_concrete(weights) else jnp
    W1, W2 = (xp.asarray(w) for w in weights)
    A, B = W1 @ W1.T, W2.T @ W2
    D = B - A
    lam = xp.trace(D) / D.shape[0]
    scale = xp.linalg.norm(A) + xp.linalg.norm(B)
    resid = xp.linalg.norm(D - lam * xp.eye(D.shape[0], dtype=D.dtype))
    resid = xp.where(scale > 0, resid / xp.where(scale > 0, scale, 1.0), 0.0)
    return (float(lam), float(resid)) if xp is np else (lam, resid)


def isotropic_input_scale(task: Task, rtol: float | None = None):
    """`c` with `task.sigma_xx = c I`, or None if the input is not isotropic (within `rtol`
    relative to c; default `ISOTROPY_RTOL` in float64, `100 ε` in lower precision). Needs
    concrete values."""
    c, isotropic = _isotropy(np.asarray(task.sigma_xx), rtol, np)
    return float(c) if isotropic else None


def _isotropy(sxx, rtol, xp):
    """`(c, sxx == c I within rtol·c and c > 0)` in numpy or (traceable) jax.numpy."""
    if rtol is None:
        rtol = max(ISOTROPY_RTOL, 100.0 * float(np.finfo(sxx.dtype).eps))
    c = xp.trace(sxx) / sxx.shape[0]
    dev = xp.max(xp.abs(sxx - c * xp.eye(sxx.shape[0], dtype=sxx.dtype)))
    return c, (c > 0) & (dev <= rtol * c)


def inapplicable_reason(task: Task, weights, *, balance_rtol: float | None = None,
                        weight_decay=0.0):
    """None if the exact two-layer solution applies to `task` and `weights`, else a sentence
    saying which assumption fails (for choosing between `two_layer_trajectory` and
    `dln.numerical_flow`). With `weight_decay` γ > 0 the weights must be balanced (λ = 0).
    Shapes are checked too (they raise). Needs concrete values."""
    W1, W2 = _check_two_layer(task, weights)
    return _reason_and_lambda(task, W1, W2, balance_rtol, check_weight_decay(weight_decay))[0]


def _reason_and_lambda(task: Task, W1, W2, balance_rtol, gamma):
    """`(inapplicable_reason, λ)` of checked concrete weights (λ None when the input is not
    isotropic)."""
    lam = None
    if isotropic_input_scale(task) is None:
        return ("the exact two-layer solution needs isotropic input, `task.sigma_xx = c·I` "
                "(c > 0; whitened input has c = 1): only then does the flow of Q = [W1ᵀ; W2] "
                "close into a matrix Riccati equation. This task's sigma_xx is not a multiple "
                "of the identity."), lam
    if balance_rtol is None:
        balance_rtol = max(BALANCE_RTOL, 100.0 * float(jnp.finfo(W1.dtype).eps))
    lam, resid = lambda_balance([W1, W2])
    if not resid <= balance_rtol:
        return ("the exact two-layer solution needs λ-balanced weights, W2ᵀW2 − W1W1ᵀ = λI "
                f"(λ = 0 included); these have a relative residual {resid:.2e} > "
                f"`balance_rtol` = {balance_rtol:.0e} about λ = {lam:.6g}."), lam
    if gamma is not None:
        if not is_concrete(gamma):
            raise TypeError("inapplicable_reason needs a concrete `weight_decay`; use "
                            "`applies` under tracing.")
        total = _zero_balance_residual([W1, W2], np)
        if not total <= balance_rtol:
            return ("with weight decay the exact two-layer solution needs balanced weights, "
                    "W2ᵀW2 = W1W1ᵀ (λ = 0): the imbalance decays as e^{−2γt}, so for λ ≠ 0 the "
                    "Riccati equation has a time-dependent coefficient and no closed form. "
                    f"These weights have λ = {lam:.6g} (relative imbalance {total:.2e} > "
                    f"`balance_rtol` = {balance_rtol:.0e})."), lam
    return None, lam


def applies(task: Task, weights, *, balance_rtol: float | None = None, weight_decay=0.0):
    """The assumptions of the two-layer solution as a (traceable) boolean: isotropic input and
    λ-balanced weights (balanced, λ = 0, when `weight_decay` γ ≠ 0; γ may be traced), with the
    tolerances of `inapplicable_reason` (which says which fails, but needs concrete values)."""
    W1, W2 = _check_two_layer(task, weights)
    gamma = check_weight_decay(weight_decay)
    if balance_rtol is None:
        balance_rtol = max(BALANCE_RTOL, 100.0 * float(jnp.finfo(W1.dtype).eps))
    _, isotropic = _isotropy(jnp.asarray(task.sigma_xx), None, jnp)
    _, resid = lambda_balance([W1, W2])
    ok = isotropic & (resid <= balance_rtol)
    if gamma is not None:
        ok = ok & ((gamma == 0) | (_zero_balance_residual([W1, W2], jnp) <= balance_rtol))
    return ok


def _zero_balance_residual(weights, xp):
    """`||W2ᵀW2 − W1W1ᵀ||_F / (||W2ᵀW2||_F + ||W1W1ᵀ||_F)`: 0 for balanced weights (λ = 0)."""
    W1, W2 = (xp.asarray(w) for w in weights)
    A, B = W1 @ W1.T, W2.T @ W2
    scale = xp.linalg.norm(A) + xp.linalg.norm(B)
    resid = xp.linalg.norm(B - A)
    resid = xp.where(scale > 0, resid / xp.where(scale > 0, scale, 1.0), 0.0)
    return float(resid) if xp is np else resid


def _check_two_layer(task: Task, weights):
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    if not isinstance(weights, (list, tuple)) or len(weights) != 2:
        raise TypeError(
            "`weights` must be a list of two matrices [W1 (Nh, Ni), W2 (No, Nh)] for the exact "
            f"two-layer solution, got {type(weights).__name__}"
            + (f" of length {len(weights)}" if isinstance(weights, (list, tuple)) else "") + ".")
    W1, W2 = check_weights(task, weights, allow_batch=False)
    dtype = jnp.result_type(W1, W2, task.sigma_yx)
    return W1.astype(dtype), W2.astype(dtype)


# ------------------------------------------------------------------------------ the solution
def two_layer_solution(task: Task, weights, *, stall_rtol: float | None = None,
                       balance_rtol: float | None = None,
                       weight_decay=0.0) -> TwoLayerSolution:
    """The exact gradient flow of a two-layer network from λ-balanced weights (any Ni, Nh, No),
    optionally with weight decay from balanced weights.

    Computes the constants once (eigenbasis of `F`, echelon form of the initial weights, stalled
    modes); evaluate the result at any times. Exact (closed form, float64 accurate at any `t`).

    Args:
      task: a `dln.Task` with isotropic input, `sigma_xx = c I`, c > 0 (whitened: c = 1). For
        other inputs no closed form exists for general weights: use `dln.numerical_flow`.
      weights: `[W1 (Nh, Ni), W2 (No, Nh)]` with `W2ᵀW2 − W1W1ᵀ = λ I` for some λ (λ = 0
        included; `dln.init.balanced` makes them). λ is read off the weights.
      stall_rtol: components of the initial weights along an eigendirection of `F` below
        `stall_rtol × ||Q0||` count as exactly zero (modes with opposed sign stall); default
        `STALL_RTOL` (1e-11) in float64, `100 ε` in lower precision.
      balance_rtol: largest relative imbalance residual accepted (see `lambda_balance`);
        default `BALANCE_RTOL` (1e-10) in float64, `100 ε` in lower precision.
      weight_decay: γ >= 0 (may be traced), the L2 penalty `½γ(||W1||² + ||W2||²)`: the flow
        `dW/dt = −∂L/∂W − γW`. With γ > 0 the weights must be balanced (λ = 0; the closed form
        then has `F → F − γI`: modes with `s ≤ γ` decay to 0, the others converge to `s − γ`);
        λ ≠ 0 has no closed form (raises; under tracing `applies` says so). 0 (default): the
        solution without decay, unchanged.

    Returns:
      A `TwoLayerSolution`.
    """
    W1, W2 = _check_two_layer(task, weights)
    gamma = check_weight_decay(weight_decay)
    if stall_rtol is None:
        stall_rtol = max(STALL_RTOL, 100.0 * float(jnp.finfo(W1.dtype).eps))
    if is_concrete(W1, W2, task.sigma_xx):
        # a traced weight decay may be > 0: then only balanced weights have the closed form
        reason, lam = _reason_and_lambda(
            task, W1, W2, balance_rtol,
            check_weight_decay(0.0 if gamma is None else (gamma if is_concrete(gamma) else 1.0)))
        if reason is not None:
            fix = ("Whiten the inputs (X → X Σxx^{-1/2}), or" if "isotropic" in reason else
                   "Make them with dln.init.balanced(key, dims, scale, 0.0), or"
                   if "weight decay" in reason else
                   "Make them with dln.init.balanced(key, dims, scale, lam), or")
            raise ValueError(f"{reason} {fix} integrate the flow numerically with "
                             "dln.numerical_flow.flow_trajectory(task, weights, t).")
        c = jnp.asarray(isotropic_input_scale(task), W1.dtype)
    else:
        c = jnp.trace(task.sigma_xx) / task.n_in
        lam = lambda_balance([W1, W2])[0]
    return _prepare(task, W1, W2, lam, c, stall_rtol, gamma)


def two_layer_trajectory(task: Task, weights, t, *, stall_rtol: float | None = None,
                         balance_rtol: float | None = None, weight_decay=0.0) -> Trajectory:
    """The exact two-layer trajectory from λ-balanced `weights` at flow times `t`
    (`t = lr × steps`), as a `dln.Trajectory` with method `"exact-riccati"`.

    `t (T,)` in any order; `modes (T, K)`, `loss (T,)`, `map (T, No, Ni)` (computed from the
    solution when read, as `recorded_weights`), and
    `final_weights` the weights at `t[-1]` up to a rotation of the hidden layer (chain with
    `two_layer_trajectory(task_b, traj.final_weights, t2)`). See `two_layer_solution` for the
    arguments (`weight_decay` γ: balanced weights only), `two_layer_blocks` for the
    representations and the stalled modes.
    """
    sol = two_layer_solution(task, weights, stall_rtol=stall_rtol, balance_rtol=balance_rtol,
                             weight_decay=weight_decay)
    return sol.trajectory(t)


def two_layer_blocks(task: Task, weights, t, *, stall_rtol: float | None = None,
                     balance_rtol: float | None = None, weight_decay=0.0):
    """`(blocks, stalled)`: the `Blocks` (map, `W1ᵀW1`, `W2W2ᵀ`, each `(T, ·, ·)`) of the exact
    flow at times `t`, and the `(K,)` flags of the modes that stall at the saddle."""
    sol = two_layer_solution(task, weights, stall_rtol=stall_rtol, balance_rtol=balance_rtol,
                             weight_decay=weight_decay)
    return sol.blocks(t), sol.stalled


def converged_representations(task: Task, lam):
    """The closed-form limits `(W1ᵀW1, W2W2ᵀ)` at convergence (docs/theory/two_layer.md):

        W1ᵀW1 → V diag((√(c²λ² + 4s²) − cλ)/2) Vᵀ / c,
        W2W2ᵀ → U diag((√(c²λ² + 4s²) + cλ)/2) Uᵀ / c

    for input `sigma_xx = c I`. They do not depend on the initial weights beyond λ (rich regime,
    λ = 0: `V S Vᵀ` and `U S Uᵀ`). Valid when no mode stalls and `Nh = K = min(Ni, No)`; for
    wider hidden layers the extra hidden directions add init-dependent terms (λ ≠ 0: `|λ|`
    on unmatched directions; λ = 0: they decay as 1/t), which `TwoLayerSolution.limit()`
    gives exactly.
    """
    c = jnp.trace(task.sigma_xx) / task.n_in
    cl = c * jnp.asarray(lam, task.s.dtype)
    root = jnp.sqrt(cl**2 + 4.0 * task.s**2)
    inner = jnp.einsum("ik,k,jk->ij", task.V, (root - cl) / 2.0, task.V) / c
    outer = jnp.einsum("ik,k,jk->ij", task.U, (root + cl) / 2.0, task.U) / c
    return inner, outer


# ------------------------------------------------------------------------------ internals
def _complement(xp, B):
    """Orthonormal basis `(n, n − k)` of the complement of the orthonormal columns `B (n, k)`."""
    n, k = B.shape
    if k == n:
        return xp.zeros((n, 0), B.dtype)
    Qc, _ = xp.linalg.qr(B, mode="complete")
    return Qc[:, k:]


def _argsort_desc(xp, x):
    return xp.argsort(-x, stable=True) if xp is jnp else np.argsort(-x, kind="stable")


def _echelon_rows(xp, R, threshold, m: int):
    """`(basis (m, Nh), pivots (m,))`: Gram–Schmidt over the rows of `R (n, Nh)` in order
    (twice, for orthogonality); a row whose residual is at most `threshold` is not a pivot.
    Slots left empty are zero rows with pivot −1. numpy for concrete values (filled slots
    only), jax.numpy when traced (fixed shapes, masked)."""
    n, Nh = R.shape
    if xp is np:
        basis, piv, r = np.zeros((m, Nh), R.dtype), np.full((m,), -1), 0
        for i in range(n):
            if r == m:
                break
            B = basis[:r]
            res = R[i] - (B @ R[i]) @ B
            res = res - (B @ res) @ B
            norm = np.linalg.norm(res)
            if norm > threshold:
                basis[r], piv[r], r = res / norm, i, r + 1
        return basis, piv
    basis, piv, r = jnp.zeros((m, Nh), R.dtype), jnp.full((m,), -1), 0
    slots = jnp.arange(m)
    for i in range(n):
        Vm = jnp.where((slots < r)[:, None], basis, 0.0)
        res = R[i] - (Vm @ R[i]) @ Vm
        res = res - (Vm @ res) @ Vm
        sq = res @ res  # the norm with a finite derivative where the residual is exactly 0
        norm = jnp.where(sq > 0, jnp.sqrt(jnp.where(sq > 0, sq, 1.0)), 0.0)
        take = (norm > threshold) & (r < m)
        here = (slots == r)[:, None] & take
        basis = jnp.where(here, res / jnp.where(take, norm, 1.0), basis)
        piv = jnp.where(here[:, 0], i, piv)
        r = r + take.astype(int)
    return basis, piv


def _prepare(task: Task, W1, W2, lam, c, stall_rtol, gamma=None) -> TwoLayerSolution:
    """The constants of the solution: in numpy for concrete values (no compilation), in
    jax.numpy when traced (under jit/vmap/grad); the same code for both. `gamma`: the weight
    decay (None: none), which shifts every eigenvalue of F by −γ."""
    concrete = is_concrete(task, W1, W2, lam, c, stall_rtol, gamma)
    xp = np if concrete else jnp
    dtype = W1.dtype
    cast = (lambda a: np.asarray(a, dtype)) if concrete else (lambda a: jnp.asarray(a, dtype))
    U, s, V, W1, W2, lam, c = (cast(a) for a in (task.U, task.s, task.V, W1, W2, lam, c))
    Ni, No, Nh = task.n_in, task.n_out, W1.shape[0]
    K = task.n_modes
    n, m = Ni + No, min(Ni + No, Nh)
    lam_w = c * lam  # the imbalance of the whitened weights √c W
    # Eigenvectors of F from the task's SVD (closed form): ±ω per mode, ∓cλ/2 unmatched.
    omega = xp.sqrt(s**2 + lam_w**2 / 4.0)
    phi = 0.5 * xp.arctan2(s, xp.broadcast_to(lam_w / 2.0, s.shape))
    sin, cos = xp.sin(phi), xp.cos(phi)
    plus = xp.concatenate([V * sin, U * cos], 0)  # (n, K)
    minus = xp.concatenate([V * cos, -U * sin], 0)
    in_null = xp.concatenate([_complement(xp, V), xp.zeros((No, Ni - K), dtype)], 0)
    out_null = xp.concatenate([xp.zeros((Ni, No - K), dtype), _complement(xp, U)], 0)
    O = xp.concatenate([plus, minus, in_null, out_null], 1)
    mu = xp.concatenate([omega, -omega, xp.full((Ni - K,), -lam_w / 2.0, dtype),
                         xp.full((No - K,), lam_w / 2.0, dtype)])
    if gamma is not None:  # weight decay (λ = 0): the eigenvalues of F − γI, same eigenvectors
        gamma = cast(gamma)
        mu = mu - gamma
    order = _argsort_desc(xp, mu)
    mu, O = mu[order], O[:, order]
    position = xp.argsort(order)  # where each unsorted row went
    # The task's bases in the eigenbasis, [Ṽᵀ O_in; Ũᵀ O_out]: two entries per row, in the
    # unsorted columns (+ω, −ω per mode, then the unmatched input and output directions).
    k, j_in, j_out = xp.arange(K), xp.arange(Ni - K), xp.arange(No - K)
    cols = xp.concatenate([xp.stack([k, K + k], 1), xp.stack([2 * K + j_in] * 2, 1),
                           xp.stack([k, K + k], 1), xp.stack([K + Ni + j_out] * 2, 1)], 0)
    ones, zeros = xp.ones(Ni + No - 2 * K, dtype), xp.zeros(Ni + No - 2 * K, dtype)
    coefs = xp.concatenate([xp.stack([sin, cos], 1), xp.stack([ones, zeros], 1)[:Ni - K],
                            xp.stack([cos, -sin], 1), xp.stack([ones, zeros], 1)[Ni - K:]], 0)

    # Column-echelon form of R = OᵀQ0: Gram–Schmidt over the rows in order of decreasing μ
    # (twice, for orthogonality); a row whose residual is below the threshold is not a pivot.
    Q0 = xp.sqrt(c) * xp.concatenate([W1.T, W2], 0)
    R = O.T @ Q0
    basis, piv = _echelon_rows(xp, R, stall_rtol * xp.linalg.norm(R), m)
    rows = xp.arange(n)[:, None]
    below = (piv[None, :] >= 0) & (rows >= piv[None, :])
    L = xp.where(below, R @ basis.T, 0.0)

    # Stalled modes: a growing direction (μ > 0) that is not a pivot although a slower one is.
    tie = _TIE_RTOL * xp.maximum(xp.max(xp.abs(mu)), np.finfo(dtype).tiny)
    is_pivot = xp.any(rows == piv[None, :], axis=1)
    mu_piv = xp.where(piv >= 0, mu[xp.maximum(piv, 0)], xp.inf)
    slower_pivot = xp.any(mu_piv[None, :] < mu[:, None] - tie, axis=1)
    stalled = ((mu > tie) & ~is_pivot & slower_pivot)[position[:K]] & (s > 0)
    arrays = dict(imbalance=lam, input_scale=c, mu=mu, basis=O, echelon=L, pivots=piv,
                  stalled=stalled, hidden=basis, task_rows=position[cols], task_coefs=coefs,
                  weight_decay=gamma)
    if concrete:
        arrays = {k: None if v is None else jnp.asarray(v) for k, v in arrays.items()}
    return TwoLayerSolution(task=task, n_hidden=Nh, initial=[jnp.asarray(W1), jnp.asarray(W2)],
                            **arrays)


# Times are evaluated together in chunks: enough for batched products, few enough that each
# intermediate array of a chunk holds at most about this many entries. On a CPU a chunk that
# stays in cache is fastest (measured: 16–64 times at Ni = Nh = No = 100, 64–256 at 25); an
# accelerator wants large batches.
_CHUNK_ENTRIES = {"cpu": 2**19}
_CHUNK_ENTRIES_ACCELERATOR = 2**23


def _over_times(fn, t, size: int):
    """`fn` at every time of `t (T,)`, outputs stacked: vmapped over chunks of times (`size`:
    entries of `fn`'s largest intermediate per time; see `_CHUNK_ENTRIES`)."""
    budget = _CHUNK_ENTRIES.get(jax.default_backend(), _CHUNK_ENTRIES_ACCELERATOR)
    chunk = max(1, budget // size)
    if t.shape[0] <= chunk:
        return jax.vmap(fn)(t)
    return jax.lax.map(fn, t, batch_size=chunk)


def _core_at(sol: TwoLayerSolution, t):
    """`(W, C)` at one scalar time: `OᵀP(t)O = W M^{−1} Wᵀ` (module docstring), `W (n, m)`,
    with the Cholesky factor `M = CCᵀ`; the factor in the eigenbasis is `Q̂ = W C^{−ᵀ}`."""
    mu, L, piv = sol.mu, sol.echelon, sol.pivots
    valid = piv >= 0
    sigma = jnp.where(valid, jnp.maximum(mu[jnp.maximum(piv, 0)], 0.0), 0.0)
    below = valid[None, :] & (jnp.arange(mu.shape[0])[:, None] >= piv[None, :])
    if sol.weight_decay is None:
        mu_pos, mu_neg = jnp.maximum(mu, 0.0), jnp.minimum(mu, 0.0)
        a = jnp.abs(mu)
        q = jnp.where(a > 0, -jnp.expm1(-2.0 * a * t) / (2.0 * jnp.where(a > 0, a, 1.0)), t)
    else:
        # γ shifts μ through 0 (s = γ): one branch per row for μ⁺, μ⁻ and |μ| (so that the
        # derivative of e^{2μ⁺t} q is right at μ = 0 too), and q = t φ(2|μ|t) with its series
        # near 0, where the derivative of the closed form cancels catastrophically.
        pos = mu >= 0.0
        mu_pos, mu_neg = jnp.where(pos, mu, 0.0), jnp.where(pos, 0.0, mu)
        a = jnp.where(pos, mu, -mu)
        q = t * _phi(2.0 * a * t)
    expo = jnp.where(below, (mu_pos[:, None] - sigma[None, :]) * t, -jnp.inf)
    What = L * jnp.exp(expo)
    W = What * jnp.exp(mu_neg * t)[:, None]
    M = jnp.diag(jnp.exp(-2.0 * sigma * t)) + What.T @ (q[:, None] * What)
    C = jnp.linalg.cholesky(0.5 * (M + M.T))
    return W, C


def _lower_solve(C, B):
    """`C^{−1} B` for lower-triangular `C` `(m, m)`: the inverse by `_lower_inverse`, then one
    product (XLA's batched triangular solve on a CPU runs far below the rate of products, and
    at some sizes (m = 64, 128) hundreds of times slower)."""
    return _lower_inverse(C) @ B


def _lower_inverse(C, base: int = 8):
    """`C^{−1}` for a lower-triangular `C` `(..., m, m)` by products only: the diagonal blocks of
    size `b <= base` are inverted by substitution (all at once), then blocks are doubled,
    `[[A, 0], [B, D]]^{−1} = [[A^{−1}, 0], [−D^{−1} B A^{−1}, D^{−1}]]`, until they cover `C`
    (padded with the identity to `b · 2^levels`)."""
    m = C.shape[-1]
    levels = max(0, math.ceil(math.log2(m / base)))
    b = -(-m // 2**levels)
    size, batch = b * 2**levels, C.shape[:-2]
    if size > m:
        pad = size - m
        eye = jnp.broadcast_to(jnp.eye(pad, dtype=C.dtype), batch + (pad, pad))
        C = jnp.concatenate([jnp.concatenate([C, jnp.zeros(batch + (m, pad), C.dtype)], -1),
                             jnp.concatenate([jnp.zeros(batch + (pad, m), C.dtype), eye], -1)],
                            -2)

    def diagonal_blocks(s):  # (..., size // s, s, s)
        k = size // s
        blocks = jnp.diagonal(C.reshape(batch + (k, s, k, s)), axis1=-4, axis2=-2)
        return jnp.moveaxis(blocks, -1, -3)

    L = diagonal_blocks(b)
    inverse_diagonal = 1.0 / jnp.diagonal(L, axis1=-2, axis2=-1)
    rows = []  # row i of each block's inverse: (e_i − Σ_{j<i} L_ij row_j) / L_ii
    for i in range(b):
        e = jnp.zeros(L.shape[:-1], C.dtype).at[..., i].set(1.0)
        if rows:
            e = e - jnp.einsum("...j,...jc->...c", L[..., i, :i], jnp.stack(rows, -2))
        rows.append(e * inverse_diagonal[..., i:i + 1])
    inverse, s = jnp.stack(rows, -2), b
    for _ in range(levels):
        lower = diagonal_blocks(2 * s)[..., s:, :s]
        Ai, Di = inverse[..., 0::2, :, :], inverse[..., 1::2, :, :]
        inverse = jnp.concatenate([jnp.concatenate([Ai, jnp.zeros_like(Ai)], -1),
                                   jnp.concatenate([-(Di @ (lower @ Ai)), Di], -1)], -2)
        s *= 2
    return inverse[..., 0, :m, :m]


def _factor_at(sol: TwoLayerSolution, t):
    """Q(t) = O W C^{−ᵀ} in whitened units, `(n, m)`, for one scalar time."""
    W, C = _core_at(sol, t)
    return sol.basis @ _lower_solve(C, W.T).T


def _modes_and_off_at(sol: TwoLayerSolution, t):
    """`(modes (K,), off)` at one scalar time without forming the map: the map in the task's
    singular bases is `X = Ũᵀ W2W1 Ṽ = Z_out M^{−1} Z_inᵀ / c` with `[Z_in; Z_out] = [Ṽᵀ O_in;
    Ũᵀ O_out] W` (two entries per row: `task_rows`, `task_coefs`); the modes are its first K
    diagonal entries and `off` the sum of squares of all its other entries."""
    W, C = _core_at(sol, t)
    rows, coefs = sol.task_rows, sol.task_coefs
    Z = coefs[:, :1] * W[rows[:, 0]] + coefs[:, 1:] * W[rows[:, 1]]
    Y = _lower_solve(C, Z.T)  # C^{−1} Zᵀ, (m, Ni + No)
    Ni, K = sol.n_in, sol.task.n_modes
    X = (Y[:, Ni:].T @ Y[:, :Ni]) / sol.input_scale
    k = jnp.arange(K)
    return X[k, k], jnp.sum(X.at[k, k].set(0.0) ** 2)


def _exact_at_zero(t, value, initial):
    """`value` `(T, ...)` with the value `initial` where `t == 0` (the initial condition
    exactly, by construction); the derivatives are those of the formula."""
    start = (t == 0.0).reshape(t.shape + (1,) * (value.ndim - 1))
    formula = value - jax.lax.stop_gradient(value)
    return jnp.where(start, jax.lax.stop_gradient(initial) + formula, value)


def _in_hidden_coordinates(sol: TwoLayerSolution, Q, t):
    """The factors `Q (T, n, m)` (whitened, from `_factor_at`) as weights `[W1ᵀ; W2]`
    `(T, n, Nh)` in the initial weights' hidden coordinates (empty slots of `hidden` are zero
    rows, and the matching columns of Q are zero at all times; Nh > Ni + No pads with empty
    directions), exactly the initial weights at t = 0."""
    Q = (Q @ sol.hidden) / jnp.sqrt(sol.input_scale)
    Q0 = jnp.concatenate([sol.initial[0].T, sol.initial[1]], 0).astype(Q.dtype)
    return _exact_at_zero(t, Q, Q0)


@jax.jit
def _evaluate(sol: TwoLayerSolution, t):
    """The factor `Q (T, n, Nh)`, the weights and the maps at times `t (T,)`."""
    t = t.astype(sol.mu.dtype)
    n, m = sol.echelon.shape
    Q = _over_times(lambda ti: _factor_at(sol, ti), t, n * (n + m))
    Q = _in_hidden_coordinates(sol, Q, t)
    W1t, W2 = Q[:, :sol.n_in, :], Q[:, sol.n_in:, :]
    W1 = jnp.swapaxes(W1t, -1, -2)
    return dict(factor=Q, weights=[W1, W2], map=W2 @ W1)


@jax.jit
def _summary(sol: TwoLayerSolution, t):
    """`modes (T, K)` and `loss (T,)` from the factors (no `(T, No, Ni)` maps), and the weights
    at `t[-1]`. With `Σxx = cI` the loss of a map whose task-basis form is `X` is
    `loss_of_modes(diag X) + ½ c Σ_{off-diagonal} X²` (no cancellation near the target)."""
    t = t.astype(sol.mu.dtype)
    task = sol.task
    n, m = sol.echelon.shape
    size = max(n * m, task.n_out * task.n_in)
    modes, off = _over_times(lambda ti: _modes_and_off_at(sol, ti), t, size)
    loss = task.loss_of_modes(modes) + 0.5 * sol.input_scale * off
    W0 = sol.initial[1] @ sol.initial[0]
    modes = _exact_at_zero(t, modes, task.mode_strengths(W0))
    loss = _exact_at_zero(t, loss, task.loss(W0))
    last = t[-1:]
    Q = _in_hidden_coordinates(sol, _factor_at(sol, last[0])[None], last)[0]
    return dict(modes=modes, loss=loss, final_weights=[Q[:sol.n_in].T, Q[sol.n_in:]])


_qqt = jax.jit(lambda Q: Q @ jnp.swapaxes(Q, -1, -2))


def _deferred_map(source):
    """The maps `(T, No, Ni)` of `(solution, t, invalid)` (NaN where `invalid`)."""
    sol, t, invalid = source
    W = _evaluate(sol, t)["map"]
    return W if invalid is None else jnp.where(invalid, jnp.nan, W)


def _deferred_weights(source):
    """The weights `[W1 (T, Nh, Ni), W2 (T, No, Nh)]` of `(solution, t)`."""
    sol, t = source
    return _evaluate(sol, t)["weights"]


def _phi(x):
    """`(1 − e^{−x})/x` for `x >= 0` (1 at 0), with accurate derivatives near 0 (series)."""
    small = x < 1e-3
    xs, xl = jnp.where(small, x, 0.0), jnp.where(small, 1.0, x)
    series = 1.0 - xs / 2.0 + xs**2 / 6.0 - xs**3 / 24.0 + xs**4 / 120.0
    return jnp.where(small, series, -jnp.expm1(-xl) / xl)


@jax.jit
def _limit_qqt(sol: TwoLayerSolution):
    mu, L, piv = sol.mu, sol.echelon, sol.pivots
    tie = _TIE_RTOL * jnp.maximum(jnp.max(jnp.abs(mu)), jnp.finfo(mu.dtype).tiny)
    mu_p = jnp.where(piv >= 0, mu[jnp.maximum(piv, 0)], -jnp.inf)
    grows = mu_p > tie
    same_group = jnp.abs(mu[:, None] - mu_p[None, :]) <= tie
    Wl = jnp.where(grows[None, :] & same_group, L, 0.0)  # columns restricted to their group
    # Σ_g 2μ_g Π_g with Π_g the projector onto the span of group g's columns.
    G = Wl.T @ Wl + jnp.diag(jnp.where(grows, 0.0, 1.0))
    proj = Wl @ jnp.linalg.solve(G, Wl.T)
    root = jnp.sqrt(2.0 * jnp.maximum(mu, 0.0))
    P = root[:, None] * proj * root[None, :]
    return sol.basis @ P @ sol.basis.T / sol.input_scale
