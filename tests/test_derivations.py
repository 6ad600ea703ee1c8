"""The bridge between the symbolic derivations (`derivations/`) and the numerical code in `dln`.

Every derivation runs here (building a page runs all its checks), its page must match the file in
`docs/derivations/`, and each recorded result is lambdified and compared with `dln.modes` at seeded
random and extreme points: float64 code against the formula evaluated in mpmath at 50 digits,
relative error at most 1e-12. The unbalanced two-layer solution, which `dln` does not implement
yet, is compared with a DOP853 integration instead.
"""

import functools

import jax

jax.config.update("jax_enable_x64", True)

import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import derivations  # noqa: E402
from derivations import __main__ as cli  # noqa: E402
from dln import modes  # noqa: E402

RTOL = 1e-12
DPS = 50
DEEP = (3, 4, 5, 6)


def result(name, key):
    return derivations.derive(name).results[key]


@functools.cache
def mp_function(name, key):
    """The result as an mpmath function of float arguments, evaluated at `DPS` digits."""
    fn = result(name, key).function("mpmath")

    def call(*args):
        with mpmath.workdps(DPS):
            return fn(*(mpmath.mpf(float(v)) for v in args))

    return call


def rel_err(actual, reference) -> float:
    actual, reference = mpmath.mpf(float(actual)), mpmath.mpf(reference)
    if abs(reference) < 1e-300:  # below float64's normal range: only 0-like values qualify
        return 0.0 if abs(actual) < 1e-300 else float("inf")
    return float(abs(actual - reference) / abs(reference))


def assert_close(actual, references, label, rtol=RTOL):
    actual = np.ravel(np.asarray(actual))
    errors = [rel_err(x, r) for x, r in zip(actual, references)]
    worst = int(np.argmax(errors))
    assert errors[worst] <= rtol, (
        f"{label}: relative error {errors[worst]:.3e} > {rtol:.0e} at point {worst}: "
        f"dln {actual[worst]!r} vs derivation {mpmath.nstr(references[worst], 20)}")


def log_uniform(rng, lo, hi, n):
    return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)


# ------------------------------------------------------------------------------------- pages
def test_pages_are_up_to_date():
    out_of_date = derivations.stale()
    assert not out_of_date, (f"out of date: {[p.name for p in out_of_date]}; "
                             "regenerate with `python -m derivations`")
    assert cli.main(["--check"]) == 0


