"""Moves batches of work items through the stage tasks on a Prefect task runner.

A bounded window of batches is in flight at once (memory stays flat at any catalog size). Each
finished task hands its batch to the next stage, so fetching, generation, QC and encoding of different
batches overlap. With `slots` set (the runner's worker count), at most that many tasks are handed to
the runner at once and the driver picks which: the batch furthest along first (publish, then check,
then generate, then fetch). Batches that hold master clips therefore finish before new ones are
generated, so the work folder holds about `slots` batches of masters instead of the whole window's
(raw masters are ~0.4-1.1 GB each). Only control flow lives here; the decisions (which stage next,
ask for less) are plain functions in tasks/items.py.
"""

from __future__ import annotations

import heapq
import itertools
import queue
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from prefect.utilities.annotations import quote

from tasks.context import ItemState, RunContext
from tasks.items import close_unfinished, next_stage


@dataclass
class Batch:
    label: str
    states: list[ItemState]
    stage: str = "fetch"


# Later stages first: a batch past generation holds master clips on disk until it is published.
STAGE_PRIORITY = {"publish": 0, "check": 1, "generate": 2, "fetch": 3}


class BatchDriver:
    def __init__(self, runner: Any, stage_tasks: dict[str, Any], ctx: RunContext, *, window: int,
                 on_batch_done: Callable[[Batch], None], task_for: Callable[[str, Batch], Any] | None = None,
                 slots: int | None = None, submit_context: Callable[[str], AbstractContextManager] | None = None):
        self.runner = runner
        self.stage_tasks = stage_tasks
        self.ctx = ctx
        self.window = window
        self.slots = slots
        self.submit_context = submit_context or (lambda stage: nullcontext())
        self._ready: list[tuple[int, int, Batch]] = []  # heap: (stage priority, batch order, batch)
        self._order: dict[int, int] = {}
        self._counter = itertools.count()
        self._running = 0
        self.submitted_stages: list[tuple[str, str]] = []  # (batch label, stage) in submission order
        self.on_batch_done = on_batch_done
        self.task_for = task_for or (lambda stage, batch: self.stage_tasks[stage])
        self._done: queue.Queue[tuple[Batch, Any]] = queue.Queue()
        self.task_runs = 0
        from prefect.task_runners import ThreadPoolTaskRunner

        self._in_process = isinstance(runner, ThreadPoolTaskRunner)

    def _submit(self, batch: Batch) -> None:
        task = self.task_for(batch.stage, batch)
        # quote(): Prefect would otherwise walk every nested record of the batch looking for futures
        # (several ms per item); the task still receives the plain values.
        # (Only in-process: Dask/process runners serialise parameters, and a quote does not survive that.)
        wrap = quote if self._in_process else (lambda value: value)
        with self.submit_context(batch.stage):  # e.g. the Ray resources this stage asks for
            future = self.runner.submit(
                task, parameters={"states": wrap(batch.states), "ctx": wrap(self.ctx), "batch": batch.label}
            )
        self.task_runs += 1
        self._running += 1
        self.submitted_stages.append((batch.label, batch.stage))
        future.add_done_callback(lambda f, b=batch: self._done.put((b, f)))

    def _advance(self, batch: Batch) -> bool:
        """Submit the batch's next stage; False when it has finished."""
        stage = next_stage(batch.stage, batch.states)
        if stage is None:
            close_unfinished(batch.states, f"no outcome after {batch.stage} (internal error)")
            return False
        batch.stage = stage
        self._enqueue(batch)
        return True

    def _enqueue(self, batch: Batch) -> None:
        order = self._order.setdefault(id(batch), next(self._counter))
        heapq.heappush(self._ready, (STAGE_PRIORITY.get(batch.stage, len(STAGE_PRIORITY)), order, batch))
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
                # Items already settled (e.g. nothing to fetch) never need a task run.
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
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                close_unfinished(batch.states, f"{batch.stage} task failed: {message}")
            if self._advance(batch):
                continue
            self._order.pop(id(batch), None)
            self.on_batch_done(batch)
            inflight -= 1
            if start_next():
                inflight += 1
            self._pump()
