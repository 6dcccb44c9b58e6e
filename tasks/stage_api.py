"""The other stages' contract functions, resolved in one place (docs/ARCHITECTURE.md).

Tasks call these names only, so a stage that moves a function changes one line here. Where a stage's
API differs slightly from the contract, the thin adapter lives here too (and is listed in the report).
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from catalog_motion.presets import Preset
from catalog_motion.types import Asset, ClipRef, ManifestRow, QCReport


def _resolve(name: str, *modules: str) -> Any:
    errors = []
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            errors.append(f"{module_name}: {exc}")
            continue
        if hasattr(module, name):
            return getattr(module, name)
        errors.append(f"{module_name} has no {name}")
    raise ImportError(f"stage function {name} not found ({'; '.join(errors)})")


# --- catalog ---------------------------------------------------------------------------------------
def load_catalog(source: str, intake: Any) -> Any:
    fn = _resolve("load_catalog", "catalog_connectors.sources", "catalog_connectors")
    return fn(source, intake)


def fetch_photo(ref: str, dest_dir: Path, intake: Any, *, background: str, base_dir: Path | None) -> Any:
    fn = _resolve("fetch_photo", "catalog_connectors.intake", "catalog_connectors")
    return fn(ref, dest_dir, intake, background=background, base_dir=base_dir)


# --- generation ------------------------------------------------------------------------------------
def get_engine(name: str, settings: dict[str, Any] | None) -> Any:
    from generation.base import get_engine as _get_engine

    return _get_engine(name, settings or {})


def generation_request(**fields: Any) -> Any:
    from generation.base import GenerationRequest

    return GenerationRequest(**fields)


# --- quality ---------------------------------------------------------------------------------------
def check_clip(source_path: str, clip_path: str, preset: Preset, *, expected_frames: int | None = None) -> QCReport:
    return _resolve("check_clip", "quality.gate")(source_path, clip_path, preset, expected_frames=expected_frames)


def check_encoded(video_path: str, preset: Preset, *, expected_frames: int | None = None) -> QCReport:
    return _resolve("check_encoded", "quality.gate")(video_path, preset, expected_frames=expected_frames)


def add_to_review_queue(root: Path, *, sku: str, preset: str, source_path: str, clip_path: str,
                        report: QCReport) -> Path:
    fn = _resolve("add_to_review_queue", "quality.review")
    return fn(root, sku=sku, preset=preset, source_path=source_path, clip_path=clip_path, report=report)


# --- publishing ------------------------------------------------------------------------------------
def encode_variants(clip: ClipRef, preset: Preset, out_dir: Path) -> list[Any]:
    return _resolve("encode_variants", "publishing.encode")(clip, preset, out_dir)


_SINKS: dict[str, Any] = {}
_SINKS_LOCK = threading.Lock()


def sink_for(sink_settings: Any) -> Any:
    """One sink per process and settings (S3 clients are reusable and thread-safe)."""
    key = json.dumps(sink_settings.model_dump(mode="json"), sort_keys=True)
    with _SINKS_LOCK:
        if key not in _SINKS:
            _SINKS[key] = _resolve("make_sink", "publishing.sinks")(sink_settings)
        return _SINKS[key]


def publish_assets(sink: Any, local_assets: list[Any], *, sku: str, preset: str,
                   metadata: dict[str, str]) -> list[Asset]:
    """Store one variant's files under `<sku>/<preset>/…` through the publishing stage."""
    publish_variant = _resolve("publish_variant", "publishing.publish")
    return publish_variant(sku=sku, preset=preset, assets=local_assets, sink=sink, metadata=metadata)


@lru_cache(maxsize=8)
def _store_cls() -> Any:
    return _resolve("ManifestStore", "publishing.manifest")


def write_manifest(sink_settings: Any, run_id: str, rows: list[ManifestRow]) -> Any:
    # fail_row: an object that vanished turns its row `failed` instead of losing the whole manifest.
    return _store_cls()(sink_for(sink_settings)).write_run(run_id, rows, on_missing="fail_row")


def write_manifest_stream(sink_settings: Any, run_id: str, rows: Iterable[ManifestRow], *, scratch_dir: str,
                          keep_parquet: str | None = None) -> Any:
    """write_manifest for rows streamed from disk (the run's journal): verified and written in chunks."""
    return _store_cls()(sink_for(sink_settings)).write_run_stream(
        run_id, rows, scratch_dir=scratch_dir, on_missing="fail_row", keep_parquet=keep_parquet)


def iter_manifest_file(path: str) -> Iterator[ManifestRow]:
    """Rows of a local Parquet manifest file, a record batch at a time."""
    return _resolve("iter_rows_from_parquet", "publishing.manifest")(path)


def read_latest_manifest(sink_settings: Any) -> list[ManifestRow]:
    """Rows of the latest published manifest, [] when there is none yet."""
    return list(_store_cls()(sink_for(sink_settings)).read_latest())


def manifest_uri(sink_settings: Any, run_id: str) -> str:
    """Where the run's JSON manifest lives (a path or an s3:// URI)."""
    return sink_for(sink_settings).uri_for(f"runs/{run_id}/manifest.json")
