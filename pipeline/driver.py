"""Moves batches of work items through the stages: fetch → generate → check (→ generate → check) → publish.

A bounded window of batches is in flight at once (memory stays flat at any catalog size). Each
finished stage hands its batch to the next, so fetching, generation, QC and encoding of different
batches overlap. With `slots` set (the runner's worker count), at most that many stage runs are handed
over at once and the driver picks which: the batch furthest along first (publish, then check, then
generate, then fetch). Batches that hold master clips therefore finish before new ones are generated,
so the work folder holds about `slots` batches of masters instead of the whole window's (raw masters
are ~0.4-1.1 GB each). Only control flow lives here: which stage comes next is `next_stage`, what
happens to an item is decided in pipeline/steps.py.

The driver knows nothing of Prefect: `submit(batch)` starts the batch's current stage somewhere (a
Prefect task runner in the flow, a thread pool in tests) and returns a future.
"""

from __future__ import annotations

import heapq
import itertools
import queue
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pipeline.calls import failure_text
from pipeline.state import ItemState

Stage = Literal["fetch", "generate", "check", "publish"]

# Later stages first: a batch past generation holds master clips on disk until it is published.
STAGE_PRIORITY: dict[Stage, int] = {"publish": 0, "check": 1, "generate": 2, "fetch": 3}


@dataclass
class Batch:
    label: str
    states: list[ItemState]
    stage: Stage = "fetch"
    resubmitted: int = 0  # stage runs handed over again after their worker was lost


class StageFuture(Protocol):
    """What `submit` returns (concurrent.futures.Future and Prefect's futures both qualify)."""

    def result(self) -> Any: ...

    def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


def next_stage(stage: Stage, states: list[ItemState]) -> Stage | None:
    """Which stage a batch goes to after `stage` (None: every item has its outcome)."""
    pending = [s for s in states if not s.done]
    if not pending:
        return None
    if stage == "fetch":
        return "generate"
    if stage == "generate":
        return "check"
    if stage == "check":
        return "generate" if any(s.regenerate for s in pending) else "publish"
    return None


def close_unfinished(states: list[ItemState], reason: str) -> None:
    """Give every item still without an outcome a `failed` one (nothing may end unaccounted)."""
    for state in states:
        if not state.done:
            state.finish("failed", reason)


class BatchDriver:
    def __init__(
        self,
        submit: Callable[[Batch], StageFuture],
        *,
        window: int,
        on_batch_done: Callable[[Batch], None],
        slots: int | None = None,
        worker_lost: Callable[[BaseException], bool] = lambda exc: False,
        max_resubmits: int = 2,
    ):
        """worker_lost(exc): True when a stage run failed because the process running it died (the runner
        knows its errors); such a run is handed over again, at most `max_resubmits` times per batch, since a
        dead worker also fails the runs that merely shared its pool."""
        self.submit = submit
        self.worker_lost = worker_lost
        self.max_resubmits = max_resubmits
        self.resubmits = 0
        self.window = window
        self.slots = slots
        self.on_batch_done = on_batch_done
        self._ready: list[tuple[int, int, Batch]] = []  # heap: (stage priority, batch order, batch)
        self._order: dict[int, int] = {}
        self._counter = itertools.count()
        self._running = 0
        self._done: queue.Queue[tuple[Batch, StageFuture]] = queue.Queue()
        self.task_runs = 0

    def _submit(self, batch: Batch) -> None:
        future = self.submit(batch)
        self.task_runs += 1
        self._running += 1
        future.add_done_callback(lambda f, b=batch: self._done.put((b, f)))

    def _advance(self, batch: Batch) -> bool:
        """Queue the batch's next stage; False when it has finished."""
        stage = next_stage(batch.stage, batch.states)
        if stage is None:
            close_unfinished(batch.states, f"no outcome after {batch.stage} (internal error)")
            return False
        batch.stage = stage
        self._enqueue(batch)
        return True

    def _enqueue(self, batch: Batch) -> None:
        order = self._order.setdefault(id(batch), next(self._counter))
        heapq.heappush(self._ready, (STAGE_PRIORITY[batch.stage], order, batch))
        self._pump()

    def _pump(self) -> None:
        while self._ready and (self.slots is None or self._running < self.slots):
            _, _, batch = heapq.heappop(self._ready)
            self._submit(batch)

    def run(self, batches: Iterable[Batch]) -> None:
        source: Iterator[Batch] = iter(batches)
        inflight = 0

        def start_next() -> bool:
            for batch in source:
                # Items already settled (e.g. nothing to fetch) never need a stage run.
                if any(not s.done for s in batch.states):
                    batch.stage = "fetch"
                    self._enqueue(batch)
                    return True
                self.on_batch_done(batch)
            return False

        while inflight < self.window and start_next():
            inflight += 1
        while inflight:
            batch, future = self._done.get()
            self._running -= 1
            try:
                batch.states = future.result()
            except BaseException as exc:  # noqa: BLE001 - the batch's items record why
                if self.worker_lost(exc) and batch.resubmitted < self.max_resubmits:
                    batch.resubmitted += 1
                    self.resubmits += 1
                    self._enqueue(batch)  # same stage, from the states it was submitted with
                    continue
                # Steps record item failures themselves and raise only what the task may retry (a
                # TransientError at batch level), so this is a task that failed after its retries. The
                # states here are what was submitted (a copy, for process/Dask runners): items that had an
                # outcome keep it, the others fail.
                close_unfinished(batch.states, f"{batch.stage} task failed: {failure_text(exc)}")
            if self._advance(batch):
                continue
            self._order.pop(id(batch), None)
            self.on_batch_done(batch)
            inflight -= 1
            if start_next():
                inflight += 1
            self._pump()
