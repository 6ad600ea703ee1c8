"""dln.solve: exact limits, accuracy against high-accuracy integration, JAX transformations."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import dln

DEPTHS = [1, 2, 3, 4, 5, 6, 10]


def _task(seed=0, shape=(5, 7), lam=None):
    """A random task; with `lam`, the input is diagonal in the task basis with variances `lam`
    (and the singular values of sigma_yx stay in the order of the modes)."""
    rng = np.random.default_rng(seed)
    syx = rng.normal(size=shape)
    if lam is None:
        return dln.Task(np.eye(shape[1]), syx)
    U, _, Vt = np.linalg.svd(syx, full_matrices=True)
    K = len(lam)
    lam_full = np.concatenate([lam, np.ones(shape[1] - K)])
    sv = np.linspace(2.0, 0.5, K)
    return dln.Task(Vt.T @ np.diag(lam_full) @ Vt, U[:, :K] @ np.diag(sv) @ Vt[:K])


def _mp_time(s, lam, u0, u, D):
    """Flow time for a mode to go from u0 to u, t = ∫ du / (D u^{2−2/D}(s − λu)), by mpmath
    quadrature at 40 digits (the solution's definition, independent of dln's closed forms)."""
    s, lam, u0, u = (mpmath.mpf(float(x)) for x in (s, lam, u0, u))
    if D == 1:  # linear: the integral in closed form is just as independent
        return mpmath.log((s - lam * u0) / (s - lam * u)) / lam
    # in y = ln x, dt = x^{2/D−1} dy / (D(s − λx)): smooth over every scale of x
    f = lambda y: mpmath.exp(y) ** (mpmath.mpf(2) / D - 1) / (D * (s - lam * mpmath.exp(y)))
    y0, y1 = mpmath.log(u0), mpmath.log(u)
    n = int(abs(y1 - y0) / 8) + 2
    return mpmath.quad(f, [y0 + (y1 - y0) * k / n for k in range(n + 1)])


@pytest.mark.parametrize("D", DEPTHS)
def test_matches_high_precision_quadrature(D):
    """u(t) against the mode ODE's own definition at 40 digits, for small, tiny, moderate and
    above-target starts, from the first percent of the way to 1 − 1e-13 of it (saturation).

    The reference picks the value u and computes the time t(u) by quadrature; dln is evaluated
    at the float64 time nearest to t(u), and the reference follows to first order,
    u + u'(t)(t_float − t(u)). The tolerance is the conditioning of the float64 problem: a few
    ulp of u (32), plus the velocity times as many ulp of the time (G(w0) + κt in normalised
    units)."""
    mpmath.mp.dps = 40
    s = np.array([3.0, 1.7, 1.0, 0.4, 1e-15])
    lam = np.array([1.0, 0.5, 2.0, 1.0, 1.0])
    u0 = np.array([1e-3, 1e-6, 0.2, 5.0, 1e-3])  # the last: s ≪ u0, decaying like s = 0
    eps = np.finfo(float).eps
    worst = 0.0
    for k in range(len(s)):
        target = s[k] / lam[k]
        gap = [0.01, 0.1, 0.5, 0.9, 0.999, 1 - 1e-8, 1 - 1e-13]
        if k == 4:
            gap = [0.01, 0.1, 0.5, 0.9, 0.999]  # far above a tiny target: the s = 0 decay
        us = [u0[k] + g * (target - u0[k]) for g in gap]
        for u in us:
            t_mp = _mp_time(s[k], lam[k], u0[k], u, D)
            t = float(t_mp)
            velocity = D * u ** (2 - 2 / D) * (s[k] - lam[k] * u)
            ref = u + velocity * float(mpmath.mpf(t) - t_mp)
            got = float(dln.modes.trajectory(np.array([t]), s[k], lam[k], u0[k], D)[0])
            g0 = 0.0 if D < 3 else abs(float(dln.modes.G_of_w(u0[k] * lam[k] / s[k], D)))
            kappa = float(dln.modes.rate(s[k], lam[k], D))
            tol = 32 * eps * (abs(ref) + abs(velocity) * (t + g0 / kappa))
            assert abs(got - ref) <= tol, (k, u, t, got, ref, abs(got - ref) / tol)
            worst = max(worst, abs(got - ref) / tol)
    assert worst > 0.0  # (the comparison ran on real differences somewhere)


@pytest.mark.parametrize("D", [1, 2, 3, 4, 6, 10])
def test_tiny_singular_values_are_continuous_onto_zero(D):
    """A mode with s ≪ u0 (the SVD of a rank-deficient task gives s ~ 1e-17) follows the s = 0
    decay until it nears its tiny target: against 40-digit quadrature, and equal to the s = 0
    solution to rounding while u ≫ s. (Depth 2 once returned inf here.)"""
    mpmath.mp.dps = 40
    eps = np.finfo(float).eps
    u0, lam = 1e-3, 1.0
    for s in [1e-19, 1e-100]:
        for u in [0.9 * u0, 1e-6 * u0, s * (1 + 1e-3)]:
            if D == 1 and u < 1e-6 * u0:
                u = s + 1e-6 * u0  # (depth 1 decays exponentially onto s)
            t_mp = _mp_time(s, lam, u0, u, D)
            if t_mp > 1e300:
                continue  # (no float64 time gets there)
            t = float(t_mp)
            velocity = D * u ** (2 - 2 / D) * (s - lam * u)
            ref = u + velocity * float(mpmath.mpf(t) - t_mp)
            got = float(dln.modes.trajectory(np.array([t]), s, lam, u0, D)[0])
            assert np.isfinite(got)
            assert abs(got - ref) <= 64 * eps * (abs(ref) + abs(velocity) * t), (s, u, got, ref)
    task = lambda s: dln.Task(np.eye(2), np.diag([1.0, s]))
    times = [0.0, 1.0, 10.0, 1e3, 1e6]
    tiny = dln.solve(task(1e-300), depth=D, u0=1e-3, t=times).modes[:, 1]
    zero = dln.solve(task(0.0), depth=D, u0=1e-3, t=times).modes[:, 1]
    np.testing.assert_allclose(tiny, zero, rtol=1e-13, atol=2e-300)  # (depth 1 ends at s)
    assert tiny[0] == 1e-3


def test_time_to_matches_quadrature_of_the_general_integral():
    """t(u) = ∫ du / (D u^{2−2/D}(s − λu)): the deep solution's definition, by mpmath quad.

    At D = 2 the general-depth integral must reproduce the logistic solution's times."""
    mpmath.mp.dps = 30
    s, lam, u0 = 2.0, 1.5, 1e-4
    for D in [2, 3, 4, 7]:
        for frac in [0.01, 0.5, 0.99]:
            u1 = frac * s / lam
            integrand = lambda x: 1 / (D * x ** (2 - mpmath.mpf(2) / D) * (s - lam * x))
            ref = float(mpmath.quad(integrand, [u0, u0 * 10, u1]))
            got = float(dln.modes.time_to_fraction(frac, s, lam, u0, D))
            assert abs(got - ref) <= 1e-12 * ref, (D, frac, got, ref)


