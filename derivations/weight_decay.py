"""Weight decay: the mode ODE with an L2 penalty, its closed forms at depth 1 and 2, and the
threshold below which a deep mode is lost.

The L2 penalty `½γ Σ_l ‖W_l‖²` added to the loss gives the flow `dW_l/dt = −∂L/∂W_l − γW_l`.
Steps:

1. the gradient of the penalised loss, entrywise against `sympy.diff` (explicit matrices);
2. aligned diagonal layers stay diagonal (symbolic diagonal matrices, D = 1…4), each mode obeying
   `ȧ_l = Π_{k≠l} a_k (s − λΠ_k a_k) − γa_l`; balanced layers give
   `du/dt = D u^{2−2/D}(s − λu) − Dγu` (D = 1…4 and general D);
3. the layer imbalances now decay, `d/dt (W_{l+1}ᵀW_{l+1} − W_lW_lᵀ) = −2γ (…)` (matrix symbols,
   any sizes), so balanced layers stay balanced;
4. depth 1: `dsolve`, target `s/(λ+γ)`; depth 2: the logistic of `r = s − γ` (`dsolve`, and its
   non-overflowing form for `r < 0`), modes with `s ≤ γ` decay;
5. depth ≥ 3: the fixed points solve `h(u) = u^{1−2/D}(s − λu) = γ`; the smaller is unstable
   (the threshold), the larger stable (the target), the origin is stable; the largest `γ` with
   roots; the small-`γ` threshold `≈ (γ/s)^{D/(D−2)}`; depth 4 in closed form (a cubic in `√u`);
6. two layers from general (non-aligned) balanced weights, whitened or isotropic input: the stacked
   weights `Q = [W1ᵀ; W2]` obey `Q̇ = (F − γI)Q − ½QQᵀQ` (matrix symbols, and entrywise from the
   penalised loss), so `P = QQᵀ` is the Riccati solution of the page `riccati` with
   `F → F − γI` (eigenvalues `μ → μ − γ`, same eigenvectors, `K_γ = ∫_0^t e^{2(F−γ)s}ds`);
   checked against a 30-digit Taylor integration of the weight flow; for ℓ-balanced weights with
   ℓ ≠ 0 the coefficient becomes time-dependent (`ℓ → ℓe^{−2γt}`) and the linear part needs
   modified Bessel functions of `e^{−2γt}`: no elementary closed form.
"""

from __future__ import annotations

import functools

import mpmath
import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import D, a, a0, lam, s, t, u, u0

NAME = "weight_decay"

gamma = sp.Symbol("gamma", positive=True)  # the weight-decay coefficient γ
r = sp.Symbol("r", real=True, nonzero=True)  # s − γ at depth 2
x = sp.Symbol("x", nonnegative=True)
v = sp.Symbol("v", positive=True)
y = sp.Symbol("y", real=True)  # ln u
_U = sp.Function("u")

P = 1 - 2 / D  # the exponent of h
H = u**P * (s - lam * u)  # the fixed points of a deep mode solve h(u) = γ
REDUCED_ODE = D * u ** (2 - 2 / D) * (s - lam * u) - D * gamma * u  # du/dt


def _expand_entries(m):
    return m.applyfunc(sp.expand)


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Weight decay: the mode ODE, its closed forms and the threshold of deep modes",
        sources="Saxe, McClelland & Ganguli (2014), arXiv:1312.6120 (the mode ODE; see the "
                "page `mode_ode`); the L2 penalty $\\tfrac12\\gamma\\sum_l"
                "\\lVert W_l\\rVert^2$ added to the loss.",
        statement=r"With weight decay $\gamma$ the flow is $\dot W_l = -\partial L/\partial W_l "
                  r"- \gamma W_l$; aligned balanced layers stay so, and each mode obeys "
                  r"$\dot u = D u^{2-2/D}(s-\lambda u) - D\gamma u$. At $D = 1$ it relaxes to "
                  r"$s/(\lambda+\gamma)$; at $D = 2$ it is the logistic of $s - \gamma$, so modes "
                  r"with $s \le \gamma$ are lost; at $D \ge 3$ the origin is stable, a mode "
                  r"started below the smaller root of $u^{1-2/D}(s-\lambda u) = \gamma$ "
                  r"(about $(\gamma/s)^{D/(D-2)}$) decays to 0 and one above it is learned to the "
                  r"larger root, below $s/\lambda$; past the largest $\gamma$ every mode decays. "
                  r"Two layers from any balanced weights ($W_2^\top W_2 = W_1W_1^\top$, not "
                  r"aligned) with whitened input follow the matrix Riccati solution with "
                  r"$F \to F - \gamma I$; $\ell$-balanced weights with $\ell \ne 0$ have no "
                  r"elementary closed form under weight decay.")
    _flow(d)
    _modes(d)
    _imbalance(d)
    _depth1(d)
    _depth2(d)
    _deep(d)
    _depth4(d)
    _two_layer(d)
    return d


def _flow(d: Derivation) -> None:
    d.section("The flow with weight decay")
    d.say(r"The penalised loss $L_\gamma = L + \tfrac12\gamma\sum_l\lVert W_l\rVert_F^2$ has the "
          r"flow")
    d.show(r"\dot W_l", r"(W_D\cdots W_{l+1})^\top\,(\Sigma^{yx} - W\Sigma^{xx})\,"
                        r"(W_{l-1}\cdots W_1)^\top - \gamma W_l")
    cases = []
    for widths in ((2, 3, 2), (2, 2, 3, 2)):
        depth = len(widths) - 1
        weights = [mx.general(f"W{l + 1}", widths[l + 1], widths[l]) for l in range(depth)]
        sxx, syx = mx.symmetric(r"\sigma", widths[0]), mx.general("c", widths[-1], widths[0])
        syy = mx.symmetric("e", widths[-1])
        penalty = sum((sum(e**2 for e in W) for W in weights), sp.S.Zero) * gamma / 2
        L = mx.loss(weights, sxx, syx, syy) + penalty
        formula = mx.flow(weights, sxx, syx, sp.eye(widths[0]), lambda l: sp.eye(widths[l]))
        for l, weight in enumerate(weights):
            minus_grad = -weight.applyfunc(lambda entry: sp.diff(L, entry))
            cases.append((f"$D = {depth}$, widths {widths}, $W_{l + 1}$", minus_grad,
                          formula[l] - gamma * weight))
    d.check_cases(r"$-\partial L_\gamma/\partial W_l$ entry by entry (`diff` of $L_\gamma$ with "
                  r"explicit symbolic matrices, a general symmetric $\Sigma^{xx}$) equals the "
                  r"formula", cases, reduce=_expand_entries, how="`expand`")


