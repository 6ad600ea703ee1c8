"""`dln.solve`: the exact gradient-flow trajectory of a deep linear network."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from dln import init as _init
from dln import methods
from dln._checks import (
    as_array,
    check_depth,
    check_times,
    check_weight_decay,
    is_concrete,
)
from dln.methods import numerical_flow
from dln.network import check_weights, product
from dln.protocol import Protocol
from dln.protocol.deficits import Blur
from dln.tasks.task import Task, loss_of_strengths, modes_coupled
from dln.theory import biases as _biases
from dln.theory import competition, riccati
from dln.theory import modes as _modes
from dln.theory.input_deficits import blurred_modes
from dln.trajectory import Trajectory, phase_trajectory

__all__ = ["solve"]


def solve(task: Task | Protocol, *, depth: int | None = None, u0: ArrayLike | None = None,
          t: ArrayLike | None = None, weights: Sequence[ArrayLike] | None = None,
          biases: str | Sequence[ArrayLike | None] | None = None, weight_decay: ArrayLike = 0.0,
          method: str | methods.Method = "auto", rtol: float | None = None) -> Trajectory:
    """Exact learning trajectory of a deep linear network under gradient flow.

    Two kinds of initial condition:

    - `depth` and `u0`: small, balanced weights aligned with the task (the mode solutions below).
    - `weights=[W1, …, WD]`: any initial weights. Two λ-balanced layers
      (`W2ᵀW2 − W1W1ᵀ = λI`, λ = 0 included) with isotropic input `sigma_xx = c·I` give the exact
      matrix Riccati solution (`dln.riccati`; method `"exact-riccati"`, modes whose sign opposes
      the target flagged in `stalled`). Anything else has no closed form: the flow is integrated
      numerically at relative tolerance `rtol` (`dln.numerical_flow`; method
      `"numerical-flow"`, with `error_estimate`), never labelled exact. `final_weights` of the
      result seed the next call (task switches, curricula).

    The network `ŷ = W_D ⋯ W_1 x` (`depth = D` weight matrices) starts from small, balanced
    weights aligned with the task's modes (`dln.init.aligned(task, depth, u0=u0)`), and follows
    `dW_l/dt = −∂L/∂W_l` on `L = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²`; flow time is `t = lr × steps` of
    gradient descent. Then every mode α evolves on its own (Saxe, McClelland & Ganguli 2014;
    docs/theory/modes.md),

        du_α/dt = D u_α^{2 − 2/D} (s_α − λ_α u_α),

    where `λ_α` is the input variance along the mode (1 for whitened input), with the closed
    forms of `dln.modes`: exponential (D = 1), logistic (D = 2), and for D ≥ 3 the exact
    implicit solution `t(u)` inverted to float64 precision.

    Args:
      task: a `dln.Task` whose `sigma_xx` is diagonal in its right singular basis (whitened
        input, one-hot items, ...). Other inputs couple the modes and raise an error (or take
        `method="numerical-flow"`). Or a `dln.Protocol` (`dln.protocol`): its architecture
        gives `depth` (and `biases`); one phase is solved as its task, with records after the
        phase's end holding the final state; several phases are chained, each phase solved by
        the methods below from the final weights of the one before (eagerly, with concrete
        `t`; default `t`: the phase boundaries); pathways and deficits are solved by the exact
        competition (`dln.theory.competition`, `u0` one entry per pathway).
      depth: number of weight matrices, `>= 1` (a Python int).
      u0: initial strength of each mode in the map: a scalar or shape `(K,)`; `>= 0` for
        `depth >= 2` (layers `a = u0^{1/D}`). `u0` may exceed the target `s/λ`.
      t: flow times, `(T,)` or a scalar, `>= 0`, any order.
      biases: None (no biases), or which layers carry a bias that starts at 0: `"output"`
        (the last), `"hidden"` (all but the last), `"all"`. The network is then
        `h_l = W_l h_{l−1} + b_l`, `ŷ = map · x + offset`, and the trajectory gains `offset`
        `(T, No)` (Rubruck et al. 2024; `dln.biases`). Exact where the mode reduction holds
        (the means `x̄`, `ȳ` along one mode, e.g. the uniform item mode of a hierarchy, or
        centred inputs): every other mode keeps its closed form, and the mode carrying the
        means is exact at depth 1 or with centred inputs and an output bias, else its one-unit
        network is integrated (method `"reduced-integration"`, with `error_estimate`). Where the
        reduction fails, the full flow from `dln.init.aligned` weights is integrated
        (`"numerical-flow"`). Needs a task with its data (`Task.from_data`). With `weights=`,
        pass a list `[b1, …, bD]` (entries None or `(out,)`) instead: the flow of weights and
        biases together is integrated (`"numerical-flow"`).
      weight_decay: `γ >= 0`, an L2 penalty `½γ Σ_l ||W_l||²` (and on biases), so that
        `dW_l/dt = −∂L/∂W_l − γW_l`; each aligned mode then obeys
        `du/dt = D u^{2−2/D}(s − λu) − Dγu` (closed forms at depth 1 and 2; at depth ≥ 3 it is
        integrated, method `"reduced-integration"`; modes below `dln.modes.weight_decay_threshold`
        are lost). From two balanced layers `weights=[W1, W2]` (`W2ᵀW2 = W1W1ᵀ`) on whitened
        or isotropic input, the two-layer closed form with decay (`"exact-riccati"`, every
        eigenvalue `μ → μ − γ`); from other weights or with `biases=`, the flow is integrated
        (`"numerical-flow"`). The recorded `loss` is the data loss, without the penalty.
      method: how to compute it (`dln.methods`): `"auto"` (default), a name that
        `Trajectory.method` reports (`"exact-exponential"`, `"exact-logistic"`,
        `"exact-implicit"`, `"exact-riccati"`, `"reduced-integration"`, `"numerical-flow"`), or
        a method object carrying its options, e.g. `dln.methods.NumericalFlow(rtol=1e-12)`. A
        method whose assumptions the input breaks raises a `ValueError` naming the assumption.
        `"auto"` takes the first that applies: with `weights=`, `"exact-riccati"` then
        `"numerical-flow"`; with `depth` and `u0`, the mode closed form (with `biases=`, the
        mode reduction, else `"numerical-flow"`). `"numerical-flow"` applies to anything,
        including `depth` and `u0` on a task whose input couples the modes (from
        `dln.init.aligned` weights).
      rtol: relative tolerance of the integrating methods when `method` is a name or
        `"auto"` (default 1e-11); with a method object, set it there.

    Returns:
      A `Trajectory` with `t (T,)`, `modes (T, K)`, `map (T, No, Ni)`, `loss (T,)`, the
      `method` used, `time_to(fraction)` and `weights(bases)`.

    `solve` is a pure function of arrays: it works under `jax.jit`, `jax.vmap` and `jax.grad`
    (with respect to `t`, `u0` and the task's arrays), with `depth` static.

    Under tracing no closed form is used on assumptions left unchecked. `"auto"` decides on what
    is known without values: traced `weights=` cannot be checked for λ-balance, so they take
    `"numerical-flow"` (valid for any weights). A closed form asked for by name, or the mode
    solution of a task built from traced values, checks its assumptions inside the computation
    and returns NaN where they fail (the eager call raises). `t = 0` returns the initial
    condition exactly for every method.
    """
    if (weights is None and biases is None and rtol is None and isinstance(task, Task)
            and (type(method) is methods.ModeSolution or type(method) is str and (
                method == "auto" or method in methods.ModeSolution.names
                and type(depth) is int and method == _modes.method_name(depth)))):
        traj = _fast_modes(task, depth, u0, t, weight_decay)
        if traj is not None:
            return traj
    if isinstance(task, Protocol):
        return _solve_protocol(task, depth=depth, u0=u0, t=t, weights=weights, biases=biases,
                               weight_decay=weight_decay, method=method, rtol=rtol)
    if not isinstance(task, Task):
        raise TypeError(
            f"`task` must be a dln.Task or a dln.Protocol, got {type(task).__name__}; build one "
            "with dln.Task(sigma_xx, sigma_yx) or dln.Task.from_data(X, Y)."
        )
    method, name = methods.resolve(method, rtol)
    decay = check_weight_decay(weight_decay)
    if weights is not None:
        return _solve_from_weights(task, weights, t, depth, u0, biases, method, name, decay)
    if depth is None or u0 is None:
        raise TypeError("solve() needs either `depth` and `u0` (aligned small init) or "
                        "`weights=[W1, …, WD]` (any initial weights).")
    depth = check_depth(depth)
    t = check_times(t)
    u0 = _check_u0(task, depth, u0)
    if biases is not None:
        if isinstance(biases, (list, tuple)):
            raise TypeError("with `u0` (aligned init), `biases` names which layers carry a bias: "
                            f"one of {_biases.PATTERNS}, all starting at 0; got a list. Pass "
                            "a list [b1, …, bD] of initial biases together with `weights=`.")
        return _solve_with_biases(task, depth, u0, biases, t, method, name, decay)
    if isinstance(method, methods.NumericalFlow):
        return _aligned_flow(task, depth, u0, t, method, decay)
    if isinstance(method, methods.Riccati):
        if depth != 2:
            raise ValueError(f"`method` {_label(method, name)} is the two-layer solution; got "
                             f"depth {depth}. Use method='auto' or 'numerical-flow'.")
        traj = _riccati(task, _init.aligned(task, 2, u0=u0), t, method, decay)
        return dataclasses.replace(traj, u0=u0)
    deep_decay = decay is not None and depth >= 3  # integrated: no closed form
    if isinstance(method, methods.ReducedIntegration) and not deep_decay:
        raise ValueError(f"`method` {_label(method, name)} integrates the mode that carries the "
                         "means of a network with biases, or the modes of a deep network with "
                         "weight decay; pass `biases=` ('output', 'hidden' or 'all') or "
                         "`weight_decay=`, or use method='auto'.")
    if isinstance(method, methods.ModeSolution) and deep_decay:
        raise ValueError(f"`method` {_label(method, name)}: with weight decay a mode at depth "
                         f"{depth} has no closed form; it is integrated, method "
                         "'reduced-integration' (or 'auto').")
    # the mode solution ("auto" or asked for)
    if isinstance(method, methods.ModeSolution):
        _check_mode_name(name, depth)
    if task.input_aligned is False:
        raise ValueError(
            "solve(): the exact mode solution needs `sigma_xx` to be diagonal in the task's "
            "right singular basis V (whitened input, or e.g. one-hot items); this task's "
            "sigma_xx couples the modes. Integrate the flow from the same aligned weights with "
            "method='numerical-flow', whiten the inputs (X → X Σxx^{-1/2}: dln.whiten(X), or "
            "dln.Task.from_data(X, Y, whiten=True)), or simulate the "
            "network with dln.simulate."
        )
    m, loss = _mode_kernel(t, *task._mode_constants, u0, decay, depth=depth)
    if task.input_aligned is None:  # a task built from traced values: checked in the computation
        coupled = modes_coupled(task.sigma_xx, task.V, task.input_variance)
        m, loss = jnp.where(coupled, jnp.nan, m), jnp.where(coupled, jnp.nan, loss)
    return Trajectory(
        t=t, modes=m, loss=loss, task=task,
        method=_modes.method_name(depth, weight_decay=decay is not None), depth=depth, u0=u0,
        weight_decay=decay,
    )


# ------------------------------------------------------------------- the mode solution, fast
@functools.partial(jax.jit, static_argnames=("depth", "branches"))
def _mode_kernel(t, s, lam, targets, base, u0, decay, depth, branches=None):
    """Modes `(T, K)` and loss `(T,)` of the mode solution in one compiled call (compiled once
    per depth, shapes, presence of weight decay and `branches`; inlined when `solve` is traced).
    `branches` (concrete values): the branches some mode needs, of the closed form at depth 1
    and 2 (`_modes._branches`), of `_modes._deep_trajectory` above; None: all."""
    if branches is None:
        m = _modes.trajectory(t[:, None], s, lam, u0, depth,
                              weight_decay=0.0 if decay is None else decay)
    elif depth <= 2:
        m = _modes._closed_form(s, lam, u0, depth, decay, jnp, branches)(t[:, None])
    else:
        m = _modes._deep_trajectory(t[:, None], s, lam, u0, depth, branches)
    return m, loss_of_strengths(m, lam, targets, base)


# Up to this many entries (times × modes) a concrete eager call on the CPU is evaluated with
# numpy: a compiled call's fixed cost (~20–50 µs) exceeds numpy's whole work there.
_NUMPY_ENTRIES = 4096


@functools.cache
def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def _fast_modes(task, depth, u0, t, weight_decay):
    """`solve(task, depth=, u0=, t=)` (with a concrete float `weight_decay`) for concrete,
    valid numpy or Python inputs: checked with numpy alone (no jax operation), evaluated with
    numpy for small problems on the CPU (`_modes._closed_form`, `_modes._deep_np`), else by one
    compiled call (`_mode_kernel`); `t`, `u0`, `modes` and `loss` come back as numpy arrays on
    the numpy path. None for anything else (traced values, other types, invalid or unusual
    input): `solve`'s general path then handles it, and raises where the input is wrong."""
    if type(depth) is not int or depth < 1 or task.input_aligned is not True:
        return None
    if type(weight_decay) not in (float, int) or not 0.0 <= weight_decay < math.inf:
        return None
    decay = float(weight_decay) if weight_decay else None
    if decay is not None and depth >= 3:  # integrated ("reduced-integration")
        return None
    constants = task._mode_constants
    s = constants[0]
    if not isinstance(s, np.ndarray) or s.dtype != np.float64:
        return None
    K = s.shape[0]
    if type(u0) in (float, int):  # the common scalar, checked in Python
        try:
            u0_key = float(u0)
        except OverflowError:  # an int beyond float64: the general path names the argument
            return None
        if not (math.isfinite(u0_key) and (depth == 1 or u0_key >= 0.0)):
            return None
    else:
        u0 = _plain_floats(u0)
        if u0 is None or u0.shape not in ((), (K,)) or not (
                -math.inf < u0.min() and u0.max() < math.inf and (depth == 1 or u0.min() >= 0.0)):
            return None
        u0_key = u0.tobytes()
    t = _plain_floats(t)
    if t is None or t.ndim > 1 or t.size == 0:
        return None
    high = np.maximum.reduce(t, axis=None)
    if not (np.minimum.reduce(t, axis=None) >= 0.0 and high < math.inf):
        return None
    if t.ndim == 0:
        t = t.reshape(1)
    # the per-mode part once per task, depth, decay and u0
    u0, at, t_quiet, branches = task._memo(("solve", depth, decay, u0_key),
                                           lambda: _numpy_solution(constants, u0, depth, decay))
    if t.size * K <= _NUMPY_ENTRIES and _on_cpu():
        _, lam, targets, base = constants
        if high <= t_quiet:
            m = at(t[:, None])
            loss = loss_of_strengths(m, lam, targets, base, np)
        else:
            with np.errstate(all="ignore"):  # (overflow to the limits is intended)
                m = at(t[:, None])
                loss = loss_of_strengths(m, lam, targets, base, np)
    else:  # compiled without the branches no mode needs
        m, loss = _mode_kernel(t, *constants, u0, decay, depth=depth, branches=branches)
    return _trajectory(t=t, modes=m, loss=loss, task=task,
                       method=_modes.method_name(depth, weight_decay=decay is not None),
                       depth=depth, u0=u0, weight_decay=decay)


def _numpy_solution(constants, u0, depth, decay):
    """`(u0, u(t), t_quiet, branches)`: `u0` `(K,)` (a copy), the mode solution as a numpy
    function of times `(T, 1)`, the largest time up to which no intermediate value can overflow
    (every product of two quantities stays below 1e200: no floating-point warning to silence),
    and the branches of the solution these modes need (for `_mode_kernel`)."""
    s, lam, targets = constants[:3]
    u0 = np.array(np.broadcast_to(u0, s.shape), dtype=np.float64)
    u0.setflags(write=False)  # shared by the cached solution and every result's `u0`
    with np.errstate(all="ignore"):
        if depth <= 2:
            at, rates = _modes._closed_form(s, lam, u0, depth, decay, np), 0.0
            branches = _modes._branches(at)
        else:
            at, rates, branches = _modes._deep_np(s, lam, u0, depth)
    scale = max(1.0, np.abs(u0).max(), np.abs(s).max(), lam.max(), np.abs(targets).max(),
                decay or 0.0, rates)
    return u0, at, 1e100 / scale if scale <= 1e100 else -1.0, branches


def _plain_floats(x):
    """`x` as a float64 numpy array when it is a plain real number or array (numpy, Python
    scalars or lists), else None."""
    try:
        if type(x) in (float, int):
            return np.array(x, dtype=np.float64)
        if isinstance(x, (np.ndarray, list, tuple)):
            arr = np.asarray(x)
            if arr.dtype.kind in "fiu" and arr.dtype != np.float16:
                return arr.astype(np.float64)  # a copy: the result never aliases the input
    except (TypeError, ValueError, OverflowError):  # the general path names the argument
        return None
    return None


_TRAJECTORY_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Trajectory)
                        if f.default is not dataclasses.MISSING}


