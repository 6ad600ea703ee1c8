"""Two-layer aligned modes from arbitrary (unbalanced) init: the explicit solution and its limits.

Saxe, McClelland & Ganguli (2014), supplementary part A ("arbitrary initial mode strengths"), and
Dominé et al. (2025), "From lazy to rich", arXiv:2409.14623 (λ-balanced init, lazy and rich
regimes); docs/theory/two_layer.md (the explicit solution and the per-mode ODE). Steps:

1. the mode equations `ȧ = b(s − ab)`, `ḃ = a(s − ab)` (whitened input; mode-ODE page at D = 2)
   conserve `λ = b² − a²`;
2. the explicit `a = A/√Dn`, `b = B/√Dn` (docs/theory/two_layer.md) solves them: substituted,
   the residuals
   reduce to exactly 0 modulo `cosh² − sinh² = 1`, `ω² = s² + λ²/4`, `λ = b0² − a0²`; `Dn ≥ 1`;
3. `u = ab` obeys `u̇ = √(λ² + 4u²)(s − u)`;
4. limits: `λ = 0` gives the logistic (rich), `|λ| → ∞` at fixed `u0` the exponential
   `s − (s − u0)e^{−|λ|t}` (lazy); `a0 = −b0` is stuck at the saddle;
5. non-white input variance `ν` reduces to the whitened case by `(a, b) → √ν (a, b)`.

`dln` does not implement this solution yet; `tests/test_derivations.py` checks it against a
DOP853 integration of the mode equations (the code bridge comes with the issue that adds it).
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations._page import Derivation
from derivations._symbols import s, u, u0

NAME = "unbalanced_two_layer"

T = sp.Symbol("t", nonnegative=True)  # flow time (τ = 1)
a0, b0 = sp.symbols("a_0 b_0", real=True)
lam = sp.Symbol("lambda", real=True)  # imbalance b² − a² (Dominé et al.'s λ), any sign
omega = sp.Symbol("omega", positive=True)
C, S = sp.symbols("C S", real=True)  # cosh(ωt), sinh(ωt)
nu = sp.Symbol("nu", positive=True)  # input variance (whitened: ν = 1)
eps, theta = sp.symbols("epsilon theta", positive=True)


def _pieces(lam_=lam, omega_=omega):
    """A(t), B(t), Dn(t) of the explicit solution (docs/theory/two_layer.md; τ = 1)."""
    ch, sh = sp.cosh(omega_ * T), sp.sinh(omega_ * T)
    A = ch * a0 + sh / omega_ * (s * b0 - lam_ * a0 / 2)
    B = ch * b0 + sh / omega_ * (s * a0 + lam_ * b0 / 2)
    Dn = (1 + sp.sinh(2 * omega_ * T) / (2 * omega_) * (a0**2 + b0**2)
          + (sp.cosh(2 * omega_ * T) - 1) / (2 * omega_**2) * (2 * s * a0 * b0 + lam_**2 / 2))
    return A, B, Dn


_RELATIONS = [C**2 - S**2 - 1, omega**2 - s**2 - lam**2 / 4, lam - b0**2 + a0**2]


def _modulo_relations(expr):
    """Write cosh/sinh of ωt and 2ωt through C, S; clear 1/ω; reduce modulo the relations."""
    expr = expr.subs({sp.cosh(2 * omega * T): 2 * C**2 - 1, sp.sinh(2 * omega * T): 2 * S * C})
    expr = expr.subs({sp.cosh(omega * T): C, sp.sinh(omega * T): S})
    expr = sp.expand(expr * omega**4)
    _, remainder = sp.reduced(expr, _RELATIONS, C, S, omega, lam, a0, b0, s, order="lex")
    return sp.expand(remainder)


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Two-layer modes from unbalanced init: explicit solution, lazy and rich limits",
        sources="Saxe, McClelland & Ganguli (2014), arXiv:1312.6120 (supplement A); Dominé et "
                "al. (2025), arXiv:2409.14623; theory page [two layers](../theory/two_layer.md).",
        statement=r"An aligned two-layer mode with input-side strength $a$ and output-side "
                  r"strength $b$ (whitened input) conserves $\lambda = b^2 - a^2$ and has the "
                  r"explicit solution $a = A/\sqrt{D_n}$, $b = B/\sqrt{D_n}$, $u = ab = "
                  r"AB/D_n$ with $\omega = \sqrt{s^2 + \lambda^2/4}$. Its strength obeys "
                  r"$\dot u = \sqrt{\lambda^2 + 4u^2}\,(s-u)$: logistic (rich) at $\lambda = 0$, "
                  r"exponential with rate $|\lambda|$ (lazy) as $|\lambda| \to \infty$.")
    _equations(d)
    _solution(d)
    _mode_ode(d)
    _limits(d)
    _non_white(d)
    d.say(r"**Code bridge.** `dln` does not implement this solution yet; the tests compare it "
          r"with a DOP853 integration of $\dot a = b(s-ab)$, $\dot b = a(s-ab)$ at "
          r"$\mathrm{rtol} = 10^{-13}$. The comparison with `dln` comes with the issue that adds "
          r"it to the code.")
    return d


def _equations(d: Derivation) -> None:
    d.section("The mode equations and the conserved imbalance")
    d.say(r"For $D = 2$ aligned layers (mode-ODE page) with whitened input, write $a$ for the "
          r"input-side and $b$ for the output-side strength of the mode:")
    d.show(r"\dot a = b\,(s - ab)", r"\dot b = a\,(s - ab)", rel=r",\qquad")
    a, b = sp.symbols("a b", real=True)
    d.check_zero(r"$\frac{d}{dt}(b^2 - a^2) = 2b\dot b - 2a\dot a = 0$",
                 2 * b * a * (s - a * b) - 2 * a * b * (s - a * b), reduce=sp.expand,
                 how="`expand`", display=False)
    d.say(r"So $\lambda = b^2 - a^2 = b_0^2 - a_0^2$ for all time (the sign of Dominé et al.: "
          r"$W_2^\top W_2 - W_1W_1^\top = \lambda I$). $\lambda$ here is the imbalance, not the "
          r"input variance of the other pages, which is 1 on this page.")


def _solution(d: Derivation) -> None:
    d.section("The explicit solution")
    A, B, Dn = _pieces()
    d.say(r"With $\omega = \sqrt{s^2 + \lambda^2/4}$ ($\tau = 1$):")
    d.show(r"A(t)", A)
    d.show(r"B(t)", B)
    d.show(r"D_n(t)", Dn)
    d.say(r"Substituting $a = A/\sqrt{D_n}$ into $\dot a = b(s-ab)$ and multiplying by "
          r"$D_n^{3/2}$ gives the residual $\dot A D_n - \tfrac12 A\dot D_n - B(sD_n - AB)$; "
          r"likewise for $b$. Write $C = \cosh\omega t$, $S = \sinh\omega t$ (so "
          r"$\cosh 2\omega t = 2C^2-1$, $\sinh 2\omega t = 2SC$) and reduce modulo the "
          r"relations")
    d.show(r"C^2 - S^2 - 1 = 0,\quad \omega^2 - s^2 - \lambda^2/4 = 0,\quad \lambda - b_0^2 "
           r"+ a_0^2 = 0")
    dA, dB, dDn = (sp.diff(e, T) for e in (A, B, Dn))
    how = (r"`reduced` (division by the relations: a zero remainder writes the residual as a "
           r"polynomial combination of them)")
    d.check_cases(r"The explicit solution solves the mode equations and conserves $\lambda$",
                  [(r"$\dot a$ residual $\times D_n^{3/2}$",
                    dA * Dn - A * dDn / 2 - B * (s * Dn - A * B), sp.S.Zero),
                   (r"$\dot b$ residual $\times D_n^{3/2}$",
                    dB * Dn - B * dDn / 2 - A * (s * Dn - A * B), sp.S.Zero),
                   (r"$B^2 - A^2 = \lambda D_n$", B**2 - A**2, lam * Dn)],
                  reduce=_modulo_relations, how=how)
    d.check_cases("Initial values", [("$A(0) = a_0$", A.subs(T, 0), a0),
                                     ("$B(0) = b_0$", B.subs(T, 0), b0),
                                     ("$D_n(0) = 1$", Dn.subs(T, 0), 1)])
    d.say(r"The solution exists for all $t \ge 0$: $\dot D_n = P\cosh 2\omega t + "
          r"\frac{\sinh 2\omega t}{\omega}(2su_0 + \lambda^2/2)$ with $P = a_0^2 + b_0^2 = "
          r"\sqrt{\lambda^2 + 4u_0^2}$, and $|2su_0 + \lambda^2/2| \le P\omega$ because")
    P = sp.sqrt(lam**2 + 4 * u0**2)
    d.check_equal(r"The gap in Cauchy–Schwarz", (P * sp.sqrt(s**2 + lam**2 / 4)) ** 2
                  - (2 * s * u0 + lam**2 / 2) ** 2, lam**2 * (s - u0) ** 2, reduce=sp.expand,
                  how="`expand`")
    d.say(r"so $\dot D_n \ge P e^{-2\omega t} \ge 0$ and $D_n \ge D_n(0) = 1$.")
    lam_of = b0**2 - a0**2
    omega_of = sp.sqrt(s**2 + lam_of**2 / 4)
    A1, B1, Dn1 = _pieces(lam_of, omega_of)
    d.say(r"The results, as functions of $(t, a_0, b_0, s)$ with $\lambda = b_0^2 - a_0^2$ and "
          r"$\omega$ substituted:")
    d.result("a", A1 / sp.sqrt(Dn1), (T, a0, b0, s), lhs="a(t)", shown=r"A/\sqrt{D_n}",
             text="input-side strength from $(a_0, b_0)$", code="DOP853 solve (tests)")
    d.result("b", B1 / sp.sqrt(Dn1), (T, a0, b0, s), lhs="b(t)", shown=r"B/\sqrt{D_n}",
             text="output-side strength from $(a_0, b_0)$", code="DOP853 solve (tests)")
    d.result("u", A1 * B1 / Dn1, (T, a0, b0, s), lhs="u(t)", shown=r"AB/D_n",
             text="mode strength $u = ab$ from $(a_0, b_0)$",
             code="DOP853 solve; at $\\lambda = 0$ `dln.modes.trajectory(t, s, 1, u0, 2)` (tests)")


def _mode_ode(d: Derivation) -> None:
    d.section("The mode strength on its own")
    a, b = sp.symbols("a b", real=True)
    d.say(r"$\dot u = \dot a b + a\dot b = (a^2 + b^2)(s - u)$ and "
          r"$(a^2+b^2)^2 = (b^2-a^2)^2 + 4a^2b^2 = \lambda^2 + 4u^2$:")
    d.check_cases("Two identities", [
        (r"$\dot a b + a \dot b$", b * (s - a * b) * b + a * a * (s - a * b),
         (a**2 + b**2) * (s - a * b)),
        (r"$(a^2+b^2)^2$", (a**2 + b**2) ** 2, (b**2 - a**2) ** 2 + 4 * (a * b) ** 2)],
        reduce=sp.expand, how="`expand`")
    rhs = sp.sqrt(lam**2 + 4 * u**2) * (s - u)
    d.result("lambda_balanced_ode", rhs, (u, s, lam), lhs=r"\dot u",
             text=r"per-mode ODE of a $\lambda$-balanced two-layer mode",
             code="DOP853 solve (tests)")


def _limits(d: Derivation) -> None:
    d.section("Rich and lazy limits")
    A, B, Dn = _pieces()
    u_expr = A * B / Dn
    logistic = u0 * sp.exp(2 * s * T) / (1 + (u0 / s) * (sp.exp(2 * s * T) - 1))
    rich = u_expr.subs(lam, 0).subs(omega, s).subs({a0: sp.sqrt(u0), b0: sp.sqrt(u0)})
    d.say(r"**Rich ($\lambda = 0$).** With $a_0 = b_0 = \sqrt{u_0}$, $\omega = s$, the solution "
          r"is the logistic of the depth-2 page (input variance 1):")
    d.check_equal(r"$AB/D_n$ at $\lambda = 0$", rich, logistic,
                  reduce=lambda e: sp.simplify(sp.together(e.rewrite(sp.exp))),
                  how="`rewrite(exp)`, `together` and `simplify`", display=False)
    d.show("u(t)", logistic)

    d.say(r"**Lazy ($|\lambda| \to \infty$ at fixed $u_0 = a_0b_0$).** Take the $\lambda$-balanced "
          r"init $b_0^2 = (\sqrt{\lambda^2+4u_0^2}+\lambda)/2$, $a_0^2 = (\sqrt{\lambda^2+4u_0^2}"
          r"-\lambda)/2$ (for $\lambda < 0$ the roles of $a_0$, $b_0$ swap), measure time in "
          r"units of $1/|\lambda|$, $t = \theta/|\lambda|$, and let "
          r"$\epsilon = 1/|\lambda| \to 0$:")
    lazy = s - (s - u0) * sp.exp(-theta)
    cases = []
    for sign in (1, -1):
        big = sp.sqrt(1 / eps**2 + 4 * u0**2)
        out_side, in_side = sp.sqrt((big + 1 / eps) / 2), sp.sqrt((big - 1 / eps) / 2)
        init = {a0: in_side, b0: out_side} if sign > 0 else {a0: out_side, b0: in_side}
        expr = (u_expr.subs(omega, sp.sqrt(s**2 + lam**2 / 4)).subs(lam, sign / eps)
                .subs(init).subs(T, theta * eps))
        cases.append((rf"$\lambda = {'+' if sign > 0 else '-'}1/\epsilon$",
                      sp.limit(expr, eps, 0, "+"), lazy))
    d.check_cases(r"`limit` of $AB/D_n$ as $\epsilon \to 0^+$", cases,
                  reduce=lambda e: sp.simplify(e.rewrite(sp.exp)),
                  how="`rewrite(exp)` and `simplify`")
    d.result("lazy_limit", lazy, (theta, s, u0), lhs=r"\lim_{|\lambda|\to\infty} "
             r"u(\theta/|\lambda|)", text="lazy limit: exponential in $\\theta = |\\lambda| t$",
             code="DOP853 solve at large $|\\lambda|$ (tests)")
    d.say(r"The per-mode ODE says the same: $\dot u = |\lambda|\sqrt{1 + 4u^2/\lambda^2}\,(s-u)$, "
          r"a linear relaxation at rate $|\lambda|$ up to $O(u^2/\lambda^2)$: the lazy (kernel) "
          r"regime.")

    d.say(r"**Saddle.** If $b_0 = -a_0$ ($\lambda = 0$, $u_0 = -a_0^2 < 0$, target $s > 0$) the "
          r"mode never learns: $A = a_0e^{-st}$, $B = -a_0e^{-st}$, so $u \to 0$.")
    stuck = u_expr.subs(lam, 0).subs(omega, s).subs(b0, -a0)
    d.check_cases("The saddle", [
        ("$A$", A.subs(lam, 0).subs(omega, s).subs(b0, -a0), a0 * sp.exp(-s * T)),
        (r"$\lim_{t\to\infty} u$", sp.limit(stuck, T, sp.oo), sp.S.Zero)],
        reduce=lambda e: sp.simplify(e.rewrite(sp.exp)), how="`rewrite(exp)` and `simplify`")


def _non_white(d: Derivation) -> None:
    d.section("Non-white input")
    d.say(r"With input variance $\nu$ along the mode, $\dot a = b(s - \nu ab)$, "
          r"$\dot b = a(s - \nu ab)$. The rescaled strengths $(\alpha, \beta) = \sqrt\nu\,(a, b)$ "
          r"obey the whitened equations with the same $s$, so $u = \alpha\beta/\nu$ with "
          r"$(\alpha, \beta)$ from the solution above at $(\sqrt\nu a_0, \sqrt\nu b_0)$, and "
          r"imbalance $\nu(b_0^2 - a_0^2)$:")
    a, b = sp.symbols("a b", real=True)
    d.check_cases(r"$\dot\alpha = \sqrt\nu\,\dot a$ equals $\beta(s - \alpha\beta)$ (and "
                  r"likewise for $\beta$)",
                  [(r"$\alpha$", sp.sqrt(nu) * b * (s - nu * a * b),
                    (sp.sqrt(nu) * b) * (s - (sp.sqrt(nu) * a) * (sp.sqrt(nu) * b))),
                   (r"$\beta$", sp.sqrt(nu) * a * (s - nu * a * b),
                    (sp.sqrt(nu) * a) * (s - (sp.sqrt(nu) * a) * (sp.sqrt(nu) * b)))],
                  reduce=sp.expand, how="`expand`")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