def _modes(d: Derivation) -> None:
    d.section("Aligned and balanced modes")
    d.say(r"In the singular bases of the task (the mode-ODE page; the penalty is invariant under "
          r"the orthogonal changes of basis) take diagonal layers $\bar W_l = \mathrm{diag}"
          r"(a_{l,\alpha})$, $\bar\Sigma^{yx} = \mathrm{diag}(s_\alpha)$, $\bar\Sigma^{xx} = "
          r"\mathrm{diag}(\lambda_\alpha)$. The velocity stays diagonal, with entries")
    d.show(r"\dot a_{l,\alpha}", r"\Big(\prod_{k\neq l}a_{k,\alpha}\Big)\Big(s_\alpha - "
                                r"\lambda_\alpha\prod_{k=1}^{D}a_{k,\alpha}\Big) - \gamma a_{l,\alpha}")  # noqa: E501
    modes = 2
    flows = mx.diagonal_mode_flows((1, 2, 3, 4), modes, gamma)
    cases = [(f"$D = {depth}$, layer {l + 1}", flow_l, expected)
             for depth, l, flow_l, expected in flows]
    d.check_cases(f"The flow of symbolic diagonal layers ({modes} modes) with weight decay is "
                  "diagonal with these entries", cases, reduce=_expand_entries, how="`expand`")

    d.say(r"Balanced layers ($a_{l} = a$ for every $l$; they stay balanced, section 3) give "
          r"$\dot a = a^{D-1}(s - \lambda a^D) - \gamma a$, and the mode strength $u = a^D$ obeys")
    d.result("reduced_ode", REDUCED_ODE, (u, s, lam, gamma, D), lhs=r"\dot u",
             text=r"mode ODE with weight decay, $\dot u = D u^{2-2/D}(s-\lambda u) - D\gamma u$",
             code="`dln.modes.trajectory(t, s, lam, u0, D, weight_decay=gamma)` (d/dt by "
                  "`jax.grad`)")
    cases = []
    for depth in (1, 2, 3, 4):
        flows = mx.flow([sp.diag(a) for _ in range(depth)], sp.diag(lam), sp.diag(s), sp.eye(1),
                        lambda l: sp.eye(1))
        velocities = [flows[l][0, 0] - gamma * a for l in range(depth)]
        cases += [(f"$D = {depth}$, layer {l + 1} vs layer 1", velocities[l], velocities[0])
                  for l in range(1, depth)]
        u_dot = sp.diff(a**depth, a) * velocities[0]
        cases.append((f"$D = {depth}$, $\\dot u$", u_dot,
                      REDUCED_ODE.subs(D, depth).subs(u, a**depth)))
    d.check_cases(r"From the matrix flow of balanced $1\times1$ layers with weight decay: all "
                  r"layers have the same velocity, and $\dot u = D a^{D-1}\dot a$ equals the ODE "
                  r"above at $u = a^D$", cases)
    a_dot = a ** (D - 1) * (s - lam * a**D) - gamma * a
    d.check_equal(r"General $D$: $D a^{D-1}\big(a^{D-1}(s-\lambda a^D) - \gamma a\big)$ equals "
                  r"the ODE at $u = a^D$", D * a ** (D - 1) * a_dot, REDUCED_ODE.subs(u, a**D),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`", display=False)
    d.say(r"Factored, with $h(u) = u^{1-2/D}(s - \lambda u)$:")
    d.check_equal(r"$\dot u = D u\,(h(u) - \gamma)$ (general $D$)", REDUCED_ODE,
                  D * u * (H - gamma),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`", display=False)
    d.show(r"\dot u", D * u * (sp.Function("h")(u) - gamma))


def _imbalance(d: Derivation) -> None:
    d.section("Balance is kept: the imbalances decay")
    d.say(r"Write the weight-decay flow as $\dot W_l = G_l - \gamma W_l$ with $G_l$ the flow "
          r"without it. With $P_a = W_D\cdots W_{l+2}$, $P_b = W_{l-1}\cdots W_1$ and "
          r"$E = \Sigma^{yx} - W\Sigma^{xx}$ (see the conservation page), the imbalance "
          r"$M_l = W_{l+1}^\top W_{l+1} - W_lW_l^\top$ obeys $\dot M_l = -2\gamma M_l$:")
    m, k, n1, n0, n = sp.symbols("m k n_1 n_0 n", integer=True, positive=True)
    Pa = sp.MatrixSymbol("P_a", m, k)
    Wn = sp.MatrixSymbol("W_{l+1}", k, n1)
    Wl = sp.MatrixSymbol("W_l", n1, n0)
    Pb = sp.MatrixSymbol("P_b", n0, n)
    E = sp.MatrixSymbol("E", m, n)
    dWn = Pa.T * E * (Wl * Pb).T - gamma * Wn
    dWl = (Pa * Wn).T * E * Pb.T - gamma * Wl
    rate = dWn.T * Wn + Wn.T * dWn - (dWl * Wl.T + Wl * dWl.T)
    d.check_zero(r"$\dot W_{l+1}^\top W_{l+1} + W_{l+1}^\top\dot W_{l+1} - \dot W_l W_l^\top - "
                 r"W_l\dot W_l^\top + 2\gamma\,(W_{l+1}^\top W_{l+1} - W_lW_l^\top)$ vanishes for "
                 r"matrix symbols of arbitrary sizes", rate + 2 * gamma * (Wn.T * Wn - Wl * Wl.T),
                 reduce=lambda e: sp.simplify(sp.expand(e.doit())), how="`doit`, `expand` and "
                 "`simplify`", display=False)
    M0 = sp.Symbol("M_0", real=True)
    M = sp.Function("M")
    sol = sp.dsolve(sp.Eq(M(t).diff(t), -2 * gamma * M(t)), M(t), ics={M(0): M0}).rhs
    d.check_equal(r"`dsolve` of $\dot M = -2\gamma M$ (entrywise) from $M(0) = M_0$",
                  sol, M0 * sp.exp(-2 * gamma * t), display=False)
    d.result("imbalance", M0 * sp.exp(-2 * gamma * t), (t, gamma, M0), lhs=r"M_l(t)",
             text=r"layer imbalance under weight decay (entrywise); balanced ($M_0 = 0$) stays "
                  r"balanced",
             code="`tests/test_weight_decay.py` (gradient descent keeps `dln.init.aligned` "
                  "weights balanced)")
    d.say(r"So $M_0 = 0$ stays $0$: weights started balanced stay balanced, which the reduced "
          r"ODE assumes, and any imbalance is forgotten at the rate $2\gamma$.")


def _ode(depth: int):
    return REDUCED_ODE.subs(D, depth).subs(u, _U(t))


def _check_solution(d: Derivation, depth: int, sol, label="") -> None:
    residual = sp.diff(sol, t) - _ode(depth).subs(_U(t), sol)
    d.check_cases(f"$D = {depth}${label}: the solution satisfies the ODE and the initial "
                  "condition", [("residual $\\dot u - \\mathrm{rhs}$", residual, sp.S.Zero),
                                ("$u(0) = u_0$", sol.subs(t, 0), u0)])


def _depth1(d: Derivation) -> None:
    d.section("Depth 1: relaxation to $s/(\\lambda+\\gamma)$")
    d.show(r"\dot u", _ode(1).subs(_U(t), u))
    sol = sp.dsolve(sp.Eq(_U(t).diff(t), _ode(1)), _U(t), ics={_U(0): u0}).rhs
    d.say("`dsolve` with $u(0) = u_0$ gives")
    d.show(r"u(t)", sol)
    _check_solution(d, 1, sol)
    k = lam + gamma
    form = u0 * sp.exp(-k * t) + s * (1 - sp.exp(-k * t)) / k
    d.check_equal(r"It is $u_0 e^{-(\lambda+\gamma)t} + s\,t\,\varphi((\lambda+\gamma)t)$, "
                  r"$\varphi(x) = (1-e^{-x})/x$: the depth-1 form of `dln` with $\lambda \to "
                  r"\lambda+\gamma$", sol, form, display=False)
    d.result("trajectory_depth1", form, (t, s, lam, gamma, u0), lhs=r"u(t)",
             text=r"mode strength, $D = 1$, weight decay $\gamma$",
             code="`dln.modes.trajectory(t, s, lam, u0, 1, weight_decay=gamma)`")
    d.result("target_depth1", s / k, (s, lam, gamma), lhs=r"u_\infty",
             text=r"its limit, $s/(\lambda+\gamma)$",
             code="`dln.modes.weight_decay_target(s, lam, gamma, 1)`")
    d.check_equal(r"$\lim_{t\to\infty} u(t) = s/(\lambda+\gamma)$", sp.limit(form, t, sp.oo),
                  s / k, display=False)


def _depth2(d: Derivation) -> None:
    d.section("Depth 2: the logistic of $s - \\gamma$")
    d.show(r"\dot u", sp.factor(_ode(2).subs(_U(t), u)))
    sol = sp.dsolve(sp.Eq(_U(t).diff(t), _ode(2)), _U(t), ics={_U(0): u0}).rhs
    d.say("`dsolve` with $u(0) = u_0$ gives")
    d.show(r"u(t)", sol)
    _check_solution(d, 2, sol)
    rr = s - gamma
    form = u0 / (sp.exp(-2 * rr * t) + lam * u0 * (1 - sp.exp(-2 * rr * t)) / rr)
    d.say(r"With $r = s - \gamma$ it is the logistic of `dln` with $s \to r$, "
          r"$u = u_0/\big(e^{-2rt} + 2\lambda u_0\,t\,\varphi(2rt)\big)$:")
    _check_solution(d, 2, form, " (the form above)")
    # Both solve the same initial-value problem (uniqueness: the right side is polynomial in u);
    # `simplify` of their difference does not terminate in reasonable time, so compare values.
    points = [{t: sp.Rational(3, 7), s: sp.Rational(5, 3), lam: sp.Rational(1, 2),
               gamma: sp.Rational(1, 4), u0: sp.Rational(1, 100)},
              {t: sp.Rational(11, 5), s: sp.Rational(1, 3), lam: sp.Rational(7, 4),
               gamma: sp.Rational(5, 4), u0: sp.Rational(9, 10)},
              {t: 5, s: 2, lam: 3, gamma: sp.Rational(1, 10), u0: 4}]
    error = max(abs(float(((sol - form) / form).subs(pt).evalf(40))) for pt in points)
    d.check_numeric("`dsolve`'s solution equals this form (both solve the same initial-value "
                    "problem)", error, 1e-30,
                    how="at 3 rational points with $s > \\gamma$ and $s < \\gamma$, 40 digits")
    d.result("trajectory_depth2", form, (t, s, lam, gamma, u0), lhs=r"u(t)",
             text=r"mode strength, $D = 2$, weight decay $\gamma \ne s$ (either sign of "
                  r"$s - \gamma$)",
             code="`dln.modes.trajectory(t, s, lam, u0, 2, weight_decay=gamma)`")
    d.say(r"For $r < 0$ the term $e^{-2rt}$ overflows in floating point; with $x = -2rt = "
          r"2|r|t \ge 0$ the same solution, multiplied through by $e^{-x}$, is a ratio of "
          r"non-negative terms:")
    lost = u0 * sp.exp(-x) / (1 + 2 * lam * u0 * t * (1 - sp.exp(-x)) / x)
    d.show(r"u(t)\big|_{r<0}", lost)
    d.check_equal(r"At $x = -2rt$ it equals the logistic above (any $r \ne 0$)",
                  lost.subs(x, -2 * r * t),
                  u0 / (sp.exp(-2 * r * t) + lam * u0 * (1 - sp.exp(-2 * r * t)) / r),
                  display=False)
    critical = sp.limit(form.subs(s, gamma + r), r, 0)
    d.check_equal(r"At $s = \gamma$ ($r \to 0$, `limit`) the mode decays algebraically, "
                  r"$u = u_0/(1 + 2\lambda u_0 t)$", critical, u0 / (1 + 2 * lam * u0 * t),
                  display=False)
    d.result("critical_depth2", u0 / (1 + 2 * lam * u0 * t), (t, lam, u0),
             lhs=r"u(t)\big|_{s=\gamma}",
             text=r"$D = 2$ at $s = \gamma$: algebraic decay",
             code="`dln.modes.trajectory(t, gamma, lam, u0, 2, weight_decay=gamma)`")
    f2 = 2 * u * (rr - lam * u)
    d.check_equal(r"The fixed points are $u = 0$ and $u = (s-\gamma)/\lambda$; at the origin "
                  r"$\partial\dot u/\partial u = 2(s-\gamma)$",
                  sp.diff(_ode(2).subs(_U(t), u), u).subs(u, 0), 2 * rr, display=False)
    d.check_equal(r"The right-hand side is $2u(s - \gamma - \lambda u)$", _ode(2).subs(_U(t), u),
                  f2, display=False)
    d.result("target_depth2", rr / lam, (s, lam, gamma), lhs=r"u_\infty",
             text=r"$D = 2$: the limit $(s-\gamma)/\lambda$ for $s > \gamma$ ($0$ for $s \le "
                  r"\gamma$)", code="`dln.modes.weight_decay_target(s, lam, gamma, 2)`")
    d.say(r"So for $s > \gamma$ every mode with $u_0 > 0$ is learned to $(s-\gamma)/\lambda$ "
          r"(the origin is unstable), while for $s < \gamma$ the origin is stable, "
          r"$(s-\gamma)/\lambda < 0$ is out of reach, and every mode decays exponentially "
          r"(algebraically at $s = \gamma$): modes with $s \le \gamma$ are lost.")


def _deep(d: Derivation) -> None:
    d.section("Depth $D \\ge 3$: fixed points, stability and the threshold")
    d.say(r"With $p = 1 - 2/D \in (0, 1)$ and $h(u) = u^p(s - \lambda u)$ the ODE is "
          r"$\dot u = D u\,(h(u) - \gamma)$. In $y = \ln u$ it reads $\dot y = D\,(h(e^y) - "
          r"\gamma)$, so the nonzero fixed points are the roots of")
    d.result("fixed_point_equation", H - gamma, (u, s, lam, gamma, D), lhs=r"h(u) - \gamma",
             text=r"nonzero fixed points of a mode, $D \ge 3$: the roots of $u^{1-2/D}(s-"
                  r"\lambda u) = \gamma$",
             code="`dln.modes.weight_decay_threshold` (smaller root), "
                  "`dln.modes.weight_decay_target` (larger root)")
    u_m = (D - 2) * s / ((2 * D - 2) * lam)
    hp = sp.diff(H, u)
    d.check_zero(r"$h'(u_m) = 0$ at $u_m$ below", hp.subs(u, u_m),
                 reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                 how="`expand`, `powsimp` and `simplify`", display=False)
    d.check_equal(r"$u^{1-p}h'(u) = ps - (1+p)\lambda u$, positive below $u_m$, negative above",
                  sp.powsimp(sp.expand(u ** (1 - P) * hp), force=True),
                  P * s - (1 + P) * lam * u,
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`", display=False)
    d.result("peak_strength", u_m, (s, lam, D), lhs=r"u_m",
             text=r"where $h$ peaks ($D \ge 3$)", code="`tests/test_weight_decay.py`")
    gamma_max = sp.simplify(H.subs(u, u_m))
    d.result("max_weight_decay", gamma_max, (s, lam, D), lhs=r"\gamma_{\max} = h(u_m)",
             text=r"the largest $\gamma$ at which a mode can be learned ($D \ge 3$)",
             code="`dln.modes.weight_decay_target(s, lam, gamma, D)` is 0 above it")
    d.say(r"$h$ rises from $h(0) = 0$ to $\gamma_{\max}$ at $u_m$ and falls to $h(s/\lambda) = 0$. "
          r"So for $0 < \gamma < \gamma_{\max}$ there are two roots, $u_- < u_m < u_+ < "
          r"s/\lambda$, none for $\gamma > \gamma_{\max}$. Stability in $y$: "
          r"$\partial\dot y/\partial y = D u h'(u)$, positive at $u_-$ (unstable: the "
          r"threshold) and negative at $u_+$ (stable: the target).")
    g_y = D * (H.subs(u, sp.exp(y)) - gamma)
    d.check_equal(r"$\partial\dot y/\partial y = D u h'(u)$ at $u = e^y$ (general $D$)",
                  sp.diff(g_y, y), (D * u * hp).subs(u, sp.exp(y)),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`", display=False)
    cases = []
    for depth in (3, 4, 5, 8):
        cases.append((f"$D = {depth}$", sp.limit(g_y.subs(D, depth), y, -sp.oo),
                      -depth * gamma))
    d.check_cases(r"The origin attracts: $\dot y \to -D\gamma$ as $y \to -\infty$ (`limit`), "
                  r"so below $u_-$ a mode decays like $e^{-D\gamma t}$", cases)
    d.say(r"A mode below $u_-$ is therefore lost at any training length, one above it is "
          r"learned to $u_+$; with $\gamma > \gamma_{\max}$ every mode decays. For small "
          r"$\gamma$ write $u = (\gamma/s)^{1/p}\,v$: the equation $h(u) = \gamma$ becomes")
    cases = []
    for depth in (3, 4, 5):
        p = 1 - sp.Rational(2, depth)
        ratio = H.subs(D, depth).subs(u, (gamma / s) ** (1 / p) * v) / gamma
        cases.append((f"$D = {depth}$", sp.limit(ratio, gamma, 0, "+"), v**p))
    d.check_cases(r"$h\big((\gamma/s)^{1/p} v\big)/\gamma \to v^p$ as $\gamma \to 0^+$ "
                  r"(`limit`), so the smaller root has $v \to 1$: $u_- \approx "
                  r"(\gamma/s)^{D/(D-2)}$", cases)


def _depth4(d: Derivation) -> None:
    d.section("Depth 4 in closed form")
    b = sp.Symbol("b", positive=True)
    phi = sp.Symbol("phi", real=True)
    d.say(r"At $D = 4$, $h(u) = \sqrt u\,(s - \lambda u)$: with $b = \sqrt u$ the fixed points "
          r"solve the cubic $\lambda b^3 - s b + \gamma = 0$, whose roots are trigonometric, "
          r"$b = 2m\cos\phi$ with $m = \sqrt{s/(3\lambda)}$:")
    cubic = lam * b**3 - s * b + gamma
    d.check_equal(r"$h(b^2) - \gamma = -(\lambda b^3 - s b + \gamma)$",
                  H.subs(D, 4).subs(u, b**2) - gamma, -cubic, display=False)
    mm = sp.sqrt(s / (3 * lam))
    d.check_equal(r"At $b = 2m\cos\phi$: $\lambda b^3 - sb + \gamma = \tfrac23 s m\cos 3\phi + "
                  r"\gamma$", cubic.subs(b, 2 * mm * sp.cos(phi)),
                  sp.Rational(2, 3) * s * mm * sp.cos(3 * phi) + gamma,
                  reduce=lambda e: sp.simplify(sp.expand(sp.expand_trig(e))),
                  how="`expand_trig`, `expand` and `simplify`")
    X = -3 * gamma / (2 * s * mm)
    d.say(r"So $\cos 3\phi = -3\gamma/(2sm)$, real for $\gamma \le \gamma_{\max}$; with "
          r"$\theta = \arccos(-3\gamma/(2sm)) \in (\pi/2, \pi]$ the three roots are "
          r"$\phi = \theta/3 - 2\pi k/3$: $k = 0$ the largest ($\cos\phi \ge 1/2$), $k = 1$ the "
          r"smaller positive one, $k = 2$ negative.")
    theta = sp.acos(X)
    roots = {}
    for key, k in (("target_depth4", 0), ("threshold_depth4", 1)):
        bk = 2 * mm * sp.cos(theta / 3 - 2 * sp.pi * k / 3)
        d.check_zero(f"$k = {k}$ is a root of the cubic",
                     sp.Rational(2, 3) * s * mm * sp.cos(3 * (theta / 3 - 2 * sp.pi * k / 3))
                     + gamma, display=False)
        roots[key] = bk**2
    d.result("threshold_depth4", roots["threshold_depth4"], (s, lam, gamma),
             lhs=r"u_-\big|_{D=4}", text=r"threshold at $D = 4$ ($\gamma \le \gamma_{\max}$)",
             code="`dln.modes.weight_decay_threshold(s, lam, gamma, 4)`")
    d.result("target_depth4", roots["target_depth4"], (s, lam, gamma),
             lhs=r"u_+\big|_{D=4}", text=r"target at $D = 4$ ($\gamma \le \gamma_{\max}$)",
             code="`dln.modes.weight_decay_target(s, lam, gamma, 4)`")
    gmax4 = sp.simplify(H.subs(D, 4).subs(u, ((4 - 2) * s / ((2 * 4 - 2) * lam))))
    d.check_equal(r"$\cos 3\phi = -1$ (the two positive roots merge) exactly at "
                  r"$\gamma = \gamma_{\max}$", X.subs(gamma, gmax4), -1, display=False)


# ------------------------------------------------------------------------------------ step 6
ell = sp.Symbol("ell", real=True)  # the layer imbalance W2ᵀW2 − W1W1ᵀ = ℓI (λ on `riccati`)
c_in = sp.Symbol("c", positive=True)  # Σxx = c I


def _matrix_expand(e):
    return sp.expand(e.doit())


def _two_layer(d: Derivation) -> None:
    d.section("Two layers from general balanced weights: the Riccati solution with $F - "
              "\\gamma I$")
    d.say(r"Sections 2–7 need weights aligned with the task. For two layers the flow from "
          r"*any* balanced weights has a closed form (the page `riccati` without weight decay; "
          r"here $\lambda$ stays the input variance and the layer imbalance is called $\ell$: "
          r"$W_2^\top W_2 - W_1W_1^\top = \ell I$ is the `riccati` page's $\lambda$). With "
          r"whitened input stack $Q = [W_1^\top; W_2]$, let $J = \operatorname{diag}(-I_{N_i}, "
          r"I_{N_o})$, $\Delta = W_2^\top W_2 - W_1W_1^\top - \ell I$ and $F_\ell = "
          r"\begin{bmatrix}-\frac\ell2 I & \Sigma^{yx\top}\\ \Sigma^{yx} & \frac\ell2 I"
          r"\end{bmatrix}$. For any weights the flow with weight decay is")
    d.show(r"\dot Q - \Big((F_\ell - \gamma I)Q - \tfrac12 QQ^\top Q\Big)", r"\tfrac12\,J\,Q\,"
           r"\Delta")
    i, h, o = sp.symbols("N_i N_h N_o", integer=True, positive=True)
    W1 = sp.MatrixSymbol("W_1", h, i)
    W2 = sp.MatrixSymbol("W_2", o, h)
    Sig = sp.MatrixSymbol(r"\Sigma", o, i)
    delta = W2.T * W2 - W1 * W1.T - ell * sp.Identity(h)
    err = Sig - W2 * W1
    gram = W1 * W1.T + W2.T * W2
    top = -ell / 2 * W1.T + Sig.T * W2 - gamma * W1.T - W1.T * gram / 2
    bottom = Sig * W1.T + ell / 2 * W2 - gamma * W2 - W2 * gram / 2
    d.check_cases(r"$\dot Q - ((F_\ell - \gamma I)Q - \frac12QQ^\top Q) = \frac12 JQ\Delta$ "
                  r"with $\dot W_1 = W_2^\top(\Sigma^{yx} - W_2W_1) - \gamma W_1$, $\dot W_2 = "
                  r"(\Sigma^{yx} - W_2W_1)W_1^\top - \gamma W_2$, blockwise, matrix symbols of "
                  r"arbitrary sizes",
                  [(r"rows of $W_1^\top$", (W2.T * err - gamma * W1).T - top, -W1.T * delta / 2),
                   (r"rows of $W_2$", err * W1.T - gamma * W2 - bottom, W2 * delta / 2)],
                  reduce=_matrix_expand, how="`doit` and `expand` (matrix symbols)")
    cases = []
    for n_in, n_hid, n_out in ((2, 1, 3), (2, 3, 2)):
        w1 = mx.general("a", n_hid, n_in)
        w2 = mx.general("b", n_out, n_hid)
        syx = mx.general("s", n_out, n_in)
        loss = mx.loss([w1, w2], sp.eye(n_in), syx, sp.zeros(n_out, n_out)) + gamma / 2 * (
            sum(e**2 for e in w1) + sum(e**2 for e in w2))
        g1 = w1.applyfunc(lambda e, loss=loss: -sp.diff(loss, e))
        g2 = w2.applyfunc(lambda e, loss=loss: -sp.diff(loss, e))
        Q = w1.T.col_join(w2)
        F = sp.Matrix(sp.BlockMatrix([[-ell / 2 * sp.eye(n_in), syx.T],
                                      [syx, ell / 2 * sp.eye(n_out)]]))
        J = sp.diag(*([-1] * n_in + [1] * n_out))
        dl = w2.T * w2 - w1 * w1.T - ell * sp.eye(n_hid)
        cases.append((f"$(N_i, N_h, N_o) = ({n_in}, {n_hid}, {n_out})$",
                      g1.T.col_join(g2) - ((F - gamma * sp.eye(n_in + n_out)) * Q
                                           - Q * Q.T * Q / 2), J * Q * dl / 2))
    d.check_cases(r"The same entrywise from $-\partial L_\gamma/\partial W$ (`diff` of the "
                  r"penalised loss, explicit rectangular matrices)", cases,
                  reduce=_expand_entries, how="`expand`")
    d.say(r"Section 3: the imbalance is $W_2^\top W_2 - W_1W_1^\top = \ell e^{-2\gamma t}I$ for "
          r"weights started $\ell$-balanced. **Balanced weights** ($\ell = 0$) stay balanced, "
          r"$\Delta = 0$ with $\ell = 0$ at all times, so with $F = F_0 = \begin{bmatrix}0 & "
          r"\Sigma^{yx\top}\\ \Sigma^{yx} & 0\end{bmatrix}$")
    d.show(r"\dot Q", r"(F - \gamma I)\,Q - \tfrac12\,QQ^\top Q")
    d.say(r"which is the equation of the `riccati` page with the symmetric matrix $F$ replaced "
          r"by the symmetric $A = F - \gamma I$. That derivation used only $A^\top = A$: "
          r"$P = QQ^\top$ obeys $\dot P = AP + PA - P^2$, and with $G = e^{At}Q_0$ "
          r"($\dot G = AG$), $M = I + Q_0^\top K_\gamma Q_0$, $K_\gamma = \int_0^t e^{2As}ds$ "
          r"($\dot M = G^\top G$), $P = GM^{-1}G^\top$ solves it with $P(0) = Q_0Q_0^\top$. "
          r"Again with matrix symbols:")
    n = sp.Symbol("n", integer=True, positive=True)
    Fm = sp.MatrixSymbol("F", n, n)  # symmetric: Fᵀ is written as F
    Qm = sp.MatrixSymbol("Q", n, h)
    A = Fm - gamma * sp.Identity(n)
    Qdot = A * Qm - Qm * Qm.T * Qm / 2
    QdotT = Qm.T * A - Qm.T * Qm * Qm.T / 2  # (using Fᵀ = F)
    P = Qm * Qm.T
    G = sp.MatrixSymbol("G", n, h)
    Minv = sp.MatrixSymbol("M^{-1}", h, h)
    Pm = G * Minv * G.T
    d.check_cases(r"With $A = F - \gamma I$",
                  [(r"$\dot QQ^\top + Q\dot Q^\top = AP + PA - P^2$",
                    Qdot * Qm.T + Qm * QdotT, A * P + P * A - Qm * Qm.T * Qm * Qm.T),
                   (r"$\frac{d}{dt}(GM^{-1}G^\top) = AGM^{-1}G^\top - GM^{-1}G^\top GM^{-1}G^\top "
                    r"+ GM^{-1}G^\top A = AP + PA - P^2$",
                    A * G * Minv * G.T - G * Minv * G.T * G * Minv * G.T + G * Minv * G.T * A,
                    A * Pm + Pm * A - G * Minv * G.T * G * Minv * G.T)],
                  reduce=_matrix_expand, how="`doit` and `expand` (matrix symbols)")
    d.show(r"P(t)", r"e^{(F-\gamma I)t}Q_0\big[I + Q_0^\top K_\gamma(t)Q_0\big]^{-1}Q_0^\top "
           r"e^{(F-\gamma I)t},\qquad K_\gamma(t) = \int_0^t e^{2(F-\gamma I)s}\,ds")
    mu_, tt = sp.Symbol("mu", real=True), sp.Symbol("tau", nonnegative=True)
    k_int = sp.integrate(sp.exp(2 * (mu_ - gamma) * tt), (tt, 0, t), conds="none")
    d.say(r"$\gamma I$ commutes with $F$: $e^{(F-\gamma I)t} = e^{-\gamma t}e^{Ft}$, the "
          r"eigenvectors of the `riccati` page are unchanged and every eigenvalue $\mu$ of $F$ "
          r"becomes $\mu - \gamma$. In the eigenbasis $K_\gamma$ is diagonal:")
    d.check_cases(r"`integrate` $\int_0^t e^{2(\mu-\gamma)\tau}d\tau$",
                  [(r"$\mu \ne \gamma$", sp.piecewise_fold(k_int).subs(mu_, gamma + 1),
                    ((sp.exp(2 * (mu_ - gamma) * t) - 1) / (2 * (mu_ - gamma))).subs(
                        mu_, gamma + 1)),
                   (r"general $\mu \ne \gamma$, by differentiation",
                    sp.diff((sp.exp(2 * (mu_ - gamma) * t) - 1) / (2 * (mu_ - gamma)), t),
                    sp.exp(2 * (mu_ - gamma) * t)),
                   (r"$\mu = \gamma$", sp.integrate(sp.S.One, (tt, 0, t)), t)])
    d.show(r"O^\top K_\gamma O", r"\operatorname{diag}\Big(\frac{e^{2(\mu_i-\gamma)t} - 1}"
           r"{2(\mu_i - \gamma)}\Big)\quad(t\text{ where }\mu_i = \gamma)")
    d.say(r"So the whole solution, its eigenbasis, its echelon form and its stable evaluation "
          r"(`riccati` page, section 5: an identity for any real eigenvalues) carry over with "
          r"$\mu_i \to \mu_i - \gamma$. At $\ell = 0$ a mode has $\mu = \pm s$ with $e_\pm = "
          r"(v, \pm u)/\sqrt2$, unmatched directions $\mu = 0$; with weight decay these become "
          r"$\pm s - \gamma$ and $-\gamma$. A growing direction ($s > \gamma$) fills to "
          r"$2(s - \gamma)e_+e_+^\top$, a fixed point of $\dot P = AP + PA - P^2$, whose "
          r"map block is $s - \gamma$, the depth-2 target of section 5 at $\lambda = 1$; modes "
          r"with $s < \gamma$ decay exponentially, at $s = \gamma$ like $1/t$ ($K_\gamma$ grows "
          r"like $t$), and the unmatched directions (zero without weight decay, decaying like "
          r"$1/t$ for a wide hidden layer) now decay like $e^{-2\gamma t}$.")
    vv, uu = sp.symbols("v u_o", real=True)
    e_p = sp.Matrix([1, 1]) / sp.sqrt(2)
    F2 = sp.Matrix([[0, s], [s, 0]])
    A2 = F2 - gamma * sp.eye(2)
    Pfix = 2 * (s - gamma) * e_p * e_p.T
    d.check_cases(r"One mode plane, $A = \begin{bmatrix}-\gamma & s\\ s & -\gamma\end{bmatrix}$",
                  [(r"$Ae_+ = (s - \gamma)e_+$", A2 * e_p, (s - gamma) * e_p),
                   (r"$P_\infty = 2(s-\gamma)e_+e_+^\top$ is a fixed point",
                    A2 * Pfix + Pfix * A2 - Pfix * Pfix, sp.zeros(2, 2)),
                   (r"its map block", sp.Matrix([Pfix[1, 0]]), sp.Matrix([s - gamma]))],
                  reduce=_expand_entries,
                  how="`expand`")
    d.say(r"**One unit per layer** (aligned, $a_0 = b_0$): $Q_0 = (a_0, a_0)^\top$ lies along "
          r"$e_+$, so $G = a_0e^{(s-\gamma)t}(1, 1)^\top$ and $M = 1 + 2a_0^2(e^{2(s-\gamma)t} - "
          r"1)/(2(s-\gamma))$; the map $u = P_{21}$ is the logistic of section 5 with "
          r"$u_0 = a_0^2$, $\lambda = 1$:")
    rr = s - gamma
    expm = sp.exp(-gamma * t) * (sp.cosh(s * t) * sp.eye(2) + sp.sinh(s * t) / s * F2)
    Q0 = sp.Matrix([a0, a0])
    Gv = (expm * Q0).applyfunc(lambda e: sp.simplify(e.rewrite(sp.exp)))
    Kv = sp.Matrix(2, 2, lambda p, q: sp.integrate(
        (sp.exp(-2 * gamma * tt) * (sp.cosh(2 * s * tt) * sp.eye(2)
                                    + sp.sinh(2 * s * tt) / s * F2))[p, q].rewrite(sp.exp),
        (tt, 0, t), conds="none"))
    Mv = 1 + (Q0.T * Kv * Q0)[0, 0]
    u_map = Gv[1] * Gv[0] / Mv
    depth2 = u0 / (sp.exp(-2 * rr * t) + u0 * (1 - sp.exp(-2 * rr * t)) / rr)
    d.check_equal(r"$G_2G_1/M$ with $e^{At} = e^{-\gamma t}(\cosh(st)I + \sinh(st)F/s)$ and "
                  r"$K_\gamma$ by `integrate` equals the depth-2 logistic of $r = s - \gamma$ at "
                  r"$u_0 = a_0^2$ ($s \ne \gamma$)",
                  u_map.subs(s, gamma + r), depth2.subs(u0, a0**2).subs(s, gamma + r),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(sp.simplify(e)))),
                  how="`simplify`, `expand` and `powsimp`", display=False)
    d.result("riccati_map_one_unit", a0**2 * sp.exp(2 * rr * t)
             / (1 + a0**2 * (sp.exp(2 * rr * t) - 1) / rr), (t, a0, s, gamma),
             lhs=r"u(t) = P_{21}(t)",
             text=r"the map of a 1-1-1 network from $(a_0, a_0)$ with weight decay, from the "
                  r"Riccati solution with $F - \gamma I$",
             code="`dln.riccati.two_layer_trajectory(..., weight_decay=gamma)` "
                  "(tests/test_riccati_weight_decay.py)")
    _two_layer_numeric(d)
    d.say(r"**Isotropic input** $\Sigma^{xx} = cI$: $\tilde W = \sqrt c\,W$ obeys the whitened "
          r"flow with the same $\Sigma^{yx}$ and the same $\gamma$ (the decay term is linear), "
          r"so $P = \tilde Q\tilde Q^\top/c$ as on the `riccati` page, $\gamma$ not rescaled:")
    rc = sp.sqrt(c_in)
    d.check_cases(r"$\sqrt c\,\dot W = $ the whitened flow of $\sqrt c\,W$ with weight decay",
                  [(r"$W_1$", rc * (W2.T * (Sig - c_in * W2 * W1) - gamma * W1),
                    (rc * W2).T * (Sig - (rc * W2) * (rc * W1)) - gamma * (rc * W1)),
                   (r"$W_2$", rc * ((Sig - c_in * W2 * W1) * W1.T - gamma * W2),
                    (Sig - (rc * W2) * (rc * W1)) * (rc * W1).T - gamma * (rc * W2))],
                  reduce=_matrix_expand, how="`doit` and `expand` (matrix symbols)")
    _two_layer_unbalanced(d)


