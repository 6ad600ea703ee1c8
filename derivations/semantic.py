"""Semantic development: item similarity, illusory correlations, stage times, category coherence.

Saxe, McClelland & Ganguli (2019), PNAS 116:11537, arXiv:1810.10531; docs/theory/semantic.md.
The closed forms behind `dln.semantic`. Steps:

1. the hidden layer of an aligned, balanced network, `W_l ⋯ W_1 = R_l A^l Vᵀ` (checked at depth 3
   with rational orthogonal hidden bases), so the items' Gram matrix is
   `X V diag(u^{2l/D}) Vᵀ Xᵀ` whatever the bases;
2. items on a tree: the averaging projectors `Π_l` over the level-`l` subtrees give the spectral
   projectors `Π_l − Π_{l−1}` of the item kernel (exact for three trees), so the similarity is
   `Σ_l g_l^{2l'/D}(Π_l − Π_{l−1})` by levels and depends only on the level of the lowest common
   ancestor (the toy's three entries recorded);
3. illusory correlations: the output for a feature is `Σ_l Δȳ_l w_l(t)` over levels, the plateaus
   `ȳ_k` are category averages (exact for the toy), the toy's canary-swims output starts below 0,
   ends at 0, and at depth 2 follows a sum of logistics whose peak solves
   `Σ_l Δȳ_l κ_l w_l^{2−2/D}(1 − w_l) = 0`; as `u0 → 0` the peak tends to the largest plateau
   (numerically, mpmath);
4. the half-rise time of a depth-2 mode (again from the logistic, equal to the one on the logistic
   page) and the limit of the ratio of two stage times, `s_1/s_2`;
5. category coherence: `F 11ᵀ + I` has the eigenvalue `KF + 1` on the category, so a category of
   `K` items sharing `F` features is learned (depth 2) at
   `t_{1/2} = P ln(√(KF+1)/u0 − 1)/(2√(KF+1))`, falling with coherence when `s/(λu0) > r*`.
"""

from __future__ import annotations

import functools

import mpmath
import sympy as sp

from derivations._page import Derivation
from derivations._symbols import D, a, lam, s, t, u0
from derivations.mode_ode import RATE

NAME = "semantic"

ell = sp.Symbol("l", integer=True, positive=True)  # the layer: l weight matrices below it
q = sp.Symbol("q", positive=True)  # the exponent 2l/D of the Gram matrix
g0, g1, g2 = sp.symbols("g_0 g_1 g_2", positive=True)  # strength of every mode of a level
x = sp.Symbol("x", positive=True)  # ln(1/u0) in limits
r = sp.Symbol("r", positive=True)  # s/(λ u0)
K_o = sp.Symbol("K_o", integer=True, positive=True)  # items in a category
K_f = sp.Symbol("K_f", integer=True, positive=True)  # features they share
P_items = sp.Symbol("P", integer=True, positive=True)  # items in the task

# The paper's toy: items canary, salmon, oak, rose; features grow, move, roots, fly, swim,
# leaves, petals (rows = items, as `dln.datasets.saxe2019_toy().Y`).
TOY_Y = sp.Matrix([[1, 1, 0, 1, 0, 0, 0],
                   [1, 1, 0, 0, 1, 0, 0],
                   [1, 0, 1, 0, 0, 1, 0],
                   [1, 0, 1, 0, 0, 0, 1]])
CANARY, OAK = 0, 2
ROOTS, SWIM = 2, 4


def cayley(z):
    """A 2×2 rotation with rational entries, `(I − S)(I + S)⁻¹` for the skew `S` of `z`."""
    return sp.Matrix([[1 - z**2, -2 * z], [2 * z, 1 - z**2]]) / (1 + z**2)


