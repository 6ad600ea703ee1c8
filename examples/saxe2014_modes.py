"""Stage-like learning of a hierarchy, learning time against depth, and random orthogonal
against scaled Gaussian initialisation (Saxe et al. 2014).

Reproduces the central pictures of

    A. M. Saxe, J. L. McClelland and S. Ganguli, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120,

with the exact solutions of `dln.solve` checked against gradient descent from `dln.simulate`.
Depth `D` is the number of weight matrices (the paper counts layers, `N_l = D + 1`).

**The task of Figures 1 and 2.** Eight items are the leaves of a binary tree of depth 3, and
there is one feature per tree node (15 features): an item has a feature when it descends from
that node (Saxe, McClelland & Ganguli 2019, PNAS; docs/theory/semantic.md). Items are one-hot
inputs scaled to `X = √8 · I`, so that `Σxx = XᵀX/P = I` (whitened). The modes of `Σyx` are Haar
wavelets on the tree, with singular values `√(2^{4−l} − 1)/√8` for tree level `l`: 1.37, 0.94,
0.61 (twice) and 0.35 (four times).

**Figure 1, `saxe2014_modes.png`** (one panel per depth): the strength
`u_α(t) = U[:,α]ᵀ W(t) V[:,α]` of each mode against flow time `t = lr × steps`. Solid lines are
the exact solution of `du/dt = D u^{2−2/D}(s − u)` (`dln.solve`); circles are gradient descent on
the full weight matrices from the small, balanced, aligned initialisation that the solution
assumes (`dln.init.aligned`, `u0 = 10⁻³`); dashed lines are gradient descent from small random
Gaussian weights (hidden width 16). Look for a plateau then a sigmoidal rise for every mode
(stages), strongest mode first (progressive differentiation), circles on the lines (the exact
solution is gradient descent up to O(lr)), and the random initialisation going through the same
stages on its own schedule. Modes with equal singular values are drawn as one curve (their mean).

**Figure 2, `saxe2014_depth.png`**: iterations of gradient descent until the strongest mode
(`s = 1.37`) is learned, against depth, from aligned, balanced weights. Each layer of a mode has
strength `a` and `u = a^D` obeys `du/dt = D u^{2−2/D}(s − u)`; with `w = u/s` the flow time to go
from `w0` to `0.9` is `τ(w0, D) / (D s^{2−2/D})`, `τ = ∫_{w0}^{0.9} dw / (w^{2−2/D}(1 − w))`.
The stable learning rate at the target is `dln.lr_bound(task, D) = 2/(D s^{2−2/D})` here, so at
`lr_D = lr_bound/4` (∝ 1/D) the count is exactly `2τ(w0, D)` iterations.

- (a) Small *per-layer* init `a0 < 1` (`u0 = a0^D`, as for small random weights): the count
  grows exponentially with depth (dotted: the escape estimate `a0^{−(D−2)}/(s(D−2))` in flow
  time, docs/theory/modes.md).
- (b) The honest depth-independence panel: a mode that must grow 10×, 100× or 1000× (fixed
  `u0 = s/10, s/100, s/1000` at every depth, so `a0 = u0^{1/D} → 1` as for orthogonal weights).
  The count rises with depth and levels off: `τ` increases with `D` towards its `D → ∞` limit
  `τ∞ = 1/w0 − 1/0.9 + ln 9 − ln(w0/(1 − w0))` (dashed), so very deep networks take a *finite*,
  depth-independent number of iterations, about `2/w0`. It is not flat at small depth: from
  `D = 2` to `D = 10` the count for `u0 = s/10` goes from 8.8 to 20.5 (the limit is 26.6).
- (c) The same modes at the *optimal* learning rate: for each depth, gradient descent on a grid
  of learning rates, and the fewest iterations after which the mode stays within 10% of its
  target. (d) That optimal rate times depth: from depth 2 on it sits at the stability limit
  `lr_bound` (within 10%; just above it a small 2-cycle can stay inside the 10% band), so
  `lr_opt × D ≈ 2/s^{2−2/D}` is nearly constant (it varies by the factor `s^{2/D}`, between
  1.46 at `D = 2` and 1.09 at `D = 30`) while `lr_opt` itself falls more than 10×: the optimal
  learning rate scales like `1/D`, the paper's observation. The count at the optimal rate
  levels off like the one in (b): 2, 5, 6, 7 iterations at `D = 2, 6, 12, 30` for `u0 = s/10`,
  and 6, 83, 196, 352 for `u0 = s/1000`. (At depth 1 the optimum is the Newton step `lr = 1`,
  half the stability limit: one step lands on the target.)

Lines in (a) and (b) are the exact flow time (the integral `τ` above, by Gauss–Legendre
quadrature; full mode and the tests check it against the closed form
`dln.modes.time_to_fraction`) divided by `lr_D`. Circles are gradient descent at `lr_D`, counted
(interpolated at the crossing) with the mode's gradient-descent map `a ← a + lr a^{D−1}(s − a^D)`:
gradient descent on every layer of the aligned, balanced network gives each layer exactly this
update, and the script confirms it against `dln.simulate` on the full weight matrices at a few
depths (to rounding, ~1e-13). The scan of (c, d) runs the same map on the grid of rates.
Gradient descent is not the flow: to first order it follows the flow of `f − (lr/2) f f'`
(`f` the mode's velocity), so its count differs by about `½ ln` of the ratio of the velocities
at the two ends, a few steps (visible at depths 1 and 2, where the counts are small).

**Figure 3, `saxe2014_init.png`**: real deep networks (every layer 16 × 16) learning a random
linear teacher `Σyx = U diag(s) Vᵀ` (random orthogonal `U`, `V`, 16 singular values evenly spaced
from 2 to 0.5, whitened input) from two initialisations that both keep the size of a signal on
average: **random orthogonal** weights (`dln.init.orthogonal`, scale 1: the map `W_D ⋯ W_1` is
orthogonal, all its singular values are 1, "dynamical isometry") and **scaled Gaussian** weights
(`dln.init.gaussian`, entries of standard deviation `1/√16`). For each depth and initialisation,
gradient descent runs on a grid of learning rates for several seeds (one batched `dln.simulate`
call per depth); "learned" is the first step after which the loss stays below 10% of the loss of
the zero map; the optimal learning rate is the grid value with the fewest iterations on average
over the seeds (a run that diverges or is not learned within the step budget never wins).

- (a) The singular values of the initial map: 1 for orthogonal weights at every depth; for
  Gaussian weights a spread that widens exponentially with depth (most directions of the product
  shrink: the median singular value falls by about `e^{−0.35}` per layer, the smallest by about
  `e^{−2}`, below float64 resolution past depth 8).
- (b) The loss against training steps at one depth, each initialisation at its optimal rate.
- (c) Steps to learn at the optimal learning rate against depth. Orthogonal init rises from 4 at
  `D = 2` to about 13 at `D = 6` and then levels off (14–17 up to `D = 32`): depth-independent
  at large depth, as in Figure 2. Gaussian init takes 4, 22, 91 and 248 steps at `D = 2, 4, 6,
  8`, and from `D = 12` on is not learned within the budget of 1000 steps at any rate of the
  grid (full mode, 5 seeds).
- (d) The optimal learning rate times depth: orthogonal weights are balanced, so descent ends at
  the balanced minimum and the optimal rate is the largest grid rate below (or barely above) its
  stability limit `dln.lr_bound(task, D)` (line): `lr_opt ∝ 1/D` again (`lr_opt × D` = 0.94 at
  `D = 2`, 0.56 from `D = 6` on). The Gaussian optimum falls faster (0.25 at `D = 8`).

The script prints, for each figure, the simulation-versus-theory gaps and the measured counts.
Full mode takes about 2 minutes on 2 shared CPU cores; `--quick` uses fewer depths and seeds.
Run it with

    python examples/saxe2014_modes.py [--out DIR] [--quick]
"""

