"""`dln.solve`'s mode solution against plain baselines measured in the same run (issue 16).

Run `PYTHONPATH=. python bench/bench_solve.py [--quick]`. Rows:

- small calls: `dln.solve(task, depth=D, u0=1e-3, t=...)` on 10 modes × 100 times (a
  `Task(np.eye(10), np.diag(s))`), each call's `modes` and `loss` ready, against a plain numpy
  logistic formula for the same modes, without and with the per-time loss (the same baseline
  at every depth: the cost of the simplest closed form in numpy).
- floor: the same call at 200 modes × 1000 times against the machine's cost of one `exp` per
  entry and writing the result (a jitted `jnp.exp` of a `(T, K)` array from `(T, 1) × (1, K)`
  inputs). Goal at depths 1 and 2: within 2×, i.e. ratio >= 0.5; at depth >= 3 (a table
  lookup per entry) for information.
- odeint: the same call against `jax.experimental.ode.odeint` at rtol 1e-10 (bench_core's
  baseline, jitted) on the same ODE, depths 1, 2, 3 and 6, with the largest relative error of
  both against scipy's DOP853 at rtol 1e-13 (bench_core's reference) in the note.

Times are the best of several repeats after a warm-up call, the large calls and their baselines
measured in interleaved rounds; the ratio is baseline / dln.
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_core import _odeint_fn, _reference, _rel_err, cli  # noqa: E402

import dln  # noqa: E402
from dln import modes  # noqa: E402


def _per_call(fn, calls: int, repeats: int) -> float:
    """Seconds per call of `fn()` (a loop of `calls`, best of `repeats`, after a warm-up); each
    call's result is made ready (`jax.block_until_ready`), the same for dln and baselines."""
    jax.block_until_ready(fn())
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            jax.block_until_ready(fn())
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def _row(case, dln_s, baseline, baseline_s, goal, note=""):
    return dict(case=case, dln_s=dln_s, baseline=baseline, baseline_s=baseline_s,
                ratio=baseline_s / dln_s, goal=goal, note=note)


def small_rows(quick: bool) -> list[dict]:
    K, T, u0 = 10, 100, 1e-3
    s = np.linspace(3.0, 0.3, K)
    task = dln.Task(np.eye(K), np.diag(s))
    t = np.linspace(0.0, 20.0, T)
    calls, repeats = (100, 5) if quick else (300, 9)

    def numpy_modes():
        x = (-2.0 * s) * t[:, None]
        return u0 / (np.exp(x) - (u0 / s) * np.expm1(x))

    def numpy_modes_loss():
        u = numpy_modes()
        return u, 0.5 * np.sum((u - s) ** 2, axis=1)

    rows = []
    for D in (1, 2, 3):
        def call(D=D):
            traj = dln.solve(task, depth=D, u0=u0, t=t)
            return traj.modes, traj.loss

        # measured back to back, in one loop of rounds (the machine's load drifts)
        ours, base_m, base_ml = np.inf, np.inf, np.inf
        for _ in range(3):
            ours = min(ours, _per_call(call, calls, repeats))
            base_m = min(base_m, _per_call(lambda: (numpy_modes(),), calls, repeats))
            base_ml = min(base_ml, _per_call(numpy_modes_loss, calls, repeats))
        case = f"solve per call, {K} modes x {T} times, depth {D}"
        rows.append(_row(case, ours, "numpy logistic, modes", base_m, ">= 1"))
        rows.append(_row(case, ours, "numpy logistic, modes + loss", base_ml, ">= 1"))
    return rows


def _interleaved(fns: dict, rounds: int) -> dict:
    """Best seconds per call of each `fn(*args)` in `fns` (name: (fn, args, calls per round)),
    measured in interleaved rounds after a warm-up call: the machine's load drifts, and the
    ratios of calls measured side by side drift least."""
    for fn, args, _ in fns.values():
        jax.block_until_ready(fn(*args))
    best = dict.fromkeys(fns, np.inf)
    for _ in range(rounds):
        for name, (fn, args, calls) in fns.items():
            for _ in range(calls):
                start = time.perf_counter()
                jax.block_until_ready(fn(*args))
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def large_rows(quick: bool) -> list[dict]:
    K, T = 200, 1000
    s = np.linspace(3.0, 0.1, K)
    lam, u0 = np.ones(K), np.full(K, 1e-3)
    task = dln.Task.from_spectrum(s)
    rounds = 8 if quick else 20
    floor = jax.jit(lambda t, r: jnp.exp(t[:, None] * r[None, :]))
    rows = []
    for D in ((1, 2, 3) if quick else (1, 2, 3, 6)):
        t_end = 1.5 * float(np.max(modes.time_to_fraction(0.99, s, lam, u0, D)))
        t = np.linspace(0.0, t_end, T)

        def call(t, D=D):
            traj = dln.solve(task, depth=D, u0=u0, t=t)
            return traj.modes, traj.loss

        def modes_only(t, D=D):
            return dln.solve(task, depth=D, u0=u0, t=t).modes

        numeric = _odeint_fn(D, jnp.asarray(s), jnp.asarray(lam), jnp.asarray(u0), 1e-10)
        best = _interleaved({"dln": (call, (t,), 5), "floor": (floor, (t, -s), 5),
                             "odeint": (numeric, (jnp.asarray(t),), 1)}, rounds)
        case = f"solve, {K} modes x {T} times, depth {D}"
        rows.append(_row(case, best["dln"], "jitted exp per entry (floor)", best["floor"],
                         ">= 0.5" if D <= 2 else "", "modes and loss"))
        note = ""
        if not quick:
            ref = _reference(t, s, lam, u0, D)
            note = (f"err dln {_rel_err(modes_only(t), ref):.1e}, "
                    f"odeint {_rel_err(numeric(jnp.asarray(t)), ref):.1e} (vs DOP853 1e-13)")
        rows.append(_row(case, best["dln"], "odeint rtol 1e-10 (jit)", best["odeint"],
                         ">= 100" if D >= 3 else "", note))
    return rows


def rows(quick: bool) -> list[dict]:
    return small_rows(quick) + large_rows(quick)


def main(argv=None) -> None:
    cli(__doc__, rows, "fewer repeats, no depth 6", argv)


if __name__ == "__main__":
    main()
