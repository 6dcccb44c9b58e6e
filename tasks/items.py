"""Plain functions of orchestration: planning items, batching, ask-for-less, manifest rows, counts.

No Prefect here: the flow and the task wrappers call these, and tests call them directly.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping

# seed_for is re-exported: catalog_motion/planning.py is the single source of planning rules.
from catalog_motion.planning import plan_work_items, refuse_duplicate_skus, seed_for  # noqa: F401
from catalog_motion.presets import Preset
from catalog_motion.types import CatalogRow, ManifestRow, QCReport, RowOutcome, WorkItem
from tasks.context import ItemState

# Checks whose failure a gentler, shorter generation can fix (the quality stage names them).
REGENERATABLE_CHECKS = frozenset({"drift", "flicker", "warp_error"})


def plan_items(
    rows: list[CatalogRow], presets: list[Preset]
) -> tuple[list[WorkItem], list[RowOutcome]]:
    """Phase 1 of catalog_motion.planning (items by photo reference, no keys yet), after refusing
    repeated SKUs. The fetch stage computes each item's content key and skips unchanged ones.
    """
    unique, refused = refuse_duplicate_skus(rows)
    # Phase 1 needs no engine identity (keys come after fetching): a placeholder satisfies planning.
    identities = {preset.engine: "unkeyed" for preset in presets}
    plan = plan_work_items(unique, presets, engine_identities=identities)
    return plan.items, refused


def make_batches(states: list[ItemState], size: int) -> Iterator[list[ItemState]]:
    """Chunks of at most `size` items sharing engine and preset (one GPU batch, one task run)."""
    groups: dict[tuple[str, str], list[ItemState]] = defaultdict(list)
    for state in states:
        groups[(state.item.engine, state.item.preset)].append(state)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]


def batch_states(items: Iterable[WorkItem], size: int,
                 previous: Mapping[tuple[str, str], ManifestRow]) -> Iterator[list[ItemState]]:
    """`make_batches` over work items whose ItemStates are built only when their batch is taken, so a
    run holds states for the batches in flight, not for the whole catalog. Items are let go as their
    batch is taken (pass the only other reference, e.g. a list the caller then deletes, to free them as
    the run goes). `previous`: rows of the latest manifest by (sku, preset) (skipped items keep their assets)."""
    groups = _group_items(items)
    del items
    while groups:
        group = groups.pop(next(iter(groups)))
        while group:
            # no local name holds the taken items while the batch is out (they go with its states)
            yield [ItemState(item=item, previous=[previous[(sku, item.preset)] for sku in item.skus
                                                  if (sku, item.preset) in previous])
                   for item in [group.popleft() for _ in range(min(size, len(group)))]]


def _group_items(items: Iterable[WorkItem]) -> dict[tuple[str, str], deque[WorkItem]]:
    groups: dict[tuple[str, str], deque[WorkItem]] = defaultdict(deque)
    for item in items:
        groups[(item.engine, item.preset)].append(item)
    return groups


def is_regeneratable(report: QCReport) -> bool:
    """True when every failed check is one that asking for less motion can fix."""
    if report.failed_checks:
        return set(report.failed_checks) <= REGENERATABLE_CHECKS
    # Older reports without check names: judge by the reasons' wording.
    reasons = " ".join(report.reasons).lower()
    return bool(reasons) and ("drift" in reasons or "flicker" in reasons)


def apply_verdict(state: ItemState, report: QCReport, preset: Preset) -> ItemState:
    """Record a QC verdict: pass, ask for less (next attempt's scales and seed), or reject."""
    state.qc = report.model_copy(update={"per_frame": {}})
    state.qc_history.append(dict(report.scores))
    if report.passed:
        state.regenerate = False
        return state
    policy = preset.ask_for_less
    attempts_used = state.item.attempt + 1
    reason = "; ".join(report.reasons) or "failed QC"
    if is_regeneratable(report) and attempts_used < policy.max_attempts:
        next_attempt = state.item.attempt + 1
        state.item.attempt = next_attempt
        state.motion_scale = max(1e-3, state.motion_scale * policy.motion_factor)
        state.duration_scale = max(1e-3, state.duration_scale * policy.duration_factor)
        if policy.new_seed:
            state.item.seed = seed_for(state.item.sku, state.item.preset, next_attempt)
        state.regenerate = True
        state.reason = f"attempt {attempts_used}: {reason}"
        return state
    return state.finish("rejected", f"failed QC after {attempts_used} attempt(s): {reason}")


def manifest_rows(state: ItemState) -> list[ManifestRow]:
    """The rows of one finished item: one per SKU sharing its photo."""
    assert state.status is not None, f"item {state.item.item_id} has no outcome"
    item = state.item
    previous = {row.sku: row for row in state.previous}
    rows: list[ManifestRow] = []
    for sku in item.skus or [item.sku]:
        if state.status == "skipped" and sku in previous:
            rows.append(previous[sku].model_copy(update={"status": "skipped", "reason": state.reason}))
            continue
        status, reason = state.status, state.reason
        if sku in state.sku_failures:
            status, reason = "failed", state.sku_failures[sku]
        assets = state.assets.get(sku, []) if status == "published" else []
        video = next((a.uri for a in assets if a.kind.startswith("video")), None)
        poster = next((a.uri for a in assets if a.kind.startswith("poster")), None)
        generated = state.clip is not None
        rows.append(
            ManifestRow(
                sku=sku, preset=item.preset, status=status, reason=reason,
                video=video, poster=poster, assets=assets,
                engine=item.engine if generated else None,
                seed=item.seed if generated else None,
                attempts=(item.attempt + 1) if generated else 0,
                key=item.key, source_sha256=item.source_sha256,
                qc=dict(state.qc.scores) if state.qc else {},
                params=dict(state.clip.params) if state.clip else {},
                timings=dict(state.timings),
            )
        )
    return rows


def invalid_rows(refused: Iterable[RowOutcome], presets: list[Preset]) -> list[ManifestRow]:
    """A refused catalog row yields one `invalid` row per selected preset (rows without SKU get one)."""
    rows = []
    for outcome in refused:
        sku = outcome.sku if outcome.sku else f"<row {outcome.row_index}>"
        for preset in presets:
            rows.append(ManifestRow(sku=sku, preset=preset.name, status="invalid", reason=outcome.reason))
    return rows


def status_counts(rows: Iterable[ManifestRow]) -> dict[str, dict[str, int]]:
    """Counts per preset and status ({preset: {status: n}}), plus a 'total' preset."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        counts[row.preset][row.status] += 1
        counts["total"][row.status] += 1
    return {preset: dict(counter) for preset, counter in counts.items()}


def rejection_rate(rows: Iterable[ManifestRow]) -> float:
    """Rejected among generated outcomes (published + rejected); 0 when nothing was generated."""
    counter = Counter(row.status for row in rows)
    generated = counter["published"] + counter["rejected"]
    return counter["rejected"] / generated if generated else 0.0


def next_stage(stage: str, states: list[ItemState]) -> str | None:
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


def carry_unselected(previous: Iterable[ManifestRow], rows: Iterable[ManifestRow]) -> list[ManifestRow]:
    """Rows of the latest manifest that a partial run (SKU filter) did not touch, so `latest` stays whole.

    Published rows are carried as `skipped` (their assets still stand); other outcomes unchanged.
    """
    touched = {(row.sku, row.preset) for row in rows}
    carried = []
    for row in previous:
        if (row.sku, row.preset) in touched:
            continue
        if row.status in ("published", "skipped"):
            row = row.model_copy(update={"status": "skipped", "reason": "not selected in this run"})
        carried.append(row)
    return carried
