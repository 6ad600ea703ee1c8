"""Ensembles at the machine's throughput: batched `dln.simulate` against the machine's own rate.

Run `PYTHONPATH=. python bench/bench_ensemble.py [--quick]`. Every ratio is measured in the same
process, after compilation (`bench_core.best_time`: a warm-up call, then the best of several).

1. An ensemble of 256 networks (width 16, depth 4, Ni = No = 16) as one batched
   `dln.simulate` call against a Python loop of 256 single (already compiled) calls.
2. The roofline fraction at widths 16 … 512 (depth 4, Ni = No = width): the ensemble's useful
   rate, the FLOPs of its gradient steps (`(3D − 2)` products of `2 d³` per network and step,
   `dln.network.loss_gradients`) over the time of the whole `dln.simulate` call, divided by the
   rate of one large float64 product (`1024²` on a CPU, the fastest of `1024²` … `4096²` on an
   accelerator; best of several) measured in the same process before and after the rows (the
   faster of the two counts). Batches are fixed per width (16 times larger on an
   accelerator) and the steps sized so that each run is short (0.1 s of large-product work;
   0.03 s with `--quick`). At width 16 the row also compares the formulations alone, as bare
   jitted loops without `simulate`'s checks and records: the gradient of `dln.network` now,
   and as it was before its transposes were materialised (the goal: 3× that rate).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_core import best_time, cli  # noqa: E402  (bench/ is the script's directory)

import dln  # noqa: E402

DEPTH = 4
BATCH = {16: 256, 32: 128, 64: 64, 128: 16, 256: 4, 512: 2}  # roofline batches per width


def _flops(width, batch, steps, depth=DEPTH):
    """FLOPs of `steps` gradient steps of `batch` square networks (`3D − 2` products)."""
    return batch * steps * (3 * depth - 2) * 2.0 * width**3


def large_product_rate(sizes=None, repeats: int = 5) -> tuple[float, int]:
    """FLOP/s of one `n × n` float64 matrix product, the best over `sizes` (the machine's
    large-product rate; default 1024 on a CPU, up to 4096 on an accelerator), and that `n`."""
    if sizes is None:
        sizes = (1024,) if jax.default_backend() == "cpu" else (1024, 2048, 4096)
    best = (0.0, 0)
    for n in sizes:
        a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)))
        mm = jax.jit(lambda a: a @ a)
        best = max(best, (2.0 * n**3 / best_time(mm, a, repeats=repeats), n))
    return best


def _ensemble(width, batch, seed=0):
    rng = np.random.default_rng(seed)
    task = dln.Task.from_data(rng.normal(size=(4 * width, width)),
                              rng.normal(size=(4 * width, width)))
    keys = jax.random.split(jax.random.key(seed), batch)
    dims = [width] * (DEPTH + 1)
    inits = [dln.init.gaussian(k, dims, 0.3 / np.sqrt(width)) for k in keys]
    batched = [jnp.stack(ws) for ws in zip(*inits)]
    return task, inits, batched, 0.2 * dln.lr_bound(task, DEPTH)


def _previous_gradients(ws, sxx, syx):
    """The gradient as computed before this change (for the width-16 reference rate)."""
    pre = [ws[0]]
    for W in ws[1:]:
        pre.append(W @ pre[-1])
    back = pre[-1] @ sxx - syx
    grads = [None] * len(ws)
    for l in range(len(ws) - 1, 0, -1):
        grads[l] = back @ pre[l - 1].T
        back = ws[l].T @ back
    grads[0] = back
    return grads


def _loop(gradients, steps, lr):
    """A bare jitted loop of `steps` batched gradient steps (no checks, no records)."""
    grads = jax.vmap(gradients, in_axes=(0, None, None))
    return jax.jit(lambda ws, sxx, syx: jax.lax.fori_loop(
        0, steps, lambda _, ws: [w - lr * g for w, g in zip(ws, grads(ws, sxx, syx))], ws))


def _previous_loop(steps, lr):
    return _loop(_previous_gradients, steps, lr)


def ensemble_vs_loop(quick: bool) -> dict:
    width, batch, steps = 16, 256, 200
    task, inits, batched, lr = _ensemble(width, batch)

    def run_batched():
        return dln.simulate(task, batched, lr=lr, steps=steps, every=steps).final_weights

    def run_loop():
        return [dln.simulate(task, ws, lr=lr, steps=steps, every=steps).final_weights
                for ws in inits]

    t_batch = best_time(run_batched, repeats=3 if quick else 5)
    t_loop = best_time(run_loop, repeats=1 if quick else 2)
    one = dln.simulate(task, inits[-1], lr=lr, steps=steps, every=steps).final_weights
    err = max(float(jnp.max(jnp.abs(a[-1] - b)) / jnp.max(jnp.abs(b)))
              for a, b in zip(run_batched(), one))
    rate = _flops(width, batch, steps) / t_batch
    return dict(case=f"ensemble of {batch} nets (width {width}, depth {DEPTH}), one batched "
                     "simulate", dln_s=t_batch, baseline=f"loop of {batch} compiled simulate calls",
                baseline_s=t_loop, ratio=t_loop / t_batch, goal="(the roofline rows)",
                note=f"{rate / 1e9:.1f} GFLOP/s; batch member vs single call: rel. diff {err:.0e}")


def roofline(width: int, quick: bool, big: float, n_big: int) -> dict:
    """The ensemble's useful FLOP/s at `width` over the large-product rate `big`."""
    # an accelerator needs larger batches to fill it; the steps make each run about 0.03 s
    # (quick) or 0.1 s of the large-product rate's work
    batch = BATCH[width] * (1 if jax.default_backend() == "cpu" else 16)
    work = big * (0.03 if quick else 0.1)
    steps = int(max(2, round(work / _flops(width, batch, 1))))
    task, _, batched, lr = _ensemble(width, batch, seed=width)
    flops = _flops(width, batch, steps)

    def run():
        return dln.simulate(task, batched, lr=lr, steps=steps, every=steps,
                            check_lr=False).final_weights

    repeats = 2 if quick else 3
    t = best_time(run, repeats=repeats)
    rate = flops / t
    note = f"batch {batch} × {steps} steps: {rate / 1e9:.1f} GFLOP/s"
    goal = "≥ 0.5" if width >= 64 else ""
    if width == 16:  # the formulations alone, bare jitted loops of the same steps
        args = (batched, task.sigma_xx, task.sigma_yx)
        prev = _previous_loop(steps, lr)
        now = _loop(dln.network.loss_gradients, steps, lr)
        t_prev = best_time(prev, *args, repeats=repeats)
        t_now = best_time(now, *args, repeats=repeats)
        err = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
                  for a, b in zip(run(), prev(*args)))
        note += (f"; bare loops: {flops / t_now / 1e9:.1f} GFLOP/s now, "
                 f"{flops / t_prev / 1e9:.1f} with the previous formulation "
                 f"({t_prev / t_now:.2f}×; rel. diff {err:.0e})")
        goal = "≥ 3× the previous rate"
    return dict(case=f"roofline: ensemble width {width}, depth {DEPTH}", dln_s=t,
                baseline=f"one {n_big}² float64 product at {big / 1e9:.0f} GFLOP/s, same FLOPs",
                baseline_s=flops / big, ratio=rate / big, goal=goal, note=note)


def rows(quick: bool = False) -> list[dict]:
    out = [ensemble_vs_loop(quick)]
    big, n_big = large_product_rate()
    for width in (16, 32, 64, 128, 256, 512):
        out.append(roofline(width, quick, big, n_big))
    big_after, n_after = large_product_rate()
    if big_after > big:  # the machine's best: fractions against the faster of the two
        for row in out[1:]:
            row["ratio"] *= big / big_after
            row["baseline_s"] *= big / big_after
            row["baseline"] = (f"one {n_after}² float64 product at {big_after / 1e9:.0f} "
                               "GFLOP/s, same FLOPs")
    return out


def main(argv=None) -> None:
    cli(__doc__, rows, "short runs", argv)


if __name__ == "__main__":
    main()
