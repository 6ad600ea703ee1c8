"""`dln.semantic` (Saxe, McClelland & Ganguli 2019): the exact representations, similarity,
stage times, illusory correlations and category times against the derivation
(`derivations/semantic.py`, mpmath at 50 digits) and against gradient descent (within O(lr): the
gap halves when the learning rate halves), and the argument checks."""

import dataclasses
import functools

import mpmath
import numpy as np
import pytest

import derivations
import dln
from dln import semantic

DPS = 50
RTOL = 1e-12


@functools.cache
def mp_result(key):
    fn = derivations.derive("semantic").results[key].function("mpmath")

    def call(*args):
        with mpmath.workdps(DPS):
            return fn(*(mpmath.mpf(float(v)) for v in args))

    return call


def assert_close(actual, reference, label, rtol=RTOL, scale=None):
    """Relative error at most `rtol`, relative to `scale` where given (quantities that pass
    through 0 or are differences of positive terms: their size, not their value)."""
    actual = np.ravel(np.asarray(actual, dtype=float))
    scale = [abs(r) for r in reference] if scale is None else np.ravel(scale)
    errors = [abs(mpmath.mpf(float(x)) - r) / max(mpmath.mpf(float(c)), mpmath.mpf(1e-300))
              for x, r, c in zip(actual, reference, scale)]
    worst = int(np.argmax(errors))
    assert errors[worst] <= rtol, (f"{label}: relative error {float(errors[worst]):.3e} at "
                                   f"{worst}: dln {actual[worst]!r} vs {reference[worst]}")


TOY = dln.datasets.saxe2019_toy()


# ---------------------------------------------------------------------- against the derivation
@pytest.mark.parametrize("depth, layer", [(2, 1), (3, 1), (3, 2), (4, 3), (2, 2)])
def test_toy_similarity_by_levels(depth, layer):
    rng = np.random.default_rng(10 * depth + layer)
    g = 10.0 ** rng.uniform(-4, 1, (20, 3))
    modes = g[:, [0, 1, 2, 2]]  # the two pairs' modes share their level's strength
    G = np.asarray(semantic.similarity_from_modes(TOY, modes, depth, layer))
    q = 2 * layer / depth
    for key, (i, j) in (("self", (0, 0)), ("sibling", (0, 1)), ("cousin", (0, 2))):
        ref = [mp_result(f"similarity_toy_{key}")(*gi, q) for gi in g]
        # relative to an item's own similarity, the sum of the positive terms
        assert_close(G[:, i, j], ref, f"{key} D={depth} l={layer}", scale=G[:, 0, 0])


def test_toy_illusory_output_against_derivation():
    t = np.linspace(0, 30, 61)
    for u0 in (1e-3, 0.05):
        y = semantic.feature_output(dln.solve(TOY, depth=2, u0=u0, t=t), 0, 4)
        # the output passes through 0: relative to its largest size
        assert_close(y, [mp_result("illusory_toy_depth2")(ti, u0) for ti in t], f"u0={u0}",
                     scale=np.full(t.size, np.abs(y).max()))
        peak = semantic.illusory_peak(TOY, depth=2, u0=u0, item=0, feature=4)
        assert_close([peak["peak"]], [mp_result("illusory_toy_depth2")(peak["peak_time"], u0)],
                     "peak")
        velocity = mp_result("illusory_toy_velocity_depth2")
        scale = max(abs(velocity(ti, u0)) for ti in t)
        assert abs(velocity(peak["peak_time"], u0)) < 1e-10 * scale
        assert peak["start"] < 0 < peak["peak"] and abs(peak["final"]) < 1e-14
        assert 0 < peak["zero_time"] < peak["peak_time"]
        assert abs(float(mp_result("illusory_toy_depth2")(peak["zero_time"], u0))) < 1e-12
        np.testing.assert_allclose(peak["plateaus"], [0.25, 0.5, 0.0], atol=1e-14)


