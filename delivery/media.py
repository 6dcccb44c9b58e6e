"""Delivery stage: published product-page clips onto Shopify products, idempotently, within the video cap,
reversibly.

Per (product, preset) catalog-motion owns at most one video, marked by its alt text
'<alt_prefix>:<preset>:<sha256[:16]>'; every other media item is the merchant's and is never touched.
A new clip is attached first and the old one taken off only once the new one is READY, so a product
never shows less than it did because a delivery went wrong. The replaced video stays in the store's
Files (the rollback point); the one it had replaced is deleted then.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from catalog_motion.delivery_settings import DEFAULT_SHOPIFY_VIDEO_CAP, ShopifyDeliverySettings
from catalog_motion.errors import CatalogMotionError, PermanentError
from catalog_motion.types import STANDING, Asset, ManifestRow
from delivery.outcomes import AssetOpener, DeliveryOutcome
from delivery.shopify import MediaInfo, ShopifyClient, ShopifyUnavailable
from delivery.table import DeliveryRecord, DeliveryTable

log = logging.getLogger(__name__)
TARGET = "shopify"


@dataclass
class _Item:
    """One (product, preset) to deliver: the winning SKU's clip and every SKU of the product it stands for."""

    product_id: str
    preset: str
    sku: str
    skus: list[str]
    asset: Asset
    priority: float
    order: int
    alt: str
    ours: list[MediaInfo]
    media_id: str | None = None
    status: str = ""
    reason: str = ""
    replaced: str | None = None


def media_alt(settings: ShopifyDeliverySettings, preset: str, sha256: str) -> str:
    return f"{settings.alt_prefix}:{preset}:{sha256[:16]}"


def resolve_token(settings: ShopifyDeliverySettings, token: str | None) -> str:
    token = token or os.environ.get(settings.token_env)
    if not token:
        raise PermanentError(f"Shopify token missing: set ${settings.token_env} or delivery.shopify.token_secret_block")
    return token


