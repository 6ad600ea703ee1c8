"""Input deficits of one network: an input transform, the blur of an input-aligned task, the mode
law through blurred windows, the weight-decay threshold under blur, and the flip.

Achille, Rovere & Soatto (2019), arXiv:1711.08856 (blur and flip windows); docs/theory/
finite_plasticity.md; `dln.protocol.deficits` (`Blur`, `Flip`, `input_matrix`,
`transformed_task`) and `dln.theory.input_deficits.blurred_modes`. Steps:

1. `x → Mx` (rows of `X`: `X → XMᵀ`) gives `Σxx → MΣxxMᵀ`, `Σyx → ΣyxMᵀ`, `Σyy` unchanged
   (explicit symbolic data), and the flow on the transformed data is the flow with the
   transformed correlations (entrywise `diff` of the per-sample loss);
2. blur `B = V_kV_kᵀ + f(I − V_kV_kᵀ)` of an input-aligned task (`Σxx = VΛVᵀ + c(I − VVᵀ)`,
   `Σyx = USVᵀ`): the blurred task is `U diag(b s) Vᵀ`, `V diag(b²λ)Vᵀ + f²c(I − VVᵀ)` (a
   symbolic Householder `V`, 3 modes, and 2 modes plus a complement); overlapping windows multiply
   their factors; numerically against `transformed_task(task, input_matrix(Blur(…), task))`;
3. the mode law on a blurred piece, `du/dt = D u^{2−2/D}(bs − b²λu) − Dγu` (the weight-decay page's
   ODE with `s → bs`, `λ → b²λ`): rate `b^{2/D}κ`, target `s/(bλ)`; the solution through windows
   composes the per-piece solutions (flow property; exact for the depth-1 and depth-2 closed
   forms); `blurred_modes` against a composition of `dln.modes.trajectory` calls and against a
   30-digit Taylor integration (depth 2);
4. depth ≥ 3 with weight decay: the blurred threshold `u_−(bs, b²λ, γ)` exceeds the clean one for
   `b < 1` (`h_b − h = (1 − b)u^p((1 + b)λu − s) < 0` below the peak), `≈ (γ/(bs))^{D/(D−2)}`
   (two terms of its series); `d ln u/dt → −Dγ` as `u → 0` and `≥ −Dγ`, so a window of length `L`
   loses a mode only if `u(onset) < u_−^b` and `u(onset)e^{−DγL} < u_−`; against
   `dln.modes.weight_decay_threshold` and `blurred_modes`;
5. flip: `QΣxxQᵀ = Σxx` keeps `Σxx`, `Σyx → U S (QV)ᵀ`; a balanced aligned mode with
   `QV_α = −V_α` has layers `(−a, a, …, a)` in the seen task's basis, every `a_l²` decreases
   (`d(a²)/dt = −2a^D(s + λa^D) − 2γa²`) and the mode flows into the saddle at 0 (D ≥ 2); an
   imbalance lets one layer cross 0 instead.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation, VerificationError
from derivations._symbols import D, a, lam, s, t, u, u0
from derivations.weight_decay import REDUCED_ODE, gamma

NAME = "input_deficits"

b = sp.Symbol("b", positive=True)  # the blur factor of a mode (1 kept, f attenuated)
f = sp.Symbol("f", positive=True)  # Blur.factor
c = sp.Symbol("c", positive=True)  # input variance outside the modes' directions
eps = sp.Symbol("epsilon", positive=True)  # (γ/(bs))^{D/(D−2)}
v = sp.Symbol("v", positive=True)
tc = sp.Symbol("t_c", nonnegative=True)  # the time of a piece boundary

P = 1 - 2 / D
H = u**P * (s - lam * u)  # clean: fixed points of a deep mode solve h(u) = γ
H_B = H.subs({s: b * s, lam: b**2 * lam})  # blurred
BLURRED_ODE = REDUCED_ODE.subs({s: b * s, lam: b**2 * lam}, simultaneous=True)


def _expand_entries(m):
    return m.applyfunc(sp.expand)


def _numerators(m):
    """Entrywise numerator of the combined fraction, expanded (0 iff the entry is 0)."""
    return m.applyfunc(lambda e: sp.expand(sp.numer(sp.together(e))))


def _powsimp(e):
    return sp.simplify(sp.powsimp(sp.expand(e), force=True))


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Input deficits: blur and flip windows, mode by mode",
        sources="Achille, Rovere & Soatto (2019), arXiv:1711.08856 (blur and flip windows); "
                "theory page [finite plasticity](../theory/finite_plasticity.md#critical-"
                "periods-of-the-whole-network-blur-and-flip); the mode ODE with weight decay of "
                "the page `weight_decay`, the conserved imbalances of `conservation` and the "
                "saddle of `end_to_end` (section 7).",
        statement=r"An input transform $x \to Mx$ changes only the correlations, $\Sigma^{xx} \to "
                  r"M\Sigma^{xx}M^\top$, $\Sigma^{yx} \to \Sigma^{yx}M^\top$, and the flow on the "
                  r"transformed data is the flow with them. A blur $B = V_kV_k^\top + f(I - "
                  r"V_kV_k^\top)$ of an input-aligned task keeps its modes and their directions, "
                  r"with $s_\alpha \to b_\alpha s_\alpha$, $\lambda_\alpha \to b_\alpha^2"
                  r"\lambda_\alpha$ ($b_\alpha = 1$ for the $k$ strongest modes, $f$ for the "
                  r"others), so a balanced aligned mode obeys $\dot u = Du^{2-2/D}(bs - b^2"
                  r"\lambda u) - D\gamma u$ on a blurred piece and the exact solution through "
                  r"windows composes the per-piece solutions. At depth $D \ge 3$ with weight "
                  r"decay the blurred threshold exceeds the clean one, $\approx (\gamma/(bs))^{D/"
                  r"(D-2)}$; a mode below it decays at a rate approaching $D\gamma$ and is lost "
                  r"for good if it leaves the window below the clean threshold. A flip $Q$ with "
                  r"$Q\Sigma^{xx}Q^\top = \Sigma^{xx}$ keeps the singular values and output "
                  r"directions and maps the input directions to $QV$; a balanced aligned mode "
                  r"whose input direction is reversed flows into the saddle at $0$ (depth "
                  r"$\ge 2$) and is never relearned, while imbalanced layers cross it.")
    _transform(d)
    _blur(d)
    _modes(d)
    _threshold(d)
    _flip(d)
    return d


# ------------------------------------------------------------------------------------------ 1
def _transform(d: Derivation) -> None:
    d.section("An input transform changes only the correlations")
    d.say(r"Rows of the data are samples (page `mode_ode`): $\Sigma^{xx} = X^\top X/P$, "
          r"$\Sigma^{yx} = Y^\top X/P$. The transform $x_\mu \to Mx_\mu$ of every input replaces "
          r"$X$ by $XM^\top$, so")
    d.show(r"\Sigma^{xx\prime} = M\Sigma^{xx}M^\top,\qquad \Sigma^{yx\prime} = "
           r"\Sigma^{yx}M^\top,\qquad \Sigma^{yy\prime} = \Sigma^{yy}")
    n_samples, n_in, n_out = 3, 2, 2
    X, Y = mx.general("x", n_samples, n_in), mx.general("y", n_samples, n_out)
    M = mx.general("m", n_in, n_in)
    Xm = X * M.T
    sxx, syx = X.T * X / n_samples, Y.T * X / n_samples
    d.check_cases(f"Explicit symbolic data ($P = {n_samples}$, $N_i = {n_in}$, $N_o = {n_out}$) "
                  "and a general symbolic $M$",
                  [(r"$\Sigma^{xx}$", Xm.T * Xm / n_samples, M * sxx * M.T),
                   (r"$\Sigma^{yx}$", Y.T * Xm / n_samples, syx * M.T)],
                  reduce=_expand_entries, how="`expand`")
    d.say(r"The loss depends on the data only through the correlations (page `mode_ode`, "
          r"section 1), so gradient flow — and gradient descent — on the transformed data is "
          r"the flow with $(\Sigma^{xx\prime}, \Sigma^{yx\prime})$. Directly, for two layers:")
    n_samples = 2
    X, Y = mx.general("x", n_samples, n_in), mx.general("y", n_samples, n_out)
    Xm = X * M.T
    weights = [mx.general("W1", 2, n_in), mx.general("W2", n_out, 2)]
    net = weights[1] * weights[0]
    loss = sum(((Y[m, :].T - net * Xm[m, :].T).applyfunc(lambda e: e**2)[k]
                for m in range(n_samples) for k in range(n_out)), sp.S.Zero) / (2 * n_samples)
    formula = mx.flow(weights, M * (X.T * X / n_samples) * M.T, (Y.T * X / n_samples) * M.T,
                      sp.eye(n_in), lambda l: sp.eye(2))
    cases = [(f"$W_{l + 1}$", -weight.applyfunc(lambda e: sp.diff(loss, e)), formula[l])
             for l, weight in enumerate(weights)]
    d.check_cases(r"$-\partial L/\partial W_l$ of the per-sample loss on the data $(XM^\top, Y)$ "
                  r"($P = 2$, widths $(2, 2, 2)$, entrywise `diff`) equals the flow of page "
                  r"`mode_ode` with $(M\Sigma^{xx}M^\top, \Sigma^{yx}M^\top)$", cases,
                  reduce=_expand_entries, how="`expand`")
    d.say(r"So a window $[c, c + \ell)$ of an input deficit is three phases of plain training "
          r"(`Protocol.as_phases`): the task, the task seen through $M$ "
          r"(`dln.protocol.deficits.transformed_task(task, input_matrix(deficit, task))`), the "
          r"task; the weights are continuous at the phase boundaries.")


# ------------------------------------------------------------------------------------------ 2
def _householder():
    p, q, r = sp.symbols("p q r", real=True)
    vec = sp.Matrix([p, q, r])
    return sp.eye(3) - 2 * vec * vec.T / (vec.T * vec)[0]


def _blur_matrix(O, keep, factor):
    Vk = O[:, :keep]
    return Vk * Vk.T + factor * (sp.eye(O.shape[0]) - Vk * Vk.T)


def _blur(d: Derivation) -> None:
    d.section("Blur of an input-aligned task: the modes survive")
    d.say(r"An input-aligned task with $K$ modes has $\Sigma^{yx} = USV^\top$, $\Sigma^{xx} = "
          r"V\Lambda V^\top + c\,(I - VV^\top)$ ($S = \mathrm{diag}(s_\alpha)$, $\Lambda = "
          r"\mathrm{diag}(\lambda_\alpha)$, $V^\top V = I$; the complement term only when $N_i "
          r"> K$). `Blur(keep=k, factor=f)` multiplies the input by")
    d.show(r"B", r"V_kV_k^\top + f\,(I - V_kV_k^\top) = V\,\mathrm{diag}(b_\alpha)\,V^\top + "
                 r"f\,(I - VV^\top),\qquad b_\alpha = \begin{cases}1 & \alpha \le k\\ f & "
                 r"\alpha > k\end{cases}")
    d.say(r"($V_k$: the first $k$ columns of $V$, the input directions of the $k$ strongest "
          r"modes; `dln` counts modes from 0, so there $b_\alpha = 1$ for $\alpha < k$). Then, "
          r"since $B^\top = B$,")
    d.show(r"B\Sigma^{xx}B^\top", r"V\,\mathrm{diag}(b_\alpha^2\lambda_\alpha)\,V^\top + "
                                 r"f^2c\,(I - VV^\top),\qquad \Sigma^{yx}B^\top = U\,"
                                 r"\mathrm{diag}(b_\alpha s_\alpha)\,V^\top")
    O = _householder()
    s_m = sp.symbols("s_1:4", positive=True)
    lam_m = sp.symbols("lambda_1:4", positive=True)
    U = mx.general("U", 3, 3)
    cases = [(r"$O^\top O = I$", O.T * O, sp.eye(3))]
    for K, label in ((3, "3 modes"), (2, "2 modes and a complement direction")):
        V = O[:, :K]
        B = _blur_matrix(O, 1, f)
        bs = [1] + [f] * (K - 1)
        sxx = V * sp.diag(*lam_m[:K]) * V.T + c * (sp.eye(3) - V * V.T)
        syx = U[:, :K] * sp.diag(*s_m[:K]) * V.T
        cases += [(f"{label}, $\\Sigma^{{xx}}$", B * sxx * B.T,
                   V * sp.diag(*[bs[i] ** 2 * lam_m[i] for i in range(K)]) * V.T
                   + f**2 * c * (sp.eye(3) - V * V.T)),
                  (f"{label}, $\\Sigma^{{yx}}$", syx * B.T,
                   U[:, :K] * sp.diag(*[bs[i] * s_m[i] for i in range(K)]) * V.T)]
    d.check_cases(r"$N_i = 3$, $k = 1$, $V$ the first columns of the symbolic Householder "
                  r"reflection $O = I - 2pp^\top/p^\top p$, $p = (p_1, p_2, p_3)$ (orthogonal "
                  r"for every $p \ne 0$), general symbolic $U$, symbols $s_\alpha, \lambda_\alpha, "
                  r"f, c$", cases, reduce=_numerators,
                  how="`together` and `expand` of the numerator")
    d.say(r"So the blurred task is again input-aligned, with the same $U$ and $V$, singular "
          r"values $b_\alpha s_\alpha$ and input variances $b_\alpha^2\lambda_\alpha$. For "
          r"$f \le 1$ the order is kept ($s_1 \ge \dots \ge s_k \ge f s_{k+1} \ge \dots$), so "
          r"mode $\alpha$ of the blurred task is mode $\alpha$ of the task. Overlapping windows "
          r"commute and multiply their factors, since every $B$ is diagonal in the same basis:")
    f1, f2 = sp.symbols("f_1 f_2", positive=True)
    B1, B2 = _blur_matrix(O, 1, f1), _blur_matrix(O, 2, f2)
    d.check_cases(r"`keep` $= 1$, factor $f_1$ and `keep` $= 2$, factor $f_2$ (the same $O$)",
                  [(r"$B_1B_2 = B_2B_1$", B1 * B2, B2 * B1),
                   (r"$B_1B_2 = O\,\mathrm{diag}(1, f_1, f_1f_2)\,O^\top$", B1 * B2,
                    O * sp.diag(1, f1, f1 * f2) * O.T)],
                  reduce=_numerators, how="`together` and `expand` of the numerator")
    error = _dln_blur_error()
    d.check_numeric(r"`dln`: for a $4$-output, $5$-input input-aligned task (random orthonormal "
                    r"$U$, $V$, a complement direction, $s = (3, 2, 1.2, 0.5)$) and "
                    r"`Blur(keep=2, factor=0.3)`, `transformed_task(task, input_matrix(blur, "
                    r"task))` has $\Sigma^{xx}$, $\Sigma^{yx}$, singular values $bs$, input "
                    r"variances $b^2\lambda$ and mode matrices $U_\alpha V_\alpha^\top$ as "
                    r"derived, is input-aligned, and `blur_factors` is $b$", error, 1e-12,
                    how="float64 (`jax_enable_x64`), relative errors in the max norm")


def _x64():
    import jax

    return jax.enable_x64(True)


def _aligned_task(seed=7):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    V = np.linalg.qr(rng.standard_normal((5, 5)))[0][:, :4]
    s_v = np.array([3.0, 2.0, 1.2, 0.5])
    lam_v = np.array([1.5, 0.7, 2.0, 1.1])
    c_v = 0.8
    sxx = V @ np.diag(lam_v) @ V.T + c_v * (np.eye(5) - V @ V.T)
    return U, V, s_v, lam_v, c_v, sxx, U @ np.diag(s_v) @ V.T


def _rel(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.max(np.abs(x - y)) / np.max(np.abs(y)))


def _dln_blur_error() -> float:
    with _x64():
        import dln
        from dln.protocol.deficits import Blur, blur_factors, input_matrix, transformed_task

        U, V, s_v, lam_v, c_v, sxx, syx = _aligned_task()
        task = dln.Task(sxx, syx)
        blur = Blur(keep=2, factor=0.3)
        bf = np.array([1.0, 1.0, 0.3, 0.3])
        seen = transformed_task(task, input_matrix(blur, task))
        if seen.input_aligned is not True:
            raise VerificationError(f"{NAME}: the blurred task is not input-aligned in dln")
        modes_ref = [np.outer(U[:, k], V[:, k]) for k in range(4)]
        modes_dln = [np.outer(np.asarray(seen.U)[:, k], np.asarray(seen.V)[:, k])
                     for k in range(4)]
        return max(
            _rel(seen.sigma_xx, V @ np.diag(bf**2 * lam_v) @ V.T
                 + 0.09 * c_v * (np.eye(5) - V @ V.T)),
            _rel(seen.sigma_yx, U @ np.diag(bf * s_v) @ V.T),
            _rel(seen.s, bf * s_v), _rel(seen.input_variance, bf**2 * lam_v),
            max(_rel(x, y) for x, y in zip(modes_dln, modes_ref)),
            _rel(blur_factors(blur, task), bf))


# ------------------------------------------------------------------------------------------ 3
def _modes(d: Derivation) -> None:
    d.section("The mode law on a blurred piece, and the solution through windows")
    d.say(r"In the basis $(U, V)$ the blurred task is diagonal, so the aligned ansatz of pages "
          r"`mode_ode` and `weight_decay` applies with $s \to bs$, $\lambda \to b^2\lambda$. "
          r"Balanced aligned layers stay balanced and aligned (the imbalances are conserved, or "
          r"decay with weight decay), and $u = U_\alpha^\top WV_\alpha$ — the strength in the "
          r"task's *own* modes, which the blur does not move — obeys")
    d.result("blurred_ode", BLURRED_ODE, (u, s, lam, gamma, b, D), lhs=r"\dot u",
             text=r"mode ODE on a blurred piece (factor $b$, weight decay $\gamma$)",
             code="`dln.theory.input_deficits.blurred_modes` (each piece is "
                  "`dln.modes.trajectory(t, b*s, b**2*lam, u, D, weight_decay=gamma)`)")
    d.check_equal(r"It is $D u^{2-2/D}(bs - b^2\lambda u) - D\gamma u$ (the weight-decay ODE "
                  r"$\dot u = Du^{2-2/D}(s - \lambda u) - D\gamma u$ at $s \to bs$, $\lambda \to "
                  r"b^2\lambda$)", BLURRED_ODE,
                  D * u ** (2 - 2 / D) * (b * s - b**2 * lam * u) - D * gamma * u,
                  reduce=sp.expand, how="`expand`", display=False)
    kappa = D * s ** (2 - 2 / D) * lam ** (2 / D - 1)
    kappa_b = kappa.subs({s: b * s, lam: b**2 * lam}, simultaneous=True)
    d.check_equal(r"The rate $\kappa = Ds^{2-2/D}\lambda^{2/D-1}$ (page `mode_ode`) becomes "
                  r"$b^{2/D}\kappa$", kappa_b, b ** (2 / D) * kappa, reduce=_powsimp,
                  how="`expand`, `powsimp` and `simplify`", display=False)
    d.result("blurred_rate", b ** (2 / D) * kappa, (s, lam, b, D), lhs=r"\kappa_b",
             text=r"rate of a blurred mode, $b^{2/D}\kappa$",
             code="`dln.modes.rate(b*s, b**2*lam, D)`")
    d.check_zero(r"Without weight decay the blurred target is $bs/(b^2\lambda) = s/(b\lambda)$: "
                 r"the right side vanishes there", BLURRED_ODE.subs(gamma, 0).subs(
                     u, s / (b * lam)), reduce=_powsimp, how="`expand`, `powsimp` and "
                 "`simplify`", display=False)
    d.result("blurred_target", s / (b * lam), (s, lam, b), lhs=r"u_\infty^{(b)}",
             text=r"target of a blurred mode without weight decay, $s/(b\lambda)$ (above "
                  r"$s/\lambda$ for $b < 1$: the map compensates the attenuated input)",
             code="`dln.modes.weight_decay_target(b*s, b**2*lam, 0, D)`")
    d.say(r"A blurred mode is driven more weakly ($bs$) and, without weight decay, heads for the "
          r"larger strength $s/(b\lambda)$; it returns to $s/\lambda$ after the window. "
          r"**Through windows.** The mode ODE is autonomous with coefficients constant on each "
          r"piece between window edges. Its solution from $u_0$ is a flow, $\Phi_{t}(\Phi_{t'}"
          r"(u_0)) = \Phi_{t+t'}(u_0)$, and by uniqueness the solution with piecewise-constant "
          r"coefficients is the composition: for one edge at $t_c$,")
    d.show(r"u(t)", r"\Phi^{(2)}_{t - t_c}\big(\Phi^{(1)}_{t_c}(u_0)\big)\quad(t \ge t_c)")
    d.say(r"For the closed forms of page `weight_decay` (its results `trajectory_depth1`, "
          r"$u_0e^{-(\lambda+\gamma)t} + s(1 - e^{-(\lambda+\gamma)t})/(\lambda+\gamma)$, and "
          r"`trajectory_depth2`, $u_0/\big(e^{-2rt} + \lambda u_0(1 - e^{-2rt})/r\big)$, "
          r"$r = s - \gamma$) the flow property is exact:")
    cases = []
    for depth in (1, 2):
        fn = _closed_form(depth)
        comp = fn(t, fn(tc, u0))
        if depth == 2:  # compare 1/u, affine in 1/u0
            cases.append((f"$D = {depth}$ (as $1/u$)", 1 / comp, 1 / fn(t + tc, u0)))
        else:
            cases.append((f"$D = {depth}$", comp, fn(t + tc, u0)))
    d.check_cases(r"$\Phi_t(\Phi_{t_c}(u_0)) = \Phi_{t+t_c}(u_0)$ for the weight-decay "
                  r"trajectories of depth 1 and 2", cases, reduce=lambda e: sp.expand(
                      sp.numer(sp.together(sp.expand(e)))),
                  how="`expand`, then `together` and `expand` of the numerator")
    cases = []
    for depth in (1, 2):
        fn = _closed_form(depth)
        blurred = sp.Lambda((t, u0), fn(t, u0).subs({s: b * s, lam: b**2 * lam},
                                                    simultaneous=True))
        comp = blurred(t - tc, fn(tc, u0))  # clean until t_c, then blurred
        clean = fn(t, u0)
        if depth == 1:
            cases += [("$D = 1$, clean piece: ODE residual", sp.diff(clean, t)
                       - REDUCED_ODE.subs(D, 1).subs(u, clean), sp.S.Zero),
                      ("$D = 1$, blurred piece: ODE residual", sp.diff(comp, t)
                       - BLURRED_ODE.subs(D, 1).subs(u, comp), sp.S.Zero),
                      ("$D = 1$, continuity at $t_c$", comp.subs(t, tc), fn(tc, u0))]
        else:  # u' = 2u(bs − γ − b²λu)  ⇔  (1/u)' = −2(bs − γ)/u + 2b²λ
            cases += [("$D = 2$, clean piece: $(1/u)' = -2(s-\\gamma)/u + 2\\lambda$",
                       sp.diff(1 / clean, t), -2 * (s - gamma) / clean + 2 * lam),
                      ("$D = 2$, blurred piece: $(1/u)' = -2(bs-\\gamma)/u + 2b^2\\lambda$",
                       sp.diff(1 / comp, t), -2 * (b * s - gamma) / comp + 2 * b**2 * lam),
                      ("$D = 2$, continuity at $t_c$ (of $1/u$)", 1 / comp.subs(t, tc),
                       1 / fn(tc, u0))]
    d.check_cases(r"Each closed form solves its ODE (clean: $s, \lambda$; blurred: $bs, "
                  r"b^2\lambda$), and the composition (clean until $t_c$, blurred after) is "
                  r"continuous at $t_c$", cases)
    errors = _dln_composition_errors()
    d.check_numeric(r"`dln.theory.input_deficits.blurred_modes` equals a direct composition of "
                    r"`dln.modes.trajectory` calls, one per piece between window edges (task of "
                    r"section 2, two overlapping windows `Blur(0.7, 1.5, keep=2, factor=0.3)` "
                    r"and `Blur(1.2, 2.0, keep=1, factor=0.5)`, depth 2 with $\gamma = 0.05$ "
                    r"and depth 3 with $\gamma = 0$, 32 times before, in and after the "
                    r"windows)", errors["composition"], 1e-12,
                    how="float64, relative to each value")
    d.check_numeric(r"`blurred_modes` at depth 2 with $\gamma = 0.05$ (the same run) equals "
                    r"the mode ODE integrated through the two windows (one blurred mode and one "
                    r"time after the windows, both drawn with a fixed seed)", errors["mpmath"],
                    1e-12,
                    how="mpmath's Taylor method (`odefun`) at 30 digits, tolerance $10^{-28}$, "
                        "restarted at each window edge")


def _closed_form(depth):
    """Page `weight_decay`'s `trajectory_depth1` / `trajectory_depth2` (the same expressions)."""
    if depth == 1:
        k = lam + gamma
        expr = u0 * sp.exp(-k * t) + s * (1 - sp.exp(-k * t)) / k
    else:
        rr = s - gamma
        expr = u0 / (sp.exp(-2 * rr * t) + lam * u0 * (1 - sp.exp(-2 * rr * t)) / rr)
    return sp.Lambda((t, u0), expr)


