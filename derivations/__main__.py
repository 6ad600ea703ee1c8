"""`python -m derivations [--check] [NAME ...]`: regenerate the pages, or check they are current."""

from __future__ import annotations

import argparse
import sys

from derivations import MODULES, stale, write_pages


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m derivations", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"derivations to run (default: all of {', '.join(MODULES)})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any page on disk is out of date")
    args = parser.parse_args(argv)
    names = tuple(args.names) or MODULES
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown derivation(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    if args.check:
        out_of_date = stale(names)
        for path in out_of_date:
            print(f"out of date: {path}  (regenerate with `python -m derivations`)",
                  file=sys.stderr)
        return 1 if out_of_date else 0
    for path in write_pages(names):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