def _trajectory(**fields) -> Trajectory:
    """`Trajectory(**fields)` without the frozen dataclass's `__init__`, whose 27 guarded
    assignments cost about 10 µs, a small call's whole budget (Trajectory has no
    `__post_init__`: the result is the same object)."""
    traj = object.__new__(Trajectory)
    traj.__dict__.update(_TRAJECTORY_DEFAULTS, **fields)
    return traj


def _check_u0(task, depth, u0):
    """`u0` as `(K,)` mode strengths of a balanced aligned network (>= 0 at depth >= 2)."""
    K = task.n_modes
    u0 = as_array(u0, "u0", ndim=(0, 1))
    if u0.ndim == 1 and u0.shape != (K,):
        raise ValueError(
            f"`u0` must be a scalar or have shape ({K},) (one value per mode), got "
            f"{tuple(u0.shape)}."
        )
    u0 = jnp.broadcast_to(u0, (K,)).astype(jnp.result_type(u0, task.s))
    if depth >= 2 and is_concrete(u0) and bool(jnp.any(u0 < 0)):
        raise ValueError(
            f"`u0` must be >= 0 for depth {depth}: a balanced aligned network has u = a^D with "
            "the same a in every layer, and gradient flow cannot change the sign of a mode "
            "(a sign-reversed mode stalls at the saddle u = 0). Use depth 1 or a positive u0."
        )
    return u0


