"""The end-to-end flow of balanced networks, the singular-value equation, and task switches.

Arora, Cohen & Hazan (2018, ICML, arXiv:1802.06509) for the end-to-end flow; Arora, Cohen, Hu &
Luo (2019, NeurIPS, arXiv:1905.13655, Theorem 3 and Lemma 2) for the singular values and vectors;
Kleinman, Achille & Soatto (2024, arXiv:2308.12221) for the matrix-completion deficit;
docs/theory/setting.md and docs/theory/completion.md. `dln.completion` and `dln.schedule`
implement it. Steps:

1. the masked completion loss, its gradient `∇L = P_Ω(W − M)/|Ω|` and the layer gradients
   `(W_D⋯W_{l+1})ᵀ ∇L (W_{l−1}⋯W_1)ᵀ` (explicit symbolic matrices and masks);
2. balanced layers (built from rotations whose cosines and sines are symbols, reduced modulo
   `cos² + sin² = 1`) make the products above and below a layer matrix powers of `WWᵀ` and
   `WᵀW`, so the product rule gives the end-to-end flow
   `Ẇ = −Σ_j (WWᵀ)^{(D−j)/D} ∇L (WᵀW)^{(j−1)/D}` (exact for D = 2, 3 in 2×2 with symbolic
   angles, singular values and gradient, numerically for 4×4, D ≤ 4); in the singular bases it is
   `−(Uᵀ∇LV) ∘ K` with `K(σ, σ') = (σ² − σ'²)/(σ^{2/D} − σ'^{2/D})`;
3. the diagonal of `K` gives the singular-value equation `σ̇ = −D σ^{2−2/D} u_rᵀ∇L v_r`, the
   off-diagonal part the singular-vector equations of Lemma 2 (exact for n = 3, D = 2, 3, 4;
   numerically against differences of a 50-digit SVD for n = 5);
4. task switches: the imbalances are conserved by the flow of every task, so chaining exact
   solutions through a schedule is exact; a balanced aligned mode cannot change sign, so after
   the reversal `B = −A` it stalls at the saddle `W = 0` (exact solution for D = 2).
"""

from __future__ import annotations

import functools
import random

import mpmath
import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import lam, t, u0

NAME = "end_to_end"

sig = sp.Symbol("sigma_r", positive=True)  # a singular value of W
sig2 = sp.Symbol(r"\sigma_{r'}", positive=True)  # another one
g = sp.Symbol("g", real=True)  # u_rᵀ ∇L v_r
Dp = sp.Symbol("D", positive=True)  # depth, as a positive real (for the lambdified results)
EXACT_DEPTHS = (2, 3)


def _cancel(m):
    """Entrywise `cancel` (rational functions of the symbols): exact 0 iff the entry vanishes."""
    if isinstance(m, sp.MatrixBase):
        return m.applyfunc(sp.cancel)
    return sp.cancel(m)


def _expand(m):
    if isinstance(m, sp.MatrixBase):
        return m.applyfunc(sp.expand)
    return sp.expand(m)


def rotation(name: str):
    """The 2×2 rotation `[[cos θ, −sin θ], [sin θ, cos θ]]` by the angle `θ_name`, with its cosine
    and sine as independent symbols `(C, S)`; identities in them are reduced modulo
    `C² + S² = 1` by `on_circle`."""
    C = sp.Symbol(rf"\cos\theta_{{{name}}}", real=True)
    S = sp.Symbol(rf"\sin\theta_{{{name}}}", real=True)
    return sp.Matrix([[C, -S], [S, C]]), (C, S)


def on_circle(pairs):
    """A reduction: `expand`, then the normal form modulo `{C² + S² − 1}` for every `(C, S)` of
    `pairs` (each `S^k` becomes `S^{k mod 2}(1 − C²)^{⌊k/2⌋}`), entrywise. These polynomials
    form a Gröbner basis (lex order, `S > C`; pairwise coprime leading terms `S²`), so the
    normal form is 0 exactly when the expression lies in the ideal, i.e. vanishes by
    `cos² + sin² = 1` alone: the identity holds for every rotation."""
    sines = [S for _, S in pairs]
    cosine = {S: C for C, S in pairs}

    def reduce_one(expr):
        expr = sp.expand(expr)
        if expr == 0:
            return expr
        gens = sorted(expr.free_symbols | set(cosine.values()), key=str)
        pos = {x: i for i, x in enumerate(gens)}
        todo, done = dict(sp.Poly(expr, *gens).terms()), {}
        while todo:  # rewrite S^k C^m… = S^{k−2} C^m… − S^{k−2} C^{m+2}… until every k ≤ 1
            mono, coeff = todo.popitem()
            high = [S for S in sines if S in pos and mono[pos[S]] >= 2]
            if not high:
                done[mono] = done.get(mono, 0) + coeff
                continue
            lowered = list(mono)
            lowered[pos[high[0]]] -= 2
            raised = list(lowered)
            raised[pos[cosine[high[0]]]] += 2
            for key, value in ((tuple(lowered), coeff), (tuple(raised), -coeff)):
                todo[key] = todo.get(key, 0) + value
        return sp.Add(*(coeff * sp.Mul(*(x**k for x, k in zip(gens, mono)))
                        for mono, coeff in done.items() if coeff != 0))

    def reduce(m):
        return m.applyfunc(reduce_one) if isinstance(m, sp.MatrixBase) else reduce_one(m)

    return reduce


CIRCLE = "`expand`, normal form modulo $\\cos^2\\theta + \\sin^2\\theta = 1$"


def balanced_layers(depth, c):
    """Balanced 2×2 layers `W_1 = R_1 C Vᵀ`, `W_l = R_l C R_{l−1}ᵀ`, `W_D = U C R_{D−1}ᵀ`,
    `C = diag(c)`, with symbolic rotations `U`, `V`, `R_l`; returns the layers, `U`, `V`, `C`
    and the reduction modulo `cos² + sin² = 1` of their angles."""
    Cd = sp.diag(*c)
    (V, pv), (U, pu) = rotation("V"), rotation("U")
    inner = [rotation(str(l)) for l in range(1, depth)]
    frames = [V] + [R for R, _ in inner] + [U]  # frames[l]: the basis after layer l
    reduce = on_circle([pv, pu] + [pair for _, pair in inner])
    return [frames[l + 1] * Cd * frames[l].T for l in range(depth)], U, V, Cd, reduce


def masked_loss(W, M, mask):
    """`½ mean_{(i,j)∈Ω} (W_ij − M_ij)²`."""
    n_obs = sum(mask)
    return sum(mask[i, j] * (W[i, j] - M[i, j]) ** 2
               for i in range(W.rows) for j in range(W.cols)) / (2 * n_obs)


