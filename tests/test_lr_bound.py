"""`dln.lr_bound`: the exact stability limit of gradient descent at the balanced global minimum.

The bound is checked against the top eigenvalue of `jax.hessian` of the loss at the balanced
factorisation of the least-squares map (random tasks: singular, ill-conditioned, aligned and
non-aligned input, rectangular, depths 1–4), against gradient descent started at that minimum
(stable just below, unstable just above) and from small initial weights (converges at half the
bound), and for its argument checks. The derivation is docs/derivations/lr_bound.md.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln import modes

RTOL = 1e-10


def balanced_minimum(task, depth, width, rng):
    """Balanced layers `W_l = R_l diag(σ^{1/D}) R_{l−1}ᵀ` of `W* = task.lstsq_map` (`R_0 = V`,
    `R_D = U`, random orthonormal hidden frames of `width >= rank` rows); the rank is numerical,
    as in `dln.lr_bound`."""
    W = np.asarray(task.lstsq_map)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    rank = int(np.linalg.matrix_rank(W))
    assert width >= rank
    core = np.diag(s[:rank] ** (1.0 / depth))
    hidden = [np.linalg.qr(rng.standard_normal((width, width)))[0][:, :rank]
              for _ in range(depth - 1)]
    frames = [Vt[:rank].T] + hidden + [U[:, :rank]]
    return [jnp.asarray(frames[l + 1] @ core @ frames[l].T) for l in range(depth)]


@jax.jit
def _hessian(weights, sigma_xx, sigma_yx):
    """Hessian of `L = ½ tr(W Σxx Wᵀ) − tr(Wᵀ Σyx)` in all the weights, flattened layer by layer
    (the constant ½ tr Σyy does not matter)."""
    shapes = [w.shape for w in weights]
    splits = np.cumsum([w.size for w in weights])[:-1]

    def loss(theta):
        W = dln.network.product([p.reshape(shape)
                                 for p, shape in zip(jnp.split(theta, splits), shapes)])
        return 0.5 * jnp.sum((W @ sigma_xx) * W) - jnp.sum(W * sigma_yx)

    return jax.hessian(loss)(jnp.concatenate([jnp.ravel(w) for w in weights]))


def hessian_top(task, weights):
    """The largest eigenvalue of the Hessian of the loss in all the weights."""
    return float(np.linalg.eigvalsh(np.asarray(_hessian(weights, task.sigma_xx,
                                                         task.sigma_yx))).max())


def old_bound(task, depth):
    """The previous `lr_bound`: `2 / max_α κ_α`, right only for whitened input."""
    if depth == 1:
        return 2.0 / float(np.linalg.eigvalsh(np.asarray(task.sigma_xx)).max())
    s, lam = np.asarray(task.s), np.asarray(task.input_variance)
    active = (s > 0) & (lam > 0)
    if not active.any():
        return float("inf")
    return 2.0 / float(np.max(np.asarray(modes.rate(s[active], lam[active], depth))))


SHAPES = ((2, 3), (4, 2), (5, 5), (3, 1))  # (Ni, No); few shapes: one compiled Hessian each
KINDS = ("data", "low_rank", "general", "singular", "aligned")


def random_task(rng, kind, n_in, n_out):
    """A random task of one of several kinds, all with zero residual (Σyx = W Σxx)."""
    if kind == "data":  # from samples; P < Ni gives a singular Σxx
        P = int(rng.integers(1, 10))
        X = rng.standard_normal((P, n_in)) * 10.0 ** rng.uniform(-1, 1, n_in)
        Y = X @ rng.standard_normal((n_in, n_out)) + 0.3 * rng.standard_normal((P, n_out))
        return dln.Task.from_data(X, Y)
    if kind == "low_rank":  # a rank-1 map: fewer modes than outputs and inputs
        X = rng.standard_normal((12, n_in)) * 10.0 ** rng.uniform(-1, 1, n_in)
        B = rng.standard_normal((n_in, 1)) @ rng.standard_normal((1, n_out))
        return dln.Task.from_data(X, X @ B)
    Q = np.linalg.qr(rng.standard_normal((n_in, n_in)))[0]
    eig = 10.0 ** rng.uniform(-3, 3, n_in)  # condition number up to 1e6
    if kind == "singular":
        eig[rng.permutation(n_in)[: max(1, n_in // 2)]] = 0.0
    W = rng.standard_normal((n_out, n_in))
    if kind == "aligned":  # Σxx diagonal in the basis of the map's right singular vectors
        Q = np.linalg.svd(W, full_matrices=True)[2].T
    sxx = (Q * eig) @ Q.T
    sxx = 0.5 * (sxx + sxx.T)
    return dln.Task(sxx, W @ sxx)


@pytest.mark.parametrize("kind", KINDS)
def test_bound_is_two_over_the_hessian_top_eigenvalue(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    for n_in, n_out in SHAPES:
        task = random_task(rng, kind, n_in, n_out)
        for depth in (1, 2, 3, 4):
            weights = balanced_minimum(task, depth, max(n_in, n_out), rng)
            top = hessian_top(task, weights)
            bound = dln.lr_bound(task, depth)
            assert bound * top / 2 == pytest.approx(1.0, rel=RTOL), (kind, depth, task)
            assert bound <= old_bound(task, depth) * (1 + 1e-12)


def test_whitened_input_gives_the_mode_rate():
    rng = np.random.default_rng(7)
    sigma_yx = rng.standard_normal((3, 4))
    task = dln.Task(np.eye(4), sigma_yx)
    for depth in (1, 2, 3, 5):
        kappa = float(np.max(np.asarray(modes.rate(task.s, 1.0, depth))))
        expected = 2.0 / (1.0 if depth == 1 else kappa)
        assert dln.lr_bound(task, depth) == pytest.approx(expected, rel=1e-12)


def test_strong_mode_and_unused_high_variance_input():
    # W* = diag(100, 0): the strong mode couples to the unused input of variance 100, 1e4 ≫ 2.
    task = dln.Task(np.diag([0.01, 100.0]), np.diag([1.0, 0.0]))
    assert dln.lr_bound(task, 2) == pytest.approx(2e-4, rel=1e-12)
    top = hessian_top(task, balanced_minimum(task, 2, 2, np.random.default_rng(0)))
    assert dln.lr_bound(task, 2) == pytest.approx(2.0 / top, rel=1e-12)
    assert old_bound(task, 2) == pytest.approx(1.0)  # the old answer: 5000 times too large


def test_zero_task():
    task = dln.Task(np.diag([1.0, 3.0]), np.zeros((2, 2)))
    assert dln.lr_bound(task, 1) == pytest.approx(2.0 / 3.0)  # the loss is still quadratic
    for depth in (2, 3):
        assert dln.lr_bound(task, depth) == float("inf")  # W = 0: no curvature at the minimum


def _excess(task, weights):
    return float(task.loss(dln.network.product(weights)) - task.min_loss)


def _distance(weights, reference):
    return np.sqrt(sum(float(jnp.sum((a - b) ** 2)) for a, b in zip(weights, reference)))


def _run(task, weights, lr, steps):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return dln.simulate(task, weights, lr=lr, steps=steps, every=steps, check_lr=False,
                            on_divergence="warn")


@pytest.mark.parametrize("depth", [2, 3])
def test_gradient_descent_is_stable_below_the_bound_and_not_above(depth):
    rng = np.random.default_rng(depth)
    for _seed in range(3):
        X = rng.standard_normal((8, 4)) * np.array([0.2, 1.0, 3.0, 6.0])
        Y = X @ rng.standard_normal((4, 3))
        task = dln.Task.from_data(X, Y)
        w_min = balanced_minimum(task, depth, 4, rng)
        kick = [1e-6 * jnp.asarray(rng.standard_normal(w.shape)) for w in w_min]
        w0 = [w + k for w, k in zip(w_min, kick)]
        bound = dln.lr_bound(task, depth)
        size = np.sqrt(sum(float(jnp.sum(k**2)) for k in kick))

        stable = _run(task, w0, 0.9 * bound, 400)
        assert int(stable.diverged_at) == -1
        assert _distance(stable.final_weights, w_min) < 2 * size
        assert _excess(task, stable.final_weights) < 1e-9
        unstable = _run(task, w0, 1.1 * bound, 400)
        assert (int(unstable.diverged_at) >= 0
                or _distance(unstable.final_weights, w_min) > 1e3 * size)


def test_small_initialisation_converges_at_half_the_bound():
    rng = np.random.default_rng(11)
    for seed, depth in enumerate((2, 2, 3, 3)):
        Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
        eig = 10.0 ** rng.uniform(-0.5, 0.5, 4)
        if seed % 2:
            eig[0] = 0.0  # singular Σxx
        sigma_xx = (Q * eig) @ Q.T
        left, right = (np.linalg.qr(rng.standard_normal((n, 3)))[0] for n in (3, 4))
        W = (left * rng.uniform(0.7, 1.5, 3)) @ right.T
        task = dln.Task(0.5 * (sigma_xx + sigma_xx.T), W @ sigma_xx)  # loss = excess loss
        w0 = dln.init.gaussian(jax.random.key(seed), [4] + [5] * (depth - 1) + [3], 0.1)
        traj = _run(task, w0, 0.5 * dln.lr_bound(task, depth), 2000)
        assert int(traj.diverged_at) == -1
        assert float(traj.loss[-1]) < 1e-10 * float(traj.loss[0])


@pytest.mark.parametrize("depth, error, match", [
    (0, ValueError, "`depth` must be >= 1"),
    (-1, ValueError, "`depth` must be >= 1"),
    (2.5, TypeError, "`depth` must be an int"),
    (True, TypeError, "`depth` must be an int"),
    ("2", TypeError, "`depth` must be an int"),
])
def test_bad_depth(depth, error, match):
    task = dln.Task(np.eye(2), np.eye(2))
    with pytest.raises(error, match=match):
        dln.lr_bound(task, depth)


def test_bad_task():
    with pytest.raises(TypeError, match="`task` must be a dln.Task.*Task.from_data"):
        dln.lr_bound(None, 2)
    with pytest.raises(TypeError, match="`task` must be a dln.Task"):
        dln.lr_bound(np.eye(2), 2)


@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_simulate_rejects_non_positive_lr(lr):
    task = dln.Task(np.eye(2), np.eye(2))
    w0 = dln.init.gaussian(jax.random.key(0), [2, 2, 2], 1e-2)
    with pytest.raises(ValueError, match="`lr` must be > 0"):
        dln.simulate(task, w0, lr=lr, steps=1)
