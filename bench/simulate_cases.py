"""One network's gradient descent against a plain baseline measured in the same run.

`dln.simulate` (gradient steps on the sufficient statistics, one jitted scan) against a plain
numpy loop of full-batch gradient descent on the raw data: depth 3, width 100, P = 1000,
Ni = No = 100, float64, reported per step. (Ensembles: `bench_ensemble.py`.)
"""

from __future__ import annotations

import time

import jax
import numpy as np

import dln


def _best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_descent(X, Y, weights, lr, steps):
    """The plain baseline: forward and backward passes over all P samples every step."""
    ws = [np.array(W) for W in weights]
    P = X.shape[0]
    for _ in range(steps):
        acts = [X.T]
        for W in ws:
            acts.append(W @ acts[-1])
        delta = (acts[-1] - Y.T) / P
        grads = []
        for l in range(len(ws) - 1, -1, -1):
            grads.append(delta @ acts[l].T)
            delta = ws[l].T @ delta
        ws = [W - lr * g for W, g in zip(ws, grads[::-1])]
    return ws


def bench_simulate_vs_numpy(quick=False):
    P, N, width, depth = 1000, 100, 100, 3
    steps = 100 if quick else 400
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(P, N)), rng.normal(size=(P, N))
    task = dln.Task.from_data(X, Y)
    w0 = dln.init.gaussian(jax.random.key(0), [N] + [width] * (depth - 1) + [N], 0.05)
    lr = 1e-3

    def run_dln():
        dln.simulate(task, w0, lr=lr, steps=steps, every=steps).final_weights[0] \
            .block_until_ready()

    run_dln()  # compile
    t_dln = _best_of(run_dln, 3)
    t_np = _best_of(lambda: numpy_descent(X, Y, w0, lr, steps), 2)
    # same numbers: the statistics give the raw-data gradient
    got = dln.simulate(task, w0, lr=lr, steps=10, every=10).final_weights
    want = numpy_descent(X, Y, w0, lr, 10)
    err = max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(got, want))
    return dict(name=f"simulate D={depth} width={width} P={P} N={N} float64",
                baseline="numpy loop on raw data", ours_s=t_dln / steps, base_s=t_np / steps,
                ratio=t_np / t_dln, target=5.0, check=f"max |Δ weights| after 10 steps {err:.1e}")


def rows(quick: bool = False) -> list[dict]:
    """The simulate row of the report (`bench/report.py`)."""
    r = bench_simulate_vs_numpy(quick)
    return [dict(case=r["name"], dln_s=r["ours_s"], baseline=r["baseline"] + " (per step)",
                 baseline_s=r["base_s"], ratio=r["ratio"], goal="≥ 5×", note=r["check"])]