def masked_gradient(W, M, mask):
    """`∇L = P_Ω(W − M)/|Ω|`."""
    return mask.multiply_elementwise(W - M) / sum(mask)


def _power(A, k, reduce):
    """`A^k` by repeated products, each reduced by `reduce` (exact in the quotient ring)."""
    out = sp.eye(A.rows)
    A = reduce(A)
    for _ in range(k):
        out = reduce(out * A)
    return out


def _above(ws, l, n):
    """`W_D⋯W_{l+1}` (1-based `l`; the identity for `l = D`)."""
    return mx.product(ws[l:], sp.eye(n))


def _below(ws, l, n):
    """`W_{l−1}⋯W_1` (the identity for `l = 1`)."""
    return mx.product(ws[: l - 1], sp.eye(n))


C_SYMBOLS = sp.symbols("c_1 c_2", positive=True)


@functools.cache
def _setup(depth):
    """The balanced 2×2 layers of depth `depth` (`balanced_layers` with `C_SYMBOLS`), their
    product `W` and the Gram matrices `A_jA_jᵀ`, `B_jᵀB_j` of the products above and below each
    layer `j`, all reduced modulo `cos² + sin² = 1`."""
    ws, U, V, C, reduce = balanced_layers(depth, C_SYMBOLS)

    def product(factors):  # W_k⋯W_i, reduced after each multiplication
        out = sp.eye(2)
        for w_ in factors:
            out = reduce(w_ * out)
        return out

    W = product(ws)
    grams = []
    for j in range(1, depth + 1):
        above, below = product(ws[j:]), product(ws[: j - 1])
        grams.append((reduce(above * above.T), reduce(below.T * below)))
    return ws, U, V, C, reduce, W, grams


def layer_velocity(grams, grad, reduce):
    """`Σ_j A_j Ẇ_j B_j` with the layer flow `Ẇ_j = −A_jᵀ ∇L B_jᵀ`, grouped by associativity as
    `−Σ_j (A_jA_jᵀ) ∇L (B_jᵀB_j)`."""
    return reduce(-sum((up * grad * down for up, down in grams), sp.zeros(2, 2)))


def end_to_end_formula(U, V, C, depth, grad, reduce):
    """`−Σ_j (WWᵀ)^{(D−j)/D} ∇L (WᵀW)^{(j−1)/D}` with the powers `U C^{2(D−j)} Uᵀ`,
    `V C^{2(j−1)} Vᵀ`."""
    return reduce(-sum((U * C ** (2 * (depth - j)) * U.T * grad * V * C ** (2 * (j - 1)) * V.T
                        for j in range(1, depth + 1)), sp.zeros(2, 2)))


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "End-to-end flow, singular values and task switches",
        sources="Arora, Cohen & Hazan (2018), arXiv:1802.06509 (end-to-end dynamics); Arora, "
                "Cohen, Hu & Luo (2019), arXiv:1905.13655 (Theorem 3, Lemma 2); Kleinman, "
                "Achille & Soatto (2024), arXiv:2308.12221 (matrix completion, deficits); "
                "theory pages [setting](../theory/setting.md#conserved-layer-imbalances) and "
                "[completion](../theory/completion.md).",
        statement=r"For balanced layers ($W_{l+1}^\top W_{l+1} = W_l W_l^\top$) and any loss "
                  r"$L(W)$ of the product $W = W_D\cdots W_1$, the product follows "
                  r"$\dot W = -\sum_{j=1}^D (WW^\top)^{(D-j)/D}\,\nabla L(W)\,"
                  r"(W^\top W)^{(j-1)/D}$. In the SVD $W = U\,\mathrm{diag}(\sigma)V^\top$ this "
                  r"is $U^\top\dot W V = -(U^\top\nabla L V)\circ K$, "
                  r"$K_{rr'} = (\sigma_r^2 - \sigma_{r'}^2)/(\sigma_r^{2/D} - \sigma_{r'}^{2/D})$; "
                  r"its diagonal is Arora et al.'s singular-value equation "
                  r"$\dot\sigma_r = -D\,(\sigma_r^2)^{1-1/D}\,u_r^\top\nabla L\,v_r$ and its "
                  r"off-diagonal part turns the singular vectors (Lemma 2). Because the "
                  r"imbalances are conserved by the flow of every task, exact solutions chain "
                  r"across task switches; a balanced aligned mode cannot change sign, so under "
                  r"the reversal $B = -A$ it stalls at the saddle.")
    _masked(d)
    _end_to_end(d)
    _kernel(d)
    _singular_values(d)
    _singular_vectors(d)
    _switches(d)
    _reversal(d)
    d.say(r"**Code bridge.** `dln.completion.end_to_end_velocity` is section 3 (the kernel $K$ "
          r"with $0^0 = 1$), `dln.completion.singular_value_rates` section 4, "
          r"`dln.completion.theory` integrates the end-to-end flow numerically (Runge–Kutta) "
          r"through a schedule of completion problems (the flow of balanced layers in every "
          r"phase, section 6), and "
          r"`dln.schedule.solve` chains the two-layer Riccati solution across switches "
          r"(section 6) and reports the stall of section 7. "
          r"`tests/test_end_to_end_derivation.py` compares the results with that code.")
    return d


