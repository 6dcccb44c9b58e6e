"""The `catalog_run` flow: catalog in, QC-gated motion clips and a manifest out.

load → validate → plan (photo × preset items) → per batch: fetch → generate → check (→ ask for less:
generate → check) → encode + publish → manifest → QC table, report, artifacts, events → invariants.
Composition only: the steps and their decisions live in pipeline/ and the stages' own packages.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run
from prefect.utilities.annotations import quote

from catalog_motion.errors import run_step
from catalog_motion.invariants import InvariantError, check_run_invariants
from catalog_motion.paths import absolute_location
from catalog_motion.planning import fold_refusals, plan_items, preset_fingerprint, select_skus
from catalog_motion.presets import load_presets, select_presets
from catalog_motion.settings import resolve_run_settings
from catalog_motion.types import STANDING
from pipeline.batching import batch_states
from pipeline.delivery import catalog_priorities
from pipeline.driver import Batch, BatchDriver
from pipeline.journal import RunJournal, journal_id
from pipeline.outputs import (
    latest_run_id,
    local_qc_table_path,
    manifest_uri,
    qc_spool_path,
    sink_for,
    unaccounted_objects,
)
from pipeline.recording import RunRecorder, split_resumed
from pipeline.state import RunContext
from pipeline.summary import nothing_succeeded, summary_table
from pipeline.tally import RunTally
from publishing.manifest import LatestNotPromoted, Promotion, RunInfo, iter_rows_from_parquet, started_at_from_run_id
from publishing.rows import CarryForward, invalid_rows
from quality.report import build_report_index, outcome_index
from quality.table import QCSpool
from tasks import prefect_tasks as pt
from tasks.artifacts import ProgressArtifact, create_run_artifacts, emit_run_events
from tasks.delivery import deliver_after_run
from tasks.runners import build_task_runner, stage_submitter, worker_lost

ProgressListener = Callable[[dict[str, Any]], None]
PROGRESS_LISTENERS: list[ProgressListener] = []
"""In-process observers of progress (the CLI's terminal progress bar registers one)."""


def _notify(event: dict[str, Any]) -> None:
    for listener in list(PROGRESS_LISTENERS):
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - a display problem must never break a run
            pass


def run_name() -> str:
    """Flow-run name for the UI: catalog name and UTC date/time."""
    params = runtime_flow_run.parameters or {}
    catalog = str(params.get("catalog") or "catalog")
    stem = Path(catalog.rstrip("/")).stem or "catalog"
    skus = params.get("skus")
    suffix = f"-{len(skus)}skus" if skus else ""
    return f"{stem}{suffix}-{datetime.now(UTC):%Y-%m-%d-%H%M}"


@flow(name="catalog-run", flow_run_name=run_name, persist_result=False, log_prints=False)
def catalog_run(
    catalog: str,
    presets: list[str] | None = None,
    out: str = "out",
    settings_file: str | None = None,
    presets_file: str | None = None,
    full: bool = False,
    skus: list[str] | None = None,
    run_id: str | None = None,
    allow_shrink: bool = False,
) -> dict[str, Any]:
    """Generate, check and publish motion clips for every SKU × preset of `catalog`.

    presets: preset names (default: all in the presets file). skus: only these SKUs (ingest and
    regenerate deployments). full: regenerate everything, ignoring the published manifest. allow_shrink:
    make the run `latest` even if it takes more than `latest.max_shrink` of the live videos out.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    # Deployments pass parameters as written in prefect.yaml: resolve here too, against the run's folder
    # (the settings and presets files are resolved by resolve_run_settings).
    catalog, out = absolute_location(catalog), absolute_location(out)
    settings = resolve_run_settings(out, settings_file, presets_file)
    selected = select_presets(load_presets(settings.presets_file), presets)
    orch = settings.orchestration
    task = {
        name: pt.with_run_retries(t, orch)
        for name, t in (
            ("load", pt.load_catalog_task),
            ("validate", pt.validate_catalog_task),
            ("previous", pt.previous_manifest_task),
            ("manifest", pt.write_manifest_task),
            ("qc_table", pt.write_qc_table_task),
            ("qc_suite", pt.validate_qc_task),
        )
    }

    # Resume an interrupted run of the same inputs, else start a new one. Preset definitions, not only
    # names, identify it: a resumed run must not reuse outcomes judged under other thresholds.
    work_dir = Path(settings.work_dir)
    journal = RunJournal(
        work_dir, journal_id(catalog, [f"{p.name}:{preset_fingerprint(p)}" for p in selected], skus, full)
    )
    run_id = run_id or journal.run_id() or f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    # A resumed run keeps its first start, which is what its run id says.
    started_at = started_at_from_run_id(run_id) or datetime.now(UTC).isoformat(timespec="seconds")
    run_info = RunInfo(catalog=catalog, started_at=started_at)
    catalog_path = Path(catalog)
    ctx = RunContext(
        run_id=run_id,
        catalog=catalog,
        out=out,
        work_dir=str(work_dir),
        settings=settings,
        presets={p.name: p for p in selected},
        full=full,
        catalog_dir=str(catalog_path.resolve().parent) if catalog_path.is_file() else None,
    )

    # load → validate (GX catalog suite: failing rows become `invalid` naming the expectation) → plan
    with run_step("loading the catalog", catalog):
        load = task["load"](catalog, settings.intake)
    docs_dir = str(ctx.run_root / "catalog-docs")
    with run_step("validating the catalog into the Data Docs at", docs_dir):
        load = task["validate"](load, docs_dir)
    # Relative photo paths resolve against the catalog's own folder (a file's, a folder catalog's, a YAML
    # source's), which the loader knows.
    ctx.catalog_dir = load.base_dir or ctx.catalog_dir
    catalog_skus = {r.sku for r in load.rows} | {r.sku for r in load.refused if r.sku}
    rows, refused = select_skus(list(load.rows), list(load.refused), skus)
    items, duplicates = plan_items(rows, selected)
    # One manifest row per (sku, preset): other rows of an SKU become notes on its row.
    refused, ignored_notes = fold_refusals(refused + duplicates, (r.sku for r in rows))
    logger.info(
        "catalog %s: %d valid rows, %d refused, %d work items over %d preset(s)",
        catalog,
        len(rows),
        len(refused),
        len(items),
        len(selected),
    )

    # The latest manifest: incremental state (ignored for skipping when `full`) and the live rows this run
    # must carry forward (publishing/rows.py: a bad night never takes a live video away).
    with run_step("reading the latest manifest of", settings.sink.uri):
        previous = {(r.sku, r.preset): r for r in task["previous"](settings.sink)}
        live_run = latest_run_id(settings.sink)

    tally = RunTally(limit=orch.artifact_max_rows)
    refused_rows = invalid_rows(refused, selected, previous)
    tally.add(refused_rows)
    n_items = len(items)
    resume = split_resumed(items, journal.keys())
    del items  # batch_states lets each item go once its batch is taken
    if resume.resumed:
        logger.info(
            "resuming run %s: %d item(s) already finished, %d to do", run_id, resume.resumed, len(resume.pending)
        )
    progress = ProgressArtifact(n_items, orch.progress_every_s, run_id)
    progress.advance(resume.resumed, force=True)
    _notify({"event": "start", "run_id": run_id, "total": n_items, "done": resume.resumed, "out": out})

    # keep: rows of items being redone (only partly journaled when the run died) leave the journal now
    journal.open(run_id, keep=resume.kept if journal.path.exists() else None)
    resume.kept = set()
    tally.add(journal.rows())  # resumed outcomes count in this run's summary
    qc_spool = QCSpool(qc_spool_path(work_dir, run_id))
    recorder = RunRecorder(journal, tally, qc_spool, ignored_notes, on_items_done=progress.advance, run_id=run_id)

    def on_batch_done(batch: Batch) -> None:
        failed = [r for r in recorder.record(batch) if r.status == "failed"]
        if failed:
            logger.warning(
                "batch %s: %d failed, first: %s/%s: %s",
                batch.label,
                len(failed),
                failed[0].sku,
                failed[0].preset,
                failed[0].reason,
            )
        _notify({"event": "batch", "run_id": run_id, "n": len(batch.states), "label": batch.label})

    engines = sorted({p.engine for p in selected})
    runner = build_task_runner(orch, [(e, settings.engines.get(e, {})) for e in engines])
    # ItemStates are built batch by batch as the driver takes them (batch_states), never all at once.
    batches = (
        Batch(label=f"{b[0].item.preset}#{n}", states=b)
        for n, b in enumerate(batch_states(resume.pending, orch.batch_size, previous))
    )
    resume.pending = []
    with run_step("running the work items with the task runner", orch.task_runner), runner:
        driver = BatchDriver(
            stage_submitter(runner, ctx, engines),
            window=orch.max_inflight_batches,
            slots=orch.max_queued_tasks,
            on_batch_done=on_batch_done,
            worker_lost=worker_lost,
            max_resubmits=orch.lost_worker_resubmits,
        )
        driver.run(batches)

    # manifest → summary. Rows of `latest` this run did not cover are carried (live ones stay published);
    # the manifest becomes `latest` only if this run did something and does not shrink what is live.
    carry = CarryForward(catalog_skus, partial=bool(skus), remove_deleted=settings.latest.remove_deleted_skus)
    carried = carry.rows(previous.values(), itertools.chain(refused_rows, journal.rows()))
    promotion = Promotion(
        live_before=sum(1 for r in previous.values() if r.status in STANDING),
        max_shrink=settings.latest.max_shrink,
        allow_shrink=allow_shrink,
        blocked=nothing_succeeded(tally),
    )
    with run_step("writing the manifest to", settings.sink.uri):
        written = task["manifest"](
            settings.sink,
            run_id,
            str(journal.path),
            quote(refused_rows),
            quote(carried),
            str(work_dir),
            promotion,
            run_info,
        )
    tally.adopt(tuple(item.split("/", 1)) for item in written.adopted)
    if written.adopted or written.orphans.get("removed"):
        logger.warning("run %s: objects of dead publish tasks: %s", run_id, written.orphans)
    if not written.promoted:
        logger.error("run %s: manifest written, NOT made latest: %s", run_id, written.not_promoted)
    report_outcomes = outcome_index(itertools.chain(refused_rows, journal.rows()))  # before the journal retires
    journal.close(complete=True)
    progress.advance(0, force=True)
    rate = tally.rejection_rate()
    manifest_ref = manifest_uri(settings.sink, run_id)
    # QC table (every attempt) and the HTML report's index over the per-clip pages the check step drew.
    with run_step("writing the QC table to", settings.sink.uri):
        qc_table_ref = task["qc_table"](settings.sink, run_id, str(qc_spool.path), str(work_dir))
    with run_step("writing the QC report at", str(ctx.qc_report_root)):
        qc_report = build_report_index(
            qc_spool.rows(), ctx.qc_report_root, title=f"QC report, run {run_id}", outcomes=report_outcomes
        )
    with run_step("creating the run's Prefect artifacts for", run_id):
        create_run_artifacts(
            run_id,
            tally,
            sink=settings.sink,
            limit=orch.artifact_max_rows,
            manifest=manifest_ref or None,
            qc_report=str(qc_report),
            review=str(ctx.review_root) if ctx.review_root.exists() else None,
            qc_table=qc_table_ref,
            catalog_docs=load.docs_path,
        )
    # GX QC suite as its own task: a failing suite fails that task run (visible in Prefect) while the
    # flow run, whose manifest is already written, completes; the summary carries the verdict.
    local_qc_table = local_qc_table_path(work_dir, run_id)
    qc_state = task["qc_suite"](
        str(local_qc_table), str(ctx.run_root / "qc-docs"), run_id, orch.qc_min_pass_rate, return_state=True
    )
    qc_validation = qc_state.result(raise_on_failure=False) if qc_state.is_completed() else None
    if not qc_state.is_completed():
        logger.error("run %s: %s", run_id, qc_state.message or "QC suite failed")
    local_qc_table.unlink(missing_ok=True)
    counts = tally.counts()
    emit_run_events(run_id, catalog, counts, rate, orch.rejection_rate_alert)
    summary = {
        "run_id": run_id,
        "catalog": catalog,
        "out": out,
        "manifest": manifest_ref,
        "counts": counts,
        "table": summary_table(tally),
        "rejection_rate": rate,
        "rows": tally.rows,
        "manifest_rows": written.n_rows,
        "carried_rows": len(carried),
        "removed_from_latest": [f"{sku}/{preset}" for sku, preset in carry.removed],
        "promoted": written.promoted,
        "not_promoted": written.not_promoted,
        "live_rows": written.live_rows,
        "orphans": written.orphans,
        "items": n_items,
        "resumed_items": resume.resumed,
        "task_runs": driver.task_runs,
        "resubmitted_after_lost_worker": driver.resubmits,
        "task_runner": orch.task_runner,
        "worker_pids": sorted(recorder.worker_pids),
        "qc_table": qc_table_ref,
        "qc_rows": qc_spool.count,
        "qc_report": str(qc_report),
        "qc_validation": qc_validation or {"success": False, "message": qc_state.message or "QC suite failed"},
        "catalog_docs": load.docs_path,
        "seconds": round(time.perf_counter() - started, 3),
    }
    qc_spool.unlink()
    # Invariants on what was written (catalog_motion/invariants.py), streamed from the stored Parquet
    # manifest's local copy; a violation fails the run, manifest kept.
    try:
        with run_step("checking the run's invariants on the manifest in", settings.sink.uri):
            report = check_run_invariants(
                load.model_copy(update={"rows": rows, "refused": refused}),
                selected,
                iter_rows_from_parquet(written.parquet),
                sink_for(settings.sink),
                carried={(r.sku, r.preset) for r in carried},
                orphans=unaccounted_objects(settings.sink, run_id),
            )
    finally:
        Path(written.parquet).unlink(missing_ok=True)
    summary["invariants"] = report.summary()
    if not report.ok:
        logger.error("run %s: %s", run_id, report.message())
        raise InvariantError(report)
    if not written.promoted:
        _notify({"event": "end", **summary})
        raise LatestNotPromoted(
            f"run {run_id} was not made latest: {written.not_promoted}. latest still points at "
            f"{('run ' + live_run) if live_run else 'nothing (no run has been promoted yet)'}; this run's manifest: "
            f"{manifest_ref}"
        )
    if settings.delivery.enabled:
        # Only a run that is `latest` and keeps its invariants is delivered; a failed delivery is its own
        # outcome (a failed `deliver` task run, summary["delivery"]["error"]), never the publish outcomes'.
        summary["delivery"] = deliver_after_run(settings, run_id, catalog_priorities(load.rows, settings.delivery))
        if not summary["delivery"]["ok"]:
            logger.error("run %s: delivery: %s", run_id, summary["delivery"]["error"] or summary["delivery"]["counts"])
    logger.info("run %s finished in %.1f s: %s", run_id, summary["seconds"], counts.get("total", {}))
    _notify({"event": "end", **summary})
    return summary
