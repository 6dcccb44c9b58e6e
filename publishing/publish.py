"""Store a variant's encoded files in a sink under content-addressed keys.

Key layout: '<sku>/<preset>/<stem>-<sha256[:16]>.<ext>' (e.g. 'SKU-1/product-page/video-3fa2....mp4').
The checksum in the name means a stored object never changes (so it can be cached forever), and a re-run
whose encodes come out identical finds every key present with the same checksum and uploads nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def publish_variant(
    *, sku: str, preset: Preset | str, assets: list[LocalAsset], sink: Sink, metadata: dict[str, Any] | None = None
) -> list[Asset]:
    """Store every local asset of one (sku, preset) and return the stored, verified Assets (same order).

    `metadata` (engine, seed, qc scores, ...) becomes object metadata; sku and preset are always added.
    Raises TransientError if a store fails or does not verify (the caller retries or records `failed`).
    """
    preset_name = preset if isinstance(preset, str) else preset.name
    meta = {"sku": sku, "preset": preset_name, **(metadata or {})}
    stored: list[Asset] = []
    for local in assets:
        digest = sha256_file(local.path)
        key = asset_key(sku, preset_name, local.path, digest)
        stored.append(
            sink.put(local.path, key, local.content_type, {**meta, "kind": local.kind}, kind=local.kind, sha256=digest)
        )
    return stored


def published_row(*, sku: str, preset: Preset | str, stored: list[Asset], **fields: Any) -> ManifestRow:
    """A `published` ManifestRow naming `stored`: video = the MP4 (else first video), poster = the JPEG."""
    preset_name = preset if isinstance(preset, str) else preset.name
    by_kind = {asset.kind: asset for asset in stored}
    video = by_kind.get("video") or by_kind.get("video_webm")
    poster = by_kind.get("poster_jpeg") or by_kind.get("poster_webp")
    return ManifestRow(
        sku=sku,
        preset=preset_name,
        status="published",
        assets=stored,
        video=video.uri if video else None,
        poster=poster.uri if poster else None,
        **fields,
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
