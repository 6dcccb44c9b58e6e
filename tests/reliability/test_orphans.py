"""A publish task's worker process dies right after storing an item's objects (issue #14 item 3).

Real flow run, task_runner=processes; tests/reliability/publish_killer.py (an orchestration plugin) makes
the worker `os._exit(1)` once the chosen SKU's objects are stored. Afterwards every object under the sink
must be named by a manifest (adopted, or removed by the orphan sweep), the killed SKU's row must be either
adopted (published, objects verify) or failed with nothing left behind, and no item may be lost.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from catalog_motion.presets import load_presets
from publishing.orphans import ADOPTED_REASON, is_asset_key, keys_named_by_runs
from tests.reliability.helpers import judge, latest_rows, make_sink, run_flow
from tests.reliability.publish_killer import KILL_MARKER, KILL_SKU, KILL_TIMES

KILLED = "HOOD-LOGO-L"  # the one SKU of its photo (the tees share one)


def test_worker_killed_after_storing_leaves_no_orphans(
    prefect_api, rel_catalog, rel_presets_file, tmp_path, rel_results, monkeypatch
):
    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(KILL_SKU, KILLED)
    monkeypatch.setenv(KILL_MARKER, str(marker))
    # Twice: the driver hands a run whose worker was lost over once more (a dead worker also fails the runs
    # that merely shared its pool); the second attempt dies too, so adoption has to settle the objects.
    monkeypatch.setenv(KILL_TIMES, "2")
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "orchestration": {
                    "task_runner": "processes",
                    # One worker: it runs the fetch step first, which imports the plugin (steps.load_plugins).
                    # The pool is rebuilt after each death (tasks/runners.RecoveringProcessPoolTaskRunner).
                    "max_workers": 1,
                    "plugins": ["tests.reliability.publish_killer"],
                    "retry_delay_s": 0.05,
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

    sink = make_sink(str(out))
    rows = latest_rows(sink)
    run_id = summary["run_id"]
    presets = list(load_presets(rel_presets_file).values())
    report = judge(rel_results, rel_catalog, presets, rows, sink)
    assert report.ok, report.violations  # no item lost, none duplicated, every named object intact

    # Every stored asset is named by a retained run manifest, and the run's receipts are gone.
    named = keys_named_by_runs(sink)
    left = [o.key for o in sink.list_objects("") if is_asset_key(o.key) and o.key not in named]
    rel_results.add("orphans_left", len(left))
    assert left == [], f"{len(left)} stored object(s) no manifest names, first {left[0]}"
    assert sink.list_keys(f"runs/{run_id}/receipts/") == []

    killed = [r for r in rows if r.sku == KILLED]
    assert len(killed) == len(presets)
    for row in killed:
        prefix = f"{row.sku}/{row.preset}/"
        if row.status == "published":
            assert row.assets and all(sink.verify(a.key, a.size, a.sha256) for a in row.assets)
        else:
            assert row.status == "failed" and row.reason, (row.status, row.reason)
            assert not row.assets
            assert [k for k in sink.list_keys(prefix) if is_asset_key(k)] == [], f"objects left under {prefix}"
    # The item whose worker died stored its objects and receipt first: the run adopts it.
    assert any(r.reason == ADOPTED_REASON for r in killed), [(r.preset, r.status, r.reason) for r in killed]
    assert Path(f"{marker}.2").exists() and summary["resubmitted_after_lost_worker"] >= 1
    # Batches that merely shared the broken pool ran again on a fresh one: everything else published.
    others = [(r.sku, r.preset, r.status, r.reason) for r in rows if r.sku != KILLED]
    assert {status for _, _, status, _ in others} == {"published"}, others
    assert Path(summary["out"]) == out
