"""derivations/end_to_end.py against the code: the end-to-end flow of balanced layers, Arora et
al.'s singular-value and singular-vector equations (`dln.completion`) and the reversal stall
across a task switch (`dln.schedule`).

Each recorded result is lambdified (numpy, float64) and compared at seeded random points with
an independent computation: the layer-wise chain rule of balanced layers, central differences of
the SVD, and the exact chained Riccati solution.
"""

import functools

import numpy as np
import pytest

import dln
from derivations import PAGES_DIR, end_to_end
from dln import completion, schedule, task_pairs

DEPTHS = (1, 2, 3, 4)


@functools.cache
def derivation():
    return end_to_end.derive()


def fn(key):
    return derivation().results[key].function("numpy")


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def _balanced(rng, n, depth, c):
    """`W_1 = R_1 C Vᵀ, …, W_D = U C R_{D−1}ᵀ`: exactly balanced layers, `W = U C^D Vᵀ`."""
    frames = [_orthogonal(rng, n) for _ in range(depth + 1)]
    return [frames[l + 1] @ np.diag(c) @ frames[l].T for l in range(depth)]


def _problem(rng, n, rank=2, observed=0.6):
    target = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, n))
    mask = (rng.random((n, n)) < observed).astype(float)
    mask[0, 0] = 1.0
    return completion.Problem(target, mask)


def _product(ws, n):
    out = np.eye(n)
    for w in ws:
        out = w @ out
    return out


def _kernel_matrix(s, depth):
    """`K` from the derivation: `coupling_kernel` off the diagonal, its limit on it."""
    kernel, rate = fn("coupling_kernel"), fn("singular_value_rate")
    off = ~np.eye(s.size, dtype=bool)
    K = np.zeros((s.size, s.size))
    i, j = np.nonzero(off)
    K[i, j] = kernel(s[i], s[j], float(depth))
    K[np.diag_indices(s.size)] = -rate(s, 1.0, float(depth))  # D σ^{2−2/D}
    return K


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


def test_page_is_current_and_records_the_results():
    d = derivation()
    assert (PAGES_DIR / "end_to_end.md").read_text(encoding="utf-8") == d.markdown()
    assert set(d.results) == {"coupling_kernel", "singular_value_rate",
                              "singular_vector_coupling", "reversal_strength"}
    assert d.n_exact > 0 and d.n_numeric > 0


@pytest.mark.parametrize("depth", DEPTHS)
def test_end_to_end_velocity_is_the_layer_flow_and_the_kernel(depth):
    """Balanced layers, masked-loss gradient: the product-rule velocity of the layer flow
    `Ẇ_l = −A_lᵀ ∇L B_lᵀ`, `dln.completion.end_to_end_velocity` and `−U[(UᵀGV)∘K]Vᵀ` with the
    derivation's kernel agree."""
    rng = np.random.default_rng(depth)
    n = 5
    c = np.sort(rng.uniform(0.5, 1.5, n))[::-1]
    ws = _balanced(rng, n, depth, c)
    W = _product(ws, n)
    G = np.asarray(completion.loss_gradient(W, _problem(rng, n)))
    layers = np.zeros((n, n))
    for l in range(1, depth + 1):
        above, below = _product(ws[l:], n), _product(ws[: l - 1], n)
        layers += above @ (-above.T @ G @ below.T) @ below
    code = np.asarray(completion.end_to_end_velocity(W, G, depth))
    U, s, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(s, c**depth, rtol=1e-12)
    formula = -U @ ((U.T @ G @ Vt.T) * _kernel_matrix(s, depth)) @ Vt
    assert _rel(code, layers) < 1e-12
    assert _rel(formula, layers) < 1e-12


