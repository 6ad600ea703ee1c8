"""`dln.solve(..., weight_decay=γ)` and `dln.simulate(..., weight_decay=γ)`: the exact aligned
modes against the integrated full flow and against gradient descent; which methods apply."""

import numpy as np
import pytest

import dln


def _task(seed=0):
    rng = np.random.default_rng(seed)
    return dln.Task(np.eye(4), rng.normal(size=(3, 4)) * 1.5)


T = np.array([0.0, 1.0, 4.0, 12.0])


@pytest.mark.parametrize("depth, method", [(1, "exact-exponential"), (2, "exact-logistic"),
                                           (3, "reduced-integration")])
def test_modes_with_weight_decay_against_the_integrated_full_flow(depth, method):
    task, gamma = _task(), 0.15
    exact = dln.solve(task, depth=depth, u0=0.05, t=T, weight_decay=gamma)
    assert exact.method == method
    flow = dln.solve(task, depth=depth, u0=0.05, t=T, weight_decay=gamma,
                     method="numerical-flow")
    np.testing.assert_allclose(flow.modes, exact.modes, rtol=1e-8, atol=1e-12)
    # the decay matters: without it the modes differ
    plain = dln.solve(task, depth=depth, u0=0.05, t=T)
    assert np.max(np.abs(plain.modes[-1] - exact.modes[-1])) > 1e-2


def test_gradient_descent_with_weight_decay_follows_the_exact_flow():
    task, gamma, depth, u0 = _task(1), 0.1, 3, 0.05
    gaps = []
    for lr in (0.04, 0.02, 0.01):
        steps = int(round(8.0 / lr))
        sim = dln.simulate(task, dln.init.aligned(task, depth, u0=u0), lr=lr, steps=steps,
                           every=steps // 4, weight_decay=gamma)
        theory = dln.solve(task, depth=depth, u0=u0, t=sim.t, weight_decay=gamma)
        gaps.append(float(np.max(np.abs(sim.modes - theory.modes))))
    slope = np.polyfit(np.log([0.04, 0.02, 0.01]), np.log(gaps), 1)[0]
    assert 0.9 <= slope <= 1.1, (gaps, slope)


def test_methods_that_have_no_weight_decay_say_so(getkey):
    task = _task()
    # the two-layer closed form carries weight decay from balanced weights: the logistic again
    riccati = dln.solve(task, depth=2, u0=0.05, t=T, weight_decay=0.1, method="exact-riccati")
    logistic = dln.solve(task, depth=2, u0=0.05, t=T, weight_decay=0.1)
    np.testing.assert_allclose(riccati.modes, logistic.modes, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="no closed form"):
        dln.solve(task, depth=3, u0=0.05, t=T, weight_decay=0.1, method="exact-implicit")
    with pytest.raises(ValueError, match="weight_decay"):
        dln.solve(task, depth=3, u0=0.05, t=T, weight_decay=-0.1)
    ws = dln.init.balanced(getkey(), [4, 3, 3], 0.3, lam=0.0)
    decayed = dln.solve(task, weights=ws, t=T, weight_decay=0.1)
    assert decayed.method == "exact-riccati"  # balanced weights: the closed form with decay
    flow = dln.solve(task, weights=ws, t=T, weight_decay=0.1, method="numerical-flow")
    np.testing.assert_allclose(decayed.map, flow.map, atol=1e-9)
    imbalanced = dln.init.balanced(getkey(), [4, 3, 3], 0.3, lam=0.5)
    assert dln.solve(task, weights=imbalanced, t=T, weight_decay=0.1).method == "numerical-flow"
    with pytest.raises(ValueError, match="does not apply"):
        dln.solve(task, weights=imbalanced, t=T, weight_decay=0.1, method="exact-riccati")
    assert dln.solve(task, weights=ws, t=T).method == "exact-riccati"


def test_time_to_with_weight_decay_reads_the_records():
    """With weight decay a mode does not settle at s/λ: time_to interpolates the records (the
    closed-form time of the undecayed mode would be wrong), and a level above the decayed
    target is never reached."""
    task = dln.Task(np.eye(2), np.diag([2.0, 1.0]))
    t = np.linspace(0.0, 6.0, 6001)
    for depth in (1, 2):
        traj = dln.solve(task, depth=depth, u0=0.01, t=t, weight_decay=0.5)
        half = np.asarray(traj.time_to(0.5))
        target = np.asarray(dln.modes.weight_decay_target(task.s, 1.0, 0.5, depth))
        for k in range(2):
            if target[k] > 0.5 * task.s[k] * (1 + 1e-6):
                crossed = t[np.argmax(np.asarray(traj.modes[:, k]) >= 0.5 * task.s[k])]
                assert abs(half[k] - crossed) <= 1e-3
            else:
                assert half[k] == np.inf


@pytest.mark.parametrize("depth", [3, 5])
def test_huge_initial_strengths_with_weight_decay_are_finite(depth):
    """A mode started far above its stable point (u0 up to 1e300) comes down without NaN: in
    v = u^{−(2−2/D)} its flow has no stiffness; against a stiff integrator (Radau) of ln u."""
    from scipy.integrate import solve_ivp

    gamma = 0.01
    for u0 in (1e3, 1e10, 1e100, 1e300):
        t = np.array([0.0, 1e-3, 1.0, 100.0, 1e300])
        u = np.asarray(dln.modes.trajectory(t, 1.0, 1.0, u0, depth, weight_decay=gamma))
        assert np.all(np.isfinite(u)) and u[0] == u0
    f = lambda _, y: depth * (np.exp((1 - 2 / depth) * y) * (1 - np.exp(y)) - gamma)  # noqa: E731
    ts = np.array([1e-3, 1.0, 100.0])
    ref = np.exp(solve_ivp(f, (0, 100), [np.log(1e3)], t_eval=ts, method="Radau", rtol=1e-12,
                           atol=1e-12).y[0])
    got = np.asarray(dln.modes.trajectory(ts, 1.0, 1.0, 1e3, depth, weight_decay=gamma))
    np.testing.assert_allclose(got, ref, rtol=1e-7)
