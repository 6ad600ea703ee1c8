"""Edges of the exact solver: t = 0 exactly for every method, assumptions checked under tracing,
and tests for plausible bugs that nothing caught before (each fails with the bug in place)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln.network import product


def _rotated_input_task(coupling, seed=0):
    """A 2×3 task whose sigma_xx couples its two modes by `coupling` (0: input-aligned)."""
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    U, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    lam = np.diag([1.5, 0.7, 1.0])
    lam[0, 1] = lam[1, 0] = coupling
    sxx = V @ lam @ V.T
    syx = U @ np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) @ V.T @ sxx  # = W* sxx, consistent
    return dln.Task(sxx, syx)


# ------------------------------------------------------------------------------ t = 0 exactly
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 7])
def test_mode_solution_returns_u0_exactly_at_t0(depth):
    rng = np.random.default_rng(depth)
    task = dln.Task(np.eye(6), rng.normal(size=(4, 6)) * 3.0)
    u0 = np.concatenate([[0.0], 10.0 ** rng.uniform(-12, 1, size=3)])  # below and above target
    traj = dln.solve(task, depth=depth, u0=u0, t=[0.0, 1e-12, 1.0])
    assert np.array_equal(np.asarray(traj.modes[0]), u0)
    # and its derivatives there are those of the formula: du/dt(0) = D u0^{2−2/D}(s − u0)
    du_dt = jax.jacfwd(lambda t: dln.solve(task, depth=depth, u0=u0, t=t).modes[0])(0.0)
    p = 2.0 - 2.0 / depth
    np.testing.assert_allclose(du_dt, depth * u0**p * (task.s - u0), rtol=1e-10, atol=1e-300)


def test_two_layer_and_numerical_solutions_start_at_the_given_weights(getkey):
    rng = np.random.default_rng(3)
    task = dln.Task(np.eye(4), rng.normal(size=(3, 4)))
    cases = [dln.init.balanced(getkey(), [4, 5, 3], 0.7, lam=0.0),  # exact-riccati
             dln.init.balanced(getkey(), [4, 3, 3], 0.7, lam=0.5),
             dln.init.gaussian(getkey(), [4, 3, 3], 0.3),  # numerical-flow
             dln.init.gaussian(getkey(), [4, 5, 5, 3], 0.5)]
    methods = []
    for ws in cases:
        traj = dln.solve(task, weights=ws, t=[0.0, 1e-9, 1.0])
        methods.append(traj.method)
        assert np.array_equal(np.asarray(traj.map[0]), np.asarray(product(ws)))
        for got, given in zip(traj.weights(), ws):
            assert np.array_equal(np.asarray(got[0]), np.asarray(given))
            # continuous: the representative weights stay in the given hidden coordinates
            np.testing.assert_allclose(got[1], given, atol=1e-7)
    assert methods == ["exact-riccati", "exact-riccati", "numerical-flow", "numerical-flow"]


# ------------------------------------------------------------------ assumptions under tracing
def test_jitted_solve_from_unbalanced_weights_is_not_the_closed_form(getkey):
    """Under jit the weights cannot be checked for λ-balance, so solve integrates the flow (the
    closed form applied to unbalanced weights was silently wrong, by 0.06 here)."""
    rng = np.random.default_rng(4)
    task = dln.Task(np.eye(4), rng.normal(size=(3, 4)))
    t = jnp.linspace(0.0, 5.0, 4)
    for ws in (dln.init.gaussian(getkey(), [4, 3, 3], 0.3),
               dln.init.balanced(getkey(), [4, 3, 3], 0.3, lam=0.5)):
        eager = dln.solve(task, weights=ws, t=t)
        jitted = jax.jit(lambda w1, w2: dln.solve(task, weights=[w1, w2], t=t).map)(*ws)
        np.testing.assert_allclose(jitted, eager.map, atol=1e-8)


def test_traced_task_checks_the_mode_assumption_in_the_computation():
    """A task built from traced values cannot be checked eagerly: a coupled input gives NaN (the
    eager call raises), an aligned one the closed form."""
    aligned, coupled = _rotated_input_task(0.0), _rotated_input_task(0.3)
    t = np.array([0.0, 1.0, 5.0])

    def modes(sxx, syx):
        return dln.solve(dln.Task(sxx, syx), depth=2, u0=1e-2, t=t).modes

    good = jax.jit(modes)(aligned.sigma_xx, aligned.sigma_yx)
    np.testing.assert_allclose(good, dln.solve(aligned, depth=2, u0=1e-2, t=t).modes,
                               rtol=1e-10)
    assert np.all(np.isnan(jax.jit(modes)(coupled.sigma_xx, coupled.sigma_yx)))
    with pytest.raises(ValueError, match="diagonal in the task's right singular basis"):
        dln.solve(coupled, depth=2, u0=1e-2, t=t)


# ----------------------------------------------------- plausible bugs that nothing caught before
def test_a_small_coupling_of_the_modes_is_not_called_aligned():
    """The alignment test must be tight: at a coupling of 1e-4 the exact mode solution is wrong
    by far more than rounding, so solve must refuse it rather than return it as exact."""
    for coupling in (1e-4, 1e-3):
        task = _rotated_input_task(coupling)
        assert task.input_aligned is False
        with pytest.raises(ValueError, match="couples the modes"):
            dln.solve(task, depth=2, u0=1e-2, t=[1.0])
    assert _rotated_input_task(0.0).input_aligned is True
    # what the mode solution would get wrong at 1e-4: the true flow from the same aligned
    # weights leaves the mode structure by far more than rounding
    task = _rotated_input_task(1e-4)
    t = np.array([0.0, 2.0, 6.0])
    true = dln.numerical_flow.integrate(task, dln.init.aligned(task, 2, u0=1e-2), t)
    modes = dln.modes.trajectory(t[:, None], task.s, task.input_variance, 1e-2, 2)
    assert np.max(np.abs(true.map - task.map_from_modes(modes))) > 1e-6


def test_tiny_balanced_init_is_learned_not_stalled(getkey):
    """The stall threshold of the two-layer solution is relative to the initial weights: from
    λ-balanced weights at scale 1e-13 every mode is learned (an absolute threshold would call
    all of them stalled and keep the map at rank 0)."""
    rng = np.random.default_rng(5)
    task = dln.Task(np.eye(3), rng.normal(size=(2, 3)))
    ws = dln.init.balanced(getkey(), [3, 2, 2], 1e-13, lam=0.0)
    traj = dln.solve(task, weights=ws, t=[0.0, 200.0])
    assert traj.method == "exact-riccati"
    assert not np.any(traj.stalled)
    assert np.linalg.matrix_rank(np.asarray(traj.map[-1]), tol=1e-6) == 2
    np.testing.assert_allclose(traj.map[-1], task.lstsq_map, atol=1e-9)


def test_two_layer_derivatives_at_t0_are_those_of_the_flow(getkey):
    """At t = 0 the value is the given weights exactly, and the derivative with respect to them
    is the identity (once, not twice)."""
    from dln import riccati

    task = dln.Task(np.eye(3), np.diag([2.0, 1.0, 0.5]))
    W1 = np.asarray(dln.init.balanced(getkey(), [3, 3, 3], 0.5, lam=0.0)[0])

    def first_layer_sum(w1, t):
        return jnp.sum(riccati.two_layer_solution(task, [w1, w1.T]).weights(jnp.array([t]))[0])

    for t in (0.0, 1e-12):
        g = np.asarray(jax.grad(first_layer_sum)(jnp.asarray(W1), t))
        np.testing.assert_allclose(g, np.ones_like(W1), rtol=1e-6)


def test_a_dense_time_grid_does_not_exhaust_the_integrators_steps():
    """Adaptive steps land on every record time, so more records than the step allowance
    (4096 for an integrated weight-decay mode) once gave NaN everywhere; the records now add to
    the allowance. The dense grid must agree with a coarse one at the shared times."""
    task = dln.datasets.saxe2019_toy(whiten=True)
    dense = np.linspace(0.0, 4.0, 5001)
    coarse = dense[::500]
    m_dense = np.asarray(dln.solve(task, depth=3, u0=1e-3, t=dense, weight_decay=0.3).modes)
    m_coarse = np.asarray(dln.solve(task, depth=3, u0=1e-3, t=coarse, weight_decay=0.3).modes)
    assert np.isfinite(m_dense).all()
    np.testing.assert_allclose(m_dense[::500], m_coarse, rtol=1e-9)
