"""`dln.simulate` with learning-rate schedules (a callable step → lr, optax's convention) and
weight decay: flow time `t = Σ lr`, the exact flow of an annealed run, and the decayed step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln.network import loss_gradients


def _task(seed=0):
    rng = np.random.default_rng(seed)
    return dln.Task(np.eye(4), rng.normal(size=(3, 4)))


def test_a_constant_schedule_is_the_number(getkey):
    task = _task()
    ws = dln.init.gaussian(getkey(), [4, 5, 3], 0.1)
    plain = dln.simulate(task, ws, lr=0.05, steps=200, every=20)
    sched = dln.simulate(task, ws, lr=lambda k: 0.05, steps=200, every=20)
    np.testing.assert_array_equal(sched.map, plain.map)
    np.testing.assert_allclose(sched.t, plain.t, rtol=1e-13)


def test_flow_time_is_the_sum_of_the_rates(getkey):
    task = _task()
    ws = dln.init.gaussian(getkey(), [4, 5, 3], 0.1)

    def cosine(k):  # optax.cosine_decay_schedule(0.1, 300), written out
        return 0.1 * 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(k, 300) / 300)) + 1e-4

    sim = dln.simulate(task, ws, lr=cosine, steps=300, every=30)
    rates = np.array([float(cosine(k)) for k in range(300)])
    np.testing.assert_allclose(sim.t, np.concatenate([[0.0], np.cumsum(rates)[29::30]]),
                               rtol=1e-12)
    # the same steps written out by hand
    W = [np.asarray(w) for w in ws]
    for k in range(300):
        W = [w - rates[k] * np.asarray(g) for w, g in zip(W, loss_gradients(W, task.sigma_xx,
                                                                          task.sigma_yx))]
    np.testing.assert_allclose(sim.final_map, W[1] @ W[0], atol=1e-13)


def test_the_exact_flow_is_the_theory_of_an_annealed_run():
    """Gradient descent under a step schedule follows the exact flow at t = Σ lr, with a gap
    that halves when every rate halves (and the step counts double)."""
    task = _task(1)
    depth, u0 = 3, 1e-2
    gaps = []
    for lr0 in (0.04, 0.02, 0.01):
        n1 = int(round(6.0 / lr0))  # anneal at t = 6 to a quarter of the rate

        def schedule(k, lr0=lr0, n1=n1):
            return jnp.where(k < n1, lr0, lr0 / 4)

        sim = dln.simulate(task, dln.init.aligned(task, depth, u0=u0), lr=schedule,
                           steps=3 * n1, every=n1)
        theory = dln.solve(task, depth=depth, u0=u0, t=sim.t)
        gaps.append(float(np.max(np.abs(sim.modes - theory.modes))))
    slope = np.polyfit(np.log([0.04, 0.02, 0.01]), np.log(gaps), 1)[0]
    assert 0.9 <= slope <= 1.1, (gaps, slope)


def test_weight_decay_step_on_weights_and_biases(getkey):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 4)) + 0.3
    task = dln.Task.from_data(X, X @ rng.normal(size=(4, 3)) + 0.5)
    ws = dln.init.gaussian(getkey(), [4, 5, 3], 0.2)
    bs = [jnp.full((5,), 0.1), jnp.zeros(3)]
    gamma, lr = 0.3, 0.02
    sim = dln.simulate(task, ws, lr=lr, steps=50, every=50, biases=bs, weight_decay=gamma)
    loss = lambda p: (0.5 * jnp.mean(jnp.sum(  # noqa: E731
        (task.Y - ((X @ p[0].T + p[2]) @ p[1].T + p[3])) ** 2, axis=1))
        + 0.5 * gamma * sum(jnp.sum(a**2) for a in p))
    p = [ws[0], ws[1], bs[0], bs[1]]
    for _ in range(50):
        p = [a - lr * g for a, g in zip(p, jax.grad(loss)(p))]
    np.testing.assert_allclose(sim.final_weights[0], p[0], atol=1e-13)
    np.testing.assert_allclose(sim.final_biases[0], p[2], atol=1e-13)
    np.testing.assert_allclose(sim.final_biases[1], p[3], atol=1e-13)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lr=lambda k: -0.1), ValueError, "at step 0"),
    (dict(lr=lambda k: jnp.where(k < 5, 0.1, jnp.nan)), ValueError, "at step 5"),
    (dict(lr=lambda k: float(k) * 0.01), TypeError, "traceable"),
    (dict(lr=lambda k: jnp.ones(2)), ValueError, "one number per step"),
    (dict(lr=0.1, weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(lr=0.1, weight_decay=1j), TypeError, "weight_decay"),
    (dict(lr=0.1, weight_decay=[0.1, 0.2]), ValueError, "weight_decay"),
])
def test_bad_schedules_and_decays(kwargs, error, match, getkey):
    ws = dln.init.gaussian(getkey(), [4, 5, 3], 0.1)
    with pytest.raises(error, match=match):
        dln.simulate(_task(), ws, steps=10, **kwargs)