from __future__ import annotations

import math
import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import dln

# The settings of the three figures; `quick` trades depths, seeds and resolution for speed.
_FULL = {"mode_depths": (2, 3, 4), "lr": 0.01, "records": 300,
         "small_depths": tuple(range(1, 11)), "deep_depths": tuple(range(1, 31)),
         "simulate_at": (2, 6, 12),
         "net_depths": (2, 4, 6, 8, 12, 16, 24, 32), "seeds": 5, "net_steps": 1000,
         "curve_depth": 8}
_QUICK = {"mode_depths": (2, 3), "lr": 0.02, "records": 120,
          "small_depths": tuple(range(1, 9)), "deep_depths": tuple(range(1, 31)),
          "simulate_at": (6,),
          "net_depths": (2, 8), "seeds": 3, "net_steps": 500, "curve_depth": 8}
U0 = 1e-3  # initial strength of every mode in Figure 1 (the map is U0 · U Vᵀ)
RANDOM_WIDTH = 16  # hidden width of the randomly initialised networks of Figure 1
FRACTION = 0.9  # Figure 2: "learned" = 90% of the target strength (stays within 10%)
A0S = (0.3, 0.5)  # Figure 2 (a): small per-layer initial strengths
GROWTH = (0.1, 0.01, 0.001)  # Figure 2 (b–d): initial strength u0 / s of a mode
SMALL_MAX_ITERATIONS = 6000  # Figure 2 (a): simulate a0 runs only up to this many iterations
MODE_LR_GRID = 0.25 * 10 ** (np.arange(41) / 40)  # Figure 2 (c, d): lr × D from 0.25 to 2.5
NET_WIDTH = 16  # Figure 3: every layer NET_WIDTH × NET_WIDTH
NET_LR_GRID = 0.15 * 1.3 ** np.arange(9)  # Figure 3: lr × D from 0.15 to 1.22 (steps of ×1.3)
NET_EVERY = 5  # Figure 3: record every 5 steps (crossings interpolated in log loss)
NET_CRITERION = 0.1  # Figure 3: learned = loss stays below 10% of the zero map's loss
SV_RESOLVED = 1e-13  # Figure 3 (a): smaller singular values (relative) are not resolved


def hierarchical_task(levels: int = 3) -> dln.Task:
    """Items on the leaves of a binary tree of depth `levels`, one feature per tree node.

    `P = 2^levels` items with whitened one-hot inputs `X = √P · I` (so `Σxx = I`) and
    `2^{levels+1} − 1` binary features, nodes in breadth-first order (root first): item `i` has
    the feature of node `(l, k)` (the k-th node of level l) when it descends from it.
    """
    P = 2**levels
    Y = np.zeros((P, 2 ** (levels + 1) - 1))
    column = 0
    for level in range(levels + 1):
        size = P >> level  # items under one node of this level
        for k in range(2**level):
            Y[k * size:(k + 1) * size, column] = 1.0
            column += 1
    return dln.Task.from_data(math.sqrt(P) * np.eye(P), Y)


def teacher_task(n: int = NET_WIDTH, key=None) -> dln.Task:
    """A random linear teacher `Σyx = U diag(s) Vᵀ`, `n → n`, whitened input (`Σxx = I`):
    Haar-random orthogonal `U`, `V` and singular values evenly spaced from 2 to 0.5."""
    kU, kV = jax.random.split(jax.random.key(1) if key is None else key)
    return dln.Task.from_spectrum(np.linspace(2.0, 0.5, n),
                                  U=dln.init.random_orthogonal(kU, n),
                                  V=dln.init.random_orthogonal(kV, n))


def _groups(s, rtol=1e-8):
    """Indices of the modes in each group of equal singular values, strongest group first."""
    s = np.asarray(s)
    groups, start = [], 0
    for i in range(1, len(s) + 1):
        if i == len(s) or abs(s[i] - s[start]) > rtol * s[0]:
            groups.append(np.arange(start, i))
            start = i
    return groups


def _steps(t_end, lr, records):
    """`(steps, every)` reaching at least flow time `t_end` at learning rate `lr` in exactly
    `records` records."""
    every = max(1, math.ceil(t_end / lr / records))
    return every * records, every


