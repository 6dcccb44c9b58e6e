"""Manifest rows: what one finished work item, a refused catalog row or an untouched SKU contributes.

Exactly one row per (sku, preset) of the catalog, whatever happened to it (docs/PUBLISHING.md).
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
) -> list[ManifestRow]:
    """The rows of one finished item: one per SKU sharing its photo.

    A skipped (unchanged) SKU keeps its previous row and assets; an SKU whose own publish failed is
    `failed` with that reason while the others keep the item's outcome.
    """
    by_sku = {row.sku: row for row in previous}
    rows: list[ManifestRow] = []
    for sku in item.skus or [item.sku]:
        if status == "skipped" and sku in by_sku:
            rows.append(by_sku[sku].model_copy(update={"status": "skipped", "reason": reason}))
            continue
        sku_status, sku_reason = ("failed", sku_failures[sku]) if sku in sku_failures else (status, reason)
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
                params=dict(clip.params) if clip else {},
                timings=dict(timings),
            )
        )
    return rows


def invalid_rows(refused: Iterable[RowOutcome], presets: Sequence[Preset]) -> list[ManifestRow]:
    """A refused catalog row yields one `invalid` row per selected preset (rows without SKU get one)."""
    return [
        ManifestRow(
            sku=outcome.sku or f"<row {outcome.row_index}>", preset=preset.name, status="invalid", reason=outcome.reason
        )
        for outcome in refused
        for preset in presets
    ]


def with_ignored_rows(rows: Iterable[ManifestRow], notes: Mapping[str, list[str]]) -> list[ManifestRow]:
    """Rows with the notes on other catalog rows of their SKU (`planning.fold_refusals`) attached."""
    return [row.model_copy(update={"ignored_rows": notes[row.sku]}) if row.sku in notes else row for row in rows]


def failed_row(row: ManifestRow, reason: str) -> ManifestRow:
    """The row turned `failed` with `reason`, its assets dropped (nothing it named may be served)."""
    return row.model_copy(update={"status": "failed", "reason": reason, "assets": [], "video": None, "poster": None})


def carry_unselected(previous: Iterable[ManifestRow], rows: Iterable[ManifestRow]) -> list[ManifestRow]:
    """Rows of the latest manifest that a partial run (SKU filter) did not touch, so `latest` stays whole.

    Rows whose assets stand are carried as `skipped`; other outcomes unchanged.
    """
    touched = {(row.sku, row.preset) for row in rows}
    carried = []
    for row in previous:
        if (row.sku, row.preset) in touched:
            continue
        if row.status in STANDING:
            row = row.model_copy(update={"status": "skipped", "reason": "not selected in this run"})
        carried.append(row)
    return carried
