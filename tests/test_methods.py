"""`dln.solve(..., method=...)`: explicit methods, their assumptions, and what "auto" chooses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln import methods


def _task(seed=0, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return dln.Task(np.eye(shape[1]), rng.normal(size=shape))


def _coupled_task(seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3)) @ np.diag([1.0, 0.5, 2.0])
    return dln.Task.from_data(X, X @ rng.normal(size=(3, 2)))


T = np.array([0.0, 0.5, 2.0, 6.0])


@pytest.mark.parametrize("depth, name", [(1, "exact-exponential"), (2, "exact-logistic"),
                                         (3, "exact-implicit"), (5, "exact-implicit")])
def test_every_reported_name_can_be_asked_for(depth, name):
    task = _task()
    auto = dln.solve(task, depth=depth, u0=1e-2, t=T)
    assert auto.method == name
    by_name = dln.solve(task, depth=depth, u0=1e-2, t=T, method=name)
    by_object = dln.solve(task, depth=depth, u0=1e-2, t=T, method=methods.ModeSolution())
    np.testing.assert_array_equal(by_name.modes, auto.modes)
    np.testing.assert_array_equal(by_object.modes, auto.modes)
    # the same trajectory integrated: the aligned weights' full flow
    flow = dln.solve(task, depth=depth, u0=1e-2, t=T, method="numerical-flow")
    assert flow.method == "numerical-flow" and not flow.is_exact
    np.testing.assert_allclose(flow.modes, auto.modes, rtol=1e-8, atol=1e-12)
    assert np.all(flow.u0 == auto.u0)


def test_riccati_from_depth_and_u0_is_the_logistic_solution():
    task = _task()
    logistic = dln.solve(task, depth=2, u0=1e-2, t=T)
    ric = dln.solve(task, depth=2, u0=1e-2, t=T, method="exact-riccati")
    assert ric.method == "exact-riccati"
    np.testing.assert_allclose(ric.modes, logistic.modes, rtol=1e-10, atol=1e-14)


def test_a_method_whose_assumptions_fail_raises_naming_them(getkey):
    task = _task()
    with pytest.raises(ValueError, match="'exact-implicit'"):
        dln.solve(task, depth=2, u0=1e-2, t=T, method="exact-implicit")
    with pytest.raises(ValueError, match="two-layer"):
        dln.solve(task, depth=3, u0=1e-2, t=T, method="exact-riccati")
    with pytest.raises(ValueError, match="biases"):
        dln.solve(task, depth=2, u0=1e-2, t=T, method="reduced-integration")
    unbalanced = dln.init.gaussian(getkey(), [4, 3, 3], 0.3)
    with pytest.raises(ValueError, match="λ-balanced"):
        dln.solve(task, weights=unbalanced, t=T, method="exact-riccati")
    with pytest.raises(ValueError, match="depth` and `u0"):
        dln.solve(task, weights=unbalanced, t=T, method="exact-logistic")
    with pytest.raises(ValueError, match="couples the modes.*numerical-flow"):
        dln.solve(_coupled_task(), depth=2, u0=1e-2, t=T)


def test_numerical_flow_solves_what_no_closed_form_covers():
    """A task whose input couples the modes, from aligned weights: integrated, and the result
    agrees with the same flow at a tighter tolerance."""
    task = _coupled_task()
    loose = dln.solve(task, depth=3, u0=1e-2, t=T, method=methods.NumericalFlow(rtol=1e-8))
    tight = dln.solve(task, depth=3, u0=1e-2, t=T, method=methods.NumericalFlow(rtol=1e-12))
    err = np.max(np.abs(loose.map - tight.map), axis=(1, 2))
    assert np.max(err) < 1e-6 and np.max(err) > 0
    # the error estimate is honest: not below the actual error
    assert np.all(loose.error_estimate >= err)


def test_auto_under_jit_gives_the_eager_answer(getkey):
    task = _task()
    for ws in (dln.init.balanced(getkey(), [4, 3, 3], 0.3, lam=0.5),
               dln.init.gaussian(getkey(), [4, 3, 3], 0.3)):
        eager = dln.solve(task, weights=ws, t=T)
        jitted = jax.jit(lambda w1, w2: dln.solve(task, weights=[w1, w2], t=T).map)(*ws)
        np.testing.assert_allclose(jitted, eager.map, atol=1e-8)


def test_riccati_asked_for_under_jit_checks_in_the_computation(getkey):
    task = _task()
    balanced = dln.init.balanced(getkey(), [4, 3, 3], 0.3, lam=0.5)
    unbalanced = dln.init.gaussian(getkey(), [4, 3, 3], 0.3)
    f = jax.jit(lambda w1, w2: dln.solve(task, weights=[w1, w2], t=T,
                                         method="exact-riccati").map)
    np.testing.assert_allclose(f(*balanced), dln.solve(task, weights=balanced, t=T).map,
                               atol=1e-13)
    assert np.all(np.isnan(f(*unbalanced)))


@pytest.mark.parametrize("method, error", [
    ("exact", ValueError), ("Numerical-Flow", ValueError), (3, TypeError),
    (methods.NumericalFlow, TypeError),
])
def test_bad_method_arguments(method, error):
    with pytest.raises(error, match="method"):
        dln.solve(_task(), depth=2, u0=1e-2, t=T, method=method)


def test_method_options_are_checked_when_made():
    for bad in (0.0, 2.0, float("nan"), "1e-8", True):
        with pytest.raises(ValueError, match="rtol"):
            methods.NumericalFlow(rtol=bad)
    with pytest.raises(ValueError, match="stall_rtol"):
        methods.Riccati(stall_rtol=-1.0)
    with pytest.raises(TypeError, match="inside the method object"):
        dln.solve(_task(), depth=2, u0=1e-2, t=T, method=methods.NumericalFlow(), rtol=1e-9)
    # solve's older `rtol` keyword still sets the tolerance of a method named by string
    a = dln.solve(_task(), depth=3, u0=1e-2, t=T, method="numerical-flow", rtol=1e-6)
    b = dln.solve(_task(), depth=3, u0=1e-2, t=T, method=methods.NumericalFlow(rtol=1e-6))
    np.testing.assert_array_equal(a.map, b.map)
    assert a.error_estimate[0] == 0 and jnp.all(a.error_estimate[1:] > 0)
