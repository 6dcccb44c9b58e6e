"""Receipts, adoption and the orphan sweep against a folder sink and moto's S3 server over HTTP."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from catalog_motion.invariants import check_run_invariants
from catalog_motion.settings import SinkSettings
from catalog_motion.types import Asset, ManifestRow
from publishing import orphans, sinks
from publishing.manifest import ManifestStore
from publishing.publish import publish_variant, receipt_key
from publishing.sinks import LocalSink, S3Sink, Sink, make_sink

from .test_sinks_manifest import local_assets

QC = {"drift": 0.01, "flicker": 0.02}
DAY = 86400.0


@pytest.fixture(params=["local", "s3"])
def sink(request, tmp_path) -> Sink:
    if request.param == "local":
        return make_sink(SinkSettings(uri=str(tmp_path / "out")))
    server, bucket = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")
    return make_sink(SinkSettings(uri=f"s3://{bucket}/cat", endpoint_url=server))


def store(sink: Sink, tmp: Path, sku: str, *, run: str, key: str | None = None, receipt: bool = True) -> list[Asset]:
    """Publish two small objects for (sku, 'pp') as run `run` stores them (with a receipt unless told)."""
    assets = local_assets(tmp / f"enc-{sku}-{run}", tag=f"{sku}-{run}")
    return publish_variant(
        sku=sku,
        preset="pp",
        assets=assets,
        sink=sink,
        metadata={"run": run},
        run_id=run if receipt else None,
        key=key,
    )


def failed(sku: str, key: str | None, qc: dict[str, float] | None = None) -> ManifestRow:
    return ManifestRow(
        sku=sku,
        preset="pp",
        status="failed",
        reason="publish task failed: worker died",
        key=key,
        qc=QC if qc is None else qc,
        engine="camera",
        seed=7,
    )


def tamper(sink: Sink, asset: Asset) -> None:
    """Replace a stored object's bytes behind the sink's back (its recorded checksum no longer holds)."""
    if isinstance(sink, LocalSink):
        sink.path_for(asset.key).write_bytes(b"tampered")
    else:
        assert isinstance(sink, S3Sink)
        sink.client.put_object(
            Bucket=sink.bucket, Key=sink.object_key(asset.key), Body=b"tampered", Metadata={"sha256": asset.sha256}
        )


def make_old(sink: Sink, keys: list[str]) -> bool:
    """Backdate objects two days where the sink allows it (a folder); False for S3 (no way to set LastModified)."""
    if not isinstance(sink, LocalSink):
        return False
    past = time.time() - 2 * DAY
    for key in keys:
        os.utime(sink.path_for(key), (past, past))
    return True


def test_receipts_round_trip(sink, tmp_path):
    a = store(sink, tmp_path, "SKU 1/ä", run="r1", key="k-a")
    b = store(sink, tmp_path, "B", run="r1", key="k-b")
    store(sink, tmp_path, "C", run="r2", key="k-c")
    assert sink.uploads == 6  # receipts are bookkeeping, not asset uploads
    assert sink.manifest_writes == 3

    got = orphans.read_receipts(sink, "r1")
    assert set(got) == {("SKU 1/ä", "pp"), ("B", "pp")}
    assert got[("SKU 1/ä", "pp")].assets == a and got[("SKU 1/ä", "pp")].key == "k-a"
    assert got[("B", "pp")].assets == b and got[("B", "pp")].run_id == "r1"
    assert receipt_key("r1", "SKU 1/ä", "pp") in sink.list_keys("runs/r1/receipts/")
    lazy = orphans.RunReceipts(sink, "r1")  # what the run reads: one receipt per row that asks
    assert ("B", "pp") in lazy and lazy[("B", "pp")] == got[("B", "pp")]
    assert ("C", "pp") not in lazy and ("NOPE", "pp") not in lazy  # r2's receipt, and none at all
    assert set(lazy) == set(got) and len(lazy) == 2

    assert orphans.remove_receipts(sink, "r1") == 2
    assert orphans.read_receipts(sink, "r1") == {}
    assert set(orphans.read_receipts(sink, "r2")) == {("C", "pp")}
    assert all(sink.verify(x.key, x.size, x.sha256) for x in a + b)  # the objects stay


def test_adopt_only_matching_key_and_verified_objects(sink, tmp_path):
    good = store(sink, tmp_path, "A", run="r1", key="k-a")
    store(sink, tmp_path, "B", run="r1", key="k-b")
    bad = store(sink, tmp_path, "C", run="r1", key="k-c")
    store(sink, tmp_path, "E", run="r1", key="k-e")
    tamper(sink, bad[1])
    rows = [
        failed("A", "k-a"),
        failed("B", "k-other"),  # the receipt is of other content
        failed("C", "k-c"),  # one object no longer verifies
        ManifestRow(sku="D", preset="pp", status="rejected", reason="drift", key="k-d", qc=QC),
        failed("E", "k-e", qc={}),  # no QC scores: never adopted
        failed("F", "k-f"),  # no receipt
    ]
    adoption = orphans.Adoption(orphans.read_receipts(sink, "r1"), sink)
    first = list(adoption.adopt(rows))
    second = list(adoption.adopt(rows))  # a two-pass writer judges each row once
    assert first == second and adoption.adopted == [("A", "pp")]

    row = first[0]
    assert (row.status, row.reason) == ("published", orphans.ADOPTED_REASON)
    assert row.assets == good and row.video == good[0].uri and row.poster == good[1].uri
    assert (row.qc, row.key, row.engine, row.seed) == (QC, "k-a", "camera", 7)
    assert first[1:] == rows[1:]
    assert "content key differs" in adoption.declined[("B", "pp")]
    assert bad[1].key in adoption.declined[("C", "pp")]
    assert "no QC scores" in adoption.declined[("E", "pp")]
    assert [r.status for r in orphans.adopt(rows, orphans.read_receipts(sink, "r1"), sink)][:3] == [
        "published",
        "failed",
        "failed",
    ]


def test_run_end_to_end_adopts_sweeps_and_leaves_nothing_unaccounted(sink, tmp_path):
    """The flow's order: adopt, sweep (before the manifest), write, remove receipts, then check."""
    store(sink, tmp_path, "A", run="r1", key="k-a")  # task died after storing A: adopted
    stray = store(sink, tmp_path, "B", run="r1", key="k-b")  # B's receipt is for other content: swept
    rows = [failed("A", "k-a"), failed("B", "k-new")]
    adoption = orphans.Adoption(orphans.read_receipts(sink, "r1"), sink)
    named = orphans.asset_keys(adoption.adopt(rows))
    sweep = orphans.sweep_orphans(sink, "r1", named, adopted=adoption.adopted)
    assert (sweep.removed, sweep.pending, sweep.adopted) == (2, 0, 1)
    assert set(sweep.removed_keys) == {a.key for a in stray}
    assert sweep.summary()["first_adopted"] == ["A/pp"]
    ManifestStore(sink).write_run("r1", adoption.adopt(rows))
    assert orphans.remove_receipts(sink, "r1") == 2
    left = orphans.unaccounted(sink, "r1")
    assert left == []

    load = SimpleNamespace(rows=[SimpleNamespace(sku="A"), SimpleNamespace(sku="B")], refused=[])
    written = ManifestStore(sink).read_run("r1")
    assert [(r.sku, r.status) for r in written] == [("A", "published"), ("B", "failed")]
    report = check_run_invariants(load, ["pp"], written, sink, orphans=left)
    assert report.ok, report.violations


