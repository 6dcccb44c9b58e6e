"""Delivery stage: the delivery table, one JSON line per (target, product, sku, preset) event, beside the manifest.

The file is history, oldest first: each delivery or rollback appends records. The newest record of a
(target, product, preset) says what catalog-motion media that product shows now; the records of a run say
what it replaced, which is what rollback restores. Rewritten whole and atomically (temp file + rename),
so a killed run leaves the previous table, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from catalog_motion.errors import PermanentError

TABLE_NAME = "delivery.jsonl"


@dataclass
class DeliveryRecord:
    target: str
    product_id: str | None
    sku: str
    preset: str
    status: str
    reason: str
    run_id: str
    media_id: str | None = None
    content_sha256: str | None = None
    replaced_media_id: str | None = None  # the catalog-motion media this one took off the product (rollback)
    asset_uri: str | None = None
    at: float = field(default_factory=time.time)


class DeliveryTable:
    """The delivery table under `state_dir` (`delivery.jsonl`)."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / TABLE_NAME
        self.records: list[DeliveryRecord] = self._read()

    def _read(self) -> list[DeliveryRecord]:
        if not self.path.exists():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(DeliveryRecord(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise PermanentError(
                    f"{self.path}: line {number} is not a delivery record ({exc}); restore the file or move it away"
                ) from None
        return records

    def current(self, target: str, product_id: str, preset: str) -> DeliveryRecord | None:
        """The newest record that put media on (or took it off) this product for this preset."""
        for record in reversed(self.records):
            if (
                record.target == target
                and record.product_id == product_id
                and record.preset == preset
                and record.status in ("delivered", "unchanged", "rolled_back")
            ):
                return record
        return None

    def of_run(self, run_id: str, target: str) -> list[DeliveryRecord]:
        return [record for record in self.records if record.run_id == run_id and record.target == target]

    def append(self, records: list[DeliveryRecord]) -> None:
        """Add `records` and rewrite the table atomically."""
        self.records.extend(records)
        lines = "".join(json.dumps(asdict(record), sort_keys=True) + "\n" for record in self.records)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, lines.encode("utf-8"))


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and a rename: all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
