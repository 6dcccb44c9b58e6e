"""A publish task's worker process dies right after storing an item's objects (issue #14 item 3).

Real flow run, task_runner=processes; tests/reliability/publish_killer.py (an orchestration plugin) makes
the worker `os._exit(1)` once the chosen SKU's objects are stored. Afterwards every object under the sink
must be named by a manifest (adopted, or removed by the orphan sweep), every row either published with
verified objects or failed with nothing left behind, and no item may be lost.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from catalog_motion.presets import load_presets
from publishing.orphans import ADOPTED_REASON, is_asset_key, keys_named_by_runs
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow
from tests.reliability.publish_killer import KILL_MARKER, KILL_SKU

KILLED = "HOOD-LOGO-L"  # the one SKU of its photo (the tees share one)


def _run_with_publish_killer(tmp_path, monkeypatch, rel_catalog, rel_presets_file, rel_results, **orchestration):
    """One real flow run whose publish worker dies once, right after storing KILLED's objects; checks what
    must hold whatever happens next (no item lost, no object unnamed, receipts gone); (summary, rows, sink)."""
    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(KILL_SKU, KILLED)
    monkeypatch.setenv(KILL_MARKER, str(marker))
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "orchestration": {
                    "task_runner": "processes",
                    # One worker: it runs the fetch step first, which imports the plugin (steps.load_plugins).
                    # The pool is rebuilt after the death (tasks/runners.RecoveringProcessPoolTaskRunner).
                    "max_workers": 1,
                    "plugins": ["tests.reliability.publish_killer"],
                    "retry_delay_s": 0.05,
                    **orchestration,
                }
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    summary, _, error = run_flow(
        catalog=str(rel_catalog), out=str(out), presets_file=str(rel_presets_file), settings_file=str(settings)
    )
    rel_results.add("runs")
    assert marker.exists(), "the publish worker was never killed (plugin not loaded in the publishing process?)"
    rel_results.add("faults_injected")
    assert error is None, repr(error)
    rel_results.add("runs_survived")
    assert Path(summary["out"]) == out

    sink = make_sink(str(out))
    rows = latest_rows(sink)
    presets = list(load_presets(rel_presets_file).values())
    report = judge(rel_results, rel_catalog, presets, rows, sink)
    assert report.ok, report.violations  # no item lost, none duplicated, every named object intact

    # Every stored asset is named by a retained run manifest, and the run's receipts are gone.
    named = keys_named_by_runs(sink)
    left = [o.key for o in sink.list_objects("") if is_asset_key(o.key) and o.key not in named]
    rel_results.add("orphans_left", len(left))
    assert left == [], f"{len(left)} stored object(s) no manifest names, first {left[0]}"
    assert sink.list_keys(f"runs/{summary['run_id']}/receipts/") == []
    for row in rows:
        if row.status == "published":
            assert row.assets and all(sink.verify(a.key, a.size, a.sha256) for a in row.assets)
        else:  # failed with the pool: nothing of it left behind
            assert row.status == "failed" and "BrokenProcessPool" in row.reason, (row.sku, row.status, row.reason)
            assert not row.assets
            prefix = f"{row.sku}/{row.preset}/"
            assert [k for k in sink.list_keys(prefix) if is_asset_key(k)] == [], f"objects left under {prefix}"
    return summary, rows, sink


def test_dead_publish_worker_objects_are_adopted(
    prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results, monkeypatch
):
    """Nothing handed over again: the item whose worker died stored its objects and receipt first, so the
    manifest adopts it (the runs that were only queued in the broken pool end failed, nothing stored)."""
    summary, rows, _ = _run_with_publish_killer(
        tmp_path, monkeypatch, rel_catalog, rel_presets_file, rel_results, lost_worker_resubmits=0
    )
    killed = [r for r in rows if r.sku == KILLED]
    assert any(r.reason == ADOPTED_REASON for r in killed), [(r.preset, r.status, r.reason) for r in killed]
    assert summary["resubmitted_after_lost_worker"] == 0 and summary["orphans"]["adopted"] >= 1


def test_runs_lost_with_their_worker_are_handed_over_again(
    prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results, monkeypatch
):
    """Default policy: every run the dead worker took down (its own and those queued in its pool) runs again
    on the rebuilt pool, so the whole catalog publishes."""
    summary, rows, _ = _run_with_publish_killer(tmp_path, monkeypatch, rel_catalog, rel_presets_file, rel_results)
    assert summary["resubmitted_after_lost_worker"] >= 1
    assert {r.status for r in rows} == {"published"}, [(r.sku, r.preset, r.status, r.reason) for r in rows]
