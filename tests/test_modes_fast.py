"""The tabulated inverse of G (depth >= 3) against the Newton reference and mpmath."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dln import modes  # noqa: E402

DEPTHS = [3, 4, 5, 6, 10]


def _random_points(seed, n=400):
    rng = np.random.default_rng(seed)
    w0 = np.concatenate([10 ** rng.uniform(-12, 4, n // 2), rng.uniform(0, 1, n // 8),
                         1 + 10 ** rng.uniform(-12, 0, n // 8),
                         1 - 10 ** rng.uniform(-12, 0, n // 4)])
    tau = 10 ** rng.uniform(-6, 4, w0.size)
    return jnp.asarray(tau), jnp.asarray(w0)


@pytest.mark.parametrize("D", DEPTHS)
def test_table_matches_newton_reference(D):
    tau, w0 = _random_points(D)
    fast = np.asarray(modes._deep(tau, w0, D))
    newton = np.asarray(modes._deep_newton(tau, w0, D))
    np.testing.assert_allclose(fast, newton, rtol=1e-13)


@pytest.mark.parametrize("D", [3, 6])
def test_table_matches_high_precision_quadrature(D):
    """For w0 on a grid (1e-12 .. 1e4) and w from the first percent of the way to the target to
    1 − 1e-12 of it, the time τ(w) = ∫ dw / (w^{2−2/D}(1 − w)) by 40-digit quadrature (in ln w);
    the table and the Newton reference at the float τ, against w corrected to first order, within
    the conditioning of the float64 problem (see `tests/test_solve.py`)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    p = 2 - mp.mpf(2) / D
    eps = np.finfo(float).eps
    for w0 in [1e-12, 1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999, 1.001, 1.5, 10.0, 1e4]:
        for g in [0.01, 0.5, 0.99, 1 - 1e-8, 1 - 1e-12]:
            w = w0 + g * (1.0 - w0)
            y0, y1 = mp.log(w0), mp.log(w)
            n = int(abs(y1 - y0) / 4) + 2
            f = lambda y: mp.exp(y) ** (1 - p) / (1 - mp.exp(y))  # noqa: E731
            tau_mp = mp.quad(f, [y0 + (y1 - y0) * k / n for k in range(n + 1)])
            tau = float(tau_mp)
            velocity = w ** (2 - 2 / D) * (1 - w)
            ref = w + velocity * float(mp.mpf(tau) - tau_mp)
            g0 = abs(float(modes.G_of_w(w0, D)))
            tol = 32 * eps * (abs(ref) + abs(velocity) * (tau + g0))
            for got in (modes.normalized(tau, w0, D), modes._deep_newton(tau, w0, D)):
                assert abs(float(got) - ref) <= tol, (w0, w, float(got), ref)


@pytest.mark.parametrize("D", [3, 7])
def test_table_matches_mpmath_at_extreme_points(D):
    """w with G(w) = G(w0) + τ solved in 40-digit arithmetic from the float inputs."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40

    def G(w):  # the closed form of the module docstring
        a = mp.root(mp.mpf(w), D)
        out = -mp.mpf(D) / (D - 2) * a ** (2 - D) - mp.log(abs(1 - a))
        if D % 2 == 0:
            out -= mp.log(1 + a)
        for k in range(1, (D - 1) // 2 + 1):
            th = 2 * mp.pi * k / D
            out -= (mp.cos(2 * th) * mp.log(a * a - 2 * a * mp.cos(th) + 1)
                    - 2 * mp.sin(2 * th) * mp.atan2(-mp.sin(th), a - mp.cos(th)))
        return out

    def half_way(w0):  # τ taking a tiny w0 to about 2^{D/(D−2)} w0
        return 0.5 * abs(float(modes.G_of_w(w0, D)))

    cases = [(1e-300, 1e-300), (1e-300, half_way(1e-300)), (1e-200, half_way(1e-200)),
             (1e-12, half_way(1e-12)), (1e-6, 0.5), (0.3, 2.0), (0.999999, 5.0), (1 + 1e-9, 1.0),
             (1.2, 0.1), (7.9, 1e-3), (1e8, 1e-12), (1e40, 1e-60), (1e8, 20.0)]
    for w0, tau in cases:
        got = float(modes.normalized(tau, w0, D))
        with mp.workdps(40 + int(abs(mp.log10(abs(G(w0)))))):  # G is up to 1e214 here
            g = G(w0) + mp.mpf(tau)
            # the exact root, bracketed within 1e-12 (relative) of the float answer
            lo, hi = mp.mpf(got) * (1 - mp.mpf(1e-12)), mp.mpf(got) * (1 + mp.mpf(1e-12))
            f_lo = G(lo) - g
            assert f_lo * (G(hi) - g) <= 0, (w0, tau, got)
            for _ in range(90):  # bisection to 1e-39 relative
                mid = (lo + hi) / 2
                if (G(mid) - g) * f_lo > 0:
                    lo = mid
                else:
                    hi = mid
            w = (lo + hi) / 2
        assert abs(got / float(w) - 1) < 2e-15, (w0, tau, got, float(w))


@pytest.mark.parametrize("D", [3, 6, 20])
def test_table_interpolation_error(D):
    """The tabulated W against its own nodes' solver at points between the nodes."""
    tab = modes._table(D)
    rng = np.random.default_rng(D)
    below = np.concatenate([rng.uniform(-30.0, tab.g_max, 3000), -(10 ** rng.uniform(1, 9, 500))])
    above = np.concatenate([rng.uniform(0.0, tab.g_max, 3000), 10 ** rng.uniform(-40, 0, 500)])
    for g, side in [(below, False), (above, True)]:
        got = np.asarray(modes._W(jnp.asarray(g), jnp.asarray(side), D))
        np.testing.assert_allclose(got, modes._invert_np(g, side, D), rtol=1e-14)


