"""Speed and accuracy of dln's core routines against generic numerical integration.

Run `python bench/bench_core.py` (add `--quick` for a short run). Every ratio is measured in the
same run on the same device, after compilation (one warm-up call, then the best of several
timed calls, each ended with `block_until_ready`).

`bench_solve` — the exact mode solution `dln.modes.trajectory` for 200 modes × 1000 times at
depths 1, 2, 3 and 6, against `jax.experimental.ode.odeint` (adaptive Dormand–Prince) on the
same ODE `du/dt = D u^{2−2/D}(s − λu)` with `s` spread over [0.1, 3], `λ = 1`, `u0 = 1e-3`. The
times span the whole learning of the slowest mode (1.5 × the exact time at which it reaches 99 %
of its target). Accuracy is the largest relative error on `u` against scipy's DOP853 at
`rtol = 1e-13` (itself good to about 1e-13 to 1e-12 here, so for D ≥ 3 the exact solution is
also compared with the module's independent Newton inverse, `dln.modes._deep_newton`).
`odeint` runs at `rtol = 1e-10`; as that does not give 1e-10 *actual* accuracy, the full run also
tightens its `rtol` until it does and reports that time too.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import simulate_cases  # noqa: E402  (bench/ is the script's directory)
from jax.experimental.ode import odeint  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from dln import modes  # noqa: E402


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


def bench_solve(depths=(1, 2, 3, 6), n_modes: int = 200, n_times: int = 1000, repeats: int = 15,
                calibrate: bool = True) -> list[dict]:
    """Time `modes.trajectory` and `odeint` on the same problem at each depth (module doc)."""
    rows = []
    s = jnp.linspace(3.0, 0.1, n_modes)
    lam = jnp.ones(n_modes)
    u0 = jnp.full(n_modes, 1e-3)
    for D in depths:
        t_end = 1.5 * float(jnp.max(modes.time_to_fraction(0.99, s, lam, u0, D)))
        t = jnp.linspace(0.0, t_end, n_times)
        ref = _reference(t, s, lam, u0, D)

        exact = jax.jit(lambda t, D=D: modes.trajectory(t[:, None], s, lam, u0, D))
        numeric = _odeint_fn(D, s, lam, u0, 1e-10)
        t_exact = best_time(exact, t, repeats=repeats)
        t_numeric = best_time(numeric, t, repeats=repeats)
        row = dict(depth=D, t_end=t_end, exact_ms=1e3 * t_exact, odeint_ms=1e3 * t_numeric,
                   ratio=t_numeric / t_exact, exact_err=_rel_err(exact(t), ref),
                   odeint_err=_rel_err(numeric(t), ref))
        if D >= 3:
            tau, w0 = modes.rate(s, lam, D) * t[:, None], u0 * lam / s
            row["vs_newton"] = _rel_err(modes._deep(tau, w0, D), modes._deep_newton(tau, w0, D))
        if calibrate:  # the loosest rtol at which odeint is actually within 1e-10 of the reference
            for rtol in (1e-10, 1e-11, 1e-12, 1e-13):
                fn = _odeint_fn(D, s, lam, u0, rtol)
                err = _rel_err(fn(t), ref)
                if err <= 1e-10:
                    t_cal = best_time(fn, t, repeats=repeats)
                    row.update(cal_rtol=rtol, cal_err=err, cal_ms=1e3 * t_cal,
                               cal_ratio=t_cal / t_exact)
                    break
        rows.append(row)
    return rows


def print_solve(rows) -> None:
    print("solve: dln.modes.trajectory (jit) vs jax.experimental.ode.odeint (jit), "
          "200 modes x 1000 times, after compilation")
    print("errors: max relative error on u vs scipy DOP853 at rtol 1e-13")
    head = (f"{'depth':>5} {'t_end':>6} {'exact ms':>9} {'err':>8} {'vs newton':>9} | "
            f"{'odeint(rtol=1e-10)':>18} {'err':>8} {'speed-up':>8} | "
            f"{'odeint, err<=1e-10':>18} {'speed-up':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        newton = f"{r['vs_newton']:>9.1e}" if "vs_newton" in r else f"{'':>9}"
        line = (f"{r['depth']:>5} {r['t_end']:>6.3g} {r['exact_ms']:>9.3f} {r['exact_err']:>8.1e} "
                f"{newton} | {r['odeint_ms']:>15.2f} ms {r['odeint_err']:>8.1e} "
                f"{r['ratio']:>7.1f}x |")
        if "cal_ms" in r:
            line += (f" {r['cal_ms']:>8.2f} ms @{r['cal_rtol']:.0e} {r['cal_ratio']:>7.1f}x")
        print(line)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="depths 1 and 3, fewer repeats, no rtol calibration")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__}, devices: {jax.devices()}")
    if args.quick:
        rows = bench_solve(depths=(1, 3), repeats=3, calibrate=False)
    else:
        rows = bench_solve()
    print()
    print_solve(rows)
    print()
    print_simulate([simulate_cases.bench_simulate_vs_numpy(args.quick),
                    simulate_cases.bench_ensemble_vs_loop(args.quick)])


def print_simulate(rows) -> None:
    print("simulate: dln.simulate against plain baselines measured in the same run")
    head = f"{'case':<44} {'baseline':<38} {'ours':>10} {'baseline':>10} {'ratio':>7} {'target':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['name']:<44} {r['baseline']:<38} {r['ours_s'] * 1e3:>7.3f} ms "
              f"{r['base_s'] * 1e3:>7.3f} ms {r['ratio']:>6.1f}x {r['target']:>6.0f}x  "
              f"{r['check']}")


if __name__ == "__main__":
    main()
