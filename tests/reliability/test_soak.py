"""`make soak` (benchmarks/soak.py) kept from rotting: one short pass of the real soak, and its measures.

The pass is the soak's own (mixed catalog with broken and hostile rows, S3 behind the fault proxy), with
its kill forced to the worst point - right after a video object is stored, before it is journaled - and
then resumed; the soak's counters, read from moto directly, must all be 0. The measures themselves must
be able to see a problem: a stray object in the bucket is an orphan, a live video gone is a regression.
"""

from __future__ import annotations

import dataclasses
import json
import uuid

import boto3

from benchmarks.soak import COUNTERS, PREFIX, Soak, latest_regressions, orphan_keys, pass_line


def test_one_soak_pass_with_a_kill_at_publish_loses_nothing(prefect_server_env, s3_server, tmp_path, rel_results):
    bucket = f"soak-{uuid.uuid4().hex[:10]}"
    results = tmp_path / "soak.json"
    soak = Soak(
        tmp_path / "soak",
        seed=11,
        s3_endpoint=s3_server,
        prefect_env=prefect_server_env,
        results=results,
        bucket=bucket,
        initial_skus=3,
        presets=["close-up"],
    )
    plan = dataclasses.replace(
        soak.catalog.plan(1), task_runner="threads", kill="publish:1", broken_night=False, fault_rate=0.25
    )
    result = soak.run_pass(plan)
    soak.write_results(minutes=None)
    rel_results.add("runs", result.runs)
    rel_results.add("runs_killed", result.kills)
    rel_results.add("runs_survived", result.runs - result.kills - result.failed_unexpectedly)
    rel_results.add("faults_injected", result.faults_injected)
    rel_results.add("items_lost", result.items_lost)
    rel_results.add("duplicates", result.duplicates)
    line = f"{pass_line(result)} runs {result.run_seconds} s"

    assert result.runs == 2 and result.kills == 1, line
    assert result.run_outcomes == ["killed (publish:1)", "completed"], line
    assert result.faults_injected > 0, line
    assert {k: getattr(result, k) for k in COUNTERS} == dict.fromkeys(COUNTERS, 0), (line, result.examples)
    assert result.failed_unexpectedly == 0, result.examples

    # The sink now holds a published catalog, read past the proxy.
    live = soak.reader.latest_standing()
    assert {sku for sku, _ in live} >= set(plan.skus), sorted(live)

    payload = json.loads(results.read_text())
    assert payload["ok"] is True
    assert payload["totals"]["passes"] == 1 and payload["totals"]["kills"] == 1
    assert [p["n"] for p in payload["passes"]] == [1]

    # The orphan measure sees an object no manifest names (what a killed run would leave behind).
    direct = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    direct.put_object(Bucket=bucket, Key=f"{PREFIX}/STRAY/close-up/video-0000.mp4", Body=b"not in any manifest")
    assert soak.reader.orphans() == {"STRAY/close-up/video-0000.mp4"}


def test_orphan_and_regression_measures():
    stored = {"A/p/video-1.mp4", "A/p/poster-1.jpg", "runs/r1/manifest.parquet", "latest/manifest.json", "latest.json"}
    assert orphan_keys(stored, {"A/p/video-1.mp4"}) == {"A/p/poster-1.jpg"}
    assert orphan_keys(stored, {"A/p/video-1.mp4", "A/p/poster-1.jpg"}) == set()

    before = {("A", "p"), ("B", "p"), ("GONE", "p")}
    # B still in the catalog and no longer live: a regression; GONE left the catalog, deletions off: too.
    assert latest_regressions(before, {("A", "p")}, {"A", "B"}, remove_deleted=False) == {("B", "p"), ("GONE", "p")}
    # with deletions on, a SKU that left the catalog may go; one still in it may not
    assert latest_regressions(before, {("A", "p")}, {"A", "B"}, remove_deleted=True) == {("B", "p")}
    assert latest_regressions(before, before, {"A", "B"}, remove_deleted=False) == set()
