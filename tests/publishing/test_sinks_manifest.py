"""Local folder sink, safe keys, publish_variant and the manifest store (round trips, latest, rollback)."""

from __future__ import annotations

import json

import pytest

from catalog_motion.errors import PermanentError
from catalog_motion.settings import SinkSettings
from catalog_motion.types import ManifestRow, sha256_file
from publishing.encode import LocalAsset
from publishing.manifest import ManifestError, ManifestStore
from publishing.publish import publish_variant, published_row
from publishing.sinks import LocalSink, ascii_metadata, check_key, make_key, make_sink


def local_assets(folder, tag="a"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + tag.encode() * 100)
    (folder / "poster.jpg").write_bytes(b"\xff\xd8\xff" + tag.encode() * 50)
    return [
        LocalAsset(kind="video", path=str(folder / "video.mp4"), content_type="video/mp4"),
        LocalAsset(kind="poster_jpeg", path=str(folder / "poster.jpg"), content_type="image/jpeg"),
    ]


def test_make_sink_picks_by_uri(tmp_path):
    assert isinstance(make_sink(SinkSettings(uri=str(tmp_path / "o"))), LocalSink)
    with pytest.raises(Exception, match="unsupported sink uri"):
        make_sink(SinkSettings(uri="ftp://x/y"))


def test_keys_cannot_escape_the_root(tmp_path):
    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    for bad in ("../x", "a/../../b", "/etc/passwd", "a//b", "", "a/./b"):
        with pytest.raises(ValueError):
            check_key(bad)
        with pytest.raises(ValueError):
            sink.put(__file__, bad, "text/plain")
    key = make_key("../x", "product-page", "video.mp4")
    assert ".." not in key.split("/") and key.startswith("x-")
    stored = publish_variant(
        sku="../../etc/passwd", preset="product-page", assets=local_assets(tmp_path / "enc"), sink=sink, metadata={}
    )
    for asset in stored:
        assert (tmp_path / "out").resolve() in sink.path_for(asset.key).parents
    assert not (tmp_path / "etc").exists()


def test_local_put_exists_get_and_content_addressing(tmp_path):
    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    assets = local_assets(tmp_path / "enc")
    meta = {"engine": "camera", "seed": 7, "qc": {"subject_drift": 0.0123456789}, "title": "Robe été"}
    stored = publish_variant(sku="SKU-1", preset="product-page", assets=assets, sink=sink, metadata=meta)
    assert [a.kind for a in stored] == ["video", "poster_jpeg"]
    video = stored[0]
    assert video.key.startswith("SKU-1/product-page/video-") and video.key.endswith(".mp4")
    assert video.sha256 == sha256_file(assets[0].path) and video.sha256[:16] in video.key
    assert video.uri == str(tmp_path.resolve() / "out" / video.key)
    assert sink.exists(video.key) and sink.exists(video.key, video.sha256)
    assert not sink.exists(video.key, "0" * 64) and not sink.exists("SKU-1/product-page/nope.mp4")
    assert sink.get_bytes(video.key) == open(assets[0].path, "rb").read()
    side = sink.metadata(video.key)
    assert side["sku"] == "SKU-1" and side["seed"] == "7" and side["qc-subject-drift"] == "0.0123457"
    assert side["title"].isascii() and side["content_type"] == "video/mp4"
    assert sink.uploads == 2
    # Re-publishing identical files uploads nothing.
    again = publish_variant(sku="SKU-1", preset="product-page", assets=assets, sink=sink, metadata=meta)
    assert again == stored and sink.uploads == 2 and sink.skipped == 2
    # Changed content gets a new key; the old object stays for older manifests.
    changed = publish_variant(
        sku="SKU-1", preset="product-page", assets=local_assets(tmp_path / "enc2", "b"), sink=sink, metadata=meta
    )
    assert changed[0].key != video.key and sink.exists(video.key) and sink.uploads == 4
    with pytest.raises(PermanentError, match="no object"):
        sink.get_bytes("SKU-1/missing.mp4")


def test_ascii_metadata():
    flat = ascii_metadata({"sku": "Ä/1", "QC": {"Flicker Score": 0.5}, "none": None, "tags": ["a", "b"]})
    assert flat == {"sku": "%C3%84/1", "qc-flicker-score": "0.5", "tags": "a,b"}
    assert all(k.isascii() and v.isascii() for k, v in flat.items())


def rows_for(sink, tmp_path, tag):
    stored = publish_variant(
        sku="SKU-1", preset="product-page", assets=local_assets(tmp_path / tag, tag), sink=sink, metadata={}
    )
    return [
        published_row(
            sku="SKU-1",
            preset="product-page",
            stored=stored,
            engine="camera",
            seed=3,
            attempts=1,
            qc={"subject_drift": 0.1},
            params={"amount": 0.25, "path": "breathing"},
            timings={"encode": 1.5},
        ),
        ManifestRow(sku="SKU-2", preset="product-page", status="invalid", reason="photo too small: 64x64"),
    ]


