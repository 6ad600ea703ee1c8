"""The learning-rate bound: the sharpness of the loss at the balanced global minimum.

Standard linear stability of gradient descent (a minimum is stable iff `lr < 2/λ_max(H)`); the
end-to-end structure of balanced layers is Arora, Cohen & Hazan (2018). `dln.lr_bound`
implements it. Steps:

1. at a critical point with zero residual (`Σyx = WΣxx`) the Hessian of the loss in the weights
   is the Gauss–Newton matrix `H_pq = tr(∂_pW Σxx ∂_qWᵀ)` (explicit symbolic matrices, D = 2, 3);
2. with `R = Σxx^{1/2}` and `J: δθ ↦ δW R`, `H = JᵀJ`, and `JJᵀ` is the operator
   `M ↦ Σ_l (A_lA_lᵀ) M R (B_lᵀB_l) R` on `No×Ni` matrices, so both share the top eigenvalue;
3. balanced layers make `A_lA_lᵀ`, `B_lᵀB_l` powers of `W*W*ᵀ`, `W*ᵀW*` (2×2, symbolic rotations
   and singular values), the operator decouples over the left singular directions `u_i`, and the
   largest block is `i = 1` (`σ_1` the largest singular value): `λ_max(H) = λ_max(Γ^{1/2} Ṽᵀ Σxx
   Ṽ Γ^{1/2})`, `Γ_jj = Σ_l σ_1^{2(D−l)/D} σ_j^{2(l−1)/D} = K(σ_1, σ_j)`;
4. the whole Hessian of the loss (not only the chain of lemmas) has the eigenvectors
   `Jᵀ(e_i e_jᵀ)` with eigenvalues `λ_j K(σ_i, σ_j)` for aligned input (D = 2, 3), whose diagonal
   is the mode rate `κ = D s^{2−2/D} λ^{2/D−1}`, and an exact example where an off-diagonal pair
   is 5000 times sharper than every `κ`;
5. the caveat: for non-whitened input an unbalanced factorisation of the same map can be much
   flatter, so the bound is about the balanced minimum (the one descent from small init reaches).
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import lam, s
from derivations.end_to_end import C_SYMBOLS, CIRCLE, Dp, _setup, sig, sig2

NAME = "lr_bound"
EXACT_DEPTHS = (2, 3)


def _expand(m):
    return m.applyfunc(sp.expand) if isinstance(m, sp.MatrixBase) else sp.expand(m)


def _flat(m: sp.Matrix) -> sp.Matrix:
    """The entries of `m` as a column, row by row (one fixed vectorisation)."""
    return sp.Matrix(list(m))


def _params(weights):
    return [x for w in weights for x in w]


def _jacobian(net, params, right):
    """`J` as a matrix: column `p` is the flattened `(∂W/∂θ_p) right`."""
    return sp.Matrix.hstack(*(_flat(net.diff(p) * right) for p in params))


def _operator(grams, R):
    """The matrix of `M ↦ Σ_l (A_lA_lᵀ) M R (B_lᵀB_l) R` on flattened `No×Ni` matrices."""
    n_out, n_in = grams[0][0].shape[0], R.shape[0]
    cols = []
    for k in range(n_out * n_in):
        E = sp.zeros(n_out, n_in)
        E[k // n_in, k % n_in] = 1
        cols.append(_flat(sum((up * E * R * down * R for up, down in grams),
                              sp.zeros(n_out, n_in))))
    return sp.Matrix.hstack(*cols)


def _grams(weights, n_out, n_in):
    """`(A_lA_lᵀ, B_lᵀB_l)` for every layer, `A_l = W_D⋯W_{l+1}`, `B_l = W_{l−1}⋯W_1`."""
    out = []
    for l in range(1, len(weights) + 1):
        above = mx.product(weights[l:], sp.eye(n_out))
        below = mx.product(weights[: l - 1], sp.eye(n_in))
        out.append((above * above.T, below.T * below))
    return out


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "The learning-rate bound: sharpness at the balanced minimum",
        sources="Linear stability of gradient descent at a minimum ($\\mathrm{lr} < "
                "2/\\lambda_{\\max}(H)$); the balanced Gram matrices of Arora, Cohen & Hazan "
                "(2018), arXiv:1802.06509 (end-to-end page, sections 2–3); the conserved "
                "imbalances of the conservation page.",
        statement=r"At the balanced factorisation of the minimum-norm least-squares map "
                  r"$W^* = \Sigma^{yx}\Sigma^{xx+} = \sum_i\sigma_i u_iv_i^\top$ (hidden widths "
                  r"$\ge \operatorname{rank}W^*$, zero residual $\Sigma^{yx} = W^*\Sigma^{xx}$) "
                  r"the largest eigenvalue of the Hessian of the loss in all the weights is "
                  r"$\lambda_{\max}(H) = \lambda_{\max}\big(\Gamma^{1/2}\tilde V^\top\Sigma^{xx}"
                  r"\tilde V\Gamma^{1/2}\big)$, $\Gamma = \mathrm{diag}_j K(\sigma_1, \sigma_j)$, "
                  r"$K(\sigma, \sigma') = \sum_{l=1}^D\sigma^{2(D-l)/D}\sigma'^{2(l-1)/D}$, "
                  r"$\tilde V$ the full right singular basis ($\sigma_j = 0$ beyond the rank). "
                  r"Gradient descent there is stable iff $\mathrm{lr} < 2/\lambda_{\max}(H)$ "
                  r"(`dln.lr_bound`). For aligned input the eigenvalues are "
                  r"$\lambda_j K(\sigma_i, \sigma_j)$; the diagonal $i = j$ is the mode rate "
                  r"$\kappa = Ds^{2-2/D}\lambda^{2/D-1}$, but an off-diagonal pair can be far "
                  r"larger, so $2/\max\kappa$ is not a bound.")
    _gauss_newton(d)
    _operator_section(d)
    _balanced(d)
    _aligned(d)
    _example(d)
    _caveat(d)
    d.say(r"**Code bridge.** `dln.lr_bound` computes section 3 in numpy: $W^*$ = "
          r"`task.lstsq_map`, its SVD (singular values below the numerical-rank tolerance set "
          r"to 0), $\Gamma$ with $0^0 = 1$, and the top eigenvalue of "
          r"$\Gamma^{1/2}\tilde V^\top\Sigma^{xx}\tilde V\Gamma^{1/2}$. "
          r"`tests/test_derivations.py` compares it with `pair_curvature` and `mode_curvature` "
          r"on aligned tasks; `tests/test_lr_bound.py` with the top eigenvalue of `jax.hessian` "
          r"on random tasks and with gradient descent at and near the minimum.")
    return d


# ------------------------------------------------------------------------------------------ 1
def _gauss_newton(d: Derivation) -> None:
    d.section("At a zero-residual minimum the Hessian is the Gauss–Newton matrix")
    d.say(r"With $W = W_D\cdots W_1$ and $L = \tfrac12\operatorname{tr}\Sigma^{yy} - "
          r"\operatorname{tr}(W^\top\Sigma^{yx}) + \tfrac12\operatorname{tr}(W\Sigma^{xx}"
          r"W^\top)$, the second derivative along weights $\theta$ is "
          r"$\partial_p\partial_q L = \operatorname{tr}(\partial_pW\,\Sigma^{xx}\,\partial_qW^\top)"
          r" - \operatorname{tr}\big(\partial_p\partial_qW^\top(\Sigma^{yx} - W\Sigma^{xx})\big)$. "
          r"The second term vanishes where the residual $\Sigma^{yx} - W\Sigma^{xx}$ does, i.e. "
          r"at every global minimum when $\Sigma^{yx} = W^*\Sigma^{xx}$ (always so for "
          r"statistics of data). Explicitly, with general symbolic layers, a general symmetric "
          r"$\Sigma^{xx}$ and $\Sigma^{yx} := W\Sigma^{xx}$ substituted after differentiating:")
    cases = []
    for widths in ((2, 2, 2), (2, 2, 2, 2)):
        depth = len(widths) - 1
        ws = [mx.general(f"W{l + 1}", widths[l + 1], widths[l]) for l in range(depth)]
        sxx = mx.symmetric(r"\sigma", widths[0])
        syx = mx.general("c", widths[-1], widths[0])
        params = _params(ws)
        net = mx.product(ws, sp.eye(widths[0]))
        L = mx.loss(ws, sxx, syx, sp.zeros(widths[-1], widths[-1]))
        H = sp.hessian(L, params).subs(dict(zip(syx, net * sxx)), simultaneous=True)
        J = _jacobian(net, params, sp.eye(widths[0]))
        # Gauss–Newton: tr(∂_pW Σxx ∂_qWᵀ) = vec(∂_pW)ᵀ (I ⊗ Σxx) vec(∂_qW), rows flattened
        GN = J.T * sp.kronecker_product(sp.eye(widths[-1]), sxx) * J
        cases.append((f"$D = {depth}$, widths {widths}", H, GN))
    d.check_cases(r"$\partial_p\partial_q L = \operatorname{tr}(\partial_pW\,\Sigma^{xx}\,"
                  r"\partial_qW^\top)$ for every pair of weight entries when "
                  r"$\Sigma^{yx} = W\Sigma^{xx}$", cases, reduce=_expand, how="`expand`")


# ------------------------------------------------------------------------------------------ 2
def _operator_section(d: Derivation) -> None:
    d.section("The Gauss–Newton matrix as an operator on maps")
    d.say(r"Write $\Sigma^{xx} = R^2$ with $R = (\Sigma^{xx})^{1/2}$ symmetric, and "
          r"$J:\delta\theta \mapsto \delta W R$ with $\delta W = \sum_l A_l\,\delta W_l\,B_l$, "
          r"$A_l = W_D\cdots W_{l+1}$, $B_l = W_{l-1}\cdots W_1$. Then $H = J^\top J$ "
          r"($\delta\theta^\top H\,\delta\theta = \|\delta W R\|_F^2$), and $JJ^\top$, which "
          r"has the same nonzero eigenvalues, acts on $N_o\times N_i$ matrices as")
    d.show(r"JJ^\top:\; M \mapsto \sum_{l=1}^D (A_lA_l^\top)\,M\,R\,(B_l^\top B_l)\,R")
    cases_h, cases_op = [], []
    for depth in EXACT_DEPTHS:
        ws = [mx.general(f"W{l + 1}", 2, 2) for l in range(depth)]
        R = mx.symmetric("r", 2)
        params = _params(ws)
        net = mx.product(ws, sp.eye(2))
        J = _jacobian(net, params, R)
        J0 = _jacobian(net, params, sp.eye(2))
        GN = J0.T * sp.kronecker_product(sp.eye(2), R * R) * J0
        cases_h.append((f"$D = {depth}$", J.T * J, GN))
        cases_op.append((f"$D = {depth}$", J * J.T, _operator(_grams(ws, 2, 2), R)))
    d.check_cases(r"$J^\top J$ is the Gauss–Newton matrix of section 1 with "
                  r"$\Sigma^{xx} = R^2$ (general $2\times2$ layers, general symmetric $R$)",
                  cases_h, reduce=_expand, how="`expand`")
    d.check_cases(r"$JJ^\top$ is the matrix of $M \mapsto \sum_l (A_lA_l^\top)MR(B_l^\top B_l)R$ "
                  r"(general $2\times2$ layers, general symmetric $R$)", cases_op,
                  reduce=_expand, how="`expand`")
    d.say(r"So at any zero-residual global minimum $\lambda_{\max}(H)$ is the top eigenvalue of "
          r"this operator, which only needs the Gram matrices $A_lA_l^\top$ and $B_l^\top B_l$.")


# ------------------------------------------------------------------------------------------ 3
def _balanced(d: Derivation) -> None:
    d.section("The balanced minimum")
    d.say(r"Balanced layers $W_1 = R_1CV^\top$, $W_l = R_lCR_{l-1}^\top$, $W_D = UCR_{D-1}^\top$ "
          r"with $C = \mathrm{diag}(c)$, $c_i = \sigma_i^{1/D}$, factor $W^* = UC^DV^\top$ "
          r"(the end-to-end page, section 2; symbolic rotations $U$, $V$, $R_l$ and $c_i$). "
          r"Their Gram matrices are powers of $W^*W^{*\top}$ and $W^{*\top}W^*$:")
    c = C_SYMBOLS
    cases = []
    setups = {depth: _setup(depth) for depth in EXACT_DEPTHS}
    for depth, (_ws, U, V, C, _reduce, _W, grams) in setups.items():
        for l, (up, down) in enumerate(grams, start=1):
            cases.append((f"$D = {depth}$, $l = {l}$", sp.Matrix.vstack(up, down),
                          sp.Matrix.vstack(U * C ** (2 * (depth - l)) * U.T,
                                           V * C ** (2 * (l - 1)) * V.T)))
    d.check_cases(r"$A_lA_l^\top = (W^*W^{*\top})^{(D-l)/D} = UC^{2(D-l)}U^\top$ and "
                  r"$B_l^\top B_l = (W^{*\top}W^*)^{(l-1)/D} = VC^{2(l-1)}V^\top$", cases,
                  reduce=setups[3][4], how=CIRCLE)
    d.say(r"In the left singular basis, $M = UN$, the operator acts on each row $n_i^\top$ of "
          r"$N$ separately: $n_i^\top \mapsto n_i^\top\mathcal K_i$ with")
    d.show(r"\mathcal K_i = \sum_{l=1}^D \sigma_i^{2(D-l)/D}\,R\,(W^{*\top}W^*)^{(l-1)/D}R "
           r"= R\,\tilde V\,\Gamma_i\tilde V^\top R,\qquad (\Gamma_i)_{jj} = "
           r"\sum_{l=1}^D\sigma_i^{2(D-l)/D}\sigma_j^{2(l-1)/D} = K(\sigma_i, \sigma_j)")
    cases = []
    R = mx.symmetric("r", 2)
    N = mx.general("N", 2, 2)
    for depth, (_ws, U, V, _C, _reduce, _W, grams) in setups.items():
        applied = U.T * sum((up * (U * N) * R * down * R for up, down in grams), sp.zeros(2, 2))
        gamma = [sp.diag(*(sum(c[i] ** (2 * (depth - l)) * c[j] ** (2 * (l - 1))
                               for l in range(1, depth + 1)) for j in range(2)))
                 for i in range(2)]
        rows = sp.Matrix.vstack(*(N[i, :] * R * V * gamma[i] * V.T * R for i in range(2)))
        cases.append((f"$D = {depth}$", applied, rows))
    d.check_cases(r"$U^\top\big[\sum_l A_lA_l^\top(UN)R\,B_l^\top B_lR\big]$ has rows "
                  r"$n_i^\top R\tilde V\Gamma_i\tilde V^\top R$ (symbolic rotations, $c_i$, "
                  r"$N$ and symmetric $R$)", cases, reduce=setups[3][4], how=CIRCLE)
    d.say(r"This holds for $\sigma_i = 0$ too (with $0^0 = 1$): a left direction the map does "
          r"not use (more outputs than the rank) keeps only the $l = D$ term, "
          r"$\Gamma_{jj} = \sigma_j^{2(D-1)/D}$, and a zero input direction of $W^*$ only the "
          r"$l = 1$ term, $\Gamma_{jj} = \sigma_i^{2(D-1)/D}$. Each coefficient "
          r"$\sigma_i^{2(D-l)/D}$ grows with $\sigma_i$ and every $R(W^{*\top}W^*)^{(l-1)/D}R$ "
          r"is positive semi-definite, so $\mathcal K_i \preceq \mathcal K_1$ and the largest "
          r"eigenvalue is that of $\mathcal K_1 = XX^\top$, $X = R\tilde V\Gamma_1^{1/2}$, which "
          r"equals that of $X^\top X$:")
    d.show(r"\lambda_{\max}(H) = \lambda_{\max}\big(\Gamma_1^{1/2}\,\tilde V^\top\Sigma^{xx}"
           r"\tilde V\,\Gamma_1^{1/2}\big),\qquad \mathrm{lr}_{\max} = 2/\lambda_{\max}(H)")
    d.say(r"At depth 1 every $\Gamma_{jj} = 1$: $\lambda_{\max}(\Sigma^{xx})$, the sharpness of "
          r"the quadratic loss. For $W^* = 0$ and $D \ge 2$, $\Gamma = 0$: no curvature "
          r"(`dln.lr_bound` returns $\infty$).")


# ------------------------------------------------------------------------------------------ 4
def _aligned(d: Derivation) -> None:
    d.section("The whole Hessian for aligned input; the mode rate is its diagonal")
    d.say(r"Independently of the lemmas above: for $\Sigma^{xx} = \mathrm{diag}(\lambda_1, "
          r"\lambda_2)$, $\lambda_j = r_j^2$, and the balanced layers $W_l = \mathrm{diag}(c_1, "
          r"c_2)$ of $W^* = \mathrm{diag}(c_1^D, c_2^D)$, $\Sigma^{yx} = W^*\Sigma^{xx}$, take the "
          r"Hessian of the loss itself (`hessian` in all $4D$ weight entries) and the vectors "
          r"$v_{ij} = J^\top\,\mathrm{vec}(e_ie_j^\top)$:")
    r = sp.symbols("r_1 r_2", positive=True)
    c = C_SYMBOLS
    cases = []
    for depth in EXACT_DEPTHS:
        ws = [mx.general(f"W{l + 1}", 2, 2) for l in range(depth)]
        params = _params(ws)
        sxx = sp.diag(r[0] ** 2, r[1] ** 2)
        syx = mx.general("c", 2, 2)
        net = mx.product(ws, sp.eye(2))
        at = {p: v for w in ws for p, v in zip(w, sp.diag(*c))}
        wstar = sp.diag(c[0] ** depth, c[1] ** depth)
        H = sp.hessian(mx.loss(ws, sxx, syx, sp.zeros(2, 2)), params)
        H = H.subs(at, simultaneous=True).subs(dict(zip(syx, wstar * sxx)), simultaneous=True)
        J = _jacobian(net, params, sp.diag(*r)).subs(at, simultaneous=True)
        for i in range(2):
            for j in range(2):
                v = J.T[:, 2 * i + j]
                mu = r[j] ** 2 * sum(c[i] ** (2 * (depth - l)) * c[j] ** (2 * (l - 1))
                                     for l in range(1, depth + 1))
                cases.append((f"$D = {depth}$, $(i, j) = ({i + 1}, {j + 1})$", H * v, mu * v))
    d.check_cases(r"$Hv_{ij} = \lambda_j K(\sigma_i, \sigma_j)\,v_{ij}$, "
                  r"$K(\sigma_i, \sigma_j) = \sum_l c_i^{2(D-l)}c_j^{2(l-1)}$", cases,
                  reduce=_expand, how="`expand`")
    d.say(r"$H = J^\top J$ has rank at most $N_oN_i$, so these are all its nonzero eigenvalues. "
          r"The geometric sum is $K(\sigma, \sigma') = (\sigma^2 - \sigma'^2)/(\sigma^{2/D} - "
          r"\sigma'^{2/D})$ (the coupling kernel of the end-to-end page, which also derives its "
          r"diagonal limit $D\sigma^{2-2/D}$), so for aligned input")
    K = (sig**2 - sig2**2) / (sig ** (2 / Dp) - sig2 ** (2 / Dp))
    d.result("pair_curvature", lam * K, (sig, sig2, lam, Dp),
             lhs=r"\mu_{ij}", shown=r"\lambda_j\,\frac{\sigma_i^2 - \sigma_j^2}"
                                    r"{\sigma_i^{2/D} - \sigma_j^{2/D}}",
             text=r"Hessian eigenvalue of the pair (left direction $i$ with $\sigma_i$, input "
                  r"direction $j$ with $\sigma_j \ne \sigma_i$ and variance $\lambda_j$) at the "
                  r"balanced minimum, aligned input; $\sigma_j = 0$ allowed",
             code="`dln.lr_bound` ($= 2/\\max_j \\mu_{1j}$) on aligned tasks")
    sigma_mode = s / lam
    kappa = lam * Dp * sigma_mode ** (2 - 2 / Dp)
    rate = Dp * s ** (2 - 2 / Dp) * lam ** (2 / Dp - 1)
    d.check_equal(r"the diagonal pair $i = j$ of a mode with $\sigma = s/\lambda$ is "
                  r"$\lambda\,D\sigma^{2-2/D} = Ds^{2-2/D}\lambda^{2/D-1} = \kappa$, the mode "
                  r"rate of the reduced ODE (mode-ODE page)", kappa, rate,
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand_power_base(e, force=True),
                                                          force=True)),
                  how="`expand_power_base`, `powsimp` and `simplify`")
    d.result("mode_curvature", rate, (s, lam, Dp), lhs=r"\mu_{ii} = \kappa",
             text=r"Hessian eigenvalue along a mode's own direction (whitened input: the "
                  r"largest, $\lambda_j = 1$ and $K$ grows in both arguments)",
             code="`dln.lr_bound` on aligned tasks (the $j = 1$ term) and `dln.modes.rate`")
    d.say(r"For whitened input ($\lambda_j = 1$) the largest pair is $(1, 1)$ since $K$ grows in "
          r"both arguments, and the bound is $2/\kappa_1$. Otherwise an off-diagonal pair "
          r"$(1, j)$, $\lambda_jK(\sigma_1, \sigma_j) \ge \lambda_jK(\sigma_j, \sigma_j) = "
          r"\kappa_j$, can dominate every $\kappa$: a strong mode and a high-variance input "
          r"direction it does not use.")


# ------------------------------------------------------------------------------------------ 5
def _example(d: Derivation) -> None:
    d.section("Example: an unused high-variance input")
    d.say(r"$\Sigma^{xx} = \mathrm{diag}(1/100, 100)$, $\Sigma^{yx} = \mathrm{diag}(1, 0)$, "
          r"$D = 2$: $W^* = \mathrm{diag}(100, 0)$, balanced layers $W_1 = W_2 = "
          r"\mathrm{diag}(10, 0)$. The mode rate is $\kappa = 2\cdot1\cdot(1/100)^0 = 2$ "
          r"($2/\kappa = 1$), but the pair (mode 1, input 2) has $\lambda_2K(100, 0) = "
          r"100\cdot100$. The exact Hessian of the loss (rational entries) has eigenvalues")
    ws = [mx.general(f"W{l + 1}", 2, 2) for l in range(2)]
    params = _params(ws)
    sxx = sp.diag(sp.Rational(1, 100), 100)
    syx = sp.diag(1, 0)
    at = {p: v for w in ws for p, v in zip(w, sp.diag(10, 0))}
    H = sp.hessian(mx.loss(ws, sxx, syx, sp.zeros(2, 2)), params).subs(at, simultaneous=True)
    spectrum = H.eigenvals()
    shown = sorted(spectrum, reverse=True)
    d.show(r"\operatorname{spec}H", sp.FiniteSet(*shown))
    top = max(spectrum)
    d.check_equal(r"the largest eigenvalue of the exact $8\times8$ Hessian is $10^4$ (so "
                  r"$\mathrm{lr}_{\max} = 2\times10^{-4}$, not $1$)", top, sp.Integer(10**4),
                  display=False)


# ------------------------------------------------------------------------------------------ 6
def _caveat(d: Derivation) -> None:
    d.section("Which minimum: balanced, not flattest")
    d.say(r"For non-whitened input the balanced minimum is not the flattest. In the example, "
          r"$W_1 = \mathrm{diag}(a, 0)$, $W_2 = \mathrm{diag}(b, 0)$ with $ab = 100$ is a global "
          r"minimum for every $a > 0$; its Hessian has the eigenvectors $v_{ij} = "
          r"J^\top\mathrm{vec}(e_ie_j^\top)$ with")
    a, b = sp.symbols("a b", positive=True)
    ws = [mx.general(f"W{l + 1}", 2, 2) for l in range(2)]
    params = _params(ws)
    sxx = sp.diag(sp.Rational(1, 100), 100)
    R = sp.diag(sp.Rational(1, 10), 10)
    syx = sp.diag(1, 0)
    at = {**dict(zip(ws[0], sp.diag(a, 0))), **dict(zip(ws[1], sp.diag(b, 0)))}
    H = sp.hessian(mx.loss(ws, sxx, syx, sp.zeros(2, 2)), params).subs(at, simultaneous=True)
    H = H.subs(b, 100 / a)
    J = _jacobian(mx.product(ws, sp.eye(2)), params, R).subs(at, simultaneous=True)
    J = J.subs(b, 100 / a)
    bb = 100 / a
    mus = {(0, 0): (a**2 + bb**2) / 100, (0, 1): 100 * bb**2, (1, 0): a**2 / 100}
    cases = [(f"$(i, j) = ({i + 1}, {j + 1})$", H * J.T[:, 2 * i + j], mu * J.T[:, 2 * i + j])
             for (i, j), mu in mus.items()]
    d.check_cases(r"$Hv_{11} = \tfrac{a^2 + b^2}{100}v_{11}$, $Hv_{12} = 100b^2v_{12}$, "
                  r"$Hv_{21} = \tfrac{a^2}{100}v_{21}$ at $b = 100/a$ (and $v_{22} = 0$)",
                  cases, reduce=lambda m: m.applyfunc(sp.cancel), how="`cancel`")
    d.say(r"so the sharpness is $\max(100b^2, (a^2 + b^2)/100)$: $10^4$ at the balanced "
          r"$a = b = 10$ but about $100$ at $b = 1$, $a = 100$. Which minimum gradient descent "
          r"reaches is set by the conserved imbalances $W_{l+1}^\top W_{l+1} - W_lW_l^\top$ "
          r"(conservation page; a step of size $\mathrm{lr}$ changes them by "
          r"$O(\mathrm{lr}^2)$): from small or balanced initial weights they stay near 0, and "
          r"descent approaches the balanced factorisation of the map it converges to, the "
          r"minimum-norm $W^*$ (the null space of $\Sigma^{xx}$ keeps its initial, small, part). "
          r"That is the minimum whose stability `dln.lr_bound` reports; runs from large or "
          r"unbalanced weights may converge above it or diverge below it.")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