def _label(method, name):
    return repr(name) if name is not None else type(method).__name__ + "()"


def _check_mode_name(name, depth):
    """A depth-specific closed form asked for by name must be the one of this depth."""
    if name is not None and name != _modes.method_name(depth):
        raise ValueError(f"`method` {name!r} is not the closed form at depth {depth}: that is "
                         f"{_modes.method_name(depth)!r} (or use method='auto').")


def _aligned_flow(task, depth, u0, t, method, decay):
    """The full flow from `dln.init.aligned` weights, integrated: valid for any input."""
    weights = _init.aligned(task, depth, u0=u0)
    traj = numerical_flow.flow_trajectory(task, weights, t, rtol=method.rtol,
                                          weight_decay=0.0 if decay is None else decay)
    return dataclasses.replace(traj, u0=u0)


def _solve_with_biases(task, depth, u0, pattern, t, method, name, decay):
    if isinstance(method, methods.Riccati):
        raise ValueError(f"`method` {_label(method, name)} has no biases; use method='auto', "
                         "'reduced-integration' or 'numerical-flow'.")
    rtol = getattr(method, "rtol", methods.NumericalFlow().rtol)
    if isinstance(method, methods.NumericalFlow) or (method == "auto" and decay is not None):
        return _biases.solve_with_biases(task, depth, u0, pattern, t, rtol=rtol, full_flow=True,
                                         weight_decay=0.0 if decay is None else decay)
    if decay is not None:
        raise ValueError(f"`method` {_label(method, name)}: the mode reduction with biases does "
                         "not cover weight decay; use method='auto' or 'numerical-flow'.")
    if method != "auto":  # the mode reduction was asked for: it must hold
        _check_mode_name(name, depth) if isinstance(method, methods.ModeSolution) else None
        reason = _biases.inapplicable_reason(task, depth, pattern)
        if reason is not None:
            raise ValueError(f"`method` {_label(method, name)} needs the mode reduction of a "
                             f"network with biases, which fails here: {reason} Use "
                             "method='numerical-flow' (or 'auto').")
    traj = _biases.solve_with_biases(task, depth, u0, pattern, t, rtol=rtol)
    wanted = {methods.ModeSolution: _modes.method_name(depth),
              methods.ReducedIntegration: methods.ReducedIntegration.names[0]}
    if method != "auto" and traj.method != wanted[type(method)]:
        raise ValueError(f"`method` {_label(method, name)} does not apply: with these biases "
                         f"the mode that carries the means needs {traj.method!r}; ask for that, "
                         "or use method='auto'.")
    return traj


