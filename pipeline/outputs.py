"""What a run writes besides clips: the manifest, the QC table and the QC suite's verdict.

The run keeps its rows on disk, never all in memory: manifest rows stream from the run's journal, QC
rows from a spool (`quality.table.QCSpool`); the QC suite reads back only the columns it checks.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from catalog_motion.paths import safe_segment
from catalog_motion.settings import SinkSettings
from catalog_motion.types import ManifestRow
from pipeline.journal import RunJournal
from publishing import orphans
from publishing.manifest import ManifestStore, ManifestSummary, Promotion, RunInfo
from publishing.sinks import Sink, make_sink
from quality.expectations import validate_qc_table
from quality.table import CORE_SCORES, QCSpool

_SINKS: dict[str, Sink] = {}
_SINKS_LOCK = threading.Lock()


class QCSuiteFailed(Exception):
    """The run's QC table failed the great-expectations suite (raised by the validation task)."""


def sink_for(settings: SinkSettings) -> Sink:
    """One sink per process and settings (S3 clients are reusable and thread-safe)."""
    key = json.dumps(settings.model_dump(mode="json"), sort_keys=True)
    with _SINKS_LOCK:
        if key not in _SINKS:
            _SINKS[key] = make_sink(settings)
        return _SINKS[key]


def read_latest_manifest(settings: SinkSettings) -> list[ManifestRow]:
    """Rows of the latest published manifest, [] when there is none yet."""
    return ManifestStore(sink_for(settings)).read_latest()


def latest_run_id(settings: SinkSettings) -> str | None:
    """The run `latest` points at (None before the first run)."""
    return ManifestStore(sink_for(settings)).latest_run_id()


def manifest_uri(settings: SinkSettings, run_id: str) -> str:
    """Where the run's JSON manifest lives (a path or an s3:// URI)."""
    return sink_for(settings).uri_for(f"runs/{run_id}/manifest.json")


def write_run_manifest(
    settings: SinkSettings,
    run_id: str,
    journal: str | Path,
    refused: Iterable[ManifestRow],
    carried: Iterable[ManifestRow],
    work_dir: str | Path,
    promotion: Promotion | None = None,
    info: RunInfo | None = None,
) -> ManifestSummary:
    """Write the run manifest once every object it names is stored. Rows, in order: the refused catalog
    rows, the run's journal (streamed from disk: every finished item, resumed ones included) and the rows
    carried from `latest` (publishing.rows.CarryForward). An object that vanished turns its row `failed`
    rather than losing the manifest. `promotion` decides whether it becomes `latest` (the summary says).

    Before writing, objects a publish task stored but died before reporting are settled
    (publishing/orphans.py): a `failed` row whose receipt proves its objects verify is adopted
    (`published`), and every other object no manifest names that this run stored is removed. The summary's
    `parquet` is a local copy of what was stored (for the invariants)."""
    refused, carried = list(refused), list(carried)
    sink = sink_for(settings)
    adoption = orphans.Adoption(orphans.RunReceipts(sink, run_id), sink)

    def rows() -> Iterator[ManifestRow]:
        return itertools.chain(refused, adoption.adopt(RunJournal.at(journal).rows()), carried)

    sweep = orphans.sweep_orphans(sink, run_id, orphans.asset_keys(rows()), adopted=adoption.adopted)
    if adoption.adopted and promotion is not None and promotion.blocked:
        promotion = promotion.model_copy(update={"blocked": None})  # an adopted row is a published one
    scratch = Path(work_dir) / "manifest"
    summary = ManifestStore(sink).write_run(
        run_id,
        rows(),
        scratch_dir=scratch,
        on_missing="fail_row",
        keep_parquet=scratch / f"{run_id}.parquet",
        info=info,
        promotion=promotion,
    )
    orphans.remove_receipts(sink, run_id)
    summary.adopted = [f"{sku}/{preset}" for sku, preset in adoption.adopted]
    summary.orphans = sweep.summary()
    return summary


def unaccounted_objects(settings: SinkSettings, run_id: str) -> list[str]:
    """Stored assets no manifest names once the run's manifest is written (the invariants want none)."""
    return orphans.unaccounted(sink_for(settings), run_id)


def local_qc_table_path(work_dir: str | Path, run_id: str) -> Path:
    """Where the run's QC table is written before it is stored (kept until the suite has read it)."""
    return Path(work_dir) / "qc" / f"{safe_segment(run_id)}.parquet"


def qc_spool_path(work_dir: str | Path, run_id: str) -> Path:
    """Where the flow spools the run's QC rows (JSON lines) while batches finish."""
    return Path(work_dir) / "qc" / f"{safe_segment(run_id)}.jsonl"


def store_qc_table(settings: SinkSettings, run_id: str, spool: str | Path, work_dir: str | Path) -> str:
    """Convert the run's QC spool (in chunks) to a local Parquet table, store it as
    `runs/<run_id>/qc.parquet`; its URI. The local file stays for `validate_qc` (the flow removes it)."""
    local = local_qc_table_path(work_dir, run_id)
    QCSpool.existing(spool).write_parquet(local)
    key = f"runs/{run_id}/qc.parquet"
    sink = sink_for(settings)
    sink.put(local, key, "application/vnd.apache.parquet", {"run": run_id}, kind="qc-table")
    return sink.uri_for(key)


def validate_qc(table: str | Path, docs_dir: str | Path, *, min_pass_rate: float) -> dict[str, Any]:
    """The GX QC suite over a QC-table Parquet file, reading only the columns the suite checks (an empty
    table - nothing checked this run - is not validated)."""
    import pyarrow.parquet as pq

    present = set(pq.read_schema(table).names)
    frame = pq.read_table(table, columns=[c for c in (*CORE_SCORES, "passed") if c in present]).to_pandas()
    if not len(frame):
        return {
            "success": True,
            "validated": False,
            "reason": "no clips checked in this run",
            "failed_expectations": [],
            "statistics": {},
            "docs": None,
        }
    result = validate_qc_table(frame, docs_dir, min_pass_rate=min_pass_rate)
    return {
        "success": result.success,
        "validated": True,
        "failed_expectations": list(result.failed_expectations),
        "statistics": dict(result.statistics),
        "docs": str(result.docs_index_path) if result.docs_index_path else None,
    }