# ------------------------------------------------------------------------------- Figure 1
def mode_runs(task: dln.Task, depths, lr: float, records: int, seed: int = 0):
    """Exact and simulated mode strengths for each depth (Figure 1).

    Returns one dict per depth with the learning rate `lr`, the record times `t`, the exact
    modes there (`exact`, `(T, K)`), the simulated modes from aligned (`aligned`) and random
    Gaussian (`random`) init, and `error`: the largest |simulation − theory| over all modes and
    records of the aligned run.
    """
    rng = np.random.default_rng(seed)
    w0 = U0 / np.asarray(task.s)
    runs = []
    for depth in depths:
        bound = dln.lr_bound(task, depth)
        if lr > bound / 10:
            raise ValueError(f"`lr` = {lr} is not well inside the stable range at depth {depth} "
                             f"(dln.lr_bound = {bound:.3g}); use lr <= {bound / 10:.3g}.")
        # Each depth runs until its weakest mode is within 1% of its target, plus a margin.
        t_end = np.max(normalized_time(w0, 0.99, depth) / _rate(task.s, depth))
        steps, every = _steps(1.15 * t_end, lr, records)
        # Both initialisations in one batched run (same hidden width): the aligned, balanced
        # init that the exact solution assumes, and random Gaussian weights whose map has modes
        # of typical size U0 (entries of size sigma give a map of size sigma^D width^{(D−1)/2}).
        sigma = (U0 / RANDOM_WIDTH ** ((depth - 1) / 2)) ** (1.0 / depth)
        dims = [task.n_in] + [RANDOM_WIDTH] * (depth - 1) + [task.n_out]
        # (drawn with numpy: the same Gaussian weights as dln.init.gaussian(key, dims, sigma),
        # without compiling JAX's sampler for every layer shape)
        gaussian = [sigma * rng.standard_normal((o, i)) for i, o in zip(dims, dims[1:])]
        inits = zip(dln.init.aligned(task, depth, width=RANDOM_WIDTH, u0=U0), gaussian)
        sim = dln.simulate(task, [jnp.stack(pair) for pair in inits], lr=lr, steps=steps,
                           every=every)
        t = sim.t[0]
        exact = np.asarray(dln.solve(task, depth=depth, u0=U0, t=t).modes)
        aligned, random = np.asarray(sim.modes[0]), np.asarray(sim.modes[1])
        runs.append({"depth": depth, "lr": lr, "steps": steps, "t": np.asarray(t),
                     "exact": exact, "aligned": aligned, "random": random,
                     "error": float(np.max(np.abs(aligned - exact)))})
    return runs


# ------------------------------------------------------------------------------- Figure 2
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(400)


def normalized_time(w0, w1, depth):
    """`τ = ∫_{w0}^{w1} dw / (w^{2−2/D}(1 − w))` for `0 < w0 <= w1 < 1`: the flow time of the
    mode `du/dt = D u^{2−2/D}(s − u)` from `u = w0 s` to `w1 s`, times `D s^{2−2/D}`
    (Saxe et al. 2014; docs/theory/modes.md).

    Gauss–Legendre quadrature in `y = ln w`, where the integrand `e^{(2/D − 1)y}/(1 − e^y)` is
    smooth on the whole interval; 400 nodes agree with the closed form `dln.modes.G_of_w` to
    1e-12 relative for `1e-30 <= w0 < w1 <= 0.99` and depths 3–30. Broadcasts over `w0`,
    `w1` and `depth` (`D = ∞` gives the limit `∫ dw/(w²(1 − w))`).
    """
    w0, w1, depth = np.broadcast_arrays(np.asarray(w0, float), np.asarray(w1, float),
                                        np.asarray(depth, float))
    lo, hi = np.log(w0)[..., None], np.log(w1)[..., None]
    y = 0.5 * (hi + lo) + 0.5 * (hi - lo) * _NODES
    integrand = np.exp((2.0 / depth[..., None] - 1.0) * y) / -np.expm1(y)
    return 0.5 * (hi - lo)[..., 0] * np.sum(_WEIGHTS * integrand, axis=-1)


def limit_time(w0, w1=FRACTION):
    """`τ` of `normalized_time` as `D → ∞`: `[−1/w + ln(w/(1 − w))]` from `w0` to `w1`."""
    f = lambda w: -1.0 / w + np.log(w / (1.0 - w))
    return f(w1) - f(np.asarray(w0, float))


def _rate(s, depth):
    """`D s^{2−2/D}`: flow time × this = normalised time `τ` (whitened input)."""
    return depth * np.asarray(s, float) ** (2.0 - 2.0 / depth)


def _mode_step(a, s, depth, lr):
    """One step of gradient descent on every layer of an aligned, balanced mode: each layer
    carries strength `a`, `u = a^D`, and the gradient of `½(s − u)²` in a layer is
    `−a^{D−1}(s − a^D)`, the same for every layer (so the layers stay equal)."""
    a_pow = a ** (depth - 1.0)
    return a + lr * a_pow * (s - a_pow * a)