def _compose(traj, t_v, s_v, lam_v, u0_v, depth, gamma_v, windows, factors):
    """Reference: the pieces between window edges chained by hand, one `trajectory` call per
    piece: clean coefficients times the product of the factors (per mode) of the windows
    active on the piece, started where the last piece ended. Returns `(T, K)`."""
    edges = sorted({0.0, *(x for on, ln in windows for x in (on, on + ln))})
    out = np.full((len(t_v), len(s_v)), np.nan)
    u_start = np.asarray(u0_v, float)
    for lo, hi in zip(edges, [*edges[1:], math.inf]):
        factor = np.ones_like(s_v)
        for (on, ln), fb in zip(windows, factors):
            if on <= lo < on + ln:
                factor = factor * fb
        inside = (t_v >= lo) & (t_v < hi)
        # every time and the piece's end in one call of one shape (one compilation)
        since = np.append(np.clip(t_v - lo, 0.0, hi - lo), hi - lo if hi < math.inf else 0.0)
        u_piece = np.asarray(traj(since[:, None], factor * s_v, factor**2 * lam_v, u_start,
                                  depth, weight_decay=gamma_v))
        out[inside] = u_piece[:-1][inside]
        u_start = u_piece[-1]
    return out


def _dln_composition_errors() -> dict:
    with _x64():
        import dln
        from dln.protocol.deficits import Blur, blur_factors
        from dln.theory import modes
        from dln.theory.input_deficits import blurred_modes

        *_, sxx, syx = _aligned_task()
        task = dln.Task(sxx, syx)
        s_v, lam_v = np.asarray(task.s), np.asarray(task.input_variance)
        u0_v = 1e-3 * s_v / lam_v
        rng = np.random.default_rng(11)
        t_rand = rng.uniform(3.2, 6.0)  # after both windows
        t_v = np.concatenate([np.linspace(0.0, 12.0, 25),
                              [0.7, 2.2, 1.2, 3.2, 40.0, 200.0, t_rand]])
        windows = [(0.7, 1.5, 2, 0.3), (1.2, 2.0, 1, 0.5)]
        blurs = [Blur(onset=on, length=ln, keep=k, factor=fa) for on, ln, k, fa in windows]
        factors = [np.asarray(blur_factors(bl, task)) for bl in blurs]
        error, got = 0.0, {}
        for depth, g in ((2, 0.05), (3, 0.0)):
            got[depth] = np.asarray(blurred_modes(task, depth, u0_v, t_v, blurs,
                                                  weight_decay=g))
            ref = _compose(modes.trajectory, t_v, s_v, lam_v, u0_v, depth, g,
                           [w[:2] for w in windows], factors)
            error = max(error, float(np.max(np.abs(got[depth] - ref) / np.abs(ref))))
    # one mode (seeded at random among the blurred ones) at the random time, depth 2, γ = 0.05
    k = int(rng.integers(1, 4))
    with mpmath.workdps(30):
        mp = mpmath.mpf
        u_now, gg = mp(float(u0_v[k])), mp(0.05)
        edges = [0.0, 0.7, 1.2, 2.2, 3.2, float(t_rand)]
        for lo, hi in zip(edges[:-1], edges[1:]):
            fb = mp(1)
            for (on, ln, _, _), fac in zip(windows, factors):
                if on <= lo < on + ln:
                    fb *= mp(float(fac[k]))
            bs, bl = fb * mp(float(s_v[k])), fb**2 * mp(float(lam_v[k]))
            sol = mpmath.odefun(lambda _, y, bs=bs, bl=bl: 2 * y * (bs - bl * y - gg), 0, u_now,
                                tol=mp(10) ** -28)
            u_now = sol(mp(hi) - mp(lo))
        mp_error = float(abs(mp(float(got[2][-1, k])) - u_now) / u_now)
    return {"composition": error, "mpmath": mp_error}


