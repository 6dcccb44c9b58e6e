"""The Dask task runner: a local cluster of several worker processes runs the stage tasks."""

from __future__ import annotations

import os

import yaml

from tests.flows.conftest import read_rows
from tests.flows.helpers import FLOW_TASK_RUNS, manifest_rows, run_flow, task_runs


def test_dask_local_cluster_of_worker_processes(prefect_api, flows_catalog, flows_presets_file, tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"orchestration": {
        "task_runner": "dask", "max_workers": 2, "batch_size": 1, "dask_threads_per_worker": 1,
    }}))
    out = tmp_path / "out"
    summary, flow_run_id = run_flow(catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file),
                                    settings_file=str(settings))
    rows = manifest_rows(out, summary["run_id"])
    skus = {r["sku"] for r in read_rows(flows_catalog)}
    assert {(r.sku, r.preset) for r in rows} == {(s, p) for s in skus for p in ("product-page", "close-up")}
    assert all(r.status in ("published", "rejected") for r in rows), [(r.sku, r.status, r.reason) for r in rows]
    assert any(r.status == "published" for r in rows)
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + FLOW_TASK_RUNS)
    stage_runs = [r for r in runs if " [" in r.name]
    assert len(stage_runs) == summary["task_runs"] and all(r.state.is_completed() for r in stage_runs)
    # the stage tasks ran in (several) Dask worker processes, not in this one
    assert summary["task_runner"] == "dask" and len(set(summary["worker_pids"]) - {os.getpid()}) >= 2
