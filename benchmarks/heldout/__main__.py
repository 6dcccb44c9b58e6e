"""`python -m benchmarks.heldout [--workers N]`: build and score the held-out set once, write
benchmarks/results/qc_heldout.json and print the markdown table."""

from __future__ import annotations

import argparse

from benchmarks.heldout.score import RESULTS, main, markdown_table


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heldout", description=__doc__)
    parser.add_argument("--workers", type=int, default=None, help="parallel clip builders (default 2)")
    args = parser.parse_args()
    summary = main(args.workers)
    print(markdown_table(summary))
    print(f"\nwall {summary['wall_s']} s; results in {RESULTS}")


if __name__ == "__main__":
    cli()
