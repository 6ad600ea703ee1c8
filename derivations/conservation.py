"""Conserved quantities of gradient flow on a product of matrices: the layer imbalances.

docs/theory/setting.md (standard; e.g. Arora, Cohen & Hazan 2018, Du, Hu & Lee 2018); used by Saxe
et al. (2014) for balanced init and by Dominé et al. (2025) for λ-balanced init. Steps:

1. for any loss of the product `W = W_D⋯W_1` the flow is `Ẇ_l = (W_D⋯W_{l+1})ᵀ E (W_{l−1}⋯W_1)ᵀ`
   for some matrix `E` (for the squared error, `E = Σyx − WΣxx`), and then
   `d/dt (W_{l+1}ᵀW_{l+1} − W_l W_lᵀ) = 0` — matrix symbols, any sizes, any depth;
2. the same with explicit symbolic matrices and the squared-error flow (D = 2, 3, rectangular);
3. per aligned mode: `a_{l+1}² − a_l²` is conserved (D = 2…5), so balanced layers stay balanced and
   a two-layer mode keeps `λ = b² − a²` (the sign of Dominé et al.: `W2ᵀW2 − W1W1ᵀ = λI`).
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import _matrices as mx
from derivations._page import Derivation
from derivations._symbols import lam, s

NAME = "conservation"


@functools.cache
def derive() -> Derivation:
    d = Derivation(
        NAME, "Conserved layer imbalances",
        sources="Standard (e.g. Arora, Cohen & Hazan 2018, arXiv:1802.06509); theory pages "
                "[setting](../theory/setting.md#conserved-layer-imbalances), "
                "[modes](../theory/modes.md) (balanced init, Saxe et al. 2014) and "
                "[two layers](../theory/two_layer.md) (λ-balanced init, Dominé et al. 2025, "
                "arXiv:2409.14623).",
        statement=r"Under gradient flow on any loss of the product $W_D\cdots W_1$, every layer "
                  r"imbalance $W_{l+1}^\top W_{l+1} - W_l W_l^\top$ is constant in time. For "
                  r"aligned modes this says $a_{l+1}^2 - a_l^2$ is conserved: balanced layers stay "
                  r"balanced, and a two-layer mode keeps $\lambda = b^2 - a^2$.")
    _general(d)
    _explicit(d)
    _modes(d)
    return d


def _general(d: Derivation) -> None:
    d.section("Any depth, any sizes, any loss of the product")
    d.say(r"Fix a layer $l$ and write $P_a = W_D\cdots W_{l+2}$ (above), $P_b = W_{l-1}\cdots "
          r"W_1$ (below). For a loss $\ell(W)$ of the product, $-\partial\ell/\partial W_l = "
          r"(W_D\cdots W_{l+1})^\top E\,(W_{l-1}\cdots W_1)^\top$ with "
          r"$E = -\partial\ell/\partial W$"
          r" (for the squared error $E = \Sigma^{yx} - W\Sigma^{xx}$; see the mode-ODE page), so")
    m, k, n1, n0, n = sp.symbols("m k n_1 n_0 n", integer=True, positive=True)
    Pa = sp.MatrixSymbol("P_a", m, k)
    Wn = sp.MatrixSymbol("W_{l+1}", k, n1)
    Wl = sp.MatrixSymbol("W_l", n1, n0)
    Pb = sp.MatrixSymbol("P_b", n0, n)
    E = sp.MatrixSymbol("E", m, n)
    dWn = Pa.T * E * (Wl * Pb).T
    dWl = (Pa * Wn).T * E * Pb.T
    d.show(r"\dot W_{l+1} = " + sp.latex(dWn), dWl, rel=r",\qquad \dot W_l =")
    rate = dWn.T * Wn + Wn.T * dWn - (dWl * Wl.T + Wl * dWl.T)
    d.check_zero(r"$\frac{d}{dt}\big(W_{l+1}^\top W_{l+1} - W_l W_l^\top\big) = \dot W_{l+1}^\top "
                 r"W_{l+1} + W_{l+1}^\top\dot W_{l+1} - \dot W_l W_l^\top - W_l\dot W_l^\top$ "
                 r"vanishes for matrix symbols of arbitrary sizes", rate,
                 reduce=lambda e: sp.simplify(e.doit()), how="`doit` and `simplify`",
                 display=False)


def _explicit(d: Derivation) -> None:
    d.section("Explicit matrices and the squared error")
    d.say(r"The same with explicit symbolic entries, the squared-error flow, a general symmetric "
          r"$\Sigma^{xx}$ and a general $\Sigma^{yx}$:")
    cases = []
    for widths in ((2, 3, 2), (2, 2, 3, 2)):
        depth = len(widths) - 1
        weights = [mx.general(f"W{l + 1}", widths[l + 1], widths[l]) for l in range(depth)]
        sxx, syx = mx.symmetric(r"\sigma", widths[0]), mx.general("c", widths[-1], widths[0])
        flows = mx.flow(weights, sxx, syx, sp.eye(widths[0]), lambda l: sp.eye(widths[l]))
        for l in range(depth - 1):
            upper, lower = weights[l + 1], weights[l]
            d_upper, d_lower = flows[l + 1], flows[l]
            rate = (d_upper.T * upper + upper.T * d_upper) - (d_lower * lower.T + lower * d_lower.T)
            cases.append((f"$D = {depth}$, widths {widths}, $l = {l + 1}$", rate,
                          sp.zeros(*rate.shape)))
    d.check_cases(r"$\frac{d}{dt}\big(W_{l+1}^\top W_{l+1} - W_l W_l^\top\big) = 0$", cases,
                  reduce=lambda e: e.applyfunc(sp.expand), how="`expand`")


def _modes(d: Derivation) -> None:
    d.section("Aligned modes")
    d.say(r"For aligned layers the imbalance is diagonal, entry $a_{l+1,\alpha}^2 - "
          r"a_{l,\alpha}^2$. Directly from the mode equation $\dot a_l = \prod_{k\neq l}a_k\,"
          r"(s-\lambda\prod_k a_k)$:")
    cases = []
    for depth in (2, 3, 4, 5):
        amp = sp.symbols(f"a_1:{depth + 1}", real=True)
        prod = sp.Mul(*amp)
        velocity = [prod / amp[l] * (s - lam * prod) for l in range(depth)]
        for l in range(depth - 1):
            cases.append((f"$D = {depth}$, $l = {l + 1}$",
                          2 * amp[l + 1] * velocity[l + 1] - 2 * amp[l] * velocity[l], sp.S.Zero))
    d.check_cases(r"$\frac{d}{dt}(a_{l+1}^2 - a_l^2) = 2a_{l+1}\dot a_{l+1} - 2a_l\dot a_l = 0$",
                  cases, reduce=sp.expand, how="`expand`")
    d.say(r"So a balanced mode ($a_l = a$ for all $l$) stays balanced, which the reduced ODE "
          r"$\dot u = D u^{2-2/D}(s-\lambda u)$ assumes. For two layers, $a$ (input side) and $b$ "
          r"(output side), the conserved number is")
    a_in, b_out = sp.symbols("a b", real=True)
    d.result("two_layer_imbalance", b_out**2 - a_in**2, (a_in, b_out), lhs=r"\lambda",
             text=r"conserved imbalance of a two-layer mode (sign: $W_2^\top W_2 - W_1W_1^\top "
                  r"= \lambda I$)",
             code="`tests/test_derivations.py`: constant along a DOP853 solve of the matrix flow")
    d.say(r"with the sign convention $W_2^\top W_2 - W_1 W_1^\top = \lambda I$ of Dominé et al. "
          r"Every aligned two-layer initialisation is therefore $\lambda$-balanced mode by mode; "
          r"its explicit solution is on the unbalanced two-layer page.")


if __name__ == "__main__":
    from derivations import write_page

    print(f"wrote {write_page(derive())}")
