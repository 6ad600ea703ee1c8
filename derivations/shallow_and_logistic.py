"""Depth 1 (exponential) and depth 2 (logistic) mode solutions and their learning times.

Saxe, McClelland & Ganguli (2014), arXiv:1312.6120 (the logistic solution and its time scale
`1/s`); docs/theory/modes.md (with `τ = 1` and input variance `λ`). Steps, for `D = 1` and
`D = 2`:

1. solve the reduced ODE `du/dt = D u^{2−2/D}(s − λu)` with `dsolve` from `u(0) = u0`, and check the
   solution by substitution (residual exactly 0, initial value `u0`);
2. show it equals the normalised form used by `dln.modes.normalized` (`w = λu/s`, `τ = κt`);
3. solve `u(t) = f·s/λ` for `t` (via `E = e^{−κt}`, in which `u` is rational): the learning time;
   for D = 2 also the half-rise time and Saxe et al.'s `t(ε → s − ε) ≈ (1/s) ln(s/ε)`;
4. the `s = 0` modes (no signal): exponential decay (D = 1) and `u0/(1 + 2λu0 t)` (D = 2).
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations._page import Derivation
from derivations._symbols import D as _D
from derivations._symbols import f, lam, s, t, tau, u0, w0
from derivations._symbols import u as _u
from derivations.mode_ode import RATE, REDUCED_ODE

NAME = "shallow_and_logistic"

E = sp.Symbol("E", positive=True)  # e^{−κt}
eps = sp.Symbol("epsilon", positive=True)
_U = sp.Function("u")


def _ode(depth: int, signal=s):
    """Right-hand side of the reduced ODE at depth `depth`, in the function `u(t)`."""
    return REDUCED_ODE.subs(_D, depth).subs(s, signal).subs(_u, _U(t))


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Depth 1 and depth 2: exponential and logistic modes",
        sources="Saxe, McClelland & Ganguli (2014), arXiv:1312.6120; theory pages "
                "[modes](../theory/modes.md) and [setting](../theory/setting.md#modes) "
                "(non-white input).",
        statement=r"For $D = 1$ a mode relaxes exponentially, "
                  r"$u = s/\lambda + (u_0 - s/\lambda)e^{-\lambda t}$; for $D = 2$ it follows the "
                  r"logistic $u = (s/\lambda)\,w_0/(w_0 + (1-w_0)e^{-2st})$, "
                  r"$w_0 = \lambda u_0/s$, "
                  r"and takes $t = \frac{1}{2s}\ln\frac{f(1-w_0)}{w_0(1-f)}$ to reach the fraction "
                  r"$f$ of its target $s/\lambda$. Modes with $s = 0$ decay.")
    for depth in (1, 2):
        _solve(d, depth)
    _decay(d)
    return d


def _check_solution(d: Derivation, depth: int, sol, signal=s) -> None:
    """Substitute `u = sol` into the ODE and check the residual and the initial value."""
    residual = sp.diff(sol, t) - _ode(depth, signal).subs(_U(t), sol)
    d.check_cases(f"$D = {depth}${', $s = 0$' if signal == 0 else ''}: the solution satisfies "
                  "the ODE and the initial condition",
                  [("residual $\\dot u - \\mathrm{rhs}$", residual, sp.S.Zero),
                   ("$u(0) = u_0$", sol.subs(t, 0), u0)])


def _solve(d: Derivation, depth: int) -> None:
    kappa = RATE.subs(_D, depth)
    d.section(f"Depth {depth}: {'the exponential' if depth == 1 else 'the logistic'}")
    d.say(rf"The reduced ODE at $D = {depth}$ (rate $\kappa = {sp.latex(kappa)}$):")
    d.show(r"\dot u", _ode(depth).subs(_U(t), sp.Symbol("u")))
    sol = sp.dsolve(sp.Eq(_U(t).diff(t), _ode(depth)), _U(t), ics={_U(0): u0}).rhs
    d.say("`dsolve` with $u(0) = u_0$ gives")
    d.show(r"u(t)", sol)
    _check_solution(d, depth, sol)

    w0_of = lam * u0 / s
    if depth == 1:
        normalised = w0 * sp.exp(-tau) + (1 - sp.exp(-tau))
    else:
        normalised = w0 / (w0 + (1 - w0) * sp.exp(-tau))
    d.say(r"In normalised units $w = \lambda u/s$, $\tau = \kappa t$ (the form `dln` evaluates):")
    d.result(f"normalized_depth{depth}", normalised, (tau, w0), lhs=r"w(\tau)",
             text=f"normalised solution, $D = {depth}$",
             code=f"`dln.modes.normalized(tau, w0, {depth})`")
    trajectory = (s / lam) * normalised.subs({tau: kappa * t, w0: w0_of})
    d.check_equal("`dsolve`'s solution equals $(s/\\lambda)\\,w(\\kappa t)$ at "
                  "$w_0 = \\lambda u_0/s$", sol, trajectory, display=False)
    d.result(f"trajectory_depth{depth}", trajectory, (t, s, lam, u0), lhs=r"u(t)",
             text=f"mode strength, $D = {depth}$",
             code=f"`dln.modes.trajectory(t, s, lam, u0, {depth})`")
    if depth == 2:
        saxe = s * sp.exp(2 * s * t) / (sp.exp(2 * s * t) - 1 + s / u0)
        d.check_equal(r"For whitened input ($\lambda = 1$) it is Saxe et al.'s form",
                      trajectory.subs(lam, 1), saxe)

    d.say(r"**Learning time.** In $E = e^{-\kappa t}$ the solution is rational; solve "
          r"$u = f s/\lambda$ for $E$ (one root) and take $t = -\ln(E)/\kappa$:")
    (root,) = sp.solve(sp.Eq(trajectory.subs(sp.exp(-kappa * t), E), f * s / lam), E)
    d.show(E, root)
    if depth == 1:
        expected = sp.log((1 - w0_of) / (1 - f)) / kappa
    else:
        expected = sp.log(f * (1 - w0_of) / (w0_of * (1 - f))) / kappa
    d.check_equal(r"The root equals $e^{-\kappa t_f}$ with $t_f$ below (so "
                  r"$t_f = -\ln(E)/\kappa$, real for $f$ between $w_0$ and 1)", root,
                  sp.exp(-kappa * expected), display=False)
    d.result(f"time_depth{depth}", expected, (f, s, lam, u0), lhs=r"t_f",
             text=f"time to reach $u = f s/\\lambda$, $D = {depth}$ ($f$ strictly between "
                  "$w_0$ and 1)",
             code=f"`dln.modes.time_to_fraction(f, s, lam, u0, {depth})`")
    d.check_equal(r"Substituting $t_f$ back gives $u(t_f) = f s/\lambda$",
                  trajectory.subs(t, expected), f * s / lam, display=False)
    if depth == 2:
        half = sp.log(s / (lam * u0) - 1) / (2 * s)
        d.check_equal(r"Half-rise time ($f = 1/2$)", expected.subs(f, sp.Rational(1, 2)), half,
                      reduce=lambda e: sp.simplify(sp.expand_log(e, force=True)),
                      how="`expand_log` and `simplify`")
        d.result("half_time_depth2", half, (s, lam, u0), lhs=r"t_{1/2}",
                 text="half-rise time, $D = 2$",
                 code="`dln.modes.time_to_fraction(0.5, s, lam, u0, 2)`")
        d.say(r"Saxe et al.'s learning time from $u_0 = \epsilon$ to $s - \epsilon$ (whitened): "
              r"exact, and its small-$\epsilon$ form $\frac1s\ln\frac{s}{\epsilon}$:")
        saxe_time = sp.log((s - eps) ** 2 / eps**2) / (2 * s)
        d.check_equal(r"$t_f$ at $\lambda = 1$, $u_0 = \epsilon$, $f = 1 - \epsilon/s$",
                      expected.subs({lam: 1, u0: eps, f: 1 - eps / s}), saxe_time,
                      reduce=lambda e: sp.simplify(sp.expand_log(e, force=True)),
                      how="`expand_log` and `simplify`")
        gap = sp.limit(saxe_time - sp.log(s / eps) / s, eps, 0, "+")
        d.check_zero(r"$t - \frac1s\ln\frac s\epsilon \to 0$ as $\epsilon \to 0$ (`limit`)", gap,
                     display=False)


def _decay(d: Derivation) -> None:
    d.section("Modes without signal ($s = 0$)")
    d.say(r"A mode of the network with no target signal decays from $u_0$; `dsolve` gives")
    for depth in (1, 2):
        sol = sp.dsolve(sp.Eq(_U(t).diff(t), _ode(depth, 0)), _U(t), ics={_U(0): u0}).rhs
        d.show(r"u(t)" if depth == 1 else r"u(t)\big|_{D=2}", sol)
        _check_solution(d, depth, sol, signal=0)
        expected = u0 * sp.exp(-lam * t) if depth == 1 else u0 / (1 + 2 * lam * u0 * t)
        d.check_equal(f"$D = {depth}$: the decay is ${sp.latex(expected)}$", sol, expected,
                      display=False)
        d.result(f"decay_depth{depth}", expected, (t, lam, u0), lhs=r"u(t)",
                 text=f"$s = 0$ mode, $D = {depth}$",
                 code=f"`dln.modes.trajectory(t, 0, lam, u0, {depth})`")
    d.say("The general-depth decay is on the deep-modes page.")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
