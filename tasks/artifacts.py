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

from catalog_motion.links import LinkResolver, run_page_url
from catalog_motion.settings import SinkSettings
from pipeline.summary import failures_table, links_markdown, qc_validation_markdown, summary_table
from pipeline.tally import RunTally

REGENERATE_DEPLOYMENT = "catalog-run/regenerate"
PRESIGN_S = 7 * 24 * 3600  # SigV4's longest: a week of nights to look back at


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
    sink: SinkSettings | None = None,
) -> None:
    """Summary table, failures table (each with a link that regenerates it alone) and a markdown page of
    links, attached to the current run. Links are http(s) only (catalog_motion/links.py); a location with
    no browser link is listed as plain text."""
    link = run_links(sink)
    create_table_artifact(
        key="catalog-run-summary",
        table=summary_table(tally),
        description=f"Outcomes per preset and status, run {run_id}",
    )
    failures = with_retry_links(failures_table(tally, limit))
    create_table_artifact(
        key="catalog-run-failures",
        table=failures or [{"sku": "", "preset": "", "status": "", "reason": "none"}],
        description=f"Rejected, invalid and failed items with reasons (first {limit}), run {run_id}; "
        "`retry` opens the regenerate deployment's run page for that item",
    )
    markdown = links_markdown(
        run_id,
        tally,
        limit,
        manifest=manifest,
        qc_report=qc_report,
        review=review,
        qc_table=qc_table,
        catalog_docs=catalog_docs,
        link=link,
    )
    create_markdown_artifact(
        key="catalog-run-links",
        markdown=markdown,
        description=f"Links to the manifest, QC report and published assets, run {run_id}",
    )


def run_links(sink: SinkSettings | None = None) -> LinkResolver:
    """Local outputs through the static server `serve` announced; s3:// objects presigned for a week."""

    clients: list[Any] = []  # one client for all the run's links, made on the first s3:// one

    def presign(uri: str) -> str | None:
        from urllib.parse import urlparse

        from catalog_motion.s3 import make_client

        parsed = urlparse(uri)
        if not clients:
            clients.append(
                make_client(
                    endpoint_url=sink.endpoint_url if sink else None,
                    region=sink.region if sink else None,
                    connect_timeout_s=5,
                    read_timeout_s=10,
                )
            )
        client = clients[0]
        try:
            return client.generate_presigned_url(
                "get_object", Params={"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")}, ExpiresIn=PRESIGN_S
            )
        except Exception:  # noqa: BLE001 - no credentials: the location is listed as text instead
            return None

    return LinkResolver.from_env(presign=presign)


def with_retry_links(failures: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each failure row with `retry`: the `regenerate` deployment's run page, its SKU and preset filled in
    (the rest of this run's parameters kept). Empty when there is no such deployment (a local `run`)."""
    if not failures:
        return failures
    deployment_id = _regenerate_deployment_id()
    if deployment_id is None:
        return failures
    from prefect.settings import get_current_settings

    ui_url = get_current_settings().ui_url
    if not ui_url:
        return failures
    params = runtime_flow_run.parameters or {}
    keep = {k: params[k] for k in ("catalog", "out", "settings_file", "presets_file") if params.get(k)}
    rows = []
    for failure in failures:
        if failure.get("sku") and failure.get("preset"):
            parameters = {**keep, "skus": [failure["sku"]], "presets": [failure["preset"]], "full": True}
            url = run_page_url(ui_url, deployment_id, parameters)
            failure = {**failure, "retry": f"[regenerate {failure['sku']}/{failure['preset']}]({url})"}
        rows.append({"retry": "", **failure})
    return rows


def _regenerate_deployment_id() -> str | None:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            return str(client.read_deployment_by_name(REGENERATE_DEPLOYMENT).id)
    except Exception:  # noqa: BLE001 - not deployed (a local `catalog-motion run`): no retry link
        return None


def create_qc_validation_artifact(run_id: str, result: dict[str, Any]) -> None:
    markdown = qc_validation_markdown(run_id, result, link=run_links())
    create_markdown_artifact(
        key="catalog-run-qc-validation",
        markdown=markdown,
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
