#!/usr/bin/env python
"""Draw the deterministic sample catalog (photos + catalog.csv) into OUT_DIR. Used by `make sample`/`make demo`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

from catalog_connectors.samples import draw_sample_catalog  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="draw_sample_catalog.py", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to draw into (images/ and catalog.csv)")
    parser.add_argument("--size", default="1600x2000", help="photo size WxH (default 1600x2000)")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 1600x2000, got {args.size!r}")
    started = time.perf_counter()
    csv_path = draw_sample_catalog(args.out_dir, size=(width, height))
    print(f"sample catalog: {csv_path} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