def _riccati(task, weights, t, method, decay=None):
    """The two-layer closed form (with weight decay `decay`: balanced weights only), with its
    assumptions checked: eagerly (raising), or inside the computation (NaN where they fail) when
    the values are traced."""
    gamma = 0.0 if decay is None else decay
    concrete = is_concrete(task, weights, gamma)
    try:  # checks concrete assumptions once (they raise); the reason is worded here
        solution = riccati.two_layer_solution(task, weights, stall_rtol=method.stall_rtol,
                                              balance_rtol=method.balance_rtol,
                                              weight_decay=gamma)
    except ValueError:
        if concrete and (reason := riccati.inapplicable_reason(
                task, weights, balance_rtol=method.balance_rtol,
                weight_decay=gamma)) is not None:
            raise ValueError(f"`method` 'exact-riccati' does not apply: {reason} Use "
                             "method='auto' or 'numerical-flow'.") from None
        raise
    bad = None if concrete else ~riccati.applies(task, weights, balance_rtol=method.balance_rtol,
                                                 weight_decay=gamma)
    return solution.trajectory(t, invalid=bad)  # modes, loss and maps NaN where `bad`


def _solve_from_weights(task, weights, t, depth, u0, biases, method, name, decay) -> Trajectory:
    if u0 is not None:
        raise TypeError("pass either `u0` (aligned init) or `weights`, not both.")
    if not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise TypeError("`weights` must be a non-empty list [W1, …, WD] of (out, in) matrices, "
                        f"got {type(weights).__name__}.")
    if depth is not None and check_depth(depth) != len(weights):
        raise ValueError(f"`depth` = {depth} but `weights` holds {len(weights)} matrices; "
                         "leave `depth` out when passing weights.")
    if isinstance(method, (methods.ModeSolution, methods.ReducedIntegration)):
        raise ValueError(f"`method` {_label(method, name)} solves from `depth` and `u0` (balanced "
                         "weights aligned with the task); with `weights=` use 'auto', "
                         "'exact-riccati' (two λ-balanced layers) or 'numerical-flow'.")
    rtol = getattr(method, "rtol", methods.NumericalFlow().rtol)
    gamma = 0.0 if decay is None else decay
    if biases is not None:
        if isinstance(biases, str):
            raise TypeError(f"with `weights=`, `biases` must be a list [b1, …, bD] of initial "
                            f"biases (entries None or (out,) vectors), got {biases!r}; a "
                            "pattern name goes with `depth` and `u0`.")
        if isinstance(method, methods.Riccati):
            raise ValueError("`method` 'exact-riccati' has no biases; use 'auto' or "
                             "'numerical-flow'.")
        return numerical_flow.flow_trajectory(task, weights, t, biases=biases, rtol=rtol,
                                              weight_decay=gamma)
    if isinstance(method, methods.Riccati):
        if len(weights) != 2:
            raise ValueError(f"`method` 'exact-riccati' is the two-layer solution; `weights` "
                             f"holds {len(weights)} matrices. Use 'auto' or 'numerical-flow'.")
        return _riccati(task, weights, check_times(t), method, decay)
    # "auto": the closed form where its assumptions are checked on values, else the flow.
    if method == "auto" and len(weights) == 2 and is_concrete(task, weights, gamma) \
            and riccati.inapplicable_reason(task, weights, weight_decay=gamma) is None:
        return _riccati(task, weights, check_times(t), methods.Riccati(), decay)
    return numerical_flow.flow_trajectory(task, weights, t, rtol=rtol, weight_decay=gamma)


