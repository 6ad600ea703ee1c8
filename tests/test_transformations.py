"""Which JAX transformations each of `dln.solve`'s methods supports, checked on values.

For every method `Trajectory.method` can report: `jax.jit` gives the eager numbers, `jax.vmap`
over the initial condition gives the loop over it, and `jax.grad` of the final loss agrees with
a central difference (Richardson-extrapolated; 1e-6 relative for closed forms). The integrated
methods' gradients are checked against finite differences at their own tolerance in
`tests/test_gradients.py`; here they must run and agree with the closed form's where both apply.
Gradient descent (`dln.simulate`) is checked the same way.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln

T = jnp.array([0.0, 0.7, 2.5])


def _task():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return dln.Task(np.eye(3), U @ np.diag([2.0, 1.2, 0.5]) @ V.T)


def _data_task():
    return dln.datasets.hierarchy(2)  # one-hot items: the means lie along the uniform mode


# name -> (task, loss of the final record as a function of a scalar x)
def _cases():
    task, data = _task(), _data_task()
    w2 = dln.init.balanced(jax.random.key(0), [3, 3, 3], 0.3)
    w3 = dln.init.gaussian(jax.random.key(1), [3, 4, 4, 3], 0.4)
    return {
        "exact-exponential": lambda x: dln.solve(task, depth=1, u0=x, t=T).loss,
        "exact-logistic": lambda x: dln.solve(task, depth=2, u0=x, t=T).loss,
        "exact-implicit": lambda x: dln.solve(task, depth=3, u0=x, t=T).loss,
        "exact-riccati": lambda x: dln.solve(task, weights=[x * w2[0], w2[1] * x], t=T,
                                             method="exact-riccati").loss,
        "reduced-integration": lambda x: dln.solve(data, depth=2, u0=x, t=T,
                                                   biases="output").loss,
        "numerical-flow": lambda x: dln.solve(task, weights=[x * w3[0], w3[1], w3[2]], t=T).loss,
        "simulation": lambda x: dln.simulate(task, [x * w3[0], w3[1], w3[2]], lr=0.05,
                                             steps=20, every=10).loss,
    }


CASES = _cases()
X0 = {"exact-riccati": 1.0, "numerical-flow": 1.0, "simulation": 1.0}


@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_vmap_and_grad(name):
    f = CASES[name]
    x0 = X0.get(name, 0.05)
    eager = f(x0)
    np.testing.assert_allclose(jax.jit(f)(x0), eager, rtol=1e-10, atol=1e-14)
    xs = jnp.array([0.8 * x0, x0, 1.3 * x0])
    np.testing.assert_allclose(jax.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-9,
                               atol=1e-14)
    final = lambda x: f(x)[-1]  # noqa: E731
    h = 1e-4 * x0
    central = lambda h: (float(final(x0 + h)) - float(final(x0 - h))) / (2 * h)  # noqa: E731
    fd = (4 * central(h / 2) - central(h)) / 3
    grad = float(jax.grad(final)(x0))
    assert abs(fd) > 0
    tol = 1e-6 if name.startswith("exact") or name == "simulation" else 1e-4
    assert abs(grad - fd) <= tol * abs(fd), (grad, fd)


def test_the_methods_report_their_names():
    task, data = _task(), _data_task()
    w2 = dln.init.balanced(jax.random.key(0), [3, 3, 3], 0.3)
    w3 = dln.init.gaussian(jax.random.key(1), [3, 4, 4, 3], 0.4)
    assert dln.solve(task, depth=1, u0=0.1, t=T).method == "exact-exponential"
    assert dln.solve(task, depth=2, u0=0.1, t=T).method == "exact-logistic"
    assert dln.solve(task, depth=3, u0=0.1, t=T).method == "exact-implicit"
    assert dln.solve(task, weights=w2, t=T).method == "exact-riccati"
    assert dln.solve(data, depth=2, u0=0.1, t=T, biases="output").method == \
        "reduced-integration"
    assert dln.solve(task, weights=w3, t=T).method == "numerical-flow"