def test_sweep_removes_own_and_old_orphans_keeps_pending_and_named(sink, tmp_path):
    named_old = store(sink, tmp_path, "X", run="r0", receipt=False)
    ManifestStore(sink).write_run("r0", [ManifestRow(sku="X", preset="pp", status="published", assets=named_old)])
    mine = store(sink, tmp_path, "MINE", run="r1")  # this run, no row: removed
    kept = store(sink, tmp_path, "KEPT", run="r1")  # this run, its row names it
    other = store(sink, tmp_path, "OTHER", run="r2", receipt=False)  # another run, recent: pending
    old = store(sink, tmp_path, "OLD", run="r2", receipt=False)  # another run, two days old: removed
    busy = store(sink, tmp_path, "BUSY", run="r3")  # another run still publishing: its receipt names it
    backdated = make_old(sink, [a.key for a in named_old + old])
    if isinstance(sink, LocalSink):
        # Not objects of the sink: the review queue (four segments) and the default work folder.
        review = sink.root / "review" / "A" / "pp" / f"video-{'0' * 16}.mp4"
        work = sink.root / ".work" / "A" / "pp" / f"video-{'1' * 16}.mp4"
        for path in (review, work):
            path.parent.mkdir(parents=True)
            path.write_bytes(b"keep me")
            os.utime(path, (time.time() - 2 * DAY,) * 2)

    assert orphans.keys_named_by_runs(sink) == {a.key for a in named_old}
    found = {o.key: o for o in orphans.find_orphans(sink, {a.key for a in kept}, run_id="r1")}
    expected = {a.key for a in mine + other + old}
    assert set(found) == expected
    assert all(found[a.key].run == "r2" and found[a.key].pending for a in other)

    report = orphans.sweep_orphans(sink, "r1", {a.key for a in kept})
    gone = mine + old if backdated else mine
    assert report.removed == len(gone) and set(report.removed_keys) == {a.key for a in gone}
    assert report.pending == len(expected) - len(gone)
    for asset in gone:
        assert not sink.exists(asset.key)
    for asset in named_old + kept + other + busy + ([] if backdated else old):
        assert sink.verify(asset.key, asset.size, asset.sha256), asset.key
    if isinstance(sink, LocalSink):
        assert review.exists() and work.exists()
        assert not (sink.root / "MINE").exists()  # empty folders go with the last object

    # Once the grace period has passed every unnamed object goes, other runs' too (and their stale
    # receipts); what a retained manifest names never does.
    later = orphans.sweep_orphans(sink, "r1", {a.key for a in kept}, grace_s=0.0)
    assert later.receipts_removed == 1  # r3's; r1's own receipts are the flow's to remove
    for asset in other + old + busy:
        assert not sink.exists(asset.key)
    for asset in named_old + kept:
        assert sink.verify(asset.key, asset.size, asset.sha256)
    assert orphans.unaccounted(sink, "r1", grace_s=0.0) == sorted(a.key for a in kept)  # no manifest names them
    if isinstance(sink, LocalSink):
        assert review.exists() and work.exists()


