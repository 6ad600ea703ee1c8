"""dln.completion: masked-loss deep networks, Arora's end-to-end theory against gradient
descent, and Kleinman et al.'s (2024) pre-training deficits (n = 20, rank 2 and 4, 160 of 400
entries observed: a scaled-down version of the paper's n = 100, |Ω| = 2000)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dln import completion as C
from dln.network import product

N, N_OBS, LR = 20, 160, 1.0


@pytest.fixture(scope="module")
def problems():
    k = jax.random.split(jax.random.key(0), 4)
    M1, M2 = C.low_rank_matrix(k[0], N, 4), C.low_rank_matrix(k[1], N, 2)
    masks = C.observation_masks(k[2], N, [90, N_OBS])
    return dict(A=C.Problem(M1, masks[1]), B=C.Problem(M2, masks[1]),
                B_few=C.Problem(M2, masks[0]), key=k[3])


def test_targets_masks_and_inits():
    M = C.low_rank_matrix(jax.random.key(1), N, 3)
    s = np.linalg.svd(np.asarray(M), compute_uv=False)
    assert np.linalg.norm(np.asarray(M)) == pytest.approx(N, rel=1e-12)
    assert np.sum(s > 1e-10 * s[0]) == 3
    masks = np.asarray(C.observation_masks(jax.random.key(2), N, [50, 120]))
    assert masks.sum(axis=(1, 2)).tolist() == [50, 120]
    assert np.all(masks[0] <= masks[1])  # nested
    for kind, norm in (("orthogonal", 1e-2 * N), ("identity", 1e-2 * np.sqrt(N))):
        W = product(C.init(jax.random.key(3), N, 3, 1e-2, kind))
        assert np.linalg.norm(np.asarray(W)) == pytest.approx(norm, rel=1e-10)
    ws = C.init(jax.random.key(3), N, 2, 1e-2, "orthogonal")  # exactly balanced
    np.testing.assert_allclose(ws[1].T @ ws[1], ws[0] @ ws[0].T, atol=1e-15)


def test_singular_value_equation_is_the_diagonal_of_the_end_to_end_flow(getkey):
    """dσ_r/dt along the end-to-end velocity = −N (σ_r²)^{1−1/N} ⟨G, u_r v_rᵀ⟩ (Arora 2019)."""
    W = jax.random.normal(getkey(), (6, 6))
    G = jax.random.normal(getkey(), (6, 6))
    for depth in (1, 2, 3):
        V = C.end_to_end_velocity(W, G, depth)
        eps = 1e-6
        sv = lambda X: jnp.linalg.svd(X, compute_uv=False)
        numeric = (sv(W + eps * V) - sv(W - eps * V)) / (2 * eps)
        np.testing.assert_allclose(numeric, C.singular_value_rates(W, G, depth), rtol=1e-7)
    np.testing.assert_array_equal(C.end_to_end_velocity(W, G, 1), -G)
    # depth 2 in closed form: −(WWᵀ)^{0} G (WᵀW)^{1/2} − (WWᵀ)^{1/2} G
    U, s, Vt = np.linalg.svd(np.asarray(W))
    left, right = U @ np.diag(s) @ U.T, Vt.T @ np.diag(s) @ Vt
    np.testing.assert_allclose(C.end_to_end_velocity(W, G, 2), -(G @ right + left @ G),
                               atol=1e-12)


def test_theory_matches_gradient_descent_linearly_in_lr(problems):
    """Depth 3 from an exactly balanced (orthogonal) init, through a task switch: the gap
    between gradient descent and the integrated end-to-end flow is O(lr)."""
    depth, dur = 3, 400.0
    ws = C.init(problems["key"], N, depth, 1e-3, "orthogonal")
    sched = [(problems["A"], dur), (problems["B"], dur)]
    theory = C.theory(sched, product(ws), depth, h=0.2, every=200)
    bound = C.lr_bound(problems["B"], depth)
    lrs = np.array([0.25, 0.125, 0.0625])
    assert np.all(lrs < 0.04 * bound)
    errors = []
    for lr in lrs:
        sim = C.simulate(sched, ws, lr=lr, every=int(round(40 / lr)))
        errors.append(np.abs(np.asarray(sim.map) - np.asarray(theory.map)).max())
    slope = np.polyfit(np.log(lrs), np.log(errors), 1)[0]
    assert 0.9 <= slope <= 1.1, (errors, slope)
    # the run covers the escape from the small init and the fit of B after the switch
    assert float(theory.train_loss[0, 0]) > 0.4 and float(theory.train_loss[-1, 1]) < 1e-3


def test_depth_one_is_immune_and_deep_damage_grows_with_pretraining(problems):
    """Pre-train on A (rank 4) for T, then train on B (rank 2, same observed entries)."""
    T = np.array([0, 1000, 2000, 4000, 8000]) * LR
    finals = {}
    for depth in (1, 2, 3):
        ws = C.init(problems["key"], N, depth, 1e-3)
        traj = C.simulate([(problems["A"], T), (problems["B"], 5000 * LR)], ws, lr=LR,
                          every=1000)
        assert np.all(np.asarray(traj.train_loss[:, -1, -1]) < 1e-4)  # B is fitted everywhere
        finals[depth] = np.asarray(traj.final_test_error)
    f1 = finals[1]
    assert np.ptp(f1) <= 1e-10 * f1.mean()  # depth 1: independent of T
    for depth in (2, 3):
        f = finals[depth]
        assert np.all(np.diff(f) >= -1e-3 * f.max()), f  # grows with pre-training length
        assert f[-1] > 10 * f[0], f
    assert finals[3][0] < 1e-2 < f1[0]  # without pre-training the deep network completes B


def test_fewer_observations_first_deficit(problems):
    """Pre-train on 90 of the 160 entries of the same matrix, then on all 160."""
    T = np.array([0.0, 2000.0]) * LR
    finals = {}
    for depth in (1, 3):
        ws = C.init(problems["key"], N, depth, 1e-3)
        traj = C.simulate([(problems["B_few"], T), (problems["B"], 5000 * LR)], ws, lr=LR,
                          every=1000)
        finals[depth] = np.asarray(traj.final_test_error)
    assert np.ptp(finals[1]) <= 1e-10 * finals[1].mean()
    assert finals[3][1] > 100 * finals[3][0], finals[3]


def test_layer_gradients_are_the_gradient_of_the_masked_loss(problems):
    """The hand-written chain rule of the simulation is `jax.grad` of the masked loss."""
    for depth in (1, 2, 3):
        ws = C.init(problems["key"], N, depth, 0.5)
        p = problems["A"]
        auto = jax.grad(lambda ws: C.train_loss(product(ws), p))(ws)
        mine = C._layer_gradients(ws, (p.target, p.mask))
        for g, h in zip(mine, auto):
            np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-15)


def test_pretraining_sweep_is_simulate_with_a_shared_pretraining(problems):
    """One shared run on A (blocks of gcd(T) steps) then a batched run on B: the same numbers
    as `simulate` through [(A, T), (B, post)] for every T (unsorted, repeated, zero), and the
    seeds batched give the numbers of separate calls."""
    A, B = problems["A"], problems["B"]
    T = np.array([600.0, 0.0, 200.0, 600.0])
    ws = C.init(problems["key"], N, 3, 1e-1)
    traj = C.simulate([(A, T), (B, 400.0)], ws, lr=LR, every=100)
    out = C.pretraining_sweep(A, B, ws, pretrain=T, post=400.0, lr=LR, every=100)
    sim = np.asarray(traj.final_test_error)
    assert out["final_test_error"].shape == (4,) and np.ptp(sim) > 0.1 * sim.max()
    np.testing.assert_allclose(out["final_test_error"], sim, rtol=1e-9)
    np.testing.assert_allclose(out["final_train_loss"], traj.train_loss[:, -1, -1], rtol=1e-9)
    np.testing.assert_allclose(out["test_error"][:, -1], sim, rtol=1e-9)
    np.testing.assert_allclose(out["final_map"], traj.map[:, -1], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(out["t"], [0.0, 100.0, 200.0, 300.0, 400.0])
    # the error on A at the switch: the record of simulate at T (its first phase is A)
    at_switch = np.asarray(traj.test_error)[np.arange(4), (T / 100).astype(int), 0]
    np.testing.assert_allclose(out["switch_test_error_a"], at_switch, rtol=1e-9)
    # two seeds (other targets, other init), batched = separate
    k = jax.random.split(jax.random.key(5), 3)
    A2 = C.Problem(C.low_rank_matrix(k[0], N, 4), A.mask)
    B2 = C.Problem(C.low_rank_matrix(k[1], N, 2), A.mask)
    ws2 = C.init(k[2], N, 3, 1e-1)
    both = C.pretraining_sweep([A, A2], [B, B2], [jnp.stack(w) for w in zip(ws, ws2)],
                               pretrain=T, post=400.0, lr=LR, every=100)
    second = C.pretraining_sweep(A2, B2, ws2, pretrain=T, post=400.0, lr=LR, every=100)
    assert both["final_test_error"].shape == (2, 4)
    np.testing.assert_allclose(both["final_test_error"], [sim, second["final_test_error"]],
                               rtol=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="mask"):
        C.Problem(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="square"):
        C.Problem(np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="`kind`"):
        C.init(jax.random.key(0), 3, 2, 0.1, "xavier")
    with pytest.raises(ValueError, match="`rank`"):
        C.low_rank_matrix(jax.random.key(0), 3, 4)
    p = C.Problem(np.ones((3, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="whole numbers of steps"):
        C.simulate([(p, 1.05)], C.init(jax.random.key(0), 3, 1, 0.1), lr=0.1)
    ws = C.init(jax.random.key(0), 3, 2, 0.1)
    sweep = lambda a=p, b=p, ws=ws, **kw: C.pretraining_sweep(
        a, b, ws, **{**dict(pretrain=[0.0, 0.2], post=0.4, lr=0.1), **kw})
    with pytest.raises(ValueError, match="zipped over seeds"):
        sweep(a=[p, p], b=[p, p, p])
    with pytest.raises(ValueError, match="zipped over seeds"):
        sweep(a=[p, p], ws=[jnp.stack([w] * 3) for w in ws])
    with pytest.raises(ValueError, match="same n"):
        sweep(b=C.Problem(np.ones((4, 4)), np.ones((4, 4))))
    with pytest.raises(ValueError, match="`pretrain`"):
        sweep(pretrain=[-0.1])
    with pytest.raises(ValueError, match="whole numbers of steps"):
        sweep(post=0.45)
    with pytest.raises(ValueError, match="`every`"):
        sweep(every=3)
    with pytest.raises(TypeError, match="`b`"):
        sweep(b="B")
