"""Shared tools of the benchmarks: timing, and the references the solve rows are checked with.

- `best_time(fn, *args)`: the fastest of several calls after a warm-up call (compilation), each
  ended with `block_until_ready`.
- `_reference(t, s, lam, u0, depth)`: the mode ODE `du/dt = D u^{2−2/D}(s − λu)` by scipy's
  DOP853 at `rtol = 1e-13`, restarted at every record (the accuracy reference of
  `bench_solve.py`), and `_rel_err(u, ref)`.
- `_odeint_fn(depth, s, lam, u0, rtol)`: the generic baseline, `jax.experimental.ode.odeint`
  (adaptive Dormand–Prince) on the same ODE, jitted.

`python bench/bench_core.py [--quick] [--out FILE]` runs the whole report (`bench/report.py`).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental.ode import odeint  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402


def best_time(fn, *args, repeats: int = 7) -> float:
    """Seconds of the fastest of `repeats` calls of `fn` after a warm-up call (compilation)."""
    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _reference(t, s, lam, u0, depth: int, rtol: float = 1e-13) -> np.ndarray:
    """scipy DOP853, all modes in one system, shape (T, K). It is restarted at every output time
    rather than read from its dense output, whose interpolation error is not controlled."""
    t, s, lam, u0 = (np.asarray(a, float) for a in (t, s, lam, u0))
    p = 2.0 - 2.0 / depth

    def rhs(_, u):
        return depth * np.abs(u) ** p * (s - lam * u)

    out = [u0]
    for a, b in zip(t[:-1], t[1:]):
        sol = solve_ivp(rhs, (a, b), out[-1], method="DOP853", rtol=rtol,
                        atol=rtol * float(np.min(u0)))
        assert sol.success, sol.message
        out.append(sol.y[:, -1])
    return np.array(out)


def _rel_err(u, ref) -> float:
    return float(np.max(np.abs(np.asarray(u) - ref) / np.abs(ref)))


def _odeint_fn(depth: int, s, lam, u0, rtol: float):
    p = 2.0 - 2.0 / depth
    atol = rtol * float(jnp.min(u0))

    def rhs(u, _t):
        return depth * jnp.abs(u) ** p * (s - lam * u)

    return jax.jit(lambda t: odeint(rhs, u0, t, rtol=rtol, atol=atol))


def table(rows) -> str:
    """Report rows (dicts: case, dln_s, baseline, baseline_s, ratio, goal, note) as markdown."""
    lines = ["| case | dln | baseline | baseline time | ratio | goal | note |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r.get("ratio")
        lines.append(f"| {r['case']} | {_seconds(r.get('dln_s'))} | {r.get('baseline', '')} "
                     f"| {_seconds(r.get('baseline_s'))} | "
                     f"{'' if ratio is None else f'{ratio:.3g}×'} | {r.get('goal', '')} | "
                     f"{r.get('note', '')} |")
    return "\n".join(lines)


def _seconds(s) -> str:
    if s is None:
        return ""
    if s >= 1.0:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def cli(doc: str, rows, quick_help: str, argv=None) -> None:
    """The command line of one bench module: `--quick`, then its rows as a markdown table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__}, device: {jax.devices()[0].device_kind} "
          f"({jax.default_backend()})\n")
    print(table(rows(args.quick)))


def main(argv=None) -> None:
    """`python bench/bench_core.py` runs the whole report (`bench/report.py`)."""
    import report  # (bench/ is the script's directory)
    report.main(argv)


if __name__ == "__main__":
    main()