# ------------------------------------------------------------------------------------------ 1
def _masked(d: Derivation) -> None:
    d.section("The masked loss and its gradients")
    d.say(r"A network sees the entries $\Omega$ of a target $M$ and minimises "
          r"$L(W) = \frac{1}{2|\Omega|}\sum_{(i,j)\in\Omega}(W_{ij} - M_{ij})^2$. With a "
          r"$3\times3$ mask observing 5 entries and symbolic $W$, $M$:")
    mask = sp.Matrix([[1, 0, 1], [0, 1, 1], [1, 0, 0]])
    W, M = mx.general("W", 3, 3), mx.general("M", 3, 3)
    L = masked_loss(W, M, mask)
    grad = sp.Matrix(3, 3, lambda i, j: sp.diff(L, W[i, j]))
    d.show(r"\nabla L(W)", grad)
    d.check_equal(r"$\partial L/\partial W_{ij} = -(M - W)_{ij}/|\Omega|$ on observed entries "
                  r"and $0$ elsewhere, i.e. $\nabla L = P_\Omega(W - M)/|\Omega|$",
                  grad, masked_gradient(W, M, mask), reduce=_expand, how="`expand`",
                  display=False)
    d.say(r"The layers only see $L$ through the product, so the chain rule gives "
          r"$\partial L/\partial W_l = (W_D\cdots W_{l+1})^\top\,\nabla L(W)\,"
          r"(W_{l-1}\cdots W_1)^\top$ (the same form as for the squared error, with "
          r"$\nabla L$ in place of $W\Sigma^{xx} - \Sigma^{yx}$):")
    cases = []
    for depth, n, mask in ((2, 3, sp.Matrix([[1, 0, 1], [0, 1, 1], [1, 0, 0]])),
                           (3, 2, sp.Matrix([[1, 0], [1, 1]]))):
        ws = [mx.general(f"W{l + 1}", n, n) for l in range(depth)]
        M = mx.general("M", n, n)
        W = mx.product(ws, sp.eye(n))
        L = masked_loss(W, M, mask)
        G = masked_gradient(W, M, mask)
        for l in range(1, depth + 1):
            direct = sp.Matrix(n, n, lambda i, j: sp.diff(L, ws[l - 1][i, j]))
            chain = _above(ws, l, n).T * G * _below(ws, l, n).T
            cases.append((f"$D = {depth}$, ${n}\\times{n}$ layers, $l = {l}$", direct, chain))
    d.check_cases(r"`diff` of the masked loss of the product by each entry of $W_l$ equals "
                  r"$(W_D\cdots W_{l+1})^\top\nabla L\,(W_{l-1}\cdots W_1)^\top$", cases,
                  reduce=_expand, how="`expand`")


# ------------------------------------------------------------------------------------------ 2
def _end_to_end(d: Derivation) -> None:
    d.section("Balanced layers: the end-to-end flow")
    d.say(r"Under the layer flow $\dot W_l = -(W_D\cdots W_{l+1})^\top\nabla L\,"
          r"(W_{l-1}\cdots W_1)^\top$ the product moves by the product rule, "
          r"$\dot W = \sum_l (W_D\cdots W_{l+1})\,\dot W_l\,(W_{l-1}\cdots W_1)$:")
    eps = sp.Symbol("epsilon")
    ws = [mx.general(f"W{l + 1}", 2, 2) for l in range(3)]
    vs = [mx.general(f"V{l + 1}", 2, 2) for l in range(3)]
    moved = mx.product([w_ + eps * v_ for w_, v_ in zip(ws, vs)], sp.eye(2))
    rule = sum((_above(ws, l, 2) * vs[l - 1] * _below(ws, l, 2) for l in range(1, 4)),
               sp.zeros(2, 2))
    d.check_equal(r"$\frac{d}{d\epsilon}\prod_l(W_l + \epsilon V_l)\big|_{\epsilon=0} = "
                  r"\sum_l (W_D\cdots W_{l+1})V_l(W_{l-1}\cdots W_1)$ ($D = 3$, symbolic "
                  r"$2\times2$ matrices)", sp.diff(moved, eps).subs(eps, 0), rule,
                  reduce=_expand, how="`expand`", display=False)
    d.say(r"So $\dot W = -\sum_l A_l A_l^\top\,\nabla L\,B_l^\top B_l$ with "
          r"$A_l = W_D\cdots W_{l+1}$, $B_l = W_{l-1}\cdots W_1$. Balanced layers are those of "
          r"the form $W_1 = R_1 C V^\top$, $W_l = R_l C R_{l-1}^\top$, "
          r"$W_D = U C R_{D-1}^\top$ with orthogonal $U, V, R_l$ and one diagonal "
          r"$C = \mathrm{diag}(c_r) \succeq 0$ (for square layers with distinct singular "
          r"values every balanced network has this form: balance gives all layers the same "
          r"singular values and makes the left singular vectors of $W_l$ the right ones of "
          r"$W_{l+1}$; Arora, Cohen & Hazan 2018); then $W = UC^DV^\top$ is the SVD, "
          r"$\sigma_r = c_r^D$. Below, $2\times2$ layers with symbolic $c_1, c_2 > 0$ and "
          r"rotations $R(\theta) = \begin{bmatrix}\cos\theta & -\sin\theta\\ \sin\theta & "
          r"\cos\theta\end{bmatrix}$ whose cosines and sines are independent symbols "
          r"($\theta_U, \theta_V, \theta_1, \dots$); every identity is reduced to its normal "
          r"form modulo $\cos^2\theta + \sin^2\theta = 1$ (a Gröbner basis, so the normal form "
          r"is $0$ exactly when the identity holds for all angles).")
    balance, product, powers, roots = [], [], [], []
    for depth in EXACT_DEPTHS:
        ws, U, V, C, reduce, W, grams = _setup(depth)
        for l in range(1, depth):
            balance.append((f"$D = {depth}$, $l = {l}$",
                            ws[l].T * ws[l] - ws[l - 1] * ws[l - 1].T, sp.zeros(2, 2)))
        product.append((f"$D = {depth}$", mx.product(ws, sp.eye(2)), U * C**depth * V.T))
        for j in range(1, depth + 1):
            above, below = _above(ws, j, 2), _below(ws, j, 2)
            up, down = U * C ** (2 * (depth - j)) * U.T, V * C ** (2 * (j - 1)) * V.T
            powers.append((f"$D = {depth}$, $j = {j}$, above", above * above.T, up))
            powers.append((f"$D = {depth}$, $j = {j}$, below", below.T * below, down))
            roots.append((f"$D = {depth}$, $j = {j}$, above", _power(up, depth, reduce),
                          _power(W * W.T, depth - j, reduce)))
            roots.append((f"$D = {depth}$, $j = {j}$, below", _power(down, depth, reduce),
                          _power(W.T * W, j - 1, reduce)))
    d.check_cases(r"the layers are balanced, $W_{l+1}^\top W_{l+1} = W_l W_l^\top$", balance,
                  reduce=reduce, how=CIRCLE)
    d.check_cases(r"their product is $W = UC^DV^\top$", product, reduce=reduce, how=CIRCLE)
    d.check_cases(r"$A_jA_j^\top = UC^{2(D-j)}U^\top$ and $B_j^\top B_j = VC^{2(j-1)}V^\top$",
                  powers, reduce=reduce, how=CIRCLE)
    d.check_cases(r"these are the matrix powers: $(UC^{2(D-j)}U^\top)^D = (WW^\top)^{D-j}$ and "
                  r"$(VC^{2(j-1)}V^\top)^D = (W^\top W)^{j-1}$; being positive semi-definite "
                  r"they are the unique PSD roots $(WW^\top)^{(D-j)/D}$ and "
                  r"$(W^\top W)^{(j-1)/D}$ (powers taken by repeated products, each reduced "
                  r"modulo $\cos^2 + \sin^2 = 1$)", roots, reduce=reduce, how=CIRCLE)
    d.say(r"Hence the end-to-end flow of Arora, Cohen & Hazan (2018):")
    d.show(r"\dot W", r"-\sum_{j=1}^{D} (WW^\top)^{\frac{D-j}{D}}\,\nabla L(W)\,"
                      r"(W^\top W)^{\frac{j-1}{D}}")
    d.say(r"(`dln.completion` writes the same sum with $j \to D + 1 - j$). Directly, for a "
          r"general symbolic gradient $G$ and, at $D = 2$, for the masked gradient of section 1 "
          r"with a symbolic target:")
    G = mx.general("G", 2, 2)
    mask = sp.Matrix([[1, 0], [1, 1]])
    M = mx.general("M", 2, 2)
    cases = []
    for depth in EXACT_DEPTHS:
        ws, U, V, C, reduce, W, grams = _setup(depth)
        grads = [("general $G$", G)]
        if depth == 2:
            grads.append(("masked $\\nabla L$", masked_gradient(W, M, mask)))
        for label, grad in grads:
            cases.append((f"$D = {depth}$, {label}", layer_velocity(grams, grad, reduce),
                          end_to_end_formula(U, V, C, depth, grad, reduce)))
    d.check_cases(r"the product-rule velocity of the layer flow equals the end-to-end formula",
                  cases, reduce=reduce, how=CIRCLE)
    d.check_numeric(r"the same for $4\times4$ layers, $D = 2, 3, 4$: random balanced layers "
                    r"(orthogonal frames from a QR factorisation, random $c_r$) and a random "
                    r"gradient; the matrix powers computed from an eigendecomposition of "
                    r"$WW^\top$ and $W^\top W$ (not from the construction)",
                    _numeric_end_to_end(), 1e-25,
                    how="mpmath at 40 digits, one seeded point per depth")


