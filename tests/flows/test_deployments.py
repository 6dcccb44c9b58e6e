"""Deployments against a real server: work pool, `prefect deploy` from prefect.yaml, a worker, the
nightly run, a debounced on-ingest run for two new SKUs, and the run page in headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageOps

from flows import ops
from tests.flows.conftest import SMALL_PRESETS, read_rows, write_catalog
from tests.flows.helpers import kill_tree, wait_for


def _flow_runs(deployment_name: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=50,
        )


def _children(parent_flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_flow_run_id])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=10,
        )


@pytest.fixture(scope="module")
def flows_deployed(prefect_api, small_sample_catalog, tmp_path_factory):
    """Pool + limits + deployments + automations from the repo's files, and a running worker."""
    from tests.flows.conftest import copy_catalog

    root = tmp_path_factory.mktemp("deployed")
    catalog = copy_catalog(small_sample_catalog, root / "catalog")
    presets = root / "presets.yaml"
    presets.write_text(yaml.safe_dump({"presets": {"product-page": SMALL_PRESETS["presets"]["product-page"]}}))
    settings = root / "settings.yaml"
    settings.write_text(yaml.safe_dump({"presets_file": str(presets)}))
    out = root / "out"
    env = {**prefect_api.env, **ops.deployment_env(str(catalog), str(out), str(settings))}
    ops.setup(env)
    state = {
        "env": env,
        "catalog": catalog,
        "out": out,
        "root": root,
        "server": prefect_api,
        "worker": ops.start_worker(env, log_path=root / "worker.log"),
    }
    try:
        yield state
    finally:
        worker = state["worker"]
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, Exception):  # noqa: BLE001
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_deployments_declared(flows_deployed):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = {d.name: d for d in client.read_deployments()}
        assert {"nightly-catalog", "on-ingest", "regenerate", "deliver", "review"} <= set(names)
        nightly = names["nightly-catalog"]
        assert nightly.work_pool_name == ops.POOL
        assert nightly.schedules and nightly.schedules[0].schedule.cron == "0 3 * * *"
        assert nightly.schedules[0].schedule.timezone == "Europe/Paris"
        assert names["regenerate"].parameters["full"] is True
        automations = {a.name for a in client.read_automations()}
        assert {"catalog-motion nightly run failed", "catalog-motion rejection rate high"} <= automations
        limits = {gcl.name: gcl.limit for gcl in client.read_global_concurrency_limits(limit=50, offset=0)}
        assert limits.get("gpu") == 1


def test_nightly_then_debounced_ingest(flows_deployed, browser, tmp_path):
    from prefect.deployments import run_deployment

    from flows.ingest import emit_ingested

    catalog, out = flows_deployed["catalog"], flows_deployed["out"]
    nightly = run_deployment("catalog-run/nightly-catalog", timeout=300)
    assert nightly.state.is_completed(), nightly.state
    assert nightly.name.startswith("catalog-") and time.strftime("%Y-%m-%d") in nightly.name
    latest = json.loads((out / "latest" / "manifest.json").read_text())
    original = {r["sku"] for r in read_rows(catalog)}
    assert {r["sku"] for r in latest["rows"]} == original
    assert all(r["status"] == "published" for r in latest["rows"]), latest["rows"]

    # the run's page in the Prefect UI, headless
    shot = browser.screenshot(
        f"{flows_deployed['server'].ui_url}/runs/flow-run/{nightly.id}",
        tmp_path / "nightly-run.png",
        size=(1400, 1000),
        budget_ms=25000,
    )
    with Image.open(shot) as image:
        gray = ImageOps.grayscale(image)
        lo, hi = gray.getextrema()
        assert image.size == (1400, 1000) and hi - lo > 100  # not a blank page
        assert len(set(gray.resize((140, 100)).getdata())) > 20

    # two new SKUs land in the catalog and are announced in a burst
    rows = read_rows(catalog)
    images = catalog.parent / "images"
    new = []
    for n, src in enumerate(sorted({r["image"] for r in rows})[:2]):
        with Image.open(catalog.parent / src) as photo:
            ImageOps.mirror(photo.convert("RGB")).save(images / f"new-{n}.png")
        sku = f"NEW-SKU-{n}"
        rows.append({"sku": sku, "image": f"images/new-{n}.png", "title": "new arrival"})
        new.append(sku)
    write_catalog(catalog, rows)
    before = {fr.id for fr in _flow_runs("on-ingest")}
    emit_ingested(new[:1], catalog=str(catalog))
    time.sleep(1.0)
    emit_ingested(new[1:], catalog=str(catalog))

    runs = wait_for(
        lambda: [fr for fr in _flow_runs("on-ingest") if fr.id not in before and fr.state.is_final()],
        180,
        "the on-ingest run to finish",
    )
    time.sleep(5)  # a second (wrong) firing would have been created by now
    runs = [fr for fr in _flow_runs("on-ingest") if fr.id not in before]
    assert len(runs) == 1, [(fr.name, fr.state.type) for fr in runs]
    ingest = runs[0]
    assert ingest.state.is_completed(), ingest.state
    children = _children(ingest.id)
    assert len(children) == 1 and sorted(children[0].parameters["skus"]) == sorted(new)

    latest = json.loads((out / "latest" / "manifest.json").read_text())
    by_sku = {r["sku"]: r for r in latest["rows"]}
    assert set(by_sku) == original | set(new)
    for sku in new:
        assert by_sku[sku]["status"] == "published", by_sku[sku]
    for sku in original:
        # untouched by the ingest run: still live, flagged unchanged
        assert by_sku[sku]["status"] == "published" and by_sku[sku]["unchanged"], by_sku[sku]


