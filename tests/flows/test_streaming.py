"""What keeps the flow's memory flat in catalog size, without Prefect: the outcome tally, lazily built
batches, the journal as the run's row store (resume compaction), streamed invariants."""

from __future__ import annotations

import gc
from collections import Counter

from catalog_motion.invariants import check_run_invariants
from catalog_motion.planning import plan_items
from catalog_motion.presets import load_presets
from catalog_motion.types import CatalogRow, ManifestRow, RowOutcome, WorkItem
from pipeline.batching import batch_states
from pipeline.journal import RunJournal
from pipeline.state import ItemState
from pipeline.summary import failures_table, links_markdown, summary_table
from pipeline.tally import RunTally


def _rows() -> list[ManifestRow]:
    rows = []
    for n in range(40):
        status = ("published", "rejected", "invalid", "failed", "skipped")[n % 5]
        rows.append(
            ManifestRow(
                sku=f"S{n}",
                preset=("pp", "social")[n % 2],
                status=status,
                reason=f"why {n}" * 80,
                video=f"/v/{n}.mp4" if status == "published" else None,
            )
        )
    return rows


def test_tally_counts_every_row_but_keeps_only_the_first_failures_and_links():
    rows = _rows()
    tally = RunTally(limit=5)
    for start in range(0, len(rows), 7):  # fed batch by batch, as the flow does
        tally.add(rows[start : start + 7])
    per_preset = {preset: dict(Counter(r.status for r in rows if r.preset == preset)) for preset in ("pp", "social")}
    assert tally.counts() == {**per_preset, "total": dict(Counter(r.status for r in rows))}
    assert tally.rows == len(rows)
    assert tally.rejection_rate() == 0.5  # 8 rejected of 16 generated (published + rejected)
    bad = [r for r in rows if r.status in ("rejected", "invalid", "failed")]
    assert failures_table(tally, 5) == [
        {"sku": r.sku, "preset": r.preset, "status": r.status, "reason": r.reason[:300]} for r in bad[:5]
    ]
    assert summary_table(tally)[-1] == {
        "preset": "total",
        "published": 8,
        "rejected": 8,
        "invalid": 8,
        "failed": 8,
        "skipped": 8,
        "rows": 40,
    }
    # links: only the first `limit` published rows are kept, the total is still right
    assert [p.sku for p in tally.published] == ["S0", "S5", "S10", "S15", "S20"] and tally.published_links == 8
    page = links_markdown("r1", tally, 5, manifest=None, qc_report=None, review=None)
    assert "… and 3 more" in page and "/v/20.mp4" in page and "/v/25.mp4" not in page
    # no resolver for local paths: shown as text, never as a file:// link a browser would not open
    assert "file://" not in page and "[video](" not in page and "`/v/20.mp4`" in page
    served = links_markdown("r1", tally, 5, manifest=None, qc_report=None, review=None, link=lambda p: "http://x" + p)
    assert "[video](http://x/v/20.mp4)" in served and "no browser link" not in served
    assert RunTally(limit=3).rejection_rate() == 0.0 and RunTally(limit=3).counts() == {}


def test_batch_states_builds_states_only_for_the_batch_taken():
    presets = load_presets()
    rows = [CatalogRow(row_index=i, sku=f"S{i}", image=f"{i}.png") for i in range(9)]
    items, _ = plan_items(rows, list(presets.values()))
    previous = {("S1", "product-page"): ManifestRow(sku="S1", preset="product-page", status="published", video="v")}
    ours = {id(item) for item in items}  # other tests may leave ItemStates of their own alive
    lazy = batch_states(items, 4, previous)
    gc.collect()
    first = next(lazy)
    gc.collect()
    # only this batch's states exist so far (the rest are built when the driver takes them)
    assert sum(type(o) is ItemState and id(o.item) in ours for o in gc.get_objects()) == len(first) == 4
    batches = [first, *lazy]
    # one engine and preset per batch, presets in order, at most 4 items each
    expected = [
        [f"S{i}/{preset}" for i in range(start, min(start + 4, 9))] for preset in presets for start in range(0, 9, 4)
    ]
    assert [[s.item.item_id for s in b] for b in batches] == expected
    with_previous = [s for b in batches for s in b if s.previous]
    assert [(s.item.sku, s.item.preset, s.previous[0].video) for s in with_previous] == [("S1", "product-page", "v")]


