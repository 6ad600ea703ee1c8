"""Weight decay in the exact aligned-mode solution: `dln.modes.trajectory(..., weight_decay=γ)`.

Closed forms (depth 1 and 2) and fixed points against the derivation (`derivations/weight_decay`)
at 50 digits; depth ≥ 3 (integrated) against 40-digit quadrature of the mode ODE; the threshold
below which a deep mode is lost; gradient descent with weight decay on a real network; exactness
at t = 0 and γ = 0; jit, vmap and grad.
"""

import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import derivations  # noqa: E402
import dln  # noqa: E402
from dln import modes  # noqa: E402

DPS = 50


@functools.cache
def mp_function(key):
    fn = derivations.derive("weight_decay").results[key].function("mpmath")

    def call(*args):
        with mpmath.workdps(DPS):
            return fn(*(mpmath.mpf(float(v)) if not isinstance(v, int) else mpmath.mpf(v)
                        for v in args))

    return call


def max_rel_err(actual, references):
    actual = np.ravel(np.asarray(actual))
    return max(float(abs(mpmath.mpf(float(x)) - r) / abs(r)) for x, r in zip(actual, references))


def log_uniform(rng, lo, hi, n):
    return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)


# ----------------------------------------------------------------------------- (a) closed forms
@pytest.mark.parametrize("depth", [1, 2])
def test_closed_forms_match_derivation(depth):
    rng = np.random.default_rng(depth)
    n = 80
    s, lam = log_uniform(rng, 1e-2, 1e2, n), log_uniform(rng, 1e-2, 1e2, n)
    gamma = s * log_uniform(rng, 1e-3, 1e1, n)  # both sides of s = γ at depth 2
    u0 = s / lam * log_uniform(rng, 1e-8, 1e2, n)
    t = log_uniform(rng, 1e-4, 1e1, n) / np.abs(s - gamma + lam)
    got = modes.trajectory(t, s, lam, u0, depth, weight_decay=gamma)
    ref = [mp_function(f"trajectory_depth{depth}")(*a) for a in zip(t, s, lam, gamma, u0)]
    assert max_rel_err(got, ref) <= 1e-12
    # far past saturation and far into the decay: finite, no overflow of e^{2(γ−s)t}
    late = modes.trajectory(1e6, s, lam, u0, depth, weight_decay=gamma)
    assert np.all(np.isfinite(late))
    target = modes.weight_decay_target(s, lam, gamma, depth)
    ref = [mp_function(f"target_depth{depth}")(*a) for a in zip(s, lam, gamma)]
    if depth == 2:
        ref = [max(r, 0) for r in ref]
        lost = s <= gamma
        np.testing.assert_array_equal(np.asarray(target)[lost], 0.0)
        assert np.all(late[lost] < 1e-300 + 1e-5 * u0[lost])
        np.testing.assert_array_equal(modes.weight_decay_threshold(s, lam, gamma, 2),
                                      np.where(lost, np.inf, 0.0))
        keep = ~lost
        assert max_rel_err(np.asarray(target)[keep], np.array(ref, object)[keep]) <= 1e-12
        # s = γ exactly: the algebraic decay u0/(1 + 2λu0 t)
        crit = modes.trajectory(t, s, lam, u0, 2, weight_decay=s)
        ref = [mp_function("critical_depth2")(*a) for a in zip(t, lam, u0)]
        assert max_rel_err(crit, ref) <= 1e-12
    else:
        assert max_rel_err(target, ref) <= 1e-12
        np.testing.assert_allclose(late, target, rtol=1e-12)


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_fixed_points_match_derivation(depth):
    rng = np.random.default_rng(10 + depth)
    n = 30
    s, lam = log_uniform(rng, 1e-2, 1e2, n), log_uniform(rng, 1e-2, 1e2, n)
    gmax = np.array([float(mp_function("max_weight_decay")(a, b, depth)) for a, b in zip(s, lam)])
    frac = np.concatenate([log_uniform(rng, 1e-6, 1.0, n - 3), [1e-12, 0.999, 0.9999999]])
    gamma = gmax * frac
    thr = np.asarray(modes.weight_decay_threshold(s, lam, gamma, depth))
    tgt = np.asarray(modes.weight_decay_target(s, lam, gamma, depth))
    f = derivations.derive("weight_decay").results["fixed_point_equation"].function("mpmath")
    peak = derivations.derive("weight_decay").results["peak_strength"].function("mpmath")
    with mpmath.workdps(DPS):
        for k in range(n):
            args = [mpmath.mpf(float(v)) for v in (s[k], lam[k], gamma[k])]
            um = peak(args[0], args[1], mpmath.mpf(depth))
            g = lambda uu: f(uu, *args, mpmath.mpf(depth))  # noqa: E731
            lo = mpmath.findroot(g, (mpmath.mpf(0) + mpmath.mpf(10) ** -300, um),
                                 solver="anderson") if frac[k] > 1e-10 else None
            hi = mpmath.findroot(g, (um, args[0] / args[1]), solver="anderson")
            tol = 1e-12 if frac[k] < 0.999 else 1e-6  # (a double root conditions badly)
            assert abs(tgt[k] - hi) / hi <= tol, (k, tgt[k], hi)
            if lo is not None:
                assert abs(thr[k] - lo) / lo <= tol, (k, thr[k], lo)
            else:  # tiny γ: u_- ≈ (s/λ)(γλ^p/s^{1+p})^{1/p}
                p = 1 - 2 / depth
                approx = s[k] / lam[k] * (gamma[k] * lam[k] ** p / s[k] ** (1 + p)) ** (1 / p)
                np.testing.assert_allclose(thr[k], approx, rtol=1e-6)
    if depth == 4:
        ref_thr = [mp_function("threshold_depth4")(*a) for a in zip(s, lam, gamma)]
        ref_tgt = [mp_function("target_depth4")(*a) for a in zip(s, lam, gamma)]
        assert max_rel_err(tgt[:-2], ref_tgt[:-2]) <= 1e-12
        assert max_rel_err(thr[:-3], ref_thr[:-3]) <= 1e-12
    # above γ_max every mode is lost; γ = 0 gives back s/λ
    np.testing.assert_array_equal(modes.weight_decay_target(s, lam, 1.01 * gmax, depth), 0.0)
    assert np.all(np.isinf(modes.weight_decay_threshold(s, lam, 1.01 * gmax, depth)))
    np.testing.assert_array_equal(modes.weight_decay_target(s, lam, 0.0, depth), s / lam)
    np.testing.assert_array_equal(modes.weight_decay_threshold(s, lam, 0.0, depth), 0.0)


