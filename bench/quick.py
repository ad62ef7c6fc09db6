"""`--quick`, which every bench takes: the same run end to end in seconds, on small data.

A bench nobody runs rots: a renamed name, a CLI that changed its rules, and the script dies at
its first step the next time someone needs a figure. CI runs each bench with --quick
(tests/bench/test_quick.py) and checks that it completes and prints its figures. Those figures
mean nothing at that size; the recorded ones (docs/benchmarks.md) come from full runs.
"""
from __future__ import annotations

import argparse


def parse_args(ap: argparse.ArgumentParser, **quick) -> argparse.Namespace:
    """ap's arguments plus --quick, which swaps the defaults for `quick`'s small sizes (an option
    given on the command line still wins)."""
    sizes = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in quick.items())
    ap.add_argument("--quick", action="store_true",
                    help=f"seconds on small data, to check the bench runs (CI); figures mean "
                         f"nothing ({sizes})")
    known, _ = ap.parse_known_args()
    if known.quick:
        ap.set_defaults(**quick)
    return ap.parse_args()
