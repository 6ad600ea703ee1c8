"""dln.simulate: records, ensembles, dtypes, learning-rate checks and divergence."""

import jax.numpy as jnp
import numpy as np
import pytest
from reference import numpy_descent

import dln


@pytest.fixture
def task():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 6)), rng.normal(size=(200, 4))
    return dln.Task.from_data(X, Y)


def test_steps_on_statistics_equal_steps_on_raw_data(task, getkey):
    w0 = dln.init.gaussian(getkey(), [6, 5, 3, 4], 0.3)
    sim = dln.simulate(task, w0, lr=0.05, steps=30, every=10, record_weights=True)
    ref, _ = numpy_descent(np.asarray(task.X), np.asarray(task.Y), w0, 0.05, 30)
    for got, want in zip(sim.final_weights, ref):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    assert sim.t.shape == (4,) and sim.modes.shape == (4, 4) and sim.map.shape == (4, 4, 6)
    np.testing.assert_allclose(sim.t, 0.05 * np.array([0, 10, 20, 30]), rtol=1e-15)
    # records: loss of the recorded map, recorded weights multiply to the map
    P = task.X.shape[0]
    direct = np.sum((np.asarray(task.Y) - np.asarray(task.X) @ np.asarray(sim.map[-1]).T) ** 2)
    np.testing.assert_allclose(sim.loss[-1], direct / (2 * P), rtol=1e-12)
    ws = sim.weights()
    np.testing.assert_allclose(ws[2] @ ws[1] @ ws[0], sim.map, atol=1e-14)
    np.testing.assert_array_equal(ws[0][0], w0[0])
    assert int(sim.diverged_at) == -1


def test_ensemble_is_one_call_equal_to_a_loop(task, getkey):
    inits = [dln.init.gaussian(getkey(), [6, 8, 4], 0.1) for _ in range(3)]
    batched = [jnp.stack(ws) for ws in zip(*inits)]
    lrs = jnp.array([0.05, 0.1, 0.02])
    ens = dln.simulate(task, batched, lr=lrs, steps=40, every=20)
    assert ens.modes.shape == (3, 3, 4) and ens.t.shape == (3, 3) and ens.loss.shape == (3, 3)
    for i in range(3):
        one = dln.simulate(task, inits[i], lr=float(lrs[i]), steps=40, every=20)
        np.testing.assert_allclose(ens.map[i], one.map, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ens.t[i], one.t, rtol=1e-15)
    # batched weights with one learning rate, and one set of weights over several rates
    same_lr = dln.simulate(task, batched, lr=0.05, steps=40, every=20)
    np.testing.assert_allclose(same_lr.map[0], ens.map[0], rtol=1e-12, atol=1e-14)
    sweep = dln.simulate(task, inits[1], lr=lrs, steps=40, every=20)
    np.testing.assert_allclose(sweep.map[1], ens.map[1], rtol=1e-12, atol=1e-14)


def test_float32_runs_in_float32_and_agrees(task, getkey):
    w64 = dln.init.gaussian(getkey(), [6, 5, 4], 0.2)
    w32 = [W.astype(jnp.float32) for W in w64]
    s32 = dln.simulate(task, w32, lr=0.05, steps=200, every=100)
    s64 = dln.simulate(task, w64, lr=0.05, steps=200, every=100)
    assert s32.map.dtype == jnp.float32 and s32.final_weights[0].dtype == jnp.float32
    np.testing.assert_allclose(s32.map, s64.map, rtol=1e-4, atol=1e-5)


def test_learning_rate_bound_is_checked_before_running(task):
    white = dln.Task(np.eye(6), task.sigma_yx)
    w0 = dln.init.aligned(white, 2, u0=1e-2)
    bound = dln.lr_bound(white, 2)
    np.testing.assert_allclose(bound, 1.0 / float(white.s[0]), rtol=1e-12)  # 2/(2 s_max)
    with pytest.raises(ValueError, match="will not converge"):
        dln.simulate(white, w0, lr=1.01 * bound, steps=10)


def test_the_bound_is_sharp_for_depth_one():
    task = dln.Task(np.diag([2.0, 1.0]), np.array([[1.0, 0.5]]))
    bound = dln.lr_bound(task, 1)
    assert bound == pytest.approx(1.0)  # 2 / λ_max(Σxx)
    w0 = [jnp.array([[0.3, -0.2]])]
    ok = dln.simulate(task, w0, lr=0.95 * bound, steps=400, every=400)
    np.testing.assert_allclose(ok.map[-1], task.lstsq_map, atol=1e-6)
    with pytest.raises(dln.DivergenceError, match="diverged"):
        dln.simulate(task, w0, lr=1.1 * bound, steps=20000, every=1000, check_lr=False)


def test_divergence_is_reported_never_silent(task, getkey):
    w0 = dln.init.gaussian(getkey(), [6, 8, 8, 4], 2.0)  # large init: far sharper than the minimum
    with pytest.raises(dln.DivergenceError, match="diverged at step"):
        dln.simulate(task, w0, lr=0.1, steps=100, every=10)
    with pytest.warns(RuntimeWarning, match="diverged"):
        sim = dln.simulate(task, w0, lr=0.1, steps=100, every=10, on_divergence="warn")
    assert int(sim.diverged_at) > 0
    assert not np.all(np.isfinite(sim.loss))


@pytest.mark.parametrize(
    "weights, kwargs, match",
    [
        (lambda: [np.ones((3, 6))], dict(lr=0.1, steps=10), "rows"),
        (lambda: [np.ones((3, 5)), np.ones((4, 3))], dict(lr=0.1, steps=10), "columns"),
        (lambda: [np.ones((3, 6)), np.ones((4, 2))], dict(lr=0.1, steps=10), "columns"),
        (lambda: np.ones((4, 6)), dict(lr=0.1, steps=10), "list"),
        (lambda: [np.ones((4, 6))], dict(lr=-0.1, steps=10), "> 0"),
        (lambda: [np.ones((4, 6))], dict(lr=0.1, steps=10, every=3), "multiple"),
        (lambda: [np.full((4, 6), np.nan)], dict(lr=0.1, steps=10), "NaN"),
        (lambda: [np.ones((2, 4, 6))], dict(lr=np.ones(3) * 0.1, steps=10), "batch"),
    ],
)
def test_bad_input_gets_a_clear_error(task, weights, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dln.simulate(task, weights(), **kwargs)


def test_simulation_time_to_interpolates_records():
    task = dln.Task(np.eye(2), np.diag([2.0, 1.0]))
    w0 = dln.init.aligned(task, 2, u0=1e-3)
    sim = dln.simulate(task, w0, lr=1e-3, steps=8000, every=20)
    exact = dln.solve(task, depth=2, u0=1e-3, t=0.0).time_to(0.5)
    np.testing.assert_allclose(sim.time_to(0.5), exact, rtol=2e-3)
