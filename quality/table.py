"""The run's QC table: one row per checked clip (per-clip scores as columns, per-frame curves as lists).

Written as Parquet by the flow (``write_qc_table``) and validated by ``quality.expectations``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from catalog_motion.types import QCReport

CORE_SCORES = ("drift", "drift_last", "drift_mean", "drift_structure", "drift_colour", "drift_texture",
               "drift_deformation", "colour_de", "flicker", "warp_error", "flashes_per_s", "black_frames",
               "frozen_s", "loop_seam")
"""Scores every check_clip report carries; columns the GX suite requires."""


def qc_rows(reports: list[tuple[dict[str, Any], QCReport]]) -> list[dict[str, Any]]:
    """Rows for the QC table from (identity, report) pairs. `identity` holds the item's columns, e.g.
    {"sku": ..., "preset": ..., "attempt": ..., "engine": ..., "clip": ...}."""
    rows = []
    for identity, report in reports:
        row: dict[str, Any] = dict(identity)
        row["passed"] = bool(report.passed)
        row["failed_checks"] = ",".join(report.failed_checks)
        row["reasons"] = "; ".join(report.reasons)
        row["qc_seconds"] = float(report.seconds)
        for name in CORE_SCORES:
            row[name] = report.scores.get(name)
        for name, value in report.scores.items():
            row.setdefault(name, value)
        for name, curve in report.per_frame.items():
            row[f"curve_{name}"] = [float(v) for v in curve]
        rows.append(row)
    return rows


def write_qc_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as Parquet (atomically: a temp file renamed into place); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    for name in CORE_SCORES:
        if name not in frame.columns:
            frame[name] = pd.Series([None] * len(frame), dtype="float64")
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def read_qc_table(path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(path)
