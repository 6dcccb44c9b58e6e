"""Moves batches of work items through the stage tasks on a Prefect task runner.

A bounded window of batches is in flight at once (memory and work-folder size stay flat at any
catalog size). Each finished task hands its batch to the next stage as soon as it completes, so
fetching, generation, QC and encoding of different batches overlap. Only control flow lives here;
the decisions (which stage next, ask for less) are plain functions in tasks/items.py.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator
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


class BatchDriver:
    def __init__(self, runner: Any, stage_tasks: dict[str, Any], ctx: RunContext, *, window: int,
                 on_batch_done: Callable[[Batch], None], task_for: Callable[[str, Batch], Any] | None = None):
        self.runner = runner
        self.stage_tasks = stage_tasks
        self.ctx = ctx
        self.window = window
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
        future = self.runner.submit(
            task, parameters={"states": wrap(batch.states), "ctx": wrap(self.ctx), "batch": batch.label}
        )
        self.task_runs += 1
        future.add_done_callback(lambda f, b=batch: self._done.put((b, f)))

    def _advance(self, batch: Batch) -> bool:
        """Submit the batch's next stage; False when it has finished."""
        stage = next_stage(batch.stage, batch.states)
        if stage is None:
            close_unfinished(batch.states, f"no outcome after {batch.stage} (internal error)")
            return False
        batch.stage = stage
        self._submit(batch)
        return True

    def run(self, batches: Iterable[Batch]) -> None:
        source: Iterator[Batch] = iter(batches)
        inflight = 0

        def start_next() -> bool:
            for batch in source:
                # Items already settled (e.g. nothing to fetch) never need a task run.
                if any(not s.done for s in batch.states):
                    batch.stage = "fetch"
                    self._submit(batch)
                    return True
                self.on_batch_done(batch)
            return False

        while inflight < self.window and start_next():
            inflight += 1
        while inflight:
            batch, future = self._done.get()
            try:
                batch.states = future.result()
            except BaseException as exc:  # noqa: BLE001 - the batch's items record why
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                close_unfinished(batch.states, f"{batch.stage} task failed: {message}")
            if self._advance(batch):
                continue
            self.on_batch_done(batch)
            inflight -= 1
            if start_next():
                inflight += 1
