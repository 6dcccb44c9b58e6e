"""Manifest-row composition: one row per (sku, preset) of an item, notes on ignored rows, failed rows."""

from __future__ import annotations

from catalog_motion.types import Asset, ClipRef, ManifestRow, QCReport, WorkItem
from publishing.rows import failed_row, item_rows, with_ignored_rows


def _asset(sku: str, kind: str) -> Asset:
    return Asset(kind=kind, uri=f"s3://b/{sku}/{kind}", size=1, sha256="0" * 64, content_type="x", key=f"{sku}/{kind}")


def test_an_item_publishes_each_sku_on_its_own_and_skips_keep_their_assets() -> None:
    item = WorkItem(sku="A", skus=["A", "B", "C"], preset="social", image="a.png", seed=7, attempt=1, key="k")
    clip = ClipRef(path="m.nut", fps=24, n_frames=48, width=8, height=8, engine="camera", seed=7, params={"z": 1})
    rows = item_rows(
        item,
        "published",
        "",
        clip=clip,
        qc=QCReport(passed=True, scores={"drift": 0.1}),
        assets={"A": [_asset("A", "video"), _asset("A", "poster_jpeg")]},
        sku_failures={"B": "publishing failed: S3 503"},
        previous=[],
        timings={"encode": 1.5},
    )
    assert [(r.sku, r.status, r.reason) for r in rows] == [
        ("A", "published", ""),
        ("B", "failed", "publishing failed: S3 503"),
        ("C", "published", ""),
    ]
    assert rows[0].video == "s3://b/A/video" and rows[0].poster == "s3://b/A/poster_jpeg"
    assert rows[0].attempts == 2 and rows[0].seed == 7 and rows[0].qc == {"drift": 0.1} and rows[0].params == {"z": 1}
    assert rows[1].assets == [] and rows[2].assets == []  # C had no stored assets: nothing to link
    assert {r.published_run for r in rows} == {None}  # no run id given
    old = ManifestRow(
        sku="A", preset="social", status="published", video="v", assets=[_asset("A", "video")], published_run="r1"
    )
    skipped = item_rows(
        item, "skipped", "unchanged", clip=None, qc=None, assets={}, sku_failures={}, previous=[old], timings={}
    )
    # A's live row stays published, flagged unchanged; B has nothing live: its row says what happened
    assert skipped[0].status == "published" and skipped[0].video == "v" and skipped[0].assets == old.assets
    assert skipped[0].unchanged and skipped[0].outcome == "skipped" and skipped[0].published_run == "r1"
    assert skipped[0].reason == "unchanged since run r1"
    assert skipped[1].status == "skipped" and skipped[1].attempts == 0 and skipped[1].engine is None
    # a failed attempt does not take A's live video away; the reason keeps what went wrong
    failed = item_rows(
        item,
        "failed",
        "generation failed: boom",
        clip=None,
        qc=None,
        assets={},
        sku_failures={},
        previous=[old],
        timings={},
        run_id="r2",
    )
    assert failed[0].status == "published" and failed[0].outcome == "failed" and failed[0].video == "v"
    assert "this run: failed: generation failed: boom" in failed[0].reason and failed[0].published_run == "r1"
    assert failed[1].status == "failed" and failed[1].outcome is None
    published = item_rows(
        item,
        "published",
        "",
        clip=clip,
        qc=None,
        assets={"A": [_asset("A", "video")]},
        sku_failures={},
        previous=[old],
        timings={},
        run_id="r2",
    )
    assert published[0].published_run == "r2" and not published[0].unchanged


def test_notes_and_failed_rows() -> None:
    rows = [
        ManifestRow(sku="A", preset="p", status="published", video="v", assets=[_asset("A", "video")]),
        ManifestRow(sku="B", preset="p", status="rejected"),
    ]
    noted = with_ignored_rows(rows, {"A": ["row 4: duplicate sku 'A'"]})
    assert noted[0].ignored_rows == ["row 4: duplicate sku 'A'"] and noted[1].ignored_rows == []
    failed = failed_row(rows[0], "object gone")
    assert (failed.status, failed.reason, failed.video, failed.poster, failed.assets) == (
        "failed",
        "object gone",
        None,
        None,
        [],
    )
