"""The `on-ingest` flow: a debounced burst of `catalog.sku.ingested` events becomes one catalog run.

The deployment trigger (prefect.yaml) fires on the first event of a burst, ignores the rest for
`window_s` seconds and schedules this flow `window_s` seconds later, passing the first event's time.
The flow then reads every `catalog.sku.ingested` event in [since, since + window_s) from the Prefect
API and runs `catalog_run` for exactly those SKUs. The next burst (at or after since + window_s) fires
again, so consecutive windows never overlap and no event is handled twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger

from flows.catalog_run import catalog_run

INGEST_EVENT = "catalog.sku.ingested"
SKU_RESOURCE_PREFIX = "sku."  # catalog_connectors/events.py names resources sku.<id>


def sku_from_resource(resource_id: str, payload: dict[str, Any] | None = None) -> str | None:
    """The SKU of an ingest event: payload `sku`, else the resource id after `sku.`."""
    if payload and isinstance(payload.get("sku"), str) and payload["sku"]:
        return payload["sku"]
    if resource_id.startswith(SKU_RESOURCE_PREFIX):
        return resource_id[len(SKU_RESOURCE_PREFIX) :] or None
    return None


def ingested_skus(since: datetime, until: datetime) -> list[str]:
    """SKU ids of `catalog.sku.ingested` events that occurred in [since, until), oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    flt = EventFilter(
        event=EventNameFilter(name=[INGEST_EVENT]),
        occurred=EventOccurredFilter(since=since, until=until),
        order="ASC",
    )
    skus: list[str] = []
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=flt, limit=50)
        while True:
            for event in page.events:
                if event.occurred >= until:
                    continue
                sku = sku_from_resource(event.resource.id, event.payload)
                if sku and sku not in skus:
                    skus.append(sku)
            if not page.next_page:
                break
            page = client.read_events_page(page.next_page)
    return skus


def emit_ingested(skus: list[str], catalog: str | None = None) -> list[str]:
    """Announce SKUs as `catalog.sku.ingested` through Prefect (what `catalog-motion ingest` sends).

    No state file here: an event the API does not accept (after retries) is an error naming the SKUs.
    """
    from catalog_connectors.events import emit_ingested as emit
    from catalog_motion.errors import CatalogMotionError
    from tasks.prefect_services import prefect_emit

    report = emit(list(skus), emit=prefect_emit, source=catalog)
    if report.unsent:
        shown = ", ".join(report.unsent[:10]) + (" ..." if len(report.unsent) > 10 else "")
        raise CatalogMotionError(
            f"{len(report.unsent)} catalog.sku.ingested event(s) not sent ({shown}): {report.error}"
        )
    return report.sent


def _parse_time(value: str | datetime | None) -> datetime:
    if value is None or value == "":
        return datetime.now(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@flow(name="on-ingest", flow_run_name="ingest-{since}", persist_result=False)
def on_ingest(
    catalog: str,
    since: str | None = None,
    window_s: float = 60.0,
    presets: list[str] | None = None,
    out: str = "out",
    settings_file: str | None = None,
    presets_file: str | None = None,
) -> dict[str, Any]:
    """Run the catalog flow for the SKUs ingested in [since, since + window_s)."""
    logger = get_run_logger()
    start = _parse_time(since) - timedelta(milliseconds=1)  # include the triggering event itself
    skus = ingested_skus(start, start + timedelta(seconds=window_s))
    if not skus:
        logger.warning("no %s events between %s and +%gs: nothing to do", INGEST_EVENT, start, window_s)
        return {"skus": [], "summary": None}
    logger.info("ingest window from %s: %d SKU(s): %s", start.isoformat(), len(skus), ", ".join(skus[:20]))
    summary = catalog_run(
        catalog=catalog,
        presets=presets,
        out=out,
        settings_file=settings_file,
        presets_file=presets_file,
        skus=skus,
    )
    return {"skus": skus, "summary": summary}
