"""dln.riccati (exact two-layer flow from λ-balanced weights), dln.regime and dln.init.balanced.

Three kinds of checks: against independent high-accuracy integration of the weight flow (scipy
DOP853 and Radau), exact limits and special cases (aligned modes, the one-unit closed form of the
derivation, converged representations, stalled modes), and gradient descent (gap linear in lr).
"""

import functools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import derivations
import dln
from dln import regime, riccati
from dln.trajectory import Deferred

LAMS = [-2.0, -0.5, 0.0, 0.5, 2.0]
# (Ni, Nh, No): Ni ≠ No both ways; the hidden layer narrower than both sides, so every λ is
# possible (λ > 0 needs Nh ≤ No, λ < 0 needs Nh ≤ Ni).
SHAPES = [(4, 3, 5), (5, 2, 3)]
WIDE = (2, 5, 3)  # hidden layer the widest: only λ = 0
# One number of times for every evaluation (one compilation per shape; also regime's grid).
TIMES = np.array([0.0, 0.05, 0.15, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 18.0,
                  30.0, 60.0])
LONG = np.array([0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 3e3, 5e3,
                 7e3, 1e4])


def _padded(times):
    """`times` padded with zeros to the length of TIMES (to reuse the compiled evaluation)."""
    return np.concatenate([times, np.zeros(TIMES.size - len(times))])


def _task(shape, seed=0, c=1.0):
    n_in, _, n_out = shape
    rng = np.random.default_rng(seed)
    return dln.Task(c * np.eye(n_in), rng.normal(size=(n_out, n_in)))


def _weights(shape, lam, seed=0, scale=0.4):
    n_in, n_h, n_out = shape
    return [np.asarray(w) for w in dln.init.balanced(jax.random.key(seed), [n_in, n_h, n_out],
                                                     scale, lam)]


def _flow(task):
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)

    def unpack(y, n_h):
        n1 = n_h * task.n_in
        return y[:n1].reshape(n_h, task.n_in), y[n1:].reshape(task.n_out, n_h)

    def rhs(y, n_h):
        W1, W2 = unpack(y, n_h)
        err = syx - W2 @ W1 @ sxx
        return np.concatenate([(W2.T @ err).ravel(), (err @ W1.T).ravel()])

    return unpack, rhs


def _reference(task, weights, times, method="DOP853", rtol=1e-13, atol=1e-15):
    """The weight flow integrated by scipy (an independent method): maps (T, No, Ni)."""
    unpack, rhs = _flow(task)
    n_h = weights[0].shape[0]
    y0 = np.concatenate([w.ravel() for w in weights])
    sol = solve_ivp(lambda _, y: rhs(y, n_h), (0.0, float(times[-1])), y0, method=method,
                    t_eval=times, rtol=rtol, atol=atol)
    assert sol.success
    return np.array([W2 @ W1 for W1, W2 in (unpack(y, n_h) for y in sol.y.T)])


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.linalg.norm(a - b, axis=(-2, -1))
                        / np.maximum(np.linalg.norm(b, axis=(-2, -1)), 1e-300)))


# ------------------------------------------------------------------- against integration
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lam", LAMS)
def test_matches_dop853_rectangular(shape, lam):
    task = _task(shape, seed=1)
    weights = _weights(shape, lam, seed=2)
    traj = riccati.two_layer_trajectory(task, weights, TIMES)
    assert traj.method == "exact-riccati" and traj.depth == 2
    assert _rel(traj.map, _reference(task, weights, TIMES)) <= 1e-9
    # the modes come from the factors, not the map: equal to rounding on the map's scale (a
    # decaying mode at 1e-49 is resolved there, while Uᵀ map V leaves ~1e-17 of rounding)
    np.testing.assert_allclose(traj.modes, task.mode_strengths(traj.map), rtol=1e-13,
                               atol=1e-15 * float(np.max(np.abs(traj.map))))
    np.testing.assert_allclose(traj.loss, task.loss(traj.map), rtol=1e-13)


