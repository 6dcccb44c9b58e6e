"""Stored objects no manifest names: adopt what a dead publish task stored, sweep what nobody will name.

With the process, Dask and Ray runners a publish task can die (worker killed) after storing an item's
objects and before reporting them: the driver records the item `failed`, its journal row keeps the QC
scores and content key, and the objects sit in the sink unnamed. At manifest time:

1. `read_receipts` reads the receipts `publish_variant` wrote for this run
   ('runs/<run_id>/receipts/<sku>--<preset>.json': the stored Assets and the item's content key).
2. `Adoption.adopt(rows)` turns such a `failed` row `published` when its receipt names the same content
   key, every object verifies (size + SHA-256) and the row carries QC scores; other rows pass unchanged.
3. `sweep_orphans` (before the manifest is written) removes stored assets that neither this run's rows
   (`named`) nor any retained run manifest name - those this run stored (object metadata `run`), and any
   older than `SinkSettings.orphan_grace_s`. Younger ones of another run are `pending`: two runs may share a
   sink, and the other may still be publishing them (its manifest is written last; its receipts name them
   meanwhile).
4. After the manifest: `remove_receipts`, then `unaccounted(sink, run_id)` lists what the run invariants
   report as `orphan` (must be empty).

Only asset-shaped keys ('<sku>/<preset>/<stem>-<sha16>.<ext>') are ever candidates: runs/, latest/,
latest.json, the review queue (four segments) and hidden folders (the default work folder `<out>/.work`)
are never touched.

A row kept live from an earlier run (`unchanged`, this run's outcome `failed`) is not adopted: it carries
the earlier clip's key and scores, not the new ones, so the new objects are swept and the live video stays.
Known gap: two runs publishing byte-identical objects for the same (sku, preset) at the same moment - one
sweeping, the other between storing and writing its receipt - can cost the other that row (it then fails
its manifest's verification and is recorded `failed`; never a manifest naming a missing object, except in
the window between that verification and its manifest write).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field, ValidationError

from catalog_motion.errors import CatalogMotionError, PermanentError
from catalog_motion.types import ManifestRow
from publishing.publish import Receipt, asset_links, receipt_key, receipts_prefix
from publishing.sinks import Sink, StoredObject

ADOPTED_REASON = "adopted: stored by a publish task that died before reporting; objects verified"
LISTED = 10  # keys kept in a SweepReport per list; counts stay complete

_ASSET_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{16}(\.[A-Za-z0-9]+)?$")


def is_asset_key(key: str) -> bool:
    """True for keys publish_variant writes ('<sku>/<preset>/<stem>-<sha16>.<ext>'), outside runs/ and latest/."""
    parts = key.split("/")
    return len(parts) == 3 and parts[0] not in ("runs", "latest") and bool(_ASSET_FILE.match(parts[2]))


# ---- receipts -------------------------------------------------------------------------------------------
def read_receipts(sink: Sink, run_id: str) -> dict[tuple[str, str], Receipt]:
    """This run's receipts by (sku, preset). One that does not parse is left out (its objects then count as
    orphans of this run and are swept, never adopted on a guess)."""
    receipts: dict[tuple[str, str], Receipt] = {}
    for key in sink.list_keys(receipts_prefix(run_id)):
        receipt = _parse_receipt(sink, key)
        if receipt is not None and receipt.run_id == run_id:
            receipts[(receipt.sku, receipt.preset)] = receipt
    return receipts


class RunReceipts(Mapping[tuple[str, str], Receipt]):
    """This run's receipts by (sku, preset), each read when first asked for: adoption asks only for the
    rows that ended `failed`, so a run of any size reads a handful, not one per published item."""

    def __init__(self, sink: Sink, run_id: str):
        self.sink = sink
        self.run_id = run_id
        self._read: dict[tuple[str, str], Receipt | None] = {}

    def _get(self, slot: tuple[str, str]) -> Receipt | None:
        if slot not in self._read:
            receipt = _parse_receipt(self.sink, receipt_key(self.run_id, *slot))
            ok = receipt is not None and (receipt.run_id, receipt.sku, receipt.preset) == (self.run_id, *slot)
            self._read[slot] = receipt if ok else None
        return self._read[slot]

    def __contains__(self, slot: object) -> bool:
        return isinstance(slot, tuple) and self._get(slot) is not None

    def __getitem__(self, slot: tuple[str, str]) -> Receipt:
        receipt = self._get(slot)
        if receipt is None:
            raise KeyError(slot)
        return receipt

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(read_receipts(self.sink, self.run_id))

    def __len__(self) -> int:
        return len(self.sink.list_keys(receipts_prefix(self.run_id)))


def _parse_receipt(sink: Sink, key: str) -> Receipt | None:
    try:
        return Receipt.model_validate_json(sink.get_bytes(key))
    except (PermanentError, ValidationError, ValueError):
        return None  # gone meanwhile, or not a receipt


def remove_receipts(sink: Sink, run_id: str) -> int:
    """Delete this run's receipts (once its manifest is written and names what they named); how many."""
    return sink.delete_many(sink.list_keys(receipts_prefix(run_id)))


