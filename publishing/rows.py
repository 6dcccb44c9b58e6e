"""Manifest rows: what one finished work item, a refused catalog row or an untouched SKU contributes.

Exactly one row per (sku, preset) of the catalog, whatever happened to it (docs/PUBLISHING.md). A row's
`status` says what is live: a video an earlier run published stays `published` (flag `unchanged`, the run in
`published_run`) until this run replaces it, whatever this run's own attempt came to (`outcome`), so a bad
night never takes a live video away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from catalog_motion.presets import Preset
from catalog_motion.types import STANDING, Asset, ClipRef, ManifestRow, QCReport, RowOutcome, Status, WorkItem


def item_rows(
    item: WorkItem,
    status: Status,
    reason: str,
    *,
    clip: ClipRef | None,
    qc: QCReport | None,
    assets: Mapping[str, list[Asset]],
    sku_failures: Mapping[str, str],
    previous: Sequence[ManifestRow],
    timings: Mapping[str, float],
    run_id: str | None = None,
    attempt_history: Sequence[dict] = (),
) -> list[ManifestRow]:
    """The rows of one finished item: one per SKU sharing its photo. `attempt_history` (what each attempt
    asked the engine, and its verdict) goes into the row's `params.attempts` when there was more than one.

    An SKU whose own publish failed is `failed` with that reason while the others keep the item's outcome.
    An SKU with a live row in `previous` (the latest manifest) that this item did not re-publish - skipped
    as unchanged, or failed, rejected or invalid this time - keeps that row (`kept_live`).
    """
    by_sku = {row.sku: row for row in previous}
    rows: list[ManifestRow] = []
    for sku in item.skus or [item.sku]:
        sku_status, sku_reason = ("failed", sku_failures[sku]) if sku in sku_failures else (status, reason)
        live = by_sku.get(sku)
        if sku_status != "published" and live is not None and live.status in STANDING:
            rows.append(kept_live(live, sku_status, sku_reason))
            continue
        sku_assets = list(assets.get(sku, [])) if sku_status == "published" else []
        generated = clip is not None
        rows.append(
            ManifestRow(
                sku=sku,
                preset=item.preset,
                status=sku_status,
                reason=sku_reason,
                video=next((a.uri for a in sku_assets if a.kind.startswith("video")), None),
                poster=next((a.uri for a in sku_assets if a.kind.startswith("poster")), None),
                assets=sku_assets,
                engine=item.engine if generated else None,
                seed=item.seed if generated else None,
                attempts=(item.attempt + 1) if generated else 0,
                key=item.key,
                source_sha256=item.source_sha256,
                qc=dict(qc.scores) if qc else {},
                params=(dict(clip.params) | ({"attempts": list(attempt_history)} if len(attempt_history) > 1 else {}))
                if clip
                else {},
                timings=dict(timings),
                published_run=run_id if sku_status == "published" else None,
            )
        )
    return rows


def kept_live(live: ManifestRow, outcome: Status, reason: str) -> ManifestRow:
    """The live row of `latest` carried into this run's manifest after this run's `outcome` for it: still
    `published`, its assets and content key unchanged (so the next run compares against what is live)."""
    since = live.published_run or "an earlier run"
    if outcome == "skipped":
        text = f"unchanged since run {since}"
    else:
        text = f"this run: {outcome}: {reason}; the video published by run {since} stays live"
    return live.model_copy(
        update={"status": "published", "unchanged": True, "outcome": outcome, "reason": text, "ignored_rows": []}
    )


def invalid_rows(
    refused: Iterable[RowOutcome],
    presets: Sequence[Preset],
    previous: Mapping[tuple[str, str], ManifestRow] | None = None,
) -> list[ManifestRow]:
    """A refused catalog row yields one `invalid` row per selected preset (rows without SKU get one); an SKU
    with a live row in `previous` keeps it, its reason saying why this run refused the catalog row."""
    previous = previous or {}
    rows = []
    for outcome in refused:
        for preset in presets:
            sku = outcome.sku or f"<row {outcome.row_index}>"
            live = previous.get((sku, preset.name)) if outcome.sku else None
            if live is not None and live.status in STANDING:
                rows.append(kept_live(live, "invalid", outcome.reason))
            else:
                rows.append(ManifestRow(sku=sku, preset=preset.name, status="invalid", reason=outcome.reason))
    return rows


def with_ignored_rows(rows: Iterable[ManifestRow], notes: Mapping[str, list[str]]) -> list[ManifestRow]:
    """Rows with the notes on other catalog rows of their SKU (`planning.fold_refusals`) attached."""
    return [row.model_copy(update={"ignored_rows": notes[row.sku]}) if row.sku in notes else row for row in rows]


def failed_row(row: ManifestRow, reason: str) -> ManifestRow:
    """The row turned `failed` with `reason`, its assets dropped (nothing it named may be served)."""
    return row.model_copy(update={"status": "failed", "reason": reason, "assets": [], "video": None, "poster": None})


class CarryForward:
    """Rows of the latest manifest this run's own rows do not cover, so `latest` keeps every live video.

    A live row is carried `published` (unchanged), whatever the reason it was not covered: a partial run
    (SKU filter), a preset not selected, or an SKU that left the catalog - unless `remove_deleted` (then it
    is dropped and listed in `removed`). A row that is not live (failed, rejected, invalid) is carried only
    while its SKU is still in the catalog or the run is partial: nothing stands for it either way.
    """

    def __init__(self, catalog_skus: set[str], *, partial: bool, remove_deleted: bool):
        self.catalog_skus = catalog_skus
        self.partial = partial
        self.remove_deleted = remove_deleted
        self.removed: list[tuple[str, str]] = []

    def rows(self, previous: Iterable[ManifestRow], covered: Iterable[ManifestRow]) -> list[ManifestRow]:
        touched = {(row.sku, row.preset) for row in covered}
        self.removed = []
        carried = []
        for row in previous:
            if (row.sku, row.preset) in touched:
                continue
            in_catalog = self.partial or row.sku in self.catalog_skus
            if row.status in STANDING:
                if not in_catalog and self.remove_deleted:
                    self.removed.append((row.sku, row.preset))
                    continue
                why = (
                    "not in this run"
                    if in_catalog
                    else "SKU no longer in the catalog; kept live while latest.remove_deleted_skus is off"
                )
                since = row.published_run or "an earlier run"
                row = row.model_copy(
                    update={
                        "status": "published",
                        "unchanged": True,
                        "outcome": None,
                        "reason": f"{why}; published by run {since}",
                    }
                )
            elif not in_catalog:
                continue
            carried.append(row)
        return carried
