"""Every row of the performance table, measured in one run, then the scaling curves.

Run `python bench/report.py` (add `--quick` for a short run, `--out FILE` to also write the
markdown there). Each bench module below contributes `rows(quick)`: one case timed against its
plain baseline in the same process, on the same device, after compilation. A row's `ratio` is
baseline time / dln time (above 1: dln is faster), set against the issue's goal.

- `bench_solve`: `dln.solve` per call at small sizes against a numpy formula; the closed forms
  at 200 modes × 1000 times against the cost of one `exp` per entry and against `odeint`.
- `bench_riccati`: the two-layer solution from general weights against the machine's rate for
  its own arithmetic.
- `bench_pathways`: competing pathways and the exact critical-period map against simulation and
  forward Euler of equal accuracy.
- `bench_ensemble`: ensembles of networks against a loop of compiled calls and against the
  machine's large-product rate (a roofline fraction).
- `simulate_cases`: one network's gradient descent on its statistics against a numpy loop on the
  raw data.
- `scaling`: cost against modes, times, width, batch and windows, with fitted exponents.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import scaling  # noqa: E402  (bench/ is the script's directory)
from bench_core import table  # noqa: E402

MODULES = ("bench_solve", "bench_riccati", "bench_pathways", "bench_ensemble", "simulate_cases")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--out", help="also write the markdown report to this file")
    parser.add_argument("--only", nargs="*", default=None,
                        help=f"a subset of {MODULES + ('scaling',)}")
    args = parser.parse_args(argv)
    wanted = MODULES + ("scaling",) if args.only is None else tuple(args.only)
    device = jax.devices()[0]
    head = (f"jax {jax.__version__}, {jax.device_count()} × {device.device_kind} "
            f"({device.platform}), host {platform.machine()} with {_cpus()} CPUs, float64")
    parts = [head, ""]
    print(head, flush=True)
    rows = []
    for name in MODULES:
        if name not in wanted:
            continue
        start = time.perf_counter()
        module = importlib.import_module(name)
        with contextlib.redirect_stdout(io.StringIO()):
            got = module.rows(args.quick)
        rows += got
        print(f"{name}: {len(got)} rows in {time.perf_counter() - start:.0f} s", file=sys.stderr,
              flush=True)
    if rows:
        parts += ["## Cases against their baselines", "", table(rows), ""]
    if "scaling" in wanted:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            scaling.print_curves(scaling.curves(args.quick))
        parts += ["## Scaling", "", buffer.getvalue()]
    text = "\n".join(parts)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
