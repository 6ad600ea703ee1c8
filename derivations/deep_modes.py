"""Depth D ≥ 3: the implicit mode solution t(u), its antiderivative G, escape time and decay.

Saxe, McClelland & Ganguli (2014), arXiv:1312.6120 (deep networks, the depth dependence of the
plateau); docs/theory/modes.md (the ₂F₁ form, the escape-time asymptotics). With `w = λu/s`,
`τ = κt` the
mode obeys `dw/dτ = w^p (1 − w)`, `p = 2 − 2/D`, so `τ = G(w) − G(w0)` with `G' = 1/(w^p(1 − w))`.
Steps:

1. in `a = w^{1/D}` the integrand is rational, `D/(a^{D−1}(1 − a^D))`; its partial fractions over
   the D-th roots of unity give the closed form `dln.modes` evaluates (general D: residues and
   the pairing of conjugate roots, symbolically);
2. D = 3, 4, 5: `apart` and `integrate`, and the closed form differentiates back to the integrand
   exactly; its constant makes `G(∞) = 0` (exact, via `a = 1/z`);
3. the general-D ₂F₁ form `G = x^c/c ₂F₁(1, c; c+1; x) − π cot(πc)` (`c = 2/D − 1`, `0 < x < 1`) and
   `G = w^{−p}/p ₂F₁(1, p; p+1; 1/w)` (`w > 1`): derivatives exact for general D via the series;
   the constant `−π cot(πc)` exact for D = 3, 4, 5, numerically (mpmath, 40 digits) for D ≤ 12;
   the series `dln` uses for `w ≥ 8` is the second form term by term;
4. small-init escape time `t ≈ a0^{−(D−2)}/((D−2)s)` (λ cancels) with its O(1) correction;
5. modes with `s = 0`: `u = u0 (1 + (2D − 2) λ u0^{2−2/D} t)^{−D/(2D−2)}`, general D.
"""

from __future__ import annotations

import functools
import random

import mpmath
import sympy as sp

from derivations._page import Derivation
from derivations._symbols import D, a, a0, f, lam, s, t, u0, w, x
from derivations.mode_ode import RATE

NAME = "deep_modes"

z = sp.Symbol("z", positive=True)
zeta = sp.Symbol("zeta")
n = sp.Symbol("n", integer=True, nonnegative=True)
c_sym = sp.Symbol("c", negative=True)  # c = 2/D − 1 < 0 for D ≥ 3
p_sym = sp.Symbol("p", positive=True)  # p = 2 − 2/D

SYMBOLIC_DEPTHS = (3, 4, 5)
_BY_COEFFICIENTS = ("`together`, then `radsimp` of the numerator (or `simplify` of each of its "
                    "coefficients in $a$)")
NUMERIC_DEPTHS = tuple(range(3, 13))


def integrand(depth):
    """`D/(a^{D−1}(1 − a^D))`: `1/(w^p(1 − w)) dw/da` at `w = a^D`."""
    return depth / (a ** (depth - 1) * (1 - a**depth))


