"""dln.riccati with weight decay: the exact two-layer flow from balanced (λ = 0), non-aligned
weights, `dW/dt = −∂L/∂W − γW`, which is the Riccati solution with `F → F − γI`
(docs/derivations/weight_decay.md, last section).

Checked against the weight flow integrated by scipy's DOP853 at rtol 1e-13 (its own error measured
by a second run at rtol 1e-12), the depth-2 mode solution of `dln.solve` (aligned weights), exact
limits and large times, gradient descent (gap halving with lr), and jit/vmap/grad with γ traced.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.stats import ortho_group

import dln
from dln import riccati

# One number of times for the evaluations (one compilation per shape).
TIMES = np.array([0.0, 0.1, 0.3, 0.7, 1.2, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0])
# Singular values straddling γ = 0.8 (and γ = 0.3): modes with s < γ, and with s > γ.
SINGULAR = np.array([2.6, 1.4, 0.55, 0.2])
TOL = 1e-9  # relative error of the closed form against the reference
REF_TOL = 1e-10  # largest accepted self-error of the reference


def _task(shape, seed=0, c=1.0, s=SINGULAR):
    """A task with prescribed singular values in random (non-aligned) bases."""
    n_in, _, n_out = shape
    k = min(n_in, n_out)
    U = ortho_group.rvs(n_out, random_state=seed) if n_out > 1 else np.ones((1, 1))
    V = ortho_group.rvs(n_in, random_state=seed + 100) if n_in > 1 else np.ones((1, 1))
    syx = U[:, :k] @ np.diag(np.asarray(s, float)[:k]) @ V[:, :k].T
    return dln.Task(c * np.eye(n_in), syx)


def _weights(shape, seed=0, scale=0.5):
    n_in, n_h, n_out = shape
    return [np.asarray(w) for w in dln.init.balanced(jax.random.key(seed), [n_in, n_h, n_out],
                                                     scale, 0.0)]


def _reference(task, weights, times, gamma, rtol=1e-13, atol=1e-15):
    """Maps `(T, No, Ni)` of the full weight flow with weight decay, integrated by DOP853."""
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)
    n_h, n_in = weights[0].shape
    n1 = n_h * n_in

    def unpack(y):
        return y[:n1].reshape(n_h, n_in), y[n1:].reshape(task.n_out, n_h)

    def rhs(_, y):
        W1, W2 = unpack(y)
        err = syx - W2 @ W1 @ sxx
        return np.concatenate([(W2.T @ err - gamma * W1).ravel(),
                               (err @ W1.T - gamma * W2).ravel()])

    y0 = np.concatenate([w.ravel() for w in weights])
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, method="DOP853", t_eval=times, rtol=rtol,
                    atol=atol)
    assert sol.success
    return np.array([W2 @ W1 for W1, W2 in (unpack(y) for y in sol.y.T)])


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(float(np.max(np.linalg.norm(b, axis=(-2, -1)))), 1e-300)
    return float(np.max(np.linalg.norm(a - b, axis=(-2, -1)))) / scale


def _checked_reference(task, weights, times, gamma):
    ref = _reference(task, weights, times, gamma)
    self_error = _rel(_reference(task, weights, times, gamma, rtol=1e-12), ref)
    assert self_error <= REF_TOL, self_error
    return ref


# ------------------------------------------------------------------- against integration
@pytest.mark.parametrize("shape", [(4, 3, 5), (5, 2, 3), (2, 5, 3), (4, 4, 4)])
@pytest.mark.parametrize("gamma", [0.3, 0.8])
def test_matches_dop853_random_balanced_weights(shape, gamma):
    task = _task(shape, seed=sum(shape))
    weights = _weights(shape, seed=len(shape) + shape[1])
    traj = riccati.two_layer_trajectory(task, weights, TIMES, weight_decay=gamma)
    assert traj.method == "exact-riccati" and float(traj.weight_decay) == gamma
    ref = _checked_reference(task, weights, TIMES, gamma)
    assert _rel(traj.map, ref) <= TOL
    np.testing.assert_allclose(traj.loss, task.loss(traj.map), rtol=1e-13)
    # representative weights stay balanced (the decay keeps λ = 0)
    W1, W2 = traj.recorded_weights
    imbalance = jnp.swapaxes(W2, -1, -2) @ W2 - W1 @ jnp.swapaxes(W1, -1, -2)
    assert float(jnp.max(jnp.abs(imbalance))) <= 1e-12


def test_isotropic_non_white_input():
    shape, gamma, c = (3, 2, 4), 0.5, 2.5
    task = _task(shape, seed=7, c=c)
    weights = _weights(shape, seed=8)
    traj = riccati.two_layer_trajectory(task, weights, TIMES, weight_decay=gamma)
    assert _rel(traj.map, _checked_reference(task, weights, TIMES, gamma)) <= TOL


def test_reaches_the_limit_and_stays_finite_at_huge_times():
    """t = 1e3 against DOP853; t = 1e6 finite and at the limit `U diag((s − γ)⁺) Vᵀ` (the hidden
    layer is wide enough for every mode, none stalls)."""
    shape, gamma = (2, 5, 3), 0.8  # hidden layer the widest: unmatched directions decay too
    task = _task(shape, seed=11)
    weights = _weights(shape, seed=12)
    sol = riccati.two_layer_solution(task, weights, weight_decay=gamma)
    times = np.array([0.0, 1.0, 10.0, 100.0, 300.0, 1e3])
    traj = sol.trajectory(times)
    assert _rel(traj.map, _checked_reference(task, weights, times, gamma)) <= TOL
    blocks = sol.blocks(np.array([0.0, 1e3, 1e6, 1e300]))
    for b in (blocks.map, blocks.input_similarity, blocks.output_similarity):
        assert np.all(np.isfinite(np.asarray(b)))
    s = np.asarray(task.s)
    target = np.asarray(task.U) @ np.diag(np.maximum(s - gamma, 0.0)) @ np.asarray(task.V).T
    np.testing.assert_allclose(sol.limit().map, target, atol=1e-12)
    for row in (1, 2, 3):
        np.testing.assert_allclose(blocks.map[row], target, atol=1e-12)
    # the representations converge to V (s − γ)⁺ Vᵀ and U (s − γ)⁺ Uᵀ (balanced)
    np.testing.assert_allclose(blocks.input_similarity[2], np.asarray(task.V) @ np.diag(
        np.maximum(s - gamma, 0.0)) @ np.asarray(task.V).T, atol=1e-12)
    assert not np.any(np.asarray(sol.stalled))


def test_every_mode_below_gamma_decays_without_nan():
    shape, gamma = (3, 3, 3), 3.0  # all s < γ
    task = _task(shape, seed=13)
    weights = _weights(shape, seed=14, scale=1.0)
    times = np.array([0.0, 0.5, 2.0, 5.0])
    traj = riccati.two_layer_trajectory(task, weights, times, weight_decay=gamma)
    assert _rel(traj.map, _checked_reference(task, weights, times, gamma)) <= TOL
    big = riccati.two_layer_trajectory(task, weights, np.array([1e3, 1e6, 1e300]),
                                       weight_decay=gamma)
    assert np.all(np.isfinite(np.asarray(big.map))) and float(jnp.max(jnp.abs(big.map))) == 0.0
    np.testing.assert_allclose(big.loss, task.loss(jnp.zeros_like(big.map[0])), rtol=1e-15)


def test_aligned_weights_are_the_depth2_mode_solution():
    """From `dln.init.aligned` the closed form is the logistic of `s − γ` of `dln.solve`,
    including `s = γ` (algebraic decay, `u0/(1 + 2u0 t)`) and `s < γ`."""
    gamma = 0.55
    task = dln.Task(np.eye(4), np.diag(SINGULAR)[:3])  # s = 2.6, 1.4, 0.55 (= γ)
    u0 = np.array([1e-3, 0.2, 0.3])
    weights = [np.asarray(w) for w in dln.init.aligned(task, 2, u0=u0)]
    times = np.array([0.0, 0.5, 2.0, 6.0, 20.0, 1e3, 1e6])
    exact = riccati.two_layer_trajectory(task, weights, times, weight_decay=gamma)
    modes = dln.solve(task, depth=2, u0=u0, t=times, weight_decay=gamma).modes
    np.testing.assert_allclose(exact.modes, modes, rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(exact.modes[:, 2], u0[2] / (1 + 2 * u0[2] * times), rtol=1e-11)


def test_gamma_zero_reproduces_the_existing_solution_exactly():
    shape = (4, 3, 5)
    task = _task(shape, seed=15)
    for lam in (0.0, 0.7):  # λ ≠ 0 is accepted without weight decay
        weights = [np.asarray(w) for w in dln.init.balanced(jax.random.key(16), [4, 3, 5],
                                                            0.5, lam)]
        plain = riccati.two_layer_solution(task, weights)
        zero = riccati.two_layer_solution(task, weights, weight_decay=0.0)
        assert plain.weight_decay is None and zero.weight_decay is None
        for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(zero)):
            np.testing.assert_array_equal(a, b)
        t1, t2 = plain.trajectory(TIMES), riccati.two_layer_trajectory(task, weights, TIMES,
                                                                          weight_decay=0)
        np.testing.assert_array_equal(t1.map, t2.map)
        assert t1.weight_decay is None and t2.weight_decay is None


def test_stalled_modes_with_weight_decay():
    """A sign-opposed mode with s > γ stalls (reported); with s < γ it just decays."""
    task = dln.Task(np.eye(2), np.diag([2.0, 0.5]))
    W1 = np.diag([0.3, 0.4])
    W2 = np.diag([0.3, -0.4])  # mode 2 opposed
    for gamma, stalled in ((0.2, [False, True]), (0.8, [False, False])):
        sol = riccati.two_layer_solution(task, [W1, W2], weight_decay=gamma)
        np.testing.assert_array_equal(sol.stalled, stalled)
        limit = np.diag([2.0 - gamma, 0.0])
        np.testing.assert_allclose(sol.limit().map, limit, atol=1e-12)
        np.testing.assert_allclose(sol.blocks(np.array([1e4])).map[0], limit, atol=1e-12)


def test_lambda_balanced_weights_are_rejected_with_weight_decay():
    shape = (4, 3, 5)
    task = _task(shape, seed=17)
    weights = [np.asarray(w) for w in dln.init.balanced(jax.random.key(18), [4, 3, 5], 0.5,
                                                        0.5)]
    with pytest.raises(ValueError, match="balanced weights"):
        riccati.two_layer_solution(task, weights, weight_decay=0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        riccati.two_layer_solution(task, _weights(shape), weight_decay=-0.1)
    assert "e^{−2γt}" in riccati.inapplicable_reason(task, weights, weight_decay=0.1)
    assert riccati.inapplicable_reason(task, weights) is None
    assert riccati.inapplicable_reason(task, _weights(shape), weight_decay=0.1) is None
    applies = jax.jit(lambda w, g: riccati.applies(task, w, weight_decay=g))
    assert not bool(applies(weights, 0.1)) and bool(applies(weights, 0.0))
    assert bool(applies(_weights(shape), 0.1))


# ----------------------------------------------------------------- gradient descent
def test_gradient_descent_gap_halves_with_lr():
    shape, gamma = (4, 3, 5), 0.8
    task = _task(shape, seed=19)
    weights = _weights(shape, seed=20)
    horizon, records = 6.0, 12
    lrs = np.array([0.02, 0.01, 0.005])
    gaps = []
    for lr in lrs:
        steps = int(round(horizon / lr))
        sim = dln.simulate(task, weights, lr=float(lr), steps=steps, every=steps // records,
                           weight_decay=gamma)
        exact = riccati.two_layer_trajectory(task, weights, sim.t, weight_decay=gamma)
        gaps.append(float(jnp.max(jnp.abs(sim.map - exact.map))))
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.2)), (gaps, ratios)


# ------------------------------------------------------------------ jit, vmap, grad
def test_jit_vmap_and_grad_with_traced_gamma():
    shape = (3, 2, 4)  # No > Ni: an unmatched direction, μ = 0 at γ = 0
    task = _task(shape, seed=21)
    weights = _weights(shape, seed=22)
    times = TIMES[[0, 3, 6, 9]]

    def loss_at(w1, w2, g):
        return riccati.two_layer_trajectory(task, [w1, w2], times, weight_decay=g).loss

    jitted = jax.jit(loss_at)
    for g in (0.0, 0.3, 1.4):
        np.testing.assert_allclose(jitted(*weights, g), loss_at(*weights, g), rtol=1e-12,
                                   atol=1e-15)
    gs = jnp.array([0.1, 0.8, 3.0])
    batched = jax.vmap(lambda g: jitted(*weights, g))(gs)
    np.testing.assert_allclose(batched, np.stack([loss_at(*weights, float(g)) for g in gs]),
                               rtol=1e-12, atol=1e-15)

    def total_loss(g):
        return jnp.sum(jitted(*weights, g))

    grad = jax.jit(jax.grad(total_loss))
    h = 1e-5
    # γ = 1.4 = s_2: the growth rate s − γ of a pivot direction is 0 (up to rounding)
    for g in (0.3, 1.4):
        fd = (total_loss(g + h) - total_loss(g - h)) / (2 * h)
        np.testing.assert_allclose(grad(g), fd, rtol=1e-6)
    # at γ = 0 (one-sided, second order): the unmatched direction has μ − γ = 0
    fd0 = (-3 * total_loss(0.0) + 4 * total_loss(h) - total_loss(2 * h)) / (2 * h)
    np.testing.assert_allclose(grad(0.0), fd0, rtol=1e-6)
    # and with respect to the weights, along a direction that keeps them balanced
    def scaled(e):
        return jnp.sum(loss_at(weights[0] * (1 + e), weights[1] * (1 + e), 0.3))

    fd = (scaled(h) - scaled(-h)) / (2 * h)
    np.testing.assert_allclose(jax.jit(jax.grad(scaled))(0.0), fd, rtol=1e-6)
    gw = jax.jit(jax.grad(lambda w1: loss_at(w1, weights[1], 0.3)[-1]))(weights[0])
    assert np.all(np.isfinite(np.asarray(gw)))


def test_traced_weight_decay_refuses_imbalanced_weights():
    """With a traced weight decay (possibly > 0) only balanced weights have the closed form:
    λ-balanced weights with λ ≠ 0 are refused, not solved wrongly."""
    task = dln.datasets.hierarchy(3)
    w = dln.init.balanced(jax.random.key(0), [8, 8, 15], 0.3, lam=-0.5)
    with pytest.raises(ValueError, match="balanced weights"):
        jax.jit(lambda g: riccati.two_layer_trajectory(task, w, t=[5.0], weight_decay=g).loss)(0.1)
