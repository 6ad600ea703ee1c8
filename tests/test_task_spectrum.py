"""`Task.from_spectrum`: a task from its modes, equal to the dense `Task` of the same modes and
cheap at 10⁴ modes; and `dln.tasks.whitening.whiten` / `Task.from_data(..., whiten=True)`."""

import resource
import time
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln.tasks.task import SpectralTask
from dln.tasks.whitening import whiten

Task = dln.Task


def _orthonormal(rng, n, k):
    Q, _ = np.linalg.qr(rng.normal(size=(n, k)))
    return Q


def _dense_convention(U, V):
    """The sign convention of `Task(…)`: the largest entry of each column of V positive."""
    flip = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    return U * flip, V * flip


def _cases():
    rng = np.random.default_rng(0)
    # general bases, one input variance per mode, No > Ni = K
    U, V = _dense_convention(_orthonormal(rng, 7, 5), _orthonormal(rng, 5, 5))
    s = np.array([3.0, 2.2, 1.5, 0.7, 0.2])
    lam = np.array([1.3, 0.4, 2.0, 0.9, 1.1])
    yield "bases, per-mode variance", dict(s=s, input_variance=lam, U=U, V=V), \
        (V * lam) @ V.T, (U * s) @ V.T
    # Ni > K: isotropic input (a scalar variance covers the directions outside the modes)
    U, V = _dense_convention(_orthonormal(rng, 3, 3), _orthonormal(rng, 6, 3))
    s = np.array([2.0, 1.0, 0.5])
    yield "Ni > K, scalar variance", dict(s=s, input_variance=0.5, U=U, V=V), \
        0.5 * np.eye(6), (U * s) @ V.T
    # identity bases, sizes given, per-mode variance (nothing outside the modes)
    s = np.array([1.5, 1.0, 0.25, 0.0])
    lam = np.array([1.0, 0.5, 0.25, 2.0])
    sxx = np.diag(np.concatenate([lam, np.zeros(2)]))
    syx = np.zeros((4, 6))
    syx[np.arange(4), np.arange(4)] = s
    yield "identity bases, Ni > K", dict(s=s, input_variance=lam, n_out=4, n_in=6), sxx, syx


CASES = list(_cases())


@pytest.mark.parametrize("name, kwargs, sxx, syx", CASES, ids=[c[0] for c in CASES])
def test_from_spectrum_equals_the_dense_task(name, kwargs, sxx, syx):
    sp = Task.from_spectrum(**kwargs)
    dense = Task(sxx, syx)
    assert isinstance(sp, Task) and isinstance(sp, SpectralTask)
    assert (sp.n_out, sp.n_in, sp.n_modes) == (dense.n_out, dense.n_in, dense.n_modes)
    assert sp.input_aligned is True and dense.input_aligned is True
    for attr in ("s", "U", "V", "input_variance", "mode_targets", "sigma_xx", "sigma_yx",
                 "lstsq_map"):
        np.testing.assert_allclose(np.asarray(getattr(sp, attr)), np.asarray(getattr(dense, attr)),
                                   atol=1e-12, err_msg=attr)
    rng = np.random.default_rng(1)
    W = rng.normal(size=(3, sp.n_out, sp.n_in))
    modes = rng.normal(size=(2, sp.n_modes))
    for method, arg in (("loss", W), ("mode_strengths", W), ("loss_of_modes", modes),
                        ("map_from_modes", modes)):
        np.testing.assert_allclose(np.asarray(getattr(sp, method)(arg)),
                                   np.asarray(getattr(dense, method)(arg)), rtol=1e-12,
                                   atol=1e-12, err_msg=method)
    assert sp.sigma_yy is None and sp.min_loss is None
    t = np.linspace(0.0, 12.0, 25)
    a, b = dln.solve(sp, depth=3, u0=1e-3, t=t), dln.solve(dense, depth=3, u0=1e-3, t=t)
    np.testing.assert_allclose(np.asarray(a.modes), np.asarray(b.modes), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(a.loss), np.asarray(b.loss), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(a.map), np.asarray(b.map), atol=1e-12)


@pytest.mark.parametrize("diagonal", [True, False])
def test_sigma_yy_as_matrix_or_diagonal(diagonal):
    s, lam = np.array([2.0, 1.0, 0.5]), np.array([1.0, 2.0, 0.5])
    syy_diag = np.array([5.0, 1.0, 2.0, 0.3])  # ½ tr Σyy = 4.15 > ½ Σ s²/λ = 2.5
    sp = Task.from_spectrum(s, input_variance=lam, n_out=4,
                            sigma_yy=syy_diag if diagonal else np.diag(syy_diag))
    syx = np.zeros((4, 3))
    syx[np.arange(3), np.arange(3)] = s
    dense = Task(np.diag(lam), syx, np.diag(syy_diag))
    np.testing.assert_allclose(np.asarray(sp.sigma_yy), np.diag(syy_diag))
    assert float(sp.min_loss) == pytest.approx(0.5 * syy_diag.sum() - 0.5 * np.sum(s**2 / lam),
                                               rel=1e-14)
    assert float(sp.min_loss) == pytest.approx(float(dense.min_loss), rel=1e-12)
    W = np.random.default_rng(2).normal(size=(4, 3))
    assert float(sp.loss(W)) == pytest.approx(float(dense.loss(W)), rel=1e-12)
    u = np.array([[0.3, 0.1, 0.0]])
    np.testing.assert_allclose(np.asarray(sp.loss_of_modes(u)), np.asarray(dense.loss_of_modes(u)),
                               rtol=1e-12)


