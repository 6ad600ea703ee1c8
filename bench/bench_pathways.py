"""Competing pathways: the exact solution against simulation and forward Euler of equal accuracy.

Run `python bench/bench_pathways.py` (add `--quick` for a short run). Every ratio is measured in
the same run on the same device, after compilation (one warm-up call, then the best of several
timed calls, each ended with `block_until_ready`); `ratio` = baseline time / dln time.

- `solve vs Euler`: `dln.pathways.solve` at depth 3 (two pathways, the reduced competition
  flow evaluated by fixed-cost quadrature) for modes × times, one call from the user's side
  (validation included), against a vectorised numpy forward-Euler loop of the same pathway ODE
  `dK_p/dt = D K_p^{2−2/D}(s − λΣ_q K_q)` whose step is tuned to 1e-3 largest relative error
  on the strengths (one timed run of the tuned step: numpy has nothing to compile). The exact
  solution's own error (against mpmath at 30 digits, a few modes and times) is in the note,
  with the cost Euler would need to match it (its error falls as its step: extrapolated).
- `map vs simulate`: the exact critical-period map (`jax.vmap` of `dln.pathways.solve` over
  16 onsets × 16 lengths, depth 4, width 8, 8-item hierarchy, flow time 300) against one batched
  `dln.pathways.simulate` of the same grid (1500 steps at lr 0.2).
- `map vs Euler`: the same exact map against a vectorised numpy forward Euler of the two-pathway
  mode ODE over all windows and modes at once, step tuned to 1e-3 on the final shares.
"""

from __future__ import annotations

import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mpmath as mp  # noqa: E402
import numpy as np  # noqa: E402
from bench_core import best_time, cli  # noqa: E402  (bench/ is the script's directory)

import dln  # noqa: E402
from dln import datasets, pathways  # noqa: E402

DEPTH, WIDTH, LR, STEPS, U0 = 4, 8, 0.2, 1500, 1e-2


# --------------------------------------------------------------------- forward Euler baselines
def _euler(K0, s, lam, t_out, depth, h, window=None):
    """Vectorised forward Euler of `dK_p/dt = D K_p^{2−2/D}(s − λΣK)` over `K0 (..., P, K)`,
    recording at the times `t_out` (sorted); `window = (onset, length)` arrays `(...)` freeze
    pathway 1 inside it. Returns `(T, ..., P, K)`."""
    K = np.array(K0, float)
    power = 2.0 - 2.0 / depth
    out, t, j = [], 0.0, 0
    t_out = np.asarray(t_out, float)
    while j < len(t_out):
        while j < len(t_out) and t >= t_out[j] - 1e-12:
            out.append(K.copy())
            j += 1
        if j == len(t_out):
            break
        dt = min(h, t_out[j] - t)
        dK = depth * K ** power * (s - lam * K.sum(axis=-2, keepdims=True))
        if window is not None:
            onset, length = window
            frozen = (t >= onset) & (t < onset + length)
            dK[..., 1, :] *= ~frozen[..., None]
        K += dt * dK
        t += dt
    return np.stack(out)


def _tune(run, error, start, target=1e-3):
    """The step of a forward Euler run whose `error(run(h))` is at most `target`: from `start`,
    steps predicted from first-order convergence (`error ∝ h`) with a 10 % margin, halved
    until it holds. Returns `(h, error, seconds of that last run)`."""
    h = start
    for _ in range(30):
        begin = time.perf_counter()
        K = run(h)
        seconds = time.perf_counter() - begin
        err = error(K)
        if err <= target:
            return h, err, seconds
        h *= min(0.5, 0.9 * target / err)
    raise RuntimeError("Euler did not reach the target accuracy")


# ------------------------------------------------------------------------- solve vs Euler
def _deep_task(n_modes):
    s = np.linspace(3.0, 0.5, n_modes)
    return dln.Task(np.eye(n_modes), np.diag(s)), s


