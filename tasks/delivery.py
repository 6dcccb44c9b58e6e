"""Prefect tasks of the delivery stage: deliver a published run, or roll a run's Shopify delivery back.

The decorators hold what never changes (TransientError alone is retried, tags, no result cache); the run's
retry counts come from `tasks.prefect_tasks.with_run_retries`. Each task records its outcomes as a Prefect
table artifact. The Shopify token is resolved inside the task (env var or Prefect Secret block), never
passed as a parameter, so no run record can hold it.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from catalog_motion.settings import RunSettings
from pipeline.delivery import DeliveryReport, deliver_run, rollback_run
from pipeline.summary import delivery_table
from tasks.prefect_services import prefect_secret
from tasks.prefect_tasks import retry_only_transient, with_run_retries

_FIXED: dict[str, Any] = dict(
    retry_condition_fn=retry_only_transient, persist_result=False, cache_policy=NO_CACHE, log_prints=False
)


def create_delivery_artifact(report: DeliveryReport, limit: int) -> None:
    """The outcomes (first `limit`, failed and deferred first) and the counts per target and status."""
    first = sorted(report.outcomes, key=lambda o: {"failed": 0, "deferred": 1}.get(str(o["status"]), 2))[:limit]
    create_table_artifact(
        key="delivery-outcomes",
        table=first or [{"target": "", "sku": "", "preset": "", "status": "", "reason": "nothing to deliver"}],
        description=f"Delivery outcomes ({report.action}), run {report.run_id}: the first {limit} of "
        f"{len(report.outcomes)}, failed and deferred first",
    )
    create_table_artifact(
        key="delivery-summary",
        table=delivery_table(report.counts()) or [{"target": "none", "total": 0}],
        description=f"Delivery outcomes per target and status ({report.action}), run {report.run_id}",
    )


@task(name="deliver", task_run_name="deliver [{run_id}]", tags=["delivery"], **_FIXED)
def deliver_task(
    settings: RunSettings,
    run_id: str | None,
    priorities: dict[str, float] | None = None,
    to: list[str] | None = None,
) -> DeliveryReport:
    """Deliver run `run_id` (None: latest) to the configured targets (or only `to`)."""
    report = deliver_run(settings, run_id, secrets=prefect_secret, priorities=priorities, to=to)
    create_delivery_artifact(report, settings.orchestration.artifact_max_rows)
    return report


@task(name="deliver-rollback", task_run_name="deliver-rollback [{run_id}]", tags=["delivery"], **_FIXED)
def rollback_task(settings: RunSettings, run_id: str) -> DeliveryReport:
    """Restore each product's catalog-motion media from before run `run_id`'s delivery."""
    report = rollback_run(settings, run_id, secrets=prefect_secret)
    create_delivery_artifact(report, settings.orchestration.artifact_max_rows)
    return report


def deliver_after_run(settings: RunSettings, run_id: str, priorities: dict[str, float]) -> dict[str, Any]:
    """The end of a catalog run: deliver it, and say how it went for the run summary. A delivery that fails
    is a failed `deliver` task run and this summary's `error`, never a failure of the publish outcomes."""
    state = with_run_retries(deliver_task, settings.orchestration)(settings, run_id, priorities, return_state=True)
    if state.is_completed():
        report: DeliveryReport = state.result()
        return {"ok": not report.failed, "error": None, "counts": report.counts(), "feeds": report.feeds}
    return {"ok": False, "error": _one_line(state.message) or "the deliver task failed", "counts": {}, "feeds": []}


def _one_line(message: str | None) -> str:
    # Prefect's state message is "Task run encountered an exception X: <text>": keep the operator's part.
    text = " ".join((message or "").split())
    marker = "exception "
    if text.startswith("Task run encountered an ") and marker in text:
        text = text.split(marker, 1)[1]
        text = text.split(": ", 1)[1] if ": " in text else text
    return text
