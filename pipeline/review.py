"""A person's decisions on the review queue, applied through the normal path (docs/REVIEW.md).

`open_entries` lists what waits for a decision (rejected and held clips; of one run or all). `apply_decisions`
takes approve / reject / regenerate-with-less per item: approved clips are encoded, checked and stored by the
same publish step as a run's (pipeline/steps.py `publish_batch`), regenerated items go through
`generate_batch` and `check_batch` again (asking for less), rejected ones stay unpublished with the reviewer's
reason. Every decided row carries a `ReviewRecord` (who, when, note, the scores they saw) in a new manifest
version, written through the run's own manifest path (`write_run_manifest`: every object verified first,
`latest` moved last); the rest of `latest` is carried over unchanged. A clip that failed the photosensitivity
(WCAG 2.3.1) check is never approved.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

from pydantic import BaseModel, Field

from catalog_motion.errors import PermanentError
from catalog_motion.invariants import InvariantReport, check_run_invariants
from catalog_motion.paths import absolute_location
from catalog_motion.presets import Preset, load_presets
from catalog_motion.settings import RunSettings, resolve_run_settings
from catalog_motion.types import STANDING, ClipRef, ManifestRow, QCReport, ReviewRecord, WorkItem
from pipeline.journal import RunJournal
from pipeline.outputs import read_latest_manifest, sink_for, write_run_manifest
from pipeline.recording import state_rows
from pipeline.state import ItemState, RunContext
from pipeline.steps import check_batch, generate_batch, publish_batch
from publishing.manifest import ManifestStore, Promotion
from publishing.rows import CarryForward
from quality.review import read_decisions, read_item, read_review_queue, record_decision
from quality.verdict import PHOTOSENSITIVITY_CHECK, Attempt, next_attempt

DecisionKind = Literal["approve", "reject", "regenerate"]


class ReviewError(PermanentError):
    """A decision that cannot be taken (unknown item, an approval the rules forbid); one line says why."""


class ReviewEntry(BaseModel):
    """One open clip of the review queue, as a reviewer sees it."""

    entry: str = Field(description="Queue entry id (review_queue.csv `entry`)")
    sku: str
    preset: str
    run: str = Field(default="", description="Run that queued it")
    kind: str = Field(default="rejected", description="rejected (failed QC) or held (borderline)")
    reason: str = ""
    failed_checks: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    limits: dict[str, float] = Field(default_factory=dict)
    source: str = Field(description="Source photo (absolute path)")
    clip: str = Field(description="The queued clip, lossless (absolute path)")
    filmstrip: str = Field(default="", description="Filmstrip PNG (absolute path), empty when none could be made")
    queued_at: str = ""
    key: str | None = Field(default=None, description="The item's content key when it was queued")

    @property
    def item_id(self) -> str:
        return item_id(self.sku, self.preset)

    @property
    def photosensitive(self) -> bool:
        return PHOTOSENSITIVITY_CHECK in self.failed_checks


class Decision(BaseModel):
    """A reviewer's decision on one item (`sku/preset`)."""

    item: str = Field(description="sku/preset, as `catalog-motion review list` shows it")
    decision: DecisionKind
    note: str = Field(default="", description="Why; for a rejection, the reason the manifest keeps")


class ReviewResult(BaseModel):
    """What applying a set of decisions did."""

    run_id: str | None = Field(default=None, description="The manifest version written (None: nothing to apply)")
    promoted: bool = False
    not_promoted: str | None = None
    outcomes: dict[str, str] = Field(default_factory=dict, description="item -> status it ended in")
    refused: dict[str, str] = Field(default_factory=dict, description="item -> why the decision was refused")
    invariants: dict = Field(default_factory=dict, description="InvariantReport.summary() of the new version")


def item_id(sku: str, preset: str) -> str:
    return f"{sku}/{preset}"


def split_item(text: str) -> tuple[str, str]:
    """(sku, preset) of an item written `sku/preset` (the preset is after the last '/')."""
    sku, sep, preset = text.strip().rpartition("/")
    if not sep or not sku or not preset:
        raise ReviewError(f"item {text!r} must be written sku/preset, e.g. TEE-RED-S/product-page")
    return sku, preset


def review_root(out: str | Path) -> Path:
    return Path(absolute_location(str(out))) / "review"


def _floats(text: str) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(text or "{}").items()}
    except (ValueError, AttributeError):
        return {}