def tree_targets(levels: int, branching: int) -> sp.Matrix:
    """`Y[μ, n] = 1` iff item μ descends from node n (nodes breadth-first), as `hierarchy`."""
    P = branching**levels
    cols = []
    for m in range(levels + 1):
        size = branching ** (levels - m)
        for node in range(branching**m):
            cols.append([1 if μ // size == node else 0 for μ in range(P)])
    return sp.Matrix(cols).T


def averaging(levels: int, branching: int, level: int) -> sp.Matrix:
    """`Π_l`: the average over the level-`l` subtree of each item (`Π_{−1} = 0`)."""
    P = branching**levels
    if level < 0:
        return sp.zeros(P, P)
    size = branching ** (levels - level)
    return sp.Matrix(P, P, lambda i, j: sp.Rational(1, size) if i // size == j // size else 0)


def tree_similarity_entry(k: int, levels: int, branching: int, strengths, power):
    """Closed form of `Σ_l g_l^q (Π_l − Π_{l−1})` for two items whose lowest common ancestor is
    at level `k` (`k = levels`: the same item)."""
    b, L = sp.Integer(branching), levels
    total = strengths[0] ** power * b ** (-L)
    for l in range(1, k + 1):
        total += strengths[l] ** power * (b ** (l - L) - b ** (l - 1 - L))
    if k < L:
        total -= strengths[k + 1] ** power * b ** (k - L)
    return total


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Semantic development: similarity, illusory correlations, stages, coherence",
        sources="Saxe, McClelland & Ganguli (2019), PNAS 116:11537, arXiv:1810.10531; theory "
                "page [semantic development](../theory/semantic.md).",
        statement=r"In an aligned, balanced network of depth $D$ the items' representations after "
                  r"$l$ weight matrices have the Gram matrix $X V\,\mathrm{diag}(u^{2l/D})\,V^\top "
                  r"X^\top$, whatever the hidden bases. On a tree it is a sum over levels of the "
                  r"level strengths times the spectral projectors $\Pi_l - \Pi_{l-1}$. The output "
                  r"for a feature an item lacks is $\sum_l \Delta\bar y_l\, w_l(t)$, a sum of "
                  r"normalised mode strengths weighted by the steps of the category averages "
                  r"$\bar y_l$: it rises towards the average of the item's broad category before "
                  r"the fine distinction brings it back to 0 (an illusory correlation, tending "
                  r"to the largest plateau as $u_0 \to 0$). A depth-2 mode is half learned at "
                  r"$t_{1/2} = \ln(s/(\lambda u_0) - 1)/(2s)$; a category of $K_o$ items sharing "
                  r"$K_f$ features is a mode of singular value $\sqrt{K_oK_f + 1}$ and is learned "
                  r"sooner the more coherent it is.")
    _representations(d)
    _tree(d)
    _illusory(d)
    _stages(d)
    _coherence(d)
    return d


def _representations(d: Derivation) -> None:
    d.section("The hidden layers of an aligned, balanced network")
    d.say(r"Balanced weights aligned with the modes carry every mode with the same per-layer "
          r"strength $a_\alpha = u_\alpha^{1/D}$: $W_1 = R_1 A V^\top$, $W_k = R_k A "
          r"R_{k-1}^\top$, $W_D = U A R_{D-1}^\top$, $A = \mathrm{diag}(a)$, with orthogonal "
          r"hidden bases $R_k$. The layer after $l$ weight matrices sees $h_l(x) = W_l\cdots W_1 "
          r"x = R_l A^l V^\top x$, since each $R_{k-1}^\top R_{k-1} = I$ cancels. Checked at "
          r"$D = 3$ with two modes and rational rotations $R_k$, $V$, $U$ (Cayley transforms of "
          r"$z_k$):")
    z = sp.symbols("z_0:4", real=True)
    V, R1, R2, U = (cayley(zi) for zi in z)
    A = sp.diag(a, sp.Symbol("b", positive=True))
    W = [R1 * A * V.T, R2 * A * R1.T, U * A * R2.T]
    reduce = lambda e: e.applyfunc(lambda v: sp.expand(sp.numer(sp.together(v))))  # noqa: E731
    how = "`together`, then `expand` of the numerator, entry by entry"
    d.check_cases(r"$W_l \cdots W_1 = R_l A^l V^\top$ ($D = 3$)",
                  [("$l = 1$", W[0], R1 * A * V.T),
                   ("$l = 2$", W[1] * W[0], R2 * A**2 * V.T),
                   ("$l = 3$: the map $U A^3 V^\\top$", W[2] * W[1] * W[0], U * A**3 * V.T)],
                  reduce=reduce, how=how)
    d.say(r"With the items as the rows of $X$, their representations are the rows of "
          r"$H_l = X V A^l R_l^\top$, and their similarity (Gram) matrix $H_l H_l^\top = X V A^l "
          r"R_l^\top R_l A^l V^\top X^\top$ loses the hidden basis, since")
    d.check_equal(r"$R^\top R = I$ for the rational rotations", R2.T * R2, sp.eye(2),
                  reduce=reduce, how=how, display=False)
    d.say(r"and with $A^{2l} = \mathrm{diag}(a^{2l})$, $a^{2l} = u^{2l/D}$ ($u \ge 0$ at "
          r"$D \ge 2$; $|u|^{2l}$ at $D = 1$):")
    d.show(r"G_l = H_l H_l^\top", r"X V \,\mathrm{diag}\big(u^{2l/D}\big)\, V^\top X^\top")
    d.result("gram_exponent", 2 * ell / D, (ell, D), lhs=r"q",
             text="the power of the mode strengths in the items' Gram matrix after $l$ of $D$ "
                  "weight matrices ($D = 2$, $l = 1$: $q = 1$, the paper's $V A V^\\top$; "
                  "$l = D$: $q = 2$, the outputs)",
             code="`dln.semantic.similarity_from_modes`")


def _tree(d: Derivation) -> None:
    d.section("Items on a tree: similarity by levels")
    d.say(r"For one-hot items at the leaves of a tree ($L$ levels, branching $b$, one feature per "
          r"node), let $\Pi_l$ average over the level-$l$ subtree of each item, "
          r"$\Pi_l(i,j) = b^{l-L}[i, j \text{ in the same level-}l\text{ subtree}]$, "
          r"$\Pi_{-1} = 0$. "
          r"The differences $\Pi_l - \Pi_{l-1}$ are orthogonal projectors onto the level-$l$ "
          r"wavelets, they sum to $I$, and they diagonalise the item kernel:")
    d.show(r"Y Y^\top", r"\sum_{l=0}^{L} \Lambda_l (\Pi_l - \Pi_{l-1}),\qquad "
                        r"\Lambda_l = \frac{b^{L-l+1}-1}{b-1}")
    for L, b in ((2, 2), (3, 2), (2, 3)):
        Y = tree_targets(L, b)
        Pi = [averaging(L, b, l) for l in range(-1, L + 1)]
        proj = [Pi[l + 1] - Pi[l] for l in range(L + 1)]
        cases = [(f"$(\\Pi_{l} - \\Pi_{{{l - 1}}})^2$", p * p, p) for l, p in enumerate(proj)]
        cases += [(f"$l = {l}$, $m = {m}$ orthogonal", proj[l] * proj[m], sp.zeros(b**L, b**L))
                  for l in range(L + 1) for m in range(l + 1, L + 1)]
        cases += [("sum $= I$", sum(proj, sp.zeros(*proj[0].shape)), sp.eye(b**L)),
                  ("$YY^\\top$", Y * Y.T,
                   sum(((b ** (L - l + 1) - 1) // (b - 1) * p for l, p in enumerate(proj)),
                       sp.zeros(b**L, b**L)))]
        d.check_cases(f"Spectral projectors of the tree with $L = {L}$, $b = {b}$", cases,
                      reduce=sp.expand, how="`expand` (rational matrices)")
    d.say(r"Every mode of level $l$ has the same singular value, so from equal initial strengths "
          r"they keep one strength $g_l(t)$, and the Gram matrix of the hidden layer "
          r"(exponent $q = 2l'/D$ for the layer after $l'$ matrices) is "
          r"$G = \sum_l g_l^{q}(\Pi_l - \Pi_{l-1})$. Its entry for two items whose lowest common "
          r"ancestor is at level $k$ ($k = L$: the same item) is")
    gs = sp.symbols("g_0:4", positive=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)
    m = sp.Symbol("m", integer=True, positive=True)
    b_sym = sp.Symbol("b", integer=True, positive=True)
    L_sym = sp.Symbol("L", integer=True, positive=True)
    g = sp.IndexedBase("g")
    d.show(r"G_{ij}", g[0] ** q * b_sym ** (-L_sym)
           + sp.Sum(g[m] ** q * (b_sym ** (m - L_sym) - b_sym ** (m - 1 - L_sym)), (m, 1, k))
           - sp.Symbol(r"[k<L]") * g[k + 1] ** q * b_sym ** (k - L_sym))
    for L, b in ((2, 2), (3, 2), (2, 3)):
        P = b**L
        Pi = [averaging(L, b, l) for l in range(-1, L + 1)]
        G = sum((gs[l] ** q * (Pi[l + 1] - Pi[l]) for l in range(L + 1)), sp.zeros(P, P))
        cases = []
        for i in range(P):
            for jj in range(P):
                lca = max(m for m in range(L + 1) if i // b ** (L - m) == jj // b ** (L - m))
                cases.append((i, jj, G[i, jj] - tree_similarity_entry(lca, L, b, gs, q)))
        residual = sp.Matrix(P, P, lambda i, jj: cases[i * P + jj][2])
        d.check_zero(f"Every entry of $G$ against the formula, $L = {L}$, $b = {b}$", residual,
                     reduce=lambda e: e.applyfunc(sp.expand), how="`expand` entry by entry",
                     display=False)
    d.say(r"For the paper's four items (canary, salmon, oak, rose: $L = 2$, $b = 2$), with "
          r"$g_0$ the root's mode, $g_1$ animal/plant and $g_2$ the two pairs:")
    for key, lca, text in (("similarity_toy_self", 2, "an item with itself (canary, canary)"),
                           ("similarity_toy_sibling", 1, "two items of one pair "
                                                        "(canary, salmon)"),
                           ("similarity_toy_cousin", 0, "an animal and a plant (canary, oak)")):
        d.result(key, sp.expand(tree_similarity_entry(lca, 2, 2, (g0, g1, g2), q)),
                 (g0, g1, g2, q), lhs=rf"G_{{\mathrm{{{key.split('_')[-1]}}}}}",
                 text=f"similarity of {text} from the level strengths $g_l$, exponent $q$",
                 code="`dln.semantic.similarity_from_modes(saxe2019_toy(), …)`")


def _illusory(d: Derivation) -> None:
    d.section("Illusory correlations")
    d.say(r"The network's output for feature $f$ on item $i$ is "
          r"$\hat y_f(x_i) = e_f^\top U\,\mathrm{diag}(u)\,V^\top x_i = \sum_\alpha c_\alpha "
          r"u_\alpha$, $c_\alpha = U_{f\alpha}(V^\top x_i)_\alpha$. Write $u_\alpha = "
          r"(s_\alpha/\lambda_\alpha) w_\alpha$ with the normalised strength $w_\alpha \in "
          r"(0, 1)$ rising from $\lambda u_0/s$ to 1, and group the modes by level. For one-hot "
          r"items the least-squares map is $Y^\top$, and its part on the levels $0..k$ is "
          r"$Y^\top \sum_{l \le k}(\Pi_l - \Pi_{l-1}) = Y^\top \Pi_k$: once the levels up to "
          r"$k$ are learned and the others not started, the output is the average of the "
          r"feature over the item's level-$k$ category,")
    d.show(r"\bar y_k(i, f)", r"(\Pi_k Y)_{if} = \frac{1}{b^{L-k}}\sum_{j \in \mathrm{cat}_k(i)} "
                              r"Y_{jf}")
    d.show(r"\hat y_f(x_i, t)", r"\sum_{l=0}^{L} \Delta\bar y_l\, w_l(t),\qquad "
                                r"\Delta\bar y_l = \bar y_l - \bar y_{l-1},\ \bar y_{-1} = 0")
    Y = TOY_Y
    Pi = [averaging(2, 2, l) for l in range(3)]
    plateaus = {name: [(Pi[k] * Y)[CANARY, f] for k in range(3)]
                for name, f in (("swim", SWIM), ("roots", ROOTS))}
    half, quarter = sp.Rational(1, 2), sp.Rational(1, 4)
    d.check_cases("The toy's plateaus (canary): swims $(1/4, 1/2, 0)$, has roots $(1/2, 0, 0)$",
                  [("swims", sp.Matrix(plateaus["swim"]), sp.Matrix([quarter, half, 0])),
                   ("roots", sp.Matrix(plateaus["roots"]), sp.Matrix([half, 0, 0]))],
                  reduce=sp.expand, how="`expand`")
    d.say(r"So the canary is first credited with a quarter of the swimming of all living things, "
          r"then half of the animals' (the salmon's), and only the last stage, which tells canary "
          r"from salmon, takes it back to its target 0. In `dln`'s one-hot normalisation the "
          r"toy's modes have $s_l = \sqrt{\Lambda_l}/4$, $\lambda = 1/4$, so $s_l/\lambda = "
          r"\sqrt{7}, \sqrt{3}, 1$. From equal initial strengths $u_0$ ($w_l(0) = \lambda u_0/"
          r"s_l$) the canary-swims output starts below 0:")
    steps = [quarter, quarter, -half]
    targets = [sp.sqrt(7), sp.sqrt(3), sp.Integer(1)]  # s_l/λ
    start = sp.nsimplify(sum(dy * u0 / tl for dy, tl in zip(steps, targets)))
    d.check_equal(r"$\hat y(0) = u_0\sum_l \Delta\bar y_l \lambda/s_l$",
                  start, u0 * (1 / (4 * sp.sqrt(7)) + 1 / (4 * sp.sqrt(3)) - half))
    d.check_equal(r"its coefficient is negative: $\frac{1}{4\sqrt7} + \frac{1}{4\sqrt3} - "
                  r"\frac12 < 0$", sp.sign(start / u0), -1, display=False)
    d.say(r"and it ends at $\sum_l \Delta\bar y_l = Y_{\mathrm{canary},\mathrm{swim}} = 0$. "
          r"Each $w_l$ obeys $\dot w = \kappa_l w^{2-2/D}(1-w)$, $\kappa_l = D s_l^{2-2/D} "
          r"\lambda^{2/D-1}$ (mode-ODE page), so the output is stationary where")
    d.show(r"\dot{\hat y} = \sum_l \Delta\bar y_l\,\kappa_l\, w_l^{2-2/D}(1 - w_l)", 0)
    d.say(r"At depth 2 each $w_l$ is the logistic $w_l = w_{l0}/(w_{l0} + (1-w_{l0})"
          r"e^{-2 s_l t})$ ($\kappa_l = 2s_l$), $w_{l0} = u_0/\sqrt{\Lambda_l}$, "
          r"$s_l = \sqrt{\Lambda_l}/4$ (the recorded results are these expressions in $t$ and "
          r"$u_0$):")
    s_l = [tl / 4 for tl in targets]
    ws = [(u0 / tl) / (u0 / tl + (1 - u0 / tl) * sp.exp(-2 * sl * t))
          for tl, sl in zip(targets, s_l)]
    y = sum(dy * wl for dy, wl in zip(steps, ws))
    w0_sym = sp.Symbol("w_0", positive=True)
    logistic = w0_sym / (w0_sym + (1 - w0_sym) * sp.exp(-2 * s * t))
    d.check_equal(r"$\dot w = 2 s\, w(1-w)$ for the logistic",
                  sp.diff(logistic, t), 2 * s * logistic * (1 - logistic), display=False)
    d.check_equal(r"$\kappa = 2s$ at $D = 2$", RATE.subs(D, 2), 2 * s, display=False)
    velocity = sum(dy * 2 * sl * wl * (1 - wl) for dy, sl, wl in zip(steps, s_l, ws))
    d.check_equal("The velocity of the canary-swims output is the sum above", sp.diff(y, t),
                  velocity, reduce=lambda e: sp.simplify(sp.together(e)), how="`together`, "
                  "`simplify`", display=False)
    w_l = [sp.Symbol(f"w_{l}") for l in range(3)]
    d.result("illusory_toy_depth2", y, (t, u0),
             lhs=r"\hat y_{\mathrm{swim}}(x_{\mathrm{canary}}, t)",
             shown=sum(dy * wl for dy, wl in zip(steps, w_l)),
             text="the toy's canary-swims output at depth 2 (one-hot items, every mode from "
                  "$u_0$)",
             code="`dln.semantic.feature_output`, `dln.semantic.illusory_peak`")
    d.result("illusory_toy_velocity_depth2", velocity, (t, u0),
             lhs=r"\dot{\hat y}_{\mathrm{swim}}(x_{\mathrm{canary}}, t)",
             shown=sum(dy * 2 * sl * wl * (1 - wl) for dy, sl, wl in zip(steps, s_l, w_l)),
             text="its time derivative; 0 at the peak",
             code="`dln.semantic.illusory_peak` (its peak time)")
    d.say(r"As $u_0 \to 0$ the stages separate (their times grow like $\ln(1/u_0)/(2s_l)$ while "
          r"each transition keeps a width $O(1/s_l)$), so the output rests on each plateau in "
          r"turn and its peak tends to the largest, $\max_k \bar y_k = 1/2$.")
    with mpmath.workdps(30):
        fn = sp.lambdify((t, u0), y, modules="mpmath")
        tiny = mpmath.mpf("1e-40")
        # the peak lies between the animal/plant stage and the pairs' stage
        t1 = mpmath.log(mpmath.sqrt(3) / tiny) / (2 * mpmath.sqrt(3) / 4)
        t2 = mpmath.log(1 / tiny) / (2 * mpmath.mpf(1) / 4)
        grid = [t1 + (t2 - t1) * i / 2000 for i in range(2001)]
        peak = max(fn(ti, tiny) for ti in grid)
    d.check_numeric(r"The peak at $u_0 = 10^{-40}$ is $1/2$ (depth 2; the maximum over 2001 "
                    r"times between the two stages' half-rise times)", float(abs(peak - 0.5)),
                    1e-6, how="mpmath at 30 digits")


def _stages(d: Derivation) -> None:
    d.section("Stage times")
    d.say(r"A depth-2 mode from $u_0$ is half learned, $u = s/(2\lambda)$, when")
    logistic = (s / lam) * (lam * u0 / s) / (lam * u0 / s + (1 - lam * u0 / s)
                                             * sp.exp(-2 * s * t))
    solutions = sp.solve(sp.Eq(logistic, s / (2 * lam)), t)
    if len(solutions) != 1:
        raise AssertionError(f"expected one half-rise time, got {solutions}")
    half = solutions[0]
    reference = sp.log(s / (lam * u0) - 1) / (2 * s)  # the logistic page's `half_time_depth2`
    d.check_equal(r"`solve` gives the half-rise time of the logistic page, "
                  r"$\ln(s/(\lambda u_0) - 1)/(2s)$", half, reference,
                  reduce=lambda e: sp.simplify(sp.expand_log(e, force=True)),
                  how="`expand_log` and `simplify`", display=False)
    d.result("half_time_depth2", reference, (s, lam, u0), lhs=r"t_{1/2}",
             text="half-rise time of a depth-2 mode: the stage time of its level",
             code="`dln.semantic.stage_times` (exact)")
    d.say(r"Stronger modes come first. From small init the ratio of two stage times tends to the "
          r"inverse ratio of the singular values: with $u_0 = e^{-x}$,")
    limit = sp.limit(sp.log(s * sp.exp(x) / lam - 1) / x, x, sp.oo)
    d.check_equal(r"$\lim_{x\to\infty} \ln(s e^{x}/\lambda - 1)/x = 1$", limit, 1,
                  display=False)
    s1, s2 = sp.symbols("s_1 s_2", positive=True)
    d.show(r"\lim_{u_0 \to 0}\frac{t_{1/2}(s_2)}{t_{1/2}(s_1)}", s1 / s2)


def _coherence(d: Derivation) -> None:
    d.section("Category coherence and learning time")
    d.say(r"A category of $K_o$ items that share $K_f$ features no other item has, each item "
          r"also having one feature of its own, contributes the block $K_f 11^\top + I$ to the "
          r"item kernel $YY^\top$. Its uniform vector is an eigenvector of eigenvalue "
          r"$K_oK_f + 1$ and every contrast inside the category one of eigenvalue 1:")
    cases = []
    for n in range(2, 7):
        block = K_f * sp.ones(n, n) + sp.eye(n)
        cases.append((f"$K_o = {n}$, uniform", block * sp.ones(n, 1),
                      (n * K_f + 1) * sp.ones(n, 1)))
        contrast = sp.Matrix([1, -1] + [0] * (n - 2))
        cases.append((f"$K_o = {n}$, contrast", block * contrast, contrast))
    d.check_cases("Eigenvectors of $K_f 11^\\top + I$ (symbolic $K_f$)", cases, reduce=sp.expand,
                  how="`expand`")
    d.say(r"The category is thus a mode of singular value $\sqrt{K_oK_f + 1}$ in the raw data: "
          r"its coherence, growing with the number of items and of the features they share. With "
          r"$P$ one-hot items ($s = \sqrt{K_oK_f+1}/P$, $\lambda = 1/P$) its depth-2 half-rise "
          r"time is")
    coherence = sp.sqrt(K_o * K_f + 1)
    t_half = (sp.log(s / (lam * u0) - 1) / (2 * s)).subs(
        {s: coherence / P_items, lam: 1 / P_items}, simultaneous=True)
    expected = P_items * sp.log(coherence / u0 - 1) / (2 * coherence)
    d.check_equal(r"The half-rise time of the logistic page at $s = \sqrt{K_oK_f+1}/P$, "
                  r"$\lambda = 1/P$", t_half, expected, display=False)
    d.result("category_half_time_depth2", expected, (K_o, K_f, P_items, u0), lhs=r"t_{1/2}",
             text="depth-2 half-rise time of a category of $K_o$ items sharing $K_f$ features, "
                  "$P$ one-hot items",
             code="`dln.semantic.category_time` (exact)")
    d.say(r"It falls as the coherence grows whenever the mode starts well below its target: with "
          r"$r = s/(\lambda u_0)$,")
    half = sp.log(s / (lam * u0) - 1) / (2 * s)
    slope = (r / (r - 1) - sp.log(r - 1)) / (2 * s**2)
    d.show(r"\frac{\partial t_{1/2}}{\partial s}\Big|_{\lambda u_0}", slope)
    d.check_equal(r"$\partial t_{1/2}/\partial s$ at fixed $\lambda u_0$", sp.diff(half, s),
                  slope.subs(r, s / (lam * u0)),
                  reduce=lambda e: sp.simplify(sp.together(e)), how="`together`, `simplify`",
                  display=False)
    with mpmath.workdps(30):
        root = mpmath.findroot(lambda v: mpmath.log(v - 1) - v / (v - 1), 4.5)
    d.check_numeric(r"The slope is negative for $r > r^* \approx 4.59$, the root of "
                    r"$\ln(r-1) = r/(r-1)$ (a mode starting below about 22% of its target)",
                    float(abs(root - mpmath.mpf("4.5911"))), 1e-4,
                    how="mpmath `findroot` at 30 digits")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