# ---------------------------------------------------------------------- (b) depth >= 3 vs mpmath
def _mp_time(s, lam, gamma, u0, u, D):
    """t(u) = ∫ du / (D u [u^{1−2/D}(s − λu) − γ]) at 40 digits, in y = ln u."""
    with mpmath.workdps(40):
        s, lam, gamma, u0, u = (mpmath.mpf(float(v)) for v in (s, lam, gamma, u0, u))
        p = 1 - mpmath.mpf(2) / D
        f = lambda y: 1 / (D * (mpmath.exp(p * y) * (s - lam * mpmath.exp(y)) - gamma))  # noqa
        y0, y1 = mpmath.log(u0), mpmath.log(u)
        n = int(abs(y1 - y0) / 2) + 4
        return mpmath.quad(f, [y0 + (y1 - y0) * k / n for k in range(n + 1)])


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_matches_high_precision_quadrature(depth):
    """Points on the trajectory: u between u0 and the fixed point it goes to (learned from below
    and above the target, lost below the threshold); the time by quadrature, dln at the float
    time, the reference to first order in the time's rounding. Tolerance 1e-10 relative: the
    integrator's allowance is 1e-12 (1 + |ln u|) per step."""
    s, lam, gamma = 2.0, 0.5, 0.3
    target = float(modes.weight_decay_target(s, lam, gamma, depth))
    thr = float(modes.weight_decay_threshold(s, lam, gamma, depth))
    worst = 0.0
    for u0, end in [(3 * thr, target), (3 * target, target), (0.5 * thr, 0.0)]:
        gaps = [0.01, 0.1, 0.5, 0.9, 0.999, 1 - 1e-8] if end else [0.5, 0.99, 1 - 1e-6, 1 - 1e-12]
        us = [u0 + g * (end - u0) for g in gaps]
        t_mp = [_mp_time(s, lam, gamma, u0, u, depth) for u in us]
        ts = np.array([float(x) for x in t_mp])
        got = np.asarray(modes.trajectory(ts, s, lam, u0, depth, weight_decay=gamma))
        for u, tm, tf, g in zip(us, t_mp, ts, got):
            velocity = depth * u * (u ** (1 - 2 / depth) * (s - lam * u) - gamma)
            ref = u + velocity * float(mpmath.mpf(tf) - tm)
            err = abs(g - ref) / abs(ref)
            worst = max(worst, err)
            assert err <= 1e-10, (u0, u, tf, g, ref, err)
    print(f"depth {depth}: worst relative error against 40-digit quadrature {worst:.2e}")
    assert worst > 0.0


