"""The exact two-layer flow from λ-balanced weights: the matrix Riccati equation and its solution.

Fukumizu (1998); Braun, Dominé, Fitzgerald & Saxe (2022), arXiv/OpenReview lJx2vng-KiC; Dominé et
al. (2025), arXiv:2409.14623; docs/theory/two_layer.md. `dln.riccati` implements it. Steps:

1. with whitened input and `W2ᵀW2 − W1W1ᵀ = λI`, `Q = [W1ᵀ; W2]` obeys `Q̇ = FQ − ½QQᵀQ`
   (entrywise from `sympy.diff` of the mean loss, explicit rectangular matrices; the residual is
   `½JQ(W2ᵀW2 − W1W1ᵀ − λI)` for any weights, matrix symbols of any sizes); `Σxx = cI` reduces to
   it by `Q → √cQ`, `λ → cλ`;
2. `P = QQᵀ` obeys `Ṗ = FP + PF − P²`, solved by `P = G M⁻¹ Gᵀ`, `G = e^{Ft}Q0`,
   `M = I + Q0ᵀK(t)Q0` (matrix symbols); the whole solution written out for one unit per layer
   equals the explicit solution of the unbalanced two-layer page (exact);
3. the eigenvectors of `F` in closed form from the task's SVD;
4. the stable form used by the code (an exact identity; every exponent ≤ 0);
5. fixed points: converged representations; stalled modes exist only at λ = 0;
6. the neural tangent kernel from the blocks of `QQᵀ`.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import s

NAME = "riccati"

T = sp.Symbol("t", nonnegative=True)  # flow time (τ = 1)
lam = sp.Symbol("lambda", real=True)  # imbalance W2ᵀW2 − W1W1ᵀ = λI (as on the unbalanced page)
a0, b0 = sp.symbols("a_0 b_0", real=True)
omega = sp.Symbol("omega", positive=True)
phi = sp.Symbol("phi", real=True)
c_in = sp.Symbol("c", positive=True)  # Σxx = c I
C, S = sp.symbols("C S", real=True)  # cosh(ωt), sinh(ωt)


def _expand(m):
    return m.applyfunc(sp.expand)


def _matrix_zero(e):
    """Reduce a matrix expression of matrix symbols: expand products, collect like terms.
    (Products are written out, never as powers `P*P`, which sympy keeps as `MatPow`.)"""
    return sp.expand(e.doit())


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Two layers from λ-balanced weights: the matrix Riccati solution",
        sources="Fukumizu (1998); Braun, Dominé, Fitzgerald & Saxe (2022), OpenReview "
                "lJx2vng-KiC; Dominé et al. (2025), arXiv:2409.14623; theory page "
                "[two layers](../theory/two_layer.md).",
        statement=r"For a two-layer network with whitened input and $\lambda$-balanced weights, "
                  r"$W_2^\top W_2 - W_1W_1^\top = \lambda I$, the stacked weights "
                  r"$Q = [W_1^\top; W_2]$ obey $\dot Q = FQ - \tfrac12 QQ^\top Q$ with "
                  r"$F = \begin{bmatrix}-\frac\lambda2 I & \Sigma^{yx\top}\\ \Sigma^{yx} & "
                  r"\frac\lambda2 I\end{bmatrix}$, so $P = QQ^\top$ (network map, input- and "
                  r"output-side representations) obeys the matrix Riccati equation "
                  r"$\dot P = FP + PF - P^2$, solved by $P(t) = e^{Ft}Q_0\,[I + Q_0^\top K(t) "
                  r"Q_0]^{-1} Q_0^\top e^{Ft}$ with $K(t) = \int_0^t e^{2Fs}ds$, for any "
                  r"$N_i$, $N_h$, $N_o$. A stable form of it holds at any $t$; modes stall at "
                  r"the saddle only when $\lambda = 0$.")
    _flow_of_q(d)
    _riccati(d)
    _one_unit(d)
    _eigenvectors(d)
    _stable_form(d)
    _fixed_points(d)
    _ntk(d)
    d.say(r"**Code bridge.** `dln.riccati` evaluates the stable form (section 5) with the "
          r"eigenvectors of section 4; `tests/test_riccati.py` compares it with the one-unit "
          r"closed form of section 3 in mpmath, with DOP853 and Radau integrations of the "
          r"weight flow for random rectangular shapes and $\lambda \in \{-2, -0.5, 0, 0.5, 2\}$ "
          r"up to $t = 10^4$, with the converged representations of section 6 and with gradient "
          r"descent.")
    return d


# ------------------------------------------------------------------------------------ step 1
def _blocks_F(n_in, n_out, syx, lam_):
    return sp.Matrix(sp.BlockMatrix([[-lam_ / 2 * sp.eye(n_in), syx.T],
                                     [syx, lam_ / 2 * sp.eye(n_out)]]))


def _flow_of_q(d: Derivation) -> None:
    d.section("The flow of the stacked weights")
    d.say(r"With $\Sigma^{xx} = I$ the loss is $L = \tfrac12\operatorname{tr}\Sigma^{yy} - "
          r"\operatorname{tr}(\Sigma^{yx}W^\top) + \tfrac12\operatorname{tr}(WW^\top)$, "
          r"$W = W_2W_1$, and the flow is $\dot W_l = -\partial L/\partial W_l$ ($\tau = 1$, "
          r"$t = \mathrm{lr}\times\mathrm{steps}$). Stack $Q = [W_1^\top; W_2]$, "
          r"$(N_i + N_o)\times N_h$, and let $J = \operatorname{diag}(-I_{N_i}, I_{N_o})$, "
          r"$\Delta = W_2^\top W_2 - W_1W_1^\top - \lambda I$. For any weights,")
    d.show(r"\dot Q - \Big(FQ - \tfrac12 QQ^\top Q\Big)", r"\tfrac12\,J\,Q\,\Delta")
    d.say(r"so on $\lambda$-balanced weights ($\Delta = 0$, conserved: conservation page) "
          r"$\dot Q = FQ - \tfrac12 QQ^\top Q$. First with matrix symbols of arbitrary sizes, "
          r"blockwise, with the flow $\dot W_1 = W_2^\top(\Sigma^{yx} - W_2W_1)$, "
          r"$\dot W_2 = (\Sigma^{yx} - W_2W_1)W_1^\top$ (mode-ODE page, $\Sigma^{xx} = I$):")
    i, h, o = sp.symbols("N_i N_h N_o", integer=True, positive=True)
    W1 = sp.MatrixSymbol("W_1", h, i)
    W2 = sp.MatrixSymbol("W_2", o, h)
    Sig = sp.MatrixSymbol(r"\Sigma", o, i)
    Ih = sp.Identity(h)
    delta = W2.T * W2 - W1 * W1.T - lam * Ih
    err = Sig - W2 * W1
    dW1T = (W2.T * err).T
    dW2 = err * W1.T
    gram = W1 * W1.T + W2.T * W2  # QᵀQ
    top = -lam / 2 * W1.T + Sig.T * W2 - W1.T * gram / 2  # (FQ − ½QQᵀQ) input rows
    bottom = Sig * W1.T + lam / 2 * W2 - W2 * gram / 2
    d.check_cases(r"$\dot Q - (FQ - \frac12QQ^\top Q) = \frac12 JQ\Delta$, blockwise",
                  [(r"rows of $W_1^\top$", dW1T - top, -W1.T * delta / 2),
                   (r"rows of $W_2$", dW2 - bottom, W2 * delta / 2)],
                  reduce=_matrix_zero, how="`doit` and `expand` (matrix symbols)")

    d.say(r"Then entrywise from the loss itself, with explicit symbolic matrices "
          r"(rectangular, hidden layer narrower and wider than the input), $-\partial L/"
          r"\partial W$ by `sympy.diff`:")
    cases = []
    for n_in, n_hid, n_out in ((2, 1, 3), (2, 3, 2)):
        w1 = mx.general("a", n_hid, n_in)
        w2 = mx.general("b", n_out, n_hid)
        syx = mx.general("s", n_out, n_in)
        loss = mx.loss([w1, w2], sp.eye(n_in), syx, sp.zeros(n_out, n_out))
        g1 = w1.applyfunc(lambda x, loss=loss: -sp.diff(loss, x))
        g2 = w2.applyfunc(lambda x, loss=loss: -sp.diff(loss, x))
        Q = w1.T.col_join(w2)
        Qdot = g1.T.col_join(g2)
        F = _blocks_F(n_in, n_out, syx, lam)
        J = sp.diag(*([-1] * n_in + [1] * n_out))
        dl = w2.T * w2 - w1 * w1.T - lam * sp.eye(n_hid)
        cases.append((f"$(N_i, N_h, N_o) = ({n_in}, {n_hid}, {n_out})$",
                      Qdot - (F * Q - Q * Q.T * Q / 2), J * Q * dl / 2))
    d.check_cases(r"$\dot Q - (FQ - \frac12QQ^\top Q) = \frac12JQ\Delta$ from $-\partial L/"
                  r"\partial W$", cases, reduce=_expand, how="`expand`")

    d.say(r"**Isotropic input** $\Sigma^{xx} = cI$: the flow is $\dot W_1 = W_2^\top(\Sigma^{yx} "
          r"- cW_2W_1)$, $\dot W_2 = (\Sigma^{yx} - cW_2W_1)W_1^\top$, and the rescaled "
          r"weights $\tilde W = \sqrt c\,W$ obey the whitened flow with the same $\Sigma^{yx}$ "
          r"and imbalance $c\lambda$; so $P = \tilde Q\tilde Q^\top / c$ with $\tilde Q$ from "
          r"$F$ at $c\lambda$.")
    rc = sp.sqrt(c_in)
    d.check_cases(r"$\sqrt c\,\dot W = $ the whitened flow of $\sqrt c\,W$",
                  [(r"$W_1$", rc * W2.T * (Sig - c_in * W2 * W1),
                    (rc * W2).T * (Sig - (rc * W2) * (rc * W1))),
                   (r"$W_2$", rc * (Sig - c_in * W2 * W1) * W1.T,
                    (Sig - (rc * W2) * (rc * W1)) * (rc * W1).T)],
                  reduce=_matrix_zero, how="`doit` and `expand` (matrix symbols)")


# ------------------------------------------------------------------------------------ step 2
def _riccati(d: Derivation) -> None:
    d.section("The Riccati equation and its solution")
    n, h = sp.symbols("n N_h", integer=True, positive=True)
    Q = sp.MatrixSymbol("Q", n, h)
    F = sp.MatrixSymbol("F", n, n)  # symmetric: Fᵀ is written as F below
    Qdot = F * Q - Q * Q.T * Q / 2
    QdotT = Q.T * F - Q.T * Q * Q.T / 2
    P = Q * Q.T
    d.say(r"$F$ is symmetric. With $\dot Q = FQ - \frac12QQ^\top Q$, $P = QQ^\top$ obeys")
    d.check_equal(r"$\dot P = \dot QQ^\top + Q\dot Q^\top = FP + PF - P^2$",
                  Qdot * Q.T + Q * QdotT, F * P + P * F - Q * Q.T * Q * Q.T, reduce=_matrix_zero,
                  how="`doit` and `expand` (matrix symbols)", display=False)
    d.show(r"\dot P", r"FP + PF - P^2")
    d.say(r"Let $G(t) = e^{Ft}Q_0$ (so $\dot G = FG$) and $M(t) = I + Q_0^\top K(t)Q_0$ with "
          r"$K(t) = \int_0^t e^{2Fs}ds$ (so $\dot M = Q_0^\top e^{2Ft}Q_0 = G^\top G$, using "
          r"$F^\top = F$). $M \succeq I$ is invertible for all $t \ge 0$ because "
          r"$K(t) \succeq 0$. Then $P = GM^{-1}G^\top$ solves the Riccati equation, with "
          r"$P(0) = Q_0Q_0^\top$:")
    G = sp.MatrixSymbol("G", n, h)
    Minv = sp.MatrixSymbol("M^{-1}", h, h)
    Mdot = G.T * G
    Pm = G * Minv * G.T
    Pdot = F * G * Minv * G.T - G * Minv * Mdot * Minv * G.T + G * Minv * G.T * F
    d.check_equal(r"$\frac{d}{dt}(GM^{-1}G^\top) = \dot GM^{-1}G^\top - GM^{-1}\dot MM^{-1}"
                  r"G^\top + GM^{-1}\dot G^\top = FP + PF - P^2$",
                  Pdot, F * Pm + Pm * F - G * Minv * G.T * G * Minv * G.T, reduce=_matrix_zero,
                  how="`doit` and `expand` (matrix symbols)", display=False)
    d.show(r"P(t)", r"e^{Ft}Q_0\big[I + Q_0^\top K(t)Q_0\big]^{-1}Q_0^\top e^{Ft},\qquad "
           r"K(t) = \int_0^t e^{2Fs}\,ds")
    d.say(r"$P(t)$ depends on $Q_0$ only through $Q_0Q_0^\top$ (push-through: $Q_0(I + "
          r"Q_0^\top KQ_0)^{-1}Q_0^\top = P_0(I + KP_0)^{-1}$), so a trajectory can be continued "
          r"from any factor of its end state: the hidden layer's rotation $Q \to QR$ is "
          r"invisible to $P$ and to the flow.")


def _exp_F(F, om):
    """e^{Ft} for a 2×2 F with F² = ω²I: cosh(ωt) I + sinh(ωt)/ω F, written with C, S."""
    return C * sp.eye(2) + S / om * F


def _one_unit(d: Derivation) -> None:
    d.section("One unit per layer: the explicit solution")
    d.say(r"For $N_i = N_h = N_o = 1$, $F = \begin{bmatrix}-\lambda/2 & s\\ s & \lambda/2"
          r"\end{bmatrix}$ has $F^2 = \omega^2 I$, $\omega = \sqrt{s^2 + \lambda^2/4}$, so "
          r"$e^{Ft} = \cosh(\omega t)\,I + \frac{\sinh\omega t}{\omega}F$ and $K(t) = "
          r"\frac{\sinh 2\omega t}{2\omega}I + \frac{\cosh 2\omega t - 1}{2\omega^2}F$. With "
          r"$Q_0 = (a_0, b_0)^\top$, $\lambda = b_0^2 - a_0^2$, the solution is a $2\times2$ "
          r"matrix whose off-diagonal entry is the map $u = ab$:")
    F = sp.Matrix([[-lam / 2, s], [s, lam / 2]])
    d.check_equal(r"$F^2 = \omega^2 I$", (F * F).subs(lam, 2 * sp.sqrt(omega**2 - s**2)),
                  omega**2 * sp.eye(2), reduce=_expand, how="`expand`", display=False)
    Q0 = sp.Matrix([a0, b0])
    G = _exp_F(F, omega) * Q0
    # K(t) = sinh(2ωt)/(2ω) I + (cosh 2ωt − 1)/(2ω²) F with cosh 2ωt = 2C² − 1, sinh 2ωt = 2SC
    K = (2 * S * C) / (2 * omega) * sp.eye(2) + (2 * C**2 - 2) / (2 * omega**2) * F
    Mval = 1 + (Q0.T * K * Q0)[0, 0]
    u_num = G[1] * G[0]
    relations = [C**2 - S**2 - 1, omega**2 - s**2 - lam**2 / 4, lam - b0**2 + a0**2]

    def modulo(expr):
        _, rem = sp.reduced(sp.expand(expr * omega**4), relations, C, S, omega, lam, a0, b0, s,
                            order="lex")
        return sp.expand(rem)

    # The unbalanced page's explicit solution: u = A B / D_n (docs/theory/two_layer.md).
    A = C * a0 + S / omega * (s * b0 - lam * a0 / 2)
    B = C * b0 + S / omega * (s * a0 + lam * b0 / 2)
    Dn = 1 + (2 * S * C) / (2 * omega) * (a0**2 + b0**2) + (2 * C**2 - 2) / (2 * omega**2) * (
        2 * s * a0 * b0 + lam**2 / 2)
    d.check_cases(r"The Riccati solution equals the explicit solution of the unbalanced "
                  r"two-layer page, $G = (A, B)^\top$, $M = D_n$, so $P_{21} = AB/D_n$ "
                  r"($C = \cosh\omega t$, $S = \sinh\omega t$)",
                  [(r"$G_1 = A$", G[0], A), (r"$G_2 = B$", G[1], B), (r"$M = D_n$", Mval, Dn)],
                  reduce=modulo, how=r"`reduced` modulo $C^2 - S^2 = 1$, $\omega^2 = s^2 + "
                  r"\lambda^2/4$, $\lambda = b_0^2 - a_0^2$")
    d.say(r"So the Riccati solution contains the explicit aligned-mode solution (and, at "
          r"$\lambda = 0$, the logistic) as its one-unit case.")
    lam_of = b0**2 - a0**2
    om_of = sp.sqrt(s**2 + lam_of**2 / 4)
    subs = {C: sp.cosh(omega * T), S: sp.sinh(omega * T)}
    expr = (u_num / Mval).subs(subs).subs(lam, lam_of).subs(omega, om_of)
    d.result("map_one_unit", expr, (T, a0, b0, s), lhs="u(t) = P_{21}(t)",
             shown=r"\frac{G_2 G_1}{M}",
             text="the map of a 1-1-1 network from $(a_0, b_0)$, from the Riccati solution",
             code="`dln.riccati.two_layer_trajectory` (tests, mpmath)")


# ------------------------------------------------------------------------------------ step 3
def _eigenvectors(d: Derivation) -> None:
    d.section("The eigenvectors of F")
    d.say(r"Write $\Sigma^{yx} = \sum_\alpha s_\alpha u_\alpha v_\alpha^\top$. On the plane "
          r"spanned by $(v_\alpha, 0)$ and $(0, u_\alpha)$, $F$ acts as the $2\times2$ matrix "
          r"$\begin{bmatrix}-\lambda/2 & s\\ s & \lambda/2\end{bmatrix} = \omega\begin{bmatrix}"
          r"-\cos2\varphi & \sin2\varphi\\ \sin2\varphi & \cos2\varphi\end{bmatrix}$ with "
          r"$\omega = \sqrt{s^2 + \lambda^2/4}$, $\varphi = \tfrac12\operatorname{atan2}(s, "
          r"\lambda/2)$. Its eigenvectors are $e_+ = (\sin\varphi\,v, \cos\varphi\,u)$ with "
          r"eigenvalue $+\omega$ and $e_- = (\cos\varphi\,v, -\sin\varphi\,u)$ with $-\omega$:")
    Fm = omega * sp.Matrix([[-sp.cos(2 * phi), sp.sin(2 * phi)],
                            [sp.sin(2 * phi), sp.cos(2 * phi)]])
    ep = sp.Matrix([sp.sin(phi), sp.cos(phi)])
    em = sp.Matrix([sp.cos(phi), -sp.sin(phi)])

    def trig(m):
        return m.applyfunc(lambda e: sp.simplify(sp.expand_trig(e)))

    d.check_cases("Eigenpairs", [(r"$Fe_+ = \omega e_+$", Fm * ep, omega * ep),
                                 (r"$Fe_- = -\omega e_-$", Fm * em, -omega * em),
                                 (r"$e_+^\top e_- = 0$", ep.T * em, sp.zeros(1, 1))],
                  reduce=trig, how="`expand_trig` and `simplify`")
    d.say(r"Unmatched directions: if $N_i > N_o$, each $v_\perp$ in the null space of "
          r"$\Sigma^{yx}$ gives $F(v_\perp, 0) = -\frac\lambda2(v_\perp, 0)$; if $N_o > N_i$, "
          r"each $u_\perp$ with $\Sigma^{yx\top}u_\perp = 0$ gives $F(0, u_\perp) = "
          r"+\frac\lambda2(0, u_\perp)$. Together these $N_i + N_o$ vectors are an orthonormal "
          r"eigenbasis $O$ of $F$, built from the task's SVD without a numerical "
          r"eigensolver.")


# ------------------------------------------------------------------------------------ step 4
def _stable_form(d: Derivation) -> None:
    d.section("A stable form")
    d.say(r"In the eigenbasis, $\hat P = O^\top PO = ER(I + R^\top KR)^{-1}R^\top E$ with "
          r"$E = e^{\mu t}$, $K = \operatorname{diag}((e^{2\mu_it} - 1)/(2\mu_i))$ and $R = "
          r"O^\top Q_0$. Order the rows by decreasing $\mu$ and factor $R = LV^\top$ with "
          r"orthonormal $V$ and $L$ in column-echelon form: column $a$ starts at its pivot row "
          r"$p_a$ (Gram–Schmidt down the rows). For any positive diagonal $\Sigma$, "
          r"with $W = EL\Sigma^{-1}$:")
    d.show(r"\hat P", r"W\big(\Sigma^{-2} + \Sigma^{-1}L^\top KL\Sigma^{-1}\big)^{-1}W^\top")
    d.say(r"First, $V$ drops out: by the push-through identity $X(I + YX)^{-1} = "
          r"(I + XY)^{-1}X$ and $V^\top V = I$, $R(I + R^\top KR)^{-1}R^\top = "
          r"L\,V^\top(I + VL^\top KLV^\top)^{-1}V\,L^\top = L(I + L^\top KL)^{-1}L^\top$.")
    m_, k_ = sp.symbols("m k", integer=True, positive=True)
    X = sp.MatrixSymbol("X", m_, k_)
    Y = sp.MatrixSymbol("Y", k_, m_)
    d.check_equal(r"Push-through, multiplied out: $(I + XY)X = X(I + YX)$",
                  (sp.Identity(m_) + X * Y) * X, X * (sp.Identity(k_) + Y * X),
                  reduce=_matrix_zero, how="`doit` and `expand` (matrix symbols)", display=False)
    d.say(r"Then $\Sigma$ moves through the inverse, $EL(I + L^\top KL)^{-1}L^\top E = "
          r"EL\Sigma^{-1}\,\big(\Sigma^{-1}(I + L^\top KL)\Sigma^{-1}\big)^{-1}\Sigma^{-1}"
          r"L^\top E$; explicitly, for an echelon $L$ with $n = 3$ rows and 2 columns:")
    e1, e2, e3, k1, k2, k3, g1, g2 = sp.symbols("e_1 e_2 e_3 k_1 k_2 k_3 sigma_1 sigma_2",
                                                positive=True)
    l11, l21, l31, l22, l32 = sp.symbols("l_11 l_21 l_31 l_22 l_32", real=True)
    E = sp.diag(e1, e2, e3)
    K = sp.diag(k1, k2, k3)
    L = sp.Matrix([[l11, 0], [l21, l22], [l31, l32]])
    Sg = sp.diag(g1, g2)
    A = sp.eye(2) + L.T * K * L
    W = E * L * Sg.inv()
    Mid = Sg.inv() ** 2 + Sg.inv() * L.T * K * L * Sg.inv()
    # X⁻¹ = adj X / det X: cross-multiplied by the two (positive) determinants.
    lhs = E * L * A.adjugate() * L.T * E * sp.cancel(Mid.det())
    rhs = W * Mid.adjugate() * W.T * sp.cancel(A.det())
    d.check_equal(r"$EL(I + L^\top KL)^{-1}L^\top E = W(\Sigma^{-2} + \Sigma^{-1}L^\top KL"
                  r"\Sigma^{-1})^{-1}W^\top$ for symbolic diagonal $E$, $K$, $\Sigma$ and "
                  r"echelon $L$; both sides written with $X^{-1} = \operatorname{adj}X/\det X$ "
                  r"and multiplied by the two (positive) determinants", lhs, rhs,
                  reduce=lambda m: m.applyfunc(sp.cancel), how="`cancel`", display=False)
    d.say(r"The code takes $\Sigma_a = e^{\sigma_at}$, $\sigma_a = \max(\mu_{p_a}, 0)$. Then "
          r"$W_{ia} = L_{ia}e^{(\mu_i - \sigma_a)t}$ and, since $L_{ia} = 0$ above the pivot "
          r"and $\mu_i \le \mu_{p_a}$ below it, every exponent is $\le 0$. The middle matrix is "
          r"$\operatorname{diag}(e^{-2\sigma t}) + \hat W^\top\operatorname{diag}(q)\hat W$ "
          r"with $\hat W_{ia} = L_{ia}e^{(\mu_i^+ - \sigma_a)t}$, because")
    mu_, t_ = sp.symbols("mu t", positive=True)
    sa, sb = sp.symbols("sigma_a sigma_b", real=True)
    q = (1 - sp.exp(-2 * mu_ * t_)) / (2 * mu_)
    k_pos = (sp.exp(2 * mu_ * t_) - 1) / (2 * mu_)
    k_neg = (sp.exp(-2 * mu_ * t_) - 1) / (-2 * mu_)
    d.check_cases(r"$k_i e^{-(\sigma_a+\sigma_b)t} = e^{(2\mu_i^+ - \sigma_a - \sigma_b)t}q_i$ "
                  r"with $q_i = (1 - e^{-2|\mu_i|t})/(2|\mu_i|)$",
                  [(r"$\mu_i = \mu > 0$", k_pos * sp.exp(-(sa + sb) * t_),
                    sp.exp((2 * mu_ - sa - sb) * t_) * q),
                   (r"$\mu_i = -\mu < 0$", k_neg * sp.exp(-(sa + sb) * t_),
                    sp.exp(-(sa + sb) * t_) * q)],
                  reduce=lambda e: sp.simplify(sp.expand(e)), how="`expand` and `simplify`")
    d.say(r"and $q_i \in (0, t]$ ($q_i = t$ at $\mu_i = 0$) is bounded for every row. So no "
          r"quantity overflows at any $t$, and the middle matrix is bounded below by the "
          r"pivots: it stays well conditioned. $\hat P = \hat Q\hat Q^\top$ with "
          r"$\hat Q = WC^{-\top}$ ($C$ the Cholesky factor of the middle matrix) gives the "
          r"weights up to a rotation of the hidden layer.")


# ------------------------------------------------------------------------------------ step 5
def _fixed_points(d: Derivation) -> None:
    d.section("Convergence, representations and stalled modes")
    d.say(r"As $t\to\infty$ each growing direction ($\mu > 0$) that the echelon form reaches "
          r"fills to $2\mu$: $P = 2\mu\,ee^\top$ with $Fe = \mu e$, $|e| = 1$, is a fixed point, "
          r"$FP + PF - P^2 = 4\mu^2ee^\top - 4\mu^2ee^\top = 0$; the other directions decay. "
          r"For a mode, $e_+ = (\sin\varphi\,v, \cos\varphi\,u)$ and $2\omega e_+e_+^\top$ "
          r"has blocks")
    cases = [(r"$W_1^\top W_1$: $2\omega\sin^2\varphi$", 2 * omega * sp.sin(phi) ** 2,
              omega - omega * sp.cos(2 * phi)),
             (r"$W_2W_2^\top$: $2\omega\cos^2\varphi$", 2 * omega * sp.cos(phi) ** 2,
              omega + omega * sp.cos(2 * phi)),
             (r"$W_2W_1$: $2\omega\sin\varphi\cos\varphi$",
              2 * omega * sp.sin(phi) * sp.cos(phi), omega * sp.sin(2 * phi))]
    d.check_cases("Blocks of the fixed point", cases,
                  reduce=lambda e: sp.simplify(sp.expand_trig(e)),
                  how="`expand_trig` and `simplify`")
    d.say(r"and with $\omega\cos2\varphi = \lambda/2$, $\omega\sin2\varphi = s$, "
          r"$2\omega = \sqrt{\lambda^2 + 4s^2}$: the map converges to $s$ and")
    root = sp.sqrt(lam**2 + 4 * s**2)
    d.result("converged_input", (root - lam) / 2, (s, lam),
             lhs=r"\lim_{t\to\infty} v^\top W_1^\top W_1 v",
             text=r"input-side representation of a learned mode, times $v v^\top$ "
                  r"(theory page "
                  r"[two layers](../theory/two_layer.md#converged-representations-lazy-and-rich);"
                  r" $\lambda = 0$: $s$)",
             code="`dln.riccati.converged_representations`, `TwoLayerSolution.limit`")
    d.result("converged_output", (root + lam) / 2, (s, lam),
             lhs=r"\lim_{t\to\infty} u^\top W_2W_2^\top u",
             text=r"output-side representation of a learned mode, times $u u^\top$",
             code="`dln.riccati.converged_representations`, `TwoLayerSolution.limit`")
    d.check_cases("These are the fixed-point blocks", [
        ("input side", (root - lam) / 2, sp.sqrt(s**2 + lam**2 / 4) - lam / 2),
        ("output side", (root + lam) / 2, sp.sqrt(s**2 + lam**2 / 4) + lam / 2),
        ("product", (root - lam) / 2 * (root + lam) / 2, s**2)],
        reduce=lambda e: sp.simplify(sp.expand(e)), how="`expand` and `simplify`")
    d.say(r"They do not depend on the initial weights beyond $\lambda$: at $\lambda = 0$ "
          r"both sides converge to $S$ in the task's bases (Braun et al.: identical "
          r"representational similarity). For $|\lambda| \gg s$ the side that $\lambda$ "
          r"enlarges carries $\approx|\lambda|$ and the other $\approx s^2/|\lambda|$: the "
          r"neural tangent kernel is dominated by the static $|\lambda|$ part (lazy).")

    d.say(r"**Stalled modes.** A growing direction is reached unless the initial weights have "
          r"no component along it beyond those of faster directions (it is then not a pivot of "
          r"the echelon form). For an aligned mode at $\lambda = 0$, $(a, b) = (a, -a)$ "
          r"(initial sign opposed to $s > 0$) is orthogonal to $e_+ = (1, 1)/\sqrt2$: the mode "
          r"stays on the stable manifold of the saddle and decays, $u \to 0$ (the matrix $B$ of "
          r"Braun et al.'s SVD-basis form is then singular: theory page "
          r"[two layers](../theory/two_layer.md#stalled-modes)). For $\lambda \ne 0$ no "
          r"direction stalls: with "
          r"$J = \operatorname{diag}(-I, I)$ the weights have $Q^\top JQ = \lambda I$, while "
          r"on the non-growing eigenvectors")
    d.check_equal(r"$x^\top Jx$ on $e_-$", -sp.cos(phi) ** 2 + sp.sin(phi) ** 2,
                  -sp.cos(2 * phi), reduce=lambda e: sp.simplify(sp.expand_trig(e)),
                  how="`expand_trig` and `simplify`")
    d.say(r"$= -\lambda/(2\omega)$, and $-1$ on $(v_\perp, 0)$ (non-growing when "
          r"$\lambda > 0$), $+1$ on $(0, u_\perp)$ (non-growing when $\lambda < 0$); cross "
          r"terms vanish. So $x^\top Jx$ has the sign of $-\lambda$ on the whole non-growing "
          r"eigenspace, while $Q_0z$ has $z^\top Q_0^\top JQ_0z = \lambda|z|^2$: no $Q_0z \ne 0$ "
          r"lies in it, the growing rows of $R$ have full rank $N_h$, and every hidden "
          r"direction is learned. Stalls are a $\lambda = 0$ phenomenon.")


# ------------------------------------------------------------------------------------ step 6
def _ntk(d: Derivation) -> None:
    d.section("The neural tangent kernel")
    d.say(r"For $\hat y = W_2W_1x$, $\Theta(x, x')_{jk} = \sum_\theta \partial\hat y_j(x)/"
          r"\partial\theta\;\partial\hat y_k(x')/\partial\theta = \delta_{jk}\,x^\top W_1^\top "
          r"W_1x' + (W_2W_2^\top)_{jk}\,x^\top x'$, read off the diagonal blocks of $QQ^\top$ "
          r"(theory page "
          r"[two layers](../theory/two_layer.md#converged-representations-lazy-and-rich)). "
          r"Explicitly, for $(N_i, N_h, N_o) = (2, 2, 2)$:")
    w1, w2 = mx.general("a", 2, 2), mx.general("b", 2, 2)
    x, xp = mx.general("x", 2, 1), mx.general("y", 2, 1)
    f, fp = w2 * w1 * x, w2 * w1 * xp
    params = list(w1) + list(w2)
    jac = sp.Matrix(2, len(params), lambda j, p: sp.diff(f[j], params[p]))
    jacp = sp.Matrix(2, len(params), lambda j, p: sp.diff(fp[j], params[p]))
    theta = jac * jacp.T
    formula = (x.T * w1.T * w1 * xp)[0, 0] * sp.eye(2) + w2 * w2.T * (x.T * xp)[0, 0]
    d.check_equal(r"The Gram matrix of the Jacobians equals the block formula", theta, formula,
                  reduce=_expand, how="`expand`", display=False)
    d.say(r"`dln.regime.ntk` builds it on given inputs; `dln.regime.ntk_movement` measures how "
          r"far it moves during learning (lazy: little; rich: a lot).")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
