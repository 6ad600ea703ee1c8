"""The Kleinman 2024 matrix-completion example reproduces its numbers (quick size: n = 20,
160 observed entries, rank 4 then rank 2, 2 seeds): depth 1 does not remember the pre-training
and never completes B (its unobserved entries stay at their initial values), depth 3 completes
B without pre-training and is damaged by it in every seed, and the end-to-end flow of a
balanced network (the theory) follows gradient descent through the switch and has the same
deficit. One quick run of the example's depth map, orthogonal-init map and theory serves every
test."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dln import completion
from dln.network import product


@pytest.fixture(scope="module")
def run(load_example):
    module = load_example("kleinman2024_completion")
    return module.compute(quick=True, parts=("depth", "orthogonal", "theory"))


def test_depth_one_forgets_a_and_leaves_unobserved_entries_at_init(run):
    """Depth 1: ∇L = P_Ω(W − M)/|Ω| never touches an unobserved entry, and the fit of B
    overwrites the observed ones, so the final test error is exactly the unobserved part of
    (M_B − W₀)², whatever the pre-training."""
    c, d = run["settings"], run["depth"]
    err = d["final_test_error"][list(d["depth"]).index(1), 0, 0, 0]  # (seeds, T)
    assert np.all(np.ptp(err, axis=1) <= 1e-10 * err.mean(axis=1))
    key = jax.random.key(0)
    for s in range(c["seeds"]):  # the draws of transfer.completion_map's seed s
        k_b, _, k_mask, k_w = jax.random.split(key if s == 0 else jax.random.fold_in(key, s), 4)
        M = np.asarray(completion.low_rank_matrix(k_b, c["n"], c["rank_b"]))
        mask = np.asarray(completion.observation_masks(k_mask, c["n"], [c["n_obs"]])[0])
        W0 = np.asarray(product(completion.init(k_w, c["n"], 1, c["scale"])))
        expected = np.mean((1 - mask) * (M - W0) ** 2)
        np.testing.assert_allclose(err[s], expected, rtol=1e-9)
        assert expected > 0.3  # B is not completed: its unobserved entries are not learned


def test_depth_three_completes_b_and_pretraining_damages_it_in_every_seed(run):
    d = run["depth"]
    i = list(d["depth"]).index(3)
    err, loss = d["final_test_error"][i, 0, 0, 0], d["final_train_loss"][i, 0, 0, 0]
    assert np.all(loss < 1e-4)  # B's observed entries are fitted after every pre-training
    assert np.all(err[:, 0] < 1e-4)  # no pre-training: completed (the low-rank bias)
    assert np.all(err[:, -1] > 100 * err[:, 0])  # the longest pre-training: damaged
    # the damage comes once A is learned: at T > 0 the test error on A has left 1
    assert np.all(d["switch_test_error_a"][i, 0, 0, 0][:, 0] > 0.99)
    assert np.all(d["switch_test_error_a"][i, 0, 0, 0][:, 1:] < 0.6)


def test_end_to_end_flow_follows_gradient_descent_through_the_switch(run):
    """Balanced (orthogonal) layers, seed 0: the end-to-end flow (diffrax, rtol 1e-6) and
    gradient descent at lr = 1 differ by O(lr): a few per cent here, against a deficit of three
    orders of magnitude that the flow itself predicts."""
    o, th = run["orthogonal"], run["theory"]
    at = np.searchsorted(o["pretrain"], th["T"])
    gd = o["test_error"][0, 0, 0, 0, 0][at]  # (len(T), records)
    np.testing.assert_array_equal(o["t"], th["t"])
    np.testing.assert_allclose(gd, th["test_error"], rtol=0.05)
    np.testing.assert_allclose(o["switch_test_error_a"][0, 0, 0, 0, 0][at],
                               th["switch_test_error_a"], rtol=0.05)
    final = th["test_error"][:, -1]
    assert th["T"][0] == 0 and final[0] < 1e-3 and np.all(final[1:] > 1000 * final[0])