def _mp_random(rng, n, m):
    return mpmath.matrix([[rng.gauss(0, 1) for _ in range(m)] for _ in range(n)])


def _mp_orthogonal(rng, n):
    Q, _ = mpmath.qr(_mp_random(rng, n, n))
    return Q


def _mp_power(S, p):
    """`S^p` of a symmetric PSD matrix from its eigendecomposition."""
    E, Q = mpmath.eigsy(S)
    return Q * mpmath.diag([max(e, 0) ** p for e in E]) * Q.T


def _mp_prod(ws, n):
    out = mpmath.eye(n)
    for w_ in ws:
        out = w_ * out
    return out


def _mp_norm(A):
    return mpmath.sqrt(sum(abs(x) ** 2 for x in A))


def _numeric_end_to_end() -> float:
    rng = random.Random(7)
    n, worst = 4, 0.0
    with mpmath.workdps(40):
        for depth in (2, 3, 4):
            frames = [_mp_orthogonal(rng, n) for _ in range(depth + 1)]
            C = mpmath.diag([mpmath.mpf(rng.uniform(0.3, 1.5)) for _ in range(n)])
            ws = [frames[l + 1] * C * frames[l].T for l in range(depth)]
            G = _mp_random(rng, n, n)
            W = _mp_prod(ws, n)
            layers = mpmath.zeros(n, n)
            for l in range(1, depth + 1):
                above, below = _mp_prod(ws[l:], n), _mp_prod(ws[: l - 1], n)
                layers += above * (-above.T * G * below.T) * below
            formula = mpmath.zeros(n, n)
            for j in range(1, depth + 1):
                formula -= (_mp_power(W * W.T, mpmath.mpf(depth - j) / depth) * G
                            * _mp_power(W.T * W, mpmath.mpf(j - 1) / depth))
            worst = max(worst, float(_mp_norm(layers - formula) / _mp_norm(formula)))
    return worst


# ------------------------------------------------------------------------------------------ 3
def _kernel(d: Derivation) -> None:
    d.section("The flow in the singular bases")
    d.say(r"With $\Gamma = U^\top\nabla L\,V$ and $W = U\,\mathrm{diag}(\sigma)V^\top$, each "
          r"term of the sum is $U\,\mathrm{diag}(\sigma^{2(D-j)/D})\,\Gamma\,"
          r"\mathrm{diag}(\sigma^{2(j-1)/D})V^\top$, so $U^\top\dot W V = -\Gamma\circ K$ with "
          r"$K_{rr'} = \sum_{j=1}^D \sigma_r^{2(D-j)/D}\sigma_{r'}^{2(j-1)/D}$, a geometric sum "
          r"in $x = \sigma_r^{2/D}$, $y = \sigma_{r'}^{2/D}$:")
    c = C_SYMBOLS
    G = mx.general("G", 2, 2)
    cases = []
    for depth in EXACT_DEPTHS:
        ws, U, V, C, reduce, W, grams = _setup(depth)
        layers = layer_velocity(grams, G, reduce)
        K = sp.Matrix(2, 2, lambda r, q: sum(c[r] ** (2 * (depth - k)) * c[q] ** (2 * (k - 1))
                                             for k in range(1, depth + 1)))  # σ^{2/D} = c²
        cases.append((f"$D = {depth}$", U.T * layers * V, -(U.T * G * V).multiply_elementwise(K)))
    d.check_cases(r"$U^\top\dot W V = -\Gamma\circ K$ for the balanced $2\times2$ layers of "
                  r"section 2 (symbolic rotations, $c_r$ and $G$; $\sigma_r^{2/D} = c_r^2$)",
                  cases, reduce=reduce, how=CIRCLE)
    x, y = sp.symbols("x y", positive=True)
    j = sp.Symbol("j", integer=True, positive=True)
    term = lambda k: x ** (Dp - k + 1) * y ** (k - 1)  # noqa: E731
    d.check_equal(r"general $D$: $(x - y)\,x^{D-j}y^{j-1} = T_j - T_{j+1}$ with "
                  r"$T_j = x^{D-j+1}y^{j-1}$, so the sum telescopes to "
                  r"$(x-y)K = T_1 - T_{D+1} = x^D - y^D$",
                  (x - y) * x ** (Dp - j) * y ** (j - 1), term(j) - term(j + 1),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand(e), force=True)),
                  how="`expand`, `powsimp` and `simplify`", display=False)
    cases = [(f"$D = {k}$", (x - y) * sum(x ** (k - i) * y ** (i - 1) for i in range(1, k + 1)),
              x**k - y**k) for k in range(2, 9)]
    d.check_cases(r"$(x - y)\sum_{j=1}^D x^{D-j}y^{j-1} = x^D - y^D$", cases, reduce=sp.expand,
                  how="`expand`")
    K = (sig**2 - sig2**2) / (sig ** (2 / Dp) - sig2 ** (2 / Dp))
    d.result("coupling_kernel", K, (sig, sig2, Dp), lhs=r"K(\sigma_r, \sigma_{r'})",
             text=r"the end-to-end flow in the singular bases: "
                  r"$U^\top\dot WV = -(U^\top\nabla LV)\circ K$, $\sigma \ne \sigma'$ (on the "
                  r"diagonal its limit $D\sigma^{2-2/D}$)",
             code="`dln.completion.end_to_end_velocity` (and the layer-wise chain rule)")
    d.check_equal(r"its limit $\sigma' \to \sigma$ is $D\sigma^{2-2/D} = D(\sigma^2)^{1-1/D}$ "
                  r"($D = 2, 3, 4$ and general $D$ via $x = \sigma^{2/D}$: "
                  r"$\lim_{y\to x}(x^D - y^D)/(x - y) = Dx^{D-1}$)",
                  sp.limit((x**Dp - y**Dp) / (x - y), y, x), Dp * x ** (Dp - 1),
                  reduce=lambda e: sp.simplify(sp.powsimp(e, force=True)),
                  how="`limit`, `powsimp` and `simplify`", display=False)
    cases = [(f"$D = {k}$", sp.limit(K.subs(Dp, k), sig2, sig), k * sig ** (2 - sp.Rational(2, k)))
             for k in (2, 3, 4)]
    d.check_cases(r"$\lim_{\sigma'\to\sigma}K(\sigma, \sigma') = D\sigma^{2-2/D}$", cases,
                  reduce=lambda e: sp.simplify(sp.powsimp(e, force=True)),
                  how="`limit`, `powsimp` and `simplify`")


