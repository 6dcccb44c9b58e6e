"""Out-of-memory policy for a batch of generations: split the batch, then turn on memory savers, then give up.

Written without torch so it is tested on CPU with an injected exception type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from catalog_motion.errors import TransientError

T = TypeVar("T")
R = TypeVar("R")


def run_with_oom_policy(
    items: Sequence[T],
    run: Callable[[list[T]], list[R]],
    *,
    oom_types: tuple[type[BaseException], ...],
    enable_next_saver: Callable[[], str | None],
    on_oom: Callable[[], None] = lambda: None,
    events: list[str] | None = None,
    engine: str = "engine",
) -> list[R | Exception]:
    """Run `items` through `run` (one forward pass for the list), surviving out-of-memory errors.

    On OOM: free memory (`on_oom`), then split a batch of several items in halves and run each half;
    a single item that still runs out turns on the next memory saver (`enable_next_saver` returns its
    name, or None when nothing is left) and is retried; after the last saver it becomes a
    TransientError for that item only (the run goes on; orchestration may retry it later).
    `events` collects what happened, for provenance.
    """
    events = events if events is not None else []

    def attempt(batch: list[T]) -> list[R | Exception]:
        while True:
            try:
                return list(run(batch))
            except oom_types as exc:
                on_oom()
                if len(batch) > 1:
                    half = len(batch) // 2
                    events.append(f"oom: split batch {len(batch)} -> {half}+{len(batch) - half}")
                    return attempt(batch[:half]) + attempt(batch[half:])
                saver = enable_next_saver()
                if saver is None:
                    events.append("oom: no memory saver left")
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    return [
                        TransientError(
                            f"{engine}: out of GPU memory for one item even with every memory "
                            f"saver on ({first[:160]}); lower native_area or frames"
                        )
                    ]
                events.append(f"oom: enabled {saver}")

    return attempt(list(items))