@pytest.mark.parametrize("D", [3, 4, 7])
def test_extreme_inputs_no_nan_exact_limits(D):
    w0 = jnp.array([0.0, 1e-300, 1e-12, 0.5, 1 - 2**-53, 1.0, 1 + 2**-52, 2.0, 1e8])
    tau = jnp.array([0.0, 1e-300, 1e-8, 1.0, 1e4, 1e300, jnp.inf])[:, None]
    w = np.asarray(modes.normalized(tau, w0, D))
    assert np.all(np.isfinite(w))
    np.testing.assert_array_equal(w[0], w0)  # τ = 0 is exact
    np.testing.assert_array_equal(w[-2:], np.where(w0 == 0.0, 0.0, np.ones_like(w0))[None]
                                  .repeat(2, 0))  # huge τ: exactly the target
    below, above = np.asarray(w0) < 1.0, np.asarray(w0) > 1.0
    assert np.all(w[:, below] <= 1.0) and np.all(w[:, above] >= 1.0)  # never crosses 1
    step = np.diff(w, axis=0) / np.where(w[1:] > 0, w[1:], 1.0)  # monotone in τ, up to rounding
    assert np.all(step[:, below] >= -5e-16) and np.all(step[:, above] <= 5e-16)
    np.testing.assert_array_equal(w[:, 5], 1.0)  # w0 = 1 is a fixed point


def test_per_mode_shapes_equal_broadcast_shapes():
    tau = jnp.linspace(0.0, 30.0, 7)[:, None]
    w0 = jnp.array([1e-4, 0.3, 0.99, 1.5, 40.0])
    full_tau, full_w0 = jnp.broadcast_arrays(tau, w0)
    np.testing.assert_array_equal(modes.normalized(tau, w0, 3),
                                  modes.normalized(full_tau, full_w0, 3))


def test_jit_vmap_grad_use_the_implicit_derivative():
    D = 3
    tau = jnp.array([0.0, 0.1, 2.0, 30.0])
    w0 = jnp.array([1e-3, 0.4, 3.0])
    f = lambda t, w: modes.normalized(t[:, None], w, D)
    w = f(tau, w0)
    np.testing.assert_allclose(jax.jit(f)(tau, w0), w, rtol=1e-15)  # (XLA may fuse to FMAs)
    np.testing.assert_allclose(jax.vmap(f, in_axes=(None, 0))(tau, w0[None])[0], w, rtol=1e-15)
    # dw/dτ = w^{2−2/D}(1 − w) and dw/dw0 = f(w)/f(w0), from the implicit function theorem
    velocity = lambda w: w ** (2 - 2 / D) * (1 - w)
    dw_dtau = jax.vmap(jax.grad(lambda t, w: modes.normalized(t, w, D)), (0, None))
    for k in range(3):
        np.testing.assert_allclose(dw_dtau(tau, w0[k]), velocity(w[:, k]), rtol=1e-14)
    dw_dw0 = jax.grad(lambda w_: modes.normalized(2.0, w_, D))(w0[0])
    h = 1e-9
    fd = (modes.normalized(2.0, w0[0] + h, D) - modes.normalized(2.0, w0[0] - h, D)) / (2 * h)
    np.testing.assert_allclose(dw_dw0, fd, rtol=1e-6)
    np.testing.assert_allclose(dw_dw0, velocity(modes.normalized(2.0, w0[0], D))
                               / velocity(w0[0]), rtol=1e-13)
    # derivatives at the fixed points are finite
    for w_start in [0.0, 1.0]:
        g = jax.grad(lambda t, w_: modes.normalized(t, w_, D), argnums=(0, 1))(1.0, w_start)
        assert all(np.isfinite(np.asarray(x)) for x in g)


def test_float32_runs_without_warnings():
    with jax.enable_x64(False):
        w = modes.normalized(jnp.array([0.0, 1.0, 100.0], jnp.float32)[:, None],
                             jnp.array([1e-6, 0.5, 3.0], jnp.float32), 3)
        assert w.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(w)))


