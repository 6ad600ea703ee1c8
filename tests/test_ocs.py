"""dln.ocs: the optimal constant solution and early learning on a hierarchy
(docs/theory/biases.md)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln import ocs


def _binary_tree():
    """8 one-hot items, 15 features: feature n (heap order, root 1) is on iff the item's leaf
    (node 8 + item) descends from node n. Returns X (8, 8), Y (8, 15) and each feature's level."""
    Y = np.zeros((8, 15))
    for item in range(8):
        node = 8 + item
        while node >= 1:
            Y[item, node - 1] = 1.0
            node //= 2
    levels = np.floor(np.log2(np.arange(1, 16))).astype(int)
    return np.eye(8), Y, levels


@pytest.fixture(scope="module")
def tree():
    X, Y, levels = _binary_tree()
    return dln.Task.from_data(X, Y), levels


@pytest.fixture(scope="module")
def runs(tree):
    """Small random init 1e-3, hidden 16, lr 0.05 (docs/theory/biases.md), up to t = 20."""
    task, _ = tree
    k1, k2 = jax.random.split(jax.random.key(0))
    w0 = [1e-3 * jax.random.normal(k1, (16, 8)), 1e-3 * jax.random.normal(k2, (15, 16))]
    biases = {"both": [jnp.zeros(16), jnp.zeros(15)], "output": [None, jnp.zeros(15)],
              "none": None}
    return {name: dln.simulate(task, w0, biases=b, lr=0.05, steps=400, every=5)
            for name, b in biases.items()}


def test_ocs_is_the_mean_target_and_the_base_rates(tree):
    task, levels = tree
    np.testing.assert_allclose(ocs.ocs(task), 0.5 ** levels, rtol=1e-15)


def test_outputs_are_map_times_items_plus_offset(runs, tree):
    task, _ = tree
    sim = runs["both"]
    out = ocs.outputs(sim)
    assert out.shape == (81, 8, 15)
    np.testing.assert_allclose(out[-1], task.X @ sim.map[-1].T + sim.offset[-1], atol=1e-14)
    d = ocs.ocs_distance(sim)
    assert d.shape == (81,)
    np.testing.assert_allclose(d[0], np.sqrt(8 * np.sum(ocs.ocs(task) ** 2)), rtol=1e-4)


def test_biases_carry_the_network_to_the_ocs_and_one_hot_inputs_alone_do_not(runs):
    t_both, d_both = ocs.closest_approach(runs["both"])
    t_out, d_out = ocs.closest_approach(runs["output"])
    t_none, d_none = ocs.closest_approach(runs["none"])
    assert d_both < 0.02 and d_out < 0.02  # docs/theory/biases.md: 0.0026 at t = 7.5
    assert 5 < t_both < 12 and 5 < t_out < 12
    assert d_none > 0.3  # docs/theory/biases.md: 0.55, never truly at the OCS
    assert ocs.ocs_distance(runs["both"])[-1] > 1.0  # item-specific learning by t = 20


def test_ocs_phase_outputs_base_rates_to_positives_and_negatives_alike(runs, tree):
    _, levels = tree
    sim = runs["both"]
    t_star, _ = ocs.closest_approach(sim)
    i = int(np.argmin(np.abs(sim.t - t_star)))
    pos, neg = ocs.level_means(sim, levels)
    assert pos.shape == (81, 4) and neg.shape == (81, 4)
    np.testing.assert_allclose(pos[i], [1.0, 0.5, 0.25, 0.125], atol=2e-3)
    np.testing.assert_allclose(neg[i, 1:], [0.5, 0.25, 0.125], atol=2e-3)
    assert np.isnan(neg[i, 0])  # the root has no negatives
    # thresholded at 0.5: fine categories rejected everywhere, so TN ≈ 1 and TP ≈ 0
    tp, tn = ocs.rates(sim, 0.5, levels)
    assert tp.shape == (81, 4)
    np.testing.assert_array_equal(tp[i, 2:], [0.0, 0.0])
    np.testing.assert_array_equal(tn[i, 2:], [1.0, 1.0])
    tp_all, tn_all = ocs.rates(sim, 0.5)
    assert tp_all.shape == (81,) and tn_all[i] == 1.0
    # before learning nothing is said yes: TP 0, TN 1 at every level
    np.testing.assert_array_equal(tp[0], [0, 0, 0, 0])


def test_exact_trajectories_and_ensembles_are_measured_too(runs, tree):
    task, levels = tree
    exact = dln.solve(task, depth=2, u0=1e-3, t=jnp.linspace(0.0, 100.0, 9))
    assert exact.offset is None
    d = ocs.ocs_distance(exact)
    assert d.shape == (9,)
    np.testing.assert_allclose(d[0], np.sqrt(15.0), rtol=1e-3)  # outputs ≈ 0
    np.testing.assert_allclose(ocs.outputs(exact)[-1], task.Y, atol=1e-3)  # fitted at t = 100
    # a batched trajectory keeps its batch axis
    one = runs["output"]
    stack = lambda a: jnp.stack([a, a])
    ens = dataclasses.replace(one, t=stack(one.t), stored_map=stack(one.map),
                              offset=stack(one.offset))
    t_star, d_star = ocs.closest_approach(ens)
    assert t_star.shape == (2,) and d_star.shape == (2,)
    assert ocs.level_means(ens, levels)[0].shape == (2, 81, 4)


def test_measures_need_data_and_valid_levels(runs, tree):
    task, _ = tree
    with pytest.raises(ValueError, match="from_data"):
        ocs.ocs(dln.Task(task.sigma_xx, task.sigma_yx))
    with pytest.raises(ValueError, match="levels"):
        ocs.level_means(runs["both"], np.zeros(3, int))