# ---- adoption -------------------------------------------------------------------------------------------
class Adoption:
    """Adopts `failed` rows whose receipt proves their objects were stored; `adopted` lists them.

    `adopt` may be run over the same rows more than once (a first pass collecting the asset keys to name,
    a second writing the manifest): each row is judged, and its objects verified, once.
    """

    def __init__(self, receipts: Mapping[tuple[str, str], Receipt], sink: Sink):
        self.receipts = receipts
        self.sink = sink
        self.adopted: list[tuple[str, str]] = []
        self.declined: dict[tuple[str, str], str] = {}  # (sku, preset) -> why its receipt was not used
        self._rows: dict[tuple[str, str], ManifestRow] = {}

    def adopt(self, rows: Iterable[ManifestRow]) -> Iterator[ManifestRow]:
        for row in rows:
            yield self.adopt_row(row)

    def adopt_row(self, row: ManifestRow) -> ManifestRow:
        slot = (row.sku, row.preset)
        if row.status != "failed" or slot not in self.receipts or slot in self.declined:
            return row
        if slot in self._rows:
            return self._rows[slot]
        receipt = self.receipts[slot]
        why = self._problem(row, receipt)
        if why:
            self.declined[slot] = why
            return row
        video, poster = asset_links(receipt.assets)
        adopted = row.model_copy(
            update={
                "status": "published",
                "reason": ADOPTED_REASON,
                "assets": list(receipt.assets),
                "video": video,
                "poster": poster,
                "published_run": receipt.run_id,
            }
        )
        self._rows[slot] = adopted
        self.adopted.append(slot)
        return adopted

    def _problem(self, row: ManifestRow, receipt: Receipt) -> str | None:
        if not row.key or receipt.key != row.key:
            return "receipt is for other content (content key differs)"
        if not row.qc:
            return "row carries no QC scores"
        if not any(a.kind.startswith("video") for a in receipt.assets):
            return "receipt names no video"
        try:
            checks = self.sink.verify_many([(a.key or "", a.size, a.sha256) for a in receipt.assets])
        except ValueError:
            return "receipt names an invalid key"
        if not all(checks):
            bad = next(a for a, ok in zip(receipt.assets, checks, strict=True) if not ok)
            return f"object {bad.key} missing or different (size/sha256)"
        return None


def adopt(rows: Iterable[ManifestRow], receipts: dict[tuple[str, str], Receipt], sink: Sink) -> Iterator[ManifestRow]:
    """`Adoption(receipts, sink).adopt(rows)` (use the class to learn what was adopted)."""
    return Adoption(receipts, sink).adopt(rows)


def asset_keys(rows: Iterable[ManifestRow]) -> set[str]:
    """Keys of every asset the rows name (what `sweep_orphans` must leave)."""
    return {asset.key for row in rows for asset in row.assets if asset.key}


# ---- finding and sweeping orphans -----------------------------------------------------------------------
@dataclass(frozen=True)
class Orphan:
    """A stored asset no manifest (and nothing the caller named) accounts for."""

    key: str
    size: int
    modified: float
    run: str | None  # the run that stored it (object metadata `run`), None if unknown
    pending: bool  # another run may still name it: younger than the grace period and not this run's


def _manifest_keys(sink: Sink, key: str) -> set[str]:
    keys: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="orphans-") as tmp:
        try:
            # The folder sink hands back the stored file itself; S3 downloads it (a whole catalog's manifest
            # stays on disk, and only the assets column is read).
            path = sink.local_copy(key, Path(tmp) / "manifest.parquet")
            for batch in pq.ParquetFile(str(path)).iter_batches(columns=["assets"]):
                flat = pc.list_flatten(batch.column(0))
                keys.update(k for k in flat.field("key").to_pylist() if k)
        except CatalogMotionError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for an unreadable file
            raise PermanentError(
                f"cannot read run manifest {sink.uri_for(key)} ({type(exc).__name__}); no orphan is removed while "
                "a manifest's objects are unknown - restore or delete that manifest"
            ) from None
    return keys


