"""Helpers of the orchestration tests: run the flow and read what the Prefect server recorded."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalog_motion.types import ManifestRow


def run_flow(**params: Any) -> tuple[dict[str, Any], Any]:
    """Run catalog_run in-process; return (summary, flow_run_id). Raises if the flow failed."""
    from flows.catalog_run import catalog_run

    state = catalog_run(**params, return_state=True)
    summary = state.result()
    return summary, state.state_details.flow_run_id


def manifest_rows(out: Path, run_id: str) -> list[ManifestRow]:
    data = json.loads((out / "runs" / run_id / "manifest.json").read_text(encoding="utf-8"))
    return [ManifestRow.model_validate(row) for row in data["rows"]]


def task_runs(flow_run_id: Any, *, expect_at_least: int = 1, timeout_s: float = 30.0) -> list[Any]:
    """Task runs the server recorded for a flow run, once their final states have arrived."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=200,
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )
            settled = runs and all(r.state is not None and r.state.is_final() for r in runs)
            if (len(runs) >= expect_at_least and settled) or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def flow_run(flow_run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def artifacts(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def events_named(name: str, resource_id: str, timeout_s: float = 20.0) -> list[Any]:
    """Events the server stored with this name and resource id (polled: events are ingested async)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    flt = EventFilter(event=EventNameFilter(name=[name]), resource=EventResourceFilter(id=[resource_id]))
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_events(filter=flt, limit=50).events
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


FLOW_TASK_RUNS = 6
"""Task runs of a flow run besides the batched stages: load catalog, validate catalog, previous manifest,
write manifest, write QC table, validate QC table."""


def assert_runner_completed_catalog(
    summary: dict[str, Any], flow_run_id: Any, out: Path, catalog: Path, runner: str
) -> list[Any]:
    """A run on another task runner: every (sku, preset) accounted for, every stage task run completed on
    the server, and the stages ran in worker processes other than this one. Returns the stage task runs."""
    import os

    from tests.flows.conftest import read_rows

    rows = manifest_rows(out, summary["run_id"])
    skus = {r["sku"] for r in read_rows(catalog)}
    assert {(r.sku, r.preset) for r in rows} == {(s, p) for s in skus for p in ("product-page", "close-up")}
    assert all(r.status in ("published", "rejected") for r in rows), [(r.sku, r.status, r.reason) for r in rows]
    assert any(r.status == "published" for r in rows)
    runs = task_runs(flow_run_id, expect_at_least=summary["task_runs"] + FLOW_TASK_RUNS)
    stage_runs = [r for r in runs if " [" in r.name]
    assert len(stage_runs) == summary["task_runs"] and all(r.state.is_completed() for r in stage_runs)
    assert summary["task_runner"] == runner and summary["worker_pids"]
    assert os.getpid() not in summary["worker_pids"]
    return stage_runs


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, poll: float = 1.0) -> Any:
    """The first truthy value of `predicate()`, polled; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything under it (a worker and its flow-run processes), then reap them."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = parent.children(recursive=True) + [parent]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
