"""`python -m benchmarks.heldout2 [--workers N] [--validate] [--sheet]`: build and score set v2 once and
write benchmarks/results/qc_heldout2.json (+ .md); --validate measures each defect against its good scene
by pixel comparison (no gate); --sheet draws docs/img/heldout2-defects.webp. Neither touches the gate."""

from __future__ import annotations

import argparse


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heldout2", description=__doc__)
    parser.add_argument("--workers", type=int, default=None, help="parallel clip builders (default 2)")
    parser.add_argument("--validate", action="store_true", help="only check the defects by pixel comparison")
    parser.add_argument("--sheet", action="store_true", help="only draw the contact sheet of visible defects")
    args = parser.parse_args()
    if args.validate:
        from benchmarks.heldout2.validate import VALIDATION, problems, validate

        found = validate()
        wrong = problems(found)
        if wrong:
            raise SystemExit(f"heldout2: the clip does not show its recipe's defect: {', '.join(wrong)}")
        print(f"{len(found)} defects measured, each where its recipe says; {VALIDATION}")
        return
    if args.sheet:
        from benchmarks.heldout2.sheet import write_sheet

        print(write_sheet())
        return
    from benchmarks.heldout2.score import RESULTS, main, markdown_table

    summary = main(args.workers)
    print(markdown_table(summary))
    print(f"\nwall {summary['wall_s']} s; results in {RESULTS}")


if __name__ == "__main__":
    cli()