@pytest.mark.parametrize("shape,lam", [((4, 3, 5), 2.0), ((5, 2, 3), -0.5), (WIDE, 0.0)])
def test_matches_implicit_integration_up_to_1e4(shape, lam):
    """t up to 10⁴, where e^{Ft} overflows: Radau (implicit, another method) as reference.
    The wide λ = 0 case has zero eigenvalues of F: directions that decay like 1/t."""
    times = LONG
    task = _task(shape, seed=3)
    weights = _weights(shape, lam, seed=4)
    traj = riccati.two_layer_trajectory(task, weights, times)
    assert np.all(np.isfinite(traj.map))
    ref = _reference(task, weights, times, method="Radau", rtol=1e-12, atol=1e-14)
    assert _rel(traj.map, ref) <= 1e-9


def test_huge_times_are_finite_and_reach_the_limit():
    shape = SHAPES[0]
    sol = riccati.two_layer_solution(_task(shape), _weights(shape, 0.5))
    blocks = sol.blocks(np.concatenate([TIMES[:-2], [1e3, 1e300]]))
    assert all(np.all(np.isfinite(np.asarray(b))) for b in
               (blocks.map, blocks.input_similarity, blocks.output_similarity))
    limit = sol.limit()
    for field in ("map", "input_similarity", "output_similarity"):
        np.testing.assert_allclose(getattr(blocks, field)[-1], getattr(limit, field),
                                   atol=1e-12)


def test_isotropic_non_white_input():
    """sigma_xx = c I: the flow of √c W is the whitened flow with imbalance cλ."""
    shape = (4, 3, 5)
    task = _task(shape, seed=5, c=2.5)
    weights = _weights(shape, -0.5, seed=6)
    sol = riccati.two_layer_solution(task, weights)
    assert float(sol.input_scale) == 2.5
    traj = sol.trajectory(TIMES)
    assert _rel(traj.map, _reference(task, weights, TIMES)) <= 1e-9
    # Nh = 3 < K = 4: the limit is the best rank-3 map, Σyx/c truncated to its top 3 modes
    U, s, V = (np.asarray(a) for a in (task.U, task.s, task.V))
    np.testing.assert_allclose(sol.limit().map, U[:, :3] @ np.diag(s[:3] / 2.5) @ V[:, :3].T,
                               atol=1e-12)


# ---------------------------------------------------------------- exact special cases
def test_t_zero_gives_the_initial_blocks_exactly():
    shape = SHAPES[1]
    W1, W2 = _weights(shape, -2.0)
    blocks, stalled = riccati.two_layer_blocks(_task(shape), [W1, W2], TIMES)
    np.testing.assert_allclose(blocks.map[0], W2 @ W1, atol=1e-14)
    np.testing.assert_allclose(blocks.input_similarity[0], W1.T @ W1, atol=1e-14)
    np.testing.assert_allclose(blocks.output_similarity[0], W2 @ W2.T, atol=1e-14)
    assert not np.any(stalled)


def test_aligned_balanced_init_is_the_logistic_of_solve():
    """λ = 0 aligned init (dln.init.aligned) is the special case solved mode by mode."""
    shape = (4, 3, 5)
    task = _task(shape, seed=7)
    u0 = np.array([1e-3, 0.05, 2.0, 0.0])  # small, moderate, above the target; Nh = 3 < K
    weights = [np.asarray(w) for w in dln.init.aligned(task, 2, width=3, u0=u0,
                                                       key=jax.random.key(1))]
    traj = riccati.two_layer_trajectory(task, weights, TIMES)
    modes = dln.solve(task, depth=2, u0=u0, t=TIMES).modes
    np.testing.assert_allclose(traj.modes, modes, rtol=1e-11, atol=1e-15)


def _aligned_lambda_weights(task, lam, u0, n_h):
    """Aligned weights with every mode λ-balanced with the same λ (b² − a² = λ, ab = u0)."""
    root = np.sqrt(lam**2 + 4 * u0**2)
    a = np.sign(u0) * np.sqrt((root - lam) / 2)
    b = np.sqrt((root + lam) / 2)
    K = task.n_modes
    W1 = np.zeros((n_h, task.n_in))
    W2 = np.zeros((task.n_out, n_h))
    W1[:K] = a[:, None] * np.asarray(task.V).T
    W2[:, :K] = np.asarray(task.U) * b
    return W1, W2


@functools.cache
def _one_unit(dps=40):
    """The derivation's one-unit map u(t, a0, b0, s) in mpmath at `dps` digits (its cosh and
    sinh cancel: large ωt needs more digits)."""
    fn = derivations.derive("riccati").results["map_one_unit"].function("mpmath")

    def call(*args):
        with mpmath.workdps(dps):
            return fn(*(mpmath.mpf(float(v)) for v in args))

    return call


