"""dln.schedule: chained exact solutions across task switches against gradient descent, the
composition property, the reversal stall, labels and refusals."""

import jax
import numpy as np
import pytest

import dln
from dln import schedule, task_pairs


def _task(rng, s):
    n = len(s)
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return dln.Task(np.eye(n), U @ np.diag(s) @ V.T)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    return _task(rng, [3.0, 2.0, 1.0, 0.5]), _task(rng, [2.5, 1.5, 1.0, 0.3])


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_chained_riccati_matches_gradient_descent(pair, lam):
    """Pre-training lengths 2, 5, 8 on A, then 6 on B: the exact chained solution and one
    batched gradient-descent loop differ by O(lr) (slope 1 in lr)."""
    A, B = pair
    w = dln.init.balanced(jax.random.key(0), [4, 4, 4], 0.1, lam=lam)
    sched = [(A, np.array([2.0, 5.0, 8.0])), (B, 6.0)]
    exact = schedule.solve(sched, weights=w, t=np.linspace(0, 14, 29))
    assert exact.methods == ("exact-riccati", "exact-riccati") and exact.is_exact
    assert exact.map.shape == (3, 29, 4, 4) and exact.losses.shape == (3, 29, 2)
    np.testing.assert_array_equal(exact.phase[0], np.searchsorted([2.0, 8.0], exact.t))
    bound = min(dln.lr_bound(A, 2), dln.lr_bound(B, 2))
    lrs = np.array([0.0125, 0.00625, 0.003125])
    assert np.all(lrs <= 0.04 * bound)
    errors = []
    for lr in lrs:
        sim = schedule.simulate(sched, w, lr=lr, every=int(round(0.5 / lr)))
        assert sim.map.shape == exact.map.shape
        np.testing.assert_allclose(sim.t, exact.t, atol=1e-12)
        errors.append(np.abs(np.asarray(sim.map) - np.asarray(exact.map)).max())
    slope = np.polyfit(np.log(lrs), np.log(errors), 1)[0]
    assert 0.9 <= slope <= 1.1, (errors, slope)
    # records after a shorter schedule's end hold its final map
    np.testing.assert_allclose(exact.map[0, -1], dln.network.product(
        [w_[0] for w_ in exact.final_weights]), atol=1e-12)


def test_chaining_is_exact(pair):
    """Solving A for 1.5 then A for 2.5 is solving A for 4 (λ is conserved, the hidden
    rotation of final_weights is invisible)."""
    A, _ = pair
    w = dln.init.balanced(jax.random.key(1), [4, 4, 4], 0.2, lam=0.5)
    chained = schedule.solve([(A, 1.5), (A, 2.5)], weights=w, t=np.linspace(0, 4, 9))
    direct = dln.solve(A, weights=w, t=np.linspace(0, 4, 9))
    np.testing.assert_allclose(chained.map, direct.map, atol=1e-12)
    lam0 = dln.riccati.lambda_balance(w)[0]
    lam1, resid = dln.riccati.lambda_balance(chained.final_weights)
    assert lam1 == pytest.approx(lam0, abs=1e-12) and resid < 1e-12


def test_reversal_stall_is_detected_and_explained(pair):
    """B = −A: every learned mode of A starts B with the wrong sign. From aligned weights the
    Riccati solution flags them stalled and the network goes to the saddle W = 0 (loss ½Σs²);
    gradient descent does the same. From random weights, short pre-training leaves enough
    off-manifold components to escape; long pre-training decays them below the stall
    threshold and the network stalls."""
    A, _ = pair
    R = task_pairs.reversal(A)
    saddle_loss = 0.5 * float(np.sum(np.asarray(A.s) ** 2))
    w = dln.init.aligned(A, 2, u0=1e-3)
    exact = schedule.solve([(A, 10.0), (R, 20.0)], weights=w)
    assert not np.asarray(exact.stalled[0]).any() and np.asarray(exact.stalled[1]).all()
    assert float(exact.losses[-2, 0]) < 1e-4  # A was learned
    assert float(exact.final_loss) == pytest.approx(saddle_loss, rel=1e-6)
    # gradient descent goes to the saddle too; in floating point, rounding (~1e-16) puts it off
    # the stable manifold, from which it would escape only after t ≈ ln(1e16)/s_max ≈ 12
    sim = schedule.simulate([(A, 10.0), (R, 6.0)], w, lr=0.01, every=100)
    assert float(sim.final_loss) == pytest.approx(saddle_loss, rel=1e-3)

    wr = dln.init.balanced(jax.random.key(0), [4, 4, 4], 1e-2)
    T = np.array([2.0, 20.0])
    exact = schedule.solve([(A, T), (R, 20.0)], weights=wr)
    stalled = np.asarray(exact.stalled[:, 1])
    assert not stalled[0].any() and stalled[1].any()
    final = np.asarray(exact.final_loss)
    assert final[0] < 1e-3 and final[1] > 0.5 * saddle_loss


def test_deep_schedule_is_a_labelled_numerical_flow(pair):
    A, B = pair
    w = dln.init.balanced(jax.random.key(2), [4, 4, 4, 4], 0.3)
    traj = schedule.solve([(A, 1.0), (B, 1.0)], weights=w, t=[0.0, 1.0, 2.0])
    assert traj.methods == ("numerical-flow", "numerical-flow") and not traj.is_exact
    assert traj.error_estimate is not None and float(np.max(traj.error_estimate)) < 1e-6
    sim = schedule.simulate([(A, 1.0), (B, 1.0)], w, lr=1e-3, every=1000)
    assert np.abs(np.asarray(sim.map) - np.asarray(traj.map)).max() < 0.05


def test_bad_input(pair):
    A, B = pair
    w = dln.init.balanced(jax.random.key(0), [4, 4, 4], 0.1)
    with pytest.raises(ValueError, match="whole numbers of steps"):
        schedule.simulate([(A, 1.005), (B, 1.0)], w, lr=0.01)
    with pytest.raises(ValueError, match="same length"):
        schedule.solve([(A, [1.0, 2.0]), (B, [1.0, 2.0, 3.0])], weights=w)
    with pytest.raises(ValueError, match=">= 0"):
        schedule.solve([(A, -1.0)], weights=w)
    with pytest.raises(TypeError, match="pair"):
        schedule.solve([A], weights=w)
    with pytest.raises(ValueError, match="same \\(n_out, n_in\\)"):
        schedule.solve([(A, 1.0), (dln.Task(np.eye(3), np.eye(3)), 1.0)], weights=w)
    with pytest.raises(ValueError, match="lr_bound"):
        schedule.simulate([(A, 1.0)], w, lr=1.0)