def test_exact_limits_at_zero_and_infinity():
    task = _task()
    for D in DEPTHS:
        u0 = np.array([1e-3, 0.5, 2.0, 0.0, 4.0])
        traj = dln.solve(task, depth=D, u0=u0, t=[0.0, 1e6, 1e300])
        np.testing.assert_array_equal(traj.modes[0], u0)  # t = 0 is exact
        started = u0 > 0 if D >= 2 else np.ones(5, bool)  # u0 = 0 is a fixed point for D >= 2
        np.testing.assert_allclose(traj.modes[1:, started],
                                   np.broadcast_to(task.s[started], (2, started.sum())),
                                   rtol=1e-14)
        assert np.all(traj.modes[1:, ~started] == 0.0)
        np.testing.assert_allclose(traj.map[0], task.U @ np.diag(u0) @ task.V.T, atol=1e-15)
        if started.all():
            np.testing.assert_allclose(traj.loss[-1], 0.0, atol=1e-12)  # excess loss


def test_zero_singular_values_decay_and_never_nan():
    # No = 4 > Ni... use a rank-deficient task: two zero modes
    syx = np.diag([2.0, 1.0, 0.0, 0.0])
    task = dln.Task(np.eye(4), syx)
    t = np.array([0.0, 0.5, 3.0, 1e8, 1e300])
    for D in DEPTHS:
        traj = dln.solve(task, depth=D, u0=0.3, t=t)
        assert np.all(np.isfinite(traj.modes)) and np.all(np.isfinite(traj.loss))
        # s = 0 modes: du/dt = −D λ u^{3−2/D}, closed form
        p = 2.0 - 2.0 / D
        expect = 0.3 * np.exp(-t) if D == 1 else 0.3 * (1 + (2 * D - 2) * 0.3**p * t) ** (-1 / p)
        np.testing.assert_allclose(traj.modes[:, 2], expect, rtol=1e-13)
        assert np.all(np.diff(traj.modes[:, 3]) <= 0)


def test_repeated_singular_values_and_one_hot_items():
    # binary tree, one-hot items: repeated singular values, sigma_xx = I/P (non-white)
    Y = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 0],
                  [0, 0, 1, 0], [0, 0, 0, 1]], float).T
    task = dln.Task.from_data(np.eye(4), Y)
    np.testing.assert_allclose(task.s * 4, [np.sqrt(7), np.sqrt(3), 1, 1], rtol=1e-13)
    traj = dln.solve(task, depth=3, u0=1e-4, t=np.linspace(0, 400, 50))
    np.testing.assert_allclose(traj.modes[:, 2], traj.modes[:, 3], rtol=1e-13)
    # converges to the least-squares map s/λ = (√7, √3, 1, 1) in mode space, map = Yᵀ
    np.testing.assert_allclose(traj.map[-1], Y.T, atol=1e-10)
    np.testing.assert_allclose(traj.loss[-1], task.min_loss, atol=1e-12)