# ------------------------------------------------------------------------------------------ 4
def _singular_values(d: Derivation) -> None:
    d.section("Singular values (Arora et al. 2019, Theorem 3)")
    d.say(r"Differentiate $W = USV^\top$ ($S = \mathrm{diag}(\sigma)$, $U, V$ orthogonal): "
          r"$U^\top\dot WV = \Omega_U S + \dot S - S\Omega_V$ with the skew matrices "
          r"$\Omega_U = U^\top\dot U$, $\Omega_V = V^\top\dot V$. Their diagonals vanish, so "
          r"$\dot\sigma_r = u_r^\top\dot W v_r$. For $2\times2$ with rotations "
          r"$U = R(\theta(t))$, $V = R(\phi(t))$ (time derivatives by `diff` and the chain "
          r"rule; then cosines and sines as symbols, reduced modulo $\cos^2 + \sin^2 = 1$):")
    th, ph = sp.symbols("theta phi", real=True)
    dth, dph = sp.symbols(r"\dot\theta \dot\phi", real=True)
    s1, s2 = sp.symbols("sigma_1 sigma_2", positive=True)
    ds1, ds2 = sp.symbols(r"\dot\sigma_1 \dot\sigma_2", real=True)
    R = lambda a: sp.Matrix([[sp.cos(a), -sp.sin(a)], [sp.sin(a), sp.cos(a)]])  # noqa: E731
    U, V, S = R(th), R(ph), sp.diag(s1, s2)
    W = U * S * V.T
    Wdot = (sp.diff(W, th) * dth + sp.diff(W, ph) * dph + sp.diff(W, s1) * ds1
            + sp.diff(W, s2) * ds2)
    OmU, OmV = U.T * sp.diff(U, th) * dth, V.T * sp.diff(V, ph) * dph
    (_, pt), (_, pp) = rotation("U"), rotation("V")
    to_symbols = {sp.cos(th): pt[0], sp.sin(th): pt[1], sp.cos(ph): pp[0], sp.sin(ph): pp[1]}
    circle = on_circle([pt, pp])
    reduce = lambda m: circle(m.subs(to_symbols))  # noqa: E731
    d.check_zero(r"$\Omega_U$ and $\Omega_V$ are skew", (OmU + OmU.T).col_join(OmV + OmV.T),
                 reduce=reduce, how=CIRCLE, display=False)
    d.check_equal(r"$U^\top\dot WV = \Omega_US + \dot S - S\Omega_V$", U.T * Wdot * V,
                  OmU * S + sp.diag(ds1, ds2) - S * OmV, reduce=reduce, how=CIRCLE,
                  display=False)
    d.say(r"With the end-to-end flow, $U^\top\dot WV = -\Gamma\circ K$ (section 3), the "
          r"diagonal gives $\dot\sigma_r = -K_{rr}\Gamma_{rr}$:")
    D_ = sp.Symbol("D", integer=True, positive=True)
    cc = sp.Symbol("c", positive=True)
    d.check_equal(r"$K_{rr} = Dc^{2D-2}$ at $\sigma = c^D$ is $D\sigma^{2-2/D}$ (general $D$)",
                  D_ * cc ** (2 * D_ - 2), D_ * (cc**D_) ** (2 - sp.Rational(2) / D_),
                  reduce=lambda e: sp.simplify(sp.powsimp(sp.expand_power_base(e, force=True),
                                                          force=True)),
                  how="`powsimp` and `simplify`", display=False)
    rate = -Dp * sig ** (2 - 2 / Dp) * g
    d.result("singular_value_rate", rate, (sig, g, Dp), lhs=r"\dot\sigma_r",
             text=r"Arora et al. (2019): $\dot\sigma_r = -D(\sigma_r^2)^{1-1/D}g_r$, "
                  r"$g_r = u_r^\top\nabla L(W)v_r$ (balanced layers, distinct $\sigma_r$)",
             code=r"`dln.completion.singular_value_rates`; $u_r^\top\dot Wv_r$ of "
                  "`end_to_end_velocity`")
    d.say(r"An independent check that needs no singular vectors: for $2\times2$, "
          r"$\sigma_1^2 + \sigma_2^2 = \|W\|_F^2$ and $\sigma_1\sigma_2 = \det W$, so along the "
          r"end-to-end flow $\frac{d}{dt}\|W\|_F^2 = 2(\sigma_1\dot\sigma_1 + "
          r"\sigma_2\dot\sigma_2)$ and $\frac{d}{dt}\det W = \dot\sigma_1\sigma_2 + "
          r"\sigma_1\dot\sigma_2$ with the rates above:")
    c = C_SYMBOLS
    G = mx.general("G", 2, 2)
    cases = []
    for depth in EXACT_DEPTHS:
        ws, U, V, C, reduce, W, grams = _setup(depth)
        flow = end_to_end_formula(U, V, C, depth, G, reduce)
        Gam = U.T * G * V
        sv = [c[r] ** depth for r in range(2)]
        rates = [-depth * c[r] ** (2 * depth - 2) * Gam[r, r] for r in range(2)]
        frob = 2 * sum(W[i, k] * flow[i, k] for i in range(2) for k in range(2))
        ddet = _det_rate(W, flow)
        cases.append((f"$D = {depth}$, $\\|W\\|_F^2$", frob,
                      2 * (sv[0] * rates[0] + sv[1] * rates[1])))
        cases.append((f"$D = {depth}$, $\\det W$", ddet, rates[0] * sv[1] + sv[0] * rates[1]))
    d.check_cases(r"the rates of the invariants", cases, reduce=reduce, how=CIRCLE)
    d.say(r"The factor is $(\sigma^2)^{1-1/D}$, not $\sigma^{1-1/D}$ (theory page "
          r"[completion](../theory/completion.md#the-end-to-end-flow)): for "
          r"$D \ge 2$ small singular values grow slowly and large ones fast, the low-rank bias "
          r"that matrix completion relies on; $D = 1$ gives $\dot\sigma_r = -g_r$, no bias.")


