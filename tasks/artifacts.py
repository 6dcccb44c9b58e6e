"""Run artifacts for the Prefect UI (the control room): summary, progress, links, failures."""

from __future__ import annotations

import re
from pathlib import Path

from catalog_motion.types import ManifestRow
from tasks.items import rejection_rate, status_counts

STATUSES = ("published", "rejected", "invalid", "failed", "skipped")


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")[:100]


def summary_table(rows: list[ManifestRow]) -> list[dict[str, object]]:
    counts = status_counts(rows)
    table = []
    for preset in sorted(p for p in counts if p != "total") + (["total"] if counts else []):
        line: dict[str, object] = {"preset": preset}
        line.update({status: counts[preset].get(status, 0) for status in STATUSES})
        line["rows"] = sum(counts[preset].values())
        table.append(line)
    return table


def failures_table(rows: list[ManifestRow], limit: int) -> list[dict[str, str]]:
    bad = [r for r in rows if r.status in ("rejected", "invalid", "failed")]
    return [{"sku": r.sku, "preset": r.preset, "status": r.status, "reason": r.reason[:300]} for r in bad[:limit]]


def _link(uri: str) -> str:
    if "://" in uri:
        return uri
    return Path(uri).resolve().as_uri()


def links_markdown(run_id: str, rows: list[ManifestRow], limit: int, *, manifest: str | None,
                   qc_report: str | None, review: str | None, qc_table: str | None = None,
                   catalog_docs: str | None = None) -> str:
    counts = status_counts(rows).get("total", {})
    lines = [f"# catalog-motion run `{run_id}`", ""]
    lines.append(" · ".join(f"**{s}** {counts.get(s, 0)}" for s in STATUSES))
    lines.append(f"rejection rate {rejection_rate(rows):.1%}")
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
    published = [r for r in rows if r.status == "published" and r.video]
    if published:
        lines += ["", "## Published", "", "| sku | preset | video | poster |", "|---|---|---|---|"]
        for row in published[:limit]:
            poster = f"[poster]({_link(row.poster)})" if row.poster else ""
            lines.append(f"| {row.sku} | {row.preset} | [video]({_link(row.video)}) | {poster} |")
        if len(published) > limit:
            lines.append(f"\n… and {len(published) - limit} more (see the manifest).")
    return "\n".join(lines)


def create_run_artifacts(run_id: str, rows: list[ManifestRow], *, limit: int, manifest: str | None = None,
                         qc_report: str | None = None, review: str | None = None, qc_table: str | None = None,
                         catalog_docs: str | None = None) -> None:
    """Summary table, failures table and a markdown page of links, attached to the current run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

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