@pytest.mark.parametrize("lam", [-2.0, 0.5])
def test_aligned_lambda_balanced_modes_match_the_one_unit_closed_form(lam):
    """Aligned λ-balanced weights: every mode is the derivation's one-unit solution (mpmath)."""
    shape = (3, 3, 3)
    task = _task(shape, seed=8)
    u0 = np.array([0.3, -0.2, 1e-3])  # one opposed in sign: with λ ≠ 0 it still learns
    W1, W2 = _aligned_lambda_weights(task, lam, u0, 3)
    traj = riccati.two_layer_trajectory(task, [W1, W2], TIMES)
    a0 = np.sign(u0) * np.sqrt((np.sqrt(lam**2 + 4 * u0**2) - lam) / 2)
    b0 = np.sqrt((np.sqrt(lam**2 + 4 * u0**2) + lam) / 2)
    s = np.asarray(task.s)
    for k in range(3):
        for i, t in enumerate(TIMES[::3]):
            ref = _one_unit()(t, a0[k], b0[k], s[k])
            got = float(traj.modes[3 * i, k])
            assert abs(got - float(ref)) <= 1e-11 * max(abs(float(ref)), 1e-3), (k, t, got, ref)
    assert not np.any(riccati.two_layer_solution(task, [W1, W2]).stalled)
    np.testing.assert_allclose(traj.modes[-1], s, rtol=1e-9)


# --------------------------------------------------------------------- stalled modes
def test_sign_opposed_mode_stalls_at_the_saddle_and_is_reported():
    shape = (3, 3, 3)
    task = _task(shape, seed=9)
    u0 = np.array([0.1, -0.1, 0.1])  # mode 1 opposes its target
    W1, W2 = _aligned_lambda_weights(task, 0.0, u0, 3)
    sol = riccati.two_layer_solution(task, [W1, W2])
    np.testing.assert_array_equal(sol.stalled, [False, True, False])
    traj = sol.trajectory(TIMES)
    # the stalled mode decays to the saddle u = 0 (the one-unit solution from (a, b) = (a, −a))
    s = np.asarray(task.s)
    a0 = np.sqrt(0.1)
    for i in range(0, TIMES.size, 3):
        ref = float(_one_unit(150)(TIMES[i], -a0, a0, s[1]))
        assert abs(float(traj.modes[i, 1]) - ref) <= 1e-12 * abs(ref) + 1e-15, (TIMES[i], ref)
    np.testing.assert_allclose(traj.modes[-1, [0, 2]], s[[0, 2]], rtol=1e-9)
    np.testing.assert_allclose(sol.limit().map, task.map_from_modes(s * [1, 0, 1]), atol=1e-12)


def test_random_weights_with_opposed_determinant_stall_one_direction():
    """Square, λ = 0: sign det(W2W1) ≠ sign det(Σyx) makes B singular (docs/theory/two_layer.md):
    one direction stalls; the exact solution still matches the integration."""
    shape = (3, 3, 3)
    task = _task(shape, seed=10)
    weights = _weights(shape, 0.0, seed=11, scale=0.6)
    if np.sign(np.linalg.det(weights[1] @ weights[0])) == np.sign(np.linalg.det(task.sigma_yx)):
        weights[0] = weights[0] @ np.diag([-1.0, 1.0, 1.0])  # flips det(W2W1), keeps W1W1ᵀ
    assert np.sign(np.linalg.det(weights[1] @ weights[0])) != np.sign(
        np.linalg.det(task.sigma_yx))
    sol = riccati.two_layer_solution(task, weights)
    assert int(np.sum(sol.stalled)) == 1
    assert _rel(sol.trajectory(TIMES[:8]).map, _reference(task, weights, TIMES[:8])) <= 1e-9
    # the limit has rank 2: the stalled mode is missing
    assert np.linalg.matrix_rank(np.asarray(sol.limit().map), tol=1e-9) == 2


def test_no_stall_when_lambda_is_not_zero():
    shape = (3, 3, 3)
    task = _task(shape, seed=12)
    for lam in (-0.5, 0.5):
        W1, W2 = _aligned_lambda_weights(task, lam, np.array([0.1, -0.1, -0.2]), 3)
        sol = riccati.two_layer_solution(task, [W1, W2])
        assert not np.any(sol.stalled)
        np.testing.assert_allclose(sol.limit().map, task.sigma_yx, atol=1e-12)