# ------------------------------------------------------------------------------- protocols
def _solve_protocol(protocol, *, depth, u0, t, weights, biases, weight_decay, method, rtol):
    """`dln.solve` of a `dln.Protocol`: one phase by the methods above (records after a
    phase's end hold its final state), several phases chained through their final weights,
    pathways and deficits by the exact competition."""
    arch = protocol.architecture
    if depth is not None and check_depth(depth) != arch.depth:
        raise ValueError(f"`depth` = {depth!r} disagrees with the protocol's depth {arch.depth}; "
                         "leave `depth` out when solving a protocol.")
    if biases is not None and arch.biases is not None:
        raise ValueError("give `biases` in the protocol's architecture or to solve(), not both.")
    biases = arch.biases if biases is None else biases
    if weights is not None and isinstance(weights, (list, tuple)) and protocol.plain \
            and len(weights) != arch.depth:
        raise ValueError(f"`weights` holds {len(weights)} matrices but the protocol's depth is "
                         f"{arch.depth}.")
    if protocol.input_deficit is not None:
        return _solve_input_deficit(protocol, u0=u0, t=t, weights=weights, biases=biases,
                                    weight_decay=weight_decay, method=method, rtol=rtol)
    if not protocol.plain:
        return _solve_competition(protocol, u0, t, weights, biases, weight_decay, method, rtol)
    options = dict(biases=biases, weight_decay=weight_decay, method=method, rtol=rtol)
    if protocol.n_phases == 1 and protocol.open_ended:  # one phase without end: its task
        return solve(protocol.task, depth=None if weights is not None else arch.depth, u0=u0,
                     t=t, weights=weights, **options)
    if biases is not None:
        raise ValueError("`biases` in a protocol whose phases end have no exact engine: phases "
                         "are chained through their final weights only. Use one phase without "
                         "end, or simulate it with dln.simulate(protocol, weights, lr=...).")
    if (weights is None) == (u0 is None):
        raise TypeError("solve() needs either `u0` (aligned small init, from the first phase's "
                        "task) or `weights=[W1, …, WD]` to start a protocol, not both.")
    if weights is None:  # the first phase from its mode solution; its final weights aligned
        weights = _init.aligned(protocol.task, arch.depth, u0=u0)
    weights = check_weights(protocol.task, weights, allow_batch=False)
    bounds = protocol.bounds
    if t is None:
        if protocol.open_ended:
            raise TypeError("the protocol's last phase has no end: pass the record times `t`.")
        t = np.unique(bounds)
    t = check_times(t)
    if not is_concrete(t):
        raise TypeError("solving several phases chains them eagerly: pass concrete `t`.")
    t = np.asarray(t, dtype=float)
    tasks = protocol.tasks
    first = None if u0 is None else (arch.depth, u0)
    runs = [_solve_phases(tasks, b, list(weights), t, options, first) for b in bounds]
    phase_methods = tuple(_merge(ms) for ms in zip(*[r["methods"] for r in runs]))
    batched = protocol.batched
    stack = (lambda key: np.stack([r[key] for r in runs])) if batched else \
        (lambda key: runs[0][key])
    numerical = any("numerical-flow" in m or "reduced-integration" in m for m in phase_methods)
    return phase_trajectory(
        t=jnp.asarray(t), maps=jnp.asarray(stack("map")), tasks=tasks, phase=stack("phase"),
        bounds=bounds if batched else bounds[0],
        final_weights=[jnp.asarray(np.stack([r["final"][i] for r in runs]) if batched
                                   else runs[0]["final"][i]) for i in range(len(weights))],
        phase_methods=phase_methods, stalled=jnp.asarray(stack("stalled")),
        error_estimate=jnp.asarray(stack("error")) if numerical else None)


