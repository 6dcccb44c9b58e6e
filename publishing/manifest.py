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
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from catalog_motion.errors import CatalogMotionError, PermanentError, TransientError, describe_exception
from catalog_motion.paths import safe_segment
from catalog_motion.types import STANDING, Asset, ManifestRow, ReviewRecord
from publishing.rows import failed_row
from publishing.sinks import Sink

LATEST_POINTER = "latest.json"


class ManifestError(TransientError):
    """The manifest could not be written because objects it names are missing (the next run completes it)."""


class RunInfo(BaseModel):
    """What a run was, kept in its manifest's header (None in manifests written before these fields)."""

    catalog: str | None = Field(default=None, description="The catalog path or URI the run read")
    started_at: str | None = Field(default=None, description="When the run started (UTC, ISO 8601)")


class RunManifest(RunInfo):
    """The stored document: the header (RunInfo's fields first, then these) and, last, the rows."""

    run_id: str
    created_at: str
    counts: dict[str, int] = Field(default_factory=dict, description="Rows per status")
    rows: list[ManifestRow]


_ASSET_TYPE = pa.struct(
    [
        ("kind", pa.string()),
        ("uri", pa.string()),
        ("size", pa.int64()),
        ("sha256", pa.string()),
        ("content_type", pa.string()),
        ("key", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("sku", pa.string()),
        ("preset", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("video", pa.string()),
        ("poster", pa.string()),
        ("engine", pa.string()),
        ("seed", pa.int64()),
        ("attempts", pa.int64()),
        ("key", pa.string()),
        ("source_sha256", pa.string()),
        ("qc", pa.map_(pa.string(), pa.float64())),
        ("timings", pa.map_(pa.string(), pa.float64())),
        ("params_json", pa.string()),
        ("assets", pa.list_(_ASSET_TYPE)),
        ("ignored_rows", pa.list_(pa.string())),
        ("unchanged", pa.bool_()),
        ("published_run", pa.string()),
        ("outcome", pa.string()),
        ("review_json", pa.string()),  # the reviewer's decision (catalog_motion.types.ReviewRecord), or null
    ]
)


class RunEntry(BaseModel):
    """One line of `manifest list`: a kept run's header."""

    run_id: str
    started_at: str | None = Field(default=None, description="Start (UTC); from the run id for older manifests")
    created_at: str = Field(description="When the manifest was written (UTC)")
    catalog: str | None = Field(default=None, description="Catalog the run read (None in older manifests)")
    counts: dict[str, int] = Field(default_factory=dict, description="Rows per status")
    latest: bool = Field(default=False, description="Whether `latest` points at this run")


_RUN_ID_TIME = re.compile(r"^(\d{8}T\d{6}Z)-")


def started_at_from_run_id(run_id: str) -> str | None:
    """The start time a run id made by the flow (`%Y%m%dT%H%M%SZ-<hex>`) encodes; None for other ids."""
    match = _RUN_ID_TIME.match(run_id)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return None


class RowChange(BaseModel):
    """One (sku, preset) that differs between two runs' manifests."""

    change: Literal["added", "removed", "replaced", "status"] = Field(
        description="added/removed: the row is in one run only; replaced: published in both with another video; "
        "status: its status changed"
    )
    sku: str
    preset: str
    before: str | None = Field(default=None, description="Status in the first run (None: absent)")
    after: str | None = Field(default=None, description="Status in the second run (None: absent)")
    reason: str = Field(default="", description="The reason of the row as it is in the second run (else the first)")
    video_before: str | None = None
    video_after: str | None = None


class ManifestDiff(BaseModel):
    """What changed from run_a to run_b, row by (sku, preset); rows equal in both are only counted."""

    run_a: str
    run_b: str
    changes: list[RowChange] = Field(default_factory=list)
    unchanged: int = Field(default=0, description="Rows present in both with the same status and video")

    def counts(self) -> dict[str, int]:
        counts = {kind: 0 for kind in ("added", "replaced", "removed", "status")}
        for change in self.changes:
            counts[change.change] += 1
        return counts


_CHANGE_ORDER = {"added": 0, "replaced": 1, "removed": 2, "status": 3}


def diff_manifests(a: RunManifest, b: RunManifest) -> ManifestDiff:
    """Rows added, replaced (a new video for a row published in both), removed and changed in status from
    `a` to `b`. Both are compared as `latest` reads them, so an unchanged (skipped) row is not a change."""
    before = {(r.sku, r.preset): _live_view(r, a.run_id) for r in a.rows}
    after = {(r.sku, r.preset): _live_view(r, b.run_id) for r in b.rows}
    diff = ManifestDiff(run_a=a.run_id, run_b=b.run_id)
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old.status == new.status:
            if new.status in STANDING and old.video != new.video:
                change = "replaced"
            else:
                diff.unchanged += 1
                continue
        elif old is None:
            change = "added"
        elif new is None:
            change = "removed"
        else:
            change = "status"
        shown = new if new is not None else old
        diff.changes.append(
            RowChange(
                change=change,
                sku=key[0],
                preset=key[1],
                before=old.status if old is not None else None,
                after=new.status if new is not None else None,
                reason=shown.reason,
                video_before=old.video if old is not None else None,
                video_after=new.video if new is not None else None,
            )
        )
    diff.changes.sort(key=lambda c: (_CHANGE_ORDER[c.change], c.sku, c.preset))
    return diff


def check_run_id(run_id: str) -> str:
    if not run_id or safe_segment(run_id) != run_id:
        raise PermanentError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-'")
    return run_id


class LatestNotPromoted(CatalogMotionError):
    """A run's manifest was written under runs/<run_id>/ but not made `latest` (the reason says why)."""


class Promotion(BaseModel):
    """Whether a written run manifest becomes `latest`: `blocked` (a reason found before writing, e.g. every
    row of the run invalid) or a shrink of the live rows beyond `max_shrink` keeps it from being promoted."""

    live_before: int = Field(default=0, ge=0, description="Live (published) rows of the current `latest`")
    max_shrink: float = Field(default=0.2, ge=0.0, le=1.0, description="Largest share of them a run may lose")
    allow_shrink: bool = Field(default=False, description="Promote whatever the shrink (--allow-shrink)")
    blocked: str | None = Field(default=None, description="Why the run must not be promoted, if known before")

    def problem(self, live_after: int) -> str | None:
        """Why a manifest with `live_after` live rows must not become `latest` (None: it may)."""
        if self.blocked:
            return self.blocked
        lost = self.live_before - live_after
        if self.allow_shrink or self.live_before == 0 or lost <= self.max_shrink * self.live_before:
            return None
        return (
            f"it would take {lost} of the {self.live_before} live videos out of latest "
            f"({lost / self.live_before:.0%} > latest.max_shrink {self.max_shrink:.0%}); "
            "re-run with --allow-shrink if that is intended"
        )


class ManifestSummary(BaseModel):
    """What `write_run` wrote: the manifest's header, without its rows (they stay on disk)."""

    run_id: str
    created_at: str
    counts: dict[str, int] = Field(default_factory=dict, description="Rows per status")
    n_rows: int = 0
    live_rows: int = Field(default=0, description="Rows whose assets are live (published)")
    promoted: bool = Field(default=True, description="Whether the manifest became `latest`")
    not_promoted: str | None = Field(default=None, description="Why it did not become `latest`")
    adopted: list[str] = Field(default_factory=list, description="'sku/preset' rows adopted from receipts")
    orphans: dict[str, Any] = Field(default_factory=dict, description="What the orphan sweep did (counts)")
    parquet: str | None = Field(default=None, description="Local copy of the stored Parquet manifest, if kept")


STREAM_CHUNK_ROWS = 2000
"""Rows verified, converted and written at a time by `write_run` (one Parquet row group each)."""


def _rows_table(run_id: str, rows: list[ManifestRow]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for row in rows:
        columns["run_id"].append(run_id)
        for name in (
            "sku",
            "preset",
            "status",
            "reason",
            "video",
            "poster",
            "engine",
            "seed",
            "attempts",
            "key",
            "source_sha256",
            "unchanged",
            "published_run",
            "outcome",
        ):
            columns[name].append(getattr(row, name))
        columns["qc"].append(list(row.qc.items()))
        columns["timings"].append(list(row.timings.items()))
        columns["params_json"].append(json.dumps(row.params, sort_keys=True, default=str))
        columns["assets"].append([asset.model_dump() for asset in row.assets])
        columns["ignored_rows"].append(list(row.ignored_rows))
        columns["review_json"].append(row.review.model_dump_json() if row.review is not None else None)
    return pa.table(columns, schema=SCHEMA)


def _row_from_record(record: dict) -> ManifestRow:
    return ManifestRow(
        sku=record["sku"],
        preset=record["preset"],
        status=record["status"],
        reason=record["reason"] or "",
        video=record["video"],
        poster=record["poster"],
        engine=record["engine"],
        seed=record["seed"],
        attempts=record["attempts"] or 0,
        key=record["key"],
        source_sha256=record["source_sha256"],
        qc=dict(record["qc"] or []),
        timings=dict(record["timings"] or []),
        params=json.loads(record["params_json"] or "{}"),
        assets=[Asset(**asset) for asset in record["assets"] or []],
        ignored_rows=list(record.get("ignored_rows") or []),
        # Columns added in 0.2 (older manifests have none): absent means a row of the run that wrote it.
        unchanged=bool(record.get("unchanged") or False),
        published_run=record.get("published_run"),
        outcome=record.get("outcome"),
        review=ReviewRecord.model_validate_json(record["review_json"]) if record.get("review_json") else None,
    )


def rows_from_parquet(data: bytes) -> list[ManifestRow]:
    return [_row_from_record(record) for record in pq.read_table(io.BytesIO(data)).to_pylist()]


def iter_rows_from_parquet(source: bytes | str | Path, batch_rows: int = STREAM_CHUNK_ROWS) -> Iterator[ManifestRow]:
    """Rows of a Parquet manifest (its bytes or a local file), decoded one record batch at a time."""
    handle = pq.ParquetFile(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    for batch in handle.iter_batches(batch_size=batch_rows):
        for record in batch.to_pylist():
            yield _row_from_record(record)


def _json_frame(run_id: str, created_at: str, counts: dict[str, int], info: RunInfo, *, empty: bool) -> tuple[str, str]:
    """Text before and after the rows of RunManifest.model_dump_json(indent=1), so rows can be streamed
    between them and the file is byte for byte `RunManifest.model_dump_json(indent=1)`."""
    header = RunManifest(run_id=run_id, created_at=created_at, counts=counts, rows=[], **info.model_dump())
    whole = header.model_dump_json(indent=1)
    end = "[]\n}"
    assert whole.endswith(end), whole[-20:]
    if empty:
        return whole, ""
    return whole[: -len(end)] + "[\n", "\n ]\n}"


def _row_json(row: ManifestRow) -> str:
    # A row sits two levels deep in the manifest (object → "rows" list); its own JSON escapes any
    # newline inside strings, so re-indenting line by line is exact.
    return "  " + row.model_dump_json(indent=1).replace("\n", "\n  ")


def _chunks(rows: Iterable[ManifestRow], size: int) -> Iterator[list[ManifestRow]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _live_view(row: ManifestRow, run_id: str) -> ManifestRow:
    if row.status not in STANDING:
        return row
    update: dict = {}
    if row.published_run is None and row.status == "published":
        update["published_run"] = run_id
    if row.status == "skipped":
        update.update(status="published", unchanged=True, outcome="skipped")
    return row.model_copy(update=update) if update else row


def _fail_missing(rows: list[ManifestRow], missing: list[tuple[ManifestRow, Asset]]) -> list[ManifestRow]:
    """Rows naming a missing object become `failed` (reason names the object, assets dropped)."""
    bad = {(row.sku, row.preset): asset for row, asset in missing}
    fixed = []
    for row in rows:
        asset = bad.get((row.sku, row.preset))
        if asset is None:
            fixed.append(row)
        else:
            fixed.append(failed_row(row, f"publish: object {asset.key or asset.uri} missing after upload"))
    return fixed


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
        bad = {id(asset) for (_, asset), ok in zip(checked, results, strict=True) if not ok}
        return [(row, asset) for row, asset in pairs if not asset.key or id(asset) in bad]

    # ---- writing --------------------------------------------------------------------------------
    def write_run(
        self,
        run_id: str,
        rows: Iterable[ManifestRow],
        *,
        scratch_dir: str | Path | None = None,
        on_missing: Literal["raise", "fail_row"] = "raise",
        chunk_rows: int = STREAM_CHUNK_ROWS,
        keep_parquet: str | Path | None = None,
        promotion: Promotion | None = None,
        info: RunInfo | None = None,
    ) -> ManifestSummary:
        """Verify every object the rows name, then write runs/<run_id>/manifest.{parquet,json} and make it
        `latest` (the pointer last). Rows stream: they are verified and serialised `chunk_rows` at a time
        into local files under `scratch_dir` (default: the system temp folder), so a manifest of any size
        is written in flat memory, and nothing is stored until every chunk has been verified.

        on_missing="raise": a missing object raises ManifestError and nothing is written.
        on_missing="fail_row": rows naming a missing object become `failed` (reason names the object,
        assets dropped), so the manifest still accounts for every (sku, preset).
        keep_parquet: move the stored Parquet file there afterwards (to re-read what was written without
        downloading it; `iter_rows_from_parquet`).
        promotion: when its `problem` names one, the run's files are written but `latest` stays as it was
        (the summary says why); None promotes unconditionally.
        info: the run's catalog and start time, kept in the manifest's header for `manifest list`."""
        check_run_id(run_id)
        if scratch_dir is not None:
            Path(scratch_dir).mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"manifest-{run_id}-", dir=scratch_dir))
        try:
            parquet_path, json_path, body_path = (
                scratch / "manifest.parquet",
                scratch / "manifest.json",
                scratch / "rows.part",
            )
            counts: dict[str, int] = {}
            n_rows = n_missing = 0
            first_missing: tuple[ManifestRow, Asset] | None = None
            writer = pq.ParquetWriter(parquet_path, SCHEMA, compression="zstd")
            try:
                with open(body_path, "w", encoding="utf-8") as body:
                    for chunk in _chunks(rows, chunk_rows):
                        missing = self.missing_objects(chunk)
                        if missing:
                            n_missing += len(missing)
                            first_missing = first_missing or missing[0]
                            chunk = _fail_missing(chunk, missing)
                        if n_missing and on_missing == "raise":
                            continue  # nothing will be written; go on only to count what is missing
                        writer.write_table(_rows_table(run_id, chunk))
                        for row in chunk:
                            counts[row.status] = counts.get(row.status, 0) + 1
                            body.write((",\n" if n_rows else "") + _row_json(row))
                            n_rows += 1
            finally:
                writer.close()
            if n_missing and on_missing == "raise":
                row, asset = first_missing
                raise ManifestError(
                    f"manifest for run {run_id} not written: {n_missing} object(s) missing or different in the "
                    f"sink, first {asset.key or asset.uri} ({row.sku}/{row.preset})"
                )
            created_at = datetime.now(UTC).isoformat(timespec="seconds")
            head, tail = _json_frame(run_id, created_at, counts, info or RunInfo(), empty=not n_rows)
            with open(json_path, "w", encoding="utf-8") as out, open(body_path, encoding="utf-8") as body:
                out.write(head)
                shutil.copyfileobj(body, out)
                out.write(tail)
            live = sum(counts.get(status, 0) for status in STANDING)
            problem = promotion.problem(live) if promotion is not None else None
            summary = ManifestSummary(
                run_id=run_id,
                created_at=created_at,
                counts=counts,
                n_rows=n_rows,
                live_rows=live,
                promoted=problem is None,
                not_promoted=problem,
            )
            self._put_view_files(f"runs/{run_id}", parquet_path, json_path)
            if problem is None:
                self._put_view_files("latest", parquet_path, json_path)
                self._put_pointer(run_id, created_at)
            if keep_parquet is not None:
                Path(keep_parquet).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(parquet_path, keep_parquet)
                summary.parquet = str(keep_parquet)
            return summary
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _put_view_files(self, base: str, parquet_path: Path, json_path: Path) -> None:
        cache = self.sink.settings.manifest_cache_control
        self.sink.put(
            parquet_path,
            f"{base}/manifest.parquet",
            "application/vnd.apache.parquet",
            kind="manifest_parquet",
            cache_control=cache,
        )
        self.sink.put(json_path, f"{base}/manifest.json", "application/json", kind="manifest_json", cache_control=cache)

    def _put_pointer(self, run_id: str, created_at: str) -> None:
        pointer = {
            "run_id": run_id,
            "created_at": created_at,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.sink.put_bytes(
            json.dumps(pointer).encode(),
            LATEST_POINTER,
            "application/json",
            kind="manifest_pointer",
            cache_control=self.sink.settings.manifest_cache_control,
        )

    # ---- reading --------------------------------------------------------------------------------
    def read_manifest(self, run_id: str) -> RunManifest:
        check_run_id(run_id)
        try:
            data = self.sink.get_bytes(f"runs/{run_id}/manifest.json")
        except PermanentError:
            raise PermanentError(
                f"no manifest for run {run_id!r}; known runs: {', '.join(self.list_runs()) or 'none'}"
            ) from None
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
        """Rows of the current run ([] before the first run), as this version writes them: a live row names
        the run that published it, and an unchanged row of an older manifest (`skipped`) is `published`."""
        run_id = self.latest_run_id()
        if not run_id:
            return []
        return [_live_view(row, run_id) for row in self.read_run(run_id)]

    def list_runs(self) -> list[str]:
        runs = {key.split("/")[1] for key in self.sink.list_keys("runs/") if key.endswith("/manifest.json")}
        return sorted(runs)

    def run_index(self) -> list[RunEntry]:
        """Every kept run with its start time, catalog, counts and whether it is `latest`, newest first."""
        latest = self.latest_run_id()
        entries = []
        for run_id in self.list_runs():
            try:
                manifest = self.read_manifest(run_id)
            except ValueError as exc:  # pydantic's ValidationError: a damaged file, not a missing one
                raise PermanentError(
                    f"run {run_id}: {self.sink.uri_for(f'runs/{run_id}/manifest.json')} is not a readable run "
                    f"manifest ({describe_exception(exc)[:200]})"
                ) from None
            entries.append(
                RunEntry(
                    run_id=run_id,
                    started_at=manifest.started_at or started_at_from_run_id(run_id),
                    created_at=manifest.created_at,
                    catalog=manifest.catalog,
                    counts=manifest.counts,
                    latest=run_id == latest,
                )
            )
        return sorted(entries, key=lambda e: (e.started_at or e.created_at, e.created_at, e.run_id), reverse=True)

    def rollback(self, run_id: str) -> RunManifest:
        """Make an earlier run's manifest `latest` again (its objects must all still be stored)."""
        manifest = self.read_manifest(run_id)
        missing = self.missing_objects(manifest.rows)
        if missing:
            raise PermanentError(
                f"cannot roll back to {run_id}: {len(missing)} object(s) it names are gone, first {missing[0][1].key}"
            )
        # `latest` becomes a copy of the run's own stored files, byte for byte, then the pointer moves.
        cache = self.sink.settings.manifest_cache_control
        for name, content_type, kind in (
            ("manifest.parquet", "application/vnd.apache.parquet", "manifest_parquet"),
            ("manifest.json", "application/json", "manifest_json"),
        ):
            self.sink.put_bytes(
                self.sink.get_bytes(f"runs/{run_id}/{name}"),
                f"latest/{name}",
                content_type,
                kind=kind,
                cache_control=cache,
            )
        self._put_pointer(manifest.run_id, manifest.created_at)
        return manifest
