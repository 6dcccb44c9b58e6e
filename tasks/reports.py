"""Run-level quality outputs: the QC table (Parquet through the sink) and the GX QC suite's verdict.
Plain functions; the Prefect tasks and the flow call them.

The run keeps its QC rows in a spool on disk (`quality.table.QCSpool`), never all in memory: the table
is converted from it in chunks and the suite reads back only the columns it checks. The HTML report's
index over the per-clip pages is `quality.report.build_report_index`, fed from the same spool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog_motion.paths import safe_segment


class QCSuiteFailed(Exception):
    """The run's QC table failed the great-expectations suite (raised by the validation task)."""


def local_qc_table_path(work_dir: str | Path, run_id: str) -> Path:
    """Where the run's QC table is written before it is stored (kept until the suite has read it)."""
    return Path(work_dir) / "qc" / f"{safe_segment(run_id)}.parquet"


def qc_spool_path(work_dir: str | Path, run_id: str) -> Path:
    """Where the flow spools the run's QC rows (JSON lines) while batches finish."""
    return Path(work_dir) / "qc" / f"{safe_segment(run_id)}.jsonl"


def store_qc_table(sink: Any, run_id: str, rows: "list[dict[str, Any]] | str | Path", work_dir: str | Path,
                   *, keep_local: bool = False) -> str:
    """Write the QC table as Parquet locally, then store it as `runs/<run_id>/qc.parquet`; its URI.
    rows: a list of rows, or the path of a `QCSpool` (converted in chunks). keep_local: leave the local
    file for `validate_qc` (the caller removes it)."""
    from quality.table import QCSpool, write_qc_table

    local = local_qc_table_path(work_dir, run_id)
    if isinstance(rows, list):
        write_qc_table(rows, local)
    else:
        QCSpool.existing(rows).write_parquet(local)
    key = f"runs/{run_id}/qc.parquet"
    sink.put(local, key, "application/vnd.apache.parquet", {"run": run_id}, kind="qc-table")
    if not keep_local:
        local.unlink(missing_ok=True)
    return sink.uri_for(key)


def validate_qc(rows: "list[dict[str, Any]] | str | Path", docs_dir: str | Path, *,
                min_pass_rate: float) -> dict[str, Any]:
    """The GX QC suite over the rows, or over a QC-table Parquet file of which only the columns the suite
    checks are read (an empty table - nothing checked this run - is not validated)."""
    import pandas as pd

    from quality.expectations import validate_qc_table
    from quality.table import CORE_SCORES

    if isinstance(rows, list):
        frame = pd.DataFrame(rows)
    else:
        import pyarrow.parquet as pq

        present = set(pq.read_schema(rows).names)
        frame = pq.read_table(rows, columns=[c for c in (*CORE_SCORES, "passed") if c in present]).to_pandas()
    if not len(frame):
        return {"success": True, "validated": False, "reason": "no clips checked in this run",
                "failed_expectations": [], "statistics": {}, "docs": None}
    result = validate_qc_table(frame, docs_dir, min_pass_rate=min_pass_rate)
    return {"success": result.success, "validated": True, "failed_expectations": list(result.failed_expectations),
            "statistics": dict(result.statistics),
            "docs": str(result.docs_index_path) if result.docs_index_path else None}


def qc_validation_markdown(run_id: str, result: dict[str, Any]) -> str:
    verdict = "passed" if result["success"] else "**FAILED**"
    lines = [f"# QC suite (great-expectations), run `{run_id}`: {verdict}", ""]
    if not result.get("validated"):
        lines.append(f"Not validated: {result.get('reason', '')}.")
    stats = result.get("statistics") or {}
    if stats:
        lines.append(f"{stats.get('successful_expectations', 0)}/{stats.get('evaluated_expectations', 0)} "
                     f"expectations met over {stats.get('rows', 0)} clip attempts, pass rate "
                     f"{stats.get('pass_rate', 0.0):.1%}.")
    if result.get("failed_expectations"):
        lines += ["", "Failed expectations:", ""] + [f"- `{name}`" for name in result["failed_expectations"]]
    if result.get("docs"):
        lines += ["", f"- Data Docs: [{result['docs']}]({Path(result['docs']).resolve().as_uri()})"]
    return "\n".join(lines)