# ------------------------------------------------------------ invariants and chaining
@pytest.mark.parametrize("lam", [-0.5, 0.0, 2.0])
def test_representative_weights_conserve_the_imbalance(lam):
    shape = (4, 3, 5)
    task = _task(shape, seed=13)
    sol = riccati.two_layer_solution(task, _weights(shape, lam, seed=14))
    W1, W2 = sol.weights(TIMES)
    imbalance = jnp.swapaxes(W2, -1, -2) @ W2 - W1 @ jnp.swapaxes(W1, -1, -2)
    np.testing.assert_allclose(imbalance, np.broadcast_to(lam * np.eye(3), imbalance.shape),
                               atol=1e-12 * max(1.0, abs(lam)))
    np.testing.assert_allclose(W2 @ W1, sol.blocks(TIMES).map, atol=1e-13)
    assert float(sol.imbalance) == pytest.approx(lam, abs=1e-14)


@pytest.mark.parametrize("lam", [0.0, -2.0])
def test_chaining_equals_one_long_solve(lam):
    shape = (5, 2, 3)
    task = _task(shape, seed=15)
    weights = _weights(shape, lam, seed=16)
    t1, t2 = 1.7, TIMES
    first = riccati.two_layer_trajectory(task, weights, [0.3, t1])
    second = riccati.two_layer_trajectory(task, first.final_weights, t2)
    whole = riccati.two_layer_trajectory(task, weights, t1 + t2)
    assert _rel(second.map, whole.map) <= 1e-11
    # a different task for the second phase (transfer): against integration of both phases
    task_b = _task(shape, seed=17)
    chained = riccati.two_layer_trajectory(task_b, first.final_weights, t2)
    start = [np.asarray(w) for w in first.final_weights]
    assert _rel(chained.map, _reference(task_b, start, t2)) <= 1e-9


