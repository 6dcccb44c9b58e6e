"""The Ray task runner: a local Ray instance runs the stage tasks in its own worker processes, and
per-stage Ray resource requests (num_gpus for generate on a GPU cluster) reach the tasks."""

from __future__ import annotations

import json

import pytest
import yaml

from catalog_motion.errors import ConfigError
from catalog_motion.settings import OrchestrationSettings, load_settings
from tests.flows import ray_probe  # noqa: F401 - registers the engine in this (flow) process too
from tests.flows.conftest import SMALL_PRESETS
from tests.flows.helpers import assert_runner_completed_catalog, run_flow


def test_ray_local_instance_runs_stage_tasks_with_stage_resources(prefect_api, flows_catalog, tmp_path):
    presets = {"presets": {name: {**spec, "engine": "ray-probe"} for name, spec in SMALL_PRESETS["presets"].items()}}
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(yaml.safe_dump(presets), encoding="utf-8")
    log = tmp_path / "generate-resources.jsonl"
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "engines": {"ray-probe": {"log": str(log)}},
                "orchestration": {
                    "task_runner": "ray",
                    "max_workers": 2,
                    "batch_size": 1,
                    "plugins": ["tests.flows.ray_probe"],
                    # each generate task takes both CPUs of the local instance; other stages 1 (Ray's default)
                    "ray_remote_options": {"generate": {"num_cpus": 2}},
                },
            }
        )
    )
    out = tmp_path / "out"
    summary, flow_run_id = run_flow(
        catalog=str(flows_catalog), out=str(out), presets_file=str(presets_file), settings_file=str(settings)
    )
    stage_runs = assert_runner_completed_catalog(summary, flow_run_id, out, flows_catalog, "ray")
    # every generate task ran with the resources its stage asked for
    generated = [json.loads(line) for line in log.read_text().splitlines()]
    generate_runs = [r for r in stage_runs if r.name.startswith("generate")]
    assert len(generated) == len(generate_runs) > 0
    assert all(entry["resources"].get("CPU") == 2.0 for entry in generated), generated
    assert {entry["pid"] for entry in generated} <= set(summary["worker_pids"])


def test_ray_remote_options_without_the_ray_runner_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match="apply only to task_runner 'ray'"):
        OrchestrationSettings(task_runner="threads", ray_remote_options={"generate": {"num_gpus": 1}})
    bad = tmp_path / "settings.yaml"
    bad.write_text(
        yaml.safe_dump({"orchestration": {"task_runner": "ray", "ray_remote_options": {"encode": {"num_gpus": 1}}}})
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    assert "\n" not in str(caught.value) and "ray_remote_options" in str(caught.value)
