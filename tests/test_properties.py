"""Properties over random valid configurations (hypothesis; seeded, small in CI, see conftest).

- Mode solutions at any depth, singular value (down to 0), input variance, initial strength
  (tiny to far above the target) and time (0 to 1e300): finite, exactly `u0` at t = 0, monotone
  toward the target and never past it, and at the target for t → ∞.
- The two-layer solution from random λ-balanced weights: the imbalance is conserved by its
  representative weights, and the map agrees with the numerically integrated flow.
- Gradient descent at half of `lr_bound` from small random weights converges.
"""

import jax
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dln

EPS = np.finfo(float).eps


def log_uniform(lo, hi):
    """Floats 10^e with e uniform in [lo, hi]."""
    return st.floats(lo, hi).map(lambda e: 10.0**e)


@st.composite
def mode_problems(draw):
    depth = draw(st.integers(1, 9))
    s = draw(st.one_of(st.just(0.0), log_uniform(-20, 3)))
    lam = draw(log_uniform(-3, 2))
    u0 = draw(st.one_of(st.just(0.0), log_uniform(-15, 3)))
    times = draw(st.lists(st.one_of(log_uniform(-12, 12), st.just(1e300)), min_size=1,
                          max_size=12))
    return depth, s, lam, u0, np.sort(np.array([0.0] + times))


@given(mode_problems())
def test_mode_solutions_are_finite_exact_at_zero_monotone_and_converge(problem):
    D, s, lam, u0, t = problem
    u = np.asarray(dln.modes.trajectory(t, s, lam, u0, D))
    assert np.all(np.isfinite(u)), u
    assert u[0] == u0
    target = s / lam
    slack = 4 * EPS * np.maximum(u, target)  # rounding of the monotone sequence
    if u0 <= target:
        assert np.all(np.diff(u) >= -slack[1:]) and np.all(u <= target * (1 + 4 * EPS))
    else:
        assert np.all(np.diff(u) <= slack[1:]) and np.all(u >= target * (1 - 4 * EPS))
    if s == 0 and D >= 2:  # the algebraic decay, in closed form
        p = 2 - 2 / D
        np.testing.assert_allclose(u, u0 * (1 + (2 * D - 2) * lam * u0**p * t) ** (-1 / p),
                                   rtol=1e-13, atol=1e-300)
    elif t[-1] == 1e300 and (u0 > 0 or D == 1):
        np.testing.assert_allclose(u[-1], target, rtol=1e-12, atol=1e-300)
    if u0 == 0 and D >= 2:
        assert np.all(u == 0.0)  # a fixed point


@st.composite
def balanced_two_layer(draw):
    n_in, n_hidden, n_out = (draw(st.integers(1, 3)) for _ in range(3))
    lam = draw(st.sampled_from([0.0, 0.3, -0.3, 1.5]))
    assume(not (lam > 0 and n_hidden > n_out) and not (lam < 0 and n_hidden > n_in))
    scale = draw(log_uniform(-3, 0.3))
    seed = draw(st.integers(0, 2**31 - 1))
    return n_in, n_hidden, n_out, lam, scale, seed


@settings(max_examples=max(6, settings().max_examples // 4))  # (a compilation per shape)
@given(balanced_two_layer())
def test_two_layer_solution_from_random_balanced_weights(problem):
    n_in, n_hidden, n_out, lam, scale, seed = problem
    rng = np.random.default_rng(seed)
    task = dln.Task(np.eye(n_in), rng.normal(size=(n_out, n_in)))
    ws = dln.init.balanced(jax.random.key(seed), [n_in, n_hidden, n_out], scale, lam=lam)
    t = np.array([0.0, 0.5, 3.0, 20.0])
    traj = dln.solve(task, weights=ws, t=t)
    assert traj.method == "exact-riccati"
    assert np.all(np.isfinite(traj.map)) and np.all(np.isfinite(traj.loss))
    W1, W2 = traj.weights()
    imbalance = np.swapaxes(W2, 1, 2) @ W2 - W1 @ np.swapaxes(W1, 1, 2)
    np.testing.assert_allclose(imbalance, np.broadcast_to(lam * np.eye(n_hidden), imbalance.shape),
                               atol=1e-10 * (1 + scale**2))
    flow = dln.numerical_flow.integrate(task, ws, t)
    np.testing.assert_allclose(traj.map, flow.map, atol=1e-8)


@st.composite
def diagonal_input_tasks(draw):
    n = draw(st.integers(1, 4))
    s = np.sort(np.array([draw(st.floats(0.5, 2.0)) for _ in range(n)]))[::-1]
    lam = np.array([draw(st.floats(0.5, 2.0)) for _ in range(n)])
    depth = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    return s, lam, depth, seed


@settings(max_examples=max(10, settings().max_examples // 3))  # (a compilation per shape)
@given(diagonal_input_tasks())
def test_gradient_descent_below_lr_bound_converges(problem):
    s, lam, depth, seed = problem
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.normal(size=(len(s), len(s))))
    task = dln.Task(V @ np.diag(lam) @ V.T, np.diag(s) @ V.T)  # input-aligned, not whitened
    lr = 0.5 * dln.lr_bound(task, depth)
    u0 = 1e-2
    # the exact time for the slowest mode to come within 1e-8 of its target, in steps
    horizon = float(np.max(dln.solve(task, depth=depth, u0=u0, t=[0.0]).time_to(1 - 1e-8)))
    steps = int(np.ceil(1.5 * horizon / lr / 10)) * 10 + 10
    ws = dln.init.aligned(task, depth, u0=u0)
    sim = dln.simulate(task, ws, lr=lr, steps=steps, every=steps // 10)
    assert np.all(np.isfinite(sim.loss))
    np.testing.assert_allclose(sim.final_map, task.lstsq_map, atol=1e-6)