def test_spectral_task_is_a_pytree_under_jit_vmap_and_grad():
    s = jnp.array([2.0, 1.0, 0.5])
    t = jnp.linspace(0.0, 8.0, 9)
    task = Task.from_spectrum(s, input_variance=jnp.array([1.0, 0.5, 2.0]))
    eager = dln.solve(task, depth=2, u0=1e-2, t=t)
    jitted = jax.jit(dln.solve, static_argnames="depth")(task, depth=2, u0=1e-2, t=t)
    np.testing.assert_allclose(np.asarray(jitted.loss), np.asarray(eager.loss), rtol=1e-12)
    assert type(jitted.task) is SpectralTask

    def final_loss(s):  # the task built from traced values
        return dln.solve(Task.from_spectrum(s), depth=2, u0=1e-2, t=jnp.array([3.0])).loss[0]

    grad = np.asarray(jax.grad(final_loss)(s))
    h = 1e-6
    fd = [(final_loss(s.at[i].add(h)) - final_loss(s.at[i].add(-h))) / (2 * h) for i in range(3)]
    np.testing.assert_allclose(grad, np.asarray(fd), rtol=1e-6)
    batch = jax.vmap(lambda s: Task.from_spectrum(s).loss_of_modes(jnp.zeros(3)))(
        jnp.stack([s, 2 * s]))
    np.testing.assert_allclose(np.asarray(batch), [0.5 * 5.25, 2.0 * 5.25], rtol=1e-14)


def test_twenty_thousand_modes_solve_without_a_dense_matrix(monkeypatch):
    """The mode solution of 2·10⁴ modes needs only s and λ: the dense parts are never formed
    (asking for them here raises), nothing of size K² is held, and it takes seconds."""
    for name in ("sigma_xx", "sigma_yx", "sigma_yy", "U", "V", "lstsq_map"):
        def refuse(self, name=name):
            raise AssertionError(f"the solve formed the dense `{name}`")
        monkeypatch.setattr(SpectralTask, name, property(refuse))
    K = 20_000
    s = np.linspace(3.0, 0.1, K)
    t = np.linspace(0.0, 40.0, 50)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    start = time.perf_counter()
    task = Task.from_spectrum(s, sigma_yy=np.full(K, 5.0))
    traj = dln.solve(task, depth=3, u0=1e-3, t=t)
    modes, loss = np.asarray(traj.modes), np.asarray(traj.loss)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert modes.shape == (50, K) and loss.shape == (50,)
    assert elapsed < 10.0
    assert peak < 100e6  # numpy's allocations; a dense K × K float64 matrix is 3.2 GB
    assert rss_growth < 1_000_000  # KiB: the process grew by less than 1 GB at its peak
    leaves = jax.tree_util.tree_leaves(traj)
    assert max(np.size(leaf) for leaf in leaves) == 50 * K
    # the numbers: every mode rises from u0 to its target s (λ = 1), and the loss is that of
    # the modes, ½ tr Σyy − ½ Σ s² + ½ Σ (u − s)²
    np.testing.assert_allclose(modes[0], 1e-3)
    np.testing.assert_allclose(modes[-1, :100], s[:100], rtol=1e-10)
    expected = 0.5 * 5.0 * K - 0.5 * np.sum(s**2) + 0.5 * np.sum((modes - s) ** 2, axis=1)
    np.testing.assert_allclose(loss, expected, rtol=1e-9)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(s=[1.0, 2.0]), ValueError, ["`s`", "descending"]),
    (dict(s=[1.0, -0.5]), ValueError, ["`s`", ">= 0"]),
    (dict(s=[]), ValueError, ["`s`", "empty"]),
    (dict(s=[[1.0]]), ValueError, ["`s`"]),
    (dict(s=[1.0, np.nan]), ValueError, ["`s`", "NaN"]),
    (dict(s=[2.0, 1.0], input_variance=[1.0, 1.0, 1.0]), ValueError, ["`input_variance`", "(2,)"]),
    (dict(s=[2.0, 1.0], input_variance=[1.0, -1.0]), ValueError, ["`input_variance`", ">= 0"]),
    (dict(s=[2.0, 1.0], input_variance=[1.0, 0.0]), ValueError, ["`input_variance` 0", "mode 1"]),
    (dict(s=[2.0, 1.0], U=np.ones((3, 2))), ValueError, ["`U`", "orthonormal"]),
    (dict(s=[2.0, 1.0], V=np.eye(3)), ValueError, ["`V`", "(N, 2)"]),
    (dict(s=[2.0, 1.0], U=np.eye(3)[:, :2], n_out=4), ValueError, ["`n_out`", "`U`"]),
    (dict(s=[2.0, 1.0], n_in=1), ValueError, ["`n_in`", ">= the number of modes"]),
    (dict(s=[2.0, 1.0], n_in=2.5), TypeError, ["`n_in`", "int"]),
    (dict(s=[2.0, 1.0], n_in=3, n_out=3), ValueError, ["min(n_out, n_in) = 3", "zeros"]),
    (dict(s=[2.0, 1.0], sigma_yy=np.ones(3)), ValueError, ["`sigma_yy`", "(2, 2)"]),
    (dict(s=[2.0, 1.0], sigma_yy=[1.0, 1.0]), ValueError, ["`sigma_yy`", "too small"]),
    (dict(s=[2.0, 1.0], sigma_yy=[[5.0, 1.0], [0.0, 5.0]]), ValueError, ["`sigma_yy`",
                                                                         "symmetric"]),
])
def test_from_spectrum_errors(kwargs, error, words):
    with pytest.raises(error) as info:
        Task.from_spectrum(**kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ------------------------------------------------------------------------------ whitening
def _correlated_data(rank=None):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + 0.7  # correlated, uncentred
    if rank is not None:
        X = X @ _orthonormal(rng, 5, rank) @ _orthonormal(rng, 5, rank).T
    Y = X @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(60, 3))
    return X, Y