@pytest.mark.parametrize("D", [3, 4, 6])
def test_continuous_across_pieces_and_arms(D):
    """At every piece boundary and where the arms meet, W is continuous to rounding; under jit,
    where XLA may round copies of g differently, a point exactly at the meeting is still right."""
    tab = modes._table(D)
    M = 1 << modes._PIECE_BITS
    xs = [2.0 ** o * (1 + m / M) for o in range(-1, 7) for m in range(M)]
    edges = np.array([tab.split + x - 0.5 for x in xs if x >= 0.5]
                     + [tab.split - (x - 0.5) for x in xs if x > 0.5] + [tab.split])
    edges = edges[edges < tab.g_max]
    for g in [edges, np.array([x for x in xs if x < tab.g_max])]:  # below, above
        side = g is not edges
        left = np.asarray(modes._W(jnp.asarray(np.nextafter(g, -np.inf)), jnp.asarray(side), D))
        right = np.asarray(modes._W(jnp.asarray(np.nextafter(g, np.inf)), jnp.asarray(side), D))
        np.testing.assert_allclose(left, right, rtol=1e-14)
    # the time each mode reaches half its target, where the two arms below the target meet
    s = jnp.asarray(np.random.default_rng(D).uniform(0.1, 5.0, 5))
    lam, u0 = jnp.ones(5), jnp.full(5, 1e-3)
    traj = jax.jit(modes.trajectory, static_argnames="depth")
    for t_half in modes.time_to_fraction(0.5, s, lam, u0, D):
        u = traj(jnp.full((1, 1), t_half), s, lam, u0, depth=D)[0]
        assert np.any(np.abs(u / s - 0.5) < 1e-13)


def test_exp_expm1_matches_mpmath():
    """`_exp_expm1`'s one range reduction (jax, float64) against mpmath at 30 digits, from
    y = −1e-300 to the underflow of e^y: a few ulp on both, exact at 0, and the limits."""
    import mpmath
    mpmath.mp.dps = 30
    rng = np.random.default_rng(0)
    y = -np.concatenate([10 ** rng.uniform(-300, 0, 100), rng.uniform(0, 1, 100),
                         rng.uniform(1, 700, 100), [0.0, 0.5 * np.log(2.0), np.log(2.0)]])
    exp_expm1 = jax.jit(modes._exp_expm1)  # (one compilation, not one per operation)
    e, m = (np.asarray(a) for a in exp_expm1(jnp.asarray(y)))
    e_ref = np.array([float(mpmath.exp(v)) for v in y])
    m_ref = np.array([float(mpmath.expm1(v)) for v in y])
    np.testing.assert_allclose(e, e_ref, rtol=4e-16, atol=0)
    np.testing.assert_allclose(m, m_ref, rtol=4e-16, atol=0)
    assert e[-3] == 1.0 and m[-3] == 0.0
    e, m = exp_expm1(jnp.asarray([-800.0, -np.inf]))
    np.testing.assert_array_equal(e, [0.0, 0.0])
    np.testing.assert_array_equal(m, [-1.0, -1.0])
    assert jax.grad(lambda y: exp_expm1(y)[1])(-0.3) == pytest.approx(np.exp(-0.3), 1e-15)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_numpy_closed_form_is_the_jax_one(depth):
    """The numpy evaluation of small eager calls and the jax one are the same formulas: equal to
    a few ulp on modes that grow, start above the target (far above: the decay of s = 0 at
    depth 3), have s = 0 or u0 = 0, and (with weight decay) are lost; both return u0 at t = 0
    exactly. The jax closed form compiled with only the branches the modes need (as `solve`
    does for concrete tasks) gives the same numbers."""
    s = np.array([3.0, 1.0, 0.2, 1e-310, 0.0, 2.0, 1e-30])
    lam = np.array([1.0, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0])
    u0 = np.array([1e-3, 5.0, 1e-12, 0.3, 0.7, 0.0, 1.0])
    t = np.array([0.0, 1e-9, 0.3, 2.0, 40.0, 1e5])[:, None]
    for gamma in (None, 0.5) if depth <= 2 else (None,):
        if depth <= 2:
            numpy = modes._closed_form(s, lam, u0, depth, gamma, np)
            branches = modes._branches(numpy)
            pruned = modes._closed_form(s[:3], lam[:3], u0[:3], depth, gamma, np)
            assert modes._branches(pruned) <= branches
            pruned = jax.jit(lambda t: modes._closed_form(
                s[:3], lam[:3], u0[:3], depth, gamma, jnp, modes._branches(pruned))(t))(t)
        else:
            with np.errstate(all="ignore"):
                numpy = modes._deep_np(s, lam, u0, depth)[0]
        got = numpy(t)
        decay = {} if gamma is None else {"weight_decay": gamma}
        want = modes.jit_trajectory(t, s, lam, u0, depth=depth, **decay)
        # (atol: XLA on the CPU flushes subnormal results such as s = 1e-310 to 0; rtol: XLA
        # may contract a product and a sum into one rounding)
        np.testing.assert_allclose(got, want, rtol=8e-16, atol=1e-300)
        if depth <= 2:
            np.testing.assert_allclose(pruned, want[:, :3], rtol=8e-16, atol=0)
        np.testing.assert_array_equal(got[0], u0)
        assert np.all(np.isfinite(got))