@pytest.mark.parametrize("depth", DEPTHS)
def test_singular_value_rates(depth):
    """`dln.completion.singular_value_rates` equals the derivation's `−Dσ^{2−2/D}g` and the
    projections `u_rᵀẆv_r` of the end-to-end velocity."""
    rng = np.random.default_rng(10 + depth)
    n = 5
    W = rng.normal(size=(n, n))
    G = np.asarray(completion.loss_gradient(W, _problem(rng, n)))
    U, s, Vt = np.linalg.svd(W)
    g = np.einsum("ir,ij,rj->r", U, G, Vt)
    code = np.asarray(completion.singular_value_rates(W, G, depth))
    np.testing.assert_allclose(code, fn("singular_value_rate")(s, g, float(depth)), rtol=1e-12)
    velocity = np.asarray(completion.end_to_end_velocity(W, G, depth))
    np.testing.assert_allclose(code, np.einsum("ir,ij,rj->r", U, velocity, Vt), rtol=1e-10,
                               atol=1e-14 * np.abs(code).max())


def _aligned_svd(W, U0, V0):
    U, s, Vt = np.linalg.svd(W)
    sign = np.sign(np.sum(U * U0, axis=0))
    return U * sign, s, Vt.T * sign


def test_singular_vector_coupling_matches_svd_differences():
    """Lemma 2 with the derivation's `F`: `UᵀU̇ = −F∘(ΓS + SΓᵀ)`, `VᵀV̇ = −F∘(SΓ + ΓᵀS)` equal
    central differences of numpy's SVD along `dln.completion.end_to_end_velocity`."""
    rng = np.random.default_rng(3)
    n, depth, h = 4, 3, 1e-6
    W = rng.normal(size=(n, n))
    G = np.asarray(completion.loss_gradient(W, _problem(rng, n)))
    velocity = np.asarray(completion.end_to_end_velocity(W, G, depth))
    U, s, V = _aligned_svd(W, np.eye(n), np.eye(n))
    up, sp_, vp = _aligned_svd(W + h * velocity, U, V)
    um, sm, vm = _aligned_svd(W - h * velocity, U, V)
    Gam, S = U.T @ G @ V, np.diag(s)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    F = np.zeros((n, n))
    F[i, j] = fn("singular_vector_coupling")(s[i], s[j], float(depth))
    assert _rel(U.T @ (up - um) / (2 * h), -F * (Gam @ S + S @ Gam.T)) < 1e-6
    assert _rel(V.T @ (vp - vm) / (2 * h), -F * (S @ Gam + Gam.T @ S)) < 1e-6
    rates = fn("singular_value_rate")(s, np.diag(Gam), float(depth))
    assert _rel((sp_ - sm) / (2 * h), rates) < 1e-6


def test_reversal_strength_matches_the_chained_riccati_solution():
    """A, then B = −A from small aligned balanced weights: in A's bases every mode decays along
    the derivation's `u(t)` (exact chained solution), stays positive and is flagged stalled."""
    rng = np.random.default_rng(5)
    s, lam_in = np.array([2.0, 1.2, 0.8]), 1.5
    A = dln.Task(lam_in * np.eye(3), _orthogonal(rng, 3) @ np.diag(s) @ _orthogonal(rng, 3).T)
    T, t_b = 12.0, np.linspace(0.0, 4.0, 9)
    u0 = 1e-3  # aligned, balanced: W1 = √u0 Vᵀ, W2 = √u0 U, so W2ᵀW2 = W1W1ᵀ = u0 I
    w = [np.sqrt(u0) * np.asarray(A.V).T, np.sqrt(u0) * np.asarray(A.U)]
    exact = schedule.solve([(A, T), (task_pairs.reversal(A), 4.0)], weights=w, t=T + t_b)
    assert exact.methods == ("exact-riccati", "exact-riccati")
    assert np.asarray(exact.stalled[1]).all() and not np.asarray(exact.stalled[0]).any()
    strengths = np.einsum("ia,tij,ja->ta", np.asarray(A.U), np.asarray(exact.map),
                          np.asarray(A.V))
    lam = np.asarray(A.input_variance)
    np.testing.assert_allclose(lam, lam_in, rtol=1e-12)
    u_switch = strengths[0]
    assert np.all(u_switch > 0.9 * np.asarray(A.s) / lam)  # A was learned before the switch
    predicted = fn("reversal_strength")(t_b[:, None], np.asarray(A.s), lam, u_switch)
    np.testing.assert_allclose(strengths, predicted, rtol=1e-9, atol=1e-13)
    assert np.all(strengths > 0)
