"""Plain orchestration functions, without Prefect: planning, ask-for-less, manifest rows, journal, retries."""

from __future__ import annotations

import random

import pytest

from catalog_motion.errors import EngineError, TransientError
from catalog_motion.planning import plan_items, seed_for
from catalog_motion.presets import load_presets
from catalog_motion.types import CatalogRow, ManifestRow, QCReport, RowOutcome, WorkItem
from pipeline.batching import batch_states
from pipeline.calls import backoff_delays
from pipeline.driver import next_stage
from pipeline.journal import RunJournal, journal_id
from pipeline.recording import state_rows
from pipeline.state import ItemState
from pipeline.tally import RunTally
from publishing.rows import CarryForward, invalid_rows
from quality.verdict import judge


@pytest.fixture(scope="module")
def presets():
    return load_presets()


def _row(i: int, sku: str, image: str) -> CatalogRow:
    return CatalogRow(row_index=i, sku=sku, image=image)


def test_plan_groups_shared_photos_and_refuses_duplicates(presets):
    rows = [_row(0, "A-S", "a.png"), _row(1, "A-M", "a.png"), _row(2, "B", "b.png"), _row(3, "B", "c.png")]
    items, refused = plan_items(rows, list(presets.values()))
    assert [(o.row_index, o.sku) for o in refused] == [(3, "B")] and "duplicate" in refused[0].reason
    assert len(items) == 2 * len(presets)
    shared = [i for i in items if i.image == "a.png"]
    assert all(i.skus == ["A-S", "A-M"] and i.sku == "A-S" for i in shared)
    assert {i.preset for i in shared} == set(presets)


def test_seeds_are_deterministic_and_distinct():
    assert seed_for("A", "social", 0) == seed_for("A", "social", 0)
    assert len({seed_for("A", "social", n) for n in range(5)} | {seed_for("B", "social", 0)}) == 6
    assert 0 <= seed_for("x", "y", 3) < 2**31


def test_batches_never_mix_engines_or_presets(presets):
    rows = [_row(i, f"S{i}", f"{i}.png") for i in range(7)]
    items, _ = plan_items(rows, list(presets.values()))
    batches = list(batch_states(items, 3, {}))
    assert sum(len(b) for b in batches) == len(items)
    for batch in batches:
        assert len(batch) <= 3 and len({(s.item.engine, s.item.preset) for s in batch}) == 1


def apply_verdict(state: ItemState, report: QCReport, preset) -> None:
    state.record_qc(report)
    state.apply_verdict(judge(report, preset.ask_for_less, state.attempt, sku=state.item.sku, preset=state.item.preset))


def _state(presets, name="product-page") -> ItemState:
    return ItemState(item=WorkItem(sku="A", skus=["A", "A2"], preset=name, image="a.png", seed=seed_for("A", name, 0)))


def test_ask_for_less_scales_motion_then_rejects(presets):
    preset = presets["product-page"]
    state = _state(presets)
    drift = QCReport(passed=False, reasons=["subject drift 0.4 > 0.25"], failed_checks=["drift"], scores={"drift": 0.4})
    for attempt in range(preset.ask_for_less.max_attempts - 1):
        apply_verdict(state, drift, preset)
        assert state.regenerate and state.status is None and state.item.attempt == attempt + 1
        assert state.motion_scale == pytest.approx(preset.ask_for_less.motion_factor ** (attempt + 1))
        assert state.item.seed == seed_for("A", "product-page", attempt + 1)
    apply_verdict(state, drift, preset)
    assert state.status == "rejected" and f"after {preset.ask_for_less.max_attempts} attempt" in state.reason
    history = state.attempt_history
    assert [a["attempt"] for a in history] == list(range(preset.ask_for_less.max_attempts))
    assert [a["failed_checks"] for a in history] == [["drift"]] * len(history)
    assert history[-1]["motion_scale"] < history[0]["motion_scale"] == 1.0


def test_technical_failures_are_not_regenerated(presets):
    state = _state(presets)
    black = QCReport(passed=False, reasons=["3 black frames"], failed_checks=["black_frames", "drift"])
    apply_verdict(state, black, presets["product-page"])
    assert state.status == "rejected" and state.item.attempt == 0