# ------------------------------------------------------------------------------------------ 4
def _threshold(d: Derivation) -> None:
    d.section("Weight decay at depth $D \\ge 3$: a blurred mode's threshold is higher")
    d.say(r"Page `weight_decay`, section 6: with $p = 1 - 2/D$ and $h(u) = u^p(s - \lambda u)$ "
          r"the ODE is $\dot u = Du(h(u) - \gamma)$; the smaller root $u_-$ of $h = \gamma$ is "
          r"the threshold (below it a mode decays to 0), $h$ rises on $(0, u_m)$, $u_m = "
          r"\frac{p}{1+p}\frac{s}{\lambda}$. Blurred, $h_b(u) = u^p(bs - b^2\lambda u)$, and")
    d.check_equal(r"$h_b(u) - h(u) = (1 - b)\,u^p\,\big((1 + b)\lambda u - s\big)$", H_B - H,
                  (1 - b) * u**P * ((1 + b) * lam * u - s), reduce=_powsimp,
                  how="`expand`, `powsimp` and `simplify`")
    d.check_equal(r"$u_m = \frac{D-2}{2D-2}\frac{s}{\lambda}$ is below $\frac{s}{(1+b)\lambda}$ "
                  r"for $b \le 1$: $\frac{1}{1+b} - \frac{D-2}{2D-2} = \frac{(1-b)(D-2) + 2}"
                  r"{(1+b)(2D-2)}$", 1 / (1 + b) - (D - 2) / (2 * D - 2),
                  ((1 - b) * (D - 2) + 2) / ((1 + b) * (2 * D - 2)), display=False)
    d.say(r"So for $b < 1$, $h_b < h \le \gamma$ on $(0, u_-]$ ($u_- < u_m$ and $h$ rises "
          r"there): $h_b = \gamma$ has no root up to $u_-$, and the blurred threshold is larger,")
    d.show(r"u_-^{(b)} = u_-(bs, b^2\lambda, \gamma) > u_-(s, \lambda, \gamma)", rel="")
    d.say(r"(or $\infty$ when $\gamma$ exceeds the blurred maximum $\max h_b$: then every mode "
          r"decays during the window). For small $\gamma$ put $\varepsilon = (\gamma/(bs))^{1/p}"
          r" = (\gamma/(bs))^{D/(D-2)}$ and $u = \varepsilon v$; $h_b(u) = \gamma$ becomes "
          r"$v^p - (b\lambda/s)\,\varepsilon\,v^{1+p} = 1$, so $v = 1 + \frac{b\lambda}{ps}"
          r"\varepsilon + O(\varepsilon^2)$:")
    cases = []
    for depth in (3, 4, 5):
        p = 1 - sp.Rational(2, depth)
        vv = 1 + b * lam * eps / (p * s)
        resid = vv**p - b * lam / s * eps * vv ** (1 + p) - 1
        series = sp.series(resid, eps, 0, 2).removeO()
        cases.append((f"$D = {depth}$", series, sp.S.Zero))
        eq = (H_B.subs(D, depth).subs(u, eps * v) / gamma).subs(
            gamma, b * s * eps**p)
        cases.append((f"$D = {depth}$, the equation in $v$",
                      sp.powsimp(sp.expand(eq), force=True),
                      v**p - b * lam / s * eps * v ** (1 + p)))
    d.check_cases(r"$h_b(\varepsilon v)/\gamma = v^p - (b\lambda/s)\varepsilon v^{1+p}$ at "
                  r"$\gamma = bs\varepsilon^p$, and the two-term $v$ leaves a residual "
                  r"$O(\varepsilon^2)$ (`series` in $\varepsilon$ to order 2)", cases,
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`")
    e_expr = (gamma / (b * s)) ** (D / (D - 2))
    d.result("blurred_threshold_series", e_expr * (1 + b * lam * e_expr * D / ((D - 2) * s)),
             (s, lam, gamma, b, D), lhs=r"u_-^{(b)}",
             shown=r"\varepsilon\Big(1 + \frac{D}{D-2}\frac{b\lambda}{s}\varepsilon + "
                   r"O(\varepsilon^2)\Big),\qquad \varepsilon = \Big(\frac{\gamma}{bs}"
                   r"\Big)^{D/(D-2)}",
             text=r"threshold of a blurred mode for small $\gamma$ (two terms), about "
                  r"$b^{-D/(D-2)}$ times the clean one",
             code="`dln.modes.weight_decay_threshold(b*s, b**2*lam, gamma, D)`")
    d.say(r"**Decay below the threshold.** In $y = \ln u$, $\dot y = D(h_b(e^y) - \gamma)$. "
          r"Since $h_b \ge 0$ for $u \le s/(b\lambda)$, $\dot y \ge -D\gamma$ there, and "
          r"$\dot y \to -D\gamma$ as $u \to 0$:")
    y = sp.Symbol("y", real=True)
    cases = [(f"$D = {depth}$", sp.limit((D * (H_B - gamma)).subs(D, depth).subs(u, sp.exp(y)),
                                         y, -sp.oo), -depth * gamma)
             for depth in (3, 4, 5)]
    d.check_cases(r"$D(h_b(e^y) - \gamma) \to -D\gamma$ as $y \to -\infty$ (`limit`)", cases)
    d.say(r"So during a window $[c, c + \ell)$ a mode below $u_-^{(b)}$ decays, never faster "
          r"than $e^{-D\gamma t}$; one above $u_-^{(b)}$ cannot fall below it (an unstable fixed "
          r"point). After the window the clean flow applies: the mode is lost for good exactly "
          r"when it leaves the window below $u_-$. Hence a window loses a mode (below "
          r"$s/\lambda$) only if")
    d.show(r"u(c) < u_-^{(b)}\quad\text{and}\quad u(c)\,e^{-D\gamma\ell} \le u(c + \ell) < u_-, "
           r"\quad\text{so}\quad \ell > \ell_* = \frac{\ln(u(c)/u_-)}{D\gamma}", rel="")
    uc, um = sp.Symbol("u_c", positive=True), sp.Symbol("u_-", positive=True)
    d.result("survival_length", sp.log(uc / um) / (D * gamma), (uc, um, gamma, D),
             lhs=r"\ell_*",
             text=r"a window shorter than this cannot lose a mode of strength $u_c$ at its "
                  r"onset ($u_-$ the clean threshold)",
             code="section 4 (a bound; the depth-3 example there)")
    d.say(r"An early window catches a weak mode while it is small, below the raised threshold; "
          r"a late window, after the mode is learned ($u$ near $u_+ > u_-^{(b)}$), does no "
          r"lasting damage.")
    err_thr, err_phen = _dln_threshold_errors()
    d.check_numeric(r"`dln.modes.weight_decay_threshold(b*s, b**2*lam, gamma, D)` is the smaller "
                    r"root of $h_b = \gamma$, larger than the clean threshold, and for small "
                    r"$\gamma$ within $3\varepsilon^3$ (plus rounding) of the two-term series "
                    r"($D = 3, 4, 5$, $s = 1.3$, $\lambda = 0.8$, $b \in \{0.3, 0.7\}$, "
                    r"$\gamma \in \{10^{-4}, 10^{-3}, 10^{-2}, 0.1\}$)", err_thr, 1e-12,
                    how="Roots by bisection and Newton (`findroot`) at 30 digits")
    d.check_numeric(r"The mode law composed through the windows (`dln.modes.trajectory` "
                    r"piece by piece, as `blurred_modes` does; $D = 3$, $s = \lambda = 1$, "
                    r"$\gamma = 0.05$, "
                    r"$b = 0.3$, $u_0 = 3u_-$): without a window, and with a window "
                    r"$[40, 60)$ after the mode is learned, the mode ends at the target "
                    r"$u_+$ (`weight_decay_target`); with the window $[0, 20)$ it starts below "
                    r"$u_-^{(b)}$, decays no faster than $e^{-D\gamma t}$, leaves the window "
                    r"below $u_-$ and ends at 0 (its final value relative to $u_+$)", err_phen,
                    1e-6, how="float64, at $t = 400$")


def _mp_threshold(sv, lv, gv, bv, depth):
    """The smaller root of u^p (b s − b² λ u) = γ at 30 digits (bisection, then `findroot`)."""
    with mpmath.workdps(30):
        sv, lv, gv, bv = (mpmath.mpf(float(x)) for x in (sv, lv, gv, bv))
        p = 1 - mpmath.mpf(2) / depth
        def hb(x):
            return x**p * (bv * sv - bv**2 * lv * x) - gv
        lo, hi = mpmath.mpf(0), p / (1 + p) * sv / (bv * lv)
        if hb(hi) < 0:
            return mpmath.inf
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if hb(mid) < 0 else (lo, mid)
        return mpmath.findroot(hb, (lo + hi) / 2)


def _dln_threshold_errors():
    with _x64():
        import jax

        from dln.theory import modes

        err = 0.0
        sv, lv = 1.3, 0.8
        bv, gv = (np.array(g, float).ravel() for g in np.meshgrid([0.3, 0.7],
                                                                  [1e-4, 1e-3, 1e-2, 0.1]))
        for depth in (3, 4, 5):
            got = np.asarray(modes.weight_decay_threshold(bv * sv, bv**2 * lv, gv, depth))
            clean = np.asarray(modes.weight_decay_threshold(np.full_like(gv, sv), lv, gv, depth))
            for gi, bi, ui, ci in zip(gv, bv, got, clean):
                ref = _mp_threshold(sv, lv, gi, bi, depth)
                if ref == mpmath.inf:
                    err = max(err, 0.0 if math.isinf(ui) else math.inf)
                    continue
                err = max(err, float(abs(mpmath.mpf(float(ui)) - ref) / ref))
                if not ui > ci:
                    raise VerificationError(f"{NAME}: blurred threshold {ui} <= clean {ci}")
                e = (gi / (bi * sv)) ** (depth / (depth - 2))
                series = e * (1 + bi * lv * e * depth / ((depth - 2) * sv))
                if e < 1e-2 and abs(series - ui) > 3 * e**3 + 1e-14 * e:
                    raise VerificationError(f"{NAME}: threshold series off by "
                                            f"{abs(series - ui):.3e} at eps = {e:.3e}")
        # the phenomenon at depth 3: three copies of one mode (no window, [0, 20), [40, 60))
        depth, gw, fv = 3, 0.05, 0.3
        u_minus = float(modes.weight_decay_threshold(1.0, 1.0, gw, depth))
        u_minus_b = float(modes.weight_decay_threshold(fv, fv**2, gw, depth))
        u_plus = float(modes.weight_decay_target(1.0, 1.0, gw, depth))
        traj = jax.jit(modes.trajectory, static_argnums=4)
        ones = np.ones(3)
        u = _compose(traj, np.array([0.0, 20.0, 60.0, 400.0]), ones, ones, 3 * u_minus * ones,
                     depth, gw, [(0.0, 20.0), (40.0, 20.0)],
                     [np.array([1.0, fv, 1.0]), np.array([1.0, 1.0, fv])])
        clean, early, late = u.T
        if not (u_minus < early[0] < u_minus_b
                and early[0] * math.exp(-depth * gw * 20.0) <= early[1] < u_minus):
            raise VerificationError(f"{NAME}: early window: u0 = {early[0]}, window end "
                                    f"{early[1]}, u_- = {u_minus}, u_-^b = {u_minus_b}")
        err_phen = max(abs(clean[3] - u_plus) / u_plus, abs(late[3] - u_plus) / u_plus,
                       early[3] / u_plus)
    return err, float(err_phen)


# ------------------------------------------------------------------------------------------ 5
def _flip(d: Derivation) -> None:
    d.section("Flip: the same statistics, reversed input directions, and the stall")
    d.say(r"For $Q$ orthogonal with $Q\Sigma^{xx}Q^\top = \Sigma^{xx}$ (so $Q\Sigma^{xx} = "
          r"\Sigma^{xx}Q$), section 1 gives $\Sigma^{xx\prime} = \Sigma^{xx}$ and "
          r"$\Sigma^{yx\prime} = USV^\top Q^\top = US(QV)^\top$: the same singular values and "
          r"output directions, input directions $QV$ (orthonormal), and $\Sigma^{xx}(QV) = "
          r"Q\Sigma^{xx}V = (QV)\Lambda$, so the seen task is input-aligned with the same "
          r"$\lambda_\alpha$. For the default flip (the reversal $J$ of the input coordinates) "
          r"and a $\Sigma^{xx}$ it keeps:")
    J = sp.Matrix([[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    x1, x2, x3, x4 = sp.symbols("sigma_1 sigma_2 sigma_3 sigma_4", real=True)
    sxx = sp.Matrix([[x1, x2, x3], [x2, x4, x2], [x3, x2, x1]])
    Um, Vm = mx.general("U", 2, 2), mx.general("V", 3, 2)
    Sm = sp.diag(*sp.symbols("s_1:3", positive=True))
    d.check_cases(r"$J$, a centrosymmetric symbolic $\Sigma^{xx}$, general symbolic $U$, $S$, "
                  r"$V$",
                  [(r"$J^\top J = I$", J.T * J, sp.eye(3)),
                   (r"$J\Sigma^{xx}J^\top = \Sigma^{xx}$", J * sxx * J.T, sxx),
                   (r"$(USV^\top)J^\top = US(JV)^\top$", Um * Sm * Vm.T * J.T,
                    Um * Sm * (J * Vm).T)], reduce=_expand_entries, how="`expand`")
    d.say(r"A balanced aligned network stays aligned only if $V^\top QV$ is diagonal, i.e. "
          r"$QV_\alpha = \pm V_\alpha$ for every mode; otherwise the modes couple and `dln` "
          r"chains the flow through the three phases. Modes with $QV_\alpha = V_\alpha$ are "
          r"untouched. A mode with $QV_\alpha = -V_\alpha$ is reversed: in the seen task's basis "
          r"$(U_\alpha, QV_\alpha)$ with target $s > 0$ its first layer is $a_1 = -a$ and the "
          r"others $a_l = a > 0$ (equivalently, target $-s$ in the old basis). The imbalances "
          r"$a_{l+1}^2 - a_l^2 = 0$ are conserved (page `conservation`; with weight decay they "
          r"decay from 0, page `weight_decay`), so all $|a_l|$ stay equal, and along this "
          r"balanced, reversed manifold")
    cases = []
    for depth in (2, 3, 4, 5):
        layers = [-a] + [a] * (depth - 1)
        flows = mx.flow([sp.Matrix([[x]]) for x in layers], sp.Matrix([[lam]]),
                        sp.Matrix([[s]]), sp.eye(1), lambda l: sp.eye(1))
        for l, x in enumerate(layers):
            velocity = flows[l][0, 0] - gamma * x
            cases.append((f"$D = {depth}$, $l = {l + 1}$", 2 * x * velocity,
                          -2 * a**depth * (s + lam * a**depth) - 2 * gamma * a**2))
    d.check_cases(r"$\frac{d}{dt}a_l^2 = 2a_l\dot a_l = -2a^D(s + \lambda a^D) - 2\gamma a^2$ "
                  r"for every layer ($1\times1$ layers $(-a, a, \dots, a)$ in the flow of page "
                  r"`mode_ode`, weight decay $-\gamma a_l$)", cases, reduce=sp.expand,
                  how="`expand`")
    d.result("reversed_layer_rate", -2 * a**D * (s + lam * a**D) - 2 * gamma * a**2,
             (a, s, lam, gamma, D), lhs=r"\frac{d}{dt}a^2",
             text=r"a balanced aligned mode with reversed input direction: every layer shrinks",
             code="symbolic (the stall of `dln`'s chained flip phases from balanced aligned "
                  "weights)")
    d.say(r"Every $a_l^2$ decreases, so the mode strength $u = a_1\cdots a_D = -a^D$ rises to $0$ "
          r"from below and stops there: $\dot u = D|u|^{2-2/D}(s - \lambda u) - D\gamma u$ "
          r"vanishes at $u = 0$ and is Lipschitz for $D \ge 2$ (page `end_to_end`, section 7), "
          r"so the mode cannot cross $0$ and is never relearned: it is on the stable manifold "
          r"of the saddle $W = 0$. At $D = 2$ without weight decay it is the reversal of page "
          r"`end_to_end`; at $D = 1$ there is no saddle ($\dot u = s - (\lambda + \gamma)u$ "
          r"crosses $0$). The stall needs exact balance: with an imbalance (random initial "
          r"weights) the layers never vanish together, and a layer that reaches $0$ crosses it "
          r"with speed $\prod_{k\ne l}a_k\,s \ne 0$, flipping the sign of $u$:")
    cases = []
    for depth in (2, 3, 4):
        amps = sp.symbols(f"a_1:{depth + 1}", real=True)
        flows = mx.flow([sp.Matrix([[x]]) for x in amps], sp.Matrix([[lam]]), sp.Matrix([[s]]),
                        sp.eye(1), lambda l: sp.eye(1))
        cases.append((f"$D = {depth}$", flows[0][0, 0].subs(amps[0], 0),
                      sp.Mul(*amps[1:]) * s))
    d.check_cases(r"$\dot a_1 = a_2\cdots a_D\,s$ at $a_1 = 0$", cases, reduce=sp.expand,
                  how="`expand`")
    d.say(r"With weight decay the imbalance itself decays like $e^{-2\gamma t}$, so a "
          r"nearly balanced network can still be caught; whether it escapes then depends on "
          r"the sizes, and is not derived here.")
    error = _dln_flip_error()
    d.check_numeric(r"`dln`: for a whitened task with input directions $V_1 = (1, 0, 1)/\sqrt2$, "
                    r"$V_2 = (1, 0, -1)/\sqrt2$, $V_3 = (0, 1, 0)$ and random $U$, "
                    r"`transformed_task(task, input_matrix(Flip(), task))` keeps $s$ and "
                    r"$\lambda$, and its mode matrices $U'_\alpha V_\alpha'^\top$ are $+U_\alpha "
                    r"V_\alpha^\top$ for $\alpha = 1, 3$ and $-U_\alpha V_\alpha^\top$ for the "
                    r"reversed $\alpha = 2$", error, 1e-12, how="float64")


def _dln_flip_error() -> float:
    with _x64():
        import dln
        from dln.protocol.deficits import Flip, input_matrix, transformed_task

        rng = np.random.default_rng(5)
        U = np.linalg.qr(rng.standard_normal((3, 3)))[0]
        r2 = 1 / math.sqrt(2)
        V = np.array([[r2, r2, 0.0], [0.0, 0.0, 1.0], [r2, -r2, 0.0]])
        s_v = np.array([2.0, 1.0, 0.5])
        task = dln.Task(np.eye(3), U @ np.diag(s_v) @ V.T)
        seen = transformed_task(task, input_matrix(Flip(), task))
        sign = [1.0, -1.0, 1.0]
        Us, Vs = np.asarray(seen.U), np.asarray(seen.V)
        return max(_rel(seen.s, s_v), _rel(seen.input_variance, np.ones(3)),
                   max(_rel(np.outer(Us[:, k], Vs[:, k]), sign[k] * np.outer(U[:, k], V[:, k]))
                       for k in range(3)))


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
