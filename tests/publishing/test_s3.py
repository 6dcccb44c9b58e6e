"""Publishing to moto's S3 server over HTTP: objects, metadata, multipart, manifests, re-runs, interruptions."""

from __future__ import annotations

import json
import os

import pytest
from botocore.exceptions import ConnectionClosedError

from catalog_motion.errors import TransientError
from catalog_motion.settings import SinkSettings
from catalog_motion.types import ManifestRow
from publishing.manifest import ManifestError, ManifestStore
from publishing.publish import publish_variant, published_row
from publishing.sinks import S3Sink, make_sink

from .test_sinks_manifest import local_assets


def s3_sink(server, bucket, prefix="catalog/v1", **kw) -> S3Sink:
    sink = make_sink(SinkSettings(uri=f"s3://{bucket}/{prefix}", endpoint_url=server, **kw))
    assert isinstance(sink, S3Sink)
    return sink


def test_objects_metadata_and_headers(s3_server, s3_bucket, s3_client, tmp_path):
    sink = s3_sink(s3_server, s3_bucket)
    assets = local_assets(tmp_path / "enc")
    meta = {"engine": "camera", "seed": 11, "qc": {"subject_drift": 0.031}, "title": "Jupe plissée"}
    stored = publish_variant(sku="SKU 1/ä", preset="social", assets=assets, sink=sink, metadata=meta)
    video = stored[0]
    assert video.uri == f"s3://{s3_bucket}/catalog/v1/{video.key}"
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"catalog/v1/{video.key}")
    assert head["ContentType"] == "video/mp4"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["ContentLength"] == os.path.getsize(assets[0].path)
    m = head["Metadata"]
    assert m["sku"] == "SKU%201/%C3%A4" or m["sku"] == "SKU 1/%C3%A4"
    assert (m["preset"], m["engine"], m["seed"], m["qc-subject-drift"], m["kind"]) == (
        "social",
        "camera",
        "11",
        "0.031",
        "video",
    )
    assert m["sha256"] == video.sha256
    body = s3_client.get_object(Bucket=s3_bucket, Key=f"catalog/v1/{video.key}")["Body"].read()
    assert body == open(assets[0].path, "rb").read() and sink.get_bytes(video.key) == body
    assert sink.exists(video.key, video.sha256) and not sink.exists(video.key, "f" * 64)


def test_large_files_upload_in_parts(s3_server, s3_bucket, s3_client, tmp_path):
    sink = s3_sink(s3_server, s3_bucket, multipart_threshold_mb=5, multipart_chunk_mb=5)
    big = tmp_path / "video.mp4"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    asset = sink.put(big, "SKU-9/product-page/video-big.mp4", "video/mp4", {"sku": "SKU-9"}, kind="video")
    head = s3_client.head_object(Bucket=s3_bucket, Key="catalog/v1/SKU-9/product-page/video-big.mp4")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag names its part count
    assert head["ContentLength"] == asset.size and head["Metadata"]["sha256"] == asset.sha256


def test_manifest_on_s3_and_rerun_uploads_nothing(s3_server, s3_bucket, s3_client, tmp_path):
    sink = s3_sink(s3_server, s3_bucket)
    store = ManifestStore(sink)
    stored = publish_variant(
        sku="SKU-1", preset="product-page", assets=local_assets(tmp_path / "enc"), sink=sink, metadata={"seed": 1}
    )
    rows = [
        published_row(sku="SKU-1", preset="product-page", stored=stored, seed=1),
        ManifestRow(sku="SKU-2", preset="product-page", status="rejected", reason="drift 0.4 > 0.25"),
    ]
    store.write_run("r1", rows)
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert {
        "catalog/v1/runs/r1/manifest.json",
        "catalog/v1/runs/r1/manifest.parquet",
        "catalog/v1/latest/manifest.json",
        "catalog/v1/latest.json",
    } <= keys
    doc = json.loads(s3_client.get_object(Bucket=s3_bucket, Key="catalog/v1/latest/manifest.json")["Body"].read())
    assert doc["run_id"] == "r1" and [r["sku"] for r in doc["rows"]] == ["SKU-1", "SKU-2"]
    for asset in doc["rows"][0]["assets"]:  # every object the manifest names is there, same size
        head = s3_client.head_object(Bucket=s3_bucket, Key=asset["uri"].split("/", 3)[3])
        assert head["ContentLength"] == asset["size"] and head["Metadata"]["sha256"] == asset["sha256"]
    head = s3_client.head_object(Bucket=s3_bucket, Key="catalog/v1/latest.json")
    assert head["CacheControl"] == "no-cache"
    assert store.read_run_parquet("r1") == rows and store.list_runs() == ["r1"]
    # A fresh process re-publishing the same files uploads zero objects.
    again = s3_sink(s3_server, s3_bucket)
    assert (
        publish_variant(
            sku="SKU-1", preset="product-page", assets=local_assets(tmp_path / "enc"), sink=again, metadata={"seed": 1}
        )
        == stored
    )
    assert again.uploads == 0 and again.skipped == 2