def open_entries(out: str | Path, run_id: str | None = None) -> list[ReviewEntry]:
    """Clips waiting for a decision: the latest queue entry of each (sku, preset) that no decision has
    closed, optionally only those queued by `run_id`. Entries queued before review existed (no entry id)
    cannot be decided and are left out."""
    root = review_root(out)
    latest: dict[tuple[str, str], dict[str, str]] = {}
    for row in read_review_queue(root):
        latest[(row["sku"], row["preset"])] = row
    closed = {d["entry"] for d in read_decisions(root) if d.get("closes")}
    entries = []
    for row in latest.values():
        if not row.get("entry") or row["entry"] in closed or (run_id and row.get("run") != run_id):
            continue
        report = _report(root, row)
        facts = read_item(root, row["sku"], row["preset"]) or {}
        strip = row.get("filmstrip", "")
        entries.append(
            ReviewEntry(
                entry=row["entry"],
                sku=row["sku"],
                preset=row["preset"],
                run=row.get("run", ""),
                kind=row.get("kind") or "rejected",
                reason=row.get("reason", ""),
                failed_checks=[c for c in row.get("failed_checks", "").split(",") if c],
                scores=report.scores if report else _floats(row.get("scores", "")),
                limits=report.limits if report else {},
                source=str(root / row["source"]),
                clip=str(root / row["clip"]),
                filmstrip=str(root / strip) if strip and not strip.startswith("(") else "",
                queued_at=row.get("queued_at", ""),
                key=(facts.get("item") or {}).get("key"),
            )
        )
    return sorted(entries, key=lambda e: (e.sku, e.preset))


def _report(root: Path, row: dict[str, str]) -> QCReport | None:
    path = root / row.get("report", "")
    if not row.get("report") or not path.is_file():
        return None
    return QCReport.model_validate_json(path.read_text(encoding="utf-8")).model_copy(update={"per_frame": {}})


def decision_problems(
    entries: list[ReviewEntry], decisions: list[Decision], latest: list[ManifestRow] | None = None
) -> dict[str, str]:
    """item -> why its decision cannot be taken ({} when every one can). With `latest` (the rows of the
    current manifest), an approval of a clip that a later run has replaced with another video is refused."""
    live = {(r.sku, r.preset): r for r in latest or [] if r.status in STANDING}
    by_item = {e.item_id: e for e in entries}
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for decision in decisions:
        key = decision.item
        entry = by_item.get(key)
        if key in seen:
            problems[key] = f"{key} is decided twice in one review; give one decision per item"
        elif entry is None:
            problems[key] = f"{key} is not an open review item (`catalog-motion review list` shows them)"
        elif decision.decision == "approve" and entry.photosensitive:
            flashes = entry.scores.get("flashes_per_s")
            limit = entry.limits.get("flashes_per_s")
            measured = f" ({flashes:g} flashes in one second > limit {limit:g})" if flashes and limit else ""
            problems[key] = (
                f"cannot approve {key}: it failed the photosensitivity check (WCAG 2.3.1){measured}; "
                "reject it or regenerate it with less"
            )
        elif decision.decision == "approve" and _superseded(entry, live.get((entry.sku, entry.preset))):
            since = live[(entry.sku, entry.preset)].published_run or "a later run"
            problems[key] = (
                f"cannot approve {key}: run {since} has published another video for it since this clip was queued"
            )
        seen.add(key)
    return problems


def _superseded(entry: ReviewEntry, live: ManifestRow | None) -> bool:
    return live is not None and entry.key is not None and live.key is not None and live.key != entry.key


def _review_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-review-{uuid.uuid4().hex[:6]}"


def _state(entry: ReviewEntry, decision: Decision, root: Path, preset: Preset, previous: list[ManifestRow]):
    """The ItemState the decision starts from: the queued clip to publish, or the next attempt to generate."""
    facts = read_item(root, entry.sku, entry.preset)
    if facts is None:
        raise ReviewError(f"{entry.item_id}: its queue entry has no item.json; re-run the item to queue it again")
    item = WorkItem.model_validate(facts["item"]).model_copy(update={"source_path": entry.source})
    skus = set(item.skus or [item.sku])
    state = ItemState(
        item=item,
        previous=[row for row in previous if row.sku in skus and row.preset == item.preset],
        motion_scale=facts.get("motion_scale", 1.0),
        duration_scale=facts.get("duration_scale", 1.0),
        qc=QCReport(passed=False, scores=entry.scores, limits=entry.limits, failed_checks=entry.failed_checks),
        timings=dict(facts.get("timings") or {}),
    )
    if decision.decision in ("approve", "reject"):
        state.clip = ClipRef.model_validate(facts["clip"]).model_copy(update={"path": entry.clip})
        state.checked_attempt = item.attempt  # the reviewer's eyes replace the gate's verdict
    else:  # regenerate
        current = Attempt(item.attempt, item.seed, state.motion_scale, state.duration_scale)
        nxt = next_attempt(preset.ask_for_less, current, sku=item.sku, preset=item.preset)
        state.item.attempt, state.item.seed = nxt.number, nxt.seed
        state.motion_scale, state.duration_scale = nxt.motion_scale, nxt.duration_scale
        state.qc, state.regenerate = None, True
    return state