# ---------------------------------------------------------------------------- (c) the threshold
@pytest.mark.parametrize("depth", [3, 4])
def test_threshold_separates_lost_and_learned(depth):
    s, lam, gamma = np.array([1.0, 3.0]), np.array([1.0, 2.0]), np.array([0.2, 0.5])
    thr = np.asarray(modes.weight_decay_threshold(s, lam, gamma, depth))
    tgt = np.asarray(modes.weight_decay_target(s, lam, gamma, depth))
    assert np.all((thr > 0) & (thr < tgt) & (tgt < s / lam))
    u0 = np.concatenate([thr * 0.99, thr * 1.01])
    s2, lam2, g2 = (np.tile(a, 2) for a in (s, lam, gamma))
    t = np.array([0.0, 10.0, 100.0, 400.0])[:, None]
    u = np.asarray(modes.trajectory(t, s2, lam2, u0, depth, weight_decay=g2))
    below, above = u[:, :2], u[:, 2:]
    assert np.all(np.diff(below, axis=0) < 0) and np.all(below[-1] < 1e-6 * thr)
    assert np.all(np.diff(above, axis=0) > -1e-12 * tgt) and np.all(above[1] > above[0])
    np.testing.assert_allclose(above[-1], tgt, rtol=1e-10)


def test_depth2_modes_below_weight_decay_are_lost():
    s, lam, u0 = np.array([0.5, 1.0, 2.0]), np.ones(3), np.array([0.3, 0.3, 0.3])
    t = np.array([0.0, 1.0, 10.0, 100.0])[:, None]
    u = np.asarray(modes.trajectory(t, s, lam, u0, 2, weight_decay=1.0))
    assert np.all(np.diff(u[:, :2], axis=0) < 0)  # s < γ: exponential, s = γ: algebraic decay
    assert u[-1, 0] < 1e-20 and abs(u[-1, 1] - 0.3 / (1 + 2 * 0.3 * 100)) < 1e-15
    np.testing.assert_allclose(u[-1, 2], 1.0, rtol=1e-12)  # learned to (s − γ)/λ


# ---------------------------------------------------------- (d) gradient descent with weight decay
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gradient_descent_converges_linearly_in_lr(depth):
    task = dln.Task(np.diag([1.0, 0.5, 2.0]), np.diag([3.0, 1.5, 0.8]))
    gamma, T = 0.2, 2.0
    u0 = np.array([0.05, 0.3, 0.1])
    weights0 = dln.init.aligned(task, depth, u0=u0)

    @functools.partial(jax.jit, static_argnums=1)
    def descend(lr, steps):
        def step(_, ws):
            grads = dln.network.loss_gradients(ws, task.sigma_xx, task.sigma_yx)
            return [W - lr * (G + gamma * W) for W, G in zip(ws, grads)]
        ws = jax.lax.fori_loop(0, steps, step, list(weights0))
        return task.U.T @ dln.network.product(ws) @ task.V, ws

    exact = np.asarray(modes.trajectory(T, task.s, task.input_variance, u0, depth,
                                        weight_decay=gamma))
    errors = []
    for steps in (100, 200, 400):
        M, ws = descend(T / steps, steps)
        M = np.asarray(M)
        assert np.max(np.abs(M - np.diag(np.diag(M)))) < 1e-12  # stays aligned
        for l in range(depth - 1):  # and balanced
            imbalance = ws[l + 1].T @ ws[l + 1] - ws[l] @ ws[l].T
            assert np.max(np.abs(imbalance)) < 1e-12
        errors.append(np.max(np.abs(np.diag(M) - exact)) / np.max(exact))
    slopes = np.diff(np.log(errors)) / np.diff(np.log([T / 100, T / 200, T / 400]))
    print(f"depth {depth}: errors {errors}, slopes {slopes}")
    assert np.all((slopes >= 0.9) & (slopes <= 1.1)), (errors, slopes)