def test_interrupted_upload_leaves_no_dangling_row_and_next_run_completes(s3_server, s3_bucket, tmp_path):
    """The third object upload fails (injected connection drop); the manifest never names it."""
    sink = s3_sink(s3_server, s3_bucket)
    calls = {"n": 0}

    def fail_third(params, **_):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionClosedError(endpoint_url=s3_server)

    sink.client.meta.events.register("before-call.s3.PutObject", fail_third)
    store = ManifestStore(sink)
    rows, skus = [], ["A", "B", "C"]
    for sku in skus:
        try:
            stored = publish_variant(
                sku=sku, preset="close-up", assets=local_assets(tmp_path / sku, sku), sink=sink, metadata={}
            )
            rows.append(published_row(sku=sku, preset="close-up", stored=stored))
        except TransientError as exc:
            rows.append(ManifestRow(sku=sku, preset="close-up", status="failed", reason=str(exc)))
    assert [r.status for r in rows] == ["published", "failed", "published"]
    assert "upload" in rows[1].reason and "\n" not in rows[1].reason
    store.write_run("r1", rows)
    for row in store.read_latest():
        for asset in row.assets:
            assert sink.verify(asset.key, asset.size, asset.sha256)
    # A manifest that names an object that never arrived is refused outright.
    bogus = rows[0].model_copy(update={"assets": [rows[0].assets[0].model_copy(update={"key": "A/close-up/x.mp4"})]})
    with pytest.raises(ManifestError):
        store.write_run("r-bogus", [bogus])
    assert store.list_runs() == ["r1"]
    # Next run: only the missing objects are uploaded, and every row is published.
    fresh = s3_sink(s3_server, s3_bucket)
    rows2 = [
        published_row(
            sku=s,
            preset="close-up",
            stored=publish_variant(
                sku=s, preset="close-up", assets=local_assets(tmp_path / s, s), sink=fresh, metadata={}
            ),
        )
        for s in skus
    ]
    assert fresh.uploads == 2 - 1 + 1  # B's video and B's poster; A and C were already there
    ManifestStore(fresh).write_run("r2", rows2)
    assert [r.status for r in ManifestStore(fresh).read_latest()] == ["published"] * 3


CHILD = r"""
import json, sys, time
from catalog_motion.settings import SinkSettings
from publishing.encode import LocalAsset
from publishing.manifest import ManifestStore
from publishing.publish import publish_variant, published_row
from publishing.sinks import make_sink

cfg = json.loads(sys.argv[1])
sink = make_sink(SinkSettings(uri=cfg["uri"], endpoint_url=cfg["endpoint"], multipart_threshold_mb=5,
                              multipart_chunk_mb=5, max_concurrency=1))
parts = {"n": 0}

def on_part(**_):
    parts["n"] += 1
    if parts["n"] == 2:  # B's big video is half uploaded: tell the parent, which kills us here
        print("mid-upload", flush=True)
        time.sleep(120)

sink.client.meta.events.register("before-call.s3.UploadPart", on_part)
rows = []
for sku, assets in cfg["items"]:
    stored = publish_variant(sku=sku, preset="product-page", sink=sink, metadata={},
                             assets=[LocalAsset(**a) for a in assets])
    rows.append(published_row(sku=sku, preset="product-page", stored=stored))
    print("stored", sku, flush=True)
ManifestStore(sink).write_run("r1", rows)
print("manifest written", flush=True)
"""


