"""Deep linear networks with biases: the mode reduction and the early optimal constant solution.

Rubruck, Bauer, Saxe & Summerfield (2024), arXiv:2406.17467; docs/theory/biases.md. `dln.biases`
implements it. Steps:

1. the loss of the affine network `ŷ = Mx + c` from the data moments (exact, from the sum over
   samples with explicit symbolic data);
2. the mode reduction: at aligned weights with `x̄ = ξV_0`, `ȳ = ηU_0` the gradient of every
   weight and bias stays in the aligned form, and the uniform mode's gradient is that of a
   one-unit affine network (explicit matrices, two modes, depth 2 and 3, every bias pattern);
3. depth 1: the exact linear solution for slope and intercept;
4. the output bias is a shallow path parallel to the deep one: the OCS is reached first, and
   for items whose uniform input component is constant the two paths conserve a competition
   quantity (the same one as the pathways of Kleinman et al. 2024);
5. a first-layer bias preconditions the uniform item direction by `1 + P`; a shared input
   component does the same without biases.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import D, lam, s, t

NAME = "biases"

A, C = sp.symbols("A C", real=True)  # slope and intercept of the uniform mode
xi = sp.Symbol("xi", positive=True)  # V_0ᵀ x̄
eta = sp.Symbol("eta", real=True)  # U_0ᵀ ȳ
P = sp.Symbol("P", integer=True, positive=True)  # number of items
c_off = sp.Symbol("c", positive=True)  # shared input offset


def _expect(expr, samples):
    """`(1/P) Σ_μ expr(sample μ)` for a function `expr` of one sample."""
    return sum(expr(*smp) for smp in samples) / len(samples)


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Biases: the mode reduction and the optimal constant solution",
        sources="Rubruck, Bauer, Saxe & Summerfield (2024), arXiv:2406.17467; theory page "
                "[biases](../theory/biases.md).",
        statement=r"For the affine network $h_l = W_l h_{l-1} + b_l$ with aligned, balanced "
                  r"weights and zero biases, if the input mean lies along one mode's input "
                  r"direction, $\bar x = \xi V_0$, and the target mean along the same mode's "
                  r"output direction, $\bar y = \eta U_0$ (or the inputs are centred), every "
                  r"other mode follows the bias-free law and the uniform mode is the one-unit "
                  r"affine network with loss $\ell(A, C) = \mathrm{const} - sA - \eta C + "
                  r"\tfrac12(\lambda A^2 + 2\xi AC + C^2)$. An output bias is a shallow path "
                  r"that reaches the optimal constant solution $\bar y$ first; a first-layer bias "
                  r"or a shared input component speeds up the uniform item direction.")
    _moments(d)
    _reduction(d)
    _shallow(d)
    _ocs(d)
    _preconditioning(d)
    d.say(r"**Code bridge.** `dln.biases.inapplicable_reason` tests the conditions of section 2 "
          r"on the task's means; `dln.biases.affine_shallow` is section 3; the one-unit network "
          r"of section 2 is integrated by `dln.numerical_flow.integrate_statistics` (method "
          r"`reduced-integration`). `tests/test_solve_biases.py` compares all of them with "
          r"gradient descent with biases (the gap falls linearly with the learning rate) and "
          r"checks the $\sqrt{1+P}$ speed-up of section 5 and the closest approach to the OCS.")
    return d


def _moments(d: Derivation) -> None:
    d.section("The loss of an affine network from the data moments")
    d.say(r"With $\hat y = Mx + c$, the mean loss over samples "
          r"$L = \frac1{2P}\sum_\mu \|y_\mu - Mx_\mu - c\|^2$ depends on the data only through "
          r"$\Sigma^{xx}, \Sigma^{yx}, \Sigma^{yy}$ and the means $\bar x, \bar y$:")
    Ni, No, n = 2, 2, 3
    X = mx.general("x", n, Ni)
    Y = mx.general("y", n, No)
    M = mx.general("M", No, Ni)
    c = mx.general("c", No, 1)
    samples = [(X[k, :].T, Y[k, :].T) for k in range(n)]
    direct = _expect(lambda x, y: ((y - M * x - c).T * (y - M * x - c))[0, 0] / 2, samples)
    sxx, syx, syy = X.T * X / n, Y.T * X / n, Y.T * Y / n
    xm, ym = X.T * sp.ones(n, 1) / n, Y.T * sp.ones(n, 1) / n
    moments = (mx.loss([M], sxx, syx, syy) - (c.T * (ym - M * xm))[0, 0]
               + (c.T * c)[0, 0] / 2)
    d.show(sp.Symbol("L"), sp.Symbol(r"\tfrac12\operatorname{tr}\Sigma^{yy} - "
                                     r"\operatorname{tr}(M^\top\Sigma^{yx}) + \tfrac12"
                                     r"\operatorname{tr}(M\Sigma^{xx}M^\top) - c^\top(\bar y - "
                                     r"M\bar x) + \tfrac12\|c\|^2"))
    d.check_equal("the sum over 3 samples of 2-dimensional inputs and targets equals the moment "
                  "form, for symbolic data, map and offset", direct, moments, reduce=sp.expand,
                  how="`expand`", display=False)
    d.say(r"For one mode with input $z = V_\alpha^\top x$ and target $y_\alpha = U_\alpha^\top y$ "
          r"this is the loss of a one-unit affine network with slope $A$ and intercept $C$, "
          r"$\lambda = E[z^2]$, $s = E[y_\alpha z]$, $\xi = E[z]$, $\eta = E[y_\alpha]$:")
    zs = sp.symbols("z_1:4", real=True)
    ys = sp.symbols("y_1:4", real=True)
    direct = sum((yk - A * zk - C) ** 2 for zk, yk in zip(zs, ys)) / 6
    mom = lambda f: sum(f(zk, yk) for zk, yk in zip(zs, ys)) / 3  # noqa: E731
    unit = (mom(lambda z_, y_: y_**2) / 2 - A * mom(lambda z_, y_: y_ * z_)
            - C * mom(lambda z_, y_: y_)
            + (A**2 * mom(lambda z_, y_: z_**2) + 2 * A * C * mom(lambda z_, y_: z_) + C**2) / 2)
    d.check_equal("the one-unit loss from 3 samples equals its moment form", direct, unit,
                  reduce=sp.expand, how="`expand`", display=False)
    d.result("unit_loss", -s * A - eta * C + (lam * A**2 + 2 * xi * A * C + C**2) / 2,
             [A, C, s, eta, lam, xi], lhs=r"\ell(A, C) - \tfrac12 E[y_\alpha^2]",
             text="loss of the one-unit affine network of a mode (up to its constant)",
             code="`dln.network.affine_loss` (through the reduced trajectories)")


def _affine_loss(weights, biases, sxx, syx, xm, ym):
    """The moment form of section 1 for the affine network `h_l = W_l h_{l−1} + b_l`."""
    M = mx.product(weights, sp.eye(weights[0].shape[1]))
    c = sp.zeros(weights[-1].shape[0], 1)
    for W, b in zip(weights, biases):
        c = W * c + (b if b is not None else sp.zeros(W.shape[0], 1))
    return (-(M.T * syx).trace() + (M * sxx * M.T).trace() / 2
            - (c.T * (ym - M * xm))[0, 0] + (c.T * c)[0, 0] / 2)


def _reduction(d: Derivation) -> None:
    d.section("The mode reduction")
    d.say(r"Work in the task's bases (rotations of inputs, outputs and hidden layers change "
          r"nothing): two modes, $\Sigma^{xx} = \mathrm{diag}(\lambda, \lambda_1)$, "
          r"$\Sigma^{yx} = \mathrm{diag}(s, s_1)$, means $\bar x = (\xi, 0)$, "
          r"$\bar y = (\eta, 0)$ on mode 0, aligned weights $W_l = \mathrm{diag}(a_l, p_l)$ and "
          r"biases along mode 0, $b_l = (\beta_l, 0)$. The flow of the full loss of section 1 "
          r"is then diagonal (off-diagonal gradients and the mode-1 bias gradients vanish), so "
          r"the aligned form is kept; mode 1 obeys the bias-free law; mode 0 obeys the flow of "
          r"the one-unit loss $\ell(A, C)$ with $A = \prod_l a_l$, "
          r"$C = \sum_l \beta_l \prod_{m>l} a_m$.")
    lam1, s1 = sp.symbols("lambda_1 s_1", positive=True)
    sxx, syx = sp.diag(lam, lam1), sp.diag(s, s1)
    xm, ym = sp.Matrix([xi, 0]), sp.Matrix([eta, 0])
    cases_off, cases_on = [], []
    for depth in (2, 3):
        for pattern, has in (("output", lambda l: l == depth - 1),
                             ("hidden", lambda l: l < depth - 1), ("all", lambda l: True)):
            a = sp.symbols(f"a_1:{depth + 1}", real=True)
            p = sp.symbols(f"p_1:{depth + 1}", real=True)
            beta = sp.symbols(f"beta_1:{depth + 1}", real=True)
            full = [mx.general(f"W{l + 1}", 2, 2) for l in range(depth)]
            fb = [mx.general(f"b{l + 1}", 2, 1) if has(l) else None for l in range(depth)]
            at = {}
            for l in range(depth):
                at.update({full[l][0, 0]: a[l], full[l][1, 1]: p[l], full[l][0, 1]: 0,
                           full[l][1, 0]: 0})
                if fb[l] is not None:
                    at.update({fb[l][0]: beta[l], fb[l][1]: 0})
            L = _affine_loss(full, fb, sxx, syx, xm, ym)
            Aexpr = sp.Mul(*a)
            Cexpr = sum((beta[l] if has(l) else 0) * sp.Mul(*a[l + 1:]) for l in range(depth))
            unit = -s * A - eta * C + (lam * A**2 + 2 * xi * A * C + C**2) / 2
            unit = unit.subs({A: Aexpr, C: Cexpr})
            Pm = sp.Mul(*p)
            mode1 = -s1 * Pm + lam1 * Pm**2 / 2
            label = f"D = {depth}, {pattern}"
            off = [sp.diff(L, full[l][0, 1]).subs(at) for l in range(depth)]
            off += [sp.diff(L, full[l][1, 0]).subs(at) for l in range(depth)]
            off += [sp.diff(L, fb[l][1]).subs(at) for l in range(depth) if fb[l] is not None]
            cases_off.append((label, sp.Matrix(off), sp.zeros(len(off), 1)))
            on = [sp.diff(L, full[l][0, 0]).subs(at) - sp.diff(unit, a[l]) for l in range(depth)]
            on += [sp.diff(L, full[l][1, 1]).subs(at) - sp.diff(mode1, p[l])
                   for l in range(depth)]
            on += [sp.diff(L, fb[l][0]).subs(at) - sp.diff(unit, beta[l])
                   for l in range(depth) if fb[l] is not None]
            cases_on.append((label, sp.Matrix(on), sp.zeros(len(on), 1)))
    d.check_cases("every off-diagonal weight gradient and every bias gradient off mode 0 "
                  "vanishes at aligned weights", cases_off, reduce=sp.expand, how="`expand`")
    d.check_cases("the on-diagonal gradients are those of the one-unit loss (mode 0, with its "
                  "biases) and of the bias-free mode loss (mode 1)", cases_on,
                  reduce=sp.expand, how="`expand`")
    d.say(r"Without the assumptions the reduction fails: a component of $\bar x$ on a second "
          r"mode, $\bar x = (\xi, \xi_1)$, gives the off-diagonal weight gradient "
          r"$\partial L/\partial W_{12} = C\,\xi_1 \ne 0$ at depth 1 (the offset meets the second "
          r"mode's input mean). With centred inputs ($\xi = 0$) and an output bias only, "
          r"the bias decouples from the weights entirely: $\dot c = \bar y - c$, so "
          r"$c(t) = \bar y(1 - e^{-t})$ for any $\bar y$.")
    W = mx.general("W", 2, 2)
    xi1 = sp.Symbol("xi_1", positive=True)
    cb = sp.Matrix([C, 0])
    L1 = _affine_loss([W], [cb], sxx, syx, sp.Matrix([xi, xi1]), ym)
    d.check_equal(r"at depth 1 with $\bar x = (\xi, \xi_1)$: $\partial L/\partial W_{12} = C\xi_1$ "
                  r"at $W$ diagonal", sp.diff(L1, W[0, 1]).subs({W[0, 1]: 0, W[1, 0]: 0}),
                  C * xi1, reduce=sp.expand, how="`expand`", display=False)
    yb = sp.Symbol(r"\bar y", real=True)
    cent = yb * (1 - sp.exp(-t))
    d.check_zero(r"$c(t) = \bar y(1 - e^{-t})$ solves $\dot c = \bar y - c$, $c(0) = 0$",
                 sp.diff(cent, t) - (yb - cent) + cent.subs(t, 0), display=False)


def _shallow(d: Derivation) -> None:
    d.section("Depth 1: the exact solution")
    d.say(r"At depth 1 the weights and the output bias are one affine map; the uniform mode's "
          r"slope and intercept obey the linear system $\frac{d}{dt}(A, C) = (s, \eta) - "
          r"M(A, C)$, $M = \begin{bmatrix}\lambda & \xi\\ \xi & 1\end{bmatrix} \succeq 0$ "
          r"($\lambda \ge \xi^2$ by Cauchy–Schwarz). Along each eigenvector $q_i$ of $M$ "
          r"(eigenvalue $m_i \ge 0$) the component $x_i$ of $(A, C)$ and $b_i$ of $(s, \eta)$ "
          r"obey $\dot x_i = b_i - m_i x_i$:")
    m = sp.Symbol("m", positive=True)
    x0, bi = sp.symbols("x_0 b", real=True)
    sol = sp.exp(-m * t) * x0 + (1 - sp.exp(-m * t)) / m * bi
    d.check_zero(r"$x(t) = e^{-mt}x_0 + \frac{1 - e^{-mt}}{m} b$ solves the ODE",
                 sp.diff(sol, t) - (bi - m * sol))
    d.check_equal(r"its limit $m \to 0$ (the null direction of $M$ when $\lambda = \xi^2$) is "
                  r"$x_0 + bt$", sp.limit(sol, m, 0), x0 + bi * t, display=False)
    grad = sp.Matrix([sp.diff(-s * A - eta * C + (lam * A**2 + 2 * xi * A * C + C**2) / 2, v)
                      for v in (A, C)])
    d.check_equal(r"the flow of $\ell(A, C)$ at depth 1 is $(s, \eta) - M(A, C)$", -grad,
                  sp.Matrix([s, eta]) - sp.Matrix([[lam, xi], [xi, 1]]) * sp.Matrix([A, C]),
                  reduce=sp.expand, how="`expand`", display=False)


def _ocs(d: Derivation) -> None:
    d.section("The output bias is a shallow path: the OCS comes first")
    d.say(r"With an output bias only and balanced layers ($A = a^D$), the uniform mode is a "
          r"deep path and a shallow path that share one error:")
    a_, C_ = sp.symbols("a C", positive=True)
    unit = -s * A - eta * C + (lam * A**2 + 2 * xi * A * C + C**2) / 2
    g = (-sp.diff(unit, A)).subs(A, a_**D)  # −∂ℓ/∂A at A = a^D
    d.show(sp.Symbol(r"\dot A"), sp.Symbol(r"D A^{2-2/D}(s - \lambda A - \xi C)"))
    d.show(sp.Symbol(r"\dot C"), sp.Symbol(r"\eta - \xi A - C"))
    d.check_equal(r"balanced layers: $\dot a_l = -\partial\ell/\partial a_l = a^{D-1}(-\partial"
                  r"\ell/\partial A)$, so $\dot A = \sum_l a^{D-1}\dot a_l = D a^{2D-2}(-\partial"
                  r"\ell/\partial A) = D A^{2-2/D}(s - \lambda A - \xi C)$",
                  D * a_ ** (D - 1) * a_ ** (D - 1) * g,
                  D * (a_**D) ** (2 - sp.Rational(2) / D) * (s - lam * a_**D - xi * C),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand_power_base(e, force=True),
                                                          force=True)),
                  how="`powsimp`, `simplify`", display=False)
    d.say(r"While the deep path sits on its plateau ($A \approx 0$), $C(t) = \eta(1 - e^{-t})$: "
          r"the network's outputs $C U_0 = \bar y(1 - e^{-t})$ reach the optimal constant "
          r"solution $\bar y$ within a few time units, long before the deep modes escape "
          r"(about $\ln(s/(\lambda u_0))/\kappa$). For one-hot items the uniform input "
          r"component is the same for every item, $\lambda = \xi^2$, so $s = \xi\eta$ and the "
          r"two paths conserve a competition quantity (as the pathways of Kleinman et al. "
          r"2024):")
    A_ = sp.Symbol("A", positive=True)
    err = eta - xi * A_ - C_
    dA = D * A_ ** (2 - sp.Rational(2) / D) * xi * err
    Q = C_ - A_ ** (sp.Rational(2) / D - 1) / (xi * (2 - D))
    d.result("competition", Q, [C_, A_, xi, D], lhs=r"Q(D \ne 2)",
             text="conserved by the deep (A) and shallow (C) paths of the uniform mode with an "
                  "output bias when λ = ξ² (one-hot items); D = 2: C − ln(A)/(2ξ)",
             code="the reduced flow, in `tests/test_solve_biases.py`")
    d.check_zero(r"$\dot Q = \dot C - \frac{1}{\xi D}A^{2/D-2}\dot A = 0$ with $s = \xi\eta$, "
                 r"$\lambda = \xi^2$",
                 (sp.diff(Q, C_) * err + sp.diff(Q, A_) * dA),
                 reduce=lambda e: sp.simplify(sp.powsimp(e, force=True)),
                 how="`powsimp`, `simplify`", display=False)
    Q2 = C_ - sp.log(A_) / (2 * xi)
    d.check_zero(r"$D = 2$: $Q = C - \ln A/(2\xi)$ is conserved",
                 sp.diff(Q2, C_) * err + sp.diff(Q2, A_) * (2 * A_ * xi * err),
                 display=False)


def _preconditioning(d: Derivation) -> None:
    d.section("A first-layer bias, or a shared input component, preconditions the uniform item "
              "direction")
    d.say(r"In item space the first layer's output is $H = XW_1^\top + \mathbf 1 b_1^\top$ "
          r"($P \times N_h$). If $\Delta$ is the error signal reaching the hidden layer "
          r"($P\times N_h$, so that $\dot W_1 = \Delta^\top X/P$, $\dot b_1 = \Delta^\top "
          r"\mathbf 1/P$), then $\dot H = (XX^\top + \mathbf 1\mathbf 1^\top)\Delta/P$: the bias "
          r"adds $\mathbf 1\mathbf 1^\top$ to the item kernel.")
    n, Ni, Nh = 3, 2, 2
    X = mx.general("x", n, Ni)
    Delta = mx.general(r"\Delta", n, Nh)
    one = sp.ones(n, 1)
    dH = X * (Delta.T * X / n).T + one * (Delta.T * one / n).T
    d.check_equal(r"$\dot H = X\dot W_1^\top + \mathbf 1\dot b_1^\top = (XX^\top + "
                  r"\mathbf 1\mathbf 1^\top)\Delta/P$ (3 items, symbolic)", dH,
                  (X * X.T + one * one.T) * Delta / n, reduce=sp.expand, how="`expand`",
                  display=False)
    d.say(r"For one-hot items ($X = I$) this is the bias-free network on the augmented input "
          r"$(e_\mu, 1)$: the uniform direction's input variance becomes $(1 + P)/P$ instead of "
          r"$1/P$ and its singular value $s\sqrt{1+P}$ instead of $s$ (the target "
          r"$\bar y = \sqrt P s U_0$ joins it), so at depth 2 (rate $2s$) the uniform mode is "
          r"learned $\sqrt{1 + P}$ times faster. A shared input component "
          r"$x_\mu = e_\mu + c\mathbf 1$ does the same without any bias:")
    for Pn in (2, 3, 4):
        ones = sp.ones(Pn, 1)
        Xo = sp.eye(Pn) + c_off * ones * ones.T
        Sxx = Xo.T * Xo / Pn
        v0 = ones / sp.sqrt(Pn)
        d.check_zero(rf"$P = {Pn}$: $\Sigma^{{xx}} v_0 = \frac{{(1 + cP)^2}}{{P}} v_0$ for "
                     r"$x_\mu = e_\mu + c\mathbf 1$, $v_0 = \mathbf 1/\sqrt P$",
                     Sxx * v0 - (1 + c_off * Pn) ** 2 / Pn * v0, reduce=sp.simplify,
                     display=False)
        Yo = mx.general("y", Pn, 2)
        d.check_zero(rf"$P = {Pn}$: $\Sigma^{{yx}} v_0 = (1 + cP)\,\Sigma^{{yx}}_{{c=0}} v_0$",
                     Yo.T * Xo * v0 / Pn - (1 + c_off * Pn) * Yo.T * v0 / Pn,
                     reduce=sp.simplify, display=False)
    ratio = sp.sqrt(1 + P)
    d.result("hidden_bias_speedup", ratio, [P], lhs=r"\kappa_{b_1}/\kappa",
             text="speed-up of the uniform item mode by a first-layer bias, depth 2, one-hot "
                  "items", code="`tests/test_solve_biases.py` (half-time ratio)")
    aug_s = sp.sqrt(s**2 + (sp.sqrt(P) * s) ** 2)
    d.check_equal(r"the augmented singular value $\sqrt{s^2 + (\sqrt P s)^2} = s\sqrt{1 + P}$",
                  aug_s, s * ratio, display=False)


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
