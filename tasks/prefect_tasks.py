"""Prefect tasks: thin typed wrappers around the plain pipeline steps and outputs (pipeline/).

The decorators hold what never changes: which errors are retried (TransientError only, through
`retry_condition_fn`), tags, and no result caching (items are keyed by content in the manifest, not by
Prefect's cache). How often and how long to retry is the run's setting (`orchestration.retries`,
`retry_delay_s`, `retry_jitter_factor`), applied in one place: `with_run_retries`. Steps raise only a
batch-level TransientError (retried); any other batch failure becomes the pending items' outcome inside
the step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.tasks import exponential_backoff

from catalog_connectors.models import CatalogLoad
from catalog_connectors.sources import load_catalog
from catalog_connectors.validation import validate_catalog
from catalog_motion.errors import TransientError
from catalog_motion.settings import IntakeSettings, OrchestrationSettings, SinkSettings
from catalog_motion.types import ManifestRow
from pipeline import outputs, steps
from pipeline.state import ItemState, RunContext
from publishing.manifest import ManifestSummary, Promotion, RunInfo
from tasks.artifacts import create_qc_validation_artifact
from tasks.prefect_services import prefect_secret


def retry_only_transient(task: Task, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry a task only when it failed with a TransientError."""
    try:
        state.result()
    except TransientError:
        return True
    except BaseException:  # noqa: BLE001 - anything else is permanent for this task
        return False
    return False


_FIXED: dict[str, Any] = dict(
    retry_condition_fn=retry_only_transient, persist_result=False, cache_policy=NO_CACHE, log_prints=False
)


@task(name="load-catalog", tags=["catalog"], **_FIXED)
def load_catalog_task(catalog: str, intake: IntakeSettings) -> CatalogLoad:
    """Read the catalog: valid rows plus refused rows with reasons (IntakeError if unreadable)."""
    return load_catalog(catalog, intake, secrets=prefect_secret)


@task(name="validate-catalog", tags=["catalog", "great-expectations"], **_FIXED)
def validate_catalog_task(load: CatalogLoad, docs_dir: str) -> CatalogLoad:
    """GX catalog suite: failing rows move to `refused` naming the expectation; Data Docs in docs_dir."""
    return validate_catalog(load, Path(docs_dir))


@task(name="previous-manifest", tags=["publishing"], **_FIXED)
def previous_manifest_task(sink: SinkSettings) -> list[ManifestRow]:
    """The latest published manifest's rows, the state of incremental runs."""
    return outputs.read_latest_manifest(sink)


@task(name="fetch", task_run_name="fetch [{batch}]", tags=["catalog", "fetch"], **_FIXED)
def fetch_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    return steps.fetch_batch(states, ctx)


@task(name="generate", task_run_name="generate [{batch}]", tags=["generation"], **_FIXED)
def generate_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    limit = ctx.settings.orchestration.gpu_concurrency_limit
    if limit:
        # One slot per GPU: the server-side global limit spans every worker and flow run.
        with concurrency(limit, occupy=1):
            return steps.generate_batch(states, ctx)
    return steps.generate_batch(states, ctx)


@task(name="check", task_run_name="check [{batch}]", tags=["quality"], **_FIXED)
def check_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    return steps.check_batch(states, ctx)


@task(name="publish", task_run_name="encode+publish [{batch}]", tags=["publishing"], **_FIXED)
def publish_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    return steps.publish_batch(states, ctx)


@task(name="write-manifest", tags=["publishing"], **_FIXED)
def write_manifest_task(
    sink: SinkSettings,
    run_id: str,
    journal: str,
    refused: list[ManifestRow],
    carried: list[ManifestRow],
    work_dir: str,
    promotion: Promotion,
    info: RunInfo | None = None,
) -> ManifestSummary:
    """The run manifest (pipeline.outputs.write_run_manifest), written once every object it names is stored,
    and made `latest` unless `promotion` finds a reason not to."""
    return outputs.write_run_manifest(sink, run_id, journal, refused, carried, work_dir, promotion, info)


@task(name="write-qc-table", tags=["quality"], **_FIXED)
def write_qc_table_task(sink: SinkSettings, run_id: str, spool: str, work_dir: str) -> str:
    """The run's QC table (one row per checked attempt) stored as Parquet through the sink; its URI."""
    return outputs.store_qc_table(sink, run_id, spool, work_dir)


@task(name="validate-qc-table", tags=["quality", "great-expectations"], **_FIXED)
def validate_qc_task(table: str, docs_dir: str, run_id: str, min_pass_rate: float) -> dict[str, Any]:
    """GX QC suite over the run's QC table. Records a markdown artifact linking the Data Docs, then RAISES
    when the suite fails, so the failure shows as a Failed task run (the flow goes on)."""
    result = outputs.validate_qc(table, docs_dir, min_pass_rate=min_pass_rate)
    create_qc_validation_artifact(run_id, result)
    if not result["success"]:
        raise outputs.QCSuiteFailed(f"QC suite failed for run {run_id}: {', '.join(result['failed_expectations'])}")
    return result


STAGE_TASKS: dict[str, Task] = {
    "fetch": fetch_task,
    "generate": generate_task,
    "check": check_task,
    "publish": publish_task,
}


def with_run_retries(t: Task, orch: OrchestrationSettings, *, extra_tags: set[str] | None = None) -> Task:
    """The task with this run's retry policy (exponential backoff + jitter): the one place it is set."""
    return t.with_options(
        retries=orch.retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=orch.retry_delay_s) if orch.retry_delay_s else 0,
        retry_jitter_factor=orch.retry_jitter_factor,
        tags=set(t.tags) | (extra_tags or set()),
    )
