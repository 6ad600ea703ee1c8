"""Exact learning dynamics of deep linear networks with biases: the mode reduction.

Rubruck, Bauer, Saxe & Summerfield (2024), arXiv:2406.17467 (docs/theory/biases.md): with bias
terms a deep linear network first learns the optimal constant solution (OCS), the mean target `ȳ`,
before it learns anything about the input. `dln.solve(task, depth=D, u0=..., biases=pattern)`
computes that trajectory; this module holds the reduction it rests on (derived on the page
`docs/derivations/biases.md`).

**The network.** `h_l = W_l h_{l−1} + b_l` (`b_l` only in the layers the pattern names:
`"output"` the last, `"hidden"` all but the last, `"all"` every layer), i.e. `ŷ = M x + c` with
`M = W_D ⋯ W_1`, `c = Σ_l (W_D ⋯ W_{l+1}) b_l`; biases start at 0, the weights small, balanced and
aligned (`dln.init.aligned`). The loss depends on the data through `Σxx`, `Σyx` and the means
`x̄`, `ȳ`.

**The reduction.** Write the means in the task's modes, `ξ_α = V_αᵀ x̄`, `η_α = U_αᵀ ȳ`. Let
`Σxx` be diagonal in `V` (as for `dln.solve` without biases) and

- either `x̄ = ξ_0 V_0` lies along one mode's input direction, `ȳ = η_0 U_0` along the same
  mode's output direction (a *uniform mode*, e.g. the uniform item vector of a hierarchy of
  one-hot items, whose column sums make `1/√P` a right singular vector);
- or `x̄ = 0` (centred inputs) — then with an output bias alone any `ȳ` is allowed, and with
  hidden biases `ȳ` must lie along one mode.

Then every mode keeps its own direction: the bias of layer `l` stays along the uniform mode's
hidden direction, the offset along `U_0`, and

- every other mode follows the bias-free law `du/dt = D u^{2−2/D}(s − λu)` exactly
  (`dln.modes`);
- the uniform mode is a one-unit affine network `h_l = a_l h_{l−1} + β_l` on a scalar input `z`
  with mean `ξ`, second moment `λ`, and scalar targets with `E[yz] = s`, `E[y] = η`; its loss
  in terms of the end-to-end slope `A = Π a_l` and intercept `C = Σ_l β_l Π_{m>l} a_m` is

      ℓ(A, C) = ½E[(y − Az − C)²] = const − sA − ηC + ½(λA² + 2ξAC + C²),

  and its mode strength is `A`, the network's offset `C U_0`.

The **output bias** is a shallow path on the uniform mode, in parallel with the deep one:
`dC/dt = η − ξA − C` reaches the OCS `C ≈ η` (when `ξA ≈ 0`) in a few time units, long before
the deep modes leave their plateau. A **hidden bias** instead adds a constant input component to
the layer above: for one-hot items it multiplies the uniform item direction's input variance by
`1 + P` (docs/theory/biases.md). With no bias at all a shared input component (`x_μ = e_μ + c1`,
`dln.datasets.offset_hierarchy`) does the same through `Σxx` — no special code: `dln.solve`
without biases is exact there.

**Which parts are closed forms.** Depth 1: `(A, C)` obey the linear system
`d/dt [A, C] = [s, η] − [[λ, ξ], [ξ, 1]] [A, C]`, solved exactly (`affine_shallow`). Centred
inputs with an output bias alone: `c(t) = ȳ(1 − e^{−t})` exactly, the modes untouched. Otherwise
the uniform mode at depth ≥ 2 couples a deep path to a shallow one and has no known closed form:
its one-unit network (≤ 2D scalars) is integrated by diffrax's Dopri8 at `rtol`
(`dln.numerical_flow.integrate_statistics`), and the trajectory is labelled
`"reduced-integration"` with an error estimate — still every other mode exact and no matrix-sized
integration.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from dln import init
from dln._checks import is_concrete
from dln.methods import numerical_flow
from dln.network import affine_loss
from dln.tasks.task import Task
from dln.theory import modes as _modes
from dln.trajectory import Trajectory

__all__ = ["PATTERNS", "REDUCED_METHOD", "bias_layers", "mode_means", "inapplicable_reason",
           "affine_shallow", "solve_with_biases"]

PATTERNS = ("output", "hidden", "all")
REDUCED_METHOD = "reduced-integration"
_TOL = 1e-9  # relative size below which a component of a mean counts as 0



def bias_layers(pattern, depth: int) -> tuple[bool, ...]:
    """Which of the `depth` layers carry a bias under `pattern` (`"output"`, `"hidden"`,
    `"all"`)."""
    if pattern not in PATTERNS:
        raise ValueError(f"`biases` must be None or one of {PATTERNS} (which layers have a bias; "
                         f"or, with `weights=`, a list [b1, …, bD]); got {pattern!r}.")
    if pattern == "hidden" and depth == 1:
        raise ValueError("`biases='hidden'` needs depth >= 2: a depth-1 network has no hidden "
                         "layer (its only bias is the output bias, biases='output').")
    if pattern == "output":
        return (False,) * (depth - 1) + (True,)
    if pattern == "hidden":
        return (True,) * (depth - 1) + (False,)
    return (True,) * depth


@dataclasses.dataclass(frozen=True)
class ModeMeans:
    """The data means in the task's modes: `x̄ = V ξ + x̄⊥`, `ȳ = U η + ȳ⊥` (numpy arrays), and
    which modes carry a mean (`coupled`: `ξ_α ≠ 0` or `η_α ≠ 0`; components below 1e-9 of the
    RMS input norm `√tr Σxx`, or target norm `√tr Σyy`, count as 0)."""

    xi: np.ndarray
    eta: np.ndarray
    x_perp: float
    y_perp: np.ndarray
    coupled: tuple[int, ...]
    input_mean: bool  # x̄ ≠ 0


def mode_means(task: Task) -> ModeMeans:
    """`ξ = Vᵀx̄`, `η = Uᵀȳ` and the parts of the means outside the modes."""
    if task.x_mean is None or task.y_mean is None:
        raise ValueError("a network with biases needs the data means x̄ and ȳ, which this task "
                         "does not know (it was built from correlations). Build it with "
                         "dln.Task.from_data(X, Y).")
    try:
        xm, ym = np.asarray(task.x_mean), np.asarray(task.y_mean)
        U, V = np.asarray(task.U), np.asarray(task.V)
    except jax.errors.TracerArrayConversionError as err:
        raise TypeError("solve() with `biases` checks the task's means for the mode reduction "
                        "and needs a concrete task (not traced under jit/vmap/grad); trace "
                        "through `t` and `u0` only.") from err
    xi, eta = V.T @ xm, U.T @ ym
    x_perp = float(np.linalg.norm(xm - V @ xi))
    y_perp = ym - U @ eta
    # sizes against which a component counts as 0: the RMS input and target norms
    tx = _TOL * max(float(np.sqrt(np.trace(np.asarray(task.sigma_xx)))), np.finfo(float).tiny)
    y_size = (np.linalg.norm(ym) if task.sigma_yy is None
              else np.sqrt(np.trace(np.asarray(task.sigma_yy))))
    ty = _TOL * max(float(y_size), np.finfo(float).tiny)
    xi = np.where(np.abs(xi) > tx, xi, 0.0)
    eta = np.where(np.abs(eta) > ty, eta, 0.0)
    y_perp = np.where(np.abs(y_perp) > ty, y_perp, 0.0)
    coupled = tuple(int(a) for a in np.flatnonzero((xi != 0) | (eta != 0)))
    return ModeMeans(xi=xi, eta=eta, x_perp=x_perp if x_perp > tx else 0.0, y_perp=y_perp,
                     coupled=coupled, input_mean=bool(np.any(xi != 0)) or x_perp > tx)


def inapplicable_reason(task: Task, depth: int, pattern) -> str | None:
    """Why the mode reduction with biases does not hold for this task (None when it does)."""
    if task.input_aligned is not True:
        return _NOT_ALIGNED
    return _reason(bias_layers(pattern, depth), mode_means(task))


_NOT_ALIGNED = ("sigma_xx is not diagonal in the task's right singular basis V, so the modes "
                "couple (whiten the inputs, or use one-hot items)")


def _reason(layers, m: ModeMeans) -> str | None:
    """`inapplicable_reason` for an input-aligned task, from its bias layers and mode means."""
    hidden, output = any(layers[:-1]), layers[-1]
    if m.x_perp:
        return ("the input mean x̄ has a component outside the task's input directions V "
                f"(size {m.x_perp:.3g}), which the offset would couple to every mode")
    if m.input_mean:
        if len(m.coupled) > 1:
            return (f"the means x̄, ȳ spread over modes {list(m.coupled)}: the reduction needs "
                    "x̄ along one mode's input direction V_α and ȳ along the same mode's U_α "
                    "(a uniform mode)")
        if output and np.any(m.y_perp):
            return ("the mean target ȳ has a part outside the task's output directions U, which "
                    "the output bias would couple to the input mean")
    elif hidden and len(m.coupled) > 1:
        return (f"with centred inputs, hidden biases keep the modes apart only if ȳ lies along "
                f"one mode; here it spreads over modes {list(m.coupled)}")
    return None


def affine_shallow(t, lam, s, xi, eta, A0, C0=0.0):
    """Exact depth-1 trajectory of the slope and intercept `(A, C)` of one mode with an output
    bias: `d/dt [A, C] = [s, η] − M [A, C]`, `M = [[λ, ξ], [ξ, 1]]` (positive semi-definite,
    `λ ≥ ξ²`), so `x(t) = e^{−Mt} x0 + Σ_i q_i q_iᵀ (1 − e^{−m_i t})/m_i [s, η]` over the
    eigenpairs `(m_i, q_i)` of `M` (`t` itself where `m_i = 0`). Returns `(A, C)`, each shaped
    like `t`."""
    dtype = jnp.result_type(t, lam, s, float)
    M = jnp.array([[lam, xi], [xi, 1.0]], dtype)
    m, Q = jnp.linalg.eigh(M)
    m = jnp.maximum(m, 0.0)
    t = jnp.asarray(t, dtype)[..., None]
    mt = m * t
    decay = jnp.exp(-mt)
    safe = jnp.where(m > 0, m, 1.0)
    phi = jnp.where(mt > 1e-12, -jnp.expm1(-mt) / safe, t)  # (1 − e^{−mt})/m, → t at m = 0
    x0 = Q.T @ jnp.array([A0, C0], dtype)
    b = Q.T @ jnp.array([s, eta], dtype)
    x = (decay * x0 + phi * b) @ Q.T
    return x[..., 0], x[..., 1]


def solve_with_biases(task: Task, depth: int, u0, pattern, t, *, rtol: float = 1e-11,
                      full_flow: bool = False, weight_decay=0.0) -> Trajectory:
    """The trajectory of `dln.solve(task, depth=depth, u0=u0, biases=pattern, t=t)`.

    `u0` `(K,)` and `t` `(T,)` are checked arrays. Exact where the reduction holds (see the
    module docstring), `"reduced-integration"` for a deep uniform mode, and the full
    `"numerical-flow"` from `dln.init.aligned` weights with zero biases where it does not, or
    when asked for (`full_flow`), or with weight decay `γ > 0` (which the reduction does not
    cover).
    """
    layers = bias_layers(pattern, depth)
    if full_flow or task.input_aligned is not True or not (
            is_concrete(weight_decay) and float(weight_decay) == 0.0):
        return _full_flow(task, depth, u0, layers, t, rtol, weight_decay)
    m = mode_means(task)
    if _reason(layers, m) is not None:
        return _full_flow(task, depth, u0, layers, t, rtol, weight_decay)
    dtype = jnp.result_type(u0, task.s)
    modes = _modes.jit_trajectory(t[:, None], task.s, task.input_variance, u0, depth=depth)
    offset = jnp.zeros(t.shape + (task.n_out,), dtype)
    method, error = _modes.method_name(depth), None
    if layers[-1] and np.any(m.y_perp):  # dc⊥/dt = ȳ⊥ − c⊥ (only with x̄ = 0, see above)
        offset = offset - jnp.expm1(-t)[:, None] * jnp.asarray(m.y_perp, dtype)
    if not m.input_mean and not any(layers[:-1]):
        # centred inputs, output bias only: c(t) = ȳ(1 − e^{−t}), the modes untouched
        offset = offset - jnp.expm1(-t)[:, None] * (task.U @ jnp.asarray(m.eta, dtype))
    elif m.coupled:
        (k,) = m.coupled
        args = (task.input_variance[k], task.s[k], m.xi[k], m.eta[k])
        if depth == 1:
            A, C = affine_shallow(t, *args, u0[k])
        else:
            A, C, error = _unit_flow(t, *args, u0[k], layers, rtol)
            method = REDUCED_METHOD
        modes = modes.at[:, k].set(A)
        offset = offset + C[:, None] * task.U[:, k]
    W = task.map_from_modes(modes)
    return Trajectory(t=t, modes=modes, loss=affine_loss(task, W, offset), task=task,
                      method=method, depth=depth, u0=u0, stored_map=W, offset=offset,
                      error_estimate=error)


def _unit_flow(t, lam, s, xi, eta, u0, layers, rtol):
    """The uniform mode's one-unit affine network (`1×1` weights `u0^{1/D}`, zero biases),
    integrated by diffrax's Dopri8; returns its slope `A`, intercept `C` and error estimate
    `(T,)`."""
    depth = len(layers)
    dtype = jnp.result_type(t, float)
    one = lambda v: jnp.full((1, 1), v, dtype)  # noqa: E731
    a = jnp.asarray(u0, dtype) ** (1.0 / depth)
    weights = [one(a) for _ in layers]
    biases = [jnp.zeros((1,), dtype) if h else None for h in layers]
    stats = (one(lam), one(s), jnp.full((1,), xi, dtype), jnp.full((1,), eta, dtype))
    # The biases start at 0, so a purely relative tolerance has no scale at first: add an
    # absolute one at `rtol` × the size of the solution (the targets `s/λ`, `η`).
    # (a tolerance, not a result: no derivative through it; traceable, for jax.grad over u0)
    size = jax.lax.stop_gradient(functools.reduce(jnp.maximum, [
        jnp.abs(jnp.asarray(eta, dtype)), jnp.abs(s) / jnp.maximum(lam, 1e-300),
        jnp.asarray(u0, dtype), jnp.asarray(1e-300, dtype)]))
    _, _, A, C, error, _, _ = numerical_flow.integrate_statistics(
        weights, biases, t, stats, rtol=rtol, atol=rtol * size)
    return A[:, 0, 0], C[:, 0], error


def _full_flow(task, depth, u0, layers, t, rtol, weight_decay=0.0):
    weights = init.aligned(task, depth, u0=u0)
    dtype = weights[0].dtype
    biases = [jnp.zeros((W.shape[0],), dtype) if h else None for W, h in zip(weights, layers)]
    traj = numerical_flow.integrate(task, weights, t, biases=biases, rtol=rtol,
                                    weight_decay=weight_decay)
    return dataclasses.replace(traj, u0=u0)
