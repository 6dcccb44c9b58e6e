"""Review queue: clips the gate rejected or held (borderline), kept for a person to decide, never published
unless that person approves them (pipeline/review.py applies decisions; docs/REVIEW.md).

Layout under `root`: ``<sku>/<preset>/`` holds the source photo, the clip, a filmstrip PNG, the QC
report as JSON and the work item (``item.json``: what publishing or regenerating it needs);
``review_queue.csv`` gets one appended row per entry (source, clip, filmstrip, scores, reason, run, kind,
entry id), so the queue is a folder a person can browse and a table a tool can read.
``review_decisions.jsonl`` gets one line per decision on an entry (who, when, what, note, scores seen,
outcome); an entry is open until a decision takes effect on it.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from catalog_motion.images import read_photo
from catalog_motion.media import convert_master, read_frames
from catalog_motion.paths import safe_segment, within
from catalog_motion.types import QCReport

TABLE_NAME = "review_queue.csv"
COLUMNS = [
    "queued_at",
    "sku",
    "preset",
    "source",
    "clip",
    "filmstrip",
    "report",
    "reason",
    "failed_checks",
    "drift",
    "flicker",
    "warp_error",
    "scores",
    "run",
    "kind",
    "entry",
]
"""Columns of review_queue.csv; `run`, `kind` (rejected | held) and `entry` (its id) came with review
decisions: a table written before has none (its rows read them as empty)."""
DECISIONS_NAME = "review_decisions.jsonl"
ITEM_NAME = "item.json"
_LOCK = threading.Lock()
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value: object) -> object:
    """A table cell safe to open in a spreadsheet: text starting like a formula (= + - @ tab CR) gets a
    leading apostrophe (OWASP CSV injection advice); a leading apostrophe is doubled so reading is exact."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _uncell(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def filmstrip(
    clip_path: str | Path,
    out_path: str | Path,
    count: int = 8,
    height: int = 160,
    source_path: str | Path | None = None,
) -> Path:
    """A row of `count` evenly spaced frames (the source photo first when given) as one PNG."""
    frames = read_frames(clip_path, long_side=max(64, height * 2))
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    tiles = []
    if source_path is not None:
        photo = read_photo(source_path)
        tiles.append(
            cv2.resize(photo, (max(1, photo.shape[1] * height // photo.shape[0]), height), interpolation=cv2.INTER_AREA)
        )
        tiles.append(np.full((height, 6, 3), 255, np.uint8))
    for i in picks:
        f = frames[i]
        tiles.append(cv2.resize(f, (max(1, f.shape[1] * height // f.shape[0]), height), interpolation=cv2.INTER_AREA))
    strip = np.concatenate(tiles, axis=1)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return out_path


def add_to_review_queue(
    root: Path,
    *,
    sku: str,
    preset: str,
    source_path: str | Path,
    clip_path: str | Path,
    report: QCReport,
    run_id: str = "",
    kind: str = "rejected",
    item: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Path:
    """Copy the rejected or held clip and its evidence into the queue folder, append a table row, return
    the folder. `item`: the work item and clip facts (JSON-able) that approving or regenerating needs;
    `reason`: why it is queued when the report's own reasons do not say (a held clip passed QC)."""
    root = Path(root)
    folder = within(root, safe_segment(sku), safe_segment(preset))
    folder.mkdir(parents=True, exist_ok=True)
    source_path, clip_path = Path(source_path), Path(clip_path)
    source_copy = folder / f"source{source_path.suffix.lower() or '.png'}"
    if source_copy.resolve() != source_path.resolve():  # a regenerated entry's photo is already the queue's
        shutil.copyfile(source_path, source_copy)
    if clip_path.suffix.lower() == ".nut":
        # Raw masters are large (~1 GB for a social clip): the queue keeps an exact lossless H.264 copy.
        clip_copy = folder / "clip.mkv"
        convert_master(clip_path, clip_copy)
    else:
        clip_copy = folder / f"clip{clip_path.suffix.lower() or '.mkv'}"
        shutil.copyfile(clip_path, clip_copy)
    strip = folder / "filmstrip.png"
    try:
        filmstrip(clip_copy, strip, source_path=source_copy)
        strip_name = str(strip.relative_to(root))
    except Exception as exc:  # noqa: BLE001 - an unreadable clip still gets queued, with the reason
        strip_name = f"(no filmstrip: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    report_path = folder / "qc_report.json"
    report_path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    if item is not None:
        (folder / ITEM_NAME).write_text(json.dumps(item, indent=1, sort_keys=True), encoding="utf-8")
    row = {
        "queued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sku": sku,
        "preset": preset,
        "source": str(source_copy.relative_to(root)),
        "clip": str(clip_copy.relative_to(root)),
        "filmstrip": strip_name,
        "report": str(report_path.relative_to(root)),
        "reason": reason or "; ".join(report.reasons) or "failed QC",
        "failed_checks": ",".join(report.failed_checks),
        "drift": report.scores.get("drift", ""),
        "flicker": report.scores.get("flicker", ""),
        "warp_error": report.scores.get("warp_error", ""),
        "scores": json.dumps({k: round(v, 6) for k, v in report.scores.items()}, sort_keys=True),
        "run": run_id,
        "kind": kind,
        "entry": uuid.uuid4().hex[:12],
    }
    table = root / TABLE_NAME
    with _LOCK:  # tasks in threads of one process append concurrently
        new = not table.exists()
        # A table written before `run`/`kind`/`entry` keeps its header: its new rows fit its columns.
        columns = COLUMNS if new else _header(table)
        with open(table, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({key: csv_cell(value) for key, value in row.items()})
    return folder


def read_review_queue(root: Path) -> list[dict[str, str]]:
    table = Path(root) / TABLE_NAME
    if not table.exists():
        return []
    with open(table, newline="", encoding="utf-8") as handle:
        return [{key: _uncell(value or "") for key, value in row.items()} for row in csv.DictReader(handle)]


def _header(table: Path) -> list[str]:
    with open(table, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), None) or COLUMNS


def record_decision(root: Path, record: dict[str, Any]) -> None:
    """Append one decision (JSON-able: entry, sku, preset, decision, reviewer, decided_at, note, scores,
    outcome, ...) to the queue's decision log."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(root / DECISIONS_NAME, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def read_decisions(root: Path) -> list[dict[str, Any]]:
    """Every decision recorded on the queue, oldest first ([] before the first)."""
    path = Path(root) / DECISIONS_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_item(root: Path, sku: str, preset: str) -> dict[str, Any] | None:
    """The work item and clip facts an entry was queued with (None for entries queued before review)."""
    path = within(Path(root), safe_segment(sku), safe_segment(preset)) / ITEM_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
