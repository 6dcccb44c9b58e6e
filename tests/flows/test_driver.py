"""The batch driver's scheduling: with slots, batches furthest along go first, so few hold master clips.

The stage functions here stand in for the Prefect tasks (the driver only calls `submit(batch)` and reads
the futures it returns); the real tasks and runners are exercised by the flow tests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from catalog_motion.types import WorkItem
from pipeline.driver import Batch, BatchDriver
from pipeline.state import ItemState


class Stages:
    """Records the order of stage runs and how many batches hold masters (generated, not yet published)."""

    def __init__(self, regenerate_once: set[str] = frozenset()):
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []
        self.holding: set[str] = set()
        self.peak_holding = 0
        self.regenerate_once = set(regenerate_once)

    def _record(self, batch: str, stage: str) -> None:
        with self.lock:
            self.log.append((batch, stage))

    def fetch(self, states, ctx, batch):
        self._record(batch, "fetch")
        return states

    def generate(self, states, ctx, batch):
        self._record(batch, "generate")
        with self.lock:
            self.holding.add(batch)
            self.peak_holding = max(self.peak_holding, len(self.holding))
        for state in states:
            state.regenerate = False
        return states

    def check(self, states, ctx, batch):
        self._record(batch, "check")
        if batch in self.regenerate_once:
            self.regenerate_once.discard(batch)
            for state in states:
                state.regenerate = True  # ask for less: back to generate
        return states

    def publish(self, states, ctx, batch):
        self._record(batch, "publish")
        for state in states:
            state.finish("published")
        with self.lock:
            self.holding.discard(batch)
        return states

    def tasks(self):
        return {"fetch": self.fetch, "generate": self.generate, "check": self.check, "publish": self.publish}


def _batches(n: int):
    for i in range(n):
        yield Batch(label=f"b{i}", states=[ItemState(item=WorkItem(sku=f"S{i}", preset="p", image="x.png"))])


def _run(n: int, *, slots, window: int, regenerate_once=frozenset()):
    stages = Stages(regenerate_once)
    pool = ThreadPoolExecutor(max_workers=1)
    done: list[Batch] = []
    tasks = stages.tasks()
    driver = BatchDriver(
        lambda batch: pool.submit(tasks[batch.stage], batch.states, None, batch.label),
        window=window,
        on_batch_done=done.append,
        slots=slots,
    )
    driver.run(_batches(n))
    pool.shutdown()
    return stages, done, driver


def test_slots_finish_batches_holding_masters_before_generating_more():
    stages, done, driver = _run(4, slots=1, window=4, regenerate_once={"b1"})
    assert stages.peak_holding == 1
    assert [b.label for b in done] == ["b0", "b1", "b2", "b3"]
    assert all(s.status == "published" for b in done for s in b.states)
    # b1 asked for less once: generate -> check -> generate -> check -> publish, before b2 starts
    b1 = [stage for batch, stage in stages.log if batch == "b1"]
    assert b1 == ["fetch", "generate", "check", "generate", "check", "publish"]
    first_b2 = stages.log.index(("b2", "fetch"))
    assert stages.log.index(("b1", "publish")) < first_b2
    assert driver.task_runs == len(stages.log) == 4 * 4 + 2


@pytest.mark.parametrize("slots", [None, 8])
def test_without_a_slot_bound_the_whole_window_holds_masters(slots):
    """The old behaviour (everything submitted at once, FIFO): every batch in the window generates first."""
    stages, done, _ = _run(4, slots=slots, window=4)
    assert stages.peak_holding == 4
    assert len(done) == 4


def test_window_still_bounds_batches_in_flight():
    stages, done, _ = _run(6, slots=2, window=2)
    fetches = [i for i, (_, stage) in enumerate(stages.log) if stage == "fetch"]
    publishes = [i for i, (_, stage) in enumerate(stages.log) if stage == "publish"]
    # the third batch is fetched only after the first one is published
    assert fetches[2] > publishes[0]
    assert len(done) == 6


class WorkerDied(Exception):
    """Stands in for BrokenProcessPool / KilledWorker: the run's worker process died."""


@pytest.mark.parametrize(
    ("deaths", "resubmits", "outcome"), [(1, 2, "published"), (2, 2, "published"), (3, 2, "failed")]
)
def test_runs_lost_with_their_worker_are_handed_over_again_within_the_budget(deaths, resubmits, outcome):
    stages = Stages()
    pool = ThreadPoolExecutor(max_workers=1)
    tasks = stages.tasks()
    left = {"b1": deaths}

    def publish_or_die(states, ctx, batch):
        if left.get(batch):
            left[batch] -= 1
            raise WorkerDied("a process in the process pool was terminated abruptly")
        return tasks["publish"](states, ctx, batch)

    done: list[Batch] = []
    driver = BatchDriver(
        lambda batch: pool.submit(
            publish_or_die if batch.stage == "publish" else tasks[batch.stage], batch.states, None, batch.label
        ),
        window=4,
        on_batch_done=done.append,
        worker_lost=lambda exc: isinstance(exc, WorkerDied),
        max_resubmits=resubmits,
    )
    driver.run(_batches(3))
    pool.shutdown()
    by_label = {b.label: b.states[0] for b in done}
    assert by_label["b0"].status == by_label["b2"].status == "published"
    assert by_label["b1"].status == outcome
    if outcome == "failed":
        assert (
            by_label["b1"].reason
            == "publish task failed: WorkerDied: a process in the process pool was terminated abruptly"
        )
    assert driver.resubmits == min(deaths, resubmits)
    assert [stage for batch, stage in stages.log if batch == "b1"].count("publish") == (
        1 if outcome == "published" else 0
    )


def test_worker_lost_recognises_the_runners_errors_along_the_chain():
    from concurrent.futures.process import BrokenProcessPool

    from tasks.runners import worker_lost

    assert worker_lost(BrokenProcessPool("gone"))
    killed = type("KilledWorker", (Exception,), {})  # distributed's name, without importing Dask
    try:
        try:
            raise killed("worker tcp://1.2.3.4 died")
        except Exception as exc:
            raise RuntimeError("task failed") from exc
    except RuntimeError as wrapped:
        assert worker_lost(wrapped)
    assert not worker_lost(RuntimeError("model exploded")) and not worker_lost(MemoryError())
