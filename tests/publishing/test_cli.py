"""The publish and manifest commands, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from catalog_motion.settings import SinkSettings
from catalog_motion.types import ManifestRow
from publishing.manifest import ManifestStore
from publishing.publish import publish_variant, published_row
from publishing.sinks import make_sink

from .test_sinks_manifest import local_assets


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def test_manifest_show_list_rollback_and_republish_to_s3(tmp_path, s3_server, s3_bucket, s3_client):
    out = tmp_path / "out"
    sink = make_sink(SinkSettings(uri=str(out)))
    store = ManifestStore(sink)
    for run, tag in (("run-1", "a"), ("run-2", "b")):
        stored = publish_variant(
            sku="SKU-1",
            preset="product-page",
            assets=local_assets(tmp_path / tag, tag),
            sink=sink,
            metadata={"engine": "camera", "seed": 5},
        )
        store.write_run(
            run,
            [
                published_row(sku="SKU-1", preset="product-page", stored=stored, qc={"drift": 0.12}),
                ManifestRow(sku="SKU-2", preset="product-page", status="invalid", reason="no photo"),
            ],
        )

    shown = cli("manifest", "show", "--out", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "run-2 (latest)" in shown.stdout and "SKU-1" in shown.stdout and "no photo" in shown.stdout
    assert "drift=0.12" not in shown.stdout and "1 invalid, 1 published" in shown.stdout
    scored = cli("manifest", "show", "--out", str(out), "--scores")
    assert scored.returncode == 0 and "drift=0.12" in scored.stdout
    listed = cli("manifest", "list", "--out", str(out), "--json")
    assert [(r["run_id"], r["latest"]) for r in json.loads(listed.stdout)] == [("run-2", True), ("run-1", False)]
    rolled = cli("manifest", "rollback", "run-1", "--out", str(out))
    assert rolled.returncode == 0 and "latest is now run-1 (was run-2)" in rolled.stdout
    assert store.latest_run_id() == "run-1"
    missing = cli("manifest", "show", "--run", "run-7", "--out", str(out))
    assert missing.returncode == 2 and "no manifest for run 'run-7'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    dest = f"s3://{s3_bucket}/shop"
    published = cli("publish", "--run", "run-2", "--from", str(out), "--to", dest, "--endpoint-url", s3_server)
    assert published.returncode == 0, published.stderr
    assert "2 object(s) uploaded" in published.stdout
    doc = json.loads(s3_client.get_object(Bucket=s3_bucket, Key="shop/runs/run-2/manifest.json")["Body"].read())
    row = doc["rows"][0]
    assert row["video"].startswith(f"s3://{s3_bucket}/shop/SKU-1/product-page/video-")
    for asset in row["assets"]:
        head = s3_client.head_object(Bucket=s3_bucket, Key=asset["uri"].split("/", 3)[3])
        assert head["ContentLength"] == asset["size"] and head["Metadata"]["sha256"] == asset["sha256"]
        assert head["Metadata"]["engine"] == "camera" and head["Metadata"]["seed"] == "5"
    again = cli("publish", "--run", "run-2", "--from", str(out), "--to", dest, "--endpoint-url", s3_server)
    assert "0 object(s) uploaded, 2 already there" in again.stdout
    shown_s3 = cli("manifest", "show", "--out", dest, "--endpoint-url", s3_server)
    assert shown_s3.returncode == 0 and "run-2 (latest)" in shown_s3.stdout