def closed_form(depth: int, side: str | None = None):
    """The root-of-unity closed form of G in `a = w^{1/D}` (the one in `dln.modes`).

    `side=None` uses `ln|1 − a|`; `"below"` / `"above"` use `ln(1 − a)` / `ln(a − 1)`, and for
    `"above"` the `atan2(y, x)` terms (with `x = a − cos θ > 0`) are written `atan(y/x)`.
    """
    log_gap = {None: sp.log(sp.Abs(1 - a)), "below": sp.log(1 - a), "above": sp.log(a - 1)}[side]
    G = -sp.Rational(depth, depth - 2) * a ** (2 - depth) - log_gap
    if depth % 2 == 0:
        G -= sp.log(1 + a)
    for k in range(1, (depth - 1) // 2 + 1):
        th = 2 * sp.pi * k / depth
        y, xx = -sp.sin(th), a - sp.cos(th)
        angle = sp.atan(y / xx) if side == "above" else sp.atan2(y, xx)
        G -= sp.cos(2 * th) * sp.log(a**2 - 2 * a * sp.cos(th) + 1) - 2 * sp.sin(2 * th) * angle
    return G


def hyper_below(depth=D):
    """`G(x) = x^c/c ₂F₁(1, c; c+1; x) − π cot(πc)`, `c = 2/D − 1`, for `0 < x < 1`."""
    c = 2 / sp.S(depth) - 1
    return x**c / c * sp.hyper([1, c], [c + 1], x) - sp.pi * sp.cot(sp.pi * c)


def hyper_above(depth=D):
    """`G(w) = w^{−p}/p ₂F₁(1, p; p+1; 1/w)`, `p = 2 − 2/D`, for `w > 1` (so `G(∞) = 0`)."""
    p = 2 - 2 / sp.S(depth)
    return w ** (-p) / p * sp.hyper([1, p], [p + 1], 1 / w)


def _split_at_z(e):
    """`log(N/M) → log N − log M` and `atan(N/M)` with polynomials in `z` (`0 < z < 1`)."""
    num, den = (sp.expand(part) for part in sp.fraction(sp.together(e.args[0])))
    if isinstance(e, sp.atan):
        return sp.atan(num / den)
    return sp.expand_log(sp.log(num), force=True) - sp.expand_log(sp.log(den), force=True)


def _simplify_exponents(expr):
    return expr.replace(lambda e: e.is_Pow, lambda e: sp.Pow(e.base, sp.simplify(e.exp)))


def _geometric_series(ratio):
    """`Σ_{n≥0} ratio^n` by `summation`, taking its convergent branch (`0 < ratio < 1`)."""
    q = sp.Symbol("q", positive=True)
    total = sp.summation(q**n, (n, 0, sp.oo))
    value, condition = total.args[0] if isinstance(total, sp.Piecewise) else (total, True)
    if condition not in (True, sp.Lt(q, 1), sp.Abs(q) < 1):
        raise AssertionError(f"unexpected convergence condition {condition}")
    return value.subs(q, ratio)


def _pi_times_algebraic_zero(expr):
    """0 if `expr` simplifies to 0 or to π times an algebraic number whose minimal polynomial is
    `X` (i.e. the number is 0); otherwise the simplified residual."""
    residual = sp.simplify(expr)
    if residual == 0:
        return residual
    factor = sp.simplify(residual / sp.pi)
    if factor.is_algebraic and sp.minimal_polynomial(factor, sp.Symbol("X")) == sp.Symbol("X"):
        return sp.S.Zero
    return residual


def _rational_zero(expr):
    """Reduce a rational function of `a` with algebraic coefficients: 0 iff it vanishes."""
    num = sp.numer(sp.together(expr))
    if sp.expand(sp.radsimp(num)) == 0:
        return sp.S.Zero
    num = sp.expand(num)
    for coeff in sp.Poly(num, a).coeffs():
        if sp.radsimp(coeff) != 0 and sp.simplify(coeff) != 0:
            return num
    return sp.S.Zero


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Deep modes (D ≥ 3): the implicit solution",
        sources="Saxe, McClelland & Ganguli (2014), arXiv:1312.6120; theory page "
                "[modes](../theory/modes.md).",
        statement=r"For $D \ge 3$ a mode reaches $u = (s/\lambda)w$ at "
                  r"$t = [G(w) - G(w_0)]/\kappa$ with $G(w) = \int dw/(w^{2-2/D}(1-w))$, written "
                  r"in $a = w^{1/D}$ with partial fractions over the $D$-th roots of unity and "
                  r"normalised by $G(\infty) = 0$; equivalently $G = x^c/c\;{}_2F_1(1,c;c+1;x) - "
                  r"\pi\cot\pi c$ below the target, $c = 2/D-1$. From a small per-layer init "
                  r"$a_0$ the mode escapes its plateau after $t \approx a_0^{-(D-2)}/((D-2)s)$, "
                  r"independent of $\lambda$. Modes with $s = 0$ decay algebraically.")
    _implicit(d)
    _partial_fractions(d)
    _specific_depths(d)
    _hypergeometric(d)
    _escape(d)
    _decay(d)
    return d


