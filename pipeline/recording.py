"""A run's bookkeeping as batches finish: each outcome journaled, tallied and its QC rows spooled, once.

Nothing here grows with the catalog: rows go to the journal (and from there, streamed, into the
manifest), QC rows to a spool file, outcomes into a tally of counts. Also where a resumed run learns
which items an interrupted run of the same inputs already finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from catalog_motion.types import ManifestRow, WorkItem
from pipeline.driver import Batch
from pipeline.journal import RunJournal
from pipeline.memory import GC_EVERY_ITEMS, CollectEvery
from pipeline.state import ItemState
from pipeline.tally import RunTally
from publishing.rows import item_rows, with_ignored_rows
from quality.table import QCSpool


@dataclass
class ResumePlan:
    pending: list[WorkItem] = field(default_factory=list)  # items to run now
    kept: set[tuple[str, str]] = field(default_factory=set)  # (sku, preset) reused from the journal
    resumed: int = 0  # items whose every SKU is already journaled


def split_resumed(items: Iterable[WorkItem], journaled: set[tuple[str, str]]) -> ResumePlan:
    """Items an interrupted run already finished (every SKU journaled) are reused; the rest run now (an
    item only partly journaled is redone whole)."""
    plan = ResumePlan()
    for item in items:
        keys = [(sku, item.preset) for sku in item.skus]
        if keys and all(key in journaled for key in keys):
            plan.kept.update(keys)
            plan.resumed += 1
        else:
            plan.pending.append(item)
    return plan


def state_rows(state: ItemState, run_id: str | None = None) -> list[ManifestRow]:
    """The manifest rows of one finished item (publishing.rows.item_rows); `run_id` is the run publishing it."""
    assert state.status is not None, f"item {state.item.item_id} has no outcome"
    return item_rows(
        state.item,
        state.status,
        state.reason,
        clip=state.clip,
        qc=state.qc,
        assets=state.assets,
        sku_failures=state.sku_failures,
        previous=state.previous,
        timings=state.timings,
        run_id=run_id,
        attempt_history=state.attempt_history,
    )


class RunRecorder:
    """Records every finished batch: rows (with notes on ignored catalog rows) to the journal and the tally,
    QC rows to the spool, worker processes seen; collects garbage every GC_EVERY_ITEMS items."""

    def __init__(
        self,
        journal: RunJournal,
        tally: RunTally,
        qc_spool: QCSpool,
        notes: Mapping[str, list[str]],
        on_items_done: Callable[[int], None] = lambda n: None,
        run_id: str | None = None,
    ):
        self.run_id = run_id
        self.journal = journal
        self.tally = tally
        self.qc_spool = qc_spool
        self.notes = notes
        self.on_items_done = on_items_done
        self.worker_pids: set[int] = set()
        self.collector = CollectEvery(GC_EVERY_ITEMS)

    def record(self, batch: Batch) -> list[ManifestRow]:
        """Journal and tally the batch's outcomes; its rows."""
        rows = with_ignored_rows((row for state in batch.states for row in state_rows(state, self.run_id)), self.notes)
        self.qc_spool.append([row for state in batch.states for row in state.qc_rows])
        self.worker_pids.update(pid for state in batch.states for pid in state.worker_pids)
        self.journal.append(rows)
        self.tally.add(rows)
        self.on_items_done(len(batch.states))
        self.collector.advance(len(batch.states))
        return rows
