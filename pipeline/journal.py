"""A per-run journal of finished outcomes, so a killed run resumes with exactly the missing items.

The flow appends each batch's manifest rows (JSON lines, fsync'd) as soon as the batch ends. A new run
over the same inputs finds the open journal and reuses its rows instead of regenerating; once the run's
manifest is written the journal is closed. Single writer: only the flow process appends.

The journal is also the run's row store: the flow keeps no rows in memory and streams them from here
into the manifest (`rows()`), so its memory stays flat in catalog size.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
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

    @classmethod
    def at(cls, path: str | Path) -> RunJournal:
        """The journal stored at `path` (`<work_dir>/journal/<id>.jsonl`), e.g. for reading its rows."""
        path = Path(path)
        return cls(path.parent.parent, path.stem)

    def _lines(self) -> Iterator[tuple[int, ManifestRow]]:
        """(line number, row) of every readable line, one at a time (a torn line is skipped)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                try:
                    yield number, ManifestRow.model_validate_json(line)
                except ValueError:
                    continue  # the process died mid-write: that batch is simply redone

    def load(self) -> dict[tuple[str, str], ManifestRow]:
        """Rows of an unfinished earlier run of the same inputs (a torn last line is ignored)."""
        return {(row.sku, row.preset): row for _, row in self._lines()}

    def keys(self) -> set[tuple[str, str]]:
        """(sku, preset) of every journaled row, without keeping the rows (what resuming needs)."""
        return {(row.sku, row.preset) for _, row in self._lines()}

    def rows(self) -> Iterator[ManifestRow]:
        """The journaled rows in the order they were appended, streamed from disk."""
        for _, row in self._lines():
            yield row

    def run_id(self) -> str | None:
        """The run id the open journal was started under (resumed runs keep it)."""
        meta = self.path.with_suffix(".run")
        return meta.read_text(encoding="utf-8").strip() if meta.exists() else None

    def open(self, run_id: str, *, keep: set[tuple[str, str]] | None = None) -> None:
        """Open for appending. `keep`: the (sku, preset) a resumed run reuses; any other journaled row
        (an item only partly journaled, so redone now) and any torn line are dropped first, so that
        `rows()` yields each outcome once without the flow holding rows to de-duplicate."""
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.path.with_suffix(".run")
        if not meta.exists():
            meta.write_text(run_id, encoding="utf-8")
        if keep is not None and self.path.exists():
            self._compact(keep)
        elif self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                torn = handle.read(1) != b"\n"
            if torn:  # end a torn last line, else the next row would be glued to it and lost
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write("\n")
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _compact(self, keep: set[tuple[str, str]]) -> None:
        """Rewrite the journal (atomically) with the last row of each kept key, one line each."""
        last = {(row.sku, row.preset): number for number, row in self._lines() if (row.sku, row.preset) in keep}
        wanted = set(last.values())
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for number, row in self._lines():
                if number in wanted:
                    out.write(json.dumps(row.model_dump(mode="json")) + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)

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