def _implicit(d: Derivation) -> None:
    d.section("The implicit solution")
    d.say(r"In normalised units (mode-ODE page) $dw/d\tau = w^{p}(1-w)$, $p = 2-2/D$. "
          r"Separating variables, $\tau = G(w) - G(w_0)$ for any antiderivative")
    d.show(r"G(w)", r"\int\frac{dw}{w^{2-2/D}(1-w)}")
    d.say(r"(conversely $G(w(\tau)) = G(w_0) + \tau$ gives $\dot w = 1/G'(w) = w^p(1-w)$). "
          r"$w$ stays on the side of 1 where it starts, so one $G$ per side suffices; "
          r"in flow time $t = [G(w) - G(w_0)]/\kappa$.")


def _partial_fractions(d: Derivation) -> None:
    d.section("Partial fractions over the roots of unity (general D)")
    d.say(r"Substitute $w = a^D$, $dw = D a^{D-1}da$:")
    p = 2 - 2 / D
    d.check_equal(r"General $D$, $a > 0$", (1 / ((a**D) ** p * (1 - a**D))) * D * a ** (D - 1),
                  integrand(D), reduce=lambda e: sp.simplify(sp.powsimp(e, force=True)),
                  how="`powsimp` and `simplify`")
    d.check_equal(r"Split off the pole at $a = 0$ (general $D$)", integrand(D),
                  D / a ** (D - 1) + D * a / (1 - a**D))
    d.say(r"The second part has simple poles at the roots $\zeta_k = e^{i\theta_k}$, "
          r"$\theta_k = 2\pi k/D$, of $a^D = 1$, with residues $D\zeta/(-D\zeta^{D-1}) = "
          r"-\zeta^{2-D} = -\zeta^2$:")
    d.check_equal(r"Residue of $Da/(1-a^D)$ at a root $\zeta$ (general $D$)",
                  D * zeta / sp.diff(1 - a**D, a).subs(a, zeta), -zeta ** (2 - D))
    d.show(r"\frac{D a}{1-a^D}", r"-\sum_{k=0}^{D-1}\frac{\zeta_k^2}{a-\zeta_k},\qquad "
                                 r"\int\frac{D\,da}{a^{D-1}} = -\frac{D}{(D-2)\,a^{D-2}}")
    d.check_equal(r"The second antiderivative (general $D$)",
                  sp.diff(-D / ((D - 2) * a ** (D - 2)), a), D / a ** (D - 1))
    d.say(r"$\zeta_0 = 1$ gives $-\ln|1-a|$; for even $D$, $\zeta_{D/2} = -1$ gives "
          r"$-\ln(1+a)$; each conjugate pair $\zeta_k, \bar\zeta_k$ ($1 \le k \le \lfloor(D-1)/2"
          r"\rfloor$) gives a real term. With $\ln(a-\zeta) = \tfrac12 L + i\varphi$, "
          r"$L = \ln(a^2 - 2a\cos\theta + 1)$, $\varphi = \operatorname{atan2}(-\sin\theta, "
          r"a-\cos\theta)$:")
    th, L, phi = sp.symbols("theta L varphi", real=True)
    pair = -(sp.exp(2 * sp.I * th) * (L / 2 + sp.I * phi)
             + sp.exp(-2 * sp.I * th) * (L / 2 - sp.I * phi))
    real_form = -(sp.cos(2 * th) * L - 2 * sp.sin(2 * th) * phi)
    d.check_equal("A conjugate pair", pair, real_form,
                  reduce=lambda e: sp.expand(sp.expand_complex(e)), how="`expand_complex`")
    d.say(r"Collecting, the closed form (the one `dln.modes.G_of_w` evaluates):")
    k = sp.Symbol("k", integer=True)
    theta_k = sp.Symbol(r"\theta_k")
    d.show(r"G", -D / ((D - 2) * a ** (D - 2)) - sp.log(sp.Abs(1 - a))
           - sp.Symbol(r"[D\ \mathrm{even}]") * sp.log(1 + a)
           - sp.Sum(sp.cos(2 * theta_k) * sp.log(a**2 - 2 * a * sp.cos(theta_k) + 1)
                    - 2 * sp.sin(2 * theta_k) * sp.atan2(-sp.sin(theta_k), a - sp.cos(theta_k)),
                    (k, 1, sp.floor((D - 1) / 2))))
    d.say(r"Its constant: as $a \to \infty$ every term tends to 0 except the logarithms, whose "
          r"$\ln a$ coefficients add up to $-\sum_{k=0}^{D-1}\cos 2\theta_k = "
          r"-\mathrm{Re}\sum_k \zeta_k^2$, and $\sum_k \zeta_k^2 = (\zeta_1^{2D}-1)/(\zeta_1^2-1) "
          r"= 0$ for $D \ge 3$ since $\zeta_1^{2D} = 1 \ne \zeta_1^2$. So $G(\infty) = 0$ "
          r"(checked exactly for $D = 3, 4, 5$ below).")
    d.check_equal(r"$\zeta_1^{2D} = e^{4\pi i} = 1$ (general $D$)",
                  sp.powdenest(sp.exp(2 * sp.pi * sp.I / D) ** (2 * D), force=True), sp.S.One,
                  display=False)


