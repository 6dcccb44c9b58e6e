"""Retries: a TransientError of a whole batch is retried by Prefect; a PermanentError never is."""

from __future__ import annotations

import yaml

from tests.flows import engines
from tests.flows.conftest import SMALL_PRESETS
from tests.flows.helpers import FLOW_TASK_RUNS, manifest_rows, run_flow, task_runs


def _presets(tmp_path, **engines_by_preset):
    spec = {"presets": {}}
    for name, engine in engines_by_preset.items():
        preset = dict(SMALL_PRESETS["presets"]["product-page"])
        preset["engine"] = engine
        spec["presets"][name] = preset
    path = tmp_path / "presets.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_transient_retried_permanent_recorded(prefect_api, flows_catalog, tmp_path):
    presets_file = _presets(tmp_path, **{"flaky-page": "flaky", "broken-page": "broken"})
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"orchestration": {"retry_delay_s": 0.05, "retries": 2}}), encoding="utf-8")
    engines.CALLS.update(flaky_batches=0, broken_items=0)
    out = tmp_path / "out"

    summary, flow_run_id = run_flow(
        catalog=str(flows_catalog), out=str(out), presets_file=str(presets_file), settings_file=str(settings)
    )
    rows = manifest_rows(out, summary["run_id"])
    flaky = [r for r in rows if r.preset == "flaky-page"]
    broken = [r for r in rows if r.preset == "broken-page"]
    assert len(flaky) == 3 and len(broken) == 3
    assert all(r.status == "published" for r in flaky), [(r.sku, r.status, r.reason) for r in flaky]
    assert all(r.status == "failed" and "cannot render" in r.reason for r in broken)
    # the permanent error was not retried: one call per work item (2 items, shared photo for 2 SKUs)
    assert engines.CALLS["broken_items"] == 2
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + FLOW_TASK_RUNS)
    flaky_generate = [r for r in runs if r.name.startswith("generate [flaky-page")]
    assert len(flaky_generate) == 1 and flaky_generate[0].run_count == 2  # failed once, retried, completed
    assert flaky_generate[0].state.is_completed()
    broken_generate = [r for r in runs if r.name.startswith("generate [broken-page")]
    assert broken_generate and all(r.run_count == 1 for r in broken_generate)