def test_check_detects_a_stale_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(derivations, "PAGES_DIR", tmp_path)
    assert cli.main([]) == 0
    assert cli.main(["--check"]) == 0
    page = tmp_path / "deep_modes.md"
    page.write_text(page.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert cli.main(["--check"]) == 1
    assert "deep_modes.md" in capsys.readouterr().err
    page.unlink()
    assert derivations.stale() == [page]


def test_checks_can_fail():
    d = derivations.Derivation("scratch", "t", sources="-", statement="-")
    x = sp.Symbol("x", positive=True)
    d.check_equal("true identity", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    with pytest.raises(derivations.VerificationError):
        d.check_equal("false identity", sp.sin(x) ** 2, 1)
    with pytest.raises(derivations.VerificationError):
        d.check_cases("one false case", [("ok", x, x), ("bad", x + 1, x)])
    with pytest.raises(derivations.VerificationError):
        d.check_zero("non-zero matrix", sp.Matrix([[0, x]]))
    with pytest.raises(derivations.VerificationError):
        d.check_numeric("too large", 1e-3, 1e-6, how="-")
    with pytest.raises(derivations.VerificationError):
        d.check_numeric("nan", float("nan"), 1.0, how="-")


# ------------------------------------------------------------------------- mode ODE and rate
def test_rate():
    rng = np.random.default_rng(0)
    s, lam = log_uniform(rng, 1e-6, 1e6, 200), log_uniform(rng, 1e-6, 1e6, 200)
    for depth in range(1, 9):
        ref = [mp_function("mode_ode", "rate")(si, li, depth) for si, li in zip(s, lam)]
        assert_close(modes.rate(s, lam, depth), ref, f"rate D={depth}")


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_trajectory_obeys_the_reduced_ode(depth):
    """d/dt of dln's trajectory (by `jax.jacfwd`) equals the derived right-hand side."""
    rng = np.random.default_rng(depth)
    s, lam = log_uniform(rng, 0.1, 10, 30), log_uniform(rng, 0.1, 10, 30)
    target = s / lam
    u0 = target * np.concatenate([log_uniform(rng, 1e-6, 0.9, 20), 1 + rng.uniform(0.1, 5, 10)])
    t = rng.uniform(0, 2, 30) / modes.rate(s, lam, depth)  # before saturation
    velocity = jax.vmap(jax.grad(modes.trajectory), in_axes=(0, 0, 0, 0, None))(
        t, s, lam, u0, depth)
    u = np.asarray(modes.trajectory(t, s, lam, u0, depth))
    ref = [mp_function("mode_ode", "reduced_ode")(ui, si, li, depth)
           for ui, si, li in zip(u, s, lam)]
    assert_close(velocity, ref, f"du/dt D={depth}", rtol=1e-11)


# ----------------------------------------------------------------------------- depth 1 and 2
def _shallow_points(seed):
    rng = np.random.default_rng(seed)
    n = 60
    s, lam = log_uniform(rng, 1e-3, 1e3, n), log_uniform(rng, 1e-3, 1e3, n)
    w0 = np.concatenate([[1e-12, 1e-8, 0.5, 0.999999, 1.000001, 5.0, 1e3],
                         log_uniform(rng, 1e-12, 1, n // 2 - 7), 1 + log_uniform(rng, 1e-6, 1e3,
                                                                                 n - n // 2)])
    tau = np.concatenate([[0.0, 1e-9, 1e-3, 1.0, 30.0, 1e3, 1e6],
                          log_uniform(rng, 1e-6, 1e2, n - 7)])
    return s, lam, w0 * s / lam, tau


@pytest.mark.parametrize("depth", [1, 2])
def test_shallow_normalized_and_trajectory(depth):
    s, lam, u0, tau = _shallow_points(10 + depth)
    w0 = u0 * lam / s
    ref = [mp_function("shallow_and_logistic", f"normalized_depth{depth}")(ti, wi)
           for ti, wi in zip(tau, w0)]
    assert_close(modes.normalized(tau, w0, depth), ref, f"normalized D={depth}")
    t = tau / np.asarray(modes.rate(s, lam, depth))
    ref = [mp_function("shallow_and_logistic", f"trajectory_depth{depth}")(*args)
           for args in zip(t, s, lam, u0)]
    assert_close(modes.trajectory(t, s, lam, u0, depth), ref, f"trajectory D={depth}")


def test_depth1_signed_init():
    """At D = 1 the mode may start negative; the derived exponential holds for any u0."""
    rng = np.random.default_rng(15)
    s, lam = log_uniform(rng, 1e-2, 1e2, 20), log_uniform(rng, 1e-2, 1e2, 20)
    u0 = -log_uniform(rng, 1e-12, 1e3, 20) * s / lam
    t = log_uniform(rng, 1e-6, 1e3, 20) / lam
    ref = [mp_function("shallow_and_logistic", "trajectory_depth1")(*args)
           for args in zip(t, s, lam, u0)]
    assert_close(modes.trajectory(t, s, lam, u0, 1), ref, "trajectory D=1, u0 < 0")
    frac = rng.uniform(0.01, 0.99, 20)
    ref = [mp_function("shallow_and_logistic", "time_depth1")(*args)
           for args in zip(frac, s, lam, u0)]
    assert_close(modes.time_to_fraction(frac, s, lam, u0, 1), ref, "t_f D=1, u0 < 0")


def test_depth1_time_to_fraction_from_tiny_start():
    s, lam = 1.0, 1.0
    u0 = np.array([1e-10, 1e-8, 1e-6])
    frac = 2 * u0
    ref = [mp_function("shallow_and_logistic", "time_depth1")(*args)
           for args in zip(frac, [s] * 3, [lam] * 3, u0)]
    assert_close(modes.time_to_fraction(frac, s, lam, u0, 1), ref, "t_f D=1, tiny u0")


@pytest.mark.parametrize("depth", [1, 2])
def test_shallow_time_to_fraction(depth):
    rng = np.random.default_rng(20 + depth)
    s, lam = log_uniform(rng, 1e-3, 1e3, 40), log_uniform(rng, 1e-3, 1e3, 40)
    w0 = np.concatenate([log_uniform(rng, 1e-12, 0.4, 20), 1 + log_uniform(rng, 0.5, 1e3, 20)])
    frac = np.where(w0 < 1, rng.uniform(0.5, 1 - 1e-9, 40), 1 + rng.uniform(1e-9, 0.4, 40))
    frac[:3] = [0.5, 1 - 1e-9, 0.9]
    u0 = w0 * s / lam
    ref = [mp_function("shallow_and_logistic", f"time_depth{depth}")(*args)
           for args in zip(frac, s, lam, u0)]
    assert_close(modes.time_to_fraction(frac, s, lam, u0, depth), ref, f"t_f D={depth}")
    if depth == 2:
        below = w0 < 0.5
        ref = [mp_function("shallow_and_logistic", "half_time_depth2")(*args)
               for args in zip(s[below], lam[below], u0[below])]
        assert_close(modes.time_to_fraction(0.5, s[below], lam[below], u0[below], 2), ref,
                     "t_1/2")


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6])
def test_modes_without_signal_decay(depth):
    rng = np.random.default_rng(30 + depth)
    lam = log_uniform(rng, 1e-3, 1e3, 40)
    u0 = np.concatenate([[1e-12, 1e3], log_uniform(rng, 1e-12, 1e3, 38)])
    t = np.concatenate([[0.0, 1e6], log_uniform(rng, 1e-6, 1e6, 38)])
    if depth <= 2:
        fn = mp_function("shallow_and_logistic", f"decay_depth{depth}")
        ref = [fn(*args) for args in zip(t, lam, u0)]
    else:
        ref = [mp_function("deep_modes", "decay")(*args, depth) for args in zip(t, lam, u0)]
    assert_close(modes.trajectory(t, 0.0, lam, u0, depth), ref, f"s = 0 decay D={depth}")


# ------------------------------------------------------------------------------- depth >= 3
@functools.cache
def G_reference(depth):
    """G at `DPS` digits: the derived closed form (D = 3, 4, 5), else the ₂F₁ forms."""
    if depth in (3, 4, 5):
        return result("deep_modes", f"G_closed_{depth}").function("mpmath")
    below = result("deep_modes", "G_hyper_below").function("mpmath")
    above = result("deep_modes", "G_hyper_above").function("mpmath")
    return lambda w: below(w, mpmath.mpf(depth)) if w < 1 else above(w, mpmath.mpf(depth))


def w_reference(tau, w0, depth):
    """Solve G(w) = G(w0) + τ at `DPS` digits, independently of `dln`'s method.

    Bisection in y = ln(w/(1−w)) (below the target) or ln(w − 1) (above), where G is monotone, to
    a bracket of width 2^-64 of the start, then two Newton steps (dG/dy = w^{2/D−1} below,
    −w^{−(2−2/D)} above) that must stay inside the bracket.
    """
    G = G_reference(depth)
    p = mpmath.mpf(2) - mpmath.mpf(2) / depth
    with mpmath.workdps(DPS):
        tau, w0 = mpmath.mpf(float(tau)), mpmath.mpf(float(w0))
        if tau == 0 or w0 == 1:
            return w0
        target = G(w0) + tau
        below = w0 < 1
        if below:
            w_of = lambda y: 1 / (1 + mpmath.exp(-y))  # noqa: E731
            slope = lambda w: w ** (1 - p)  # noqa: E731
            lo, hi = mpmath.log(w0 / (1 - w0)), mpmath.mpf(92)  # 1 − w(92) < 1e-40
            if G(w_of(hi)) <= target:
                return mpmath.mpf(1)
        else:
            w_of = lambda y: 1 + mpmath.exp(y)  # noqa: E731
            slope = lambda w: -(w ** -p)  # noqa: E731
            lo, hi = mpmath.mpf(-92), mpmath.log(w0 - 1)
            if G(w_of(lo)) <= target:
                return mpmath.mpf(1)
        for _ in range(64):  # G(w(y)) increases with y below the target, decreases above
            mid = (lo + hi) / 2
            if (G(w_of(mid)) < target) == below:
                lo = mid
            else:
                hi = mid
        y = (lo + hi) / 2
        for _ in range(2):
            w = w_of(y)
            y = y - (G(w) - target) / slope(w)
        assert lo <= y <= hi, "Newton polish left the bisection bracket"
        return w_of(y)


@pytest.mark.parametrize("depth", DEEP)
def test_G_of_w(depth):
    rng = np.random.default_rng(40 + depth)
    w = np.concatenate([[1e-12, 1e-6, 0.5, 1 - 1e-12, 1 - 1e-8, 1 + 1e-12, 1 + 1e-8, 2.0, 8.0,
                         1e6, 1e12],
                        log_uniform(rng, 1e-9, 1, 20), 1 - log_uniform(rng, 1e-12, 0.5, 10),
                        1 + log_uniform(rng, 1e-12, 1e9, 20)])
    G = G_reference(depth)
    with mpmath.workdps(DPS):
        ref = [G(mpmath.mpf(float(v))) for v in w]
    dln_G = np.asarray(modes.G_of_w(w, depth))
    # Above the target G > 0 (and → 0): relative error. Below it G changes sign once, so there
    # the error is measured against max(|G|, 1).
    errors = [float(abs(mpmath.mpf(float(g)) - r) / (abs(r) if v > 1 else max(abs(r), 1)))
              for g, r, v in zip(dln_G, ref, w)]
    worst = int(np.argmax(errors))
    assert errors[worst] <= RTOL, (f"G_of_w D={depth}: error {errors[worst]:.3e} at "
                                   f"w = {w[worst]!r}")
    # dln's derivative of G (a custom JVP) against the derived dG/dw = 1/(w^p (1 − w)).
    inside = (w > 1e-9) & (np.abs(w - 1) > 1e-9) & (w < 1e9)
    slope = np.asarray(jax.vmap(jax.grad(modes.G_of_w), in_axes=(0, None))(w[inside], depth))
    velocity = [mp_function("mode_ode", "normalised_ode")(v, depth) for v in w[inside]]
    assert_close(slope, [1 / v for v in velocity], f"dG/dw D={depth}")
    with mpmath.workdps(DPS):  # G(∞) = 0: G(w) = w^{−p}/p (1 + O(1/w)) for large w
        p = 2 - mpmath.mpf(2) / depth
        for big in (mpmath.mpf(10) ** 4, mpmath.mpf(10) ** 8):
            assert abs(G(big) / (big**-p / p) - 1) < 2 / big


def _deep_points(seed):
    rng = np.random.default_rng(seed)
    w0 = np.array([1e-12, 1e-6, 0.3, 0.999, 1.001, 3.0, 1e3])
    tau = np.array([1e-6, 0.1, 3.0, 40.0, 1e6])
    w0, tau = (g.ravel() for g in np.meshgrid(w0, tau))
    extra_w0 = np.concatenate([log_uniform(rng, 1e-9, 1, 8), 1 + log_uniform(rng, 1e-6, 1e3, 6)])
    extra_tau = log_uniform(rng, 1e-4, 1e2, extra_w0.size)
    return np.concatenate([w0, extra_w0, [0.4]]), np.concatenate([tau, extra_tau, [0.0]])


@pytest.mark.parametrize("depth", DEEP)
def test_deep_normalized_and_trajectory(depth):
    w0, tau = _deep_points(50 + depth)
    ref = [w_reference(ti, wi, depth) for ti, wi in zip(tau, w0)]
    assert_close(modes.normalized(tau, w0, depth), ref, f"normalized D={depth}")
    w0, tau = w0[::3], tau[::3]  # physical units on a subset: same code path after scaling
    rng = np.random.default_rng(60 + depth)
    s, lam = log_uniform(rng, 1e-2, 1e2, w0.size), log_uniform(rng, 1e-2, 1e2, w0.size)
    u0 = w0 * s / lam
    t = tau / np.asarray(modes.rate(s, lam, depth))
    kappa_t = [mp_function("mode_ode", "rate")(si, li, depth) * mpmath.mpf(float(ti))
               for si, li, ti in zip(s, lam, t)]
    with mpmath.workdps(DPS):
        ref = [mpmath.mpf(float(si)) / mpmath.mpf(float(li)) * w_reference(kt, wi, depth)
               for si, li, kt, wi in zip(s, lam, kappa_t, w0)]
    assert_close(modes.trajectory(t, s, lam, u0, depth), ref, f"trajectory D={depth}")


@pytest.mark.parametrize("depth", DEEP)
def test_deep_time_to_fraction(depth):
    rng = np.random.default_rng(70 + depth)
    n = 30
    w0 = np.concatenate([[1e-12, 1e-6], log_uniform(rng, 1e-9, 0.4, n - 2),
                         1 + log_uniform(rng, 0.5, 1e6, n)])
    frac = np.concatenate([[1 - 1e-9, 0.5], rng.uniform(0.5, 1 - 1e-9, n - 2),
                           1 + log_uniform(rng, 1e-9, 0.4, n)])
    s, lam = log_uniform(rng, 1e-2, 1e2, 2 * n), log_uniform(rng, 1e-2, 1e2, 2 * n)
    u0 = w0 * s / lam
    G = G_reference(depth)
    with mpmath.workdps(DPS):
        ref = [(G(mpmath.mpf(float(fi))) - G(mpmath.mpf(float(wi))))
               / mp_function("mode_ode", "rate")(si, li, depth)
               for fi, wi, si, li in zip(frac, w0, s, lam)]
    assert_close(modes.time_to_fraction(frac, s, lam, u0, depth), ref, f"t_f D={depth}")


@pytest.mark.parametrize("depth", DEEP)
def test_escape_time_asymptotics(depth):
    """At tiny u0 dln's exact time matches the derived two-term asymptotics within its bound."""
    s, lam, frac = 1.7, 0.6, 0.5
    c = 2 / depth - 1
    kappa = float(modes.rate(s, lam, depth))
    for a0 in (1e-3, 1e-4, 1e-5):
        u0 = a0**depth
        w0 = lam * u0 / s
        exact = float(modes.time_to_fraction(frac, s, lam, u0, depth))
        two_term = float(mp_function("deep_modes", "escape_time_two_term")(frac, s, lam, u0,
                                                                            depth))
        bound = w0 ** (c + 1) / ((c + 1) * (1 - w0) * kappa) + RTOL * exact
        assert abs(exact - two_term) <= bound, (depth, a0, exact, two_term, bound)
        leading = float(mp_function("deep_modes", "escape_time")(a0, s, depth))
        assert leading == pytest.approx(a0 ** (2 - depth) / ((depth - 2) * s), rel=1e-14)
        # The leading term misses only an O(1/κ) term, so its relative gap is O(a0^{D−2}).
        assert abs(exact - leading) <= abs(two_term - leading) + bound
        assert abs(two_term - leading) * kappa < 10


# --------------------------------------------------------------------- unbalanced two layers
def _integrate_modes(a0, b0, s, times):
    sol = solve_ivp(lambda _, y: [y[1] * (s - y[0] * y[1]), y[0] * (s - y[0] * y[1])],
                    (0, times[-1]), [a0, b0], method="DOP853", t_eval=times, rtol=1e-13,
                    atol=1e-15)
    assert sol.success
    return sol.y


UNBALANCED_INITS = [(0.3, 0.5, 1.0), (-0.4, 0.7, 2.0), (0.0, 0.8, 1.5), (1.2, -0.1, 0.7),
                    (0.05, 2.0, 1.0), (2.0, 0.05, 3.0), (1e-3, 1e-3, 2.0), (0.6, 0.6, 0.5)]


@pytest.mark.parametrize("a0,b0,s", UNBALANCED_INITS)
def test_unbalanced_solution_against_dop853(a0, b0, s):
    omega = np.sqrt(s**2 + (b0**2 - a0**2) ** 2 / 4)
    times = np.linspace(0, 12 / omega, 25)
    a_num, b_num = _integrate_modes(a0, b0, s, times)
    fns = {k: mp_function("unbalanced_two_layer", k) for k in ("a", "b", "u")}
    for t, a_ref, b_ref in zip(times, a_num, b_num):
        a, b, u = (float(fns[k](t, a0, b0, s)) for k in ("a", "b", "u"))
        scale = max(abs(a_ref), abs(b_ref), 1e-3)
        assert abs(a - a_ref) <= 1e-10 * scale and abs(b - b_ref) <= 1e-10 * scale, (t, a, a_ref)
        assert abs(u - a_ref * b_ref) <= 1e-10 * max(abs(u), 1e-6), (t, u, a_ref * b_ref)
    rhs = result("unbalanced_two_layer", "lambda_balanced_ode").function("numpy")
    lam = b0**2 - a0**2
    sol = solve_ivp(lambda _, y: [rhs(y[0], s, lam)], (0, times[-1]), [a0 * b0],
                    method="DOP853", t_eval=times, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sol.y[0], a_num * b_num, rtol=1e-9, atol=1e-12)


def test_unbalanced_rich_limit_is_dlns_logistic():
    rng = np.random.default_rng(80)
    s, u0 = log_uniform(rng, 0.1, 10, 20), log_uniform(rng, 1e-6, 5, 20)
    t = rng.uniform(0, 8, 20) / s
    fn = mp_function("unbalanced_two_layer", "u")
    ref = [fn(ti, np.sqrt(ui), np.sqrt(ui), si) for ti, ui, si in zip(t, u0, s)]
    assert_close(modes.trajectory(t, s, 1.0, u0, 2), ref, "λ = 0 vs dln logistic", rtol=1e-11)


def test_unbalanced_lazy_limit():
    s, u0, theta = 1.3, 0.2, np.array([0.1, 1.0, 3.0])
    fn = mp_function("unbalanced_two_layer", "u")
    lazy = [float(mp_function("unbalanced_two_layer", "lazy_limit")(th, s, u0)) for th in theta]
    gaps = []
    for lam in (1e2, 1e3, 1e4):
        root = np.sqrt(lam**2 + 4 * u0**2)
        a0, b0 = np.sqrt((root - lam) / 2), np.sqrt((root + lam) / 2)
        u = [float(fn(th / lam, a0, b0, s)) for th in theta]
        gaps.append(max(abs(x - y) for x, y in zip(u, lazy)))
    assert gaps[0] < 0.05 and gaps[1] < gaps[0] / 5 and gaps[2] < gaps[1] / 5, gaps


# ------------------------------------------------------------------------------ conservation
def test_layer_imbalance_is_conserved_by_the_matrix_flow():
    rng = np.random.default_rng(90)
    widths = (3, 4, 2, 3)
    shapes = [(widths[l + 1], widths[l]) for l in range(3)]
    X = rng.normal(size=(20, widths[0]))
    Y = rng.normal(size=(20, widths[-1]))
    sxx, syx = X.T @ X / 20, Y.T @ X / 20
    sizes = [int(np.prod(sh)) for sh in shapes]

    def unpack(y):
        return [m.reshape(sh) for m, sh in zip(np.split(y, np.cumsum(sizes)[:-1]), shapes)]

    def flow(_, y):
        W = unpack(y)
        error = syx - W[2] @ W[1] @ W[0] @ sxx
        grads = [(W[2] @ W[1]).T @ error, W[2].T @ error @ W[0].T, error @ (W[1] @ W[0]).T]
        return np.concatenate([g.ravel() for g in grads])

    def imbalances(W):
        return [W[l + 1].T @ W[l + 1] - W[l] @ W[l].T for l in range(2)]

    y0 = np.concatenate([0.5 * rng.normal(size=sh).ravel() for sh in shapes])
    sol = solve_ivp(flow, (0, 5), y0, method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success
    start, end = imbalances(unpack(y0)), imbalances(unpack(sol.y[:, -1]))
    for first, last in zip(start, end):
        np.testing.assert_allclose(last, first, atol=1e-9)
    f = result("conservation", "two_layer_imbalance").function("numpy")
    a, b = _integrate_modes(0.3, 1.1, 2.0, np.linspace(0, 5, 11))
    np.testing.assert_allclose(f(a, b), f(0.3, 1.1), rtol=1e-10)


# -------------------------------------------------------------------------------- lr_bound
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_lr_bound_on_aligned_tasks(depth):
    """`dln.lr_bound` = 2 / max_j μ_1j on aligned tasks: Σxx = diag(λ), W* = P [diag(σ) 0] (an
    output rotation P, one unused input); the j = 1 term is the mode curvature κ."""
    import dln

    rng = np.random.default_rng(depth)
    pair, kappa = mp_function("lr_bound", "pair_curvature"), mp_function("lr_bound",
                                                                          "mode_curvature")
    bounds, refs = [], []
    for _ in range(20):
        sigma = np.sort(log_uniform(rng, 1e-2, 1e2, 3))[::-1]
        lam = log_uniform(rng, 1e-3, 1e3, 4)
        P = np.linalg.qr(rng.standard_normal((3, 3)))[0]
        W = P @ np.hstack([np.diag(sigma), np.zeros((3, 1))])
        task = dln.Task(np.diag(lam), W @ np.diag(lam))
        terms = [kappa(sigma[0] * lam[0], lam[0], depth)]
        terms += [pair(sigma[0], sj, lj, depth) for sj, lj in zip([*sigma[1:], 0.0], lam[1:])]
        with mpmath.workdps(DPS):
            refs.append(2 / max(terms))
        bounds.append(dln.lr_bound(task, depth))
    assert_close(bounds, refs, f"lr_bound D={depth}")
