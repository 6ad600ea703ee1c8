"""Matrix helpers for the derivations: the loss, its gradient flow, and symbolic matrices.

Conventions (the public contract of `dln`): data rows are samples, `X (P, Ni)`, `Y (P, No)`;
`Σxx = XᵀX/P`, `Σyx = YᵀX/P`; weights `[W1, …, WD]` with `W_l` of shape `(out, in)`; the loss is
`L = 1/(2P) Σ_μ ‖y_μ − W_D⋯W_1 x_μ‖²` and the flow is `dW_l/dt = −∂L/∂W_l` (τ = 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp


def general(name: str, rows: int, cols: int) -> sp.Matrix:
    """A matrix of independent symbols `name_{ij}` (1-based)."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{{{i + 1}{j + 1}}}", real=True))


def symmetric(name: str, n: int) -> sp.Matrix:
    """A symmetric matrix of symbols `name_{ij}`, `i ≤ j`."""
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{{{min(i, j) + 1}{max(i, j) + 1}}}",
                                                   real=True))


def product(weights: Sequence, identity):
    """`W_D ⋯ W_1` for `weights = [W_1, …, W_D]` (the identity when empty)."""
    out = identity
    for weight in weights:
        out = weight * out
    return out


def loss(weights: Sequence[sp.Matrix], sxx, syx, syy):
    """`L = ½ tr(W Σxx Wᵀ) − tr(Σyx Wᵀ) + ½ tr Σyy` with `W = W_D⋯W_1` (explicit matrices)."""
    net = product(weights, sp.eye(weights[0].shape[1]))
    return (net * sxx * net.T).trace() / 2 - (syx * net.T).trace() + syy.trace() / 2


def flow(weights: Sequence, sxx, syx, identity_in, identity_of) -> list:
    """`dW_l/dt = (W_D⋯W_{l+1})ᵀ (Σyx − W Σxx) (W_{l−1}⋯W_1)ᵀ` for every layer.

    `identity_in` is the identity on the input space; `identity_of(l)` the identity on the output
    space of layer `l` (1-based), used for the empty product above the last layer.
    """
    depth = len(weights)
    error = syx - product(weights, identity_in) * sxx
    out = []
    for l in range(1, depth + 1):
        above = product(weights[l:], identity_of(l))
        below = product(weights[: l - 1], identity_in)
        out.append(above.T * error * below.T)
    return out


def diagonal_mode_flows(depths, modes: int, gamma=0):
    """The aligned ansatz in symbols: for each depth, diagonal layers `diag(a_{l,α})` with
    `diag(λ_α)`, `diag(s_α)` as the statistics. Yields `(depth, l, flow, expected)` per layer
    (0-based `l`): the matrix flow of layer `l` (with the weight decay `−γ W_l`) and the diagonal
    its entries should have, `Π_{k≠l} a_k (s − λ Π_k a_k) − γ a_l` per mode."""
    s_m = sp.symbols(f"s_1:{modes + 1}", positive=True)
    lam_m = sp.symbols(f"lambda_1:{modes + 1}", positive=True)
    for depth in depths:
        amp = [[sp.Symbol(f"a_{{{l + 1}{m + 1}}}", real=True) for m in range(modes)]
               for l in range(depth)]
        weights = [sp.diag(*row) for row in amp]
        flows = flow(weights, sp.diag(*lam_m), sp.diag(*s_m), sp.eye(modes),
                     lambda l: sp.eye(modes))
        for l in range(depth):
            expected = sp.diag(*[
                sp.Mul(*[amp[k][m] for k in range(depth) if k != l])
                * (s_m[m] - lam_m[m] * sp.Mul(*[amp[k][m] for k in range(depth)]))
                - gamma * amp[l][m] for m in range(modes)])
            yield depth, l, flows[l] - gamma * weights[l], expected
