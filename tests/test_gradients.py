"""`jax.grad` and `jax.jacfwd` through every numerically integrated path (diffrax's Dopri8 in
`dln._ode`), against central finite differences.

The derivative is that of the discrete solution, which is smooth in the inputs while the step
sequence stays the same. A central difference with step `h` has error `~ h² f''' + ε f / h`;
Richardson extrapolation (`(4 D(h/2) − D(h)) / 3`) cancels the `h²` term, so `h = 1e-5`
relative to the input leaves ~1e-11 relative; a step decision that flips between `x ± h`
adds a jump of order `rtol · f / h` = 1e-7 relative at `rtol = 1e-12`. So the
derivatives must agree with the differences to 1e-5 (relative), and with each other (forward and
reverse mode differentiate the same computation) to rounding.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln import completion as C
from dln import datasets
from dln.network import product

RTOL = 1e-12  # integrator tolerance, far below the finite-difference error
H = 1e-5  # finite-difference step, relative to the size of the input
FD_RTOL = 1e-5


def _check(fn, x, seed=0):
    """The derivative of the scalar `fn` at `x` along a random direction: `jax.grad` and
    `jax.jacfwd` against a central difference. Returns the relative gradient error."""
    x = jnp.asarray(x, float)
    v = np.random.default_rng(seed).normal(size=x.shape)
    v = jnp.asarray(v / np.linalg.norm(v))
    h = H * max(float(jnp.linalg.norm(x)), 1e-3)
    def central(h):
        return (float(fn(x + h * v)) - float(fn(x - h * v))) / (2 * h)

    fd = (4 * central(h / 2) - central(h)) / 3  # Richardson: the h² term cancels
    grad = float(jnp.vdot(jax.grad(fn)(x), v))
    fwd = float(jnp.vdot(jax.jacfwd(fn)(x), v))
    assert np.isfinite(fd) and abs(fd) > 0
    assert abs(grad - fd) <= FD_RTOL * abs(fd), (grad, fd)
    assert abs(fwd - grad) <= 1e-9 * abs(grad), (fwd, grad)
    return abs(grad - fd) / abs(fd)


def _task(seed=0, n=3):
    rng = np.random.default_rng(seed)
    return dln.Task(np.eye(n), np.diag(np.arange(n, 0, -1.0)) + 0.2 * rng.normal(size=(n, n)))


T = jnp.array([0.5, 2.0])


def test_numerical_flow_of_three_layers():
    task = _task()
    ws = dln.init.gaussian(jax.random.key(1), [3, 3, 3, 3], 0.5)

    def loss(w1):
        traj = dln.solve(task, weights=[w1, ws[1], ws[2]], t=T, rtol=RTOL)
        assert traj.method == "numerical-flow"
        return traj.loss[-1]

    _check(loss, ws[0])


@pytest.mark.slow  # the same path (the numerical flow) as test_numerical_flow_of_three_layers
def test_unbalanced_two_layers():
    task = _task(seed=2)
    ws = dln.init.gaussian(jax.random.key(2), [3, 3, 3], 0.5)

    def loss(w1):
        traj = dln.solve(task, weights=[w1, ws[1]], t=T, rtol=RTOL)
        assert traj.method == "numerical-flow"
        return traj.loss[-1]

    _check(loss, ws[0])


@pytest.mark.parametrize("pattern", [
    "all", pytest.param("output", marks=pytest.mark.slow)])  # (one reduced flow, two patterns)
def test_biases_reduced_integration(pattern):
    task = datasets.hierarchy(2)
    t = jnp.array([1.0, 6.0])

    def loss(u0):
        traj = dln.solve(task, depth=3, u0=u0, biases=pattern, t=t, rtol=RTOL)
        assert traj.method == "reduced-integration"
        return traj.loss[-1]

    _check(loss, jnp.linspace(0.05, 0.2, task.n_modes))


def test_pathways_reduced_integration():
    task = dln.Task(np.eye(3), np.diag([3.0, 2.0, 1.0]))

    def loss(u0, t=jnp.array([1.0, 3.0])):  # noqa: B008 (a constant array)
        traj = dln.pathways.solve(task, depth=3, u0=(u0[0], u0[1]), t=t, rtol=RTOL,
                                  max_steps=4096)
        assert traj.method == "reduced-integration"
        return traj.loss[-1]

    _check(loss, jnp.array([1e-2, 2e-2]))
    _check(lambda t: loss(jnp.array([1e-2, 2e-2]), t), jnp.array([1.0, 3.0]))  # through t


def test_completion_theory():
    k = jax.random.split(jax.random.key(0), 4)
    M = C.low_rank_matrix(k[0], 6, 2)
    mask = C.observation_masks(k[1], 6, [20])[0]
    W0 = product(C.init(k[2], 6, 3, 0.1, "gaussian"))  # distinct singular values

    def loss(W):
        traj = C.theory([(C.Problem(M, mask), 5.0)], W, 3, h=0.5, every=10, rtol=RTOL,
                        max_steps=4096)
        return traj.train_loss[-1, 0]

    _check(loss, W0)