def _mp_error(s, u0, t, got, depth):
    """Largest relative error of `got (T, 2, K)` against the reduced flow evaluated in mpmath
    at 30 digits (`mp.quad` of `t(y)` with breakpoints graded towards the fixed point,
    `mp.findroot` of its inverse in `v = ln|y_∞ − y|`) at a few modes and times; points within
    `e^{−20}` of the fixed point (where `s − λΣK` would cancel 20 of the 30 digits) are left out."""
    mp.mp.dps = 30
    q = mp.mpf(depth - 2) / depth
    worst = 0.0
    for k in (0, len(s) // 2, len(s) - 1):
        k0 = [mp.mpf(float(u)) for u in (u0[0][k], u0[1][k])]
        c = [v ** -q - k0[0] ** -q for v in k0]
        sk = mp.mpf(float(s[k]))

        def strengths(y):
            return [mp.e ** y * (1 + cp * mp.e ** (q * y)) ** (-1 / q) for cp in c]

        def rate(y):
            return depth * mp.e ** (q * y) * (sk - sum(strengths(y)))

        y0 = mp.log(k0[0])
        y_inf = mp.findroot(lambda y: sum(strengths(y)) - sk, mp.log(sk))
        top = mp.log(y_inf - y0)

        def time_to(v):
            cuts = mp.linspace(top, v, int(abs(top - v) / 2) + 2)[1:]
            return mp.quad(lambda u: 1 / rate(u), [y0] + [y_inf - mp.e ** u for u in cuts])

        for i in range(1, len(t), max(1, len(t) // 7)):
            gap = y_inf - mp.log(float(got[i, 0, k]))
            if gap < mp.e ** -20:
                continue
            v = mp.log(gap)
            v = mp.findroot(lambda v: time_to(v) - float(t[i]), v, solver="newton",
                            df=lambda v: -mp.e ** v / rate(y_inf - mp.e ** v))
            ref = [float(r) for r in strengths(y_inf - mp.e ** v)]
            worst = max(worst, max(abs(got[i, p, k] - ref[p]) / ref[p] for p in range(2)))
    return worst


def solve_vs_euler(n_modes, n_times, quick, h=None):
    task, s = _deep_task(n_modes)
    depth = 3
    u0 = (np.full(n_modes, 1e-3), np.full(n_modes, 0.5e-3))
    t_end = 1.5 * (1e-3 ** (-1 / 3) / (0.5 * 3 / 3))  # 1.5 × the slowest mode's escape time
    t = np.linspace(0.0, t_end, n_times)

    def exact():
        return pathways.solve(task, depth=depth, u0=u0, t=t).modes

    got = np.asarray(exact())
    t_exact = best_time(exact, repeats=3 if quick else 7)
    K0 = np.stack(u0)

    def run(h):
        return _euler(K0, s, 1.0, t, depth, h)

    def error(K):
        return float(np.max(np.abs(K - got) / got))

    if h is None:  # tuned on the first size, reused (the same spread of modes)
        h, err, t_euler = _tune(run, error, start=0.05)
    else:
        h, err, t_euler = _tune(run, error, start=h)
    own = _mp_error(s, u0, t, got, depth)
    match = t_euler * err / max(own, 1e-16)  # Euler's error ∝ its step: cost ∝ 1/error
    return h, dict(case=f"pathways.solve, depth 3, 2 pathways, {n_modes} modes × {n_times} times",
                dln_s=t_exact, baseline=f"numpy forward Euler, step {h:.3g} (error {err:.1e})",
                baseline_s=t_euler, ratio=t_euler / t_exact,
                goal="faster than any Euler of equal accuracy",
                note=f"exact error {own:.1e} vs mpmath (30 digits); Euler at that error: "
                     f"~{match:.2g} s (extrapolated), {match / t_exact:.2g}× the exact")


# ------------------------------------------------------------------- critical-period map
def _grid(quick):
    n = 4 if quick else 16
    onsets, lengths = np.meshgrid(np.linspace(0.0, 150.0, n), np.linspace(5.0, 80.0, n))
    return jnp.asarray(onsets.ravel()), jnp.asarray(lengths.ravel())


def _share(m):
    m = np.asarray(m)
    return m[..., 1, :] / np.maximum(m.sum(axis=-2), 1e-300)


def map_rows(quick):
    task = datasets.hierarchy(3)
    onsets, lengths = _grid(quick)
    repeats = 2 if quick else 5
    w = pathways.aligned(task, DEPTH, (U0, U0), width=WIDTH)

    def batched(on, ln):
        return pathways.simulate(task, w, lr=LR, steps=STEPS, every=STEPS,
                                 deficit=pathways.Freeze(1, on, ln)).modes[:, -1]

    exact = jax.jit(jax.vmap(lambda a, b: pathways.solve(
        task, depth=DEPTH, u0=(U0, U0), t=LR * STEPS, deficit=pathways.Freeze(1, a, b)).modes[0]))

    t_exact = best_time(exact, onsets, lengths, repeats=repeats)
    t_batch = best_time(batched, onsets, lengths, repeats=repeats)
    ex = np.asarray(exact(onsets, lengths))
    gap = float(np.max(np.abs(_share(batched(onsets, lengths)) - _share(ex))))
    B = onsets.shape[0]
    # numpy Euler of the two-pathway mode ODE over all windows and modes at once
    s, lam = np.asarray(task.s), np.asarray(task.input_variance)
    K0 = np.full((B, 2, task.n_modes), U0)  # the strengths `u0` of both pathways
    window = (np.asarray(onsets), np.asarray(lengths))

    def run(h):
        return _euler(K0, s, lam, [LR * STEPS], DEPTH, h, window)[-1]

    def error(K):
        return float(np.max(np.abs(_share(K) - _share(ex))))

    h, err, t_euler = _tune(run, error, start=0.05)
    grid = f"{B} windows ({int(math.isqrt(B))} onsets × {int(math.isqrt(B))} lengths)"
    return [
        dict(case=f"exact critical-period map, {grid}, depth {DEPTH}", dln_s=t_exact,
             baseline=f"one batched pathways.simulate ({STEPS} steps, lr {LR})",
             baseline_s=t_batch, ratio=t_batch / t_exact, goal="≥ 100×",
             note=f"largest |share difference| {gap:.1e} (gradient descent: O(lr))"),
        dict(case=f"exact critical-period map, {grid}, depth {DEPTH}", dln_s=t_exact,
             baseline=f"numpy forward Euler of the mode ODE, step {h:.3g}",
             baseline_s=t_euler, ratio=t_euler / t_exact, goal="≥ 20×",
             note=f"Euler's share error {err:.1e} (target 1e-3)"),
    ]


def rows(quick: bool = False) -> list[dict]:
    sizes = [(10, 100)] if quick else [(10, 100), (100, 100), (1000, 100)]
    out, h = [], None
    for n, T in sizes:
        h, row = solve_vs_euler(n, T, quick, h)
        out.append(row)
    return out + map_rows(quick)


def main(argv=None) -> None:
    cli(__doc__, rows, "small sizes, a 4 × 4 map", argv)


if __name__ == "__main__":
    main()