def mode_crossing(s, w0, depth, lr, steps, fraction=FRACTION):
    """Iterations of `_mode_step` for the mode to reach `fraction · s` from `u0 = w0 s`,
    interpolated linearly between the two steps around the crossing (as
    `Trajectory.time_to` does for a simulation); `inf` if not within `steps`. Broadcasts over
    `w0`, `depth` and `lr`."""
    w0, depth, lr = np.broadcast_arrays(*(np.asarray(x, float) for x in (w0, depth, lr)))
    a = (w0 * s) ** (1.0 / depth)
    u_prev, level = a**depth, fraction * s
    out = np.where(u_prev >= level, 0.0, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            a = _mode_step(a, s, depth, lr)
            u = a**depth
            new = np.isinf(out) & (u >= level)
            out = np.where(new, k - 1 + (level - u_prev) / np.where(new, u - u_prev, 1.0), out)
            u_prev = u
    return out


def mode_settling(s, w0, depths, lr_times_depth, steps, fraction=FRACTION):
    """Iterations after which the mode stays within `(1 − fraction) s` of its target `s`, by
    gradient descent (`_mode_step`) from `u0 = w0 s`, for every depth and every learning rate
    `lr = lr_times_depth / D`: an integer count, 0 if it starts and stays there, `inf` if it is
    outside the band (or not finite) after `steps` steps. Shape
    `(len(depths), len(lr_times_depth), len(w0))`."""
    D = np.asarray(depths, float)[:, None, None]
    lr = np.asarray(lr_times_depth, float)[None, :, None] / D
    a = np.broadcast_to((np.asarray(w0, float) * s) ** (1.0 / D),
                        (D.shape[0], lr.shape[1], len(w0))).copy()
    band = (1.0 - fraction) * s
    inside = lambda a: np.abs(a**D - s) <= band  # (False when not finite)
    last_out = np.where(inside(a), -1, 0)  # the last step (0..steps) outside the band
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            a = _mode_step(a, s, D, lr)
            last_out = np.where(inside(a), last_out, k)
    return np.where(last_out == steps, np.inf, last_out + 1.0)


def mode_trace(s, w0, depth, lr, steps):
    """`u_k = a_k^D`, `k = 0..steps`, of `_mode_step` for one mode (to check against
    `dln.simulate`)."""
    a = (w0 * s) ** (1.0 / depth)
    out = [a**depth]
    for _ in range(steps):
        a = _mode_step(a, s, depth, lr)
        out.append(a**depth)
    return np.array(out)


def closed_form_gap(s, w0, depths, fraction=FRACTION):
    """Largest relative gap between the quadrature `normalized_time / (D s^{2−2/D})` and the
    closed form `dln.modes.time_to_fraction` over `w0` and `depths` (compiles per depth)."""
    w0 = np.asarray(w0, float)
    gap = 0.0
    for D in depths:
        exact = np.asarray(dln.modes.time_to_fraction(fraction, s, 1.0, jnp.asarray(w0 * s), D))
        quad = normalized_time(w0, fraction, D) / _rate(s, D)
        gap = max(gap, float(np.max(np.abs(quad / exact - 1))))
    return gap


def _first_crossing(u, level):
    """`mode_crossing` for recorded trajectories `u` `(..., T)` one step apart."""
    above = u >= level
    k = np.argmax(above, axis=-1)
    take = lambda i: np.take_along_axis(u, i[..., None], axis=-1)[..., 0]
    prev = np.maximum(k - 1, 0)
    u0, u1 = take(prev), take(k)
    frac = np.where(k > 0, (level - u0) / np.where(u1 > u0, u1 - u0, 1.0), 0.0)
    return np.where(above.any(axis=-1), np.where(k > 0, k - 1 + frac, 0.0), np.inf)


def depth_scan(task: dln.Task, small_depths, deep_depths, simulate_at):
    """The numbers of Figure 2 for the strongest mode of `task`.

    `small` (a): `a0s`, `depths`, `iterations` `(len(a0s), len(depths))` = exact flow time /
    `lr_D`, `estimate` (the escape estimate in iterations) and `descent` (gradient descent,
    `mode_crossing`; NaN past `SMALL_MAX_ITERATIONS`). `deep` (b–d): `growth` = `u0/s`,
    `depths`, `iterations`, `descent` and `limit` (`D → ∞`) at `lr_D`, and the learning-rate
    scan `grid` (lr × D), `scan` (`mode_settling`), `optimal` (its fewest iterations), `lr_opt`
    (the optimal rate: the geometric mean of the grid rates that tie for it) and `lr_range`
    (the smallest and largest of them), `(len(growth), len(depths))`. `lr` and `bound` map
    each depth to `lr_D = dln.lr_bound(task, D)/4` and to `dln.lr_bound`; `check` holds, at
    each depth of `simulate_at`, `dln.simulate` of the aligned network from the same inits at
    `lr_D`: the largest gap between its mode and `mode_trace`, and between the iterations
    counted in each.
    """
    s = float(task.s[0])
    depths = sorted(set(small_depths) | set(deep_depths) | set(simulate_at))
    bound = {D: dln.lr_bound(task, D) for D in depths}
    lr = {D: bound[D] / 4 for D in depths}
    kappa_lr = {D: _rate(s, D) * lr[D] for D in depths}  # 1/2 when lr_bound = 2/(D s^{2−2/D})
    a0s, growth = np.array(A0S), np.array(GROWTH)
    Ds, Dd = np.array(small_depths), np.array(deep_depths)
    lr_s, lr_d = np.array([lr[D] for D in Ds]), np.array([lr[D] for D in Dd])
    small_w0 = a0s[:, None] ** Ds[None, :] / s
    small_iters = normalized_time(small_w0, FRACTION, Ds) / (_rate(s, Ds) * lr_s)
    deep_iters = normalized_time(growth[:, None], FRACTION, Dd) / (_rate(s, Dd) * lr_d)
    estimate = np.full(small_w0.shape, np.nan)
    deep = Ds >= 3  # where the escape estimate applies
    estimate[:, deep] = (a0s[:, None] ** (-(Ds[deep] - 2.0)) / (s * (Ds[deep] - 2.0))
                         / lr_s[deep])
    # Gradient descent at lr_D, at every depth (the a0 runs while affordable).
    run = small_iters <= SMALL_MAX_ITERATIONS
    small_gd = np.where(run, mode_crossing(s, np.where(run, small_w0, 0.5), Ds, lr_s,
                                           math.ceil(1.2 * small_iters[run].max()) + 2), np.nan)
    deep_gd = mode_crossing(s, growth[:, None], Dd, lr_d, math.ceil(1.2 * deep_iters.max()) + 2)
    # The same runs in dln.simulate (full weight matrices) at a few depths, batched.
    check = {}
    for D in simulate_at:
        w0s = list(growth)
        if D in small_depths:
            j = list(small_depths).index(D)
            w0s += [w for w, ok in zip(small_w0[:, j], run[:, j]) if ok]
        w0s = np.array(w0s)
        steps = math.ceil(1.2 * np.max(normalized_time(w0s, FRACTION, D) / kappa_lr[D])) + 2
        first = np.eye(task.n_modes)[0]  # only the strongest mode starts nonzero
        inits = [dln.init.aligned(task, D, u0=w * s * first) for w in w0s]
        sim = dln.simulate(task, [jnp.stack(layer) for layer in zip(*inits)], lr=lr[D],
                           steps=steps)
        u_sim = np.asarray(sim.modes[:, :, 0])
        u_map = np.stack([mode_trace(s, w, D, lr[D], steps) for w in w0s])
        counts = [_first_crossing(u, FRACTION * s) for u in (u_sim, u_map)]
        check[D] = {"w0": w0s, "lr": lr[D], "steps": steps,
                    "mode_gap": float(np.max(np.abs(u_sim - u_map))),
                    "count_gap": float(np.max(np.abs(counts[0] - counts[1]))),
                    "counted": counts[0]}
    # The learning-rate scan (c, d), long enough for the smallest rate of the grid.
    longest = np.max(deep_iters * lr_d * Dd) / MODE_LR_GRID[0]
    scan = mode_settling(s, growth, Dd, MODE_LR_GRID, steps=math.ceil(1.5 * longest))
    optimal = scan.min(axis=1)  # (depths, growth)
    tied = scan == optimal[:, None, :]
    log_grid = np.log(MODE_LR_GRID)[None, :, None]
    lr_opt = np.exp((log_grid * tied).sum(axis=1) / tied.sum(axis=1)) / Dd[:, None]
    lr_range = np.stack([np.where(tied, MODE_LR_GRID[None, :, None], np.inf).min(axis=1),
                         np.where(tied, MODE_LR_GRID[None, :, None], 0.0).max(axis=1)])
    return {"s": s, "lr": lr, "bound": bound, "kappa_lr": kappa_lr, "check": check,
            "small": {"a0s": a0s, "depths": Ds, "iterations": small_iters, "estimate": estimate,
                      "descent": small_gd},
            "deep": {"growth": growth, "depths": Dd, "iterations": deep_iters,
                     "descent": deep_gd,
                     # flow time / lr_D → τ∞ / (κ lr_D), κ lr_D the same at every depth here
                     "limit": limit_time(growth) / kappa_lr[Dd[-1]],
                     "grid": MODE_LR_GRID, "scan": scan, "optimal": optimal.T,
                     "lr_opt": lr_opt.T, "lr_range": lr_range.transpose(0, 2, 1) / Dd}}


# ------------------------------------------------------------------------------- Figure 3
def _crossings(loss, level, every):
    """Steps after which `loss` (`(..., T)`, records `every` steps apart) stays below `level`,
    interpolated linearly in `log loss` between the last record above and the next; 0 if it
    starts below, `inf` if it is above (or not finite) at the last record."""
    above = ~(loss < level)
    T = loss.shape[-1]
    last = T - 1 - np.argmax(above[..., ::-1], axis=-1)  # last record above (if any)
    nxt = np.minimum(last + 1, T - 1)
    take = lambda i: np.take_along_axis(loss, i[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        l0, l1 = np.log(take(last)), np.log(take(nxt))
        frac = np.clip((l0 - math.log(level)) / (l0 - l1), 0.0, 1.0)
    out = (last + np.where(np.isfinite(frac), frac, 1.0)) * every
    out = np.where(above.any(axis=-1), out, 0.0)
    return np.where(above[..., -1], np.inf, out)


def init_comparison(task: dln.Task, depths, seeds: int, steps: int, key=None):
    """Random orthogonal against scaled Gaussian initialisation across depth (Figure 3).

    For each depth, `seeds` networks of each kind, every one trained at every learning rate of
    `NET_LR_GRID / D` (one batched `dln.simulate` call per depth, `steps` steps, recorded every
    `NET_EVERY`). Returns a dict with `depths`, `grid`, `steps`, `criterion`, and per kind
    (`"orthogonal"`, `"gaussian"`): `iterations` `(depths, grid, seeds)` to learn (`inf` when
    not learned or diverged), `lr_opt` `(depths,)` (NaN where no grid value learns every seed),
    `best` (iterations at `lr_opt`, `(depths, seeds)`), `singular` (singular values of the
    initial map, `(depths, seeds, n)`), and `curve` (the loss / zero-map loss at `lr_opt`,
    `(depths, seeds, records)`); `bound` is `dln.lr_bound(task, D)` per depth and `t_steps`
    the record steps.
    """
    key = jax.random.key(2014) if key is None else key
    n = task.n_in
    zero_loss = 0.5 * float(np.sum(np.asarray(task.s) ** 2))  # whitened: ½ Σ s²
    kinds = ("orthogonal", "gaussian")
    G = len(NET_LR_GRID)
    out = {"depths": np.array(depths), "grid": NET_LR_GRID, "steps": steps,
           "criterion": NET_CRITERION, "bound": np.array([dln.lr_bound(task, D) for D in depths]),
           "t_steps": np.arange(0, steps + 1, NET_EVERY)}
    for kind in kinds:
        out[kind] = {"iterations": [], "lr_opt": [], "best": [], "singular": [], "curve": []}
    for D in depths:
        dims = [n] * (D + 1)
        keys = jax.random.split(jax.random.fold_in(key, D), seeds)
        nets = {"orthogonal": [dln.init.orthogonal(k, dims, 1.0) for k in keys],
                "gaussian": [dln.init.gaussian(k, dims) for k in keys]}  # std 1/√n
        stacked = [jnp.stack([w[l] for kind in kinds for w in nets[kind]]) for l in range(D)]
        batch = stacked[0].shape[0]
        weights = [jnp.tile(w, (G, 1, 1)) for w in stacked]  # grid-major: (G · 2 · seeds)
        lrs = np.repeat(NET_LR_GRID / D, batch)
        with warnings.catch_warnings():  # the largest rates diverge, by design
            warnings.simplefilter("ignore", RuntimeWarning)
            sim = dln.simulate(task, weights, lr=lrs, steps=steps, every=NET_EVERY,
                               check_lr=False, on_divergence="warn")
        loss = np.asarray(sim.loss) / zero_loss
        loss = np.where(np.isfinite(loss), loss, np.inf).reshape(G, 2, seeds, -1)
        iterations = _crossings(loss, NET_CRITERION, NET_EVERY)  # (G, 2, seeds)
        for c, kind in enumerate(kinds):
            its = iterations[:, c]
            mean = its.mean(axis=1)
            g = int(np.argmin(mean))
            ok = np.isfinite(mean[g])
            maps = [np.linalg.multi_dot([np.asarray(w) for w in ws[::-1]]) if D > 1
                    else np.asarray(ws[0]) for ws in nets[kind]]
            rec = out[kind]
            rec["iterations"].append(its)
            rec["lr_opt"].append(NET_LR_GRID[g] / D if ok else np.nan)
            rec["best"].append(its[g] if ok else np.full(seeds, np.inf))
            rec["singular"].append(np.stack([np.linalg.svd(M, compute_uv=False) for M in maps]))
            rec["curve"].append(loss[g, c] if ok else np.full_like(loss[0, c], np.nan))
    for kind in kinds:
        rec = out[kind]
        for name in ("iterations", "lr_opt", "best", "singular", "curve"):
            rec[name] = np.array(rec[name])
    return out


def compare(quick: bool = True):
    """The numbers behind the three figures: a dict with the `task` of Figures 1–2, `runs`
    (`mode_runs`), `depth` (`depth_scan`), the `teacher` task and `init`
    (`init_comparison`)."""
    cfg = _QUICK if quick else _FULL
    task = hierarchical_task(3)
    runs = mode_runs(task, cfg["mode_depths"], cfg["lr"], cfg["records"])
    depth = depth_scan(task, cfg["small_depths"], cfg["deep_depths"], cfg["simulate_at"])
    if not quick:  # (compiles the closed form once per depth: the tests check one depth)
        depth["closed_form"] = closed_form_gap(depth["s"], GROWTH, cfg["simulate_at"])
    teacher = teacher_task()
    init = init_comparison(teacher, cfg["net_depths"], cfg["seeds"], cfg["net_steps"])
    init["curve_depth"] = cfg["curve_depth"]
    return {"task": task, "runs": runs, "depth": depth, "teacher": teacher, "init": init}


# ------------------------------------------------------------------------------------ plots
def _plot_modes(task, runs, path):
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend needed

    groups = _groups(task.s)
    s = np.asarray(task.s)
    fig = Figure(figsize=(max(4.8 * len(runs), 10.0), 4.6), layout="constrained")
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for n_ax, (ax, run) in enumerate(zip(axes, runs)):
        t = run["t"]
        mark = slice(None, None, max(1, len(t) // 60))  # about 60 markers per curve
        for n, g in enumerate(groups):
            c = f"C{n}"
            ax.plot(t, run["exact"][:, g].mean(axis=1), color=c, lw=1.8)
            ax.plot(t[mark], run["aligned"][mark][:, g].mean(axis=1), "o", color=c, ms=3.5,
                    mfc="none", mew=0.9)
            ax.plot(t, run["random"][:, g].mean(axis=1), "--", color=c, lw=1.1)
            label = rf"$s = {s[g[0]]:.2f}$" + (f" (×{len(g)})" if len(g) > 1 else "")
            ax.annotate(label, (t[-1], s[g[0]]), xytext=(-4, 3), textcoords="offset points",
                        ha="right", va="bottom", color=c, fontsize=9)
        ax.set_title(f"({'abcdefgh'[n_ax]}) depth D = {run['depth']}   (lr = {run['lr']:g}, "
                     f"$u_0$ = {U0:g})", fontsize=10)
        ax.set_xlabel(r"flow time $t$ = lr × steps")
        ax.set_xlim(0, t[-1])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"mode strength $u_\alpha(t) = U_\alpha^\top W(t)\, V_\alpha$")
    axes[0].set_ylim(-0.05, 1.12 * s[0])
    handles = [axes[0].plot([], [], "-", color="k", lw=1.8)[0],
               axes[0].plot([], [], "o", color="k", mfc="none", ms=4)[0],
               axes[0].plot([], [], "--", color="k", lw=1.1)[0]]
    fig.legend(handles, ["exact solution (dln.solve)", "gradient descent, aligned init",
                         f"gradient descent, random Gaussian init (width {RANDOM_WIDTH})"],
               loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("Saxe et al. 2014: the modes of a hierarchical task (8 items, 15 tree "
                 "features) are learned in stages, strongest first (colours: singular value "
                 "s; equal ones drawn as their mean)", fontsize=11)
    fig.savefig(path, dpi=110)
    return path


def _style_handles(ax, entries):
    """Legend handles in black for line styles / markers: `[(fmt, kwargs), ...]`."""
    return [ax.plot([], [], fmt, color="k", **kw)[0] for fmt, kw in entries]


def _plot_depth(depth, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 9.5), layout="constrained")
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
    s = depth["s"]
    exact = ("-", {"lw": 1.8})
    descent = ("o", {"mfc": "none", "ms": 6})
    lr_label = r"exact: flow time / $\mathrm{lr}_D$"
    gd_label = "gradient descent (counted)"
    # (a) small per-layer init
    sm = depth["small"]
    for i in range(len(sm["a0s"])):
        c = f"C{i}"
        ax_a.plot(sm["depths"], sm["iterations"][i], "-", color=c, lw=1.8)
        ax_a.plot(sm["depths"], sm["descent"][i], "o", color=c, mfc="none", ms=6)
        ax_a.plot(sm["depths"], sm["estimate"][i], ":", color=c, lw=1.4)
    colours = [ax_a.plot([], [], "s", color=f"C{i}", ms=7)[0] for i in range(len(sm["a0s"]))]
    ax_a.legend(colours + _style_handles(ax_a, [exact, descent, (":", {"lw": 1.4})]),
                [f"$a_0$ = {a0:g} per layer ($u_0 = a_0^D$)" for a0 in sm["a0s"]]
                + [lr_label, gd_label,
                   r"escape estimate $a_0^{-(D-2)}/(s\,(D-2))$ / $\mathrm{lr}_D$"],
                fontsize=8, loc="upper left")
    ax_a.set_title("(a) small per-layer init: exponential growth with depth", fontsize=10)
    ax_a.set_xticks(sm["depths"])
    # (b) fixed u0: rises, then levels off
    dp = depth["deep"]
    Dd = dp["depths"]
    marks = np.isin(Dd, (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30))  # circles, not a smear
    for i in range(len(dp["growth"])):
        c = f"C{i + 2}"
        ax_b.plot(Dd, dp["iterations"][i], "-", color=c, lw=1.8)
        ax_b.plot(Dd[marks], dp["descent"][i][marks], "o", color=c, mfc="none", ms=6)
        ax_b.axhline(dp["limit"][i], color=c, ls="--", lw=1.1)
    growth = [f"$u_0$ = s/{1 / g:.0f}" for g in dp["growth"]]
    colours = [ax_b.plot([], [], "s", color=f"C{i + 2}", ms=7)[0]
               for i in range(len(dp["growth"]))]
    ax_b.legend(colours + _style_handles(ax_b, [exact, descent, ("--", {"lw": 1.1})]),
                [f"{g} (must grow {1 / x:.0f}×)" for g, x in zip(growth, dp["growth"])]
                + [lr_label, gd_label, r"its limit $D \to \infty$"],
                fontsize=8, loc="upper left", ncol=2)
    ax_b.set_ylim(2, 40 * np.max(dp["limit"]))
    ax_b.set_title("(b) a mode that must grow 10×–1000×: the count rises, then levels off",
                   fontsize=10)
    for ax in (ax_a, ax_b):
        ax.set_ylabel("iterations to reach 90% of the target\n"
                      r"at $\mathrm{lr}_D$ = lr_bound(D)/4 $\propto 1/D$")
    # (c) at the optimal learning rate
    for i in range(len(dp["growth"])):
        ax_c.plot(Dd, np.maximum(dp["optimal"][i], 0.8), "s-", color=f"C{i + 2}", ms=4, lw=0.9,
                  mfc="none", label=growth[i])
    ax_c.set_ylabel("iterations until the mode stays within 10%\n"
                    "of its target, at the optimal learning rate")
    ax_c.set_title("(c) at the optimal learning rate: also levels off", fontsize=10)
    ax_c.legend(title="squares: gradient descent at the best rate of the grid", fontsize=8,
                title_fontsize=8, loc="lower right")
    # (d) optimal lr × D
    for i in range(len(dp["growth"])):
        x = Dd + 0.2 * (i - 1)
        mid = dp["lr_opt"][i] * Dd
        lo, hi = dp["lr_range"][0, i] * Dd, dp["lr_range"][1, i] * Dd
        ax_d.errorbar(x, mid, yerr=[mid - lo, hi - mid], fmt="s", color=f"C{i + 2}", ms=4,
                      mfc="none", elinewidth=0.8, capsize=1.5,
                      label=f"optimal rate, {growth[i]} (bar: rates that tie)")
    bound = np.array([depth["bound"][D] for D in Dd])
    ax_d.plot(Dd, bound * Dd, "k-", lw=1.6,
              label=r"stability limit: lr_bound × D $= 2/s^{2-2/D}$ (theory)")
    ax_d.plot(Dd, bound * Dd / 4, "k:", lw=1.3, label=r"$\mathrm{lr}_D \times D$ of (a, b)")
    ax_d.set_ylabel("learning rate × depth D")
    ax_d.set_ylim(0, 2.3)
    ax_d.set_title(f"(d) the optimal rate ∝ 1/D, at the stability limit (grid steps "
                   f"×{MODE_LR_GRID[1] / MODE_LR_GRID[0]:.2f})", fontsize=10)
    ax_d.legend(fontsize=8, loc="upper right")
    for ax in (ax_a, ax_b, ax_c):
        ax.set_yscale("log")
    for ax in (ax_a, ax_b, ax_c, ax_d):
        ax.set_xlabel("depth D (number of weight matrices)")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"Saxe et al. 2014: gradient-descent iterations to learn the strongest mode "
                 f"(s = {s:.2f}) of the hierarchical task, from aligned balanced weights, "
                 "against depth", fontsize=11)
    fig.savefig(path, dpi=110)
    return path


def _band(ax, x, samples, color, label):
    """Mean line and ± 1 s.d. band over the last axis of `samples`."""
    mean, sd = samples.mean(axis=-1), samples.std(axis=-1)
    ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.25, lw=0)
    return ax.plot(x, mean, "-", color=color, lw=1.8, label=label)[0]


def _plot_init(init, path):
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(12, 9), layout="constrained")
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
    D = init["depths"]
    seeds = init["orthogonal"]["best"].shape[1]
    colour = {"orthogonal": "C0", "gaussian": "C3"}
    name = {"orthogonal": "random orthogonal", "gaussian": "scaled Gaussian (std 1/√16)"}
    band = f"mean ± s.d. over {seeds} seeds"
    # (a) singular values of the initial map
    sv = init["gaussian"]["singular"]  # (depths, seeds, n)
    for label, ls, col in [("largest", "-", sv[..., 0]), ("median", "--", np.median(sv, -1)),
                           ("smallest", ":", sv[..., -1])]:
        # float64 resolves singular values down to ~1e-16 of the largest: drop the depths
        # where the smallest is below SV_RESOLVED of it in some seed (then it is rounding)
        ok = np.all(col >= SV_RESOLVED * sv[..., 0], axis=1)
        logs = np.log10(col[ok])
        mean, sd = logs.mean(axis=1), logs.std(axis=1)
        ax_a.fill_between(D[ok], 10 ** (mean - sd), 10 ** (mean + sd), color="C3", alpha=0.2,
                          lw=0)
        ax_a.plot(D[ok], 10**mean, ls, color="C3", lw=1.6, marker="o", ms=3,
                  label=f"Gaussian: {label} singular value"
                  + (" (deeper: below float64 resolution)" if not ok.all() else ""))
    orth_sv = init["orthogonal"]["singular"]
    ax_a.plot(D, orth_sv.max(axis=(1, 2)), "-", color="C0", lw=2.2, marker="s", ms=4,
              label="orthogonal: all singular values = 1")
    ax_a.set_yscale("log")
    ax_a.set_ylabel(r"singular values of the initial map $W_D \cdots W_1$")
    ax_a.set_title("(a) the initial map: a product of Gaussian matrices spreads its "
                   "singular values", fontsize=10)
    handles, _ = ax_a.get_legend_handles_labels()
    geometric = f"band: geometric mean ×/÷ 1 s.d. over {seeds} seeds"
    ax_a.legend(handles=handles + [Patch(color="C3", alpha=0.25, label=geometric)], fontsize=8,
                loc="lower left")
    # (b) loss curves at one depth
    j = list(D).index(init["curve_depth"]) if init["curve_depth"] in D else len(D) - 1
    t = init["t_steps"]
    for kind in ("orthogonal", "gaussian"):
        curve = init[kind]["curve"][j]  # (seeds, T)
        if np.all(np.isnan(curve)):
            continue
        lr = init[kind]["lr_opt"][j]
        ax_b.fill_between(t[1:], curve[:, 1:].min(axis=0), curve[:, 1:].max(axis=0),
                          color=colour[kind], alpha=0.25, lw=0)
        ax_b.plot(t[1:], np.median(curve[:, 1:], axis=0), "-", color=colour[kind], lw=1.8,
                  label=f"{name[kind]} (lr × D = {lr * D[j]:.2f})")
    ax_b.axhline(init["criterion"], color="k", ls=":", lw=1.2,
                 label=f"criterion: {init['criterion']:g} × loss of the zero map")
    ax_b.set_yscale("log")
    ax_b.set_xscale("log")
    ax_b.set_ylim(1e-3, 5)
    ax_b.set_xlabel(f"training steps (recorded every {NET_EVERY})")
    ax_b.set_ylabel("loss / loss of the zero map")
    ax_b.set_title(f"(b) the loss at depth D = {D[j]}, each initialisation at its optimal "
                   "rate", fontsize=10)
    ax_b.set_xlim(t[1], t[-1])
    handles, _ = ax_b.get_legend_handles_labels()
    ranges = f"line: median, band: range (min to max) over {seeds} seeds"
    ax_b.legend(handles=handles + [Patch(color="0.5", alpha=0.3, label=ranges)], fontsize=8,
                loc="lower left")
    # (c) iterations at the optimal lr against depth
    handles = []
    for kind in ("orthogonal", "gaussian"):
        best = init[kind]["best"]  # (depths, seeds)
        ok = np.all(np.isfinite(best), axis=1)
        if ok.any():
            handles.append(_band(ax_c, D[ok], best[ok], colour[kind], f"{name[kind]}"))
            ax_c.plot(D[ok], best[ok].mean(axis=1), "o", color=colour[kind], ms=4)
        if (~ok).any():
            handles.append(ax_c.plot(D[~ok], np.full((~ok).sum(), init["steps"]), "^",
                                     color=colour[kind], ms=9, mfc="none", mew=1.5,
                                     label=f"{name[kind]}: not learned within "
                                     f"{init['steps']} steps at any rate")[0])
    handles.append(Patch(color="0.5", alpha=0.3, label=f"band: {band}"))
    ax_c.set_yscale("log")
    ax_c.set_ylim(1, 2 * init["steps"])
    ax_c.set_ylabel("training steps until the loss stays below the criterion\n"
                    "(at the optimal learning rate)")
    ax_c.set_title("(c) learning time at the optimal rate: orthogonal levels off, Gaussian "
                   "grows", fontsize=10)
    ax_c.legend(handles=handles, fontsize=8, loc="lower right")
    # (d) optimal lr × D
    for k, kind in enumerate(("orthogonal", "gaussian")):
        lr = init[kind]["lr_opt"]
        ok = np.isfinite(lr)
        ax_d.plot(D[ok] * (1 + 0.03 * (2 * k - 1)), lr[ok] * D[ok], "s", color=colour[kind],
                  ms=6, mfc="none", mew=1.4, label=f"{name[kind]}: optimal rate (grid)")
    ax_d.plot(D, init["bound"] * D, "k-", lw=1.6,
              label="stability limit at the balanced minimum, dln.lr_bound × D (theory)")
    ax_d.set_ylim(0, 1.25 * max(np.max(init["bound"] * D), NET_LR_GRID[-1]))
    ax_d.set_ylabel("learning rate × depth D")
    ax_d.set_title(f"(d) the optimal learning rate ∝ 1/D (grid steps ×"
                   f"{NET_LR_GRID[1] / NET_LR_GRID[0]:.1f}; markers offset)", fontsize=10)
    ax_d.legend(fontsize=8, loc="upper right")
    for ax in (ax_a, ax_c, ax_d):
        ax.set_xlabel("depth D (number of weight matrices)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(D, [str(d) for d in D])
        ax.minorticks_off()
    for ax in (ax_a, ax_b, ax_c, ax_d):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"Saxe et al. 2014: deep linear networks ({NET_WIDTH} units per layer) "
                 "learning a random linear teacher, random orthogonal against scaled Gaussian "
                 "initialisation", fontsize=11)
    fig.savefig(path, dpi=110)
    return path


# ---------------------------------------------------------------------------------- summary
def _fmt(x, width=7):
    return ("inf" if np.isinf(x) else "-" if np.isnan(x) else f"{x:.4g}").rjust(width)


def summary(res) -> str:
    """The printed report: simulation-vs-theory errors and the measured learning times."""
    runs, depth, init = res["runs"], res["depth"], res["init"]
    lines = [f"Figure 1: gradient descent from aligned init (u0 = {U0:g}) vs dln.solve"]
    for run in runs:
        lines.append(f"  D = {run['depth']}:  lr = {run['lr']:g}, {run['steps']} steps, "
                     f"max |simulation − theory| = {run['error']:.2e} "
                     f"over {run['exact'].shape[1]} modes × {len(run['t'])} records")
    s = depth["s"]
    lines.append(f"Figure 2: iterations until the strongest mode (s = {s:.4g}) reaches 90% at "
                 "lr_D = lr_bound/4 (exact flow time / lr_D | gradient descent)")
    if "closed_form" in depth:
        lines.append(f"  quadrature vs the closed form dln.modes.time_to_fraction: max relative "
                     f"gap {depth['closed_form']:.1e}")
    for D, c in depth["check"].items():
        lines.append(f"  the mode's descent map vs dln.simulate at D = {D} (lr_D = {c['lr']:.4g},"
                     f" {len(c['w0'])} runs, {c['steps']} steps): max |Δu| = "
                     f"{c['mode_gap']:.1e}, max |Δ iterations| = {c['count_gap']:.1e}")
    sm = depth["small"]
    lines.append("  (a) small per-layer init:   D " + "".join(
        f"a0 = {a0:g}".rjust(22) for a0 in sm["a0s"]))
    for j, D in enumerate(sm["depths"]):
        lines.append(f"  {'':26s}{D:3d} " + "".join(
            f"{_fmt(sm['iterations'][i, j], 12)} | {_fmt(sm['descent'][i, j]).strip():<7}"
            for i in range(len(sm["a0s"]))))
    dp = depth["deep"]
    shown = np.isin(dp["depths"], (1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 30))
    lines.append("  (b) fixed u0, lr_D:         D " + "".join(
        f"u0 = s/{1 / g:.0f}".rjust(22) for g in dp["growth"]))
    for j in np.nonzero(shown)[0]:
        lines.append(f"  {'':26s}{dp['depths'][j]:3d} " + "".join(
            f"{_fmt(dp['iterations'][i, j], 12)} | {_fmt(dp['descent'][i, j]).strip():<7}"
            for i in range(len(dp["growth"]))))
    lines.append(f"  {'':24s}D → ∞ " + "".join(f"{_fmt(x, 12)}          " for x in dp["limit"]))
    lines.append("  (c, d) at the optimal learning rate: lr_opt × D (grid, geometric mean of ties)"
                 " | iterations until within 10% for good; stability limit lr_bound × D")
    for j in np.nonzero(shown)[0]:
        D = dp["depths"][j]
        lines.append(f"  {'':26s}{D:3d} " + "".join(
            f"{dp['lr_opt'][i, j] * D:12.3f} | {_fmt(dp['optimal'][i, j]).strip():<7}"
            for i in range(len(dp["growth"]))) + f"   limit {depth['bound'][D] * D:.3f}")
    n_seeds = init["orthogonal"]["best"].shape[1]
    lines.append(f"Figure 3: {NET_WIDTH}-unit layers, random teacher; steps until the loss "
                 f"stays below {NET_CRITERION:g} × the zero map's loss, at the optimal rate "
                 f"(mean ± s.d. over {n_seeds} seeds; budget {init['steps']} steps)")
    lines.append("      D   orthogonal: lr×D  steps            Gaussian: lr×D  steps"
                 "             lr_bound×D   Gaussian smallest singular value")
    for j, D in enumerate(init["depths"]):
        cells = []
        for kind in ("orthogonal", "gaussian"):
            lr, best = init[kind]["lr_opt"][j], init[kind]["best"][j]
            steps = (f"{best.mean():.4g} ± {best.std():.2g}" if np.all(np.isfinite(best))
                     else f"> {init['steps']}")
            cells.append((f"{lr * D:12.3f}" if np.isfinite(lr) else f"{'-':>12}")
                         + f"  {steps:<16}")
        sv = init["gaussian"]["singular"][j]
        smallest = (f"{np.exp(np.mean(np.log(sv[:, -1]))):.2g}"
                    if np.all(sv[:, -1] >= SV_RESOLVED * sv[:, 0]) else "< 1e-13 (unresolved)")
        lines.append(f"  {D:5d} " + "   ".join(cells)
                     + f"   {init['bound'][j] * D:8.3f}   {smallest}")
    return "\n".join(lines)


def main(out_dir="out", quick=False):
    """Compute all three figures, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot_modes(res["task"], res["runs"], os.path.join(out_dir, "saxe2014_modes.png")),
            _plot_depth(res["depth"], os.path.join(out_dir, "saxe2014_depth.png")),
            _plot_init(res["init"], os.path.join(out_dir, "saxe2014_init.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
