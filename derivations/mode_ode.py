"""The reduced ODE of one SVD mode, derived from the matrix gradient flow.

Saxe, McClelland & Ganguli (2014), "Exact solutions to the nonlinear dynamics of learning in deep
linear neural networks" (arXiv:1312.6120); docs/theory/setting.md (loss, flow, time, bases) and
docs/theory/modes.md (the mode equations). Steps:

1. the loss in correlations, and its gradient `−∂L/∂W_l = (W_D⋯W_{l+1})ᵀ(Σyx − WΣxx)(W_{l−1}⋯W_1)ᵀ`
   (entrywise against `sympy.diff`, explicit symbolic matrices, D = 1, 2, 3, rectangular);
2. the flow is equivariant under `W_l → R_l W_l R_{l−1}ᵀ` (orthogonal `R`), so it can be written in
   the SVD bases of the task (matrix symbols, D = 1…4);
3. aligned ansatz: diagonal layers stay diagonal when `VᵀΣxxV` is diagonal, and each mode obeys
   `da_{l,α}/dt = Π_{k≠l} a_{k,α} (s_α − λ_α Π_k a_{k,α})` (symbolic diagonal matrices, D = 1…4);
   an off-diagonal input covariance couples the modes;
4. balanced layers: `du/dt = D u^{2−2/D}(s − λu)` for D = 1…4 and for general D;
5. normalisation `u = (s/λ) w`, `τ = κ t` with the rate `κ = D s^{2−2/D} λ^{2/D−1}`, which is also
   the decay rate of the balanced flow at its fixed point.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import D, a, lam, s, u, w

NAME = "mode_ode"

kappa = sp.Symbol("kappa", positive=True)

# The two results other pages build on; `derive()` derives and checks them.
REDUCED_ODE = D * u ** (2 - 2 / D) * (s - lam * u)  # du/dt
RATE = D * s ** (2 - 2 / D) * lam ** (2 / D - 1)  # κ


def _entrywise_expand(m):
    return m.applyfunc(sp.expand)


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "The reduced ODE of one SVD mode",
        sources="Saxe, McClelland & Ganguli (2014), arXiv:1312.6120; theory pages "
                "[setting](../theory/setting.md) and [modes](../theory/modes.md).",
        statement=r"For a deep linear network $W_D\cdots W_1$ trained by gradient flow on the "
                  r"mean squared error, with aligned, balanced layers and input covariance "
                  r"diagonal in the task's right singular basis, every SVD mode $\alpha$ evolves "
                  r"on its own: its strength $u$ obeys $\dot u = D\,u^{2-2/D}(s-\lambda u)$, with "
                  r"$s$ the singular value of $\Sigma^{yx}$ and $\lambda$ the input variance "
                  r"along the mode. With $u = (s/\lambda)\,w$ and $\tau = \kappa t$, "
                  r"$\kappa = D s^{2-2/D}\lambda^{2/D-1}$, all modes obey "
                  r"$dw/d\tau = w^{2-2/D}(1-w)$.")
    _loss_and_gradient(d)
    _svd_basis(d)
    _aligned(d)
    _balanced(d)
    _normalised(d)
    return d


def _loss_and_gradient(d: Derivation) -> None:
    d.section("Loss, correlations and gradient flow")
    d.say(r"Data rows are samples: $X\in\mathbb R^{P\times N_i}$, $Y\in\mathbb R^{P\times N_o}$, "
          r"$\Sigma^{xx} = X^\top X/P$, $\Sigma^{yx} = Y^\top X/P$, $\Sigma^{yy} = Y^\top Y/P$. "
          r"The network map is $W = W_D\cdots W_1$ with $W_l$ of shape (out, in). The loss "
          r"depends on the data only through the correlations:")
    d.show(r"L = \frac{1}{2P}\sum_{\mu=1}^{P}\lVert y_\mu - W x_\mu\rVert^2",
           r"\tfrac12\operatorname{tr}(W\Sigma^{xx}W^\top) - \operatorname{tr}(\Sigma^{yx}W^\top)"
           r" + \tfrac12\operatorname{tr}\Sigma^{yy}")
    n_samples, n_in, n_out = 3, 2, 2
    X, Y = mx.general("x", n_samples, n_in), mx.general("y", n_samples, n_out)
    W = mx.general("w", n_out, n_in)
    by_sample = sum(((Y[m, :].T - W * X[m, :].T).norm() ** 2 for m in range(n_samples)),
                    sp.S.Zero) / (2 * n_samples)
    by_sample = by_sample.subs({sp.Abs(e): e for e in by_sample.atoms(sp.Abs)})  # real entries
    in_correlations = mx.loss([W], X.T * X / n_samples, Y.T * X / n_samples, Y.T * Y / n_samples)
    d.check_equal(f"The two forms of $L$ for explicit symbolic data ($P = {n_samples}$, "
                  f"$N_i = {n_in}$, $N_o = {n_out}$)", by_sample, in_correlations,
                  reduce=sp.expand, how="`expand`", display=False)

    d.say(r"Gradient flow $\dot W_l = -\partial L/\partial W_l$ (flow time $t$ = learning rate "
          r"$\times$ steps, so $\tau = 1$):")
    d.show(r"\dot W_l", r"(W_D\cdots W_{l+1})^\top\,(\Sigma^{yx} - W\Sigma^{xx})\,"
                        r"(W_{l-1}\cdots W_1)^\top")
    cases = []
    for widths in ((2, 2), (2, 3, 2), (2, 2, 3, 2)):
        depth = len(widths) - 1
        weights = [mx.general(f"W{l + 1}", widths[l + 1], widths[l]) for l in range(depth)]
        sxx, syx = mx.symmetric(r"\sigma", widths[0]), mx.general("c", widths[-1], widths[0])
        syy = mx.symmetric("e", widths[-1])
        L = mx.loss(weights, sxx, syx, syy)
        formula = mx.flow(weights, sxx, syx, sp.eye(widths[0]), lambda l: sp.eye(widths[l]))
        for l, weight in enumerate(weights):
            minus_grad = -weight.applyfunc(lambda entry: sp.diff(L, entry))
            cases.append((f"$D = {depth}$, widths {widths}, $W_{l + 1}$", minus_grad,
                          formula[l]))
    d.check_cases(r"$-\partial L/\partial W_l$ entry by entry (`diff` of $L$ with explicit "
                  r"symbolic matrices and a general symmetric $\Sigma^{xx}$) equals the formula",
                  cases, reduce=_entrywise_expand, how="`expand`")


def _cancel_orthogonal(expr, rotations):
    """Expand a matrix expression and delete adjacent `RᵀR` / `RRᵀ` for the orthogonal `R`s."""
    expr = sp.expand(expr.doit())
    terms = expr.args if isinstance(expr, sp.MatAdd) else (expr,)
    kept = []
    for term in terms:
        coeff, factors = (term.as_coeff_matrices() if isinstance(term, sp.MatMul)
                          else (sp.S.One, [term]))
        factors = list(factors)
        changed = True
        while changed:
            changed = False
            for i in range(len(factors) - 1):
                left, right = factors[i], factors[i + 1]
                if ((left in rotations and right == left.T)
                        or (right in rotations and left == right.T)):
                    del factors[i:i + 2]
                    changed = True
                    break
        if not factors:
            raise ValueError("a term reduced to a bare identity; give it an explicit size")
        kept.append(coeff * sp.MatMul(*factors))
    return sp.simplify(sp.MatAdd(*kept).doit())


def _svd_basis(d: Derivation) -> None:
    d.section("The flow in the singular bases of the task")
    d.say(r"Let $\Sigma^{yx} = U\,\bar\Sigma^{yx}V^\top$ and $\Sigma^{xx} = V\,\bar\Sigma^{xx}"
          r"V^\top$ (so $\bar\Sigma^{yx} = \mathrm{diag}(s_\alpha)$ padded with zeros, "
          r"$\bar\Sigma^{xx} = V^\top\Sigma^{xx}V$), and write each layer in orthogonal bases "
          r"$R_0 = V$, $R_1, \dots, R_{D-1}$, $R_D = U$: $W_l = R_l\bar W_l R_{l-1}^\top$. Then "
          r"$\bar W_l$ follows the same flow with the barred correlations:")
    d.show(r"R_l^\top\,\dot W_l\,R_{l-1}",
           r"(\bar W_D\cdots\bar W_{l+1})^\top(\bar\Sigma^{yx} - \bar W\bar\Sigma^{xx})"
           r"(\bar W_{l-1}\cdots\bar W_1)^\top")
    cases = []
    for depth in (1, 2, 3, 4):
        sizes = sp.symbols(f"n_0:{depth + 1}", integer=True, positive=True)
        R = [sp.MatrixSymbol(f"R_{l}", sizes[l], sizes[l]) for l in range(depth + 1)]
        B = [sp.MatrixSymbol(f"B_{l + 1}", sizes[l + 1], sizes[l]) for l in range(depth)]
        sxx = sp.MatrixSymbol(r"\bar\Sigma^{xx}", sizes[0], sizes[0])
        syx = sp.MatrixSymbol(r"\bar\Sigma^{yx}", sizes[depth], sizes[0])
        weights = [R[l + 1] * B[l] * R[l].T for l in range(depth)]
        ident_in = sp.Identity(sizes[0])
        full = mx.flow(weights, R[0] * sxx * R[0].T, R[depth] * syx * R[0].T, ident_in,
                       lambda l: sp.Identity(sizes[l]))
        barred = mx.flow(B, sxx, syx, ident_in, lambda l: sp.Identity(sizes[l]))
        cases += [(f"$D = {depth}$, layer {l + 1}", R[l + 1].T * full[l] * R[l], barred[l])
                  for l in range(depth)]
    rotations = {m for _, lhs, _ in cases for m in lhs.atoms(sp.MatrixSymbol)
                 if m.name.startswith("R_")}
    d.check_cases(r"With matrix symbols of arbitrary sizes $n_0,\dots,n_D$, and $R^\top R = "
                  r"RR^\top = I$ as the only rule, both sides agree", cases,
                  reduce=lambda e: _cancel_orthogonal(e, rotations),
                  how=r"cancelling adjacent $R^\top R$ pairs, then `simplify`")


def _diag(entries):
    return sp.diag(*entries)


def _aligned(d: Derivation) -> None:
    d.section("Aligned layers: the modes decouple")
    d.say(r"Aligned ansatz: every $\bar W_l = \mathrm{diag}(a_{l,\alpha})$, with "
          r"$\bar\Sigma^{yx} = \mathrm{diag}(s_\alpha)$ and $\bar\Sigma^{xx} = "
          r"\mathrm{diag}(\lambda_\alpha)$, i.e. $V^\top\Sigma^{xx}V$ diagonal and "
          r"$\lambda_\alpha = V_{:,\alpha}^\top\Sigma^{xx}V_{:,\alpha}$ the input variance along "
          r"the mode ($\lambda_\alpha = 1$ for whitened input). Then every $\dot{\bar W}_l$ is "
          r"diagonal, so the ansatz is preserved, and each mode evolves on its own:")
    d.show(r"\dot a_{l,\alpha}", r"\Big(\prod_{k\neq l}a_{k,\alpha}\Big)\Big(s_\alpha - "
                                r"\lambda_\alpha\prod_{k=1}^{D}a_{k,\alpha}\Big)")
    modes = 2
    s_m = sp.symbols(f"s_1:{modes + 1}", positive=True)
    lam_m = sp.symbols(f"lambda_1:{modes + 1}", positive=True)
    cases = []
    for depth, l, flow_l, expected in mx.diagonal_mode_flows((1, 2, 3, 4), modes):
        if depth == 2:
            d.show(rf"\dot{{\bar W}}_{l + 1}", flow_l)
        cases.append((f"$D = {depth}$, layer {l + 1}", flow_l, expected))
    d.check_cases(f"The matrix flow of symbolic diagonal layers ({modes} modes, shown above for "
                  "$D = 2$) is diagonal with the entries of the mode equation", cases,
                  reduce=_entrywise_expand, how="`expand`")

    d.say(r"The diagonal $\bar\Sigma^{xx}$ is needed. With an off-diagonal input covariance "
          r"$\sigma$ between the two modes ($D = 2$, $\bar W_1 = \mathrm{diag}(a_1, a_2)$, "
          r"$\bar W_2 = \mathrm{diag}(b_1, b_2)$), the flow leaves the diagonal at once:")
    sigma = sp.Symbol("sigma", real=True)
    a1, a2, b1, b2 = sp.symbols("a_1 a_2 b_1 b_2", real=True)
    sxx = sp.Matrix([[lam_m[0], sigma], [sigma, lam_m[1]]])
    flows = mx.flow([_diag([a1, a2]), _diag([b1, b2])], sxx, _diag(s_m), sp.eye(2),
                    lambda l: sp.eye(2))
    off = sp.factor(flows[0][0, 1])
    d.show(r"(\dot{\bar W}_1)_{12}", off)
    d.check_equal("The off-diagonal velocity", off, -a1 * b1**2 * sigma, reduce=sp.expand,
                  how="`expand`", display=False)
    d.say(r"It is non-zero whenever $\sigma a_1 b_1 \neq 0$: the decoupled mode equations "
          r"(and $\lambda_\alpha$ as the input variance of mode $\alpha$) are exact only when "
          r"$V^\top\Sigma^{xx}V$ is diagonal, e.g. for whitened input.")


def _balanced(d: Derivation) -> None:
    d.section("Balanced layers: the reduced mode ODE")
    d.say(r"Balanced init gives every layer of a mode the same strength, $a_{l,\alpha} = a$ "
          r"(the flow keeps it so: equal strengths have equal velocities, and "
          r"$a_{l+1}^2 - a_l^2$ is conserved, see the conservation page). Then "
          r"$\dot a = a^{D-1}(s - \lambda a^D)$ and the mode strength $u = a^D$ obeys")
    ode = REDUCED_ODE
    d.result("reduced_ode", ode, (u, s, lam, D), lhs=r"\dot u",
             text=r"reduced mode ODE $\dot u = D u^{2-2/D}(s-\lambda u)$",
             code="the ODE solved by `dln.modes.trajectory` (pages `shallow_and_logistic`, "
                  "`deep_modes`)")
    cases = []
    for depth in (1, 2, 3, 4):
        flows = mx.flow([_diag([a]) for _ in range(depth)], _diag([lam]), _diag([s]), sp.eye(1),
                        lambda l: sp.eye(1))
        a_dot = flows[0][0, 0]
        cases += [(f"$D = {depth}$, layer {l + 1} vs layer 1", flows[l][0, 0], a_dot)
                  for l in range(1, depth)]
        u_dot = sp.diff(a**depth, a) * a_dot  # chain rule, u = a^D
        cases.append((f"$D = {depth}$, $\\dot u$", u_dot, ode.subs(D, depth).subs(u, a**depth)))
    d.check_cases(r"From the matrix flow of balanced $1\times1$ layers: all layers have the same "
                  r"velocity, and $\dot u = D a^{D-1}\dot a$ equals the reduced ODE at $u = a^D$",
                  cases)
    a_dot = a ** (D - 1) * (s - lam * a**D)
    d.check_equal(r"General $D$ ($a > 0$): $D a^{D-1}\cdot a^{D-1}(s - \lambda a^D)$ equals "
                  r"$D u^{2-2/D}(s-\lambda u)$ at $u = a^D$",
                  D * a ** (D - 1) * a_dot, ode.subs(u, a**D))


def _normalised(d: Derivation) -> None:
    d.section("Normalised units and the rate")
    d.say(r"Substitute $u = (s/\lambda)\,w$ and $\tau = \kappa t$ into the reduced ODE and ask "
          r"that $dw/d\tau = w^{2-2/D}(1-w)$ for every mode:")
    p = 2 - 2 / D
    lhs = (s / lam) * kappa * w**p * (1 - w)
    rhs = D * ((s / lam) * w) ** p * (s - lam * (s / lam) * w)
    d.show(lhs, rhs)
    (solution,) = sp.solve(sp.Eq(lhs, rhs), kappa)
    rate = RATE
    d.check_equal(r"`solve` for $\kappa$ gives the rate below", solution, rate,
                  reduce=lambda e: sp.simplify(sp.powsimp(e, force=True)),
                  how="`powsimp` and `simplify`", display=False)
    d.result("rate", rate, (s, lam, D), lhs=r"\kappa",
             text=r"rate $\kappa$ turning flow time into normalised time", code="`dln.modes.rate`")
    d.result("normalised_ode", w**p * (1 - w), (w, D), lhs=r"\frac{dw}{d\tau}",
             text="normalised mode ODE; fixed point $w = 1$, i.e. $u = s/\\lambda$",
             code="the ODE solved by `dln.modes.normalized`")
    d.say(r"The rate is also how fast the balanced flow relaxes at its fixed point "
          r"$a_*^D = s/\lambda$: the derivative of $\dot a = a^{D-1}(s-\lambda a^D)$ there is "
          r"$-\kappa$, so a gradient-descent step is stable on the mode only for "
          r"$\mathrm{lr} < 2/\kappa$.")
    a_star = (s / lam) ** (1 / D)
    slope = sp.diff(a ** (D - 1) * (s - lam * a**D), a).subs(a, a_star)
    d.check_equal(r"$\partial\dot a/\partial a$ at $a_*$ equals $-\kappa$ (general $D$)",
                  slope, -rate, reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