def apply_decisions(
    out: str,
    decisions: list[Decision],
    *,
    reviewer: str,
    settings_file: str | None = None,
    presets_file: str | None = None,
    run_id: str | None = None,
) -> ReviewResult:
    """Take every decision that can be taken (the others are refused and recorded) and write the new
    manifest version. Raises nothing for a refused decision: `ReviewResult.refused` says why."""
    settings = resolve_run_settings(out, settings_file, presets_file)
    presets = load_presets(settings.presets_file)
    root = review_root(out)
    entries = open_entries(out)
    by_item = {e.item_id: e for e in entries}
    previous = read_latest_manifest(settings.sink)
    problems = decision_problems(entries, decisions, previous)
    decided_at = datetime.now(UTC).isoformat(timespec="seconds")
    result = ReviewResult(refused=problems)
    for key, why in problems.items():
        entry = by_item.get(key)
        record_decision(
            root,
            {
                "entry": entry.entry if entry else "",
                "item": key,
                "decision": next(d.decision for d in decisions if d.item == key),
                "reviewer": reviewer,
                "decided_at": decided_at,
                "outcome": "refused",
                "reason": why,
                "closes": False,
            },
        )
    valid = [d for d in decisions if d.item not in problems]
    if not valid:
        return result
    run = run_id or _review_run_id()
    result.run_id = run
    ctx = RunContext(
        run_id=run,
        catalog="review",
        out=str(Path(absolute_location(out))),
        work_dir=str(settings.work_dir),
        settings=settings,
        presets=presets,
    )
    states: dict[str, tuple[Decision, ReviewEntry, ItemState]] = {}
    for decision in valid:
        entry = by_item[decision.item]
        if entry.preset not in presets:
            result.refused[decision.item] = f"{decision.item}: no preset {entry.preset!r} in {settings.presets_file}"
            continue
        states[decision.item] = (decision, entry, _state(entry, decision, root, presets[entry.preset], previous))
    for decision, _, state in states.values():
        if decision.decision == "reject":
            state.finish("rejected", f"rejected by {reviewer}: {decision.note or 'no reason given'}")
    _run_steps(ctx, [s for d, _, s in states.values() if d.decision == "approve"], regenerate=False)
    _run_steps(ctx, [s for d, _, s in states.values() if d.decision == "regenerate"], regenerate=True)
    rows = _decided_rows(states, reviewer, decided_at, run)
    written = _write_version(ctx, settings, run, rows, previous)
    result.promoted, result.not_promoted = written.promoted, written.not_promoted
    result.invariants = _invariants(settings, run, list(presets)).summary()
    for key, (decision, entry, state) in states.items():
        result.outcomes[key] = state.status or "failed"
        took_effect = not (decision.decision == "approve" and state.status != "published")
        record_decision(
            root,
            {
                "entry": entry.entry,
                "item": key,
                "decision": decision.decision,
                "note": decision.note,
                "reviewer": reviewer,
                "decided_at": decided_at,
                "scores": entry.scores,
                "failed_checks": entry.failed_checks,
                "queued_run": entry.run,
                "outcome": state.status,
                "reason": state.reason,
                "manifest_run": run,
                "promoted": written.promoted,
                "closes": took_effect,
            },
        )
    return result


def _run_steps(ctx: RunContext, states: list[ItemState], *, regenerate: bool) -> None:
    """The run's own steps: generate and check (asking for less while the policy allows) when
    regenerating, then encode, check and store whatever passed."""
    if not states:
        return
    if regenerate:
        while any(not s.done and (s.clip is None or s.regenerate) for s in states):
            generate_batch(states, ctx)
            check_batch(states, ctx)
    publish_batch(states, ctx)
    for state in states:
        if not state.done:  # nothing left to do for it yet no outcome: say so rather than lose it
            state.finish("failed", "review: the item ended without an outcome")


def _decided_rows(
    states: dict[str, tuple[Decision, ReviewEntry, ItemState]], reviewer: str, decided_at: str, run: str
) -> list[ManifestRow]:
    rows = []
    for decision, entry, state in states.values():
        record = ReviewRecord(
            decision=decision.decision,
            reviewer=reviewer,
            decided_at=decided_at,
            note=decision.note,
            scores=entry.scores,
            failed_checks=entry.failed_checks,
            queued_run=entry.run or None,
        )
        rows.extend(row.model_copy(update={"review": record}) for row in state_rows(state, run))
    return rows


def _write_version(ctx: RunContext, settings: RunSettings, run: str, rows: list[ManifestRow], previous):
    """The new manifest version: the decided rows (journaled like a run's), the rest of `latest` carried."""
    journal = RunJournal(ctx.work, f"review-{run}")
    journal.open(run)
    journal.append(rows)
    journal.close(complete=False)
    carried = CarryForward(set(), partial=True, remove_deleted=False).rows(previous, rows)
    promotion = Promotion(
        live_before=sum(1 for r in previous if r.status in STANDING), max_shrink=settings.latest.max_shrink
    )
    try:
        return write_run_manifest(settings.sink, run, journal.path, [], carried, ctx.work, promotion)
    finally:
        journal.close(complete=True)


def _invariants(settings: RunSettings, run: str, preset_names: list[str]) -> InvariantReport:
    """The run invariants on the stored version: one standing row per (sku, preset), every object there.
    Preset names only: an approved clip was judged by a person, not re-judged by the thresholds."""
    sink = sink_for(settings.sink)
    rows = ManifestStore(sink).read_run(run)
    nothing = SimpleNamespace(rows=[], refused=[])
    return check_run_invariants(nothing, preset_names, rows, sink, carried={(r.sku, r.preset) for r in rows})
