"""A run's outcome tally: what its summary, artifacts and events need from the manifest rows, kept as
counts plus the first few failures and published links, so the flow never holds every row (its memory
stays flat in catalog size; the rows themselves stream from the journal into the manifest).

Plain code, no Prefect: the flow feeds it batch by batch; tests call it directly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from catalog_motion.types import ManifestRow, Status

FAILED_STATUSES: tuple[Status, ...] = ("rejected", "invalid", "failed")
REASON_CHARS = 300  # a failures-table cell, not a log


@dataclass
class PublishedLink:
    sku: str
    preset: str
    video: str
    poster: str | None


@dataclass
class RunTally:
    """Counts per preset and this run's outcome (`outcome`, else `status`) over every row added, plus the
    first `limit` failures (rejected, invalid, failed) and the first `limit` published rows with a video, in
    the order added."""

    limit: int
    rows: int = 0
    published_links: int = 0  # published rows with a video, all of them (links kept: the first `limit`)
    failures: list[dict[str, str]] = field(default_factory=list)
    published: list[PublishedLink] = field(default_factory=list)
    _counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, rows: Iterable[ManifestRow]) -> None:
        for row in rows:
            self.rows += 1
            # This run's outcome: a row whose earlier video stays live counts as what this run did for it.
            outcome = row.outcome or row.status
            self._counts[row.preset][outcome] += 1
            self._counts["total"][outcome] += 1
            if outcome in FAILED_STATUSES and len(self.failures) < self.limit:
                self.failures.append(
                    {"sku": row.sku, "preset": row.preset, "status": outcome, "reason": row.reason[:REASON_CHARS]}
                )
            if outcome == "published" and row.video:
                self.published_links += 1
                if len(self.published) < self.limit:
                    self.published.append(PublishedLink(row.sku, row.preset, row.video, row.poster))

    def adopt(self, items: Iterable[tuple[str, str]]) -> None:
        """Count adopted (sku, preset) rows, recorded `failed` when their publish task died, as published."""
        for sku, preset in items:
            for group in (preset, "total"):
                self._counts[group]["failed"] -= 1
                self._counts[group]["published"] += 1
                if not self._counts[group]["failed"]:
                    del self._counts[group]["failed"]
            self.failures = [f for f in self.failures if (f["sku"], f["preset"]) != (sku, preset)]

    def counts(self) -> dict[str, dict[str, int]]:
        """{preset: {status: n}} plus a 'total' preset."""
        return {preset: dict(counter) for preset, counter in self._counts.items() if counter}

    def rejection_rate(self) -> float:
        """Rejected among generated outcomes (published + rejected); 0 when nothing was generated."""
        total = self._counts["total"] if "total" in self._counts else Counter()
        generated = total["published"] + total["rejected"]
        return total["rejected"] / generated if generated else 0.0
