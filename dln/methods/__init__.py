"""How `dln.solve` computes a trajectory: method objects carrying their own options.

In the manner of diffrax's solvers, each method is a small immutable object whose options are
checked when it is made; `dln.solve(..., method=...)` takes one of them, the name that
`Trajectory.method` reports for it, or `"auto"` (the default). Asking for a method whose
assumptions the input breaks raises a `ValueError` that names the assumption.

- `ModeSolution()`, reported as `"exact-exponential"`, `"exact-logistic"` or `"exact-implicit"`
  (the closed form of depth 1, 2 or ≥ 3): from `depth` and `u0` (balanced weights aligned with
  the task), with `sigma_xx` diagonal in the task basis. Closed form.
- `Riccati(stall_rtol, balance_rtol)`, `"exact-riccati"`: two λ-balanced layers (`weights=[W1,
  W2]`, or `depth=2` and `u0`, balanced with λ = 0), isotropic input `sigma_xx = c I`, no
  biases. Closed form.
- `ReducedIntegration(rtol)`, `"reduced-integration"`: `biases=` a pattern, where the mode
  reduction holds and the mode that carries the means needs integrating (depth ≥ 2): every
  other mode in closed form, that one's one-unit network integrated (`error_estimate`); or
  `weight_decay > 0` at depth ≥ 3, where each aligned mode's own ODE is integrated
  (`dln.modes.trajectory`, at its fixed tolerance).
- `NumericalFlow(rtol)`, `"numerical-flow"`: anything (any weights, depth, input, biases): the
  full weight flow integrated (`error_estimate`), never labelled exact.

`"auto"` chooses, in this order: with `weights=`, `Riccati` if there are two layers without biases
or weight decay, λ-balanced, with isotropic input, else `NumericalFlow`; with `depth` and `u0`,
`ModeSolution` (`ReducedIntegration` with weight decay at depth ≥ 3; with `biases=`, the mode
reduction: `ModeSolution` where every mode has a closed form, `ReducedIntegration` where one
needs integrating, `NumericalFlow` where the reduction fails or with weight decay).
A task whose input couples the modes raises under `"auto"` (pass `method="numerical-flow"`
to integrate it). Under `jax.jit` or `jax.vmap` the choice uses only what is known without
values: traced weights cannot be checked for λ-balance, so `"auto"` takes `NumericalFlow`
(valid for any weights); an explicitly requested closed form whose assumptions can only be
checked on values checks them inside the computation and returns NaN where they fail (the
eager call raises).
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Method", "ModeSolution", "Riccati", "ReducedIntegration", "NumericalFlow",
           "NAMES", "resolve"]


def _check_rtol(value, name: str, *, allow_none: bool):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be a number in (0, 1), got {value!r}.")


class Method:
    """Base of the method objects (see the module docstring)."""

    names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ModeSolution(Method):
    """The closed-form mode solutions of `dln.modes`: exponential (depth 1), logistic (depth 2),
    the implicit solution inverted to float64 (depth ≥ 3). No options."""

    names = ("exact-exponential", "exact-logistic", "exact-implicit")


@dataclasses.dataclass(frozen=True)
class Riccati(Method):
    """The exact two-layer flow from λ-balanced weights (`dln.riccati`).

    Attributes:
      stall_rtol: components of the initial weights along a growing eigendirection below
        `stall_rtol × ||Q0||` count as zero (such modes stall); None: `riccati.STALL_RTOL`.
      balance_rtol: largest relative λ-balance residual accepted; None:
        `riccati.BALANCE_RTOL`.
    """

    stall_rtol: float | None = None
    balance_rtol: float | None = None
    names = ("exact-riccati",)

    def __post_init__(self):
        _check_rtol(self.stall_rtol, "stall_rtol", allow_none=True)
        _check_rtol(self.balance_rtol, "balance_rtol", allow_none=True)


@dataclasses.dataclass(frozen=True)
class ReducedIntegration(Method):
    """Networks with biases where one mode carries the input and target means: every other
    mode in closed form, that mode's one-unit network integrated at relative tolerance `rtol`
    (`dln.biases`)."""

    rtol: float = 1e-11
    names = ("reduced-integration",)

    def __post_init__(self):
        _check_rtol(self.rtol, "rtol", allow_none=False)


@dataclasses.dataclass(frozen=True)
class NumericalFlow(Method):
    """The full gradient flow of the weights (and biases) integrated at relative tolerance
    `rtol` (`dln.numerical_flow`), with an error estimate; valid for any input."""

    rtol: float = 1e-11
    names = ("numerical-flow",)

    def __post_init__(self):
        _check_rtol(self.rtol, "rtol", allow_none=False)


_CLASSES = (ModeSolution, Riccati, ReducedIntegration, NumericalFlow)
NAMES = ("auto",) + tuple(n for cls in _CLASSES for n in cls.names)


def resolve(method, rtol=None):
    """`(method object or "auto", requested name or None)` from what a user passed as
    `method`; `rtol` (solve's older keyword) sets the tolerance of the integrating methods."""
    _check_rtol(rtol, "rtol", allow_none=True)
    if isinstance(method, Method):
        if rtol is not None:
            raise TypeError("pass the tolerance inside the method object (e.g. "
                            "dln.methods.NumericalFlow(rtol=...)), not as `rtol`.")
        return method, None
    if not isinstance(method, str):
        raise TypeError(f"`method` must be 'auto', a method name or a dln.methods object, got "
                        f"{type(method).__name__}.")
    if method == "auto":
        return "auto", None
    for cls in _CLASSES:
        if method in cls.names:
            kwargs = {"rtol": rtol} if rtol is not None and "rtol" in {
                f.name for f in dataclasses.fields(cls)} else {}
            return cls(**kwargs), method
    raise ValueError(f"`method` must be one of {', '.join(repr(n) for n in NAMES)} or a "
                     f"dln.methods object, got {method!r}.")