def test_whiten_gives_identity_correlation_and_a_symmetric_transform():
    X, _ = _correlated_data()
    Xw, T = whiten(X)
    np.testing.assert_allclose(np.asarray(Xw.T @ Xw) / 60, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(np.asarray(Xw), X @ np.asarray(T), atol=1e-12)
    np.testing.assert_allclose(np.asarray(T), np.asarray(T).T, atol=1e-14)
    # T = Σxx^{-1/2}: T Σxx T = I and T² = Σxx⁻¹
    sxx = X.T @ X / 60
    np.testing.assert_allclose(np.asarray(T @ T), np.linalg.inv(sxx), rtol=1e-9)


def test_whiten_zeroes_the_directions_without_variance():
    X, _ = _correlated_data(rank=3)
    Xw, T = whiten(X)
    S = np.asarray(Xw.T @ Xw) / 60
    # the orthogonal projector onto the range of Σxx: identity there, 0 on the null space
    np.testing.assert_allclose(S @ S, S, atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(S), [0, 0, 1, 1, 1], atol=1e-12)
    _, _, Bt = np.linalg.svd(X)
    null = Bt[3:].T
    np.testing.assert_allclose(np.asarray(T) @ null, 0.0, atol=1e-12)
    # eps above the third eigenvalue drops it too
    evals = np.linalg.eigvalsh(X.T @ X / 60)[::-1]
    Xw2, _ = whiten(X, eps=0.5 * (evals[1] + evals[2]))
    assert np.linalg.matrix_rank(np.asarray(Xw2)) == 2
    # traceable: the same under jit
    np.testing.assert_allclose(np.asarray(jax.jit(whiten)(X)[0]), np.asarray(Xw), atol=1e-12)


def test_solve_runs_on_whitened_data_that_raised_before():
    X, Y = _correlated_data()
    raw = Task.from_data(X, Y)
    assert raw.input_aligned is False
    with pytest.raises(ValueError, match="whiten"):
        dln.solve(raw, depth=2, u0=1e-3, t=[0.0, 1.0])
    for task in (Task.from_data(whiten(X)[0], Y), Task.from_data(X, Y, whiten=True)):
        assert task.input_aligned is True
        np.testing.assert_allclose(np.asarray(task.sigma_xx), np.eye(5), atol=1e-12)
        traj = dln.solve(task, depth=2, u0=1e-3, t=np.linspace(0.0, 30.0, 31))
        # learning ends at the least-squares fit of the whitened data, whose loss is that of
        # the least-squares fit of the raw data (whitening is an invertible change of inputs)
        assert float(traj.loss[-1]) == pytest.approx(float(raw.min_loss), rel=1e-8)
        assert float(traj.loss[0]) > 10 * float(traj.loss[-1])
    np.testing.assert_array_equal(np.asarray(Task.from_data(X, Y, whiten=True).X),
                                  np.asarray(whiten(X)[0]))


@pytest.mark.parametrize("call, error, words", [
    (lambda: whiten(np.zeros((4, 3))), ValueError, ["`X`", "no variance"]),
    (lambda: whiten(np.ones(4)), ValueError, ["`X`", "2 dimension"]),
    (lambda: whiten(np.ones((0, 3))), ValueError, ["`X`", "at least one sample"]),
    (lambda: whiten(np.ones((4, 3)), eps=-1.0), ValueError, ["`eps`", ">= 0"]),
    (lambda: whiten(np.ones((4, 3)), eps="small"), TypeError, ["`eps`"]),
    (lambda: Task.from_data(np.ones((4, 3)), np.ones((4, 2)), whiten="yes"), TypeError,
     ["`whiten`"]),
])
def test_whitening_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
