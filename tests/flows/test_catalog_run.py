"""catalog_run under a real local Prefect server: manifest, task-run states, artifacts, incremental."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from tests.flows.conftest import SMALL_PRESETS, read_rows, write_catalog
from tests.flows.helpers import FLOW_TASK_RUNS, artifacts, events_named, flow_run, manifest_rows, run_flow, task_runs


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
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + FLOW_TASK_RUNS)
    names = Counter(
        r.name.split(" [")[0].rsplit("-", 1)[0] if "[" not in r.name else r.name.split(" [")[0] for r in runs
    )
    for stage in ("load", "previous", "fetch", "generate", "check", "write"):
        assert any(name.startswith(stage) for name in names), (stage, names)
    assert all(r.state.is_completed() for r in runs), [(r.name, r.state.type) for r in runs]
    assert len(runs) == summary["task_runs"] + FLOW_TASK_RUNS  # stage tasks + the flow-level ones
    generate_runs = [r for r in runs if r.name.startswith("generate")]
    assert all("generation" in r.tags and "engine:camera" in r.tags for r in generate_runs)

    keys = {a.key for a in artifacts(flow_run_id)}
    assert {
        "catalog-run-summary",
        "catalog-run-failures",
        "catalog-run-links",
        "catalog-run-progress",
        "catalog-run-qc-validation",
    } <= keys
    _assert_qc_outputs(out, summary, rows, runs, artifacts(flow_run_id))

    # second run over unchanged inputs: published items are skipped, nothing regenerated for them
    summary2, flow_run_id2 = run_flow(catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file))
    rows2 = {(r.sku, r.preset): r for r in manifest_rows(out, summary2["run_id"])}
    assert len(rows2) == len(rows)
    for row in published:
        again = rows2[(row.sku, row.preset)]
        assert again.status == "published" and again.unchanged and again.outcome == "skipped"
        assert again.video == row.video and again.key == row.key and again.published_run == summary["run_id"]
    if all(r.status == "published" for r in rows):
        runs2 = task_runs(flow_run_id2, expect_at_least=3)
        assert not [r for r in runs2 if r.name.startswith("generate")]


def _assert_qc_outputs(out, summary, rows, runs, arts):
    """QC table (one row per attempt), GX QC suite passed, HTML report over every clip, catalog Data Docs."""
    import pandas as pd

    from quality.table import CORE_SCORES

    run_dir = out / "runs" / summary["run_id"]
    table = pd.read_parquet(run_dir / "qc.parquet")
    # one row per checked attempt: items are (photo, preset) pairs, identified by their content key
    attempts = {(r.key, r.preset): r.attempts for r in rows}
    assert len(table) == sum(attempts.values()) == summary["qc_rows"]
    assert {
        "sku",
        "skus",
        "preset",
        "attempt",
        "engine",
        "seed",
        "key",
        "passed",
        "failed_checks",
        "reasons",
        "curve_drift",
        *CORE_SCORES,
    } <= set(table.columns)
    assert table[list(CORE_SCORES)].notna().all().all()
    assert sorted(zip(table["key"], table["preset"], table["attempt"], strict=True)) == sorted(
        (key, preset, n) for (key, preset), count in attempts.items() for n in range(count)
    )
    # the GX QC suite passed: its task completed, its Data Docs exist and the summary says so
    qc_runs = [r for r in runs if r.name.startswith("validate-qc-table")]
    assert len(qc_runs) == 1 and qc_runs[0].state.is_completed()
    assert summary["qc_validation"]["success"] and Path(summary["qc_validation"]["docs"]).is_file()
    # the HTML report names every checked clip and shows its filmstrip; each clip page its curves and video
    page = Path(summary["qc_report"])
    assert page == (run_dir / "qc-report" / "index.html").resolve() and page.is_file()
    html = page.read_text(encoding="utf-8")
    for row in table.itertuples():
        assert row.sku in html and Path(row.report).is_file()
        clip_page = Path(row.report).relative_to(page.parent).as_posix()
        assert clip_page in html
        strip = Path(row.report).parent / "strip.jpg"
        assert strip.is_file() and strip.relative_to(page.parent).as_posix() in html
        clip_html = Path(row.report).read_text(encoding="utf-8")
        assert "<svg class='curve" in clip_html and "<video" in clip_html
    # the catalog's Data Docs live under the run and the links artifact points at them and the QC outputs
    assert (
        Path(summary["catalog_docs"]).is_file() and run_dir.resolve() in Path(summary["catalog_docs"]).resolve().parents
    )
    links = next(a for a in arts if a.key == "catalog-run-links").data
    assert "qc.parquet" in links and "qc-report" in links and "catalog-docs" in links


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
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + FLOW_TASK_RUNS)
    assert sum(r.name.startswith("generate") for r in runs) == 3  # 1 batch x 3 attempts
    # every attempt is in the QC table; a pass rate of 0 fails the GX QC suite: a Failed task run,
    # while the flow run completes with its manifest written (asserted above)
    import pandas as pd

    table = pd.read_parquet(out / "runs" / summary["run_id"] / "qc.parquet")
    assert len(table) == 2 * 3 and not table["passed"].any()  # 2 photos x 3 attempts
    assert sorted(table["attempt"]) == [0, 0, 1, 1, 2, 2]
    qc_runs = [r for r in runs if r.name.startswith("validate-qc-table")]
    assert len(qc_runs) == 1 and qc_runs[0].state.is_failed(), [(r.name, r.state.type) for r in qc_runs]
    assert "expect_column_mean_to_be_between(passed_rate)" in qc_runs[0].state.message
    assert summary["qc_validation"]["success"] is False
    assert flow_run(flow_run_id).state.is_completed()
    assert not [r for r in runs if r.name.startswith("encode+publish")]
    assert summary["rejection_rate"] == 1.0
    # above orchestration.rejection_rate_alert: the flow emitted the event the automation listens to
    alerts = events_named("catalog.run.rejection-rate-high", f"catalog-motion.run.{summary['run_id']}")
    assert len(alerts) == 1 and alerts[0].payload["rejection_rate"] == 1.0


def test_bad_rows_become_invalid_and_good_rows_publish(prefect_api, flows_bad_catalog, flows_presets_file, tmp_path):
    out = tmp_path / "out"
    summary, _ = run_flow(
        catalog=str(flows_bad_catalog), out=str(out), presets_file=str(flows_presets_file), presets=["product-page"]
    )
    rows = manifest_rows(out, summary["run_id"])
    by_status = Counter(r.status for r in rows)
    invalid = [r for r in rows if r.status == "invalid"]
    reasons = {r.sku: r.reason for r in invalid}
    assert "MISSING-PHOTO" in reasons and "NOT-IMAGE" in reasons, reasons
    assert all(reason for reason in reasons.values())
    # the empty row is refused too (named by position); the repeated SKU is not a second row of its own
    assert len(invalid) == 3, [(r.sku, r.reason) for r in invalid]
    good = {"TEE-RED-S", "TEE-RED-M", "HOOD-LOGO-L"}
    published = {r.sku for r in rows if r.status == "published"}
    assert published == good, [(r.sku, r.status, r.reason) for r in rows]
    assert by_status["published"] + by_status["invalid"] == len(rows)
    # one manifest row per (sku, preset): the repeat is recorded on the row it repeats, with its reason
    assert len({(r.sku, r.preset) for r in rows}) == len(rows)
    repeated = next(r for r in rows if r.ignored_rows)
    assert repeated.status == "published" and "duplicate" in repeated.ignored_rows[0], repeated


def test_catalog_row_failing_an_expectation_ends_invalid(prefect_api, flows_catalog, flows_presets_file, tmp_path):
    """A title over Merchant Center's 150 characters loads fine but fails the GX catalog suite."""
    rows = read_rows(flows_catalog)
    rows.append({"sku": "LONG-TITLE", "image": rows[0]["image"], "title": "x" * 200})
    write_catalog(flows_catalog, rows)
    out = tmp_path / "out"
    summary, _ = run_flow(
        catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file), presets=["product-page"]
    )
    result = {r.sku: r for r in manifest_rows(out, summary["run_id"])}
    assert result["LONG-TITLE"].status == "invalid"
    assert "expect_column_value_lengths_to_be_between(title)" in result["LONG-TITLE"].reason
    assert all(r.status == "published" for sku, r in result.items() if sku != "LONG-TITLE")
    assert Path(summary["catalog_docs"]).is_file()