def test_next_stage_control_flow(presets):
    state = _state(presets)
    assert next_stage("fetch", [state]) == "generate"
    assert next_stage("generate", [state]) == "check"
    state.regenerate = True
    assert next_stage("check", [state]) == "generate"
    state.regenerate = False
    assert next_stage("check", [state]) == "publish"
    state.finish("published")
    assert next_stage("fetch", [state]) is None


def test_rows_one_per_sku_and_counts(presets):
    state = _state(presets).finish("failed", "generation failed: boom")
    rows = state_rows(state)
    assert [(r.sku, r.status, r.reason) for r in rows] == [
        ("A", "failed", "generation failed: boom"),
        ("A2", "failed", "generation failed: boom"),
    ]
    refused = invalid_rows([RowOutcome(row_index=4, sku=None, reason="empty row")], list(presets.values()))
    assert len(refused) == len(presets) and all(r.status == "invalid" and r.sku == "<row 4>" for r in refused)
    tally = RunTally(limit=10)
    tally.add(rows + refused)
    assert tally.counts()["total"] == {"failed": 2, "invalid": len(presets)}
    pub = ManifestRow(sku="x", preset="p", status="published")
    rej = ManifestRow(sku="y", preset="p", status="rejected")
    tally = RunTally(limit=10)
    tally.add([pub, pub, pub, rej])
    assert tally.rejection_rate() == 0.25
    tally = RunTally(limit=10)
    tally.add(refused)
    assert tally.rejection_rate() == 0.0


def test_rows_not_covered_by_a_run_are_carried_forward():
    previous = [
        ManifestRow(sku="A", preset="p", status="published", video="v", published_run="r1"),
        ManifestRow(sku="B", preset="p", status="rejected", reason="drift"),
        ManifestRow(sku="GONE", preset="p", status="published", video="g", published_run="r0"),
        ManifestRow(sku="GONE2", preset="p", status="failed", reason="x"),
    ]
    now = [ManifestRow(sku="A", preset="p", status="published", video="v2")]
    carry = CarryForward({"A", "B"}, partial=False, remove_deleted=False)
    carried = carry.rows(previous, now)
    # B not live, still in the catalog: as it was; GONE live: kept published; GONE2 not live, gone: dropped
    assert [(r.sku, r.status, r.unchanged) for r in carried] == [("B", "rejected", False), ("GONE", "published", True)]
    assert "no longer in the catalog" in carried[1].reason and carried[1].published_run == "r0"
    assert carry.removed == []
    carried = CarryForward({"A", "B"}, partial=False, remove_deleted=True).rows(previous, [])
    assert [(r.sku, r.status, r.video) for r in carried] == [("A", "published", "v"), ("B", "rejected", None)]
    assert carried[0].unchanged and carried[0].reason == "not in this run; published by run r1"
    carry = CarryForward({"A"}, partial=True, remove_deleted=True)  # a partial run never deletes
    assert [r.sku for r in carry.rows(previous, now)] == ["B", "GONE", "GONE2"] and carry.removed == []


def test_journal_survives_a_torn_line_and_retires(tmp_path):
    ident = journal_id("cat.csv", ["b", "a"], None, False)
    assert ident == journal_id("cat.csv", ["a", "b"], None, False) != journal_id("cat.csv", ["a"], None, False)
    journal = RunJournal(tmp_path, ident)
    journal.open("run-1")
    journal.append([ManifestRow(sku="A", preset="p", status="published")])
    journal.close(complete=False)
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"sku": "B", "pres')  # killed mid-write
    again = RunJournal(tmp_path, ident)
    assert set(again.load()) == {("A", "p")} and again.run_id() == "run-1"
    again.open("run-2")
    again.close(complete=True)
    assert RunJournal(tmp_path, ident).load() == {} and RunJournal(tmp_path, ident).run_id() is None


def test_backoff_is_exponential_with_bounded_jitter():
    delays = backoff_delays(4, 1.0, 0.5, random.Random(7))
    for n, delay in enumerate(delays):
        assert 2**n <= delay <= 2**n * 1.5


def test_retry_condition_only_for_transient_errors():
    from prefect.states import Completed, Failed

    from tasks.prefect_tasks import retry_only_transient

    assert retry_only_transient(None, None, Failed(data=TransientError("S3 503")))
    assert not retry_only_transient(None, None, Failed(data=EngineError("no weights")))
    assert not retry_only_transient(None, None, Failed(data=ValueError("bug")))
    assert not retry_only_transient(None, None, Completed(data=1))
