"""A per-run journal of finished outcomes, so a killed run resumes with exactly the missing items.

The flow appends each batch's manifest rows (JSON lines, fsync'd) as soon as the batch ends. A new run
over the same inputs finds the open journal and reuses its rows instead of regenerating; once the run's
manifest is written the journal is closed. Single writer: only the flow process appends.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from catalog_motion.types import ManifestRow, sha256_file


def journal_id(catalog: str, presets: list[str], skus: list[str] | None, full: bool) -> str:
    """Identity of a run's inputs: the catalog's content (when local), presets, SKU filter, full flag."""
    parts = [catalog, ",".join(sorted(presets)), ",".join(sorted(skus or [])), str(full)]
    path = Path(catalog)
    if path.is_file():
        parts.append(sha256_file(path))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


class RunJournal:
    """Append-only JSONL of ManifestRows under `<work_dir>/journal/<id>.jsonl`."""

    def __init__(self, work_dir: Path, ident: str):
        self.dir = Path(work_dir) / "journal"
        self.path = self.dir / f"{ident}.jsonl"
        self._handle = None

    def load(self) -> dict[tuple[str, str], ManifestRow]:
        """Rows of an unfinished earlier run of the same inputs (a torn last line is ignored)."""
        rows: dict[tuple[str, str], ManifestRow] = {}
        if not self.path.exists():
            return rows
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = ManifestRow.model_validate_json(line)
            except ValueError:
                continue  # the process died mid-write: that batch is simply redone
            rows[(row.sku, row.preset)] = row
        return rows

    def run_id(self) -> str | None:
        """The run id the open journal was started under (resumed runs keep it)."""
        meta = self.path.with_suffix(".run")
        return meta.read_text(encoding="utf-8").strip() if meta.exists() else None

    def open(self, run_id: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.path.with_suffix(".run")
        if not meta.exists():
            meta.write_text(run_id, encoding="utf-8")
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, rows: list[ManifestRow]) -> None:
        if self._handle is None:
            raise RuntimeError("journal not open")
        self._handle.write("".join(json.dumps(row.model_dump(mode="json")) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self, *, complete: bool) -> None:
        """Close; a complete run retires its journal so the next run starts fresh (incremental)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if complete:
            for path in (self.path, self.path.with_suffix(".run")):
                if path.exists():
                    path.replace(path.with_name(path.name + ".done"))
