"""Speed of a whole critical-period map: one batched call against a loop of single calls.

Run `python bench/bench_pathways.py` (add `--quick` for a short run). Every ratio is measured in
the same run on the same device, after compilation (one warm-up call, then the best of several
timed calls, each ended with `block_until_ready`).

The map (Kleinman, Achille & Soatto 2024; `dln.pathways`): two pathways of depth 4 (width 8) on
the 8-item hierarchy (`dln.datasets.hierarchy(3)`), pathway 1 frozen on `[onset, onset +
length)`, for a grid of onsets × lengths, 1500 gradient steps at `lr = 0.2` (flow time 300).

- `simulate`: the whole grid in one `dln.pathways.simulate` call (the windows are a batch of
  traced arrays: one compiled, `vmap`ped scan) against a Python loop of single-window calls
  (each compiled once, since the window is traced).
- `solve`: the exact map, `jax.vmap` of `dln.pathways.solve` over the windows in one jitted call
  (depth 4 with two plastic pathways outside the window: the reduced integration), against the
  batched simulation — the price of theory against simulation for the same map; the largest
  difference of the final shares is printed as a check.
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_core import best_time  # noqa: E402  (bench/ is the script's directory)

from dln import datasets, pathways  # noqa: E402

DEPTH, WIDTH, LR, STEPS, U0 = 4, 8, 0.2, 1500, 1e-2


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4 × 4 grid, fewer repeats")
    args = parser.parse_args(argv)
    n = 4 if args.quick else 16
    repeats = 2 if args.quick else 5
    task = datasets.hierarchy(3)
    onsets, lengths = np.meshgrid(np.linspace(0.0, 150.0, n), np.linspace(5.0, 80.0, n))
    onsets, lengths = jnp.asarray(onsets.ravel()), jnp.asarray(lengths.ravel())
    B = onsets.shape[0]
    w = pathways.aligned(task, DEPTH, (U0, U0), width=WIDTH)

    def batched(on, ln):
        return pathways.simulate(task, w, lr=LR, steps=STEPS, every=STEPS,
                                 deficit=pathways.Freeze(1, on, ln)).modes[:, -1]

    def loop(on, ln):
        return jnp.stack([pathways.simulate(task, w, lr=LR, steps=STEPS, every=STEPS,
                                            deficit=pathways.Freeze(1, a, b)).modes[-1]
                          for a, b in zip(on, ln)])

    exact = jax.jit(jax.vmap(lambda a, b: pathways.solve(
        task, depth=DEPTH, u0=(U0, U0), t=LR * STEPS, deficit=pathways.Freeze(1, a, b)).modes[0]))

    t_batch = best_time(batched, onsets, lengths, repeats=repeats)
    t_loop = best_time(loop, onsets, lengths, repeats=max(1, repeats // 2))
    t_exact = best_time(exact, onsets, lengths, repeats=repeats)
    sim, ex = np.asarray(batched(onsets, lengths)), np.asarray(exact(onsets, lengths))
    share = lambda m: m[:, 1] / np.maximum(m.sum(axis=1), 1e-300)  # noqa: E731
    gap = float(np.max(np.abs(share(sim) - share(ex))))
    print(f"jax {jax.__version__}, devices: {jax.devices()}")
    print(f"critical-period map: {B} windows, depth {DEPTH}, width {WIDTH}, 2 pathways, "
          f"{STEPS} steps at lr {LR}, after compilation")
    print(f"{'case':<46} {'ours':>10} {'baseline':>10} {'ratio':>8}")
    print(f"{'simulate: one batched call vs loop of calls':<46} {1e3 * t_batch:>8.1f}ms "
          f"{1e3 * t_loop:>8.1f}ms {t_loop / t_batch:>7.1f}x")
    print(f"{'exact map (vmap solve) vs batched simulate':<46} {1e3 * t_exact:>8.1f}ms "
          f"{1e3 * t_batch:>8.1f}ms {t_batch / t_exact:>7.1f}x")
    print(f"largest |share(simulation) - share(exact)| of pathway 1 over modes and windows: "
          f"{gap:.2e} (gradient descent at lr {LR}: O(lr))")


if __name__ == "__main__":
    main()
