"""Run artifacts for the Prefect UI (the control room): summary, progress, links, failures."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from catalog_motion.types import ManifestRow
from tasks.tally import RunTally, tally_rows

STATUSES = ("published", "rejected", "invalid", "failed", "skipped")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")[:100]


def _as_tally(rows: RunTally | Iterable[ManifestRow], limit: int = 0) -> RunTally:
    # The flow passes its running tally (no rows in memory); a list of rows is tallied here.
    return rows if isinstance(rows, RunTally) else tally_rows(rows, limit)


def summary_table(rows: RunTally | Iterable[ManifestRow]) -> list[dict[str, object]]:
    counts = _as_tally(rows).counts()
    table = []
    for preset in sorted(p for p in counts if p != "total") + (["total"] if counts else []):
        line: dict[str, object] = {"preset": preset}
        line.update({status: counts[preset].get(status, 0) for status in STATUSES})
        line["rows"] = sum(counts[preset].values())
        table.append(line)
    return table


def failures_table(rows: RunTally | Iterable[ManifestRow], limit: int) -> list[dict[str, str]]:
    return [dict(f) for f in _as_tally(rows, limit).failures[:limit]]


def _link(uri: str) -> str:
    if "://" in uri:
        return uri
    return Path(uri).resolve().as_uri()


def links_markdown(run_id: str, rows: RunTally | Iterable[ManifestRow], limit: int, *, manifest: str | None,
                   qc_report: str | None, review: str | None, qc_table: str | None = None,
                   catalog_docs: str | None = None) -> str:
    tally = _as_tally(rows, limit)
    counts = tally.counts().get("total", {})
    lines = [f"# catalog-motion run `{run_id}`", ""]
    lines.append(" · ".join(f"**{s}** {counts.get(s, 0)}" for s in STATUSES))
    lines.append(f"rejection rate {tally.rejection_rate():.1%}")
    lines.append("")
    if manifest:
        lines.append(f"- Manifest: [{manifest}]({_link(manifest)})")
    if qc_report:
        lines.append(f"- QC report: [{qc_report}]({_link(qc_report)})")
    if qc_table:
        lines.append(f"- QC table (one row per checked attempt): [{qc_table}]({_link(qc_table)})")
    if catalog_docs:
        lines.append(f"- Catalog validation (Data Docs): [{catalog_docs}]({_link(catalog_docs)})")
    if review:
        lines.append(f"- Review queue: [{review}]({_link(review)})")
    if tally.published_links:
        lines += ["", "## Published", "", "| sku | preset | video | poster |", "|---|---|---|---|"]
        for row in tally.published[:limit]:
            poster = f"[poster]({_link(row.poster)})" if row.poster else ""
            lines.append(f"| {row.sku} | {row.preset} | [video]({_link(row.video)}) | {poster} |")
        if tally.published_links > limit:
            lines.append(f"\n… and {tally.published_links - limit} more (see the manifest).")
    return "\n".join(lines)


def create_run_artifacts(run_id: str, rows: RunTally | Iterable[ManifestRow], *, limit: int,
                         manifest: str | None = None, qc_report: str | None = None, review: str | None = None,
                         qc_table: str | None = None, catalog_docs: str | None = None) -> None:
    """Summary table, failures table and a markdown page of links, attached to the current run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    rows = _as_tally(rows, limit)

    create_table_artifact(
        key="catalog-run-summary", table=summary_table(rows),
        description=f"Outcomes per preset and status, run {run_id}",
    )
    failures = failures_table(rows, limit)
    create_table_artifact(
        key="catalog-run-failures", table=failures or [{"sku": "", "preset": "", "status": "", "reason": "none"}],
        description=f"Rejected, invalid and failed items with reasons (first {limit}), run {run_id}",
    )
    create_markdown_artifact(
        key="catalog-run-links",
        markdown=links_markdown(run_id, rows, limit, manifest=manifest, qc_report=qc_report, review=review,
                                qc_table=qc_table, catalog_docs=catalog_docs),
        description=f"Links to the manifest, QC report and published assets, run {run_id}",
    )
