"""The two-layer solution from general weights against the machine's rate for its arithmetic.

Run `python bench/bench_riccati.py` (add `--quick` for a short run). Every ratio is measured in
the same run on the same device, after compilation (one warm-up call, then the best of several
timed calls, each ended with `block_until_ready`; dln and its baseline alternate, and each keeps
its best); `ratio` = baseline time / dln time.

- `riccati d, T`: one call `dln.solve(task, weights=[W1, W2], t=t)` from the user's side
  (validation, the constants of the solution, the evaluation of modes and loss at every time;
  the `(T, No, Ni)` maps are not formed) for `Ni = Nh = No = d`, random λ-balanced weights
  (`dln.init.balanced`, scale 0.1, λ = 0), a whitened task with singular values spread over
  [0.1, 3] in random bases, and `T` times over [0, 20]. The baseline is the floor: one jitted
  kernel doing exactly the arithmetic that the formula needs per time on arrays of the same
  sizes (`n = Ni + No`, `m = Nh`): the `n·m` exponentials of `Ŵ`, the product
  `M = Ŵᵀ diag(q) Ŵ` `(m, n)(n, m)`, the Cholesky factor `C` of `M`, the solve with `n`
  right-hand sides counted as one product `(m, m)(m, n)` (twice a triangular solve's flops, at
  the rate of products: XLA's batched triangular solve runs far slower on a CPU, and hundreds
  of times slower at m = 64 or 128), and the product `(No, m)(m, Ni)` that gives the map in
  the task's bases, batched over the times in the same chunks as dln (the fastest way measured
  on a CPU, where one batch of all times spills the caches). Goal: within 3× of the floor
  (ratio ≥ 0.33).
- `riccati scaling`: the same at d = 25, 50, 100, 200 (T = 100), with the exponents of the time
  per call against d fitted over the largest sizes for dln and the floor (cubic expected).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_core import best_time, cli  # noqa: E402  (bench/ is the script's directory)

import dln  # noqa: E402
from dln.theory import riccati  # noqa: E402

T_END = 20.0


def problem(d: int, seed: int = 0):
    """A whitened `d × d` task (singular values over [0.1, 3], random bases) and λ-balanced
    weights `[W1 (d, d), W2 (d, d)]` at scale 0.1."""
    k_u, k_v, k_w = jax.random.split(jax.random.key(seed), 3)
    U = jnp.linalg.qr(jax.random.normal(k_u, (d, d)))[0]
    V = jnp.linalg.qr(jax.random.normal(k_v, (d, d)))[0]
    task = dln.Task(jnp.eye(d), U @ jnp.diag(jnp.linspace(3.0, 0.1, d)) @ V.T)
    return task, dln.init.balanced(k_w, [d, d, d], 0.1, 0.0)


def _floor(n_in: int, n_out: int, n_hidden: int, chunk: int):
    """The floor kernel: `f(E (T, n, m), q (T, n, 1))` does per time the arithmetic of the
    formula (see the module docstring) on arrays of its sizes, in chunks of `chunk` times."""
    n, m = n_in + n_out, n_hidden

    def one(E, q):
        E = jnp.exp(E)
        M = jnp.swapaxes(E, -1, -2) @ (q * E) + jnp.eye(m)
        C = jnp.linalg.cholesky(M)
        Y = C @ jnp.swapaxes(E, -1, -2)  # the solve's work as one product (see above)
        X = jnp.swapaxes(Y[..., n_in:], -1, -2) @ Y[..., :n_in]
        return jnp.diagonal(X, axis1=-2, axis2=-1), jnp.sum(X**2, (-2, -1))

    @jax.jit
    def floor(E, q):
        if E.shape[0] <= chunk:
            return jax.vmap(one)(E, q)
        return jax.lax.map(lambda a: one(*a), (E, q), batch_size=chunk)

    return floor, n, m


def _chunk(task, n_hidden: int) -> int:
    """The chunk of times dln evaluates together for this problem (`riccati._over_times`)."""
    n = task.n_in + task.n_out
    size = max(n * min(n, n_hidden), task.n_in * task.n_out)
    budget = riccati._CHUNK_ENTRIES.get(jax.default_backend(), riccati._CHUNK_ENTRIES_ACCELERATOR)
    return max(1, budget // size)


def compare(d: int, n_times: int, rounds: int = 3, repeats: int = 3) -> dict:
    """Seconds per call of `dln.solve(task, weights=…, t=…)` and of the floor, best over
    alternating rounds, plus the part of dln's call that is setup (validation and constants)."""
    task, weights = problem(d)
    t = np.linspace(0.0, T_END, n_times)
    floor, n, m = _floor(d, d, d, _chunk(task, d))
    keys = jax.random.split(jax.random.key(1), 2)
    E = -jax.random.uniform(keys[0], (n_times, n, m))
    q = jax.random.uniform(keys[1], (n_times, n, 1))
    solve = lambda: dln.solve(task, weights=weights, t=t).loss  # noqa: E731
    setup = lambda: riccati.two_layer_solution(task, weights).mu  # noqa: E731
    fns = {"dln": (solve,), "floor": (floor, E, q), "setup": (setup,)}
    best = dict.fromkeys(fns, np.inf)
    for _ in range(rounds):
        for name, (fn, *args) in fns.items():
            best[name] = min(best[name], best_time(fn, *args, repeats=repeats))
    return best


def rows(quick: bool = False) -> list[dict]:
    out = []
    goal = "≥ 0.33 (within 3× of the floor)"
    for n_times in (100, 1000):
        r = compare(100, n_times, rounds=2 if quick else 3)
        out.append(dict(
            case=f"riccati Ni=Nh=No=100, T={n_times}", dln_s=r["dln"],
            baseline="floor: batched exp, M product, Cholesky, solve, map product (jit)",
            baseline_s=r["floor"], ratio=r["floor"] / r["dln"], goal=goal,
            note=f"{r['dln'] / n_times * 1e3:.3g} ms per time, of which setup "
                 f"{r['setup'] * 1e3:.3g} ms per call (validation and constants)"))
    sizes = (25, 50, 100) if quick else (25, 50, 100, 200)
    per = [compare(d, 100, rounds=1 if quick else 2) for d in sizes]
    dln_s = [p["dln"] for p in per]
    floor_s = [p["floor"] for p in per]
    fit = lambda s: float(np.polyfit(np.log(sizes[-3:]), np.log(s[-3:]), 1)[0])  # noqa: E731
    out.append(dict(
        case=f"riccati scaling d = {', '.join(map(str, sizes))} (T=100)", dln_s=dln_s[-1],
        baseline=f"floor at d = {sizes[-1]}", baseline_s=floor_s[-1],
        ratio=floor_s[-1] / dln_s[-1], goal=goal,
        note="dln s: " + ", ".join(f"{s:.3g}" for s in dln_s) + "; floor s: "
             + ", ".join(f"{s:.3g}" for s in floor_s) + f"; exponent dln {fit(dln_s):.2f}, "
             f"floor {fit(floor_s):.2f} (cubic expected)"))
    return out


def main(argv=None) -> None:
    cli(__doc__, rows, "fewer repeats and sizes", argv)


if __name__ == "__main__":
    main()
