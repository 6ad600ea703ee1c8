"""The command line every example shares: `python examples/<name>.py [--out DIR] [--quick]`.

Turns on float64 (scripts choose it; the library never changes global JAX settings), selects
matplotlib's file-only backend unless `MPLBACKEND` is set, runs the example's
`main(out_dir, quick)` and prints the paths it wrote. Imported only when a script runs as a
program (the examples' directory is then on `sys.path`), never by the library or the tests.
"""

from __future__ import annotations

import argparse
import os


def run(main, doc: str) -> None:
    import jax
    import matplotlib

    jax.config.update("jax_enable_x64", True)
    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")  # the scripts only write files
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the PNGs (default: out)")
    parser.add_argument("--quick", action="store_true", help="a fast, coarser run")
    args = parser.parse_args()
    for written in main(args.out, quick=args.quick):
        print("wrote", written)
