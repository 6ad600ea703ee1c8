"""Symbols shared by the derivations, so the same quantity has the same name on every page.

Assumptions are part of a symbol's identity in sympy: two modules that combine expressions must use
these objects, not fresh `Symbol("s")`s.
"""

import sympy as sp

t = sp.Symbol("t", nonnegative=True)  # flow time, t = lr × steps (τ = 1)
tau = sp.Symbol("tau", nonnegative=True)  # normalised time τ = κ t
s = sp.Symbol("s", positive=True)  # singular value of Σyx for the mode
lam = sp.Symbol("lambda", positive=True)  # input variance along the mode, V[:,α]ᵀ Σxx V[:,α]
D = sp.Symbol("D", integer=True, positive=True)  # number of weight matrices
u = sp.Symbol("u", positive=True)  # mode strength of the network map
u0 = sp.Symbol("u_0", positive=True)  # its initial value
w = sp.Symbol("w", positive=True)  # normalised strength u λ / s
w0 = sp.Symbol("w_0", positive=True)
a = sp.Symbol("a", positive=True)  # per-layer strength (balanced), u = a^D; also w^{1/D}
a0 = sp.Symbol("a_0", positive=True)
f = sp.Symbol("f", positive=True)  # a fraction of the target s/λ
x = sp.Symbol("x", positive=True)  # argument of ₂F₁