def test_delete_many_in_chunks_and_list_objects(sink, tmp_path, monkeypatch):
    monkeypatch.setattr(sinks, "DELETE_CHUNK", 2)
    keys = [f"S{i}/pp/video-{i:016x}.mp4" for i in range(5)]
    for key in keys:
        sink.put_bytes(key.encode(), key, "video/mp4", kind="video")
    listed = sink.list_objects("")
    assert [o.key for o in listed] == keys
    assert [o.size for o in listed] == [len(k) for k in keys]
    assert all(abs(o.modified - time.time()) < 120 for o in listed)
    assert [o.key for o in sink.list_objects("S3/")] == [keys[3]]
    assert sink.delete_many(keys[:4] + ["S9/pp/video-absent.mp4"]) == 5
    assert [o.key for o in sink.list_objects("")] == keys[4:]


def test_invariants_report_orphans(sink, tmp_path):
    stored = store(sink, tmp_path, "A", run="r1", receipt=False)
    row = ManifestRow(
        sku="A", preset="pp", status="published", assets=stored[:1], video=stored[0].uri, qc=QC
    )  # names the video only: the poster is an orphan
    ManifestStore(sink).write_run("r1", [row])
    left = orphans.unaccounted(sink, "r1")
    assert left == [stored[1].key]
    load = SimpleNamespace(rows=[SimpleNamespace(sku="A")], refused=[])
    report = check_run_invariants(load, ["pp"], [row], sink, orphans=left)
    assert not report.ok and report.counts == {"orphan": 1}
    violation = report.violations[0]
    assert (violation.kind, violation.sku, violation.preset) == ("orphan", "A", "pp")
    assert stored[1].key in violation.detail and "orphan 1" in report.message()