# ----------------------------------------------------------------- (e) exactness, transformations
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_t0_exact_and_zero_decay_unchanged(depth):
    s, lam = np.array([2.0, 1.0, 0.3]), np.array([1.0, 0.7, 1.3])
    u0 = np.array([1e-3, 0.123456789, 2.7])
    t = np.array([0.0, 0.5, 3.0])[:, None]
    u = modes.trajectory(t, s, lam, u0, depth, weight_decay=0.1)
    np.testing.assert_array_equal(u[0], u0)
    old = modes.trajectory(t, s, lam, u0, depth)
    np.testing.assert_array_equal(modes.trajectory(t, s, lam, u0, depth, weight_decay=0.0), old)
    np.testing.assert_array_equal(
        modes.trajectory(t, s, lam, u0, depth, weight_decay=np.zeros(3)), old)
    # a traced γ that is 0 for some modes gives the undecayed solution for those modes
    traced = jax.jit(modes.trajectory, static_argnums=4)(t, s, lam, u0, depth,
                                                         weight_decay=np.array([0.0, 0.1, 0.0]))
    np.testing.assert_allclose(traced[:, [0, 2]], old[:, [0, 2]], rtol=1e-14)
    np.testing.assert_allclose(traced[:, 1], u[:, 1], rtol=1e-13)
    assert modes.method_name(depth, weight_decay=True) == (
        "reduced-integration" if depth >= 3 else modes.method_name(depth))
    with pytest.raises(ValueError):
        modes.trajectory(t, s, lam, u0, depth, weight_decay=-0.1)


@pytest.mark.parametrize("depth", [2, 3])
def test_jit_vmap_grad(depth):
    s, lam, gamma = 2.0, 1.0, 0.5
    f = lambda t, u0: modes.trajectory(t, s, lam, u0, depth, weight_decay=gamma)  # noqa: E731
    t, u0 = np.array([0.3, 1.0, 2.5]), 0.05
    eager = f(t, u0)
    np.testing.assert_allclose(jax.jit(f)(t, u0), eager, rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(f, in_axes=(None, 0))(t, np.array([u0, u0])),
                               np.stack([eager, eager]), rtol=1e-14)
    dt, du0 = jax.grad(lambda t, u0: jnp.sum(f(t, u0)), argnums=(0, 1))(t, u0)
    h, jf = 1e-6, jax.jit(f)
    fd_t = (jf(t + h, u0) - jf(t - h, u0)) / (2 * h)  # (each time's u depends on it alone)
    fd_u0 = (jf(t, u0 * (1 + h)) - jf(t, u0 * (1 - h))) / (2 * h * u0)
    np.testing.assert_allclose(dt, fd_t, rtol=1e-6)
    np.testing.assert_allclose(du0, np.sum(fd_u0), rtol=1e-6)
    # d/dt is the velocity of the mode ODE
    u = np.asarray(eager)
    velocity = depth * u * (u ** (1 - 2 / depth) * (s - lam * u) - gamma)
    np.testing.assert_allclose(dt, velocity, rtol=1e-9)


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_modes_settle_for_any_time(depth):
    """Far past saturation (t up to 1e300) a learned mode sits at its stable point and a lost
    one at 0: finite, no step limit reached (a learned mode is integrated in its log-distance
    to the stable point, where the late solution is linear in t)."""
    s, lam, gamma = np.array([3.0, 1.0, 0.3]), np.ones(3), 0.1
    u0 = np.array([1e-3, 0.5, 1e-2])
    t = np.array([0.0, 10.0, 1e4, 1e8, 1e300])[:, None]
    u = np.asarray(dln.modes.trajectory(t, s, lam, u0, depth, weight_decay=gamma))
    assert np.all(np.isfinite(u))
    target = np.asarray(dln.modes.weight_decay_target(s, lam, gamma, depth))
    threshold = np.asarray(dln.modes.weight_decay_threshold(s, lam, gamma, depth))
    learned = u0 > threshold
    assert learned.any() and not learned.all()
    np.testing.assert_allclose(u[-2:, learned],
                               np.broadcast_to(target[learned], (2, learned.sum())),
                               rtol=1e-13)
    assert np.all(u[-2:, ~learned] == 0.0)