def _mp(x):
    x = sp.Rational(x)
    return mpmath.mpf(x.p) / x.q


def _cayley(params, n):
    """A rational orthogonal matrix `(I − S)(I + S)^{−1}` from a skew `S`."""
    S = sp.zeros(n, n)
    k = 0
    for p in range(n):
        for q in range(p + 1, n):
            S[p, q], S[q, p] = params[k], -params[k]
            k += 1
    return (sp.eye(n) - S) * (sp.eye(n) + S).inv()


def _two_layer_numeric(d: Derivation) -> None:
    """The closed form against a 30-digit Taylor integration of the weight flow."""
    R = sp.Rational
    n_in, n_hid, n_out = 2, 3, 3
    V = _cayley([R(1, 3)], n_in)
    U = _cayley([R(1, 2), R(-1, 5), R(2, 7)], n_out)
    H = _cayley([R(-2, 3), R(1, 4), R(1, 6)], n_hid)
    Uw = _cayley([R(1, 7), R(3, 4), R(-1, 3)], n_out)  # not U: weights not aligned
    S = sp.zeros(n_out, n_in)
    S[0, 0], S[1, 1] = 2, R(1, 2)
    syx = U * S * V.T
    sig = sp.zeros(n_hid, n_in)
    sig[0, 0], sig[1, 1] = R(3, 5), R(2, 5)
    w1 = H * sig * V.T
    sig2 = sp.Matrix(n_out, n_hid, lambda p, q: sig[p, q] if q < n_in else 0)
    w2 = Uw * sig2 * H.T
    assert w2.T * w2 - w1 * w1.T == sp.zeros(n_hid, n_hid)  # exactly balanced
    g = R(3, 4)  # between the singular values 1/2 and 2
    T_end = 2
    with mpmath.workdps(30):
        SY, gm = mpmath.matrix(syx.tolist()), _mp(g)
        n1 = n_hid * n_in

        def unpack(y):
            a = mpmath.matrix(n_hid, n_in)
            b = mpmath.matrix(n_out, n_hid)
            for p in range(n_hid):
                for q in range(n_in):
                    a[p, q] = y[p * n_in + q]
            for p in range(n_out):
                for q in range(n_hid):
                    b[p, q] = y[n1 + p * n_hid + q]
            return a, b

        def rhs(_, y):
            a, b = unpack(y)
            e = SY - b * a
            da, db = b.T * e - gm * a, e * a.T - gm * b
            return ([da[p, q] for p in range(n_hid) for q in range(n_in)]
                    + [db[p, q] for p in range(n_out) for q in range(n_hid)])

        y0 = [_mp(e) for e in list(w1) + list(w2)]
        flow = mpmath.odefun(rhs, 0, y0, tol=mpmath.mpf(10) ** -28)
        a, b = unpack(flow(T_end))
        F = sp.Matrix(sp.BlockMatrix([[sp.zeros(n_in, n_in), syx.T],
                                      [syx, sp.zeros(n_out, n_out)]]))
        A = mpmath.matrix((F - g * sp.eye(n_in + n_out)).tolist())
        Q0 = mpmath.matrix(w1.T.col_join(w2).tolist())
        E = mpmath.expm(A * T_end)
        K = (mpmath.expm(2 * A * T_end) - mpmath.eye(n_in + n_out)) * mpmath.inverse(2 * A)
        P = E * Q0 * mpmath.inverse(mpmath.eye(n_hid) + Q0.T * K * Q0) * Q0.T * E
        ref = [a.T * a, b * a, b * b.T]
        got = [P[:n_in, :n_in], P[n_in:, :n_in], P[n_in:, n_in:]]
        error = max(float(mpmath.mnorm(x - y, 1) / mpmath.mnorm(y, 1)) for x, y in zip(got, ref))
    d.check_numeric(r"The closed form $P(t)$ (`mpmath.expm`, $K_\gamma = (e^{2At} - I)(2A)^{-1}$) "
                    r"equals the blocks $W_1^\top W_1$, $W_2W_1$, $W_2W_2^\top$ of the weight "
                    r"flow integrated by mpmath's Taylor method (`odefun`, tolerance $10^{-28}$)",
                    error, 1e-25,
                    how=r"$(N_i, N_h, N_o) = (2, 3, 3)$ (hidden layer wider than the input), "
                        r"exactly balanced rational weights not aligned with the task "
                        r"(Cayley-transform rotations), singular values $2 > \gamma = 3/4 > 1/2$, "
                        r"$t = 2$, 30 digits")