def test_publisher_killed_mid_multipart_upload(s3_server, s3_bucket, s3_client, tmp_path):
    import signal
    import subprocess
    import sys

    items = []
    for sku, size in (("A", 200_000), ("B", 14 * 1024 * 1024), ("C", 300_000)):
        assets = local_assets(tmp_path / sku, sku)
        with open(assets[0].path, "ab") as handle:
            handle.write(os.urandom(size))
        items.append((sku, [a.model_dump() for a in assets]))
    cfg = {"uri": f"s3://{s3_bucket}/shop", "endpoint": s3_server, "items": items}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    seen = []
    for line in child.stdout:
        seen.append(line.strip())
        if line.startswith("mid-upload"):
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert seen == ["stored A", "mid-upload"], seen
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads"), "the kill did not land mid-upload"
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}
    assert not any(k.startswith("shop/B/") and "video" in k for k in keys)
    sink = s3_sink(s3_server, s3_bucket, prefix="shop")
    store = ManifestStore(sink)
    assert store.latest_run_id() is None and store.list_runs() == []  # no manifest, so no dangling row

    # The next run completes: A is already there, B and C are uploaded, then the manifest.
    from publishing.encode import LocalAsset

    rows = [
        published_row(
            sku=sku,
            preset="product-page",
            stored=publish_variant(
                sku=sku, preset="product-page", sink=sink, metadata={}, assets=[LocalAsset(**a) for a in assets]
            ),
        )
        for sku, assets in items
    ]
    assert (sink.uploads, sink.skipped) == (4, 2)
    store.write_run("r2", rows)
    latest = store.read_latest()
    assert [r.status for r in latest] == ["published"] * 3
    for row in latest:
        for asset in row.assets:
            head = s3_client.head_object(Bucket=s3_bucket, Key=asset.uri.split("/", 3)[3])
            assert head["ContentLength"] == asset.size and head["Metadata"]["sha256"] == asset.sha256


def test_stopped_server_fails_cleanly_and_next_run_completes(tmp_path):
    import boto3

    from tests.fixtures.s3 import MotoServer

    server = MotoServer().start()
    try:
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1").create_bucket(Bucket="shop")
        sink = s3_sink(server.url, "shop", prefix="p")
        store = ManifestStore(sink)
        first = publish_variant(
            sku="A", preset="social", assets=local_assets(tmp_path / "A", "A"), sink=sink, metadata={}
        )
        server.stop()
        with pytest.raises(TransientError) as info:
            publish_variant(sku="B", preset="social", assets=local_assets(tmp_path / "B", "B"), sink=sink, metadata={})
        assert "\n" not in str(info.value) and "testing" not in str(info.value)  # one line, no credentials
        with pytest.raises(TransientError):  # cannot verify A, so no manifest is written either
            store.write_run("r1", [published_row(sku="A", preset="social", stored=first)])
        # The endpoint comes back (moto keeps no state across restarts: everything is re-sent).
        server.start()
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1").create_bucket(Bucket="shop")
        fresh = s3_sink(server.url, "shop", prefix="p")
        rows = [
            published_row(
                sku=s,
                preset="social",
                stored=publish_variant(
                    sku=s, preset="social", assets=local_assets(tmp_path / s, s), sink=fresh, metadata={}
                ),
            )
            for s in "AB"
        ]
        ManifestStore(fresh).write_run("r2", rows)
        assert [r.status for r in ManifestStore(fresh).read_latest()] == ["published", "published"]
        assert fresh.uploads == 4
    finally:
        server.stop()


def test_real_encodes_republished_upload_nothing(pub_masters, s3_server, s3_bucket, tmp_path):
    """Encoding the same master again gives the same bytes, so the second publish uploads zero objects."""
    from publishing.encode import encode_variants

    from .conftest import small_preset

    preset = small_preset("close-up", 128, 128)
    clip = pub_masters(128, 128, 24, 24)
    first = s3_sink(s3_server, s3_bucket)
    stored = publish_variant(
        sku="SKU-1",
        preset=preset,
        sink=first,
        metadata={"seed": 0},
        assets=encode_variants(clip, preset, tmp_path / "run1"),
    )
    assert first.uploads == 4
    second = s3_sink(s3_server, s3_bucket)
    again = publish_variant(
        sku="SKU-1",
        preset=preset,
        sink=second,
        metadata={"seed": 0},
        assets=encode_variants(clip, preset, tmp_path / "run2"),
    )
    assert again == stored and second.uploads == 0 and second.skipped == 4


def test_manifest_of_many_rows_checks_every_object(s3_server, s3_bucket, s3_client, tmp_path):
    sink = s3_sink(s3_server, s3_bucket)
    rows = []
    for i in range(30):
        sku = f"SKU-{i:02d}"
        rows.append(
            published_row(
                sku=sku,
                preset="close-up",
                stored=publish_variant(
                    sku=sku, preset="close-up", assets=local_assets(tmp_path / sku, sku), sink=sink, metadata={}
                ),
            )
        )
    victim = rows[17].assets[1]
    s3_client.delete_object(Bucket=s3_bucket, Key=victim.uri.split("/", 3)[3])
    store = ManifestStore(make_sink(sink.settings))
    with pytest.raises(ManifestError, match="1 object"):
        store.write_run("big", rows)
    written = store.write_run("big", rows, on_missing="fail_row")
    assert [r.sku for r in store.read_run("big") if r.status == "failed"] == ["SKU-17"]
    assert written.counts == {"published": 29, "failed": 1}