def _det_rate(W, Wdot):
    """`d/dt det W = tr(adj(W) Ẇ)` (2×2: the adjugate explicitly)."""
    adj = sp.Matrix([[W[1, 1], -W[0, 1]], [-W[1, 0], W[0, 0]]])
    return (adj * Wdot).trace()


# ------------------------------------------------------------------------------------------ 5
def _singular_vectors(d: Derivation) -> None:
    d.section("Singular vectors (Arora et al. 2019, Lemma 2)")
    d.say(r"Off the diagonal, $-\Gamma_{rr'}K_{rr'} = (\Omega_U)_{rr'}\sigma_{r'} - "
          r"\sigma_r(\Omega_V)_{rr'}$ and $-\Gamma_{r'r}K_{rr'} = -(\Omega_U)_{rr'}\sigma_r + "
          r"\sigma_{r'}(\Omega_V)_{rr'}$: a $2\times2$ system for $((\Omega_U)_{rr'}, "
          r"(\Omega_V)_{rr'})$ whose determinant is")
    s1, s2 = sig, sig2
    det = sp.Matrix([[s2, -s1], [-s1, s2]]).det()
    d.show(r"\det\begin{bmatrix}\sigma_{r'} & -\sigma_r\\ -\sigma_r & \sigma_{r'}"
           r"\end{bmatrix}", s2**2 - s1**2)
    d.check_equal(r"the determinant", det, s2**2 - s1**2, reduce=sp.expand, how="`expand`",
                  display=False)
    d.say(r"non-zero for distinct singular values, so the singular vectors move uniquely. "
          r"Solving it gives Lemma 2 of Arora et al. (2019):")
    d.show(r"\dot U = -U\big(F\circ[\Gamma S + S\Gamma^\top]\big),\quad "
           r"\dot V = -V\big(F\circ[S\Gamma + \Gamma^\top S]\big),\quad "
           r"F_{rr'} = \begin{cases}(\sigma_{r'}^{2/D} - \sigma_r^{2/D})^{-1} & r \ne r'\\ "
           r"0 & r = r'\end{cases}")
    d.say(r"($F$ is skew and the brackets are symmetric, so $\Omega_U$, $\Omega_V$ are skew.) "
          r"Check: $n = 3$, symbolic $\Gamma$ (9 entries) and $\sigma_r = c_r^D$ "
          r"($\sigma_r^{2/D} = c_r^2$), with $\dot S = -\mathrm{diag}(K_{rr}\Gamma_{rr})$:")
    c = sp.symbols("c_1:4", positive=True)
    Gam = mx.general(r"\Gamma", 3, 3)
    combo, skew = [], []
    for depth in (2, 3, 4):
        S = sp.diag(*[ci**depth for ci in c])
        K = sp.Matrix(3, 3, lambda r, q: sum(c[r] ** (2 * (depth - k)) * c[q] ** (2 * (k - 1))
                                             for k in range(1, depth + 1)))
        F = sp.Matrix(3, 3, lambda r, q: 0 if r == q else 1 / (c[q] ** 2 - c[r] ** 2))
        OmU = -F.multiply_elementwise(Gam * S + S * Gam.T)
        OmV = -F.multiply_elementwise(S * Gam + Gam.T * S)
        Sdot = sp.diag(*[-K[r, r] * Gam[r, r] for r in range(3)])
        combo.append((f"$D = {depth}$", OmU * S + Sdot - S * OmV,
                      -Gam.multiply_elementwise(K)))
        skew.append((f"$D = {depth}$", (OmU + OmU.T).col_join(OmV + OmV.T), sp.zeros(6, 3)))
    d.check_cases(r"$\Omega_US + \dot S - S\Omega_V = -\Gamma\circ K$ with Lemma 2's "
                  r"$\Omega_U$, $\Omega_V$", combo, reduce=_cancel, how="entrywise `cancel`")
    d.check_cases(r"Lemma 2's $\Omega_U$, $\Omega_V$ are skew", skew, reduce=_cancel,
                  how="entrywise `cancel`")
    Fr = 1 / (sig2 ** (2 / Dp) - sig ** (2 / Dp))
    d.result("singular_vector_coupling", Fr, (sig, sig2, Dp), lhs=r"F(\sigma_r, \sigma_{r'})",
             text=r"Lemma 2: $U^\top\dot U = -F\circ(\Gamma S + S\Gamma^\top)$, "
                  r"$V^\top\dot V = -F\circ(S\Gamma + \Gamma^\top S)$, $\Gamma = U^\top\nabla LV$ "
                  r"($r \ne r'$; $F_{rr} = 0$)",
             code="central differences of the SVD along `dln.completion.end_to_end_velocity`")
    d.say(r"With the two indices named the other way round the same entry reads "
          r"$F_{r'r} = (\sigma_r^{2/D} - \sigma_{r'}^{2/D})^{-1}$. For $n = 5$ and general "
          r"position:")
    d.check_numeric(r"$\dot\sigma_r$, $U^\top\dot U$ and $V^\top\dot V$ from the formulas "
                    r"equal central differences $[X(W + h\dot W) - X(W - h\dot W)]/2h$ of the "
                    r"SVD of a random $5\times5$ $W$ along the end-to-end velocity "
                    r"$\dot W = -U(\Gamma\circ K)V^\top$ of a random $\nabla L$ "
                    r"($D = 3$, $h = 10^{-15}$, singular-vector signs matched to those at $W$)",
                    _numeric_lemma2(), 1e-20,
                    how="mpmath at 50 digits (`svd_r`), one seeded point")


