"""The unbalanced ("large") initialisation of competing pathways (Kleinman et al. 2024 after Shi
et al. 2022): the integrated per-mode solution against an independent DOP853 integration, its
conserved quantities, the matching initial weights, gradient descent against it (O(lr)), and the
critical-period statistic of Kleinman et al.'s Fig. 1."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dln
from dln import pathways

S = np.array([3.0, 2.0, 1.0])
P0 = (np.array([0.1, -0.2, 0.05]), -0.15)  # first-layer values, either sign
WINDOW = (0.3, 0.4)
T_GRID = np.concatenate([np.linspace(0.0, 0.25, 6), np.linspace(0.5, 3.0, 6)])


@functools.cache
def _task():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return dln.Task(np.eye(3), U[:, :3] @ np.diag(S) @ V.T)


def _reference(depth, p0, c, t, window, gamma=0.0):
    """`dp/dt = (p² + c)^{(D−1)/2}(s − ΣK) − γp`, `dc/dt = −2γc` (pathway 1 frozen in the
    window), by scipy's DOP853 at rtol 1e-13; returns `K = p (p² + c)^{(D−1)/2}`."""
    x0 = np.concatenate([np.array([np.broadcast_to(p, (3,)) for p in p0], float).ravel(),
                         np.full(6, c)])
    onset, length = window
    half = (depth - 1) / 2

    def f(_, x, frozen):
        p, cc = x[:6].reshape(2, 3), x[6:].reshape(2, 3)
        r = (p * p + cc) ** half
        dp, dc = r * (S - (p * r).sum(0)) - gamma * p, -2 * gamma * cc
        if frozen:
            dp[1], dc[1] = 0.0, 0.0
        return np.concatenate([dp.ravel(), dc.ravel()])

    out, x = np.zeros((len(t), 12)), x0
    for a, b, frozen in ((0.0, onset, False), (onset, onset + length, True),
                         (onset + length, np.inf, False)):
        end = min(b, t[-1])
        sol = solve_ivp(f, (a, end), x, method="DOP853", rtol=1e-13, atol=1e-15,
                        dense_output=True, args=(frozen,))
        sel = (t >= a) & (t < b)
        out[sel] = sol.sol(t[sel]).T
        x = sol.y[:, -1]
    p, cc = out[:, :6].reshape(-1, 2, 3), out[:, 6:].reshape(-1, 2, 3)
    return p * (p * p + cc) ** half


@pytest.mark.parametrize("depth,gamma", [(2, 0.0), (5, 0.0), (3, 0.2)])
def test_against_dop853_and_integration_error(depth, gamma):
    runs = [np.asarray(pathways.solve(_task(), depth=depth, u0=P0, t=T_GRID, deficit=WINDOW,
                                      imbalance=1.0, weight_decay=gamma, rtol=r).modes)
            for r in (1e-13, 1e-10)]
    ref = _reference(depth, P0, 1.0, T_GRID, WINDOW, gamma)
    assert np.max(np.abs(runs[0] - ref) / np.abs(ref)) < 1e-9
    assert np.max(np.abs(runs[1] - runs[0]) / np.abs(runs[0])) < 1e-8  # its own error
    traj = pathways.solve(_task(), depth=depth, u0=P0, t=T_GRID, imbalance=1.0,
                          deficit=WINDOW, weight_decay=gamma)
    assert traj.method == pathways.exact.REDUCED and np.all(np.isnan(traj.final))
    np.testing.assert_allclose(traj.u0, ref[0], rtol=1e-14)


@pytest.mark.parametrize("depth", [2, 3])
def test_conserved_quantity(depth):
    """ψ(p_a) − ψ(p_b) with ψ' = (p² + c)^{−(D−1)/2} is constant while both learn:
    arcsinh(p/√c) at depth 2, arctan(p/√c)/√c at depth 3."""
    c = 0.5
    t = T_GRID[:6]  # before the window
    K = np.asarray(pathways.solve(_task(), depth=depth, u0=P0, t=T_GRID, deficit=WINDOW,
                                  imbalance=c).modes)[:6]
    # p from K = p (p² + c)^{(D−1)/2} (increasing in p): Newton from K
    p = np.cbrt(K) if depth == 3 else K.copy()
    for _ in range(60):
        r = (p * p + c) ** ((depth - 1) / 2)
        slope = r + (depth - 1) * p * p * (p * p + c) ** ((depth - 3) / 2)
        p = p - (p * r - K) / slope
    psi = np.arcsinh(p / np.sqrt(c)) if depth == 2 else np.arctan(p / np.sqrt(c)) / np.sqrt(c)
    gap = psi[:, 0] - psi[:, 1]
    np.testing.assert_allclose(gap, np.broadcast_to(gap[0], gap.shape), rtol=1e-10, atol=1e-12)
    assert t[-1] < WINDOW[0]