def _two_layer_unbalanced(d: Derivation) -> None:
    d.say(r"**$\ell \ne 0$: no elementary closed form.** The imbalance decays, so weights "
          r"started $\ell$-balanced are $\ell e^{-2\gamma t}$-balanced: $\Delta = 0$ with $\ell "
          r"\to \ell(t) = \ell e^{-2\gamma t}$ in the identity above, and $\dot Q = (F_{\ell(t)} "
          r"- \gamma I)Q - \frac12QQ^\top Q$. $P = GM^{-1}G^\top$ with $\dot G = A(t)G$, "
          r"$\dot M = G^\top G$ still solves $\dot P = AP + PA - P^2$ (the check above never "
          r"used $\dot A = 0$), but $A(t)$ no longer commutes with itself at other times. On a "
          r"mode plane $G = e^{-\gamma t}(x, y)$ with $\dot x = -\kappa x + sy$, $\dot y = sx "
          r"+ \kappa y$, $\kappa = \frac\ell2 e^{-2\gamma t}$, $\dot\kappa = -2\gamma\kappa$. "
          r"Then $p = x + y$ obeys a second-order equation which $p = e^{-\gamma t}r$ and "
          r"$\xi = \kappa/(2\gamma)$ turn into the modified Bessel equation of order "
          r"$\nu = (s + \gamma)/(2\gamma)$:")
    kap = ell / 2 * sp.exp(-2 * gamma * t)
    X, Y = sp.Function("x")(t), sp.Function("y")(t)
    ode = {X.diff(t): -kap * X + s * Y, Y.diff(t): s * X + kap * Y}
    p = X + Y
    p1 = p.diff(t).subs(ode)
    p2 = p1.diff(t).subs(ode)
    d.check_zero(r"$\ddot p + 2\gamma\dot p - (s^2 + 2\gamma s + \kappa^2)p = 0$ on solutions "
                 r"(derivatives replaced by the system)",
                 p2 + 2 * gamma * p1 - (s**2 + 2 * gamma * s + kap**2) * p,
                 reduce=lambda e: sp.simplify(sp.expand(e)), how="`expand` and `simplify`",
                 display=False)
    rfun = sp.Function("r")(t)
    pe = sp.exp(-gamma * t) * rfun
    d.check_zero(r"with $p = e^{-\gamma t}r$: $e^{\gamma t}(\ddot p + 2\gamma\dot p - (s^2 + "
                 r"2\gamma s + \kappa^2)p) = \ddot r - ((s + \gamma)^2 + \kappa^2)r$",
                 sp.exp(gamma * t) * (pe.diff(t, 2) + 2 * gamma * pe.diff(t)
                                      - (s**2 + 2 * gamma * s + kap**2) * pe)
                 - (rfun.diff(t, 2) - ((s + gamma) ** 2 + kap**2) * rfun),
                 reduce=lambda e: sp.simplify(sp.expand(e)), how="`expand` and `simplify`",
                 display=False)
    nu = (s + gamma) / (2 * gamma)
    xi = kap / (2 * gamma)
    R0, R1, R2 = sp.symbols("R R' R''", real=True)  # R(ξ), R'(ξ), R''(ξ)
    r_ddot = R2 * xi.diff(t) ** 2 + R1 * xi.diff(t, 2)  # chain rule for r(t) = R(ξ(t))
    resid = (r_ddot - ((s + gamma) ** 2 + kap**2) * R0).subs(
        R2, ((nu**2 + xi**2) * R0 - xi * R1) / xi**2)
    d.check_zero(r"$r(t) = R(\xi)$ with $\xi = \ell e^{-2\gamma t}/(4\gamma)$ solves $\ddot r = "
                 r"((s+\gamma)^2 + \kappa^2)r$ whenever $\xi^2R'' + \xi R' - (\nu^2 + \xi^2)R = "
                 r"0$ (the modified Bessel equation), $\nu = (s+\gamma)/(2\gamma)$",
                 resid, reduce=lambda e: sp.simplify(sp.expand(e)),
                 how="chain rule, $R''$ eliminated, `simplify`", display=False)
    d.say(r"So $e^{\int A}$ is replaced by modified Bessel functions $I_{\pm\nu}(\xi)$ (or "
          r"$I_\nu$, $K_\nu$) of $\xi \propto e^{-2\gamma t}$, elementary only for integer "
          r"$s/(2\gamma)$ ($\nu$ half an odd integer), and $M(t) = I + \int_0^t G^\top G$ is a "
          r"quadrature of products of them (Lommel-type integrals). We derive no closed form "
          r"for it; `dln` rejects $\ell \ne 0$ with $\gamma > 0$ in the closed form and "
          r"integrates that flow numerically. The closed form above covers exactly: two layers, "
          r"isotropic input $\Sigma^{xx} = cI$, balanced weights ($\ell = 0$) of any shapes, any "
          r"$\gamma \ge 0$. Without isotropic input there is no closed form even at $\gamma = 0$ "
          r"(the flow of $Q$ does not close).")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
