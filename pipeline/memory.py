"""Keeping the flow process's memory flat over a long run (plain code, no Prefect)."""

from __future__ import annotations

import gc
import time

GC_EVERY_ITEMS = 1000
"""Items between full collections in the flow (memory bounded by ~1,000 items' records, ~0.2 ms per item)."""


class CollectEvery:
    """A full garbage collection after every `items` finished work items.

    Why: a finished batch's item records end up in reference cycles with Prefect's task-run states and
    result records, which only CPython's full (generation 2) collection frees. In a process holding a few
    hundred thousand long-lived objects (Prefect, pandas, great-expectations imports) that collection runs
    rarely, so without this the flow's RSS climbs with the number of items done. One collection costs
    ~0.2 s on such a heap: every 1,000 items that is ~0.2 ms per item.
    """

    def __init__(self, items: int):
        self.items = max(1, items)
        self._since = 0
        self.collections = 0
        self.seconds = 0.0

    def advance(self, n: int) -> bool:
        """Count `n` finished items; collect (and return True) when `items` have finished since the last."""
        self._since += n
        if self._since < self.items:
            return False
        self._since = 0
        started = time.perf_counter()
        gc.collect()
        self.seconds += time.perf_counter() - started
        self.collections += 1
        return True