def _specific_depths(d: Derivation) -> None:
    d.section("D = 3, 4, 5: apart, integrate, and the closed form")
    derivative_cases, sympy_cases, infinity_cases, zero_cases = [], [], [], []
    for depth in SYMBOLIC_DEPTHS:
        g = integrand(depth)
        fractions = sp.apart(g, a)
        antiderivative = sp.integrate(fractions, a)
        d.say(f"$D = {depth}$: `apart` over the rationals, and `integrate`:")
        d.show(f"g_{depth}(a)", fractions)
        d.show(f"I_{depth}(a)", antiderivative)
        d.say(f"The closed form at $D = {depth}$:")
        d.result(f"G_closed_{depth}", closed_form(depth).subs(a, w ** sp.Rational(1, depth)),
                 (w,), lhs=rf"G_{depth}(w)",
                 text=f"antiderivative $G$ at $D = {depth}$, $G(\\infty) = 0$",
                 code=f"`dln.modes.G_of_w(w, {depth})`")
        for side in ("below", "above"):
            derivative_cases.append((f"$D = {depth}$, $a {'<' if side == 'below' else '>'} 1$",
                                     sp.diff(closed_form(depth, side), a), g))
        sympy_cases.append((f"$D = {depth}$, `apart`", fractions, g))
        sympy_cases.append((f"$D = {depth}$, `integrate`", sp.diff(antiderivative, a), fractions))
        # G(∞) = 0: at a = 1/z the ln z coefficient must vanish and the rest tend to 0.
        at_z = sp.expand(closed_form(depth, "above").subs(a, 1 / z).replace(
            lambda e: isinstance(e, (sp.log, sp.atan)), _split_at_z))
        log_coeff = at_z.coeff(sp.log(z))
        rest = (at_z - log_coeff * sp.log(z)).subs(z, 0)
        infinity_cases.append((f"$D = {depth}$, coefficient of $\\ln z$", log_coeff, sp.S.Zero))
        infinity_cases.append((f"$D = {depth}$, the rest at $z = 0$", rest, sp.S.Zero))
        c = sp.Rational(2, depth) - 1
        # At a = 0 every logarithm is ln 1 = 0 and atan2(−sin θ, −cos θ) = θ − π (θ ∈ (0, π)).
        at_zero = sum((2 * sp.sin(2 * th) * (th - sp.pi)
                       for th in (2 * sp.pi * k / depth for k in range(1, (depth - 1) // 2 + 1))),
                      sp.S.Zero)
        zero_cases.append((f"$D = {depth}$", at_zero, -sp.pi * sp.cot(sp.pi * c)))
    d.check_cases(r"The closed form differentiates to the integrand $D/(a^{D-1}(1-a^D))$ on both "
                  r"sides of $a = 1$", derivative_cases, reduce=_rational_zero,
                  how=_BY_COEFFICIENTS)
    d.check_cases(r"sympy's own steps: $g_D$ equals the integrand and $I_D' = g_D$, so $I_D$ "
                  r"and the closed form differ by a constant on each side of $a = 1$",
                  sympy_cases, reduce=_rational_zero,
                  how=_BY_COEFFICIENTS)
    d.check_cases(r"$G(\infty) = 0$: with $a = 1/z$ ($a > 1$, so each $\operatorname{atan2}$ is an "
                  r"$\arctan$), expand the logarithms", infinity_cases)
    d.say(r"Below the target the closed form starts from $G \approx -\frac{D}{D-2}a^{2-D} + "
          r"C_D$ as $a \to 0$. At $a = 0$ every logarithm is $\ln 1 = 0$ and "
          r"$\operatorname{atan2}(-\sin\theta, -\cos\theta) = \theta - \pi$ for "
          r"$\theta\in(0,\pi)$, so $C_D = 2\sum_k \sin 2\theta_k\,(\theta_k - \pi)$, and")
    d.check_cases(r"$C_D = -\pi\cot(\pi c)$, $c = 2/D - 1$", zero_cases,
                  reduce=_pi_times_algebraic_zero,
                  how="`simplify` (and, for the algebraic factor of $\\pi$ left at $D = 5$, "
                      "`minimal_polynomial`)")
    d.say(r"Near the target ($a \to 1$), $\ln|1-a| = \ln|1-w| - \ln\frac{1-a^D}{1-a}$ and "
          r"$\frac{1-a^D}{1-a} = 1 + a + \dots + a^{D-1} \to D$, so $G = -\ln|1-w| + c_D + o(1)$ "
          r"with $c_D$ the regular part at $a = 1$ plus $\ln D$ (the constant `dln` uses to "
          r"start its Newton iteration).")
    d.check_cases(r"$(1-a^D)/(1-a)$ at $a = 1$",
                  [(f"$D = {depth}$", sp.cancel((1 - a**depth) / (1 - a)).subs(a, 1), depth)
                   for depth in SYMBOLIC_DEPTHS], reduce=sp.expand, how="`cancel` and `expand`")


def _hypergeometric(d: Derivation) -> None:
    d.section("The hypergeometric form (general D)")
    d.say(r"With $c = 2/D - 1 < 0$ the integrand is $x^{c-1}/(1-x)$. For $0 < x < 1$, "
          r"${}_2F_1(1,c;c+1;x) = \sum_n \frac{(1)_n (c)_n}{(c+1)_n n!}x^n = \sum_n \frac{c}{c+n}"
          r"x^n$, so $\frac{x^c}{c}{}_2F_1 = \sum_n \frac{x^{n+c}}{n+c}$, whose derivative is "
          r"$\sum_n x^{n+c-1} = x^{c-1}/(1-x)$:")
    term = sp.rf(1, n) * sp.rf(c_sym, n) / (sp.rf(c_sym + 1, n) * sp.factorial(n))
    d.check_equal(r"The series coefficient (general $c$ and $n$)", term, c_sym / (c_sym + n),
                  reduce=sp.combsimp, how="`combsimp`")
    d.check_equal(r"Term by term derivative (general $c$, $n$)",
                  sp.diff(x ** (n + c_sym) / (n + c_sym), x), x ** (n + c_sym - 1),
                  reduce=lambda e: sp.simplify(sp.powsimp(e)), how="`powsimp` and `simplify`")
    d.check_equal(r"The geometric series (`summation`, its branch for $x < 1$)",
                  _geometric_series(x), 1 / (1 - x))
    d.say(r"Above the target ($w > 1$) expand in $1/w$ instead: with $p = 2 - 2/D$, "
          r"$\frac{w^{-p}}{p}{}_2F_1(1,p;p+1;1/w) = \sum_n \frac{w^{-(n+p)}}{n+p}$, whose "
          r"derivative is $-\sum_n w^{-n-p-1} = w^{-p}/(1-w)$, and which vanishes at $w = \infty$. "
          r"Re-indexed ($m = n + 2$) it is the series `dln` uses for $w \ge 8$, "
          r"$G = D\,w^{2/D}\sum_{m\ge2} w^{-m}/(mD-2)$:")
    d.check_cases(r"Above the target, general $D$ and $n$",
                  [("series coefficient",
                    term.subs(c_sym, p_sym), p_sym / (p_sym + n)),
                   ("term by term derivative, summed as a geometric series in $1/w$",
                    sp.diff(w ** (-(n + p_sym)) / (n + p_sym), w) * w ** (n + p_sym + 1), -1),
                   ("`dln`'s series term at $m = n + 2$",
                    D * w ** (2 / D) * w ** (-(n + 2)) / ((n + 2) * D - 2),
                    (w ** (-(n + p_sym)) / (n + p_sym)).subs(p_sym, 2 - 2 / D))],
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`")
    d.check_equal(r"$-\sum_n w^{-n-p-1} = -w^{-p-1}\sum_n w^{-n} = w^{-p}/(1-w)$ "
                  r"(`summation`, its branch for $1/w < 1$)",
                  -w ** (-p_sym - 1) * _geometric_series(1 / w), w ** (-p_sym) / (1 - w),
                  reduce=lambda e: sp.simplify(sp.powsimp(e, force=True)),
                  how="`powsimp` and `simplify`")
    d.say(r"Both series start at 0 (below: $\frac{x^c}{c}{}_2F_1 - \frac{x^c}{c} \to 0$ as "
          r"$x \to 0$ since $c + 1 = 2/D > 0$; above: $\to 0$ as $w\to\infty$), so matching "
          r"the closed form at $a \to 0$ and $a \to \infty$ fixes the constants:")
    d.result("G_hyper_below", hyper_below(), (x, D), lhs=r"G(x)\big|_{0<x<1}",
             text="antiderivative below the target, any $D \\ge 3$",
             code="`dln.modes.G_of_w(w, D)`, $w < 1$")
    d.result("G_hyper_above", hyper_above(), (w, D), lhs=r"G(w)\big|_{w>1}",
             text="antiderivative above the target, any $D \\ge 3$",
             code="`dln.modes.G_of_w(w, D)`, $w > 1$")
    d.say(r"For $D = 4$, `hyperexpand` turns the first form into elementary functions, which "
          r"equal the closed form exactly:")
    expanded = sp.hyperexpand(hyper_below(4))
    d.show(r"G_4(x)", expanded)
    d.check_equal(r"$D = 4$, $0 < x < 1$", expanded,
                  closed_form(4, "below").subs(a, x ** sp.Rational(1, 4)),
                  reduce=lambda e: sp.simplify(sp.exp(e.rewrite(sp.log)) - 1),
                  how=r"`rewrite(log)` and `simplify` of $e^{\mathrm{lhs}-\mathrm{rhs}} - 1$ "
                      r"(both sides are real on $0 < x < 1$, so "
                      r"$e^{\mathrm{lhs}-\mathrm{rhs}} = 1$ "
                      r"means equality)", display=False)
    d.say(r"For $D = 3$ and $5$, `hyperexpand` returns complex logarithms at the roots of unity "
          r"that `simplify` does not reduce, and sympy cannot sum the finite trigonometric "
          r"sum $C_D$ for symbolic $D$. So the identity of the two forms, with the constant "
          r"$-\pi\cot\pi c$, is checked numerically for each depth up to 12:")
    worst = _compare_forms_numerically()
    d.check_numeric(r"Closed form vs ${}_2F_1$ forms, $D = 3,\dots,12$",
                    worst, 1e-30,
                    how=r"mpmath at 50 digits, 24 seeded random points per depth, "
                        r"$w \in (10^{-6}, 1)$ and $(1, 10^{6})$ log-uniform, including "
                        r"$|1 - w| \le 10^{-8}$")


def _compare_forms_numerically() -> float:
    """Largest relative difference between the closed form and the ₂F₁ forms (mpmath)."""
    rng = random.Random(20240613)
    worst = 0.0
    with mpmath.workdps(50):
        below = sp.lambdify((x, D), hyper_below(), modules="mpmath")
        above = sp.lambdify((w, D), hyper_above(), modules="mpmath")
        for depth in NUMERIC_DEPTHS:
            closed = sp.lambdify(a, closed_form(depth), modules="mpmath")
            points = ([mpmath.mpf(10) ** rng.uniform(-6, 0) for _ in range(8)]
                      + [mpmath.mpf(10) ** rng.uniform(0, 6) for _ in range(8)]
                      + [1 + sign * mpmath.mpf(10) ** rng.uniform(-12, -8)
                         for sign in (-1, 1) for _ in range(4)])
            for point in points:
                ref = closed(mpmath.root(point, depth))
                hyp = below(point, mpmath.mpf(depth)) if point < 1 else above(point,
                                                                              mpmath.mpf(depth))
                worst = max(worst, float(abs(hyp - ref) / abs(ref)))
    return worst


def _escape(d: Derivation) -> None:
    d.section("Small initialisation: the escape time")
    d.say(r"Start below the target, $w_0 = \lambda u_0/s \ll 1$, with per-layer strength $a_0$ "
          r"($u_0 = a_0^D$). Using the first form, the constants cancel and, exactly,")
    c = 2 / D - 1
    w0_of = lam * a0**D / s
    F = sp.Function("F")
    d.show(r"t_f", (x**c / c * F(x)).subs(x, f) / RATE - (x**c / c * F(x)).subs(x, sp.Symbol("w_0"))
           / RATE)
    d.say(r"with $F(x) = {}_2F_1(1,c;c+1;x) = 1 + O(x)$. As $w_0 \to 0$ the second term "
          r"dominates; it is, in the original units,")
    leading = -w0_of**c / (c * RATE)
    escape = a0 ** (2 - D) / ((D - 2) * s)
    d.check_equal(r"$-w_0^c/(c\kappa)$ at $w_0 = \lambda a_0^D/s$ (general $D$)", leading, escape,
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand_power_base(e, force=True),
                                                          force=True)),
                  how="`expand_power_base`, `powsimp` and `simplify`", display=False)
    d.result("escape_time", escape, (a0, s, D), lhs=r"t_{\mathrm{esc}}",
             text="escape time from a small per-layer init $a_0$ (leading order, $\\lambda$ "
                  "cancels)",
             code="`dln.modes.time_to_fraction` at tiny $u_0$ (relative gap "
                  "$\\to 0$)")
    d.say(r"It does not depend on the input variance $\lambda$, and grows like $a_0^{-(D-2)}$: "
          r"exponentially in depth for $a_0 < 1$ (Saxe et al.'s plateau), but only $O(1/(sD))$ "
          r"for $a_0 \approx 1$. With the next term the time to reach the fraction $f$ is "
          r"$t_f = t_{\mathrm{esc}} + \frac{f^c}{c\kappa}F(f) + O\big(\frac{w_0^{c+1}}{(c+1)\kappa}"
          r"\big)$, that is")
    two_term = (f**c / c * sp.hyper([1, c], [c + 1], f) - (lam * u0 / s) ** c / c) / RATE
    d.result("escape_time_two_term", two_term, (f, s, lam, u0, D), lhs=r"t_f",
             text="two-term small-$u_0$ time to the fraction $f < 1$; the error is at most "
                  "$w_0^{c+1}/((c+1)(1-w_0)\\kappa)$",
             code="`dln.modes.time_to_fraction(f, s, lam, u0, D)` at tiny $u_0$")
    d.say(r"The omitted tail is $\sum_{n\ge1} w_0^{n+c}/(n+c) \le w_0^{c+1}/((c+1)(1-w_0))$ "
          r"(all terms positive since $n + c > 0$ for $n \ge 1$).")


def _decay(d: Derivation) -> None:
    d.section("Modes without signal ($s = 0$), general D")
    d.say(r"At $s = 0$ the reduced ODE is $\dot u = -D\lambda u^{1+p}$, $p = 2-2/D$. Then "
          r"$v = u^{-p}$ obeys $\dot v = -p u^{-p-1}\dot u = pD\lambda = (2D-2)\lambda$, so "
          r"$v = u_0^{-p} + (2D-2)\lambda t$:")
    p = 2 - 2 / D
    v = sp.Symbol("v", positive=True)
    d.check_equal(r"$\dot v = p D\lambda$ with $u = v^{-1/p}$, $\dot u = -D\lambda u^{1+p}$ "
                  r"(general $D$)",
                  -p * (v ** (-1 / p)) ** (-p - 1) * (-D * lam * (v ** (-1 / p)) ** (1 + p)),
                  (2 * D - 2) * lam, reduce=lambda e: sp.simplify(sp.powdenest(e, force=True)),
                  how="`powdenest` and `simplify`", display=False)
    rate_c = sp.Symbol("c", positive=True)  # (2D − 2)λ
    decay = u0 * (1 + (2 * D - 2) * lam * u0**p * t) ** (-D / (2 * D - 2))
    generic = u0 * (1 + rate_c * u0**p_sym * t) ** (-1 / p_sym)
    d.check_cases(r"$(u_0^{-p} + c\,t)^{-1/p} = u_0(1 + c\,u_0^{p}t)^{-1/p}$, the form `dln` "
                  r"evaluates, with $c = (2D-2)\lambda$ and $1/p = D/(2D-2)$",
                  [(r"$(-p)$-th powers of both sides, general $p > 0$ (injective on positive "
                    r"numbers)", u0 ** (-p_sym) + rate_c * t,
                    sp.powdenest(generic ** (-p_sym), force=True)),
                   (r"$1/p$ at $p = 2 - 2/D$", 1 / p, D / (2 * D - 2))],
                  reduce=lambda e: sp.simplify(sp.expand(e)), how="`expand` and `simplify`")
    d.result("decay", decay, (t, lam, u0, D), lhs=r"u(t)\big|_{s=0}",
             text="$s = 0$ mode, any $D \\ge 2$",
             code="`dln.modes.trajectory(t, 0, lam, u0, D)`")
    U = sp.Function("u")
    cases = []
    for depth in (2, 3, 4, 5):
        sol = decay.subs(D, depth)
        rhs = -depth * lam * U(t) ** (1 + p.subs(D, depth))
        cases.append((f"$D = {depth}$, residual", sp.diff(sol, t), rhs.subs(U(t), sol)))
    cases.append(("initial value", decay.subs(t, 0), u0))
    d.check_cases(r"Substituted into $\dot u = -D\lambda u^{3-2/D}$", cases)


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
