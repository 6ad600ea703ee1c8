"""Competing pathways: the per-mode reduction, the conserved competition quantity, the final
split, deficit windows and the Fisher information of a layer.

Kleinman, Achille & Soatto (2024), arXiv:2308.12221; Shi, Shea-Brown & Buice (2022);
docs/theory/pathways.md, docs/theory/fisher.md. Steps:

1. a balanced aligned pathway of depth D: `K_p = a_p^D`, `da_p/dt = a_p^{D−1} e` with the shared
   error `e = s − λ Σ_q K_q`, so `dK_p/dt = D K_p^{2−2/D} e` (general D);
2. `φ(K) = ∫ dK/(D K^{2−2/D})` for D = 1, 2 and general D ≥ 3; `φ(K_a) − φ(K_b)` is conserved
   while both learn, so every plastic pathway is a function of one clock θ;
3. the explicit `K_p(θ)`, the reference-pathway form used by `dln.pathways` for D ≥ 3, its
   derivative in `y = ln K_r`, and the pieces of the fixed-cost time integral (the linear clock
   in `w = K_r^{−q}`, the error from the fixed point, the pole's residue, the far field);
4. D = 1 and D = 2: the total obeys the one-pathway law (rate × m; logistic), ratios/differences
   fixed; the final splits in closed form;
5. a frozen pathway shifts the target to `s − λ K_frozen`; the logistic solves the depth-2 law for
   either sign of that target;
6. the trace of the Fisher information of one layer for a Gaussian output model;
7. weight decay γ: `dφ(K_p)/dt = e − γK_p^{2/D−1}`; depth 1 (offsets decay as `e^{−γt}`, closed
   form), depth 2 (ratios kept, the total the logistic of `s − γ`), depth ≥ 3 (`φ_a − φ_b`
   grows as `e^{(D−2)γt}`: winner-take-all sharpens; integrated);
8. the unbalanced ("large") initialisation: first layer `p`, the others `√(p² + c)`; `c` is
   conserved (decays as `e^{−2γt}` with weight decay), `dp/dt = (p² + c)^{(D−1)/2} e`, and
   `ψ(p_a) − ψ(p_b)` with `ψ' = (p² + c)^{−(D−1)/2}` is conserved (`arcsinh(p/√c)` at D = 2).
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations._page import Derivation
from derivations._symbols import D, a, lam, s, t

NAME = "pathways"

K, Ka, Kb, Kr = sp.symbols("K K_a K_b K_r", positive=True)
Ka0, Kb0, Kr0, Kp0 = sp.symbols("K_a0 K_b0 K_r0 K_p0", positive=True)
theta = sp.Symbol("theta", real=True)
e = sp.Symbol("e", real=True)
y = sp.Symbol("y", real=True)
m = sp.Symbol("m", positive=True, integer=True)
c = sp.Symbol("c", nonnegative=True)
s_any = sp.Symbol("s", real=True, nonzero=True)  # a target of either sign (deficit windows)
T0 = sp.Symbol("T_0", positive=True)
gamma = sp.Symbol("gamma", positive=True)  # weight decay γ
M0, delta = sp.symbols("M_0 delta", real=True)  # the plastic mean at t = 0, an offset from it
pa, pb = sp.symbols("p_a p_b", real=True)  # first-layer values (unbalanced initialisation)
qa = sp.Symbol("q", positive=True)  # the other layers
ci = sp.Symbol("c", positive=True)  # the imbalance q² − p²


def phi(depth, Kx=K):
    """`φ(K) = ∫ dK/(D K^{2−2/D})` (constants dropped)."""
    if depth == 1:
        return Kx
    if depth == 2:
        return sp.log(Kx) / 2
    return Kx ** (sp.Rational(2, depth) - 1) / (2 - depth)


def K_of_theta(depth, K0=Kp0):
    """`K_p(θ)` with `φ(K_p(θ)) = φ(K_p(0)) + θ`."""
    if depth == 1:
        return K0 + theta
    if depth == 2:
        return K0 * sp.exp(2 * theta)
    q = sp.Rational(depth - 2, depth)
    return (K0 ** (-q) - (depth - 2) * theta) ** (-1 / q)


def _simp_pow(expr):
    for _ in range(2):
        expr = sp.powsimp(sp.powdenest(expr, force=True), force=True)
    return sp.simplify(expr)


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Competing pathways: conserved competition and final split",
        sources="Kleinman, Achille & Soatto (2024), arXiv:2308.12221; Shi, Shea-Brown & Buice "
                "(2022); theory pages [pathways](../theory/pathways.md) and "
                "[Fisher information](../theory/fisher.md).",
        statement=r"For parallel pathways summed at the output, each mode of each pathway obeys "
                  r"$\dot K_p = D K_p^{2-2/D}(s - \lambda\sum_q K_q)$. The quantity "
                  r"$\varphi(K_a) - \varphi(K_b)$ with $\varphi' = 1/(D K^{2-2/D})$ is conserved "
                  r"while both pathways learn ($K_a - K_b$ at $D = 1$, $K_a/K_b$ at $D = 2$, "
                  r"$K_a^{2/D-1} - K_b^{2/D-1}$ at $D \ge 3$), so the final split is fixed by "
                  r"the state when the last deficit ends: in closed form for $D = 1, 2$, a "
                  r"one-dimensional root for $D \ge 3$. The Fisher trace of a layer for a "
                  r"Gaussian output model is $\|A_l\|_F^2\,\mathrm{tr}(B_l\Sigma_{xx}B_l^T)/"
                  r"\sigma^2$. Weight decay $\gamma$ makes offsets decay at $D = 1$, keeps the "
                  r"ratios at $D = 2$ and makes $\varphi(K_a) - \varphi(K_b)$ grow as "
                  r"$e^{(D-2)\gamma t}$ at $D \ge 3$; the unbalanced initialisation (first layer "
                  r"$p$, the others $\sqrt{p^2 + c}$) conserves $c$ and the differences of "
                  r"$\psi(p) = \int dp\,(p^2 + c)^{-(D-1)/2}$.")
    _reduction(d)
    _conserved(d)
    _explicit(d)
    _shallow(d)
    _deficits(d)
    _fisher(d)
    _weight_decay(d)
    _imbalance(d)
    return d


def _reduction(d):
    d.section("Each pathway's mode")
    d.say(r"Pathway $p$ starts balanced and aligned: every layer carries mode $\alpha$ with the "
          r"same strength $a_p$, so $K_p = a_p^D$. The gradient of a layer along the mode is the "
          r"product of the other layers, $a_p^{D-1}$, times the error $e = s - \lambda\sum_q "
          r"K_q$ that all pathways share (they are summed at the output): $\dot a_p = "
          r"a_p^{D-1} e$, which keeps the layers equal. Then")
    Kdot = sp.diff(a**D, a) * a ** (D - 1) * e
    d.check_equal(r"$\frac{d}{dt}a^D = D a^{D-1}\dot a = D (a^D)^{2-2/D} e$ (general $D$, "
                  r"$a > 0$)", Kdot, D * (a**D) ** (2 - 2 / D) * e,
                  reduce=_simp_pow, how="`powdenest`, `powsimp` and `simplify`")
    d.say(r"A frozen pathway (no gradient) keeps $\dot K_p = 0$ and still contributes to $e$.")


def _conserved(d):
    d.section("The conserved competition quantity")
    d.say(r"Divide by $D K_p^{2-2/D}$: $\dot\varphi(K_p) = e$ for every plastic pathway, with "
          r"$\varphi' = 1/(D K^{2-2/D})$:")
    cases = []
    for depth in (1, 2):
        cases.append((f"$D = {depth}$", sp.diff(phi(depth), K), 1 / (depth * K ** (2 - sp.S(2)
                                                                                    / depth))))
    cases.append((r"general $D \ge 3$", sp.diff(K ** (2 / D - 1) / (2 - D), K),
                  1 / (D * K ** (2 - 2 / D))))
    d.check_cases(r"$\varphi'(K) = 1/(D K^{2-2/D})$", cases, reduce=_simp_pow,
                  how="`powsimp` and `simplify`")
    d.show(r"\varphi(K)", r"\begin{cases} K & D = 1\\ \tfrac12\ln K & D = 2\\ "
                          r"\dfrac{K^{2/D-1}}{2-D} & D \ge 3\end{cases}")
    d.say(r"Both plastic pathways see the same $e$, so $\frac{d}{dt}[\varphi(K_a) - "
          r"\varphi(K_b)] = e - e = 0$:")
    flow_a = D * Ka ** (2 - 2 / D) * e
    flow_b = D * Kb ** (2 - 2 / D) * e
    conserved = (sp.diff(Ka ** (2 / D - 1) / (2 - D), Ka) * flow_a
                 - sp.diff(Kb ** (2 / D - 1) / (2 - D), Kb) * flow_b)
    d.check_zero(r"$\frac{d}{dt}\frac{K_a^{2/D-1} - K_b^{2/D-1}}{2-D} = 0$ along the flow "
                 r"(general $D$)", conserved, reduce=_simp_pow,
                 how="`powsimp` and `simplify`")
    d.check_zero(r"$D = 2$: $\frac{d}{dt}\frac{K_a}{K_b} = 0$",
                 sp.diff(Ka / Kb, Ka) * 2 * Ka * e + sp.diff(Ka / Kb, Kb) * 2 * Kb * e)
    d.check_zero(r"$D = 1$: $\frac{d}{dt}(K_a - K_b) = 0$", e - e)
    d.say(r"Hence with the clock $\theta(t) = \int_0^t e\,dt'$ every plastic pathway is "
          r"$K_p = \varphi^{-1}(\varphi(K_p(0)) + \theta)$, and $\dot\theta = s - \lambda\sum_p "
          r"K_p(\theta)$ is one scalar ODE; $\sum_p K_p(\theta)$ increases with $\theta$, so "
          r"the fixed point $\sum_p K_p = s/\lambda$ is a single root.")


def _explicit(d):
    d.section(r"$K_p(\theta)$ and the reference-pathway form ($D \ge 3$)")
    # For D >= 3 the base g = K_p(0)^{-q} − (D−2)θ is positive on the solution's interval:
    # write θ through it so that sympy may take its powers.
    g = sp.Symbol("g", positive=True)
    cases = []
    for depth in (1, 2, 3, 4, 5):
        lhs = phi(depth, K_of_theta(depth)) - phi(depth, Kp0)
        rhs = theta
        if depth >= 3:
            sub = (Kp0 ** (-sp.Rational(depth - 2, depth)) - g) / (depth - 2)
            lhs, rhs = lhs.subs(theta, sub), sub
        cases.append((f"$D = {depth}$", lhs, rhs))
    d.check_cases(r"$\varphi(K_p(\theta)) = \varphi(K_p(0)) + \theta$", cases,
                  reduce=lambda x: sp.simplify(sp.expand_log(_simp_pow(x), force=True)),
                  how="`powdenest`, `powsimp`, `expand_log` and `simplify`")
    q = (D - 2) / D
    d.result("K_of_theta", (Kp0 ** (-q) - (D - 2) * theta) ** (-1 / q), (theta, Kp0, D),
             lhs=r"K_p(\theta)",
             text=r"a plastic pathway on the competition clock θ, $D \ge 3$",
             code="`dln.pathways.solve` (conserved quantity along its trajectories)")
    d.say(r"`dln.pathways` writes the other pathways through the largest one, $K_r = e^y$, "
          r"with the conserved $c_p = K_p^{-q} - K_r^{-q} \ge 0$, $q = (D-2)/D$:")
    Kp_of_y = sp.exp(y) * (1 + c * sp.exp(q * y)) ** (-1 / q)
    base = sp.Symbol("b", positive=True)  # 1 + c_p K_r^q > 0, substituted after the powers
    power = sp.powdenest(sp.expand_power_base((Kr * base ** (-1 / q)) ** (-q) - Kr ** (-q),
                                              force=True), force=True)
    d.check_equal(r"$K_p = K_r(1 + c_p K_r^{q})^{-1/q}$ has $K_p^{-q} - K_r^{-q} = c_p$ "
                  r"(general $D$)", power.subs(base, 1 + c * Kr**q), c,
                  how="`expand_power_base`, `powdenest` (positive bases), then `simplify`")
    d.check_equal(r"$d\ln K_p/dy = 1/(1 + c_p e^{qy})$ (general $D$)",
                  sp.diff(sp.log(Kp_of_y), y), 1 / (1 + c * sp.exp(q * y)),
                  reduce=lambda x: sp.simplify(sp.expand_log(x, force=True)),
                  how="`expand_log` and `simplify`")
    d.say(r"So $\dot y = F(y) = D K_r^{1-2/D}(s - \lambda\sum_p K_p(y))$: one autonomous scalar "
          r"ODE, whose time is the integral $t(y) = \int_{y_0}^{y} dy'/F(y')$.")
    _quadrature(d)


def _quadrature(d):
    q = (D - 2) / D
    winf, cp, dl = sp.symbols(r"w_\infty c_p delta", positive=True)
    d.say(r"**The time integral at a fixed cost.** `dln.pathways` evaluates $t(y)$ by "
          r"quadrature and inverts it by Newton steps. In "
          r"$w = K_r^{-q} = e^{-qy}$ the pathways are $K_p = (w + c_p)^{-1/q}$ and the clock is "
          r"linear:")
    d.check_equal(r"$\dot w = -q w\,\dot y = -(D-2)(s - \lambda\sum_p K_p)$ (general $D$)",
                  -q * sp.exp(-q * y) * D * sp.exp((1 - 2 / D) * y) * e, -(D - 2) * e,
                  reduce=lambda x: sp.simplify(sp.powsimp(x, force=True)),
                  how="`powsimp` and `simplify`")
    d.say(r"At the fixed point $w_\infty$ (the root of $\sum_p K_p = s/\lambda$, by Newton steps "
          r"in $w$: $\sum_p(w + c_p)^{-1/q}$ is convex and decreasing, so the steps from "
          r"$w = (s/\lambda)^{-q}$ climb to the root without overshooting), the error is a sum of "
          r"differences that vanish with $\delta = w - w_\infty$, computed without cancellation: "
          r"with $a_p = 1/(w_\infty + c_p)$ and $K_{p\infty} = a_p^{1/q}$,")
    d.check_equal(r"$(w_\infty + c_p + \delta)^{-1/q} = K_{p\infty}(1 + a_p\delta)^{-1/q}$ "
                  r"(one term of $s - \lambda\sum_p K_p = \lambda\sum_p K_{p\infty}"
                  r"[1 - (1 + a_p\delta)^{-1/q}]$, general $D$)",
                  (winf + cp + dl) ** (-1 / q),
                  (1 / (winf + cp)) ** (1 / q) * (1 + dl / (winf + cp)) ** (-1 / q),
                  reduce=lambda x: sp.simplify(sp.powsimp(sp.powdenest(x, force=True),
                                                          force=True)),
                  how="`powdenest`, `powsimp` and `simplify` (positive bases)")
    d.say(r"Near $y_\infty$, $F$ vanishes linearly. With $\frac{d}{dy}(w + c_p)^{-1/q} = "
          r"w K_p a_p$ at $w$ ($a_p = 1/(w + c_p)$):")
    d.check_equal(r"$\frac{d}{dy}(e^{-qy} + c_p)^{-1/q} = e^{-qy}(e^{-qy} + c_p)^{-1/q - 1}$ "
                  r"(general $D$)", sp.diff((sp.exp(-q * y) + c) ** (-1 / q), y),
                  sp.exp(-q * y) * (sp.exp(-q * y) + c) ** (-1 / q - 1),
                  reduce=lambda x: sp.simplify(sp.powsimp(x, force=True)),
                  how="`powsimp` and `simplify`")
    d.say(r"so $F'(y_\infty) = D e^{qy_\infty}\cdot(-\lambda w_\infty\sum_p K_{p\infty}a_p) = "
          r"-D\lambda\sum_p K_{p\infty}a_p$ (as $e^{qy}w = 1$), and $1/|F|$ has the pole "
          r"$A/\Delta$ in $\Delta = |y_\infty - y|$ with $A = 1/(D\lambda\sum_p K_{p\infty}a_p)$. "
          r"Far below the target, $1/F = e^{-qy}/(Ds) + e^{-qy}\lambda\sum_p K_p/(Ds\,(s - "
          r"\lambda\sum_p K_p))$, and the first term integrates to $-w/((D-2)s)$:")
    d.check_equal(r"$\frac{d}{dy}\frac{-e^{-qy}}{(D-2)s} = \frac{e^{-qy}}{Ds}$ (general $D$)",
                  sp.diff(-sp.exp(-q * y) / ((D - 2) * s), y), sp.exp(-q * y) / (D * s))
    d.say(r"Hence $t = A\ln(\Delta_0/\Delta) + (w_0 - w)/((D-2)s) + \int_\Delta^{\Delta_0} R$ with "
          r"$R = 1/|F| - A/\Delta - \sigma w/(Ds)$ ($\sigma = \pm 1$ below or above the target) "
          r"analytic on $[0, \Delta_0]$: `dln.theory.competition` integrates $R$ by Chebyshev "
          r"interpolation on three panels of 16 points and solves $t(\Delta) = t$ by Newton steps "
          r"in $\ln\Delta$ ($dt/d\ln\Delta = -\Delta/|F|$), a fixed cost with no data-dependent "
          r"loop; against mpmath at 30 digits the strengths agree to $\sim 10^{-14}$. Decaying "
          r"modes ($s \le 0$: a frozen pathway past the target) are integrated by adaptive Dopri8 "
          r"steps. Both are labelled a reduced integration, not a closed form.")


def _shallow(d):
    d.section("Depth 1 and 2: the total and the final split in closed form")
    Ks = sp.symbols("K_1:4", positive=True)
    e3 = s - lam * sum(Ks)
    d.check_equal(r"$D = 1$, three pathways: $\frac{d}{dt}\sum K = 3(s - \lambda\sum K)$",
                  sum(e3 for _ in Ks), 3 * (s - lam * sum(Ks)))
    d.check_equal(r"$D = 2$, three pathways: $\frac{d}{dt}\sum K = 2\sum K\,(s - "
                  r"\lambda\sum K)$", sum(2 * k * e3 for k in Ks),
                  2 * sum(Ks) * (s - lam * sum(Ks)))
    d.say(r"So the total follows the one-pathway law of `dln.modes` (at time $m t$ for "
          r"$D = 1$), and each pathway follows from the conserved quantity. As "
          r"$t \to \infty$ the total reaches $s/\lambda$:")
    split1 = Kp0 + (s / lam - T0) / m
    split2 = Kp0 * s / (lam * T0)
    d.result("final_split_depth1", split1, (Kp0, T0, m, s, lam),
             lhs=r"K_p(\infty)\big|_{D=1}",
             text="final split at depth 1 ($T_0 = \\sum_p K_p(0)$, m plastic pathways)",
             code="`dln.pathways.final_split(task, depth=1, ...)`")
    d.result("final_split_depth2", split2, (Kp0, T0, s, lam),
             lhs=r"K_p(\infty)\big|_{D=2}", text="final split at depth 2 (ratios kept)",
             code="`dln.pathways.final_split(task, depth=2, ...)`")
    d.check_cases("The splits add up to $s/\\lambda$ and keep the conserved quantity", [
        (r"$D = 1$, sum over $m$ pathways with $\sum K_p(0) = T_0$",
         m * (s / lam - T0) / m + T0, s / lam),
        (r"$D = 1$, differences", split1 - split1.subs(Kp0, Ka0), Kp0 - Ka0),
        (r"$D = 2$, sum", split2.subs(Kp0, T0), s / lam),
        (r"$D = 2$, ratios", split2 / split2.subs(Kp0, Ka0), Kp0 / Ka0)])


def _deficits(d):
    d.section("Deficit windows")
    d.say(r"While pathway $b$ is frozen, pathway $a$ is a single pathway with the effective "
          r"target $s - \lambda K_b$:")
    d.check_equal(r"$D K_a^{2-2/D}(s - \lambda(K_a + K_b)) = D K_a^{2-2/D}((s - \lambda K_b) "
                  r"- \lambda K_a)$", D * Ka ** (2 - 2 / D) * (s - lam * (Ka + Kb)),
                  D * Ka ** (2 - 2 / D) * ((s - lam * Kb) - lam * Ka))
    d.say(r"so `dln.modes` solves the window exactly when $s - \lambda K_b > 0$ (and "
          r"$s - \lambda K_b = 0$ is its decay law). When the frozen pathways are already past "
          r"the target the effective $s$ is negative; at $D = 1$ the linear law is odd in "
          r"$(s, K)$, and at $D = 2$ the logistic still solves it:")
    w0 = lam * T0 / s_any
    logistic = (s_any / lam) * w0 / (w0 + (1 - w0) * sp.exp(-2 * s_any * t))
    d.result("logistic_any_sign", logistic, (t, s_any, lam, T0), lhs=r"K(t)\big|_{D=2}",
             text="depth-2 law $\\dot K = 2K(s - \\lambda K)$ for either sign of s",
             code="`dln.pathways.exact._logistic_total`")
    d.check_zero(r"$\dot K - 2K(s - \lambda K) = 0$ for real $s \ne 0$",
                 sp.diff(logistic, t) - 2 * logistic * (s_any - lam * logistic))
    d.check_equal(r"and $K(0) = T_0$", logistic.subs(t, 0), T0)


def _fisher(d):
    d.section("The Fisher information of a layer (Gaussian output model)")
    d.say(r"For $y \sim \mathcal N(\hat y, \sigma^2 I)$ with $\hat y = A_l W_l B_l x$ "
          r"($A_l = W_D\cdots W_{l+1}$, $B_l = W_{l-1}\cdots W_1$), "
          r"$\nabla_{W_l}\log p = A_l^T(y - \hat y)(B_l x)^T/\sigma^2$, and "
          r"$E_y[(y-\hat y)(y-\hat y)^T] = \sigma^2 I$, so "
          r"$\mathrm{tr}\,F_l = E_x \sum_{ijk}(\partial\hat y_i/\partial W_{l,jk})^2/\sigma^2$ and "
          r"$\partial\hat y_i/\partial W_{l,jk} = A_{l,ij}(B_l x)_k$. Checked on explicit "
          r"$2\times2$ matrices:")
    A = sp.Matrix(2, 2, sp.symbols("A_11 A_12 A_21 A_22", real=True))
    W = sp.Matrix(2, 2, sp.symbols("W_11 W_12 W_21 W_22", real=True))
    B = sp.Matrix(2, 2, sp.symbols("B_11 B_12 B_21 B_22", real=True))
    xv = sp.Matrix(sp.symbols("x_1 x_2", real=True))
    yhat = A * W * B * xv
    jac_sq = sum(sp.diff(yhat[i], W[j, k]) ** 2 for i in range(2) for j in range(2)
                 for k in range(2))
    bx = B * xv
    d.check_equal(r"$\sum_{ijk}(\partial\hat y_i/\partial W_{jk})^2 = \|A\|_F^2\,\|Bx\|^2$",
                  jac_sq, sum(v**2 for v in A) * (bx.T * bx)[0], reduce=sp.expand,
                  how="`expand`", display=False)
    d.say(r"Averaging $\|Bx\|^2 = \mathrm{tr}(B x x^T B^T)$ over the inputs gives "
          r"$\mathrm{tr}\,F_l = \|A_l\|_F^2\,\mathrm{tr}(B_l\Sigma_{xx}B_l^T)/\sigma^2$ "
          r"(`dln.pathways.measures.fisher_trace`). It does not involve the targets and grows "
          r"with the weights. The empirical Fisher at the data's targets replaces "
          r"$E_y[(y-\hat y)(y-\hat y)^T]$ by the actual errors, "
          r"$\frac1P\sum_\mu\|A_l^T e_\mu\|^2\|B_l x_\mu\|^2$, which vanishes as the errors do.")


def _weight_decay(d):
    d.section("Weight decay")
    d.say(r"With the L2 penalty $\tfrac12\gamma\sum\lVert W\rVert^2$ every plastic layer gains "
          r"$-\gamma W$ (a frozen pathway gets neither gradient nor decay). Balanced layers stay "
          r"balanced (page [weight decay](weight_decay.md)), $\dot a_p = a_p^{D-1}e - \gamma a_p$:")
    d.check_equal(r"$\frac{d}{dt}a^D = D K^{2-2/D} e - D\gamma K$ with $K = a^D$ (general $D$)",
                  D * a ** (D - 1) * (a ** (D - 1) * e - gamma * a),
                  D * (a**D) ** (2 - 2 / D) * e - D * gamma * a**D, reduce=_simp_pow,
                  how="`powdenest`, `powsimp` and `simplify`")
    d.say(r"Through $\varphi' = 1/(D K^{2-2/D})$ the shared error still appears alone, next to a "
          r"term of each pathway's own:")
    d.check_equal(r"$\frac{d}{dt}\varphi(K) = e - \gamma K^{2/D-1}$ (general $D$)",
                  (D * K ** (2 - 2 / D) * e - D * gamma * K) / (D * K ** (2 - 2 / D)),
                  e - gamma * K ** (2 / D - 1), reduce=_simp_pow, how="`powsimp` and `simplify`")
    d.say(r"**Depth 1** ($\dot K_p = e - \gamma K_p$): the offsets decay, "
          r"$\frac{d}{dt}(K_a - K_b) = -\gamma(K_a - K_b)$, and the mean $M$ of the $m$ plastic "
          r"pathways obeys $\dot M = s - (m\lambda + \gamma)M$. With two pathways, "
          r"$K_{a,b} = M(t) \pm \delta e^{-\gamma t}$ solves the system:")
    k = 2 * lam + gamma
    M = M0 * sp.exp(-k * t) + s * (1 - sp.exp(-k * t)) / k
    Ka_t, Kb_t = M + delta * sp.exp(-gamma * t), M - delta * sp.exp(-gamma * t)
    err = s - lam * (Ka_t + Kb_t)
    d.check_cases(r"$\dot K_p = s - \lambda(K_a + K_b) - \gamma K_p$", [
        ("$p = a$", sp.diff(Ka_t, t), err - gamma * Ka_t),
        ("$p = b$", sp.diff(Kb_t, t), err - gamma * Kb_t)])
    d.result("final_split_depth1_decay", s / (m * lam + gamma), (s, lam, gamma, m),
             lhs=r"K_p(\infty)\big|_{D=1,\gamma}",
             text="final split at depth 1 with weight decay: every plastic pathway ends equal",
             code="`dln.pathways.final_split(task, depth=1, weight_decay=γ, ...)`")
    d.say(r"**Depth 2** ($\dot K_p = 2K_p(s - \gamma - \lambda\sum_q K_q)$): the ratios are "
          r"still conserved and the total follows the logistic with rate $s - \gamma$:")
    Ks = sp.symbols("K_1:4", positive=True)
    e3 = s - lam * sum(Ks)
    d.check_zero(r"$\frac{d}{dt}\frac{K_a}{K_b} = 0$",
                 sp.diff(Ka / Kb, Ka) * 2 * Ka * (e - gamma)
                 + sp.diff(Ka / Kb, Kb) * 2 * Kb * (e - gamma))
    d.check_equal(r"three pathways: $\frac{d}{dt}\sum K = 2\sum K\,(s - \gamma - \lambda\sum "
                  r"K)$", sum(2 * k_ * (e3 - gamma) for k_ in Ks),
                  2 * sum(Ks) * ((s - gamma) - lam * sum(Ks)))
    d.say(r"so the final split keeps the ratios with the total $\max(s - \gamma, 0)/\lambda$.")
    d.say(r"**Depth $D \ge 3$**: $\varphi(K) = K^{2/D-1}/(2-D)$, so $\gamma K^{2/D-1} = "
          r"(2-D)\gamma\varphi(K)$ and the competition quantity is no longer conserved:")
    dphi = lambda Kx: e - gamma * Kx ** (2 / D - 1)  # noqa: E731
    d.check_equal(r"$\frac{d}{dt}[\varphi(K_a) - \varphi(K_b)] = (D-2)\gamma\,[\varphi(K_a) - "
                  r"\varphi(K_b)]$ (general $D$)", dphi(Ka) - dphi(Kb),
                  (D - 2) * gamma * (Ka ** (2 / D - 1) - Kb ** (2 / D - 1)) / (2 - D),
                  reduce=_simp_pow, how="`powsimp` and `simplify`")
    d.say(r"so $\varphi(K_a) - \varphi(K_b)$ grows as $e^{(D-2)\gamma t}$: weight decay "
          r"sharpens the winner-take-all, and every pathway but the leader decays to 0 "
          r"(in $y = \ln K$, $\dot y_p = D[K_p^{1-2/D} e - \gamma] \to -D\gamma$ as $K_p \to 0$). "
          r"No closed form is known: `dln.pathways` integrates the per-mode ODE in $y_p = \ln K_p$ "
          r"(Dopri8, labelled a reduced integration), and uses the one-pathway law of the "
          r"[weight decay](weight_decay.md) page, with the target $s - \lambda\sum_{\rm frozen}K$, "
          r"when only one pathway is plastic. Whether the leader itself survives depends on the "
          r"path (the threshold of that page moves with the other pathways' strengths), so the "
          r"limit is not given in closed form.")


def _imbalance(d):
    d.section("The unbalanced (\"large\") initialisation")
    d.say(r"Per mode, pathway $p$'s first layer has strength $p$ and the other $D - 1$ layers "
          r"$q$ (Kleinman et al. after Shi et al.: $q = \sqrt{p^2 + c}$, $c = 1$). Each layer's "
          r"flow is the product of the others times $e$: $\dot p = q^{D-1} e$, and every deeper "
          r"layer $\dot q = p q^{D-2} e$ (so they stay equal). The imbalance is conserved, and "
          r"decays with weight decay:")
    d.check_zero(r"$\frac{d}{dt}(q^2 - p^2) = 0$ (general $D$)",
                 2 * qa * pa * qa ** (D - 2) * e - 2 * pa * qa ** (D - 1) * e, reduce=_simp_pow,
                 how="`powsimp` and `simplify`")
    d.check_equal(r"$\frac{d}{dt}(q^2 - p^2) = -2\gamma(q^2 - p^2)$ with weight decay",
                  2 * qa * (pa * qa ** (D - 2) * e - gamma * qa)
                  - 2 * pa * (qa ** (D - 1) * e - gamma * pa), -2 * gamma * (qa**2 - pa**2),
                  reduce=_simp_pow, how="`powsimp` and `simplify`")
    d.say(r"So with $q = \sqrt{p^2 + c}$ each pathway is one scalar $p$ (any sign; the "
          r"gradient no longer vanishes at $p = 0$):")
    d.show(r"K_p = p\,(p^2 + c)^{(D-1)/2},\qquad \dot p = (p^2 + c)^{(D-1)/2}\,\Big(s - "
           r"\lambda\sum_q K_q\Big) - \gamma p,\qquad \dot c = -2\gamma c")
    d.say(r"(frozen: $\dot p = \dot c = 0$). $c = 0$, $p \ge 0$ is the balanced pathway, "
          r"$p = K^{1/D}$. Dividing by $(p^2 + c)^{(D-1)/2}$ gives again a clock shared by all "
          r"plastic pathways (without weight decay), $\dot\psi(p) = e$ with "
          r"$\psi' = (p^2 + c)^{-(D-1)/2}$:")
    d.check_cases(r"$\psi'(p) = (p^2 + c)^{-(D-1)/2}$", [
        ("$D = 2$", sp.diff(sp.asinh(pa / sp.sqrt(ci)), pa), 1 / sp.sqrt(pa**2 + ci)),
        ("$D = 3$", sp.diff(sp.atan(pa / sp.sqrt(ci)) / sp.sqrt(ci), pa), 1 / (pa**2 + ci))])
    speed = lambda px: (px**2 + ci) ** ((D - 1) / 2)  # noqa: E731
    d.check_zero(r"$\frac{d}{dt}[\psi(p_a) - \psi(p_b)] = 0$ (general $D$, no decay)",
                 speed(pa) * e / speed(pa) - speed(pb) * e / speed(pb))
    d.say(r"So the differences $\psi(p_a) - \psi(p_b)$ are conserved ($\operatorname{arcsinh}"
          r"(p_a/\sqrt c) - \operatorname{arcsinh}(p_b/\sqrt c)$ at $D = 2$); a deficit window "
          r"shifts them for good, as in the balanced case. $\psi$ is a hypergeometric function "
          r"of $p$ for general $D$ (bounded for $D \ge 3$), without a usable inverse: "
          r"`dln.pathways.solve(..., imbalance=c)` integrates the $P$-dimensional per-mode ODE in "
          r"$(p, c)$ (Dopri8, labelled a reduced integration).")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
