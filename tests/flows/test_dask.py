"""The Dask task runner: a local cluster of several worker processes runs the stage tasks."""

from __future__ import annotations

import yaml

from tests.flows.helpers import assert_runner_completed_catalog, run_flow


def test_dask_local_cluster_of_worker_processes(prefect_api, flows_catalog, flows_presets_file, tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "orchestration": {
                    "task_runner": "dask",
                    "max_workers": 2,
                    "batch_size": 1,
                    "dask_threads_per_worker": 1,
                }
            }
        )
    )
    out = tmp_path / "out"
    summary, flow_run_id = run_flow(
        catalog=str(flows_catalog), out=str(out), presets_file=str(flows_presets_file), settings_file=str(settings)
    )
    assert_runner_completed_catalog(summary, flow_run_id, out, flows_catalog, "dask")
    # several Dask worker processes shared the stage tasks
    assert len(set(summary["worker_pids"])) >= 2