# ----------------------------------------------------------------- gradient descent
def test_gradient_descent_gap_is_linear_in_lr():
    shape = (4, 3, 5)
    task = _task(shape, seed=18)
    weights = _weights(shape, 0.5, seed=19)
    horizon, records = 6.0, 30
    lrs = np.array([0.02, 0.01, 0.005])
    gaps = []
    for lr in lrs:
        steps = int(round(horizon / lr))
        sim = dln.simulate(task, weights, lr=float(lr), steps=steps, every=steps // records)
        exact = riccati.two_layer_trajectory(task, weights, sim.t)
        gaps.append(float(jnp.max(jnp.abs(sim.map - exact.map))))
    slope = np.polyfit(np.log(lrs), np.log(gaps), 1)[0]
    assert 0.9 <= slope <= 1.1, (gaps, slope)


# ---------------------------------------------------------- representations and regimes
@pytest.mark.parametrize("lam", [-2.0, 0.0, 2.0])
def test_converged_representations(lam):
    """Nh = K: the limit equals the closed forms of docs/theory/two_layer.md and the derivation's
    results."""
    shape = (3, 3, 4)
    task = _task(shape, seed=20)
    sol = riccati.two_layer_solution(task, _weights(shape, lam, seed=21))
    inner, outer = riccati.converged_representations(task, lam)
    limit = sol.limit()
    np.testing.assert_allclose(limit.input_similarity, inner, atol=1e-12)
    np.testing.assert_allclose(limit.output_similarity, outer, atol=1e-12)
    np.testing.assert_allclose(limit.map, task.sigma_yx, atol=1e-12)
    results = derivations.derive("riccati").results
    f_in = results["converged_input"].function("numpy")
    f_out = results["converged_output"].function("numpy")
    s = np.asarray(task.s)
    np.testing.assert_allclose(np.asarray(task.V).T @ inner @ np.asarray(task.V),
                               np.diag(f_in(s, lam)), atol=1e-12)
    np.testing.assert_allclose(np.asarray(task.U).T @ outer @ np.asarray(task.U),
                               np.diag(f_out(s, lam)), atol=1e-12)


def test_rich_representations_do_not_depend_on_the_initialisation():
    shape = (3, 3, 4)
    task = _task(shape, seed=22)
    limits = [riccati.two_layer_solution(task, _weights(shape, 0.0, seed=k, scale=sc)).limit()
              for k, sc in ((23, 1e-3), (24, 0.5))]
    for field in ("input_similarity", "output_similarity"):
        np.testing.assert_allclose(getattr(limits[0], field), getattr(limits[1], field),
                                   atol=1e-12)


def test_ntk_is_the_gram_matrix_of_the_jacobian():
    rng = np.random.default_rng(25)
    W1, W2 = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    X = rng.normal(size=(5, 4))
    # Jacobian of ŷ_j(x_μ) (output-major rows j·P + μ) w.r.t. (W1, W2), written out:
    # ∂ŷ_j/∂W1[h, i] = W2[j, h] x_i,  ∂ŷ_j/∂W2[k, h] = δ_jk (W1 x)_h
    rows = []
    for j in range(2):
        for x in X:
            d1 = np.outer(W2[j], x).ravel()
            d2 = np.outer(np.eye(2)[j], W1 @ x).ravel()
            rows.append(np.concatenate([d1, d2]))
    J = np.array(rows)
    K = regime.ntk(riccati.Blocks.from_weights([W1, W2]), X)
    np.testing.assert_allclose(K, J @ J.T, rtol=1e-12)
    assert float(regime.kernel_distance(K, 3.0 * K)) == pytest.approx(0.0, abs=1e-14)


def test_lazy_and_rich_regimes():
    """Large |λ|: the NTK hardly moves (lazy); λ = 0 from small weights: it moves (rich)."""
    shape = (3, 3, 3)
    task = _task(shape, seed=26)
    times = _padded([0.0, 20.0])
    rich = riccati.two_layer_solution(task, _weights(shape, 0.0, seed=27, scale=1e-3))
    lazy = riccati.two_layer_solution(task, _weights(shape, 50.0, seed=27, scale=1e-3))
    move_rich = float(regime.ntk_movement(rich.blocks(times))[1])
    move_lazy = float(regime.ntk_movement(lazy.blocks(times))[1])
    assert move_rich > 0.1 and move_lazy < 1e-3, (move_rich, move_lazy)
    # lazy learning is fast: exponential at rate ≈ |λ| instead of a slow escape from the saddle
    assert regime.convergence_time(lazy, 1e-3) < 0.1 * regime.convergence_time(rich, 1e-3)


def test_convergence_time_exact_and_from_records():
    shape = (4, 3, 5)
    task = _task(shape, seed=28)
    sol = riccati.two_layer_solution(task, _weights(shape, 0.5, seed=29))
    t_exact = regime.convergence_time(sol, 1e-2)
    loss_inf = float(task.loss(sol.limit().map))
    at = sol.trajectory(_padded([t_exact, t_exact * (1 - 1e-6)]))
    start = float(at.loss[-1])
    excess = (np.asarray(at.loss[:2]) - loss_inf) / (start - loss_inf)
    assert excess[0] <= 1e-2 < excess[1]
    dense = sol.trajectory(np.linspace(0, 3 * t_exact, TIMES.size))
    t_records = regime.convergence_time(dense, 1e-2, limit_loss=loss_inf)
    assert t_records == pytest.approx(t_exact, rel=0.1)


# ---------------------------------------------------------------------------- errors
def test_errors_name_the_assumption():
    shape = (4, 3, 5)
    task = _task(shape)
    weights = _weights(shape, 0.5)
    with pytest.raises(ValueError, match="λ-balanced"):
        riccati.two_layer_solution(task, [weights[0] * 1.1, weights[1]])
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    correlated = dln.Task(A @ A.T / 4, task.sigma_yx)
    with pytest.raises(ValueError, match="isotropic input"):
        riccati.two_layer_solution(correlated, weights)
    assert riccati.inapplicable_reason(task, weights) is None
    assert "λ-balanced" in riccati.inapplicable_reason(task, [weights[0] * 1.1, weights[1]])
    assert "isotropic" in riccati.inapplicable_reason(correlated, weights)
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        riccati.two_layer_solution(task, [weights[0][:, :3], weights[1]])
    with pytest.raises(TypeError, match="two matrices"):
        riccati.two_layer_solution(task, weights + [np.eye(5)])


def test_jit_matches_eager():
    """Under jit the constants are computed by the same code in jax.numpy."""
    shape = (2, 1, 2)
    task = _task(shape, seed=30)
    weights = _weights(shape, -0.5, seed=31)

    @jax.jit
    def modes(w1, w2):
        return riccati.two_layer_trajectory(task, [w1, w2], TIMES).modes

    eager = riccati.two_layer_trajectory(task, weights, TIMES).modes
    np.testing.assert_allclose(modes(*weights), eager, rtol=1e-12, atol=1e-15)


def test_maps_and_weights_are_computed_when_read_also_through_jit_and_vmap():
    """modes and loss come from the factors; the maps and the weights are not stored but
    computed from the solution when read (eagerly, and from jit and vmap of dln.solve), and
    they are those of `TwoLayerSolution`."""
    shape = (4, 3, 5)
    task = _task(shape, seed=32)
    weights = _weights(shape, 0.5, seed=33)
    times = TIMES[:6]
    sol = riccati.two_layer_solution(task, weights)
    traj = dln.solve(task, weights=weights, t=times)
    held = traj.__dict__
    assert isinstance(held["stored_map"], Deferred)
    assert isinstance(held["recorded_weights"], Deferred)
    np.testing.assert_array_equal(traj.map, sol.blocks(times).map)
    for a, b in zip(traj.recorded_weights, sol.weights(times)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(traj.final_weights, sol.weights(times[-1:])):
        np.testing.assert_allclose(a, b[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(traj.loss, task.loss(traj.map), rtol=1e-13)
    # through jit and vmap the maps are read from the returned (batched) trajectory
    shape = (2, 1, 2)
    task = _task(shape, seed=30)
    weights = _weights(shape, -0.5, seed=31)
    eager = riccati.two_layer_trajectory(task, weights, TIMES)
    batched = jax.jit(jax.vmap(lambda a: dln.solve(
        task, weights=[a * weights[0], a * weights[1]], t=TIMES, method="exact-riccati")))(
        jnp.array([1.0, 0.5]))
    assert batched.map.shape == (2, TIMES.size, 2, 2)
    assert batched.recorded_weights[0].shape == (2, TIMES.size, 1, 2)
    np.testing.assert_allclose(batched.map[0], eager.map, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(batched.recorded_weights[1][0], eager.recorded_weights[1],
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("m", [1, 7, 9, 33])
def test_lower_inverse_by_products(m):
    """The triangular inverse (products only, padded to b·2^levels) against numpy."""
    rng = np.random.default_rng(m)
    C = np.tril(rng.normal(size=(2, m, m))) + 3.0 * np.eye(m)
    inverse = np.asarray(jax.jit(riccati._lower_inverse)(C))
    np.testing.assert_allclose(inverse @ C, np.broadcast_to(np.eye(m), C.shape), atol=1e-14)
    np.testing.assert_array_equal(np.triu(inverse, 1), 0.0)


# ------------------------------------------------------------------- init.balanced
@pytest.mark.parametrize("dims", [[4, 3, 5], [2, 5, 3], [4, 4, 5, 6], [6, 5, 5, 2]])
def test_balanced_init(dims):
    for lam in LAMS:
        try:
            ws = dln.init.balanced(jax.random.key(0), dims, 0.5, lam)
        except ValueError as err:
            grows = all(a <= b for a, b in zip(dims[1:], dims[2:]))
            shrinks = all(a >= b for a, b in zip(dims[:-1], dims[1:-1]))
            assert (lam > 0 and not grows) or (lam < 0 and not shrinks), err
            assert "dims" in str(err)
            continue
        assert [w.shape for w in ws] == [(o, i) for i, o in zip(dims, dims[1:])]
        for l in range(len(ws) - 1):
            imbalance = ws[l + 1].T @ ws[l + 1] - ws[l] @ ws[l].T
            np.testing.assert_allclose(imbalance, lam * np.eye(dims[l + 1]), atol=1e-12)


def test_balanced_init_rejects_a_widest_hidden_layer():
    with pytest.raises(ValueError, match=r"lam.*> 0"):
        dln.init.balanced(jax.random.key(0), [3, 5, 2], 0.5, 1.0)
    with pytest.raises(ValueError, match=r"lam.*< 0"):
        dln.init.balanced(jax.random.key(0), [3, 5, 2], 0.5, -1.0)
    ws = dln.init.balanced(jax.random.key(0), [3, 5, 2], 0.5, 0.0)  # λ = 0 is always possible
    np.testing.assert_allclose(ws[1].T @ ws[1], ws[0] @ ws[0].T, atol=1e-14)
