"""The run's QC table: one row per checked clip (per-clip scores as columns, per-frame curves as lists).

Written as Parquet by the flow (``write_qc_table``) and validated by ``quality.expectations``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from catalog_motion.types import QCReport

CORE_SCORES = (
    "drift",
    "drift_last",
    "drift_mean",
    "drift_structure",
    "drift_colour",
    "drift_texture",
    "drift_deformation",
    "colour_de",
    "flicker",
    "warp_error",
    "flashes_per_s",
    "black_frames",
    "frozen_s",
    "loop_seam",
)
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


SPOOL_CHUNK_ROWS = 2000
"""QC rows converted to Parquet at a time (one row group each) when a spool becomes the table."""


class QCSpool:
    """A run's QC-table rows appended batch by batch to a JSON-lines file, so the flow never holds the
    whole table; `write_parquet` turns it into the same Parquet table `write_qc_table` writes, in chunks.

    Single writer (the flow process). The spool starts empty: it holds the rows checked by this process.
    """

    def __init__(self, path: str | Path, *, fresh: bool = True):
        self.path = Path(path)
        self.count = 0  # rows appended through this object
        self.passed = 0
        if fresh:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    @classmethod
    def existing(cls, path: str | Path) -> QCSpool:
        """A spool another object wrote (e.g. the flow's), for reading or converting."""
        return cls(path, fresh=False)

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            # default=str: identity values are plain, but a stray Path must not lose the row
            handle.write("".join(json.dumps(row, default=str) + "\n" for row in rows))
        self.count += len(rows)
        self.passed += sum(bool(row.get("passed")) for row in rows)

    def rows(self) -> Iterator[dict[str, Any]]:
        """The spooled rows in order, one at a time."""
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def chunks(self, size: int = SPOOL_CHUNK_ROWS) -> Iterator[list[dict[str, Any]]]:
        iterator = self.rows()
        while chunk := list(itertools.islice(iterator, size)):
            yield chunk

    def write_parquet(self, path: str | Path, *, chunk_rows: int = SPOOL_CHUNK_ROWS) -> Path:
        """The table as Parquet (atomically), a chunk at a time. Columns and types are those pandas would
        give the whole table (`write_qc_table`): every key in order of first appearance, types promoted
        across chunks (ints with floats become floats), missing core scores as float columns."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        # pass 1: column names and each chunk's inferred types, unified
        names: dict[str, None] = {}
        schemas = []
        for chunk in self.chunks(chunk_rows):
            for row in chunk:
                names.update(dict.fromkeys(row))
            schemas.append(pa.schema([(name, _infer_type(chunk, name)) for name in names]))
        for name in CORE_SCORES:
            names.setdefault(name, None)
        fields = {f.name: f.type for f in pa.unify_schemas(schemas, promote_options="permissive")} if schemas else {}
        schema = pa.schema([(name, _final_type(name, fields.get(name, pa.null()))) for name in names])
        # pass 2: write each chunk under the unified schema
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in self.chunks(chunk_rows):
                writer.write_table(
                    pa.table(
                        {f.name: pa.array([row.get(f.name) for row in chunk], type=f.type) for f in schema},
                        schema=schema,
                    )
                )
        tmp.replace(path)
        return path

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)


def _infer_type(chunk: list[dict[str, Any]], name: str) -> Any:
    import pyarrow as pa

    return pa.array([row.get(name) for row in chunk]).type


def _final_type(name: str, arrow_type: Any) -> Any:
    """A core score that is null throughout is a float column (what write_qc_table's fill gives)."""
    import pyarrow as pa

    return pa.float64() if pa.types.is_null(arrow_type) and name in CORE_SCORES else arrow_type
