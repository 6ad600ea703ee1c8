"""Measures of critical periods: the Fisher information along exact trajectories, the relative
source variance, and the separate-sources claim (shallow recovers, deep does not)."""

import jax
import jax.numpy as jnp
import numpy as np
from dln.pathways import measures
from dln.pathways import sources as src

import dln
from dln import pathways


def _tree_task():
    """Kleinman 2024's data: 8 one-hot items (whitened), a binary tree of features."""
    return dln.datasets.hierarchy(3, whiten=True)


def test_fisher_traces_along_an_exact_trajectory():
    """Model Fisher (Gaussian output) only grows from small weights; the empirical Fisher at the
    data's targets rises, then falls to 0 as the errors vanish (Achille et al. 2019)."""
    task = _tree_task()
    t = np.linspace(0.0, 60.0, 61)
    traj = pathways.solve(task, depth=3, u0=(1e-3,), t=t)
    ws = measures.exact_weights(traj, 0)
    model = np.asarray(measures.fisher_trace(task, ws))
    emp = np.asarray(measures.empirical_fisher_trace(task, ws))
    assert model.shape == emp.shape == (61, 3)
    assert np.all(np.diff(model, axis=0) >= -1e-12 * model.max()), "model Fisher fell"
    for layer in range(3):
        peak = int(np.argmax(emp[:, layer]))
        assert 0 < peak < 60
        assert emp[peak, layer] > 100 * emp[0, layer]
        assert emp[-1, layer] < 1e-3 * emp[peak, layer]
    # the formula against a direct per-sample computation at one time
    k = 20
    W = [w[k] for w in ws]
    grads = jax.vmap(jax.grad(lambda ws_, x, y: 0.5 * jnp.sum((dln.network.product(ws_) @ x
                                                               - y) ** 2)),
                     in_axes=(None, 0, 0))(W, task.X, task.Y)
    direct = [float(jnp.mean(jnp.sum(g**2, axis=(1, 2)))) for g in grads]
    np.testing.assert_allclose(emp[k], direct, rtol=1e-10)


def test_relative_source_variance_limits():
    A = np.diag([2.0, 1.0])
    task, blocks = src.views(A, 1.0, 0.5)
    rng = np.random.default_rng(0)
    Wa, Wb = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    v = measures.source_variances(task, [[Wa], [0 * Wb]], blocks)
    np.testing.assert_allclose(measures.relative_source_variance(v), 1.0)
    v = measures.source_variances(task, [[Wa], [Wa]], blocks)
    np.testing.assert_allclose(measures.relative_source_variance(v), 0.0, atol=1e-15)
    direct = np.einsum("ij,jk,ik->i", Wa, np.asarray(task.sigma_xx[:2, :2]), Wa)
    v = measures.source_variances(task, [[Wa], [Wb]], blocks)
    np.testing.assert_allclose(v[0], direct, rtol=1e-13)


def test_separate_sources_shallow_recovers_deep_does_not():
    """Source 1 removed for 100 time units. Afterwards a shallow network (one layer per
    source, summed) is back at the optimum within 100 more; a deep one (three layers per
    source, small init) is still far from it, although without the deficit it converges within
    the same total time (Kleinman et al. 2023, linear form)."""
    task, blocks = src.views(np.diag([2.0, 1.5, 1.0]), 1.0, 1.0)
    lr, steps = 0.02, 10000  # t = 200
    out = {}
    for depth in (1, 3):
        paths, shared = src.init(jax.random.key(0), task, blocks, depth=depth, width=6,
                                 scale=0.01)
        for name, deficit in (("none", None), ("removed", pathways.Remove(1, 0.0, 100.0))):
            sim = pathways.simulate(task, paths, lr=lr, steps=steps, every=steps,
                                    deficit=deficit, sources=blocks, shared=shared)
            out[depth, name] = float(measures.excess_loss(sim)[-1])
    assert out[1, "none"] < 1e-10 and out[3, "none"] < 1e-10, out
    assert out[1, "removed"] < 1e-10, out
    assert out[3, "removed"] > 1e-2, out


def test_sampled_fisher_estimates_the_model_fisher(getkey):
    """The Monte Carlo estimate (outputs sampled from the model) agrees with the exact trace
    within its standard error, for every layer."""
    task = _tree_task()
    traj = pathways.solve(task, depth=3, u0=(1e-2,), t=np.array([5.0]))
    W = [w[0] for w in measures.exact_weights(traj, 0)]
    exact = np.asarray(measures.fisher_trace(task, W, noise_variance=0.5))
    est, se = (np.asarray(a) for a in measures.sampled_fisher_trace(getkey(), task, W, 400,
                                                                    noise_variance=0.5))
    assert np.all(se > 0) and np.all(se < 0.1 * exact), (est, se, exact)
    assert np.all(np.abs(est - exact) < 5 * se), (est, se, exact)


def test_critical_period_map_exact_against_one_batched_simulation():
    """Onset × length map at depth 2: early deficits leave pathway 1 a small share, late ones
    do nothing; one batched gradient-descent call lands within O(lr) of the exact map."""
    task = _tree_task()
    onsets, lengths = [0.0, 3.0, 30.0], [1.0, 4.0]
    u0 = (1e-2, 1e-2)
    exact = pathways.critical_period_map(task, depth=2, u0=u0, onsets=onsets,
                                         lengths=lengths, t=60.0)
    assert exact["shares"].shape == (3, 2, 2, task.n_modes)
    share_b = np.asarray(exact["shares"][:, :, 1, 0])  # pathway 1's share of the top mode
    assert share_b[0, 1] < share_b[0, 0] < 0.45  # longer early deficits do more damage
    np.testing.assert_allclose(share_b[2], 0.5, atol=1e-9)  # late: no effect
    assert np.all(np.asarray(exact["pathway_loss"][0, 1, 1]) > exact["pathway_loss"][0, 1, 0])
    gaps = []
    for lr in (2.0**-4, 2.0**-5):
        sim = pathways.simulated_critical_period_map(
            task, pathways.aligned(task, 2, u0), lr=lr, steps=int(60 / lr), onsets=onsets,
            lengths=lengths)
        gaps.append(float(np.max(np.abs(sim["modes"] - exact["modes"]))))
    assert gaps[1] < 0.6 * gaps[0] and gaps[1] < 0.02, gaps
