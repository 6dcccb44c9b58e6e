"""What a run shows in the Prefect UI (the control room): progress, summary, failures, links, events."""

from __future__ import annotations

import time
from typing import Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events import emit_event
from prefect.runtime import flow_run as runtime_flow_run

from pipeline.summary import failures_table, links_markdown, qc_validation_markdown, summary_table
from pipeline.tally import RunTally


class ProgressArtifact:
    """The run's progress bar: work items finished, updated at most every `every_s` seconds."""

    def __init__(self, total: int, every_s: float, run_id: str):
        self.total = max(total, 1)
        self.done = 0
        self.every_s = every_s
        self.last = 0.0
        self.artifact_id = create_progress_artifact(
            progress=0.0, key="catalog-run-progress", description=f"Work items finished, run {run_id}"
        )

    def advance(self, n: int, force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if force or now - self.last >= self.every_s:
            self.last = now
            update_progress_artifact(self.artifact_id, progress=round(100.0 * self.done / self.total, 2))


def create_run_artifacts(
    run_id: str,
    tally: RunTally,
    *,
    limit: int,
    manifest: str | None = None,
    qc_report: str | None = None,
    review: str | None = None,
    qc_table: str | None = None,
    catalog_docs: str | None = None,
) -> None:
    """Summary table, failures table and a markdown page of links, attached to the current run."""
    create_table_artifact(
        key="catalog-run-summary",
        table=summary_table(tally),
        description=f"Outcomes per preset and status, run {run_id}",
    )
    failures = failures_table(tally, limit)
    create_table_artifact(
        key="catalog-run-failures",
        table=failures or [{"sku": "", "preset": "", "status": "", "reason": "none"}],
        description=f"Rejected, invalid and failed items with reasons (first {limit}), run {run_id}",
    )
    create_markdown_artifact(
        key="catalog-run-links",
        markdown=links_markdown(
            run_id,
            tally,
            limit,
            manifest=manifest,
            qc_report=qc_report,
            review=review,
            qc_table=qc_table,
            catalog_docs=catalog_docs,
        ),
        description=f"Links to the manifest, QC report and published assets, run {run_id}",
    )


def create_qc_validation_artifact(run_id: str, result: dict[str, Any]) -> None:
    create_markdown_artifact(
        key="catalog-run-qc-validation",
        markdown=qc_validation_markdown(run_id, result),
        description=f"Great Expectations QC suite, run {run_id}",
    )


def emit_run_events(
    run_id: str, catalog: str, counts: dict[str, dict[str, int]], rate: float, threshold: float
) -> None:
    """catalog.run.completed always; catalog.run.rejection-rate-high above the threshold (automations)."""
    resource = {"prefect.resource.id": f"catalog-motion.run.{run_id}", "prefect.resource.name": run_id}
    related = []
    flow_run_id = runtime_flow_run.id
    if flow_run_id:
        related.append({"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"})
    payload = {
        "catalog": catalog,
        "rejection_rate": round(rate, 4),
        "threshold": threshold,
        "counts": counts.get("total", {}),
    }
    emit_event(event="catalog.run.completed", resource=resource, related=related, payload=payload)
    if rate > threshold:
        emit_event(event="catalog.run.rejection-rate-high", resource=resource, related=related, payload=payload)