def _is_run_manifest(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 3 and parts[0] == "runs" and parts[2] == "manifest.parquet"


def keys_named_by_runs(sink: Sink) -> set[str]:
    """Asset keys named by any retained run manifest (runs/*/manifest.parquet, only its `assets` column)."""
    keys: set[str] = set()
    for key in sink.list_keys("runs/"):
        if _is_run_manifest(key):
            keys |= _manifest_keys(sink, key)
    return keys


def _receipt_objects(sink: Sink) -> list[tuple[str, StoredObject]]:
    """(run_id, receipt object) of every run's receipts."""
    found = []
    for obj in sink.list_objects("runs/"):
        parts = obj.key.split("/")
        if len(parts) == 4 and parts[2] == "receipts" and parts[3].endswith(".json"):
            found.append((parts[1], obj))
    return found


def _live_receipt_keys(sink: Sink, run_id: str | None, grace_s: float, now: float) -> tuple[set[str], list[str]]:
    """Asset keys other runs' recent receipts name (they may still be publishing), and the receipts older
    than the grace period (left by runs that died)."""
    named: set[str] = set()
    stale: list[str] = []
    for owner, obj in _receipt_objects(sink):
        if owner == run_id:
            continue  # this run's receipts are judged by adoption, not taken as naming
        if now - obj.modified >= grace_s:
            stale.append(obj.key)
            continue
        receipt = _parse_receipt(sink, obj.key)
        if receipt is not None:
            named.update(asset.key for asset in receipt.assets if asset.key)
    return named, stale


def _namer(named: Callable[[str], bool] | Collection[str]) -> Callable[[str], bool]:
    if callable(named):
        return named
    return named.__contains__


def find_orphans(
    sink: Sink,
    named: Callable[[str], bool] | Collection[str] = (),
    *,
    run_id: str | None = None,
    grace_s: float | None = None,
    now: float | None = None,
) -> list[Orphan]:
    """Every stored asset that no retained run manifest, no recent receipt of another run and `named` name.

    run_id: the run asking; its objects are never `pending`, and its own receipts do not count as naming.
    grace_s: default `sink.settings.orphan_grace_s`. now: Unix time (tests).
    """
    grace = sink.settings.orphan_grace_s if grace_s is None else grace_s
    return _find(sink, _namer(named), run_id, grace, time.time() if now is None else now)[0]


def _find(
    sink: Sink, is_named: Callable[[str], bool], run_id: str | None, grace: float, now: float
) -> tuple[list[Orphan], list[str]]:
    """(orphans, stale receipts of other runs)."""
    by_receipts, stale = _live_receipt_keys(sink, run_id, grace, now)
    candidates = [o for o in sink.list_objects("") if is_asset_key(o.key) and not is_named(o.key)]
    if not candidates:
        return [], stale
    by_runs = keys_named_by_runs(sink)
    orphans = []
    for obj in candidates:
        if obj.key in by_runs or obj.key in by_receipts:
            continue
        run = sink.metadata(obj.key).get("run") or None
        pending = now - obj.modified < grace and (run_id is None or run != run_id)
        orphans.append(Orphan(key=obj.key, size=obj.size, modified=obj.modified, run=run, pending=pending))
    return orphans, stale


def unaccounted(sink: Sink, run_id: str, *, grace_s: float | None = None) -> list[str]:
    """Keys of orphans that are not `pending` once the run's manifest is written and its receipts removed:
    what `check_run_invariants(..., orphans=...)` reports (an empty list when the sweep did its work)."""
    return [o.key for o in find_orphans(sink, run_id=run_id, grace_s=grace_s) if not o.pending]


class SweepReport(BaseModel):
    """What `sweep_orphans` did (counts complete, keys the first few)."""

    removed: int = 0
    pending: int = 0
    adopted: int = 0
    receipts_removed: int = Field(default=0, description="Receipts of other runs older than the grace period")
    removed_keys: list[str] = Field(default_factory=list)
    pending_keys: list[str] = Field(default_factory=list)
    adopted_items: list[str] = Field(default_factory=list, description="'sku/preset' of adopted rows")

    def summary(self) -> dict[str, Any]:
        """A small JSON-friendly digest for the run summary."""
        return {
            "removed": self.removed,
            "pending": self.pending,
            "adopted": self.adopted,
            "receipts_removed": self.receipts_removed,
            "first_removed": self.removed_keys[:3],
            "first_pending": self.pending_keys[:3],
            "first_adopted": self.adopted_items[:3],
        }


def sweep_orphans(
    sink: Sink,
    run_id: str,
    named: Callable[[str], bool] | Collection[str] = (),
    *,
    adopted: Sequence[tuple[str, str]] = (),
    grace_s: float | None = None,
    now: float | None = None,
) -> SweepReport:
    """Remove the orphans this run stored and those older than the grace period; report the rest as
    pending. Run it before the manifest is written, with `named` = every asset key of the rows it will hold
    (adopted ones included: `adopted` only feeds the report)."""
    grace = sink.settings.orphan_grace_s if grace_s is None else grace_s
    found, stale = _find(sink, _namer(named), run_id, grace, time.time() if now is None else now)
    removable = [o.key for o in found if not o.pending]
    pending = [o.key for o in found if o.pending]
    if removable:
        sink.delete_many(removable)
    if stale:
        sink.delete_many(stale)
    return SweepReport(
        removed=len(removable),
        pending=len(pending),
        adopted=len(adopted),
        receipts_removed=len(stale),
        removed_keys=removable[:LISTED],
        pending_keys=pending[:LISTED],
        adopted_items=[f"{sku}/{preset}" for sku, preset in adopted[:LISTED]],
    )