def _merge(methods):
    """One phase's method over a batch of protocols."""
    kinds = sorted(set(methods) - {"skipped"}) or ["skipped"]
    return kinds[0] if len(kinds) == 1 else "+".join(kinds)


def _solve_phases(tasks, bounds, weights, t, options, first=None):
    """The flow through phases ending at `bounds[1:]`, each phase solved by `solve` from the
    final weights of the one before; records `t` (numpy), after the end the final map.
    `first = (depth, u0)`: the first phase from the aligned init by its mode solution, its
    final weights the balanced aligned ones of its final mode strengths (`weights` are then
    `dln.init.aligned` of the same `u0`: the same network)."""
    n_out, n_in = tasks[0].n_out, tasks[0].n_in
    maps = np.zeros((len(t), n_out, n_in))
    error = np.zeros(len(t))
    stalled = np.zeros((len(tasks), tasks[0].n_modes), bool)
    methods_used, carried = [], 0.0
    phase = np.searchsorted(bounds[1:], t, side="left")
    for p, task in enumerate(tasks):
        start, end = bounds[p], bounds[p + 1]
        if end <= start:
            methods_used.append("skipped")
            if p == 0:
                maps[t <= 0] = np.asarray(product(weights))
            continue
        sel = (t <= end) & ((t >= start) if p == 0 else (t > start))
        ends = np.isfinite(end)  # an open last phase needs no final state
        times = np.concatenate([t[sel] - start, [end - start] if ends else []])
        if p == 0 and first is not None:
            traj = solve(task, depth=first[0], u0=first[1], t=times, **options)
        else:
            traj = solve(task, weights=weights, t=times, **options)
        methods_used.append(traj.method)
        recorded = slice(None, -1) if ends else slice(None)
        maps[sel] = np.asarray(traj.map)[recorded]
        if traj.stalled is not None:
            stalled[p] = np.asarray(traj.stalled)
        if traj.error_estimate is not None:
            err = np.asarray(traj.error_estimate)
            error[sel] = carried + err[recorded]
            carried += float(err[-1]) if ends else 0.0
        if ends and traj.final_weights is None:  # the mode solution: balanced, aligned
            weights = _init.aligned_from_strengths(task, len(weights), traj.modes[-1])
        elif ends:
            weights = [jnp.asarray(w) for w in traj.final_weights]
    after = t > bounds[-1]
    maps[after] = np.asarray(product(weights))
    error[after] = carried
    return dict(map=maps, phase=phase, final=[np.asarray(w) for w in weights],
                methods=methods_used, stalled=stalled, error=error)