def live_view(rows: list[ManifestRow], run_id: str) -> list[ManifestRow]:
    """`read_latest` names the run that published each live row (rows written without one)."""
    return [r.model_copy(update={"published_run": run_id}) if r.status == "published" else r for r in rows]


def test_latest_reads_older_manifests_as_live_rows(tmp_path):
    """A manifest from before 0.2 wrote unchanged rows as `skipped`: read as published, unchanged."""
    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    store = ManifestStore(sink)
    rows = rows_for(sink, tmp_path, "a")
    rows[0] = rows[0].model_copy(update={"status": "skipped", "reason": "unchanged"})
    store.write_run("run-old", rows)
    live = store.read_latest()
    assert live[0].status == "published" and live[0].unchanged and live[0].outcome == "skipped"
    assert live[0].published_run is None  # which run published it, that manifest did not say
    assert live[1] == rows[1]  # the invalid row as written


def test_manifest_round_trip_latest_and_rollback(tmp_path):
    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    store = ManifestStore(sink)
    assert store.read_latest() == [] and store.list_runs() == [] and store.latest_run_id() is None
    rows1 = rows_for(sink, tmp_path, "a")
    manifest = store.write_run("run-1", rows1)
    assert manifest.counts == {"published": 1, "invalid": 1}
    assert store.read_run("run-1") == rows1
    assert store.read_run_parquet("run-1") == rows1
    assert rows1[0].video == rows1[0].assets[0].uri and rows1[0].poster == rows1[0].assets[1].uri
    assert store.read_latest() == live_view(rows1, "run-1")
    import pandas as pd

    frame = pd.read_parquet(tmp_path / "out" / "runs" / "run-1" / "manifest.parquet")
    assert list(frame["sku"]) == ["SKU-1", "SKU-2"] and list(frame["status"]) == ["published", "invalid"]
    rows2 = rows_for(sink, tmp_path, "b")
    store.write_run("run-2", rows2)
    assert store.list_runs() == ["run-1", "run-2"] and store.latest_run_id() == "run-2"
    assert json.loads((tmp_path / "out" / "latest" / "manifest.json").read_text())["run_id"] == "run-2"
    store.rollback("run-1")
    assert store.latest_run_id() == "run-1" and store.read_latest() == live_view(rows1, "run-1")
    assert json.loads((tmp_path / "out" / "latest" / "manifest.json").read_text())["run_id"] == "run-1"
    assert store.read_run("run-2") == rows2  # older versions are kept
    with pytest.raises(PermanentError, match="no manifest for run"):
        store.rollback("run-9")
    with pytest.raises(PermanentError, match="invalid run id"):
        store.write_run("../evil", rows1)


def test_manifest_refuses_rows_naming_missing_objects(tmp_path):
    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    store = ManifestStore(sink)
    rows = rows_for(sink, tmp_path, "a")
    sink.path_for(rows[0].assets[0].key).unlink()
    with pytest.raises(ManifestError, match="not written: 1 object"):
        store.write_run("run-1", rows)
    assert store.list_runs() == [] and store.latest_run_id() is None
    store.write_run("run-1", rows, on_missing="fail_row")
    written = store.read_run("run-1")
    assert [r.status for r in written] == ["failed", "invalid"]
    assert written[0].assets == [] and "missing" in written[0].reason
    # A corrupted object (same size, other bytes) does not verify either.
    rows = rows_for(sink, tmp_path, "c")
    path = sink.path_for(rows[0].assets[1].key)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert [a.kind for _, a in store.missing_objects(rows)] == ["poster_jpeg"]
    # Rollback re-checks the older run's objects.
    good = rows_for(sink, tmp_path, "d")
    store.write_run("run-2", good)
    store.write_run("run-3", good[1:])
    sink.path_for(good[0].assets[0].key).unlink()
    with pytest.raises(PermanentError, match="cannot roll back to run-2"):
        store.rollback("run-2")
    assert store.latest_run_id() == "run-3"


def test_sinks_pickle_as_their_settings(tmp_path, s3_server, s3_bucket):
    import pickle

    for settings in (
        SinkSettings(uri=str(tmp_path / "out")),
        SinkSettings(uri=f"s3://{s3_bucket}/x", endpoint_url=s3_server),
    ):
        sink = make_sink(settings)
        clone = pickle.loads(pickle.dumps(sink))
        assert type(clone) is type(sink) and clone.settings == settings
        stored = clone.put(__file__, "code/test.py", "text/x-python", {})
        assert sink.exists(stored.key, stored.sha256)


