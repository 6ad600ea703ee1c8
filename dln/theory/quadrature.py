"""Fixed-cost Chebyshev quadrature: the antiderivative of a smooth function on a panel.

A function `f` on a panel `[lo, hi]` is sampled at the `n` Chebyshev points of the first kind
`x_j = cos(π(j + ½)/n)` (mapped to the panel); its interpolant `Σ_k a_k T_k(x)` has the
coefficients `a = V f` (the discrete cosine transform) and the interpolant's antiderivative,
zero at the left end `x = −1`, the coefficients `b = (hi − lo)/2 · M f` with `M = I V`, `I` the
integration of Chebyshev series (`b_k = (a_{k−1} − a_{k+1})/(2k)`). For `f` analytic in the
Bernstein ellipse of parameter `ρ` around the panel, the error of the antiderivative is
`O(ρ^{−n})`. The matrices are built once per `n` with numpy (`nodes`), and `antiderivative`
evaluates `Σ_k b_k T_k(x)` by Clenshaw's recurrence: a fixed number of multiply-adds, no
iteration that depends on the data, so `jit`, `vmap` and `grad` see straight-line code.

Used by `dln.theory.competition` (the depth >= 3 competition of several pathways).
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from numpy.polynomial import chebyshev as _cheb

__all__ = ["nodes", "antiderivative"]


@functools.cache
def _tables(n: int):
    j = np.arange(n)
    x = np.cos(np.pi * (j + 0.5) / n)
    V = np.cos(np.pi * np.outer(np.arange(n), j + 0.5) / n) * (2.0 / n)
    V[0] /= 2.0
    integrate = np.stack([_cheb.chebint(np.eye(n)[i], lbnd=-1) for i in range(n)], axis=1)
    return x, integrate @ V


def nodes(n: int):
    """`(x (n,), M (n + 1, n))`: the Chebyshev points on `[−1, 1]` and the map from values at
    them to the Chebyshev coefficients of the interpolant's antiderivative (zero at `x = −1`,
    per unit half-width of the panel)."""
    x, M = _tables(int(n))
    return x, M


def antiderivative(b, x):
    """`Σ_k b[..., k] T_k(x)` (Clenshaw) for coefficients `b (..., n + 1)` and `x` broadcasting
    against `b[..., 0]`, `x ∈ [−1, 1]`."""
    n = b.shape[-1]
    two_x = 2.0 * x
    b1 = jnp.zeros_like(b[..., 0] * x)
    b2 = b1
    for k in range(n - 1, 0, -1):
        b1, b2 = b[..., k] + two_x * b1 - b2, b1
    return b[..., 0] + x * b1 - b2
