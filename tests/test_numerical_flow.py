"""dln.numerical_flow: the gradient flow integrated numerically (diffrax's Dopri8), with an error
estimate: against the exact solutions where they apply (two-layer Riccati, aligned deep modes,
the explicit unbalanced mode solution of the derivations) and against scipy's DOP853 elsewhere."""

import functools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import derivations
import dln
from dln import numerical_flow, riccati

# One number of records everywhere (one compilation per network shape).
TIMES = np.array([0.0, 0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 50.0,
                  200.0, 1e3])
SHORT = np.linspace(0.0, 10.0, TIMES.size)
DEEP = [4, 4, 4, 5]


def _task(n_in, n_out, seed, correlated=False):
    rng = np.random.default_rng(seed)
    sxx = np.eye(n_in)
    if correlated:
        A = rng.normal(size=(n_in, n_in))
        sxx = A @ A.T / n_in + 0.2 * np.eye(n_in)
    return dln.Task(sxx, rng.normal(size=(n_out, n_in)))


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.linalg.norm(a - b, axis=(-2, -1)) / np.linalg.norm(b, axis=(-2, -1))


@pytest.mark.parametrize("lam", [-2.0, 0.0, 0.5])
def test_matches_the_riccati_solution_and_the_estimate_is_honest(lam):
    task = _task(4, 5, seed=1)
    weights = dln.init.balanced(jax.random.key(2), [4, 3, 5], 0.4, lam)
    sol = numerical_flow.integrate(task, weights, TIMES)
    exact = riccati.two_layer_trajectory(task, weights, TIMES).map
    actual = np.linalg.norm(np.asarray(sol.map) - np.asarray(exact), axis=(-2, -1))
    norm = np.linalg.norm(np.asarray(exact), axis=(-2, -1))
    assert np.max(actual / norm) <= 1e-9
    estimate = np.asarray(sol.error_estimate)
    assert np.all(actual <= estimate + 1e-14 * norm), (actual, estimate)  # honest
    assert np.max(estimate / norm) <= 1e-7  # and useful
    assert int(sol.n_steps) > 0


@functools.cache
def _unbalanced_u():
    fn = derivations.derive("unbalanced_two_layer").results["u"].function("mpmath")

    def call(*args):
        with mpmath.workdps(60):
            return fn(*(mpmath.mpf(float(v)) for v in args))

    return call


def test_unbalanced_aligned_modes_match_the_explicit_solution():
    """Each mode with its own imbalance b² − a²: not λ-balanced as a matrix (no Riccati
    solution), but every mode follows the explicit unbalanced solution (derivations, mpmath)."""
    task = _task(4, 5, seed=3)
    a0, b0 = np.array([0.3, -0.4, 1.2]), np.array([0.5, 0.7, 0.1])
    W1 = a0[:, None] * np.asarray(task.V)[:, :3].T
    W2 = np.asarray(task.U)[:, :3] * b0
    with pytest.raises(ValueError, match="λ-balanced"):
        riccati.two_layer_solution(task, [W1, W2])
    sol = numerical_flow.integrate(task, [W1, W2], SHORT)
    modes = np.asarray(task.mode_strengths(sol.map))
    s = np.asarray(task.s)
    for k in range(3):
        for i in range(0, SHORT.size, 3):
            ref = float(_unbalanced_u()(SHORT[i], a0[k], b0[k], s[k]))
            assert abs(modes[i, k] - ref) <= 1e-9 * max(abs(ref), 1e-3), (k, SHORT[i])
    np.testing.assert_allclose(modes[:, 3], 0.0, atol=1e-15)  # mode 4 has no hidden unit