def _numeric_lemma2() -> float:
    rng = random.Random(11)
    n, depth = 5, 3
    with mpmath.workdps(50):
        W, G = _mp_random(rng, n, n), _mp_random(rng, n, n)
        U, S, Vt = mpmath.svd_r(W)
        V = Vt.T
        sv = [S[r] for r in range(n)]
        Gam = U.T * G * V
        K = mpmath.matrix(n, n)
        F = mpmath.matrix(n, n)
        for r in range(n):
            for q in range(n):
                K[r, q] = sum(sv[r] ** (mpmath.mpf(2 * (depth - k)) / depth)
                              * sv[q] ** (mpmath.mpf(2 * (k - 1)) / depth)
                              for k in range(1, depth + 1))
                if r != q:
                    F[r, q] = 1 / (sv[q] ** (mpmath.mpf(2) / depth)
                                   - sv[r] ** (mpmath.mpf(2) / depth))
        Sm = mpmath.diag(sv)
        hadamard = lambda A, B: mpmath.matrix(  # noqa: E731
            [[A[r, q] * B[r, q] for q in range(n)] for r in range(n)])
        Wdot = -U * hadamard(Gam, K) * V.T
        OmU = -hadamard(F, Gam * Sm + Sm * Gam.T)
        OmV = -hadamard(F, Sm * Gam + Gam.T * Sm)
        rates = [-K[r, r] * Gam[r, r] for r in range(n)]
        h = mpmath.mpf(10) ** -15

        def svd_at(sign):
            Uh, Sh, Vth = mpmath.svd_r(W + sign * h * Wdot)
            Vh = Vth.T
            for r in range(n):  # match the sign of each singular pair to the one at W
                if sum(Uh[i, r] * U[i, r] for i in range(n)) < 0:
                    for i in range(n):
                        Uh[i, r], Vh[i, r] = -Uh[i, r], -Vh[i, r]
            return Uh, Sh, Vh

        (Up, Sp, Vp), (Um, Sm_, Vm) = svd_at(1), svd_at(-1)
        errs = [_mp_norm(U.T * (Up - Um) / (2 * h) - OmU) / _mp_norm(OmU),
                _mp_norm(V.T * (Vp - Vm) / (2 * h) - OmV) / _mp_norm(OmV),
                max(abs((Sp[r] - Sm_[r]) / (2 * h) - rates[r]) / abs(rates[r])
                    for r in range(n))]
        return float(max(errs))


# ------------------------------------------------------------------------------------------ 6
def _switches(d: Derivation) -> None:
    d.section("Task switches: the imbalances survive, so exact solutions chain")
    d.say(r"A schedule follows the flow of task A, then of task B from wherever A left the "
          r"weights. The conservation page shows $\frac{d}{dt}(W_{l+1}^\top W_{l+1} - "
          r"W_lW_l^\top) = 0$ for the flow of *any* loss of the product; here it is again for "
          r"the losses of the schedules in `dln`, from arbitrary (not balanced) symbolic "
          r"weights: the masked completion loss of a task B (its own mask and target) and the "
          r"regression loss of a task B with isotropic input $\Sigma^{xx} = cI$ (the setting of "
          r"the Riccati solution).")
    cases = []
    for depth, mask in ((2, sp.Matrix([[0, 1], [1, 1]])), (3, sp.Matrix([[1, 1], [0, 1]]))):
        ws = [mx.general(f"W{l + 1}", 2, 2) for l in range(depth)]
        M = mx.general("M^B", 2, 2)
        L = masked_loss(mx.product(ws, sp.eye(2)), M, mask)
        flows = [-sp.Matrix(2, 2, lambda i, j: sp.diff(L, w_[i, j])) for w_ in ws]
        for l in range(depth - 1):
            rate = (flows[l + 1].T * ws[l + 1] + ws[l + 1].T * flows[l + 1]
                    - flows[l] * ws[l].T - ws[l] * flows[l].T)
            cases.append((f"completion, $D = {depth}$, $l = {l + 1}$", rate, sp.zeros(2, 2)))
    c_in = sp.Symbol("c", positive=True)
    ws = [mx.general("W1", 3, 2), mx.general("W2", 2, 3)]
    flows = mx.flow(ws, c_in * sp.eye(2), mx.general("s^B", 2, 2), sp.eye(2),
                    lambda l: sp.eye((2, 3, 2)[l]))
    rate = flows[1].T * ws[1] + ws[1].T * flows[1] - flows[0] * ws[0].T - ws[0] * flows[0].T
    cases.append(("regression, widths (2, 3, 2), $\\Sigma^{xx} = cI$", rate, sp.zeros(3, 3)))
    d.check_cases(r"$\frac{d}{dt}(W_{l+1}^\top W_{l+1} - W_lW_l^\top) = 0$ under task B's "
                  r"flow (`diff` of its loss)", cases, reduce=_expand, how="`expand`")
    d.say(r"So if phase A starts $\lambda$-balanced, $W_2^\top W_2 - W_1W_1^\top = \lambda I$, "
          r"phase B starts $\lambda$-balanced with the *same* $\lambda$, and the two-layer "
          r"Riccati solution (riccati page) from A's final weights is the exact flow of B; by "
          r"uniqueness of ODE solutions the chained solution is the exact flow of the whole "
          r"schedule (`dln.schedule.solve`, method `exact-riccati`). Likewise balanced "
          r"layers stay balanced through any sequence of completion problems, so the "
          r"end-to-end flow of sections 2–5 holds in every phase (`dln.completion.theory`).")