def test_stage_times_against_derivation():
    assert [len(g) for g in semantic.mode_groups(dln.datasets.hierarchy(3))] == [1, 1, 2, 4]
    groups = semantic.mode_groups(TOY)
    assert [len(g) for g in groups] == [1, 1, 2]
    for u0 in (1e-6, 1e-3, 0.01):
        times = semantic.stage_times(dln.solve(TOY, depth=2, u0=u0, t=[0.0]))
        ref = [mp_result("half_time_depth2")(TOY.s[g[0]], TOY.input_variance[g[0]], u0)
               for g in groups]
        assert_close(times, ref, f"u0={u0}")
        assert np.all(np.diff(times) > 0)  # progressive differentiation: the root first
        np.testing.assert_array_equal(semantic.stage_times(TOY, depth=2, u0=u0), times)


def test_stage_times_with_weight_decay():
    """Depth 2 with weight decay γ is the logistic of r = s − γ towards r/λ, so `f s/λ` is the
    fraction `f s/r` of that target: a closed form to compare the interpolated crossing with."""
    gamma, u0 = 0.3, 1e-3
    task = dln.datasets.saxe2019_toy(whiten=True)
    traj = dln.solve(task, depth=2, u0=u0, t=np.linspace(0, 20, 2001), weight_decay=gamma)
    first = [g[0] for g in semantic.mode_groups(task)]
    s, lam = np.asarray(task.s)[first], np.asarray(task.input_variance)[first]
    f = 0.5 * s / (s - gamma)
    ref = np.where(f < 1, np.asarray(dln.modes.time_to_fraction(np.where(f < 1, f, 0.5), s - gamma,
                                                                lam, u0, 2)), np.inf)
    assert np.isinf(ref[-1]) and np.all(np.isfinite(ref[:-1]))  # the last level never gets there
    times = semantic.stage_times(traj)
    np.testing.assert_allclose(times, ref, rtol=1e-4)  # linear interpolation, records 0.01 apart
    assert np.all(times[:-1] > 1.2 * semantic.stage_times(task, depth=2, u0=u0)[:-1])
    assert semantic.category_time(traj, [0, 1, 2, 3]) == pytest.approx(ref[0], rel=1e-4)


def _three_items(direction):
    """Three one-hot items, raw singular values 400, 300, 0.04 (time scales 1e4 apart), with the
    output singular vectors chosen so that item 0, feature 0 has `c ∝ sign(V[0]) · direction`."""
    O = np.linalg.qr(np.array([[1.0, 1, 1], [1, -1, 0.3], [0.2, 1, -1]]))[0]
    r = np.sign(O[0]) * np.asarray(direction, float)
    r /= np.linalg.norm(r)
    U = np.linalg.qr(np.column_stack([r, np.eye(3)[:, 1:]]))[0]
    U = U * np.sign(U[0] * r)[None, :]
    return dln.Task.from_data(np.eye(3), O @ np.diag([400.0, 300.0, 0.04]) @ U.T)