def test_put_sweeps_temp_files_of_killed_writers(tmp_path):
    """A writer killed mid-copy leaves `.<name>.<host>.<pid>.<thread>.partial`; the next put of that object
    removes it when the writer is dead (same host) or the file is older than an hour (another host's)."""
    import os
    import subprocess
    import sys
    import time

    from publishing import sinks

    sink = LocalSink(SinkSettings(uri=str(tmp_path / "out")))
    source = tmp_path / "video.mp4"
    source.write_bytes(b"clip bytes")
    key = "SKU-1/product-page/video-0123456789abcdef.mp4"
    folder = sink.path_for(key).parent
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    name = sink.path_for(key).name
    host = sinks._HOST
    planted = {
        "dead writer": folder / f".{name}.{host}.{dead_pid}.1.partial",
        "dead writer's sidecar": folder / f".{name}.{host}.{dead_pid}.1.partial.meta",
        "live writer": folder / f".{name}.{host}.{os.getpid()}.1.partial",
        "other host, recent": folder / f".{name}.elsewhere.{dead_pid}.1.partial",
        "other host, old": folder / f".{name}.elsewhere.{dead_pid}.2.partial",
        "other object": folder / f".poster-0123456789abcdef.jpg.{host}.{dead_pid}.1.partial",
    }
    for path in planted.values():
        path.write_bytes(b"half")
    hours_ago = time.time() - 2 * sinks.STALE_PARTIAL_S
    os.utime(planted["other host, old"], (hours_ago, hours_ago))

    sink.put(source, key, "video/mp4", {})
    left = {label for label, path in planted.items() if path.exists()}
    assert left == {"live writer", "other host, recent", "other object"}
    assert sink.path_for(key).read_bytes() == b"clip bytes"
    assert sink.list_keys("SKU-1/") == [key]


def test_streamed_manifest_is_the_whole_manifest_document(tmp_path):
    """write_run (rows verified and written a few at a time, as the flow does from its journal) stores
    JSON byte-identical to the whole RunManifest document and the same Parquet rows, re-read in batches."""
    from catalog_motion.types import ReviewRecord
    from publishing.manifest import RunManifest, iter_rows_from_parquet

    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    store = ManifestStore(sink)
    rows = (
        rows_for(sink, tmp_path, "a")
        + rows_for(sink, tmp_path, "b")[:1]
        + [ManifestRow(sku="SKU-é\n3", preset="social", status="failed", reason='quote " and\nnewline')]
    )
    rows[2] = rows[2].model_copy(update={"sku": "SKU-3"})
    # a reviewer's decision travels in both formats (Parquet: the review_json column)
    decided = ReviewRecord(decision="reject", reviewer="ana", decided_at="2026-12-01T08:00:00+00:00", note="logo")
    rows[-1] = rows[-1].model_copy(update={"review": decided.model_copy(update={"scores": {"drift": 0.3}})})
    streamed = store.write_run(
        "run-str", iter(rows), scratch_dir=tmp_path / "scratch", chunk_rows=2, keep_parquet=tmp_path / "kept.parquet"
    )
    counts = {status: sum(r.status == status for r in rows) for status in {r.status for r in rows}}
    assert streamed.counts == counts and streamed.n_rows == len(rows)
    out = tmp_path / "out" / "runs"
    expected = RunManifest(run_id="run-str", created_at=streamed.created_at, counts=streamed.counts, rows=rows)
    assert (out / "run-str" / "manifest.json").read_text(encoding="utf-8") == expected.model_dump_json(indent=1)
    assert store.read_run("run-str") == rows == store.read_run_parquet("run-str")
    assert list(iter_rows_from_parquet(tmp_path / "kept.parquet", batch_rows=2)) == rows
    assert store.latest_run_id() == "run-str" and store.read_latest() == live_view(rows, "run-str")
    assert (tmp_path / "out" / "latest" / "manifest.json").read_bytes() == (
        out / "run-str" / "manifest.json"
    ).read_bytes()
    assert not list((tmp_path / "scratch").iterdir())  # scratch files removed
    # an empty manifest is valid JSON of the same shape
    store.write_run("run-empty", iter([]), scratch_dir=tmp_path / "scratch")
    assert store.read_run("run-empty") == [] and store.read_run_parquet("run-empty") == []


def test_streamed_manifest_verifies_every_chunk_before_storing_anything(tmp_path):
    sink = make_sink(SinkSettings(uri=str(tmp_path / "out")))
    store = ManifestStore(sink)
    rows = rows_for(sink, tmp_path, "a") + rows_for(sink, tmp_path, "b")
    sink.path_for(rows[0].assets[0].key).unlink()  # first chunk
    sink.path_for(rows[2].assets[1].key).unlink()  # second chunk
    with pytest.raises(ManifestError, match="not written: 2 object"):
        store.write_run("run-1", iter(rows), scratch_dir=tmp_path / "scratch", chunk_rows=2)
    assert store.list_runs() == [] and store.latest_run_id() is None
    written = store.write_run(
        "run-1", iter(rows), scratch_dir=tmp_path / "scratch", chunk_rows=2, on_missing="fail_row"
    )
    stored = store.read_run("run-1")
    assert [r.status for r in stored] == ["failed", "invalid", "failed", "invalid"]
    assert written.counts == {"failed": 2, "invalid": 2}
    assert stored[0].assets == [] and "missing" in stored[0].reason