def _solve_input_deficit(protocol, *, u0, t, weights, biases, weight_decay, method, rtol):
    """A `Blur` or `Flip` window on one network. A blur of an input-aligned task from `u0` is
    the exact mode solution through the window (`dln.theory.input_deficits`); everything else
    chains the flow through the window's three phases (`Protocol.as_phases`). `loss` is on the
    protocol's own task (the undeprived data), as the papers test."""
    task, depth = protocol.task, protocol.depth
    deficit = protocol.input_deficit
    exact = (isinstance(deficit, Blur) and weights is None and u0 is not None and biases is None
             and isinstance(method, str) and method == "auto" and task.input_aligned is True
             and not protocol.batched and not np.ndim(deficit.onset)
             and not np.ndim(deficit.length))
    if not exact:
        traj = solve(protocol.as_phases(), u0=u0, t=t, weights=weights, biases=biases,
                     weight_decay=weight_decay, method=method, rtol=rtol)
        return dataclasses.replace(traj, loss=task.loss(traj.map))
    decay = check_weight_decay(weight_decay)
    u0 = _check_u0(task, depth, u0)
    t = check_times(t)
    end = protocol.phases[0][1]
    clipped = t if protocol.open_ended else jnp.minimum(t, float(end))
    m = blurred_modes(task, depth, u0, clipped, [deficit],
                      weight_decay=0.0 if decay is None else decay)
    return Trajectory(t=t, modes=m, loss=task.loss_of_modes(m), task=task,
                      method=_modes.method_name(depth, weight_decay=decay is not None),
                      depth=depth, u0=u0, weight_decay=decay)


