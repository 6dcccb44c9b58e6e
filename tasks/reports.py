"""Run-level quality outputs: the QC table (Parquet through the sink), the GX QC suite's verdict and
the HTML QC report's index page. Plain functions; the Prefect tasks and the flow call them.

The per-clip report pages (filmstrip + drift/flicker curves, `quality.report.build_report`) are
rendered by the check stage while each master clip exists (tasks/stages.py `_record_qc`); the index
written here links them all.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from catalog_motion.paths import safe_segment


class QCSuiteFailed(Exception):
    """The run's QC table failed the great-expectations suite (raised by the validation task)."""


def store_qc_table(sink: Any, run_id: str, rows: list[dict[str, Any]], work_dir: str | Path) -> str:
    """Write `rows` as Parquet locally, then store it as `runs/<run_id>/qc.parquet`; returns its URI."""
    from quality.table import write_qc_table

    local = write_qc_table(rows, Path(work_dir) / "qc" / f"{safe_segment(run_id)}.parquet")
    key = f"runs/{run_id}/qc.parquet"
    sink.put(local, key, "application/vnd.apache.parquet", {"run": run_id}, kind="qc-table")
    local.unlink(missing_ok=True)
    return sink.uri_for(key)


def validate_qc(rows: list[dict[str, Any]], docs_dir: str | Path, *, min_pass_rate: float) -> dict[str, Any]:
    """The GX QC suite over the rows (an empty table - nothing checked this run - is not validated)."""
    if not rows:
        return {"success": True, "validated": False, "reason": "no clips checked in this run",
                "failed_expectations": [], "statistics": {}, "docs": None}
    import pandas as pd

    from quality.expectations import validate_qc_table

    result = validate_qc_table(pd.DataFrame(rows), docs_dir, min_pass_rate=min_pass_rate)
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


def write_report_index(report_root: str | Path, rows: list[dict[str, Any]], *, title: str) -> Path:
    """`report_root/index.html`: one line per checked attempt with its verdict, filmstrip and curves
    (images of the per-clip pages under `clips/`) and a link to that page."""
    root = Path(report_root).resolve()  # clip pages are stored under resolved paths (paths.within)
    root.mkdir(parents=True, exist_ok=True)
    passed = sum(bool(r.get("passed")) for r in rows)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        ".fail{color:#b00}.pass{color:#070}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{len(rows)} clip attempts, {passed} passed, {len(rows) - passed} failed.</p>",
        "<table><tr><th>item</th><th>filmstrip (source first)</th><th>drift / flicker per frame</th></tr>",
    ]
    for row in rows:
        page = Path(str(row.get("report", "")))
        cells = []
        for suffix in ("-strip.png", "-curves.png"):
            images = sorted((page.parent / "assets").glob(f"*{suffix}")) if page.name == "index.html" else []
            cells.append("".join(f"<img src='{html.escape(img.relative_to(root).as_posix(), quote=True)}'>"
                                 for img in images if root in img.parents) or "-")
        link = (f"<a href='{html.escape(page.relative_to(root).as_posix(), quote=True)}'>clip page</a>"
                if page.name == "index.html" and root in page.parents and page.exists()
                else html.escape(str(row.get("report", ""))))
        verdict = "<b class='pass'>PASS</b>" if row.get("passed") else "<b class='fail'>FAIL</b>"
        parts.append(
            f"<tr><td>{html.escape(str(row.get('sku')))}<br>{html.escape(str(row.get('preset')))}<br>"
            f"attempt {html.escape(str(row.get('attempt')))}<br>{verdict}<br>"
            f"<span class='fail'>{html.escape(str(row.get('reasons') or ''))}</span><br>{link}</td>"
            f"<td>{cells[0]}</td><td>{cells[1]}</td></tr>")
    parts.append("</table></body></html>")
    page = root / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
