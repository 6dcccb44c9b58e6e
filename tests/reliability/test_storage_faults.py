"""Storage faults: S3 behind a fault-injecting proxy (500, 503, SlowDown, resets, slow answers).

The whole flow publishes through the proxy; afterwards moto is read DIRECTLY (not through the proxy
or the project's sink) to prove every published object is stored once, with the manifest's checksum.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import boto3
import yaml

from catalog_motion.presets import load_presets
from tests.reliability.conftest import SEED
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow


def _objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_proxy_schedule_is_deterministic_and_boto3_survives_it(s3_server, s3_bucket, fault_proxy, rel_results):
    """Same seed, same request order -> same faults; every put lands despite them (client retries)."""
    proxy = fault_proxy(s3_server, rate=0.5, seed=7, max_consecutive=2)
    client = boto3.client("s3", endpoint_url=proxy.url, region_name="us-east-1")
    for n in range(12):
        client.put_object(Bucket=s3_bucket, Key=f"probe/{n}", Body=f"payload {n}".encode())
    rel_results.add("faults_injected", proxy.log.injected)
    assert proxy.log.injected >= 4, proxy.log.schedule
    assert {"ok"} < set(proxy.log.schedule)
    direct = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    stored = _objects(direct, s3_bucket, "probe/")
    assert stored == {f"probe/{n}": f"payload {n}".encode() for n in range(12)}

    # the schedule depends only on the seed and the request order
    from tests.fixtures.faults import FaultPlan, FaultProxy

    twins = [FaultProxy(s3_server, FaultPlan(rate=0.5, seed=7, max_consecutive=2)) for _ in range(2)]
    for twin in twins:
        for _ in range(30):
            twin._next_fault("PUT")
    assert twins[0].log.schedule == twins[1].log.schedule
    assert twins[0].log.schedule[: len(proxy.log.schedule)] == proxy.log.schedule


def test_flow_publishes_everything_once_through_faulty_s3(
    prefect_api, s3_server, s3_bucket, fault_proxy, rel_catalog, rel_presets_file, tmp_path, rel_results
):
    proxy = fault_proxy(s3_server, rate=0.3, seed=SEED, slow_s=0.3, max_consecutive=2)
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "sink": {"uri": f"s3://{s3_bucket}/shop", "endpoint_url": proxy.url},
                "orchestration": {"retries": 4, "retry_delay_s": 0.05, "retry_jitter_factor": 0.1},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    params = dict(
        catalog=str(rel_catalog), out=str(out), settings_file=str(settings), presets_file=str(rel_presets_file)
    )

    summary, _, error = run_flow(**params)
    rel_results.add("runs")
    assert error is None, f"run failed under storage faults: {error!r}"
    rel_results.add("runs_survived")
    assert proxy.log.injected >= 5, f"too few faults to mean anything: {proxy.log.faults}"
    assert len(proxy.log.faults) >= 4, proxy.log.faults  # several kinds, not one repeated
    first_run_faults = proxy.log.injected
    rel_results.add("faults_injected", first_run_faults)

    presets = list(load_presets(rel_presets_file).values())
    direct_sink = make_sink(f"s3://{s3_bucket}/shop", s3_server)  # past the proxy
    rows = latest_rows(direct_sink)
    assert {r.status for r in rows} == {"published"}, [(r.sku, r.preset, r.status, r.reason) for r in rows]
    report = judge(rel_results, rel_catalog, presets, rows, direct_sink)
    assert report.ok, report.violations
    assert summary.get("invariants", {"ok": True})["ok"] is True

    # moto, read directly: each published (sku, preset) has exactly its manifest's objects, bytes intact
    direct = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    stored = _objects(direct, s3_bucket, "shop/")
    named = {a.key: a for r in rows for a in r.assets}
    asset_keys = {k.removeprefix("shop/") for k in stored if not k.startswith(("shop/runs/", "shop/latest"))}
    assert asset_keys == set(named), sorted(asset_keys ^ set(named))
    for key, asset in named.items():
        assert hashlib.sha256(stored[f"shop/{key}"]).hexdigest() == asset.sha256, key
    per_variant = Counter(k.rsplit("/", 1)[0] for k in asset_keys if k.rsplit("/", 1)[1].startswith("video"))
    assert set(per_variant.values()) == {1}, per_variant  # no duplicate clips per (sku, preset)
    assert not direct.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")

    # a second run through the same faults: nothing to regenerate, nothing uploaded twice
    before = set(stored)
    summary2, _, error2 = run_flow(**params)
    rel_results.add("runs")
    assert error2 is None, repr(error2)
    rel_results.add("runs_survived")
    assert summary2["counts"]["total"] == {"skipped": len(rows)}
    after = set(_objects(direct, s3_bucket, "shop/"))
    new = {k for k in after - before if not k.startswith(("shop/runs/", "shop/latest"))}
    assert not new, new
    rel_results.add("faults_injected", proxy.log.injected - first_run_faults)