def test_aligned_weights_and_gradient_descent_at_order_one():
    depth, c, T = 3, 1.0, 1.0
    weights = pathways.aligned(_task(), depth, P0, imbalance=c, width=5,
                               key=jax.random.key(3))
    K0 = _task().mode_strengths(jnp.stack([ws[2] @ ws[1] @ ws[0] for ws in weights]))
    exact = pathways.solve(_task(), depth=depth, u0=P0, t=[0.0, T], imbalance=c,
                           deficit=WINDOW).modes
    np.testing.assert_allclose(K0, exact[0], rtol=1e-13)
    # the imbalance q² − p² = c on every mode: W2ᵀW2 − W1W1ᵀ = c on the modes' hidden directions
    W1, W2 = weights[0][0], weights[0][1]
    hidden = W1 @ _task().V / np.asarray(P0[0])  # the modes' directions in the hidden layer
    np.testing.assert_allclose(hidden.T @ (W2.T @ W2 - W1 @ W1.T) @ hidden, c * np.eye(3),
                               atol=1e-12)
    lrs = np.array([4e-3, 2e-3, 1e-3])
    errors = []
    for lr in lrs:
        steps = int(round(T / lr))
        sim = pathways.simulate(_task(), weights, lr=float(lr), steps=steps, every=steps,
                                deficit=WINDOW)
        errors.append(np.max(np.abs(np.asarray(sim.modes[-1] - exact[-1]))))
    slope = np.polyfit(np.log(lrs), np.log(errors), 1)[0]
    assert 0.9 < slope < 1.1 and errors[-1] < 5e-3, errors


# Kleinman et al. (2024) Fig. 1: one mode s = 10, λ = 1, "large" init c = 1, first layers
# p_a, p_b ~ N(0, 0.01²); pathway b frozen early [0, 0.015) or late [0.1, 0.115); the mean final
# (K_a − K_b)/(K_a + K_b) at flow time 1, over 100 initial conditions. A replication of the
# authors' code (Euler, dt = 0.001) found +0.14/+0.11 (D = 2), +0.65/+0.01 (5), +0.82/−0.01
# (8), +0.91/−0.02 (13); this sample gives +0.147/+0.104, +0.674/+0.005, +0.844/−0.023,
# +0.924/−0.037 (std 0.1 does not reproduce: +0.49/−0.05 at D = 5).
FIG1 = {2: (0.147, 0.104), 13: (0.924, -0.037)}


@pytest.mark.parametrize("depth", sorted(FIG1))
def test_kleinman_fig1_statistic(depth):
    task = dln.Task(np.eye(1), np.array([[10.0]]))
    p = np.random.default_rng(0).normal(0.0, 0.01, size=(100, 2))

    def one(pa, pb, onset):
        K = pathways.solve(task, depth=depth, u0=(pa, pb), t=1.0, imbalance=1.0,
                           deficit=pathways.Freeze(1, onset, 0.015)).modes[-1, :, 0]
        return (K[0] - K[1]) / (K[0] + K[1])

    onsets = jnp.repeat(jnp.array([0.0, 0.1]), 100)
    split = jax.jit(jax.vmap(one))(jnp.tile(p[:, 0], 2), jnp.tile(p[:, 1], 2), onsets)
    early, late = np.asarray(split).reshape(2, 100).mean(1)
    np.testing.assert_allclose([early, late], FIG1[depth], atol=1e-3)
    assert early > late + 0.04  # the critical period: the early deficit is the permanent one


def test_bad_arguments():
    with pytest.raises(ValueError, match="`imbalance`"):
        pathways.solve(_task(), depth=2, u0=P0, t=1.0, imbalance=-1.0)
    with pytest.raises(TypeError, match="`imbalance`"):
        pathways.solve(_task(), depth=2, u0=P0, t=1.0, imbalance="large")
    with pytest.raises(ValueError, match="hidden widths"):
        pathways.aligned(_task(), 3, P0, imbalance=1.0, width=2)
    with pytest.raises(ValueError, match="`imbalance`"):
        pathways.aligned(_task(), 3, P0, imbalance=-1.0)