def deliver_to_shopify(
    rows: list[ManifestRow],
    settings: ShopifyDeliverySettings,
    *,
    run_id: str,
    state_dir: Path,
    open_asset: AssetOpener,
    priorities: dict[str, float],
    token: str | None,
    client: ShopifyClient | None = None,
) -> list[DeliveryOutcome]:
    """Deliver each standing row of `settings.presets` to its product; one outcome per (sku, preset)."""
    table = DeliveryTable(state_dir)
    outcomes: list[DeliveryOutcome] = []
    wanted: list[tuple[int, ManifestRow, Asset]] = []
    for order, row in enumerate(rows):
        if row.preset not in settings.presets:
            continue
        asset = next((a for a in row.assets if a.kind == "video"), None)
        if row.status not in STANDING:
            outcomes.append(_outcome(row, "unchanged", f"not published ({row.status}): the product is left as it is"))
        elif asset is None:
            outcomes.append(_outcome(row, "failed", "the manifest row names no MP4 video asset to deliver"))
        elif asset.size > settings.max_upload_bytes:
            outcomes.append(
                _outcome(row, "failed", f"video is {asset.size} bytes, over Shopify's {settings.max_upload_bytes}")
            )
        else:
            wanted.append((order, row, asset))
    if not wanted:
        table.append([_record(o, run_id) for o in outcomes])
        return outcomes

    own_client = client is None
    try:
        if client is None:
            client = ShopifyClient(settings, resolve_token(settings, token))
        try:
            items, early = _plan(client, settings, table, wanted, priorities)
            outcomes += early
            _apply_cap(client, settings, items)
            for item in items:
                if item.status == "":
                    _upload_and_attach(client, settings, item, open_asset)
            _wait_until_ready(client, settings, items)
            for item in items:
                if item.status == "processing":
                    _finish(client, settings, table, item)
        finally:
            if own_client:
                client.close()
    except CatalogMotionError as exc:  # the store as a whole could not be reached or refused us
        reason = str(exc)
        done = {(o.sku, o.preset) for o in outcomes}
        outcomes += [_outcome(row, "failed", reason) for _, row, _ in wanted if (row.sku, row.preset) not in done]
        table.append([_record(o, run_id) for o in outcomes])
        return outcomes

    for item in items:
        for sku in item.skus:
            reason = item.reason if sku == item.sku else f"{item.reason} (product shared with SKU {item.sku})"
            outcomes.append(
                DeliveryOutcome(
                    TARGET, sku, item.preset, item.status, reason, item.product_id, item.media_id, item.asset.sha256
                )
            )
    counts = {status: sum(o.status == status for o in outcomes) for status in {o.status for o in outcomes}}
    log.info("Shopify delivery of run %s: %s", run_id, ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    replaced = {(item.product_id, item.preset): item.replaced for item in items}
    assets = {(item.product_id, item.preset): item.asset.uri for item in items}
    records = []
    for outcome in outcomes:
        record = _record(outcome, run_id)
        if outcome.status == "delivered":
            record.replaced_media_id = replaced.get((outcome.product_id, outcome.preset))
            record.asset_uri = assets.get((outcome.product_id, outcome.preset))
        records.append(record)
    table.append(records)
    return outcomes


def _plan(
    client: ShopifyClient,
    settings: ShopifyDeliverySettings,
    table: DeliveryTable,
    wanted: list[tuple[int, ManifestRow, Asset]],
    priorities: dict[str, float],
) -> tuple[list[_Item], list[DeliveryOutcome]]:
    """Match SKUs to products, fold variants into one item per (product, preset), mark what is unchanged."""
    products = client.products_by_sku(sorted({row.sku for _, row, _ in wanted}))
    early: list[DeliveryOutcome] = []
    groups: dict[tuple[str, str], list[tuple[int, ManifestRow, Asset]]] = {}
    for entry in wanted:
        _, row, _ = entry
        product_id = products.get(row.sku)
        if product_id is None:
            early.append(_outcome(row, "failed", f"no product variant in the store has SKU {row.sku!r}"))
        else:
            groups.setdefault((product_id, row.preset), []).append(entry)
    media = client.product_media(sorted({product_id for product_id, _ in groups}))
    items: list[_Item] = []
    for (product_id, preset), entries in groups.items():
        entries.sort(key=lambda entry: (-priorities.get(entry[1].sku, 0.0), entry[0]))
        order, row, asset = entries[0]
        mine = f"{settings.alt_prefix}:{preset}:"
        ours = [m for m in media.get(product_id, []) if m.alt.startswith(mine)]
        item = _Item(
            product_id=product_id,
            preset=preset,
            sku=row.sku,
            skus=[entry[1].sku for entry in entries],
            asset=asset,
            priority=priorities.get(row.sku, 0.0),
            order=order,
            alt=media_alt(settings, preset, asset.sha256),
            ours=ours,
        )
        same = next((m for m in ours if m.alt == item.alt and m.status != "FAILED"), None)
        if same is not None and same.status == "READY":
            item.status, item.media_id = "unchanged", same.id
            item.reason = f"the product already shows this clip ({same.id}); nothing uploaded"
        elif same is not None:  # attached by a run that stopped before it was READY: wait for it, never re-upload
            item.status, item.media_id = "processing", same.id
        items.append(item)
    return items, early


def _apply_cap(client: ShopifyClient, settings: ShopifyDeliverySettings, items: list[_Item]) -> None:
    """Defer what would take the store over its hosted-video cap, lowest priority first."""
    uploads = sorted((item for item in items if item.status == ""), key=lambda item: (-item.priority, item.order))
    if not uploads:
        return
    cap = settings.video_cap if settings.video_cap is not None else DEFAULT_SHOPIFY_VIDEO_CAP
    hosted = client.hosted_video_count()
    free = max(0, cap - hosted)
    for item in uploads[free:]:
        item.status = "deferred"
        item.reason = (
            f"store video cap {cap} reached ({hosted} hosted, {free} free for {len(uploads)} new clips): "
            "deferred, higher-priority SKUs went first; raise delivery.shopify.video_cap or free videos"
        )


def _upload_and_attach(
    client: ShopifyClient, settings: ShopifyDeliverySettings, item: _Item, open_asset: AssetOpener
) -> None:
    filename = Path(item.asset.key or item.asset.uri).name or "video.mp4"
    try:
        content = open_asset(item.asset.uri)
        size = content.stat().st_size if isinstance(content, Path) else len(content)
        target = client.staged_upload(filename, item.asset.content_type or "video/mp4", size)
        client.upload(target, content, filename, item.asset.content_type or "video/mp4")
        try:
            item.media_id = client.attach_video(item.product_id, target.resource_url, item.alt)
        except ShopifyUnavailable:
            # The mutation may have run: look before anything is tried again, so nothing is attached twice.
            found = [m for m in client.product_media([item.product_id]).get(item.product_id, []) if m.alt == item.alt]
            if not found:
                raise
            item.media_id = found[0].id
    except CatalogMotionError as exc:
        item.status, item.reason = "failed", f"{exc}; the product keeps its previous media"
        return
    except OSError as exc:
        item.status, item.reason = "failed", f"cannot read the published video {item.asset.uri} ({exc.strerror})"
        return
    item.status = "processing"


def _wait_until_ready(client: ShopifyClient, settings: ShopifyDeliverySettings, items: list[_Item]) -> None:
    """Poll every attached video together until READY, FAILED or the timeout; a video that does not make it
    is taken off again, so no product keeps a half-made video."""
    pending = {item.media_id: item for item in items if item.status == "processing" and item.media_id}
    deadline = time.monotonic() + settings.poll_timeout_s
    while pending:
        try:
            statuses = client.media_status(list(pending))
        except CatalogMotionError:  # a failed poll is not a failed video: poll again until the deadline
            statuses = {}
        for media_id, status in statuses.items():
            item = pending.get(media_id)
            if item is None:
                continue
            if status == "READY":
                del pending[media_id]
            elif status == "FAILED":
                del pending[media_id]
                _remove_new(client, item, "Shopify could not process the video (status FAILED)")
        if not pending:
            return
        if time.monotonic() >= deadline:
            for item in pending.values():
                _remove_new(
                    client,
                    item,
                    f"video still {statuses.get(item.media_id, 'PROCESSING')} after {settings.poll_timeout_s:g} s "
                    "(delivery.shopify.poll_timeout_s): taken off again; the next run tries again",
                )
            return
        time.sleep(min(settings.poll_interval_s, max(0.0, deadline - time.monotonic())))


def _remove_new(client: ShopifyClient, item: _Item, reason: str) -> None:
    assert item.media_id is not None
    try:  # fileDelete, not fileUpdate: Shopify updates only READY files, and deleting also takes it off
        client.delete_files([item.media_id])
    except CatalogMotionError as exc:
        reason += f"; removing it failed too ({exc}): remove {item.media_id} by hand"
    item.status, item.reason = "failed", f"{reason}; the product keeps its previous media"
    item.media_id = None


def _finish(client: ShopifyClient, settings: ShopifyDeliverySettings, table: DeliveryTable, item: _Item) -> None:
    """The new video is READY: put it in place, take our old one off (kept as the rollback point) and
    delete the one the old one had replaced."""
    assert item.media_id is not None
    notes = []
    try:
        client.move_media(item.product_id, item.media_id, settings.media_position)
    except CatalogMotionError as exc:
        notes.append(f"not moved to position {settings.media_position} ({exc})")
    old = [m for m in item.ours if m.id != item.media_id]
    old_ids = {m.id for m in old}
    delivered = [r for r in table.records if r.status == "delivered" and r.media_id in old_ids]
    stale = delivered[-1].replaced_media_id if delivered else None
    try:
        for media in old:
            client.detach(media.id, item.product_id)
        item.replaced = old[0].id if old else None
        if stale and stale not in old_ids:
            client.delete_files([stale])
        if len(old) > 1:  # more than one of ours (an earlier crash): keep only the newest as rollback point
            client.delete_files([m.id for m in old[1:]])
    except CatalogMotionError as exc:
        notes.append(f"the previous catalog-motion video was not taken off ({exc}): the next run retries")
    item.status = "delivered"
    item.reason = f"attached as {item.media_id}" + (f", replacing {item.replaced}" if item.replaced else "")
    if notes:
        item.reason += "; " + "; ".join(notes)


def rollback_shopify(
    run_id: str,
    settings: ShopifyDeliverySettings,
    *,
    state_dir: Path,
    token: str | None,
    client: ShopifyClient | None = None,
) -> list[DeliveryOutcome]:
    """Give each product run `run_id` delivered to the catalog-motion video it had before (or none)."""
    table = DeliveryTable(state_dir)
    delivered = [r for r in table.of_run(run_id, TARGET) if r.status == "delivered" and r.media_id]
    if not delivered:
        raise PermanentError(f"run {run_id} delivered nothing to Shopify (no records in {table.path})")
    own_client = client is None
    client = client or ShopifyClient(settings, resolve_token(settings, token))
    outcomes: list[DeliveryOutcome] = []
    records: list[DeliveryRecord] = []
    done: dict[tuple[str, str], DeliveryOutcome] = {}
    try:
        for record in delivered:
            key = (record.product_id or "", record.preset)
            if key not in done:
                done[key] = _rollback_one(client, settings, table, record)
            first = done[key]
            outcome = DeliveryOutcome(
                TARGET, record.sku, record.preset, first.status, first.reason, record.product_id, first.media_id,
                first.content_sha256,
            )  # fmt: skip
            outcomes.append(outcome)
            records.append(_record(outcome, run_id))
    finally:
        if own_client:
            client.close()
        table.append(records)
    return outcomes


def _rollback_one(
    client: ShopifyClient, settings: ShopifyDeliverySettings, table: DeliveryTable, record: DeliveryRecord
) -> DeliveryOutcome:
    product_id = record.product_id or ""
    current = table.current(TARGET, product_id, record.preset)
    if current is not None and current.media_id != record.media_id:
        return DeliveryOutcome(
            TARGET, record.sku, record.preset, "failed",
            f"product now shows {current.media_id} from run {current.run_id}: roll that run back first", product_id,
        )  # fmt: skip
    previous = _record_of_media(table, record.replaced_media_id)
    try:
        if record.replaced_media_id:
            client.reattach(record.replaced_media_id, product_id)
            client.move_media(product_id, record.replaced_media_id, settings.media_position)
        client.detach(record.media_id or "", product_id)
        client.delete_files([record.media_id or ""])
    except CatalogMotionError as exc:
        return DeliveryOutcome(TARGET, record.sku, record.preset, "failed", f"rollback failed: {exc}", product_id)
    restored = f"restored {record.replaced_media_id}" if record.replaced_media_id else "no earlier video to restore"
    return DeliveryOutcome(
        TARGET, record.sku, record.preset, "rolled_back", f"removed {record.media_id}; {restored}", product_id,
        record.replaced_media_id, previous.content_sha256 if previous else None,
    )  # fmt: skip


def _record_of_media(table: DeliveryTable, media_id: str | None) -> DeliveryRecord | None:
    if not media_id:
        return None
    return next((r for r in reversed(table.records) if r.media_id == media_id and r.status == "delivered"), None)


def _outcome(row: ManifestRow, status: str, reason: str) -> DeliveryOutcome:
    asset = next((a for a in row.assets if a.kind == "video"), None)
    return DeliveryOutcome(TARGET, row.sku, row.preset, status, reason, content_sha256=asset.sha256 if asset else None)  # type: ignore[arg-type]


def _record(outcome: DeliveryOutcome, run_id: str) -> DeliveryRecord:
    return DeliveryRecord(
        target=outcome.target,
        product_id=outcome.product_id,
        sku=outcome.sku,
        preset=outcome.preset,
        status=outcome.status,
        reason=outcome.reason,
        run_id=run_id,
        media_id=outcome.media_id,
        content_sha256=outcome.content_sha256,
    )
