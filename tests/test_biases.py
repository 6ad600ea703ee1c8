"""dln.simulate with biases: the affine network ŷ = M x + c on sufficient statistics and means."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import numpy_descent

import dln
from dln.network import affine_loss, affine_loss_gradients, affine_map


@pytest.fixture
def task():
    rng = np.random.default_rng(1)
    # nonzero means in inputs and targets, so every bias term matters
    X, Y = rng.normal(size=(50, 6)) + 0.7, rng.normal(size=(50, 4)) - 0.4
    return dln.Task.from_data(X, Y)


def _raw_loss(X, Y, weights, biases):
    h = X.T
    for W, b in zip(weights, biases):
        h = W @ h + (0 if b is None else b[:, None])
    return 0.5 * jnp.mean(jnp.sum((Y.T - h) ** 2, axis=0))


CASES = [
    ([6, 4], [True]),
    ([6, 5, 4], [True, True]),
    ([6, 5, 4], [False, True]),
    ([6, 5, 4], [True, False]),
    ([6, 5, 3, 4], [True, False, True]),
    ([6, 5, 3, 4], [False, True, False]),
]


def _biases(key, sizes, present, scale=0.3):
    keys = jax.random.split(key, len(present))
    return [scale * jax.random.normal(k, (n,)) if p else None
            for k, n, p in zip(keys, sizes[1:], present)]


@pytest.mark.parametrize("sizes, present", CASES[0::2])
def test_biased_steps_on_statistics_equal_steps_on_raw_data(task, getkey, sizes, present):
    w0 = dln.init.gaussian(getkey(), sizes, 0.3)
    b0 = _biases(getkey(), sizes, present)
    sim = dln.simulate(task, w0, biases=b0, lr=0.05, steps=30, every=10)
    X, Y = np.asarray(task.X), np.asarray(task.Y)
    ws, bs = numpy_descent(X, Y, w0, 0.05, 30, biases=b0)
    for got, want in zip(sim.final_weights, ws):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    for got, want in zip(sim.final_biases, bs):
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    assert sim.offset.shape == (4, 4) and sim.map.shape == (4, 4, 6) and sim.loss.shape == (4,)
    # records: the offset and loss of the final network, computed directly on the data
    M, c = affine_map(ws, bs)
    np.testing.assert_allclose(sim.offset[-1], c, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(sim.loss[-1], _raw_loss(X, Y, ws, bs), rtol=1e-12)
    np.testing.assert_allclose(sim.loss[0], _raw_loss(X, Y, w0, b0), rtol=1e-12)


@pytest.mark.parametrize("sizes, present", CASES[1::2])
def test_gradients_equal_autodiff_of_the_raw_loss(task, getkey, sizes, present):
    w0 = dln.init.gaussian(getkey(), sizes, 0.4)
    b0 = _biases(getkey(), sizes, present)
    gw, gb = affine_loss_gradients(w0, b0, task.sigma_xx, task.sigma_yx, task.x_mean,
                                   task.y_mean)
    aw, ab = jax.grad(lambda w, b: _raw_loss(task.X, task.Y, w, b), argnums=(0, 1))(w0, b0)
    for got, want in zip(gw, aw):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    for got, want in zip(gb, ab):
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    M, c = affine_map(w0, b0)
    np.testing.assert_allclose(affine_loss(task, M, c), _raw_loss(task.X, task.Y, w0, b0),
                               rtol=1e-12)
    np.testing.assert_allclose(affine_loss(task, M, jnp.zeros(4)), task.loss(M), rtol=1e-14)


def test_batched_ensemble_with_biases_equals_a_loop(task, getkey):
    inits = [dln.init.gaussian(getkey(), [6, 5, 4], 0.2) for _ in range(3)]
    b_inits = [_biases(getkey(), [6, 5, 4], [True, True]) for _ in range(3)]
    batched_w = [jnp.stack(ws) for ws in zip(*inits)]
    batched_b = [jnp.stack(bs) for bs in zip(*b_inits)]
    lrs = jnp.array([0.05, 0.1, 0.02])
    ens = dln.simulate(task, batched_w, biases=batched_b, lr=lrs, steps=40, every=20)
    assert ens.offset.shape == (3, 3, 4) and ens.loss.shape == (3, 3)
    assert ens.final_biases[1].shape == (3, 4)
    for i in range(3):
        one = dln.simulate(task, inits[i], biases=b_inits[i], lr=float(lrs[i]), steps=40,
                           every=20)
        np.testing.assert_allclose(ens.map[i], one.map, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ens.offset[i], one.offset, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ens.loss[i], one.loss, rtol=1e-12)
    # one network over several learning rates, output bias only
    sweep = dln.simulate(task, inits[0], biases=[None, b_inits[0][1]], lr=lrs, steps=40,
                         every=20)
    assert sweep.offset.shape == (3, 3, 4) and sweep.final_biases[0] is None


def test_no_biases_is_the_bias_free_run(task, getkey):
    w0 = dln.init.gaussian(getkey(), [6, 5, 4], 0.3)
    plain = dln.simulate(task, w0, lr=0.05, steps=20, every=10)
    nones = dln.simulate(task, w0, biases=[None, None], lr=0.05, steps=20, every=10)
    zeros = dln.simulate(task, w0, biases=[None, jnp.zeros(4)], lr=0.05, steps=20, every=10)
    assert plain.offset is None and nones.offset is None and nones.final_biases is None
    np.testing.assert_array_equal(nones.map, plain.map)
    np.testing.assert_allclose(zeros.loss[0], plain.loss[0], rtol=1e-14)
    assert not np.allclose(zeros.map[-1], plain.map[-1])  # the output bias changes the path


def test_bad_biases_get_a_clear_error(task, getkey):
    w0 = dln.init.gaussian(getkey(), [6, 5, 4], 0.3)
    stats_only = dln.Task(task.sigma_xx, task.sigma_yx, task.sigma_yy)
    with pytest.raises(ValueError, match="from_data"):
        dln.simulate(stats_only, w0, biases=[None, jnp.zeros(4)], lr=0.05, steps=10)
    with pytest.raises(ValueError, match="one per layer"):
        dln.simulate(task, w0, biases=[jnp.zeros(5)], lr=0.05, steps=10)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        dln.simulate(task, w0, biases=[None, jnp.zeros(5)], lr=0.05, steps=10)
    with pytest.raises(TypeError, match="list"):
        dln.simulate(task, w0, biases=jnp.zeros(4), lr=0.05, steps=10)
