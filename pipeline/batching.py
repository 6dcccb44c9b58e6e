"""Work items into batches: one engine and preset per batch (one GPU batch, one stage run)."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping

from catalog_motion.types import ManifestRow, WorkItem
from pipeline.state import ItemState


def batch_states(
    items: Iterable[WorkItem], size: int, previous: Mapping[tuple[str, str], ManifestRow]
) -> Iterator[list[ItemState]]:
    """Chunks of at most `size` items sharing engine and preset, as ItemStates built only when their
    batch is taken, so a run holds states for the batches in flight, not for the whole catalog. Items
    are let go as their batch is taken (pass the only other reference, e.g. a list the caller then
    deletes, to free them as the run goes). `previous`: rows of the latest manifest by (sku, preset)
    (an unchanged item keeps their assets)."""
    groups = _group_items(items)
    del items
    while groups:
        group = groups.pop(next(iter(groups)))
        while group:
            # no local name holds the taken items while the batch is out (they go with its states)
            yield [
                ItemState(
                    item=item,
                    previous=[previous[(sku, item.preset)] for sku in item.skus if (sku, item.preset) in previous],
                )
                for item in [group.popleft() for _ in range(min(size, len(group)))]
            ]


def _group_items(items: Iterable[WorkItem]) -> dict[tuple[str, str], deque[WorkItem]]:
    groups: dict[tuple[str, str], deque[WorkItem]] = defaultdict(deque)
    for item in items:
        groups[(item.engine, item.preset)].append(item)
    return groups