def test_array_of_times_equals_loop_over_scalars():
    task = _task(1)
    times = np.array([0.0, 0.3, 2.0, 7.5, 40.0])
    for D in [1, 2, 4]:
        together = dln.solve(task, depth=D, u0=1e-2, t=times).modes
        alone = np.stack([dln.solve(task, depth=D, u0=1e-2, t=ti).modes[0] for ti in times])
        np.testing.assert_allclose(together, alone, rtol=1e-15)


def test_jit_vmap_and_grad_through_solve():
    task = _task(2)
    D = 3
    f = lambda t, u0: dln.solve(task, depth=D, u0=u0, t=t).loss
    t = jnp.linspace(0.0, 5.0, 7)
    np.testing.assert_allclose(jax.jit(f)(t, 1e-2), f(t, 1e-2), rtol=1e-14)
    batch = jax.vmap(lambda u: f(t, u))(jnp.array([1e-3, 1e-2, 0.1]))
    np.testing.assert_allclose(batch[1], f(t, 1e-2), rtol=1e-14)

    # d loss / d t equals −|∇L|² along the flow, and derivatives match finite differences
    g_t = jax.grad(lambda tt: f(jnp.atleast_1d(tt), 1e-2)[0])(2.0)
    h = 1e-6
    fd_t = (f(jnp.array([2.0 + h]), 1e-2) - f(jnp.array([2.0 - h]), 1e-2))[0] / (2 * h)
    np.testing.assert_allclose(g_t, fd_t, rtol=1e-6)
    g_u = jax.grad(lambda u: f(jnp.array([2.0]), u)[0])(1e-2)
    fd_u = (f(jnp.array([2.0]), 1e-2 + 1e-8) - f(jnp.array([2.0]), 1e-2 - 1e-8))[0] / 2e-8
    np.testing.assert_allclose(g_u, fd_u, rtol=1e-5)

    # with respect to the task itself (through its SVD)
    def loss_of(syx):
        return dln.solve(dln.Task(task.sigma_xx, syx), depth=D, u0=1e-2, t=jnp.array([2.0]))\
            .loss[0]

    g_task = jax.grad(loss_of)(task.sigma_yx)
    E = np.zeros_like(task.sigma_yx)
    E[1, 2] = 1.0
    fd = (loss_of(task.sigma_yx + 1e-6 * E) - loss_of(task.sigma_yx - 1e-6 * E)) / 2e-6
    np.testing.assert_allclose(g_task[1, 2], fd, rtol=1e-5)


def test_non_white_diagonal_input():
    lam = np.array([0.5, 2.0, 1.3])
    task = _task(3, shape=(3, 5), lam=lam)
    assert task.input_aligned
    np.testing.assert_allclose(task.input_variance, lam, rtol=1e-12)
    traj = dln.solve(task, depth=4, u0=1e-2, t=[1e4])
    np.testing.assert_allclose(traj.map[-1], task.lstsq_map, atol=1e-10)


