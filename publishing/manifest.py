"""The run manifest: one row per (sku, preset), as Parquet (for analytics) and JSON (for storefronts).

Layout in the sink:
    runs/<run_id>/manifest.json|parquet   one per run, never deleted (older versions stay)
    latest/manifest.json|parquet          copy of the current run's manifest
    latest.json                           pointer {"run_id": ...}, written last: the commit point

A manifest is written only after every object it names has been checked in the sink (size and SHA-256),
so no reader ever follows a row to a missing object. `rollback(run_id)` re-points `latest` to an older run
(after checking that run's objects are still there).
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from catalog_motion.errors import PermanentError, TransientError
from catalog_motion.paths import safe_segment
from catalog_motion.types import Asset, ManifestRow
from publishing.sinks import Sink

LATEST_POINTER = "latest.json"


class ManifestError(TransientError):
    """The manifest could not be written because objects it names are missing (the next run completes it)."""


class RunManifest(BaseModel):
    run_id: str
    created_at: str
    counts: dict[str, int] = Field(default_factory=dict, description="Rows per status")
    rows: list[ManifestRow]


_ASSET_TYPE = pa.struct([
    ("kind", pa.string()), ("uri", pa.string()), ("size", pa.int64()), ("sha256", pa.string()),
    ("content_type", pa.string()), ("key", pa.string()),
])
SCHEMA = pa.schema([
    ("run_id", pa.string()), ("sku", pa.string()), ("preset", pa.string()), ("status", pa.string()),
    ("reason", pa.string()), ("video", pa.string()), ("poster", pa.string()), ("engine", pa.string()),
    ("seed", pa.int64()), ("attempts", pa.int64()), ("key", pa.string()), ("source_sha256", pa.string()),
    ("qc", pa.map_(pa.string(), pa.float64())), ("timings", pa.map_(pa.string(), pa.float64())),
    ("params_json", pa.string()), ("assets", pa.list_(_ASSET_TYPE)),
])


def check_run_id(run_id: str) -> str:
    if not run_id or safe_segment(run_id) != run_id:
        raise PermanentError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-'")
    return run_id


def to_parquet_bytes(run_id: str, rows: list[ManifestRow]) -> bytes:
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for row in rows:
        columns["run_id"].append(run_id)
        for name in ("sku", "preset", "status", "reason", "video", "poster", "engine", "seed", "attempts", "key",
                     "source_sha256"):
            columns[name].append(getattr(row, name))
        columns["qc"].append(list(row.qc.items()))
        columns["timings"].append(list(row.timings.items()))
        columns["params_json"].append(json.dumps(row.params, sort_keys=True, default=str))
        columns["assets"].append([asset.model_dump() for asset in row.assets])
    table = pa.table(columns, schema=SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def rows_from_parquet(data: bytes) -> list[ManifestRow]:
    table = pq.read_table(io.BytesIO(data))
    rows = []
    for record in table.to_pylist():
        rows.append(ManifestRow(
            sku=record["sku"], preset=record["preset"], status=record["status"], reason=record["reason"] or "",
            video=record["video"], poster=record["poster"], engine=record["engine"], seed=record["seed"],
            attempts=record["attempts"] or 0, key=record["key"], source_sha256=record["source_sha256"],
            qc=dict(record["qc"] or []), timings=dict(record["timings"] or []),
            params=json.loads(record["params_json"] or "{}"),
            assets=[Asset(**asset) for asset in record["assets"] or []],
        ))
    return rows


class ManifestStore:
    """Per-run manifests and the `latest` view in one sink."""

    def __init__(self, sink: Sink):
        self.sink = sink

    # ---- checking -------------------------------------------------------------------------------
    def missing_objects(self, rows: list[ManifestRow]) -> list[tuple[ManifestRow, Asset]]:
        """(row, asset) pairs whose object is absent, or differs in size or checksum, in the sink."""
        pairs = [(row, asset) for row in rows for asset in row.assets]
        checked = [(row, asset) for row, asset in pairs if asset.key]
        results = self.sink.verify_many([(a.key, a.size, a.sha256) for _, a in checked])
        bad = {id(asset) for (_, asset), ok in zip(checked, results) if not ok}
        return [(row, asset) for row, asset in pairs if not asset.key or id(asset) in bad]

    # ---- writing --------------------------------------------------------------------------------
    def write_run(self, run_id: str, rows: list[ManifestRow],
                  on_missing: Literal["raise", "fail_row"] = "raise") -> RunManifest:
        """Verify every named object, then write runs/<run_id>/manifest.* and make it `latest`.

        on_missing="raise": a missing object raises ManifestError and nothing is written.
        on_missing="fail_row": rows naming a missing object become `failed` (reason names the object,
        assets dropped), so the manifest still accounts for every (sku, preset).
        """
        check_run_id(run_id)
        missing = self.missing_objects(rows)
        if missing:
            if on_missing == "raise":
                row, asset = missing[0]
                raise ManifestError(
                    f"manifest for run {run_id} not written: {len(missing)} object(s) missing or different in the "
                    f"sink, first {asset.key or asset.uri} ({row.sku}/{row.preset})")
            bad = {(row.sku, row.preset): asset for row, asset in missing}
            fixed = []
            for row in rows:
                asset = bad.get((row.sku, row.preset))
                if asset is None:
                    fixed.append(row)
                else:
                    fixed.append(row.model_copy(update={
                        "status": "failed", "assets": [], "video": None, "poster": None,
                        "reason": f"publish: object {asset.key or asset.uri} missing after upload"}))
            rows = fixed
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        manifest = RunManifest(run_id=run_id, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               counts=counts, rows=rows)
        self._write_views(f"runs/{run_id}", manifest)
        self._point_latest(manifest)
        return manifest

    def _write_views(self, base: str, manifest: RunManifest) -> None:
        cache = self.sink.settings.manifest_cache_control
        self.sink.put_bytes(to_parquet_bytes(manifest.run_id, manifest.rows), f"{base}/manifest.parquet",
                            "application/vnd.apache.parquet", kind="manifest_parquet", cache_control=cache)
        self.sink.put_bytes(manifest.model_dump_json(indent=1).encode(), f"{base}/manifest.json",
                            "application/json", kind="manifest_json", cache_control=cache)

    def _point_latest(self, manifest: RunManifest) -> None:
        self._write_views("latest", manifest)
        pointer = {"run_id": manifest.run_id, "created_at": manifest.created_at,
                   "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.sink.put_bytes(json.dumps(pointer).encode(), LATEST_POINTER, "application/json",
                            kind="manifest_pointer", cache_control=self.sink.settings.manifest_cache_control)

    # ---- reading --------------------------------------------------------------------------------
    def read_manifest(self, run_id: str) -> RunManifest:
        check_run_id(run_id)
        try:
            data = self.sink.get_bytes(f"runs/{run_id}/manifest.json")
        except PermanentError:
            raise PermanentError(f"no manifest for run {run_id!r}; known runs: {', '.join(self.list_runs()) or 'none'}") from None
        return RunManifest.model_validate_json(data)

    def read_run(self, run_id: str) -> list[ManifestRow]:
        return self.read_manifest(run_id).rows

    def read_run_parquet(self, run_id: str) -> list[ManifestRow]:
        return rows_from_parquet(self.sink.get_bytes(f"runs/{check_run_id(run_id)}/manifest.parquet"))

    def latest_run_id(self) -> str | None:
        if not self.sink.exists(LATEST_POINTER):
            return None
        return json.loads(self.sink.get_bytes(LATEST_POINTER))["run_id"]

    def read_latest(self) -> list[ManifestRow]:
        """Rows of the current run ([] before the first run)."""
        run_id = self.latest_run_id()
        return self.read_run(run_id) if run_id else []

    def list_runs(self) -> list[str]:
        runs = {key.split("/")[1] for key in self.sink.list_keys("runs/") if key.endswith("/manifest.json")}
        return sorted(runs)

    def rollback(self, run_id: str) -> RunManifest:
        """Make an earlier run's manifest `latest` again (its objects must all still be stored)."""
        manifest = self.read_manifest(run_id)
        missing = self.missing_objects(manifest.rows)
        if missing:
            raise PermanentError(f"cannot roll back to {run_id}: {len(missing)} object(s) it names are gone, "
                                 f"first {missing[0][1].key}")
        self._point_latest(manifest)
        return manifest