def test_illusory_peak_edge_cases():
    # a narrow early bump (t ≈ 0.09) long before the slowest mode (t ≈ 1e3): not missed
    task = _three_items([1.0, -1.0, 1.0])
    peak = semantic.illusory_peak(task, depth=2, u0=1e-6, item=0, feature=0)
    t = np.concatenate([[0.0], np.geomspace(1e-4, 1e3, 3000), [peak["peak_time"]]])
    y = semantic.feature_output(dln.solve(task, depth=2, u0=1e-6, t=t), 0, 0)
    assert y[:-1].max() <= peak["peak"] * (1 + 1e-12) and peak["peak"] > 1.5 * peak["final"]
    assert y[-1] == pytest.approx(peak["peak"], rel=1e-12) and peak["peak_time"] < 1
    # an output that falls from its start: the peak is the start, at t = 0 (never below it)
    peak = semantic.illusory_peak(_three_items([-1.0, 0.8, 0.3]), depth=2, u0=1e-4, item=0,
                                  feature=0)
    assert peak["peak_time"] == 0 and peak["peak"] == peak["start"] < 0
    t = np.linspace(0, 200, 2001)
    # every mode starts above its target (no 0.999 crossing to set the window)
    peak = semantic.illusory_peak(TOY, depth=2, u0=[20.0, 2.0, 1.5, 1.5], item=0, feature=4)
    y = semantic.feature_output(dln.solve(TOY, depth=2, u0=[20.0, 2.0, 1.5, 1.5], t=t), 0, 4)
    assert peak["peak_time"] == 0 and peak["peak"] == pytest.approx(y.max(), rel=1e-14)
    # ... and an output that rises to its limit without passing it: the supremum, at inf
    peak = semantic.illusory_peak(TOY, depth=2, u0=50.0, item=0, feature=2)
    y = semantic.feature_output(dln.solve(TOY, depth=2, u0=50.0, t=t), 0, 2)
    assert peak["start"] < -1 and np.all(np.diff(y) > -1e-15)
    assert peak["peak_time"] == np.inf and peak["peak"] == peak["final"] >= y.max() - 1e-15


def test_zero_singular_values_are_never_learned():
    task = dln.Task(np.eye(3), np.diag([1.0, 0.5, 0.0]))
    traj = dln.solve(task, depth=2, u0=1e-3, t=np.linspace(0.0, 20.0, 41))
    exact = semantic.stage_times(traj)
    # the records read as a simulation's (the first crossing of each group's mean strength)
    sim = semantic.stage_times(dataclasses.replace(traj, method="simulation", u0=None))
    assert np.isinf(exact[-1]) and np.isinf(sim[-1]) and np.all(np.isfinite(sim[:-1]))
    # a rank-deficient task (two equal items): s at rounding level counts as 0
    Y = np.array([[1, 1, 0, 1.0], [1, 1, 0, 1], [1, 0, 1, 0], [1, 0, 1, 1]])
    task = dln.Task.from_data(np.eye(4), Y)
    assert float(task.s[-1]) < 1e-15
    assert np.isinf(semantic.stage_times(task, depth=2, u0=1e-3)[-1])


COHERENCE = ((2, 3, 5), (1, 2, 4))  # category sizes, shared features


def test_category_time_against_derivation():
    sizes, shared = COHERENCE
    task = semantic.coherence_task(sizes, shared)
    P = sum(sizes)
    for u0 in (1e-4, 1e-2):
        traj = dln.solve(task, depth=2, u0=u0, t=[0.0])
        for members, K, F in zip(semantic.category_members(sizes), sizes, shared):
            assert semantic.category_coherence(task, members) == pytest.approx(
                np.sqrt(K * F + 1), rel=1e-14)
            assert_close([semantic.category_time(traj, members)],
                         [mp_result("category_half_time_depth2")(K, F, P, u0)], f"{K}x{F}")
            assert semantic.category_time(task, members, depth=2, u0=u0) == \
                semantic.category_time(traj, members)


# ------------------------------------------------------------------ representations and MDS
def test_representations_match_the_aligned_weights():
    task = TOY
    modes = np.array([[0.3, 0.2, 0.05, 0.01], [2.0, 1.5, 0.9, 0.8]])
    for depth in (3,):
        weights = dln.init.aligned_from_strengths(task, depth, modes)
        for layer in range(1, depth + 1):
            exact = semantic.representations_from_modes(task, modes, depth, layer)
            from_weights = semantic.representations_from_weights(weights, task.X, layer)
            np.testing.assert_allclose(exact, from_weights, rtol=1e-12, atol=1e-14)
            G = semantic.similarity_from_modes(task, modes, depth, layer)
            np.testing.assert_allclose(G, semantic.similarity_from_weights(weights, task.X, layer),
                                       rtol=1e-12, atol=1e-14)
    cosine = semantic.similarity_from_modes(task, modes, 2, normalize=True)
    np.testing.assert_allclose(np.diagonal(cosine, axis1=-2, axis2=-1), 1.0, rtol=1e-14)


