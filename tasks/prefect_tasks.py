"""Prefect tasks: thin typed wrappers around the plain stage functions (tasks/stages.py).

Retries live in the decorators and apply to TransientError only (`retry_condition_fn`); a
PermanentError raised by a whole batch is not retried and becomes its items' outcome in the flow.
`configured(task, settings)` applies the run's retry settings (exponential backoff with jitter).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from catalog_motion.errors import TransientError
from catalog_motion.settings import OrchestrationSettings
from catalog_motion.types import ManifestRow
from tasks import reports, stage_api, stages
from tasks.context import ItemState, RunContext
from tasks.journal import RunJournal


def retry_only_transient(task: Task, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry a task only when it failed with a TransientError."""
    try:
        state.result()
    except TransientError:
        return True
    except BaseException:  # noqa: BLE001 - anything else is permanent for this task
        return False
    return False


_COMMON: dict[str, Any] = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=1.0),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_only_transient,
    persist_result=False,
    cache_policy=NO_CACHE,  # items are keyed by content in the manifest, not by Prefect's result cache
    log_prints=False,
)


@task(name="load-catalog", tags=["catalog"], **_COMMON)
def load_catalog_task(catalog: str, intake: Any) -> Any:
    """Read the catalog: valid rows plus refused rows with reasons (IntakeError if unreadable)."""
    return stage_api.load_catalog(catalog, intake)


@task(name="validate-catalog", tags=["catalog", "great-expectations"], **_COMMON)
def validate_catalog_task(load: Any, docs_dir: str) -> Any:
    """GX catalog suite: failing rows move to `refused` naming the expectation; Data Docs in docs_dir."""
    from pathlib import Path

    from catalog_connectors.validation import validate_catalog

    return validate_catalog(load, Path(docs_dir))


@task(name="previous-manifest", tags=["publishing"], **_COMMON)
def previous_manifest_task(sink: Any) -> list[ManifestRow]:
    """The latest published manifest's rows, the state of incremental runs."""
    return stage_api.read_latest_manifest(sink)


@task(name="fetch", task_run_name="fetch [{batch}]", tags=["catalog", "fetch"], **_COMMON)
def fetch_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    return stages.fetch_batch(states, ctx)


@task(name="generate", task_run_name="generate [{batch}]", tags=["generation"], **_COMMON)
def generate_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    limit = ctx.settings.orchestration.gpu_concurrency_limit
    if limit:
        # One slot per GPU: the server-side global limit spans every worker and flow run.
        from prefect.concurrency.sync import concurrency

        with concurrency(limit, occupy=1):
            return stages.generate_batch(states, ctx)
    return stages.generate_batch(states, ctx)


@task(name="check", task_run_name="check [{batch}]", tags=["quality"], **_COMMON)
def check_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    return stages.check_batch(states, ctx)


@task(name="publish", task_run_name="encode+publish [{batch}]", tags=["publishing"], **_COMMON)
def publish_task(states: list[ItemState], ctx: RunContext, batch: str) -> list[ItemState]:
    return stages.publish_batch(states, ctx)


@task(name="write-manifest", tags=["publishing"], **_COMMON)
def write_manifest_task(sink: Any, run_id: str, journal: str, refused: list[ManifestRow],
                        carried: list[ManifestRow], work_dir: str) -> Any:
    """Write the run manifest (Parquet + JSON) once every object it names is stored. Rows, in order:
    the refused catalog rows, the run's journal (streamed from disk: every finished item, resumed ones
    included) and the rows a partial run carries from `latest`. Returns a ManifestSummary whose
    `parquet` is a local copy of what was stored (the flow checks its invariants on it, then removes it)."""
    rows = itertools.chain(refused, RunJournal.at(journal).rows(), carried)
    scratch = str(Path(work_dir) / "manifest")
    return stage_api.write_manifest_stream(sink, run_id, rows, scratch_dir=scratch,
                                           keep_parquet=str(Path(scratch) / f"{run_id}.parquet"))


@task(name="write-qc-table", tags=["quality"], **_COMMON)
def write_qc_table_task(sink: Any, run_id: str, spool: str, work_dir: str) -> str:
    """Write the run's QC table (one row per checked attempt, from its spool) as Parquet through the
    sink; its URI. The local Parquet file stays for the validation task (reports.local_qc_table_path)."""
    return reports.store_qc_table(stage_api.sink_for(sink), run_id, spool, work_dir, keep_local=True)


@task(name="validate-qc-table", tags=["quality", "great-expectations"], **_COMMON)
def validate_qc_task(table: str, docs_dir: str, run_id: str, min_pass_rate: float) -> dict[str, Any]:
    """GX QC suite over the run's QC table (a local Parquet file; only the checked columns are read).
    Records a markdown artifact linking the Data Docs, then RAISES when the suite fails, so the failure
    shows as a Failed task run (the flow goes on)."""
    result = reports.validate_qc(table, docs_dir, min_pass_rate=min_pass_rate)
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key="catalog-run-qc-validation", markdown=reports.qc_validation_markdown(run_id, result),
                             description=f"Great Expectations QC suite, run {run_id}")
    if not result["success"]:
        raise reports.QCSuiteFailed(f"QC suite failed for run {run_id}: {', '.join(result['failed_expectations'])}")
    return result


STAGE_TASKS: dict[str, Task] = {
    "fetch": fetch_task, "generate": generate_task, "check": check_task, "publish": publish_task,
}


def configured(t: Task, orch: OrchestrationSettings, *, extra_tags: set[str] | None = None) -> Task:
    """The task with this run's retry policy (TransientError only, exponential backoff + jitter)."""
    return t.with_options(
        retries=orch.retries,
        retry_delay_seconds=exponential_backoff(backoff_factor=orch.retry_delay_s) if orch.retry_delay_s else 0,
        retry_jitter_factor=orch.retry_jitter_factor,
        retry_condition_fn=retry_only_transient,
        tags=set(t.tags) | (extra_tags or set()),
    )
