"""Separate sources (Kleinman, Achille & Soatto 2023, linear form; docs/theory/sources.md): an
early deficit on one source leaves a deep network's merged representation on the other source long
after the deficit ends, and cross-source reconstruction reduces the damage.

The setting: two views `x_a, x_b = z + noise` (noise variance 0.1) of a latent `z ∈ R³` with
target `y = diag(2, 1.5, 1) z` (`dln.pathways.sources.views`). Each view feeds its own pathway of
three layers (width 16, Gaussian entries 0.02); the pathways are summed into 16 shared units read
out by a shared layer that starts orthonormal (scale 1), so that, from scratch, the task itself
drives both pathways quickly. Source b is removed during `[0, 50)`; then both views are seen
for 80 more time units. Two seeds in one batched call per objective.

What the runs show (two seeds here; eight checked while writing the test, all within these
ranges):

- Without reconstruction pathway b is frozen during the deficit (its input is zero), pathway a
  learns the task alone (the network sits on the a-only plateau, excess loss 0.157), and
  afterwards b sees only the residual that a leaves (9 % of the target's correlation per
  latent direction, `σ²/(1 + σ²)`): its contribution `||C_b||` takes 45–61 time units to reach
  half its converged size, against 6.5–9.5 from scratch and 6.5 for a shallow network after the
  same deficit (exact linear flow; its slowest direction, a against b, has curvature σ² = 0.1);
  80 time units after the deficit the excess loss is still 0.02–0.06, and the merged units lean
  to source a (mean relative source variance 0.25–0.64, no unit below −0.1).
- With the reconstruction objective (`β = 16`: each pathway's representation also predicts the
  other view through its own decoder) pathway b is driven by the cross-view correlation, which a
  cannot explain away: b recovers in 8.5–13.5 time units, near the shallow network's 6.5
  (1.9–2.7 times its own scratch time: reconstruction also speeds up learning from scratch,
  6.5–9.5 → 3.5–5.5, but much less than after the deficit, 45–61 → 8.5–13.5), the
  excess loss 80 time units after the deficit is 1e-8–1e-6, and the units no longer lean to a:
  mean relative source variance −0.31 to −0.15, with 19–50 % of the units driven mainly by b.
- Every deep linear network here reaches the optimum eventually: the damage is a slow recovery
  (the deep network has not recovered within the horizon), not a permanent loss. That a shallow
  network recovers fully is tested in `tests/test_pathways_measures.py`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dln.pathways import measures
from dln.pathways import sources as src

import dln
from dln import pathways

ONSET_LENGTH = 50.0  # source b removed during [0, 50)
AFTER = 80.0  # normal training after the deficit
LR = 0.01
EVERY = 50  # a record every 0.5 time units
BETA = 16.0
SEEDS = 2
WIDTH = 16


@functools.cache
def _task():
    return src.views(np.diag([2.0, 1.5, 1.0]), 1.0, 0.1)


def _weights():
    """`SEEDS` networks, each repeated for the two deficit lengths (0 and ONSET_LENGTH)."""
    task, blocks = _task()
    key = jax.random.key(0)
    paths, _, decoders = src.init(key, task, blocks, depth=3, width=WIDTH, shared_depth=1,
                                  scale=0.02, batch=SEEDS, decoders=True)
    keys = jax.random.split(jax.random.fold_in(key, 1), SEEDS)
    shared = [jnp.stack([dln.init.orthogonal(k, [WIDTH, task.n_out], 1.0)[0] for k in keys])]
    return jax.tree_util.tree_map(lambda x: jnp.repeat(x, 2, axis=0), (paths, shared, decoders))


@functools.cache
def _run(beta):
    task, blocks = _task()
    paths, shared, decoders = _weights()
    lengths = jnp.tile(jnp.array([0.0, ONSET_LENGTH]), SEEDS)
    steps = int(round((ONSET_LENGTH + AFTER) / LR))
    sim = pathways.simulate(task, paths, lr=LR, steps=steps, every=EVERY, sources=blocks,
                            shared=shared, deficit=pathways.Remove(1, 0.0 * lengths, lengths),
                            decoders=decoders if beta else None, reconstruction=beta,
                            record_weights=True)
    t = np.asarray(sim.t)
    size_b = np.linalg.norm(np.asarray(sim.map)[:, :, 1], axis=(-2, -1))  # (B, T): ||C_b||_F
    half = []  # time after the deficit's end for ||C_b|| to reach half its converged size
    for i, length in enumerate(np.asarray(lengths)):
        target = size_b[i - i % 2, -1]  # the same seed without a deficit, converged
        reached = np.nonzero(size_b[i] >= 0.5 * target)[0]
        half.append(t[reached[0]] - length if reached.size else np.inf)
    rsv = measures.relative_source_variance(
        measures.source_variances(task, sim.final_weights[0], blocks))
    excess = np.asarray(measures.excess_loss(sim)).reshape(SEEDS, 2, -1)
    end = int(np.searchsorted(t, ONSET_LENGTH))  # the record at the deficit's end
    assert t[end] == ONSET_LENGTH
    rec_paths, _, rec_decoders = sim.recorded_weights
    return dict(t=t, end=end, excess=excess[:, :, -1], excess_all=excess,
                half=np.array(half).reshape(SEEDS, 2), rsv=np.asarray(rsv).reshape(SEEDS, 2, -1),
                b_at_end=[np.asarray(W[1::2, end]) for W in rec_paths[1]],
                a_at_end=np.asarray(rec_paths[0][0][1::2, end]),
                decoder_b_at_end=None if rec_decoders is None else np.asarray(
                    rec_decoders[1][1::2, end]))


def _a_only_optimum():
    """The best map that reads source a only (source b's pathway silent), and its excess
    loss: the plateau a deep network sits on at the end of the deficit."""
    task, blocks = _task()
    a, b = blocks[0]
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)
    M = np.zeros_like(syx)
    M[:, a:b] = np.linalg.solve(sxx[a:b, a:b], syx[:, a:b].T).T
    return M, float(task.loss(jnp.asarray(M)) - task.min_loss)


def _a_only_plateau():
    return _a_only_optimum()[1]


def _shallow_half_time():
    """A shallow network (one layer per source, summed) after the same deficit starts at the
    a-only optimum `M0` and follows the linear flow `M(t) = M* + (M0 − M*) exp(−Σxx t)`
    exactly; the time for `||C_b||` to reach half its converged size (its slowest direction,
    a against b, has curvature σ² = 0.1)."""
    task, blocks = _task()
    a, b = blocks[1]
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)
    M_star = np.linalg.solve(sxx, syx.T).T
    M0 = _a_only_optimum()[0]
    lam, Q = np.linalg.eigh(sxx)
    t = np.linspace(0.0, 30.0, 3001)
    M = M_star + np.einsum("ij,jk,tk,lk->til", M0 - M_star, Q, np.exp(-np.outer(t, lam)), Q)
    size = np.linalg.norm(M[:, :, a:b], axis=(1, 2)) / np.linalg.norm(M_star[:, a:b])
    return float(t[np.argmax(size >= 0.5)])


def test_deficit_damage_without_reconstruction():
    r = _run(0.0)
    excess, plateau = r["excess"], _a_only_plateau()
    # per latent direction with target gain g: g²/2 · (σ²/(1 + σ²) − σ²/(2 + σ²)), σ² = 0.1
    np.testing.assert_allclose(plateau, 7.25 / 2 * (0.1 / 1.1 - 0.1 / 2.1), rtol=1e-12)
    # at the end of the deficit the network sits on the a-only plateau
    np.testing.assert_allclose(r["excess_all"][:, 1, r["end"]], plateau, rtol=1e-3)
    # without a deficit the network converges within the horizon ...
    assert np.all(excess[:, 0] < 1e-3 * plateau), excess
    # ... with it, 80 time units after the deficit it has still not learned to use source b
    assert np.all(excess[:, 1] > 0.1 * plateau), excess
    # b's contribution grows back far more slowly than in a shallow network after the same
    # deficit (exact linear flow: ≈ 6.5), and than it grew from scratch
    shallow = _shallow_half_time()
    scratch, after = r["half"][:, 0], r["half"][:, 1]
    assert np.all(after > 5 * shallow) and np.all(after > 4 * scratch), r["half"]
    # and the merged units lean to source a (none is driven mainly by b); without the deficit
    # they do not lean
    rsv = r["rsv"]
    assert np.all(rsv[:, 1].mean(-1) > 0.2), rsv[:, 1].mean(-1)
    assert np.all(np.mean(rsv[:, 1] > 0.5, axis=-1) >= 0.15), rsv[:, 1]
    assert np.all(rsv[:, 1] > -0.2), rsv[:, 1]
    assert np.all(np.abs(rsv[:, 0].mean(-1)) < 0.1), rsv[:, 0].mean(-1)


def test_cross_source_reconstruction_reduces_the_damage():
    plain, rec = _run(0.0), _run(BETA)
    ex_plain, ex_rec = plain["excess"], rec["excess"]
    # the auxiliary objective does not move the optimum: without a deficit it converges too
    assert np.all(ex_rec[:, 0] < 1e-3 * _a_only_plateau()), ex_rec
    # after the same deficit and the same 80 time units the excess loss is tiny
    assert np.all(ex_rec[:, 1] < 1e-3 * ex_plain[:, 1]), (ex_rec, ex_plain)
    assert np.all(ex_rec[:, 1] < 1e-5), ex_rec
    # b recovers several times sooner, nearly as soon as in a shallow network ...
    assert np.all(rec["half"][:, 1] < plain["half"][:, 1] / 3), (rec["half"], plain["half"])
    assert np.all(rec["half"][:, 1] < 2.5 * _shallow_half_time()), rec["half"]
    # ... and the speed-up is not just the faster learning from scratch it also brings
    ratio_plain = plain["half"][:, 1] / plain["half"][:, 0]
    ratio_rec = rec["half"][:, 1] / rec["half"][:, 0]
    assert np.all(ratio_rec < 0.5 * ratio_plain), (ratio_rec, ratio_plain)
    # and the merged units no longer lean to source a: source b drives some units again
    rsv = rec["rsv"][:, 1]
    assert np.all(rsv.mean(-1) < 0.0), rsv.mean(-1)
    assert np.all(np.mean(rsv < -0.5, axis=-1) >= 0.1), rsv


def test_remove_freezes_the_deprived_pathway_whatever_the_objective():
    """Why the benefit comes after the deficit: with its input removed, pathway b gets no
    gradient from either objective, so at the end of the deficit its weights (and its decoder)
    are the initial ones, while pathway a has learned."""
    paths, _, decoders = _weights()
    for beta in (0.0, BETA):
        r = _run(beta)
        for W0, W in zip(paths[1], r["b_at_end"]):
            np.testing.assert_array_equal(W, W0[1::2])
        assert np.max(np.abs(r["a_at_end"] - np.asarray(paths[0][0][1::2]))) > 0.1
    np.testing.assert_array_equal(_run(BETA)["decoder_b_at_end"], decoders[1][1::2])


def test_mismatched_pathway_and_decoder_shapes_are_named():
    task, blocks = _task()
    paths, shared, decoders = jax.tree_util.tree_map(lambda x: x[0], _weights())
    with pytest.raises(ValueError, match=r"weights\[1\]\[-1\] has 15 rows.*shared\[0\]"):
        pathways.simulate(task, [paths[0], paths[1][:-1] + [paths[1][-1][:15]]], lr=LR,
                          steps=1, sources=blocks, shared=shared)
    summed_at_output = [paths[0][:-1] + [shared[0] @ paths[0][-1]], paths[1]]
    with pytest.raises(ValueError, match=r"weights\[1\]\[-1\] has 16 rows.*task's outputs"):
        pathways.simulate(task, summed_at_output, lr=LR, steps=1, sources=blocks)
    with pytest.raises(ValueError, match=r"decoders\[1\] must have shape \(3, 16\)"):
        pathways.simulate(task, paths, lr=LR, steps=1, sources=blocks, shared=shared,
                          decoders=[decoders[0], decoders[1][:, :5]], reconstruction=1.0)
