"""Retry from the Prefect UI: what the UI's Retry button does (POST /flow_runs/<id>/set_state with
Scheduled/"AwaitingRetry", as the UI's `retryFlowRun` sends it) on a crashed `catalog_run` makes a worker run
the SAME flow run again, which resumes from its journal: only the missing items are generated. Then one
failed item is retried alone through the `retry` link of the run's failures table (the `regenerate`
deployment's run page with its SKU and preset filled in)."""

from __future__ import annotations

import json
import os
import signal
import urllib.parse
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageOps

from flows import ops
from flows.static_server import start_static_server
from tests.flows.conftest import SMALL_PRESETS, copy_catalog, read_rows, write_catalog
from tests.flows.helpers import artifacts, kill_tree, wait_for


def _stop(worker) -> None:
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
    except Exception:  # noqa: BLE001
        kill_tree(worker.pid)


def _starts(log: Path) -> list[tuple[str, str]]:
    """(sku, preset) of every attempt-0 generation: .../masters/<sku>/<preset>/attempt-0.<suffix>."""
    if not log.exists():
        return []
    lines = [Path(line) for line in log.read_text().splitlines() if line]
    return [(p.parts[-3], p.parts[-2]) for p in lines if p.stem == "attempt-0"]


def _flow_run(flow_run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


@pytest.mark.slow
def test_retry_button_resumes_the_same_run_and_a_failed_item_retries_alone(prefect_api, small_sample_catalog, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment
    from prefect.states import Crashed, State

    catalog = copy_catalog(small_sample_catalog, tmp_path / "catalog")
    rows = read_rows(catalog)
    images = catalog.parent / "images"
    for n, src in enumerate(sorted({r["image"] for r in rows})):
        with Image.open(catalog.parent / src) as photo:
            ImageOps.flip(photo.convert("RGB")).save(images / f"flip-{n}.png")
        rows.append({"sku": f"FLIP-{n}", "image": f"images/flip-{n}.png"})
    rows.append({"sku": "LATE-PHOTO", "image": "images/late.png", "title": "photo arrives after the run"})
    write_catalog(catalog, rows)
    preset = {**SMALL_PRESETS["presets"]["product-page"], "engine": "slow"}
    presets = tmp_path / "presets.yaml"
    presets.write_text(yaml.safe_dump({"presets": {"product-page": preset}}))
    log = tmp_path / "generated.log"
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "presets_file": str(presets),
                "engines": {"slow": {"sleep_s": 1.0, "log": str(log)}},
                "orchestration": {
                    "batch_size": 1,
                    "max_workers": 1,
                    "max_inflight_batches": 1,
                    "plugins": ["tests.flows.engines"],
                },
            }
        )
    )
    out = tmp_path / "out"
    reports = start_static_server(out)
    env = {**prefect_api.env, **ops.deployment_env(str(catalog), str(out), str(settings)), **reports.env()}
    ops.setup(env)
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"  # pick up scheduled runs within 2 s, not the default 10 s
    worker = ops.start_worker(env, log_path=tmp_path / "worker.log")
    try:
        params = {"catalog": str(catalog), "out": str(out), "settings_file": str(settings)}
        n_items = 4  # TEE-RED-S/-M share a photo: 4 distinct photos x 1 preset (LATE-PHOTO is invalid)
        first = run_deployment("catalog-run/nightly-catalog", parameters=params, timeout=0)
        wait_for(lambda: len(_starts(log)) >= 2, 240, "two generations")
        kill_tree(worker.pid)  # the worker and the flow-run process under it die mid-run
        before = _starts(log)
        with get_client(sync_client=True) as client:
            # what Prefect's zombie detection records for a run whose process vanished
            client.set_flow_run_state(first.id, Crashed(message="worker killed"), force=True)
        worker = ops.start_worker(env, log_path=tmp_path / "worker2.log")

        # the UI's Retry button: flowRuns.retryFlowRun(id) -> set_state Scheduled "AwaitingRetry", force false
        with get_client(sync_client=True) as client:
            answer = client.set_flow_run_state(
                first.id, State(type=StateType.SCHEDULED, name="AwaitingRetry", message="Retry from the UI")
            )
        assert answer.status.value == "ACCEPT", answer
        retried = wait_for(lambda: (fr := _flow_run(first.id)).state.is_final() and fr, 300, "the retried run")
        assert retried.state.is_completed(), retried.state
        assert retried.run_count >= 2  # the same flow run ran again, no new one was created

        starts = _starts(log)
        after = starts[len(before) :]
        assert len(set(starts)) == n_items
        # nothing generated twice, except at most the one item cut off mid-generation by the kill
        repeats = [k for k in set(starts) if starts.count(k) > 1]
        assert len(repeats) <= 1 and not set(after) & set(before[:-1]), (before, after)
        latest = json.loads((out / "latest" / "manifest.json").read_text())
        by_key = {(r["sku"], r["preset"]): r for r in latest["rows"]}
        assert len(by_key) == len(latest["rows"]) == len(rows)
        assert by_key[("LATE-PHOTO", "product-page")]["status"] == "invalid"
        assert sum(r["status"] == "published" for r in latest["rows"]) == len(rows) - 1

        # the retried run's artifacts: http links through the worker, and a retry link per failure
        found = {a.key: a for a in artifacts(retried.id)}
        assert "file://" not in found["catalog-run-links"].data
        assert f"({reports.url}/runs/" in found["catalog-run-links"].data
        failures = json.loads(found["catalog-run-failures"].data)
        late = next(f for f in failures if f["sku"] == "LATE-PHOTO")
        url = late["retry"].split("](", 1)[1].rstrip(")")
        with get_client(sync_client=True) as client:
            regenerate = client.read_deployment_by_name("catalog-run/regenerate")
        assert url.startswith(f"{prefect_api.ui_url}/deployments/deployment/{regenerate.id}/run?parameters=")
        parameters = json.loads(urllib.parse.unquote(url.split("parameters=", 1)[1]))
        assert parameters["skus"] == ["LATE-PHOTO"] and parameters["presets"] == ["product-page"]

        # the photo arrives; what the link's page submits: a run of `regenerate` with those parameters
        with Image.open(images / "flip-0.png") as photo:
            ImageOps.mirror(photo).save(images / "late.png")
        alone = run_deployment(f"catalog-run/{regenerate.name}", parameters=parameters, timeout=300)
        assert alone.state.is_completed(), alone.state
        assert _starts(log)[len(starts) :] == [("LATE-PHOTO", "product-page")]  # that item only
        latest = json.loads((out / "latest" / "manifest.json").read_text())
        by_key = {(r["sku"], r["preset"]): r for r in latest["rows"]}
        assert by_key[("LATE-PHOTO", "product-page")]["status"] == "published"
        assert all(r["status"] == "published" for r in latest["rows"])
    finally:
        _stop(worker)
        reports.stop()
