import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln


def test_from_data_statistics_and_loss_match_the_data():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 3))
    task = dln.Task.from_data(X, Y)
    np.testing.assert_allclose(task.sigma_xx, X.T @ X / 40, rtol=1e-14)
    np.testing.assert_allclose(task.sigma_yx, Y.T @ X / 40, rtol=1e-14)
    np.testing.assert_allclose(task.x_mean, X.mean(0), rtol=1e-14)
    np.testing.assert_allclose(task.y_mean, Y.mean(0), rtol=1e-14)
    W = rng.normal(size=(3, 5))
    direct = np.sum((Y - X @ W.T) ** 2) / (2 * 40)
    np.testing.assert_allclose(task.loss(W), direct, rtol=1e-12)
    # the least-squares map is the minimiser and reaches min_loss
    Wstar = np.linalg.lstsq(X, Y, rcond=None)[0].T
    np.testing.assert_allclose(task.lstsq_map, Wstar, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(task.loss(Wstar), task.min_loss, rtol=1e-12)
    # batched maps
    np.testing.assert_allclose(task.loss(np.stack([W, Wstar])), [direct, task.min_loss],
                               rtol=1e-12)


def test_svd_contract_and_modes():
    rng = np.random.default_rng(1)
    syx = rng.normal(size=(4, 6))
    task = dln.Task(np.eye(6), syx)
    assert task.U.shape == (4, 4) and task.V.shape == (6, 4) and task.s.shape == (4,)
    assert np.all(np.diff(task.s) <= 0)
    np.testing.assert_allclose(task.U @ np.diag(task.s) @ task.V.T, syx, atol=1e-13)
    np.testing.assert_allclose(task.mode_strengths(syx), task.s, rtol=1e-13)
    np.testing.assert_allclose(task.U[:, 2] @ syx @ task.V[:, 2], task.s[2], rtol=1e-13)
    assert task.input_aligned is True
    np.testing.assert_allclose(task.input_variance, 1.0, rtol=1e-13)


def test_excess_loss_without_sigma_yy():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    full = dln.Task.from_data(X, Y)
    partial = dln.Task(full.sigma_xx, full.sigma_yx)
    assert partial.min_loss is None
    W = rng.normal(size=(2, 4))
    np.testing.assert_allclose(partial.loss(W), full.loss(W) - full.min_loss, rtol=1e-11)
    np.testing.assert_allclose(partial.loss(partial.lstsq_map), 0.0, atol=1e-13)


def test_zero_modes_kept_and_degenerate_basis_diagonalises_input():
    # one-hot items: sigma_xx = I/P, rank-deficient targets with repeated singular values
    P = 6
    Y = np.zeros((P, 3))
    Y[:3, 0] = 1.0
    Y[3:, 1] = 1.0  # two equal modes, one zero mode
    task = dln.Task.from_data(np.eye(P), Y)
    np.testing.assert_allclose(task.s, [np.sqrt(3) / P, np.sqrt(3) / P, 0.0], atol=1e-15)
    assert task.input_aligned is True
    np.testing.assert_allclose(task.input_variance, 1.0 / P, rtol=1e-12)
    # a non-isotropic input that is diagonal in *some* basis of the degenerate group
    sxx = np.diag([1.0, 2.0, 3.0])
    syx = np.eye(3)  # all singular values equal: any basis is an SVD basis
    t = dln.Task(sxx, syx)
    assert t.input_aligned is True
    np.testing.assert_allclose(np.sort(t.input_variance), [1, 2, 3], rtol=1e-12)


def test_coupled_input_is_detected():
    rng = np.random.default_rng(3)
    task = dln.Task.from_data(rng.normal(size=(20, 4)), rng.normal(size=(20, 3)))
    assert task.input_aligned is False


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sigma_xx=np.eye(3), sigma_yx=np.ones((2, 4))), "sigma_xx"),
        (dict(sigma_xx=np.eye(3), sigma_yx=np.full((2, 3), np.nan)), "NaN"),
        (dict(sigma_xx=np.array([[1.0, 2.0], [0.0, 1.0]]), sigma_yx=np.ones((1, 2))),
         "symmetric"),
        (dict(sigma_xx=-np.eye(2), sigma_yx=np.ones((1, 2))), "positive semi-definite"),
        (dict(sigma_xx=np.diag([1.0, 0.0]), sigma_yx=np.ones((1, 2))), "zero variance"),
        (dict(sigma_xx=np.eye(2), sigma_yx=np.ones(2)), "sigma_yx"),
    ],
)
def test_bad_task_input_gets_a_clear_error(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dln.Task(**kwargs)


def test_from_data_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="same number of rows"):
        dln.Task.from_data(np.ones((5, 2)), np.ones((4, 2)))


def test_task_is_an_immutable_pytree():
    task = dln.Task(np.eye(3), np.arange(6.0).reshape(2, 3))
    leaves, treedef = jax.tree_util.tree_flatten(task)
    again = jax.tree_util.tree_unflatten(treedef, leaves)
    np.testing.assert_array_equal(again.s, task.s)
    with pytest.raises(AttributeError, match="immutable"):
        task.s = jnp.zeros(2)
    # traced construction (jit) gives the same singular values
    s = jax.jit(lambda a, b: dln.Task(a, b).s)(task.sigma_xx, task.sigma_yx)
    np.testing.assert_allclose(s, task.s, rtol=1e-13)