def _generated(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    # .../masters/<sku>/<preset>/attempt-N.<master suffix>
    return [(Path(line).parts[-3], Path(line).parts[-2]) for line in log.read_text().splitlines() if line]


def test_worker_killed_during_generation_then_resume(flows_deployed, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Crashed

    from pipeline.journal import RunJournal

    root = tmp_path
    catalog_src = flows_deployed["catalog"]
    from tests.flows.conftest import copy_catalog

    catalog = copy_catalog(catalog_src, root / "catalog")
    rows = [r for r in read_rows(catalog) if not r["sku"].startswith("NEW-")]
    images = catalog.parent / "images"
    for n, src in enumerate(sorted({r["image"] for r in rows})):
        with Image.open(catalog.parent / src) as photo:
            ImageOps.flip(photo.convert("RGB")).save(images / f"flip-{n}.png")
        rows.append({"sku": f"FLIP-{n}", "image": f"images/flip-{n}.png"})
    write_catalog(catalog, rows)
    spec = {"presets": {name: {**body, "engine": "slow"} for name, body in SMALL_PRESETS["presets"].items()}}
    presets = root / "presets.yaml"
    presets.write_text(yaml.safe_dump(spec))
    log = root / "generated.log"
    settings = root / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "presets_file": str(presets),
                "engines": {"slow": {"sleep_s": 1.5, "log": str(log)}},
                "orchestration": {
                    "batch_size": 1,
                    "max_workers": 1,
                    "max_inflight_batches": 1,
                    "plugins": ["tests.flows.engines"],
                },
            }
        )
    )
    out = root / "out"
    params = {"catalog": str(catalog), "out": str(out), "settings_file": str(settings)}
    n_items = 2 * 4  # 4 distinct photos (TEE-RED-S/-M share one) x 2 presets

    first = run_deployment("catalog-run/nightly-catalog", parameters=params, timeout=0)
    wait_for(lambda: len(_generated(log)) >= 3, 240, "three generations")
    worker = flows_deployed["worker"]
    kill_tree(worker.pid)  # SIGKILL: the worker and the flow-run process under it
    before_kill = _generated(log)
    journal_files = list((out / ".work" / "journal").glob("*.jsonl"))
    assert len(journal_files) == 1
    journal = RunJournal(out / ".work", journal_files[0].stem)
    finished = {key for key in journal.load()}
    finished_items = {(sku, preset) for sku, preset in finished}
    assert 0 < len(finished_items) < 2 * len(rows), finished  # killed mid-way
    assert not (out / "latest").exists()  # no manifest yet: the run never finished

    # the operator (or Prefect's zombie detection) marks the dead run crashed; a new worker runs it again
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(first.id, Crashed(message="worker killed"), force=True)
    flows_deployed["worker"] = ops.start_worker(flows_deployed["env"], log_path=flows_deployed["root"] / "worker2.log")
    second = run_deployment("catalog-run/nightly-catalog", parameters=params, timeout=300)
    assert second.state.is_completed(), second.state

    after = _generated(log)[len(before_kill) :]
    # nothing that had finished before the kill was generated again
    assert not set(after) & {(s, p) for s, p in finished_items if s != "TEE-RED-M"}
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    keys = [(r["sku"], r["preset"]) for r in manifest["rows"]]
    assert len(keys) == len(set(keys)) == 2 * len(rows)  # none lost, none twice
    assert all(r["status"] == "published" for r in manifest["rows"]), manifest["rows"]
    # every work item started (attempt 0) exactly once overall, except the one cut off mid-way;
    # later attempts are ask-for-less regenerations of the same item
    starts = [line for line in log.read_text().splitlines() if Path(line).stem == "attempt-0"]
    started_items = [(Path(line).parts[-3], Path(line).parts[-2]) for line in starts]
    repeats = [k for k in set(started_items) if started_items.count(k) > 1]
    assert len(repeats) <= 1 and len(set(started_items)) == n_items, (before_kill, after)
    # the resumed run kept the first run's id
    assert manifest["run_id"] == json.loads((out / "latest.json").read_text())["run_id"]