def test_time_to_and_weights():
    task = _task(4)
    traj = dln.solve(task, depth=4, u0=1e-3, t=np.linspace(0, 20, 11))
    half = traj.time_to(0.5)
    at_half = dln.solve(task, depth=4, u0=1e-3, t=half[0]).modes[0, 0]
    np.testing.assert_allclose(at_half, 0.5 * task.s[0], rtol=1e-12)
    assert np.all(np.diff(half) > 0)  # stronger modes first
    ws = traj.weights()
    assert [w.shape for w in ws] == [(11, 5, 7), (11, 5, 5), (11, 5, 5), (11, 5, 5)]
    prod = ws[3] @ ws[2] @ ws[1] @ ws[0]
    np.testing.assert_allclose(prod, traj.map, atol=1e-13)
    # balanced: W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ
    np.testing.assert_allclose(np.swapaxes(ws[2], 1, 2) @ ws[2],
                               ws[1] @ np.swapaxes(ws[1], 1, 2), atol=1e-13)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=0, u0=0.1, t=[1.0]), "depth"),
        (dict(depth=2.0, u0=0.1, t=[1.0]), "depth"),
        (dict(depth=2, u0=0.1, t=[-1.0]), ">= 0"),
        (dict(depth=2, u0=-0.1, t=[1.0]), "u0"),
        (dict(depth=2, u0=np.ones(3), t=[1.0]), "shape"),
        (dict(depth=2, u0=0.1, t=[np.nan]), "NaN"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dln.solve(_task(), **kwargs)


def test_coupled_input_raises_naming_the_assumption():
    rng = np.random.default_rng(5)
    task = dln.Task.from_data(rng.normal(size=(30, 4)), rng.normal(size=(30, 2)))
    with pytest.raises(ValueError, match="diagonal in the task's right singular basis"):
        dln.solve(task, depth=2, u0=0.1, t=[1.0])


def test_solve_from_weights_dispatches_to_exact_or_labelled_numerical(getkey):
    rng = np.random.default_rng(7)
    task = dln.Task(np.eye(4), rng.normal(size=(3, 4)))
    t = np.linspace(0.0, 6.0, 4)
    balanced = dln.init.balanced(getkey(), [4, 3, 3], 0.3, lam=0.5)
    exact = dln.solve(task, weights=balanced, t=t)
    assert exact.method == "exact-riccati" and exact.stalled.shape == (3,)
    # the same initial weights integrated numerically agree with the closed form
    numeric = dln.numerical_flow.integrate(task, balanced, t)
    np.testing.assert_allclose(exact.map, numeric.map, atol=1e-9)
    # not λ-balanced, or deeper than two layers: a labelled numerical flow with an estimate
    for ws in (dln.init.gaussian(getkey(), [4, 3, 3], 0.3),
               dln.init.gaussian(getkey(), [4, 5, 5, 3], 0.3)):
        traj = dln.solve(task, weights=ws, t=t)
        assert traj.method == "numerical-flow" and not traj.is_exact
        assert traj.error_estimate.shape == t.shape and np.all(traj.error_estimate < 1e-7)
    # chaining: the end state seeds the next solve, exactly
    first = dln.solve(task, weights=balanced, t=[0.0, 2.0])
    second = dln.solve(task, weights=first.final_weights, t=[4.0])
    np.testing.assert_allclose(second.map[0], exact.map[-1], atol=1e-11)
    with pytest.raises(TypeError, match="not both"):
        dln.solve(task, weights=balanced, u0=0.1, t=t)
    with pytest.raises(ValueError, match="depth"):
        dln.solve(task, weights=balanced, depth=3, t=t)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_eager_calls_equal_traced_ones(depth):
    """A concrete eager call (numpy checks; numpy evaluation of small calls, a compiled one of
    large calls with only the branches of the closed form the modes need) gives the numbers of
    the traced computation to a few ulp, in numpy arrays, and gives the same errors."""
    task = _task(3, (4, 6))
    t = np.array([0.0, 0.5, 3.0])
    eager = dln.solve(task, depth=depth, u0=1e-2, t=t)
    traced = jax.jit(lambda t: dln.solve(task, depth=depth, u0=1e-2, t=t))(t)
    for name in ("modes", "loss"):
        np.testing.assert_allclose(getattr(eager, name), getattr(traced, name), rtol=1e-14,
                                   atol=1e-15)
    assert eager.modes.shape == (3, 4) and eager.loss.shape == (3,)
    assert isinstance(eager.modes, np.ndarray) and isinstance(eager.loss, np.ndarray)
    np.testing.assert_array_equal(np.asarray(eager.modes)[0], 1e-2)
    assert eager.method == traced.method and eager.u0.shape == (4,)
    if depth <= 2:  # a large call (compiled), at the times of a small one (numpy)
        t_large = np.linspace(0.0, 3.0, 1101)
        large = dln.solve(task, depth=depth, u0=1e-2, t=t_large)
        small = dln.solve(task, depth=depth, u0=1e-2, t=t_large[::100])
        for name in ("modes", "loss"):
            np.testing.assert_allclose(np.asarray(getattr(large, name))[::100],
                                       getattr(small, name), rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match="`t` must be >= 0"):
        dln.solve(task, depth=depth, u0=1e-2, t=[-1.0, 1.0])
    with pytest.raises(ValueError, match="`t` contains 1 NaN"):
        dln.solve(task, depth=depth, u0=1e-2, t=np.array([np.inf, 1.0]))
    with pytest.raises(ValueError, match="`u0` must be a scalar or have shape"):
        dln.solve(task, depth=depth, u0=np.ones(3), t=t)


def test_mode_solution_derivative_at_a_zero_singular_value():
    """Where s = 0 the closed forms continue to first order in s, so ∂u/∂s there is the exact
    derivative (depth 2: u = u0/(1 + 2λu0t − 2st(1 + λu0t)) + O(s²))."""
    u0, t = 0.1, 2.0
    grad = jax.jit(jax.grad(lambda s: dln.modes.trajectory(t, s, 1.0, u0, 2)))(0.0)
    assert float(grad) == pytest.approx(2 * t * (1 + u0 * t) * u0 / (1 + 2 * u0 * t) ** 2, 1e-14)
