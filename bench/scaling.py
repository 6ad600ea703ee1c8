"""How the cost of dln's exact and simulated answers grows with the size of the problem.

Run `python bench/scaling.py` (add `--quick` for fewer, smaller points). Each curve times one
public call at several sizes (after compilation, the best of several calls, each ended with
`block_until_ready`) and fits the exponent `b` of `cost ≈ a · size^b` by least squares on
`log cost` against `log size` over the largest sizes (the smallest ones measure fixed overheads,
not growth). The expected exponent is printed beside the fit:

- `dln.solve` (mode closed forms) against the number of times `T` and of modes `K`: linear
  (one closed-form evaluation per entry of the `(T, K)` result) at depth 2 (logistic) and 3
  (implicit solution inverted by a fixed number of Newton steps).
- the two-layer solution from general weights (`dln.solve(task, weights=[W1, W2])`) against the
  width `d = Ni = Nh = No` at fixed `T`: cubic (a few `d × d` products and one solve per time).
- an ensemble of networks (`dln.simulate` on a batch of initial weights) against the batch
  (linear) and the width (cubic while the products dominate: `B · D · width³` per step).
- the exact critical-period map (`dln.critical_periods.critical_period_map`) against the number
  of deficit windows (linear).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import dln  # noqa: E402


def timed(fn, repeats: int = 5) -> float:
    """Seconds of the fastest of `repeats` calls of `fn()` after a warm-up call."""
    jax.block_until_ready(fn())
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def fitted_exponent(sizes, seconds, last: int = 3) -> float:
    """Slope of `log seconds` against `log sizes` over the `last` largest sizes."""
    x, y = np.log(np.asarray(sizes, float))[-last:], np.log(np.asarray(seconds, float))[-last:]
    return float(np.polyfit(x, y, 1)[0])


def _spectral_task(n_modes: int) -> dln.Task:
    s = np.linspace(3.0, 0.1, n_modes)
    return dln.Task(np.eye(n_modes), np.diag(s))


def solve_vs_times(depth: int, sizes, n_modes: int = 200):
    task = _spectral_task(n_modes)
    t_end = 1.5 * float(np.max(dln.modes.time_to_fraction(0.99, task.s, task.input_variance,
                                                           1e-3, depth)))
    return [timed(lambda T=T: dln.solve(task, depth=depth, u0=1e-3,
                                        t=np.linspace(0.0, t_end, T)).modes) for T in sizes]


def solve_vs_modes(depth: int, sizes, n_times: int = 1000):
    out = []
    for K in sizes:
        task = _spectral_task(K)
        t = np.linspace(0.0, 40.0, n_times)
        out.append(timed(lambda task=task, t=t: dln.solve(task, depth=depth, u0=1e-3, t=t).modes))
    return out


def riccati_vs_width(sizes, n_times: int = 100):
    out = []
    for d in sizes:
        rng = np.random.default_rng(d)
        task = dln.Task.from_data(np.eye(d), rng.normal(size=(d, d)))
        weights = dln.init.balanced(jax.random.key(d), [d, d, d], 1e-2)
        t = np.linspace(0.0, 20.0, n_times)
        out.append(timed(lambda task=task, w=weights, t=t: dln.solve(task, weights=w, t=t).modes,
                         repeats=3))
    return out


def _ensemble(B: int, width: int, depth: int = 4, steps: int = 50):
    N = width
    rng = np.random.default_rng(width)
    task = dln.Task.from_data(rng.normal(size=(4 * N, N)), rng.normal(size=(4 * N, N)))
    keys = jax.random.split(jax.random.key(width), B)
    inits = [dln.init.gaussian(k, [N] + [width] * (depth - 1) + [N], 0.1) for k in keys]
    batched = [jnp.stack(ws) for ws in zip(*inits)]
    lr = 0.2 * dln.lr_bound(task, depth)
    return lambda: dln.simulate(task, batched, lr=lr, steps=steps, every=steps).final_weights


def ensemble_vs_batch(sizes, width: int = 32):
    return [timed(_ensemble(B, width), repeats=3) for B in sizes]


def ensemble_vs_width(sizes, batch: int = 16):
    return [timed(_ensemble(batch, w), repeats=3) for w in sizes]


def map_vs_windows(sizes, depth: int = 4):
    task = dln.datasets.hierarchy(3)
    out = []
    for n in sizes:
        side = int(round(np.sqrt(n)))
        onsets, lengths = np.linspace(0.0, 150.0, side), np.linspace(5.0, 80.0, side)
        out.append(timed(lambda o=onsets, ln=lengths: dln.critical_periods.critical_period_map(
            task, depth=depth, u0=(1e-2, 1e-2), onsets=o, lengths=ln, t=300.0), repeats=3))
    return out


def curves(quick: bool):
    """(name, size label, sizes, seconds, expected exponent) for every curve."""
    q = quick
    Ts = [250, 500, 1000, 2000] if q else [250, 500, 1000, 2000, 4000, 8000]
    Ks = [50, 100, 200, 400] if q else [50, 100, 200, 400, 800, 1600]
    ds = [25, 50, 100] if q else [25, 50, 100, 200, 400]
    Bs = [16, 32, 64] if q else [16, 32, 64, 128, 256]
    ws = [16, 32, 64] if q else [16, 32, 64, 128, 256]
    ns = [16, 64, 144] if q else [16, 64, 144, 256, 576]
    out = []
    for depth in (2, 3):
        out.append((f"dln.solve depth {depth}, 200 modes", "times T", Ts,
                    solve_vs_times(depth, Ts), 1.0))
        out.append((f"dln.solve depth {depth}, 1000 times", "modes K", Ks,
                    solve_vs_modes(depth, Ks), 1.0))
    out.append(("two-layer solution from general weights, T = 100", "width d", ds,
                riccati_vs_width(ds), 3.0))
    out.append(("ensemble simulate, width 32, depth 4, 50 steps", "batch B", Bs,
                ensemble_vs_batch(Bs), 1.0))
    out.append(("ensemble simulate, 16 networks, depth 4, 50 steps", "width", ws,
                ensemble_vs_width(ws), 3.0))
    out.append(("exact critical-period map, depth 4", "windows", ns, map_vs_windows(ns), 1.0))
    return out


def print_curves(rows) -> None:
    print("| curve | size | sizes | seconds | fitted exponent | expected |")
    print("|---|---|---|---|---|---|")
    for name, label, sizes, secs, expected in rows:
        secs_s = ", ".join(f"{s:.3g}" for s in secs)
        print(f"| {name} | {label} | {', '.join(map(str, sizes))} | {secs_s} | "
              f"{fitted_exponent(sizes, secs):.2f} | {expected:g} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller points")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__}, devices: {jax.devices()}")
    print_curves(curves(args.quick))


if __name__ == "__main__":
    main()
