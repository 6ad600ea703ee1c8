"""Weight decay in competing pathways: the exact piecewise solution against an independent DOP853
integration, the derived laws (decaying offsets at depth 1, kept ratios at depth 2, the growth
e^{(D−2)γt} of the competition quantity at depth ≥ 3), gradient descent with weight decay and
learning-rate schedules against it (O(lr)), frozen pathways that neither learn nor decay, and
jit/vmap over deficit windows."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import derivations
import dln
from dln import pathways

S = np.array([3.0, 2.0, 1.0])
GAMMA = 0.3
U0 = (np.array([2e-2, 3e-2, 5e-2]), 2e-2)
WINDOW = (0.5, 1.0)
# record times shared by the calls at one depth (one compilation): six before the window
T_GRID = np.concatenate([np.linspace(0.0, 0.45, 6), np.linspace(1.0, 8.0, 11)])


@functools.cache
def _task():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return dln.Task(np.eye(3), U[:, :3] @ np.diag(S) @ V.T)


def _reference(depth, u0, t, window, gamma):
    """`dK_p/dt = D K_p^{2−2/D}(s − ΣK) − DγK_p` (pathway 1 frozen in the window: no change),
    by scipy's DOP853 at rtol 1e-13, piece by piece."""
    K0 = np.array([np.broadcast_to(u, (3,)) for u in u0], float)
    onset, length = window

    def f(_, y, frozen):
        K = y.reshape(2, 3)
        dK = depth * K ** (2 - 2 / depth) * (S - K.sum(0)) - depth * gamma * K
        if frozen:
            dK[1] = 0.0
        return dK.ravel()

    out, y = np.zeros((len(t), 2, 3)), K0.ravel()
    for a, b, frozen in ((0.0, onset, False), (onset, onset + length, True),
                         (onset + length, np.inf, False)):
        end = min(b, t[-1])
        if end <= a:
            continue
        sol = solve_ivp(f, (a, end), y, method="DOP853", rtol=1e-13, atol=1e-300,
                        dense_output=True, args=(frozen,))
        sel = (t >= a) & (t < b)
        out[sel] = sol.sol(t[sel]).T.reshape(-1, 2, 3)
        y = sol.y[:, -1]
    return out


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_exact_against_dop853(depth):
    t = T_GRID
    traj = pathways.solve(_task(), depth=depth, u0=U0, t=t, deficit=WINDOW, weight_decay=GAMMA)
    ref = _reference(depth, U0, t, WINDOW, GAMMA)
    rel = np.max(np.abs(np.asarray(traj.modes) - ref) / np.abs(ref))
    assert rel < 1e-10, rel
    assert traj.method == {1: "exact-exponential", 2: "exact-logistic"}.get(
        depth, pathways.exact.REDUCED)
    if depth <= 2:  # the closed-form limit is where a late time goes
        late = pathways.solve(_task(), depth=depth, u0=U0, t=200.0, deficit=WINDOW,
                              weight_decay=GAMMA)
        np.testing.assert_allclose(late.modes[-1], traj.final, rtol=1e-10)


def test_final_split_closed_forms():
    K0 = np.stack([np.broadcast_to(u, (3,)) for u in U0])
    fn = derivations.derive("pathways").results["final_split_depth1_decay"].function("numpy")
    final1 = pathways.final_split(_task(), depth=1, u0=U0, weight_decay=GAMMA)
    np.testing.assert_allclose(final1, np.broadcast_to(fn(S, 1.0, GAMMA, 2), (2, 3)),
                               rtol=1e-14)
    final2 = np.asarray(pathways.final_split(_task(), depth=2, u0=U0, weight_decay=GAMMA))
    np.testing.assert_allclose(final2.sum(0), (S - GAMMA), rtol=1e-14)  # total (s − γ)/λ
    np.testing.assert_allclose(final2[0] / final2[1], K0[0] / K0[1], rtol=1e-14)  # ratios kept


def test_deep_competition_sharpens_and_its_integration_error():
    """Depth 4: φ(K_a) − φ(K_b) = K^{2/D−1}/(2−D) differences grow as e^{(D−2)γt} while both
    learn, and the integration at rtol 1e-10 and 1e-13 agree far below the test tolerances."""
    depth, t = 4, T_GRID[:6]  # before the window
    fine, coarse = (np.asarray(pathways.solve(_task(), depth=depth, u0=U0, t=T_GRID,
                                              deficit=WINDOW, weight_decay=GAMMA,
                                              rtol=r).modes) for r in (1e-13, 1e-10))
    phi = fine[:6] ** (2 / depth - 1) / (2 - depth)
    gap = phi[:, 0] - phi[:, 1]
    np.testing.assert_allclose(gap, gap[0] * np.exp((depth - 2) * GAMMA * t)[:, None],
                               rtol=1e-10)
    assert np.max(np.abs(coarse / fine - 1)) < 1e-8
    # late, the losing pathway decays towards 0 on the modes the leader learns (s = 3, 2; the
    # weakest mode, s = 1, is lost by both: it started below the weight-decay threshold)
    assert np.all(fine[-1, 1, :2] < 1e-3 * fine[-1, 0, :2])
    assert np.all(fine[-1, 0, :2] < S[:2]) and np.all(fine[-1, :, 2] < 0.01 * fine[0, :, 2])


def _slope(lrs, errors):
    return np.polyfit(np.log(lrs), np.log(errors), 1)[0]


