"""The catalog benchmark script runs end to end (small size; the real targets are in benchmarks/)."""

from __future__ import annotations

import json
from pathlib import Path


def test_bench_catalog_small(tmp_path: Path) -> None:
    from benchmarks.bench_catalog import main

    result = main(["--rows", "400", "--out", str(tmp_path / "catalog.json")])
    saved = json.loads((tmp_path / "catalog.json").read_text())
    assert saved == result
    assert result["valid_rows"] == 400 and result["photos"] == 100 and result["work_items"] == 300
    assert result["incremental_items"] == 0 and result["incremental_skipped_rows"] == 1200