def _solve_competition(protocol, u0, t, weights, biases, weight_decay, method, rtol):
    """Pathways and deficits: the exact competition (`dln.theory.competition`)."""
    arch = protocol.architecture
    if arch.sources is not None or arch.shared:
        raise ValueError("the exact competition is for parallel pathways that share the input, "
                         "without shared layers; this protocol has sources or shared layers. "
                         "Simulate it with dln.simulate(protocol, weights, lr=...).")
    if weights is not None:
        raise ValueError("the exact competition starts from balanced weights aligned with the "
                         "task: pass `u0`, one entry per pathway, not `weights`.")
    if biases is not None:
        raise ValueError("the exact competition has no biases; simulate with "
                         "dln.simulate(protocol, weights, lr=...).")
    if not (isinstance(method, str) and method == "auto"):
        raise ValueError(f"`method` {method!r}: the exact competition chooses its own method "
                         "(reported in Trajectory.method); pass method='auto'.")
    if u0 is None:
        raise TypeError(f"solve() needs `u0` for a protocol with pathways: one initial strength "
                        f"(a scalar or (K,)) per pathway ({arch.pathways}).")
    if isinstance(u0, (list, tuple)) and len(u0) != arch.pathways:
        raise ValueError(f"`u0` has {len(u0)} entries but the protocol has {arch.pathways} "
                         "pathways; give one per pathway.")
    t = check_times(t)
    duration = protocol.phases[0][1]
    clipped = t if protocol.open_ended else jnp.minimum(t, float(duration))
    options = {} if rtol is None else {"rtol": rtol}
    traj = competition.solve(protocol.task, depth=arch.depth, u0=u0, t=clipped,
                             deficit=list(protocol.deficits) or None,
                             weight_decay=weight_decay, **options)
    return traj if clipped is t else dataclasses.replace(traj, t=t)