def test_gradient_descent_converges_at_order_one():
    depth, T = 3, 3.0
    exact = pathways.solve(_task(), depth=depth, u0=U0, t=T, deficit=WINDOW,
                           weight_decay=GAMMA).modes[-1]
    weights = pathways.aligned(_task(), depth, U0)
    lrs = np.array([4e-3, 2e-3, 1e-3])
    errors = []
    for lr in lrs:
        steps = int(round(T / lr))
        sim = pathways.simulate(_task(), weights, lr=float(lr), steps=steps, every=steps,
                                deficit=WINDOW, weight_decay=GAMMA)
        errors.append(np.max(np.abs(np.asarray(sim.modes[-1] - exact))))
    assert 0.9 < _slope(lrs, errors) < 1.1, errors
    assert errors[-1] < 1e-3


def test_schedule_flow_time_and_windows():
    """A learning-rate schedule: `t` is Σ lr, windows are read at that flow time, and the run
    follows the exact solution at its record times to O(lr)."""
    depth = 2
    weights = pathways.aligned(_task(), depth, U0)
    errors, lrs = [], np.array([4e-3, 2e-3, 1e-3])
    for lr in lrs:
        steps = int(round(2.4 / lr))

        def schedule(k, lr=lr, steps=steps):  # 1.5 lr for the first third, then 0.75 lr
            return lr * jnp.where(k < steps // 3, 1.5, 0.75)

        sim = pathways.simulate(_task(), weights, lr=schedule, steps=steps, every=steps // 4,
                                deficit=WINDOW, weight_decay=GAMMA)
        flow = np.concatenate([[0.0], np.cumsum(np.where(np.arange(steps) < steps // 3, 1.5,
                                                         0.75) * lr)])
        np.testing.assert_allclose(sim.t, flow[::steps // 4], rtol=1e-12)
        exact = pathways.solve(_task(), depth=depth, u0=U0, t=np.asarray(sim.t), deficit=WINDOW,
                               weight_decay=GAMMA)
        errors.append(np.max(np.abs(np.asarray(sim.modes - exact.modes))))
    # window edges fall between steps at varying offsets: O(lr), with a noisy constant
    assert 0.8 < _slope(lrs, errors) < 1.25 and errors[-1] < 4e-3, errors


def test_frozen_pathway_gets_no_decay():
    """Frozen all run long: pathway 1's weights are exactly unchanged (no gradient, no decay),
    while pathway 0's decay acts (depth 2, s = 0 mode shrinks)."""
    weights = pathways.aligned(_task(), 2, (0.5, 0.5))
    sim = pathways.simulate(_task(), weights, lr=1e-2, steps=50, every=50,
                            deficit=pathways.Freeze(1, 0.0, 10.0), weight_decay=GAMMA)
    for W, W0 in zip(sim.final_weights[0][1], weights[1]):
        np.testing.assert_array_equal(W, W0)
    assert not np.allclose(sim.final_weights[0][0][0], weights[0][0])


def test_jit_vmap_over_windows_and_traced_decay():
    """`jax.jit(jax.vmap(...))` over windows and γ (as `critical_period_map` does), against
    single calls; a traced γ = 0 gives the solution without weight decay."""
    depth = 3
    onsets, lengths = jnp.array([0.1, 0.4, 2.0]), jnp.array([0.2, 0.5, 0.3])
    gammas = jnp.array([GAMMA, GAMMA, 0.0])
    task = _task()  # built outside the trace: `_task` caches what it returns

    def one(o, ell, gamma):
        return pathways.solve(task, depth=depth, u0=U0, t=3.0, weight_decay=gamma,
                              deficit=pathways.Freeze(1, o, ell)).modes[-1]

    batched = jax.jit(jax.vmap(one))(onsets, lengths, gammas)
    np.testing.assert_allclose(batched[1], one(0.4, 0.5, GAMMA), rtol=1e-9)
    plain = pathways.solve(_task(), depth=depth, u0=U0, t=3.0, deficit=(2.0, 0.3)).modes[-1]
    np.testing.assert_allclose(batched[2], plain, rtol=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`weight_decay`"):
        pathways.solve(_task(), depth=2, u0=U0, t=1.0, weight_decay=-0.1)
    with pytest.raises(ValueError, match="`weight_decay`"):
        pathways.final_split(_task(), depth=3, u0=U0, weight_decay=0.1)
    with pytest.raises(ValueError, match="`weight_decay`"):
        pathways.simulate(_task(), pathways.aligned(_task(), 2, U0), lr=1e-2, steps=2,
                          weight_decay=-1.0)
    with pytest.raises(ValueError, match="schedule `lr`"):
        pathways.simulate(_task(), pathways.aligned(_task(), 2, U0), lr=lambda k: -1e-2 + 0 * k,
                          steps=2)


def test_critical_period_map_carries_weight_decay_and_imbalance():
    """The map's windows equal single solves with the same weight decay or large init."""
    task = dln.datasets.hierarchy(2)
    onsets, lengths = [0.0, 10.0], [5.0]
    for kw, u0 in ((dict(weight_decay=0.05), (0.01, 0.01)),
                   (dict(imbalance=1.0), (0.01, -0.005))):
        res = dln.pathways.critical_period_map(task, depth=2, u0=u0, onsets=onsets,
                                               lengths=lengths, t=30.0, **kw)
        for i, o in enumerate(onsets):
            one = dln.pathways.solve(task, depth=2, u0=u0, t=[30.0],
                                     deficit=dln.pathways.Freeze(1, o, 5.0), **kw)
            np.testing.assert_allclose(res["modes"][i, 0], one.modes[-1], rtol=1e-10)