# ------------------------------------------------------------------------------------------ 7
def _reversal(d: Derivation) -> None:
    d.section("The reversal B = −A: the stall at the saddle")
    d.say(r"Two layers aligned with the modes of task A, whose singular bases also "
          r"diagonalise $B = -A$: in those bases $\Sigma^{xx} = \lambda I$, "
          r"$W_1 = \mathrm{diag}(a_1, a_2)$, $W_2 = \mathrm{diag}(b_1, b_2)$ and the task's "
          r"$\Sigma^{yx} = \mathrm{diag}(s_1, s_2)$, where $s_\alpha$ may have either sign "
          r"($s_\alpha > 0$ for A, $s_\alpha < 0$ after the reversal):")
    a1, a2, b1, b2 = sp.symbols("a_1 a_2 b_1 b_2", real=True)
    s1, s2 = sp.symbols("s_1 s_2", real=True)
    flows = mx.flow([sp.diag(a1, a2), sp.diag(b1, b2)], lam * sp.eye(2), sp.diag(s1, s2),
                    sp.eye(2), lambda l: sp.eye(2))
    e1, e2 = s1 - lam * a1 * b1, s2 - lam * a2 * b2
    d.check_cases(r"the matrix flow stays diagonal, with $\dot a = b(s - \lambda ab)$, "
                  r"$\dot b = a(s - \lambda ab)$ per mode",
                  [("$\\dot W_1$", flows[0], sp.diag(b1 * e1, b2 * e2)),
                   ("$\\dot W_2$", flows[1], sp.diag(a1 * e1, a2 * e2))],
                  reduce=_expand, how="`expand`")
    a_, b_, sr = sp.symbols("a b s", real=True)
    err = sr - lam * a_ * b_
    adot, bdot = b_ * err, a_ * err
    d.check_cases(r"per mode, $\frac{d}{dt}(a - b) = -(a - b)(s - \lambda ab)$ and "
                  r"$\frac{d}{dt}(a + b) = (a + b)(s - \lambda ab)$: the balanced lines "
                  r"$a = b$ and $a = -b$ are invariant",
                  [("$a - b$", adot - bdot, -(a_ - b_) * err),
                   ("$a + b$", adot + bdot, (a_ + b_) * err)], reduce=sp.expand, how="`expand`")
    d.check_equal(r"the strength $u = ab$ obeys $\dot u = (a^2 + b^2)(s - \lambda u)$",
                  b_ * adot + a_ * bdot, (a_**2 + b_**2) * (sr - lam * a_ * b_),
                  reduce=sp.expand, how="`expand`", display=False)
    d.say(r"On a balanced line ($b^2 - a^2 = 0$) $u = \pm a^2$ keeps its sign and "
          r"$\dot u = 2|u|(s - \lambda u)$ vanishes at $u = 0$: $a = b = 0$ is a fixed point. "
          r"Its linearisation $\frac{d}{dt}(a, b) = s\,(b, a)$ has the eigenvector "
          r"$(1, 1)$ (eigenvalue $s$) and $(1, -1)$ (eigenvalue $-s$):")
    J = sp.Matrix([[sp.diff(adot, a_), sp.diff(adot, b_)],
                   [sp.diff(bdot, a_), sp.diff(bdot, b_)]]).subs({a_: 0, b_: 0})
    d.check_cases(r"the Jacobian at $a = b = 0$", [
        ("$(1, 1)$", J * sp.Matrix([1, 1]), sr * sp.Matrix([1, 1])),
        ("$(1, -1)$", J * sp.Matrix([1, -1]), -sr * sp.Matrix([1, -1]))], reduce=_expand,
        how="`expand`")
    d.say(r"After task A a mode has $u = ab > 0$ on the line $a = b$. Task B $= -A$ asks for "
          r"$s = -\sigma < 0$ along it: the line $a = b$ is then the *stable* manifold of the "
          r"saddle (eigenvalue $-\sigma$), and the mode flows into $W = 0$ without ever "
          r"changing sign. Exactly ($u' = 2u(-\sigma - \lambda u)$ on the line):")
    sg = sp.Symbol("sigma", positive=True)
    decay = sg * u0 * sp.exp(-2 * sg * t) / (sg + lam * u0 * (1 - sp.exp(-2 * sg * t)))
    d.result("reversal_strength", decay, (t, sg, lam, u0), lhs=r"u(t)",
             text=r"strength of a balanced two-layer mode (in A's bases) after the switch to "
                  r"$B = -A$, from $u_0 > 0$: it decays to the saddle, never reaching "
                  r"$-\sigma/\lambda$",
             code="`dln.schedule.solve` of A then `dln.task_pairs.reversal(A)` from aligned "
                  "weights (mode strengths in A's bases)")
    d.check_zero(r"it solves $\dot u = 2u(-\sigma - \lambda u)$", sp.diff(decay, t)
                 - 2 * decay * (-sg - lam * decay), reduce=sp.simplify, display=False)
    d.check_equal(r"$u(0) = u_0$", decay.subs(t, 0), u0, display=False)
    d.check_equal(r"$u(t) \to 0$ as $t \to \infty$, not $-\sigma/\lambda$",
                  sp.limit(decay, t, sp.oo), sp.S.Zero, display=False)
    d.say(r"Numerator and denominator are positive for $t \ge 0$ ($1 - e^{-2\sigma t} \ge 0$), "
          r"so $u > 0$ throughout: the stall (`dln.schedule`'s `stalled`). Any depth: a balanced "
          r"aligned mode obeys $\dot u = D(u^2)^{1-1/D}(s - \lambda u)$, whose right side "
          r"vanishes at $u = 0$ and is Lipschitz there for $D \ge 2$ (exponent "
          r"$2 - 2/D \ge 1$), so $u$ can neither reach nor cross $0$ in finite time:")
    uu = sp.Symbol("u", real=True)
    cases = [(f"$D = {k}$", (k * (uu**2) ** (1 - sp.Rational(1, k)) * (sr - lam * uu)).subs(uu, 0),
              sp.S.Zero) for k in range(2, 7)]
    d.check_cases(r"$\dot u = 0$ at $u = 0$", cases)
    d.say(r"The stall needs balance. With imbalance $\mu = b^2 - a^2 \ne 0$ (conserved), "
          r"$a$ and $b$ never vanish together: at $u = 0$ one of them is $0$ and the other has "
          r"square $|\mu|$, so $\dot u = |\mu|\,s \ne 0$ and the mode crosses zero (the "
          r"Riccati page: stalled modes exist only at $\lambda = 0$):")
    m_ = sp.Symbol("mu", positive=True)
    udot = (a_**2 + b_**2) * (sr - lam * a_ * b_)
    d.check_cases(r"$\dot u$ at $u = 0$ with $|b^2 - a^2| = \mu$",
                  [("$a = 0$, $b^2 = \\mu$", udot.subs(a_, 0).subs(b_, sp.sqrt(m_)), m_ * sr),
                   ("$b = 0$, $a^2 = \\mu$", udot.subs(b_, 0).subs(a_, sp.sqrt(m_)), m_ * sr)],
                  reduce=sp.expand, how="`expand`")
    d.say(r"From a random (not aligned) init, the component of the weights off the stable "
          r"line (along $(1, -1)$, eigenvalue $+\sigma$) grows like $e^{\sigma t}$ near the "
          r"saddle, so the network escapes after a time of order "
          r"$\ln(1/\text{residual})/\sigma$; pre-training on A shrinks that residual, which "
          r"is why the stall lengthens with the pre-training time.")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
