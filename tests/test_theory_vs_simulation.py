"""Exact theory against gradient descent: the gap is O(lr), so it halves when lr halves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln


def _whitened_task(seed=0, No=4, Ni=5):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(No, No)))
    V, _ = np.linalg.qr(rng.normal(size=(Ni, Ni)))
    s = np.array([2.0, 1.4, 0.9, 0.6])[: min(No, Ni)]
    return dln.Task(np.eye(Ni), U[:, : len(s)] @ np.diag(s) @ V[:, : len(s)].T)


def _gap(task, depth, u0, lr, horizon, n_records=40):
    steps = int(round(horizon / lr))
    every = max(steps // n_records, 1)
    steps = every * (steps // every)
    sim = dln.simulate(task, dln.init.aligned(task, depth, u0=u0), lr=lr, steps=steps,
                       every=every)
    theory = dln.solve(task, depth=depth, u0=u0, t=sim.t)
    np.testing.assert_allclose(sim.t, theory.t, rtol=1e-15)
    return float(jnp.max(jnp.abs(sim.modes - theory.modes)))


def _slope(lrs, errors):
    return np.polyfit(np.log(lrs), np.log(errors), 1)[0]


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_gradient_descent_converges_to_the_exact_flow_linearly_in_lr(depth):
    task = _whitened_task()
    u0 = 0.05
    # long enough for every mode to be learned: 3 × the slowest mode's time to 90 %
    horizon = 3.0 * float(dln.solve(task, depth=depth, u0=u0, t=0.0).time_to(0.9)[-1])
    # small enough for the O(lr) term to dominate the O(lr²) one
    lrs = dln.lr_bound(task, depth) * np.array([0.04, 0.02, 0.01])
    errors = np.array([_gap(task, depth, u0, lr, horizon) for lr in lrs])
    slope = _slope(lrs, errors)
    assert 0.9 <= slope <= 1.1, (errors, slope)
    assert errors[-1] < 0.05 * task.s[0], errors


def test_one_hot_items_non_white_input_linear_in_lr():
    # one-hot items give sigma_xx = I/P: each mode obeys du/dt = D u^{2−2/D}(s − u/P)
    rng = np.random.default_rng(1)
    P = 6
    Y = rng.normal(size=(P, 3))
    task = dln.Task.from_data(np.eye(P), Y)
    np.testing.assert_allclose(task.input_variance, 1 / P, rtol=1e-12)
    depth, u0 = 3, 0.05
    horizon = 2.0 * float(dln.solve(task, depth=depth, u0=u0, t=0.0).time_to(0.9)[-1])
    # small enough for the O(lr) term to dominate the O(lr²) one
    lrs = dln.lr_bound(task, depth) * np.array([0.04, 0.02, 0.01])
    errors = np.array([_gap(task, depth, u0, lr, horizon) for lr in lrs])
    assert 0.9 <= _slope(lrs, errors) <= 1.1, errors
    # the absolute loss of the theory matches the data at the end
    traj = dln.solve(task, depth=depth, u0=u0, t=[10 * horizon])
    np.testing.assert_allclose(traj.loss[-1], task.min_loss, atol=1e-10)


def test_layer_imbalance_is_conserved_by_the_flow():
    """W_{l+1}ᵀW_{l+1} − W_l W_lᵀ is conserved by gradient flow; gradient descent drifts by
    O(lr) over a fixed flow time, so the drift halves with lr."""
    task = _whitened_task(2)
    key = jax.random.key(0)
    w0 = dln.init.gaussian(key, [5, 6, 6, 4], 0.4)

    def imbalance(ws):
        return [ws[l + 1].T @ ws[l + 1] - ws[l] @ ws[l].T for l in range(len(ws) - 1)]

    before = imbalance(w0)
    drifts = []
    lrs = np.array([0.02, 0.01, 0.005])
    for lr in lrs:
        steps = int(round(8.0 / lr))
        sim = dln.simulate(task, w0, lr=lr, steps=steps, every=steps)
        after = imbalance(sim.final_weights)
        drifts.append(max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(after, before)))
        # the network did learn: the loss fell a lot
        assert sim.loss[-1] < 0.05 * sim.loss[0]
    scale = max(float(jnp.max(jnp.abs(b))) for b in before)
    assert drifts[-1] < 0.02 * scale, (drifts, scale)
    assert 0.9 <= _slope(lrs, np.array(drifts)) <= 1.1, drifts


def test_small_random_init_learns_modes_in_order_and_reaches_least_squares():
    task = _whitened_task(3)
    key = jax.random.key(1)
    w0 = dln.init.gaussian(key, [5, 16, 4], 1e-3)
    sim = dln.simulate(task, w0, lr=0.02, steps=2000, every=10)
    times = sim.time_to(0.5)
    assert np.all(np.isfinite(times)) and np.all(np.diff(times) > 0), times
    np.testing.assert_allclose(sim.map[-1], task.lstsq_map, atol=1e-8)
    # the exact small-init theory predicts the half-learning times up to the random start
    theory = dln.solve(task, depth=2, u0=1e-6, t=0.0).time_to(0.5)
    assert np.all(np.diff(theory) > 0)


def test_narrow_network_reaches_the_best_low_rank_map():
    task = _whitened_task(4)
    w0 = dln.init.gaussian(jax.random.key(2), [5, 2, 2, 4], 0.05)
    sim = dln.simulate(task, w0, lr=0.02, steps=5000, every=5000)
    best = task.U[:, :2] @ np.diag(task.s[:2]) @ task.V[:, :2].T
    np.testing.assert_allclose(sim.map[-1], best, atol=1e-6)
    np.testing.assert_allclose(sim.modes[-1, 2:], 0.0, atol=1e-6)
