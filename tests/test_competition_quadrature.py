"""The fixed-cost evaluation of the depth >= 3 competition (`dln.theory.competition`): the
quadrature of `t(y) = ∫ dy/F(y)` and its Newton inverse against mpmath at 30 digits (`mp.quad`
of the same integral, `mp.findroot` for its inverse), from tiny to moderate initial strengths,
below and above the target; and `jax.grad` through it against central differences. The whole
`dln.pathways.solve` is checked against DOP853 in tests/test_pathways.py."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np

from dln.theory import competition as C

# per mode: singular value s, input variance λ, initial strengths of three pathways
S = np.array([2.5, 1.2, 0.9, 0.6, 0.4])
LAM = np.array([1.0, 1.3, 1.0, 0.5, 2.0])
K0 = np.array([[1e-3, 0.30, 2e-2, 1e-12, 0.25],   # mode 1 starts above its target,
               [5e-4, 0.05, 1.9e-2, 4e-12, 0.01],  # mode 4 at 1.4× its target
               [1e-4, 0.02, 0.0, 1e-13, 0.08]])    # a dead pathway in mode 2
DEPTH, TIMES = 5, np.array([0.0, 0.8, 12.0, 1e4])


def _reference(depth, t, guess):
    """K_p(t) per mode from the exact reduction (derivations/pathways.py): y = ln K_r solves
    `t = ∫_{y0}^{y} dy/(D e^{qy}(s − λ Σ_p K_p(y)))`, `K_p(y) = e^y (1 + c_p e^{qy})^{−1/q}`,
    solved for `v = ln|y_∞ − y|` by `mp.findroot` from the float64 answer (or from the
    asymptote `v ≈ ln|y_∞ − y0| − t/A` when that answer sits at the fixed point)."""
    mp.mp.dps = 30
    q = mp.mpf(depth - 2) / depth
    out = np.zeros((len(t), 3, len(S)))
    for k in range(len(S)):
        k0 = [mp.mpf(float(v)) for v in K0[:, k] if v > 0]
        kr = max(k0)
        c = [v ** -q - kr ** -q for v in k0]
        s, lam = mp.mpf(float(S[k])), mp.mpf(float(LAM[k]))

        def strengths(y):
            return [mp.e ** y * (1 + cp * mp.e ** (q * y)) ** (-1 / q) for cp in c]

        def rate(y):
            return depth * mp.e ** (q * y) * (s - lam * sum(strengths(y)))

        y0 = mp.log(kr)
        y_inf = mp.findroot(lambda y: sum(strengths(y)) - s / lam, mp.log(s / lam))
        sigma = 1 if y_inf > y0 else -1
        A = -1 / mp.diff(rate, y_inf)  # the decay rate of ln|y_∞ − y| is 1/A
        for i, ti in enumerate(t):
            gap = abs(mp.log(guess[i, :, k].max()) - y_inf)
            v = mp.log(gap) if gap > 1e-10 else mp.log(abs(y_inf - y0)) - ti / A
            if ti == 0:
                y = y0
            elif v < -80:  # the fixed point to 30 digits
                y = y_inf
            elif v < -20:  # s − λΣK would cancel to fewer than 20 of the 30 digits: not checked
                out[i, :, k] = np.nan
                continue
            else:
                def time_to(v):  # breakpoints graded towards the log singularity at y_∞
                    top = mp.log(abs(y_inf - y0))
                    cuts = mp.linspace(top, v, int(abs(top - v) / 2) + 2)[1:]
                    return mp.quad(lambda u: 1 / rate(u),
                                   [y0] + [y_inf - sigma * mp.e ** u for u in cuts])

                v = mp.findroot(lambda v: time_to(v) - ti, v, solver="newton",
                                df=lambda v: -sigma * mp.e ** v / rate(y_inf - sigma * mp.e ** v))
                y = y_inf - sigma * mp.e ** v
            vals = iter(strengths(y))
            out[i, :, k] = [float(next(vals)) if v_ > 0 else 0.0 for v_ in K0[:, k]]
    return out


def _approach(k0, s, t, depth):
    """The quadrature and its inverse alone (`solve` adds the pieces, the other methods and
    the differentiated Dopri8 of decaying lanes, whose compilation would dominate this file)."""
    lam, plastic = jnp.asarray(LAM), jnp.asarray(K0 > 0)
    red = C._reduction(k0, plastic, s, lam, depth)
    approach = (s > 0) & red["moving"]
    K = C._approach(red, C._root(red, s / lam), s, lam, t, depth, approach)
    return C._exact_start(k0, plastic, s, lam, t, depth, K)  # as `solve`: t = 0 gives k0


def test_quadrature_against_mpmath():
    """Relative error of every strength at float64 level, from tiny to moderate initial
    strengths, below and above the target, up to the fixed point."""
    got = np.asarray(jax.jit(_approach, static_argnums=3)(jnp.asarray(K0), jnp.asarray(S),
                                                         jnp.asarray(TIMES), DEPTH))
    ref = _reference(DEPTH, TIMES, got)
    live = ref > 0  # NaN: not checked
    assert np.sum(live) >= 30
    rel = np.abs(got - ref)[live] / ref[live]
    assert np.max(rel) < 1e-13, np.max(rel)
    assert np.all(got[:, 2, 2] == 0.0)  # the dead pathway stays dead


def test_gradient_through_the_quadrature():
    """`jax.grad` of a final share through `_root` and `_approach` (the implicit-function
    derivatives of the root and of the inverse) against central differences."""
    def share(k0, s, t):
        K = _approach(k0, s, t, DEPTH)[0]
        return jnp.sum(K[0] / jnp.sum(K, axis=0))

    k0, s, t = jnp.asarray(K0), jnp.asarray(S), jnp.asarray([3.0])
    f = jax.jit(share)
    grads = jax.jit(jax.grad(share, argnums=(0, 1, 2)))(k0, s, t)
    h = 1e-6
    for arg, g in zip(range(3), grads):
        args = [k0, s, t]
        x = np.asarray(args[arg])
        for idx in [(1, 1), (0, 3)] if arg == 0 else [(2,)] if arg == 1 else [(0,)]:
            step = h * abs(x[idx])
            up, down = x.copy(), x.copy()
            up[idx] += step
            down[idx] -= step
            fd = (f(*[jnp.asarray(up) if j == arg else a for j, a in enumerate(args)])
                  - f(*[jnp.asarray(down) if j == arg else a for j, a in enumerate(args)])) / (
                      2 * step)
            np.testing.assert_allclose(g[idx], fd, rtol=2e-6, atol=1e-10)


def test_derivatives_at_the_start():
    """At `t = 0` and at a tiny `t` the derivative by `t` is the flow's velocity
    `D K^{2−2/D}(s − λΣK)` and the derivative by the initial strengths the identity (the
    inverse starts on a panel's edge, where a clip would cut or halve them). The mode with a
    dead pathway is left out at the tiny `t` (its derivative there is NaN: a known defect)."""
    k0, s = jnp.asarray(K0), jnp.asarray(S)
    t = jnp.asarray([0.0, 1e-30])
    d_t, d_k0 = jax.jit(jax.jacfwd(_approach, argnums=(2, 0)), static_argnums=3)(k0, s, t, DEPTH)
    live = K0 > 0
    velocity = DEPTH * K0 ** (2 - 2 / DEPTH) * (S - np.asarray(LAM) * K0.sum(axis=0))
    eye = np.einsum("ac,bd->abcd", np.eye(K0.shape[0]), np.eye(K0.shape[1]))
    for i in range(2):
        check = live.copy()
        if i == 1:
            check[:, 2] = False
        np.testing.assert_allclose(np.asarray(d_t)[i, :, :, i][check], velocity[check],
                                   rtol=1e-9)
        np.testing.assert_allclose(np.asarray(d_k0)[i][check], eye[check], atol=1e-9)