def test_representations_are_basis_free():
    """Random hidden bases (wider than the modes) at depths 1–3: the representations rotate by
    the layer's basis and the similarity does not change."""
    rng = np.random.default_rng(7)
    modes = np.array([[0.3, 0.2, 0.05, 0.01], [2.0, 1.5, 0.9, 0.8]])
    K = TOY.n_modes
    for depth in (1, 2, 3):
        bases = [np.linalg.qr(rng.normal(size=(6, 6)))[0] for _ in range(depth - 1)]
        weights = dln.init.aligned_from_strengths(TOY, depth, modes, bases)
        for layer in range(1, depth + 1):
            H = np.asarray(semantic.representations_from_modes(TOY, modes, depth, layer))
            rotated = H if layer == depth else H @ bases[layer - 1][:, :K].T
            np.testing.assert_allclose(
                semantic.representations_from_weights(weights, TOY.X, layer), rotated,
                rtol=1e-12, atol=1e-14)
            for normalize in (False, True):
                np.testing.assert_allclose(
                    semantic.similarity_from_weights(weights, TOY.X, layer, normalize),
                    semantic.similarity_from_modes(TOY, modes, depth, layer,
                                                   normalize=normalize),
                    rtol=1e-12, atol=1e-14)


def test_array_functions_under_jit_and_vmap():
    import jax

    modes = np.array([[0.3, 0.2, 0.05, 0.01], [2.0, 1.5, 0.9, 0.8]])
    weights = dln.init.aligned_from_strengths(TOY, 3, modes)
    for fn, arg in ((lambda u: semantic.similarity_from_modes(TOY, u, 3, 2, normalize=True),
                     modes),
                    (lambda u: semantic.representations_from_modes(TOY, u, 3, 2), modes),
                    (lambda W: semantic.similarity_from_weights(W, TOY.X, 2), weights)):
        eager = np.asarray(fn(arg))
        np.testing.assert_allclose(jax.jit(fn)(arg), eager, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(jax.vmap(fn)(arg), eager, rtol=1e-13, atol=1e-15)
    G = semantic.similarity_from_modes(TOY, modes, 2)
    Z = semantic.mds(G)
    np.testing.assert_allclose(jax.jit(lambda g: semantic.mds(g, reference=Z))(G),
                               semantic.mds(G, reference=Z), rtol=1e-12, atol=1e-13)
    with pytest.raises(TypeError, match="eager-only"):
        jax.jit(semantic.mds)(G)


def test_category_plateaus_are_category_averages():
    L = 3
    task = dln.datasets.hierarchy(L)
    Y = np.asarray(task.Y)
    for item, feature in ((0, 4), (5, 2), (3, 14), (6, 9)):
        ref = [Y[(item >> (L - k)) << (L - k):((item >> (L - k)) + 1) << (L - k), feature].mean()
               for k in range(L + 1)]
        np.testing.assert_allclose(semantic.category_plateaus(task, item, feature), ref,
                                   atol=1e-14)


def _check_mds(G):
    """MDS of exact Gram matrices `(T, 4, 4)` of the toy: distances kept, the pairs apart."""
    Z = np.asarray(semantic.mds(G, dims=3))  # full rank of the centred configuration
    dist = np.linalg.norm(Z[:, :, None] - Z[:, None, :], axis=-1)
    d = np.diagonal(G, axis1=1, axis2=2)
    np.testing.assert_allclose(dist**2, d[:, :, None] + d[:, None, :] - 2 * G, atol=1e-12)
    flat = np.asarray(semantic.mds(G))  # 2 axes cut the pairs' degenerate plane
    last = flat[-1]
    np.testing.assert_allclose(np.abs(last[:, 1]), np.abs(last[0, 1]), rtol=1e-9)  # diagonal
    assert min(np.linalg.norm(last[i] - last[j]) for i in range(4) for j in range(i)) > 0.5
    # no flips: consecutive records move little compared with the final spread
    assert np.abs(np.diff(flat, axis=0)).max() < 0.25 * np.abs(last).max()
    np.testing.assert_allclose(np.abs(semantic.mds(G[-1])), np.abs(last), atol=1e-12)


# ---------------------------------------------------------- against gradient descent (O(lr))
def _batched_runs(task, depth, u0, t_end, every, lrs, record_weights=False):
    """Gradient descent at both learning rates `lrs` (the second half the first) in one call:
    the same steps, so the small rate covers half the flow time; each run's exact flow at its
    record times."""
    steps = every * int(np.ceil(t_end / lrs[1] / every))
    init = [np.stack([w] * 2) for w in dln.init.aligned(task, depth, u0=u0)]
    sim = dln.simulate(task, init, lr=np.asarray(lrs), steps=steps, every=every,
                       record_weights=record_weights)
    return sim, [dln.solve(task, depth=depth, u0=u0, t=t) for t in sim.t]


def test_toy_gradient_descent_within_order_lr():
    sim, exact = _batched_runs(TOY, 2, 1e-3, 36.0, 10, (0.04, 0.02), record_weights=True)
    T = sim.t.shape[1] // 2 + 1  # the big step's records up to the same flow time
    G_sim = semantic.similarity(sim)
    cos_sim = semantic.similarity(sim, normalize=True)
    out_sim = semantic.feature_output(sim, 0, 4)
    stages_sim = semantic.stage_times(sim)
    errors = []
    for b, ex in enumerate(exact):
        G_exact = semantic.similarity(ex)
        Z_exact = semantic.mds(G_exact)
        errors.append([
            float(np.abs(G_sim[b] - G_exact).max()),
            float(np.abs(cos_sim[b] - semantic.similarity(ex, normalize=True)).max()),
            float(np.abs(semantic.mds(G_sim[b], reference=Z_exact) - Z_exact).max()),
            float(np.abs(out_sim[b] - semantic.feature_output(ex, 0, 4)).max()),
            float(np.abs(stages_sim[b] - semantic.stage_times(ex)).max()),
        ])
    assert float(sim.t[1, T - 1]) <= float(sim.t[0, -1])
    big, small = np.array(errors)
    _check_mds(np.asarray(G_exact))
    assert np.all(big > 0) and np.all(big < 0.2), big
    # halving lr halves every gap (first order), with room for the interpolation of the records
    np.testing.assert_array_less(small / big, 0.65)
    np.testing.assert_array_less(0.35, small / big)


def test_category_times_gradient_descent_within_order_lr():
    sizes, shared = COHERENCE
    task = semantic.coherence_task(sizes, shared)
    members = semantic.category_members(sizes)
    exact = dln.solve(task, depth=2, u0=1e-3, t=[0.0])
    times = np.array([semantic.category_time(exact, m) for m in members])
    assert np.all(np.diff(times) < 0)  # more coherent categories first
    sim, _ = _batched_runs(task, 2, 1e-3, 1.2 * times.max(), 1, (0.2, 0.1))
    gaps = np.abs(np.stack([semantic.category_time(sim, m) for m in members], axis=1) - times)
    big, small = gaps
    assert np.all(big < 0.05 * times), (big, times)
    np.testing.assert_array_less(small / big, 0.6)
    np.testing.assert_array_less(0.4, small / big)


# ------------------------------------------------------------------------- argument checks
def test_argument_checks():
    exact = dln.solve(TOY, depth=2, u0=1e-3, t=[0.0, 1.0])
    with pytest.raises(ValueError, match="`layer` must be between 1 and depth = 2"):
        semantic.similarity(exact, layer=3)
    with pytest.raises(TypeError, match="`layer` must be an int"):
        semantic.similarity(exact, layer=1.0)
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(P, 4\)"):
        semantic.similarity(exact, inputs=np.eye(3))
    with pytest.raises(TypeError, match="`traj` must be a dln.Trajectory"):
        semantic.similarity(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="`modes` must have shape"):
        semantic.similarity_from_modes(TOY, np.ones(3), 2)
    with pytest.raises(ValueError, match="record_weights=True"):
        semantic.similarity(dataclasses.replace(exact, method="simulation"))
    with pytest.raises(ValueError, match="mode solution"):
        semantic.stage_times(dataclasses.replace(exact, method="exact-riccati"))
    with pytest.raises(ValueError, match="`fraction` must be below 1"):
        semantic.stage_times(exact, fraction=1.0)
    with pytest.raises(ValueError, match="`fraction` must be > 0"):
        semantic.stage_times(exact, fraction=0.0)
    with pytest.raises(ValueError, match="different strengths"):
        semantic.stage_times(dln.solve(TOY, depth=2, u0=[1e-3, 1e-3, 1e-3, 2e-3], t=[0.0]))
    with pytest.raises(TypeError, match="needs `depth` and `u0`"):
        semantic.stage_times(TOY, depth=2)
    with pytest.raises(TypeError, match="go with a Task"):
        semantic.category_time(exact, [0, 1], depth=2, u0=1e-3)
    with pytest.raises(ValueError, match="`item` = 4 is out of range"):
        semantic.feature_output(exact, 4, 0)
    with pytest.raises(ValueError, match="`feature` = 7 is out of range"):
        semantic.illusory_peak(TOY, depth=2, u0=1e-3, item=0, feature=7)
    with pytest.raises(ValueError, match="`u0` must be >= 0"):
        semantic.illusory_peak(TOY, depth=2, u0=-1e-3, item=0, feature=4)
    with pytest.raises(ValueError, match="u0 = 0"):
        semantic.illusory_peak(TOY, depth=2, u0=0.0, item=0, feature=4)
    with pytest.raises(ValueError, match="no data `X`"):
        semantic.similarity_from_modes(dln.Task(TOY.sigma_xx, TOY.sigma_yx), np.ones(4), 2)
    with pytest.raises(ValueError, match="`sizes` and `shared` must have one entry"):
        semantic.coherence_task([2, 3], [1])
    with pytest.raises(ValueError, match="`shared` must hold positive ints"):
        semantic.coherence_task([2, 3], [1, 0])
    with pytest.raises(ValueError, match="distinct item indices"):
        semantic.category_coherence(TOY, [0, 0])
    with pytest.raises(ValueError, match="not a singular direction"):
        semantic.category_time(exact, [0, 2])  # canary + oak: no mode of the toy
    with pytest.raises(ValueError, match="`u0` must be >= 0"):
        semantic.stage_times(TOY, depth=2, u0=-1e-3)
    with pytest.raises(ValueError, match="`u0` must be >= 0"):
        semantic.category_time(semantic.coherence_task([2, 3], [1, 2]), [0, 1], depth=2,
                               u0=-1e-3)
    rng = np.random.default_rng(1)
    skew = dln.Task.from_data(rng.normal(size=(6, 4)), rng.normal(size=(6, 3)))
    with pytest.raises(ValueError, match=r"stage_times\(\) uses the exact mode solution"):
        semantic.stage_times(skew, depth=2, u0=1e-3)
    with pytest.raises(ValueError, match="`weights` is empty"):
        semantic.similarity_from_weights([], TOY.X)
    # (a simulation with biases, and dln.solve(…, biases=…), whose method is not a mode solution)
    offset = np.zeros((2, 7))
    for biased in (dataclasses.replace(exact, method="simulation", offset=offset),
                   dataclasses.replace(exact, method="reduced-integration", offset=offset)):
        with pytest.raises(ValueError, match="`traj` has biases"):
            semantic.similarity(biased)
    with pytest.raises(ValueError, match=r"`dims` = 5 exceeds"):
        semantic.mds(np.eye(4), dims=5)
    with pytest.raises(ValueError, match="`reference` must have shape"):
        semantic.mds(np.stack([np.eye(4)] * 2), reference=np.zeros((2, 4, 3)))