def _scipy_flow(task, weights, times):
    """The full weight flow by scipy's DOP853 (numpy, independent of dln)."""
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)
    shapes = [w.shape for w in weights]
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def unpack(y):
        return [y[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes)]

    def rhs(_, y):
        W = unpack(y)
        W1, W2, W3 = W
        err = syx - W3 @ W2 @ W1 @ sxx
        return np.concatenate([((W3 @ W2).T @ err).ravel(), (W3.T @ err @ W1.T).ravel(),
                               (err @ (W2 @ W1).T).ravel()])

    y0 = np.concatenate([np.asarray(w).ravel() for w in weights])
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, method="DOP853", t_eval=times,
                    rtol=1e-13, atol=1e-15)
    assert sol.success
    return [unpack(y) for y in sol.y.T]


def test_deep_non_aligned_weights_and_correlated_input():
    task = _task(DEEP[0], DEEP[-1], seed=4, correlated=True)
    weights = dln.init.gaussian(jax.random.key(5), DEEP, 0.5)
    sol = numerical_flow.integrate(task, weights, SHORT)
    ref = _scipy_flow(task, weights, SHORT)
    ref_map = np.array([W3 @ W2 @ W1 for W1, W2, W3 in ref])
    assert np.max(_rel(sol.map, ref_map)) <= 1e-9
    assert np.all(np.linalg.norm(np.asarray(sol.map) - ref_map, axis=(-2, -1))
                  <= 10 * np.asarray(sol.error_estimate) + 1e-13)
    # the layer imbalances are conserved by the flow, and by the integration
    W = sol.weights()
    for l in range(2):
        imbalance = jnp.swapaxes(W[l + 1], -1, -2) @ W[l + 1] - W[l] @ jnp.swapaxes(W[l], -1, -2)
        np.testing.assert_allclose(imbalance, np.broadcast_to(imbalance[0], imbalance.shape),
                                   atol=1e-10)
    assert float(task.loss(sol.map[-1])) < float(task.loss(sol.map[0]))


def test_deep_aligned_weights_match_the_exact_modes():
    task = _task(DEEP[0], DEEP[-1], seed=6)
    u0 = np.array([1e-3, 0.05, 0.3, 2.0])
    weights = dln.init.aligned(task, 3, width=4, u0=u0, key=jax.random.key(7))
    sol = numerical_flow.integrate(task, weights, TIMES)
    exact = dln.solve(task, depth=3, u0=u0, t=TIMES)
    np.testing.assert_allclose(task.mode_strengths(sol.map), exact.modes, rtol=1e-9, atol=1e-15)


def test_trajectory_and_time_order():
    task = _task(4, 5, seed=1)
    weights = dln.init.balanced(jax.random.key(2), [4, 3, 5], 0.4, 0.0)
    order = np.random.default_rng(0).permutation(TIMES.size)
    traj = numerical_flow.flow_trajectory(task, weights, TIMES[order])
    assert traj.method == "numerical-flow" and not traj.is_exact and traj.depth == 2
    np.testing.assert_array_equal(traj.t, TIMES[order])
    ref = numerical_flow.integrate(task, weights, TIMES, estimate_error=False)
    assert np.all(np.isnan(ref.error_estimate))
    np.testing.assert_allclose(traj.map, ref.map[order], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(traj.modes, task.mode_strengths(traj.map), rtol=1e-14)
    last = int(np.argmax(order == order[-1]))
    for w, rec in zip(traj.final_weights, traj.recorded_weights):
        np.testing.assert_array_equal(w, rec[last])
    np.testing.assert_allclose(traj.recorded_weights[1][0] @ traj.recorded_weights[0][0],
                               traj.map[0], atol=1e-15)


def test_errors():
    task = _task(4, 5, seed=1)
    weights = dln.init.balanced(jax.random.key(2), [4, 3, 5], 0.4, 0.0)
    with pytest.raises(FloatingPointError, match="max_steps"):
        numerical_flow.integrate(task, weights, TIMES, max_steps=5)
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        numerical_flow.integrate(task, [weights[0], weights[1][:, :2]], TIMES)
    with pytest.raises(ValueError, match="rtol"):
        numerical_flow.integrate(task, weights, TIMES, rtol=0.0)
    with pytest.raises(ValueError, match="t"):
        numerical_flow.integrate(task, weights, -TIMES)
