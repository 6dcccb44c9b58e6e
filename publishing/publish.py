"""Store a variant's encoded files in a sink under content-addressed keys.

Key layout: '<sku>/<preset>/<stem>-<sha256[:16]>.<ext>' (e.g. 'SKU-1/product-page/video-3fa2....mp4').
The checksum in the name means a stored object never changes (so it can be cached forever), and a re-run
whose encodes come out identical finds every key present with the same checksum and uploads nothing.

Receipts: given the run id, `publish_variant` ends by writing 'runs/<run_id>/receipts/<sku>--<preset>.json'
(the stored Assets and the item's content key), so objects a publish task stored before its process died
can be adopted into the manifest (publishing/orphans.py) instead of being left unnamed in the sink.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from catalog_motion.paths import safe_segment
from catalog_motion.presets import Preset
from catalog_motion.types import Asset, ManifestRow, sha256_file
from publishing.encode import LocalAsset
from publishing.rows import failed_row
from publishing.sinks import Sink, make_key

if TYPE_CHECKING:
    from publishing.manifest import ManifestSummary


def asset_key(sku: str, preset: str, local_path: str | Path, sha256: str) -> str:
    path = Path(local_path)
    stem = path.stem.split(".")[0] or "file"
    return make_key(sku, preset, f"{stem}-{sha256[:16]}{''.join(path.suffixes[-1:])}")


class Receipt(BaseModel):
    """What one finished `publish_variant` stored for one (sku, preset) of a run."""

    run_id: str
    sku: str
    preset: str
    key: str | None = Field(default=None, description="The work item's content key (ManifestRow.key)")
    assets: list[Asset]
    stored_at: str = Field(default="", description="UTC time the last asset verified")


def receipts_prefix(run_id: str) -> str:
    return f"runs/{safe_segment(run_id)}/receipts/"


def receipt_key(run_id: str, sku: str, preset: str) -> str:
    name = f"{safe_segment(sku)}--{safe_segment(preset)}.json"
    # One segment however long the SKU (safe_segment shortens and hashes a long name).
    return receipts_prefix(run_id) + safe_segment(name)


def write_receipt(sink: Sink, receipt: Receipt) -> str:
    """Store `receipt` under its key; the key."""
    key = receipt_key(receipt.run_id, receipt.sku, receipt.preset)
    sink.put_bytes(
        receipt.model_dump_json().encode(),
        key,
        "application/json",
        kind="receipt",
        cache_control="no-cache",
        metadata={"run": receipt.run_id},
    )
    return key


def publish_variant(
    *,
    sku: str,
    preset: Preset | str,
    assets: list[LocalAsset],
    sink: Sink,
    metadata: dict[str, Any] | None = None,
    run_id: str | None = None,
    key: str | None = None,
) -> list[Asset]:
    """Store every local asset of one (sku, preset) and return the stored, verified Assets (same order).

    `metadata` (engine, seed, qc scores, ...) becomes object metadata; sku and preset are always added.
    run_id: write the (sku, preset)'s receipt once every asset verified (with `key`, the item's content
    key), so the run can adopt these objects even if this process dies before reporting them.
    Raises TransientError if a store fails or does not verify (the caller retries or records `failed`).
    """
    preset_name = preset if isinstance(preset, str) else preset.name
    meta = {"sku": sku, "preset": preset_name, **(metadata or {})}
    if run_id is not None:
        meta.setdefault("run", run_id)  # the orphan sweep removes only objects its own run stored
    stored: list[Asset] = []
    for local in assets:
        digest = sha256_file(local.path)
        object_key = asset_key(sku, preset_name, local.path, digest)
        stored.append(
            sink.put(
                local.path, object_key, local.content_type, {**meta, "kind": local.kind}, kind=local.kind, sha256=digest
            )
        )
    if run_id is not None:
        stored_at = datetime.now(UTC).isoformat(timespec="seconds")
        write_receipt(
            sink, Receipt(run_id=run_id, sku=sku, preset=preset_name, key=key, assets=stored, stored_at=stored_at)
        )
    return stored


def asset_links(stored: list[Asset]) -> tuple[str | None, str | None]:
    """(video, poster) URIs a row shows for `stored`: the MP4 (else the WebM) and the JPEG (else the WebP)."""
    by_kind = {asset.kind: asset for asset in stored}
    video = by_kind.get("video") or by_kind.get("video_webm")
    poster = by_kind.get("poster_jpeg") or by_kind.get("poster_webp")
    return (video.uri if video else None), (poster.uri if poster else None)


def published_row(*, sku: str, preset: Preset | str, stored: list[Asset], **fields: Any) -> ManifestRow:
    """A `published` ManifestRow naming `stored`: video = the MP4 (else first video), poster = the JPEG."""
    preset_name = preset if isinstance(preset, str) else preset.name
    video, poster = asset_links(stored)
    return ManifestRow(
        sku=sku, preset=preset_name, status="published", assets=stored, video=video, poster=poster, **fields
    )


_SIDECAR_ONLY = {"size", "mtime_ns", "content_type", "cache_control", "sha256"}


def republish_run(run_id: str, source: Sink, dest: Sink) -> ManifestSummary:
    """Copy a finished run's objects from `source` to `dest` (same keys, metadata) and write its manifest there.

    Objects already in `dest` with the same checksum are not copied again, so re-running is cheap. Rows
    whose objects cannot be read from `source` become `failed` with the reason (never a dangling row).
    """
    import tempfile

    from catalog_motion.errors import CatalogMotionError
    from publishing.manifest import ManifestStore

    manifest = ManifestStore(source).read_manifest(run_id)
    rows: list[ManifestRow] = []
    with tempfile.TemporaryDirectory(prefix="republish-") as tmp:
        for index, row in enumerate(manifest.rows):
            if not row.assets:
                rows.append(row)
                continue
            try:
                copied = []
                for n, asset in enumerate(row.assets):
                    if not asset.key:
                        raise CatalogMotionError(f"asset {asset.uri} has no key")
                    if not dest.verify(asset.key, asset.size, asset.sha256):
                        local = source.local_copy(asset.key, Path(tmp) / f"{index}-{n}")
                        meta = {k: v for k, v in source.metadata(asset.key).items() if k not in _SIDECAR_ONLY}
                        dest.put(local, asset.key, asset.content_type, meta, kind=asset.kind, sha256=asset.sha256)
                    copied.append(asset.model_copy(update={"uri": dest.uri_for(asset.key)}))
                by_kind = {a.kind: a for a in copied}
                video = by_kind.get("video") or by_kind.get("video_webm")
                poster = by_kind.get("poster_jpeg") or by_kind.get("poster_webp")
                rows.append(
                    row.model_copy(
                        update={
                            "assets": copied,
                            "video": video.uri if video else None,
                            "poster": poster.uri if poster else None,
                        }
                    )
                )
            except CatalogMotionError as exc:
                rows.append(failed_row(row, f"republish: {exc}"))
    return ManifestStore(dest).write_run(run_id, rows)
