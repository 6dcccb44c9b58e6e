"""catalog_run under a real local Prefect server: manifest, task-run states, artifacts, incremental."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from tests.flows.conftest import SMALL_PRESETS, read_rows
from tests.flows.helpers import artifacts, events_named, flow_run, manifest_rows, run_flow, task_runs


def test_flow_publishes_every_item_and_records_task_runs(prefect_api, flows_catalog, flows_presets_file, tmp_path):
    out = tmp_path / "out"
    summary, flow_run_id = run_flow(catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file))

    skus = [row["sku"] for row in read_rows(flows_catalog)]
    presets = list(SMALL_PRESETS["presets"])
    rows = manifest_rows(out, summary["run_id"])
    # exactly one row per (sku, preset)
    assert sorted((r.sku, r.preset) for r in rows) == sorted((s, p) for s in skus for p in presets)
    # two SKUs share one photo: 2 photos x 2 presets = 4 work items
    assert summary["items"] == 4
    published = [r for r in rows if r.status == "published"]
    assert published, f"nothing published: {[(r.sku, r.preset, r.status, r.reason) for r in rows]}"
    for row in rows:
        assert row.status in ("published", "rejected"), (row.sku, row.preset, row.status, row.reason)
        if row.status == "published":
            video = Path(row.video)
            assert video.is_file() and video.parent == out / row.sku / row.preset
            assert Path(row.poster).is_file()
            assert row.qc and row.engine == "camera" and row.attempts >= 1 and row.key
        else:
            assert row.video is None and not row.assets and row.reason
            assert not (out / row.sku / row.preset).exists()
    # the Parquet manifest beside the JSON holds the same rows
    import pyarrow.parquet as pq

    table = pq.read_table(out / "runs" / summary["run_id"] / "manifest.parquet")
    assert table.num_rows == len(rows)

    # what the server recorded: a completed flow run and completed task runs of every stage
    assert flow_run(flow_run_id).state.is_completed()
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + 3)
    names = Counter(r.name.split(" [")[0].rsplit("-", 1)[0] if "[" not in r.name else r.name.split(" [")[0]
                    for r in runs)
    for stage in ("load", "previous", "fetch", "generate", "check", "write"):
        assert any(name.startswith(stage) for name in names), (stage, names)
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.type) for r in runs]
    assert len(runs) == summary["task_runs"] + 3  # stage tasks + load, previous manifest, write manifest
    generate_runs = [r for r in runs if r.name.startswith("generate")]
    assert all("generation" in r.tags and "engine:camera" in r.tags for r in generate_runs)

    keys = {a.key for a in artifacts(flow_run_id)}
    assert {"catalog-run-summary", "catalog-run-failures", "catalog-run-links", "catalog-run-progress"} <= keys

    # second run over unchanged inputs: published items are skipped, nothing regenerated for them
    summary2, flow_run_id2 = run_flow(catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file))
    rows2 = {(r.sku, r.preset): r for r in manifest_rows(out, summary2["run_id"])}
    assert len(rows2) == len(rows)
    for row in published:
        again = rows2[(row.sku, row.preset)]
        assert again.status == "skipped" and again.video == row.video and again.key == row.key
    if all(r.status == "published" for r in rows):
        runs2 = task_runs(flow_run_id2, expect_at_least=3)
        assert not [r for r in runs2 if r.name.startswith("generate")]


def test_ask_for_less_then_reject_to_review_queue(prefect_api, flows_catalog, tmp_path):
    """A drift threshold no clip can meet: each item is regenerated with less motion, then rejected."""
    spec = yaml.safe_load(yaml.safe_dump(SMALL_PRESETS))
    preset = spec["presets"]["product-page"]
    preset["qc"] = {"max_subject_drift": 0.0}
    preset["ask_for_less"] = {"max_attempts": 3, "motion_factor": 0.5, "duration_factor": 1.0}
    spec["presets"] = {"product-page": preset}
    presets_file = tmp_path / "strict.yaml"
    presets_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    out = tmp_path / "out"

    summary, flow_run_id = run_flow(catalog=str(flows_catalog), out=str(out), presets_file=str(presets_file))
    rows = manifest_rows(out, summary["run_id"])
    assert len(rows) == 3
    for row in rows:
        assert row.status == "rejected", (row.sku, row.reason)
        assert row.attempts == 3 and "after 3 attempt" in row.reason and "drift" in row.reason
        # the last attempt asked for a quarter of the motion (0.5 per retry) with its own seed
        assert row.params["motion_scale"] == 0.25
        assert row.video is None and not (out / row.sku).exists()
    review = out / "review"
    assert (review / "review_queue.csv").is_file()
    assert {p.name for p in review.iterdir() if p.is_dir()} >= {"HOOD-LOGO-L"}
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + 3)
    assert sum(r.name.startswith("generate") for r in runs) == 3  # 1 batch x 3 attempts
    assert not [r for r in runs if r.name.startswith("encode+publish")]
    assert summary["rejection_rate"] == 1.0
    # above orchestration.rejection_rate_alert: the flow emitted the event the automation listens to
    alerts = events_named("catalog.run.rejection-rate-high", f"catalog-motion.run.{summary['run_id']}")
    assert len(alerts) == 1 and alerts[0].payload["rejection_rate"] == 1.0


def test_bad_rows_become_invalid_and_good_rows_publish(prefect_api, flows_bad_catalog, flows_presets_file, tmp_path):
    out = tmp_path / "out"
    summary, _ = run_flow(catalog=str(flows_bad_catalog), out=str(out), presets_file=str(flows_presets_file),
                          presets=["product-page"])
    rows = manifest_rows(out, summary["run_id"])
    by_status = Counter(r.status for r in rows)
    invalid = [r for r in rows if r.status == "invalid"]
    reasons = {r.sku: r.reason for r in invalid}
    assert "MISSING-PHOTO" in reasons and "NOT-IMAGE" in reasons, reasons
    assert all(reason for reason in reasons.values())
    # duplicate SKU and empty row are refused too: 4 bad rows, one product-page row each
    assert len(invalid) == 4, [(r.sku, r.reason) for r in invalid]
    assert any("duplicate" in r.reason.lower() for r in invalid)
    good = {"TEE-RED-S", "TEE-RED-M", "HOOD-LOGO-L"}
    published = {r.sku for r in rows if r.status == "published"}
    assert published == good, [(r.sku, r.status, r.reason) for r in rows]
    assert by_status["published"] + by_status["invalid"] == len(rows)