def test_incremental_changed_photo_regenerates_only_its_items_and_full_forces(
    prefect_api, flows_catalog, flows_presets_file, tmp_path
):
    """Planning (catalog_motion/planning.py) keys items by photo content: unchanged → skipped; a changed
    photo → exactly its SKU's items regenerated; full=True → everything regenerated."""
    from PIL import Image, ImageOps

    out = tmp_path / "out"
    params = dict(
        catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file), presets=["product-page"]
    )
    first, _ = run_flow(**params)
    rows1 = {r.sku: r for r in manifest_rows(out, first["run_id"])}
    assert all(r.status == "published" for r in rows1.values()), [(r.sku, r.reason) for r in rows1.values()]

    hood = next(row for row in read_rows(flows_catalog) if row["sku"] == "HOOD-LOGO-L")
    photo = flows_catalog.parent / hood["image"]
    with Image.open(photo) as image:
        ImageOps.mirror(image.convert("RGB")).save(photo)
    second, _ = run_flow(**params)
    rows2 = {r.sku: r for r in manifest_rows(out, second["run_id"])}
    assert rows2["HOOD-LOGO-L"].status == "published" and rows2["HOOD-LOGO-L"].key != rows1["HOOD-LOGO-L"].key
    assert {sku for sku, r in rows2.items() if r.unchanged} == {"TEE-RED-S", "TEE-RED-M"}
    assert {r.status for r in rows2.values()} == {"published"}
    assert second["qc_rows"] == rows2["HOOD-LOGO-L"].attempts  # only the changed photo was checked

    third, _ = run_flow(**params, full=True)
    rows3 = {r.sku: r for r in manifest_rows(out, third["run_id"])}
    assert all(r.status == "published" for r in rows3.values())
    assert third["qc_rows"] == sum(r.attempts for sku, r in rows3.items() if sku != "TEE-RED-M")  # shared photo