def test_resumed_journal_keeps_each_finished_outcome_once(tmp_path):
    journal = RunJournal(tmp_path, "j1")
    journal.open("run-1")
    journal.append(
        [ManifestRow(sku="A", preset="p", status="published"), ManifestRow(sku="B", preset="p", status="rejected")]
    )
    # an item shared by C and D was half journaled when the process died, mid-line
    journal.append([ManifestRow(sku="C", preset="p", status="published")])
    journal.close(complete=False)
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"sku": "D", "pres')
    again = RunJournal.at(journal.path)
    assert again.keys() == {("A", "p"), ("B", "p"), ("C", "p")} and again.run_id() == "run-1"
    # the resumed run reuses A and B and redoes the C+D item: C's stale row leaves the journal
    again.open("run-2", keep={("A", "p"), ("B", "p")})
    again.append([ManifestRow(sku="C", preset="p", status="failed"), ManifestRow(sku="D", preset="p", status="failed")])
    assert [(r.sku, r.status) for r in again.rows()] == [
        ("A", "published"),
        ("B", "rejected"),
        ("C", "failed"),
        ("D", "failed"),
    ]
    again.close(complete=False)
    # without `keep`, a torn last line is ended first so the next row is not glued to it
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"sku": "E"')
    third = RunJournal(tmp_path, "j1")
    third.open("run-3")
    third.append([ManifestRow(sku="F", preset="p", status="published")])
    third.close(complete=True)
    done = journal.path.with_name(journal.path.name + ".done")
    lines = done.read_text(encoding="utf-8").splitlines()
    assert lines[-2] == '{"sku": "E"' and ManifestRow.model_validate_json(lines[-1]).sku == "F"


def test_invariants_read_the_rows_once_from_a_stream(tmp_path):
    from catalog_motion.settings import SinkSettings
    from publishing.sinks import make_sink

    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))

    class Load:
        rows = [CatalogRow(row_index=0, sku="A", image="a.png"), CatalogRow(row_index=1, sku="B", image="b.png")]
        refused = [RowOutcome(row_index=2, sku="C", reason="bad photo")]

    rows = [
        ManifestRow(sku="A", preset="pp", status="rejected", reason="drift"),
        ManifestRow(sku="C", preset="pp", status="invalid", reason="bad photo"),
        ManifestRow(sku="X", preset="pp", status="failed", video="/v.mp4"),  # unexpected + stray asset
        ManifestRow(sku="A", preset="pp", status="failed"),
    ]  # duplicate; B missing
    consumed = []

    def stream():
        for row in rows:
            consumed.append(row.sku)
            yield row

    report = check_run_invariants(Load(), ["pp"], stream(), sink)
    assert consumed == ["A", "C", "X", "A"]  # one pass
    assert report == check_run_invariants(Load(), ["pp"], rows, sink)
    assert report.manifest_rows == 4 and report.counts == {
        "unexpected": 1,
        "duplicate": 1,
        "missing": 1,
        "stray_assets": 1,
    }
    # accounting violations are listed before storage ones, as in row order within each
    assert [v.kind for v in report.violations] == ["unexpected", "duplicate", "missing", "stray_assets"]


def test_work_items_are_let_go_once_their_batch_is_done():
    import weakref

    items = [WorkItem(sku=f"S{n}", skus=[f"S{n}"], preset="pp", image=f"{n}.png") for n in range(10)]
    refs = [weakref.ref(item) for item in items]
    lazy = batch_states(items, 4, {})
    del items  # the flow keeps no other reference to its pending items
    first = next(lazy)
    assert first[0].item is refs[0]()  # states reference the plan's items, no copy per item
    del first  # the batch finished and was journaled
    gc.collect()
    assert [ref() is None for ref in refs] == [True] * 4 + [False] * 6
    assert [len(b) for b in lazy] == [4, 2]


def test_collect_every_frees_cyclic_garbage_on_schedule():
    import weakref

    from pipeline.memory import CollectEvery

    class Node:
        pass

    gc.disable()  # only the collector under test may collect
    try:
        node = Node()
        node.self = node  # a cycle, like a batch's records with Prefect's states
        ref = weakref.ref(node)
        del node
        collector = CollectEvery(3)
        assert collector.advance(2) is False and ref() is not None
        assert collector.advance(1) is True and ref() is None
        assert collector.collections == 1 and collector.advance(2) is False
    finally:
        gc.enable()
