"""The `deliver` flow: deliver a published run to Shopify and the channel feeds, or roll a run's delivery back.

resolve settings → (priorities from the catalog) → deliver task (outcomes table artifact) → summary.
The `deliver` deployment (prefect.yaml) runs it on demand; `catalog_run` delivers by itself at its end when
its settings have a `delivery:` section.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from catalog_motion.errors import ConfigError, run_step
from catalog_motion.paths import absolute_location
from catalog_motion.settings import resolve_run_settings
from pipeline.delivery import catalog_priorities, delivery_targets
from pipeline.summary import delivery_table
from tasks import prefect_tasks as pt
from tasks.delivery import deliver_task, rollback_task


def run_name() -> str:
    """Flow-run name for the UI: what is done to which run (`latest` when none is named)."""
    params = runtime_flow_run.parameters or {}
    return f"{'rollback' if params.get('rollback') else 'deliver'}-{params.get('run_id') or 'latest'}"


@flow(name="deliver", flow_run_name=run_name, persist_result=False, log_prints=False)
def deliver(
    run_id: str | None = None,
    out: str = "out",
    settings_file: str | None = None,
    to: list[str] | None = None,
    rollback: bool = False,
    catalog: str | None = None,
) -> dict[str, Any]:
    """Deliver run `run_id` (None: the run `latest` points at) of the sink under `out` to the targets of the
    settings' `delivery:` section (or only `to`: shopify, merchant, meta). rollback: undo that run's Shopify
    delivery instead. catalog: read the Shopify priority column from it (which SKUs go first under the cap)."""
    out = absolute_location(out)
    settings = resolve_run_settings(out, settings_file, None)
    delivery_targets(settings.delivery, to)  # refuse a settings file without `delivery:` before any work
    if rollback:
        if not run_id:
            raise ConfigError("rollback needs the run_id whose delivery is to be undone")
        report = pt.with_run_retries(rollback_task, settings.orchestration)(settings, run_id)
    else:
        priorities = None
        if catalog and settings.delivery.shopify is not None:
            catalog = absolute_location(catalog)
            with run_step("loading the catalog for delivery priorities", catalog):
                load = pt.with_run_retries(pt.load_catalog_task, settings.orchestration)(catalog, settings.intake)
            priorities = catalog_priorities(load.rows, settings.delivery)
        report = pt.with_run_retries(deliver_task, settings.orchestration)(settings, run_id, priorities, to)
    return {
        "run_id": report.run_id,
        "action": report.action,
        "counts": report.counts(),
        "table": delivery_table(report.counts()),
        "feeds": report.feeds,
        "failed": report.failed[: settings.orchestration.artifact_max_rows],
    }
