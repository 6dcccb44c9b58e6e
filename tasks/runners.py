"""The Prefect task runner a run uses (OrchestrationSettings.task_runner), and how a batch's stage is
handed to it (`stage_submitter`, the `submit` of pipeline.driver.BatchDriver)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prefect import Task
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from catalog_motion.errors import ConfigError
from catalog_motion.settings import OrchestrationSettings
from generation.registry import get_engine
from pipeline.driver import Batch, StageFuture
from pipeline.state import RunContext
from tasks.prefect_tasks import STAGE_TASKS, generate_task, with_run_retries


def warm_engines(engines: list[tuple[str, dict[str, Any]]]) -> None:
    """Process initializer: build each engine once per worker process, so weights load once."""
    for name, settings in engines:
        get_engine(name, settings)


def build_task_runner(orch: OrchestrationSettings, engines: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """A fresh Prefect task runner for `orch.task_runner` (threads, processes, dask or ray)."""
    if orch.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=orch.max_workers)
    if orch.task_runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        if engines:
            return ProcessPoolTaskRunner(max_workers=orch.max_workers, initializer=warm_engines, initargs=(engines,))
        return ProcessPoolTaskRunner(max_workers=orch.max_workers)
    if orch.task_runner == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ConfigError("task_runner 'dask' needs prefect-dask: pip install 'catalog-motion[dask]'") from None
        if orch.dask_address:
            return DaskTaskRunner(address=orch.dask_address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": orch.max_workers,
                "threads_per_worker": orch.dask_threads_per_worker,
                "processes": True,
                "dashboard_address": None,
            },
        )
    if orch.task_runner == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise ConfigError("task_runner 'ray' needs prefect-ray: pip install 'catalog-motion[ray]'") from None
        if orch.ray_address:
            return RayTaskRunner(address=orch.ray_address)
        # A local Ray instance sized like the other runners: max_workers CPUs, no dashboard, a small
        # object store (only batch records travel through it, never frames).
        return RayTaskRunner(
            init_kwargs={
                "num_cpus": orch.max_workers,
                "include_dashboard": False,
                "object_store_memory": 256 * 1024 * 1024,
            }
        )
    raise ConfigError(f"unknown task_runner {orch.task_runner!r}")


def submission_context(orch: OrchestrationSettings, stage: str) -> AbstractContextManager:
    """Context to submit one stage's task in: Ray resource requests for that stage (e.g. num_gpus for
    generate), nothing for other runners."""
    options = orch.ray_remote_options.get(stage) if orch.task_runner == "ray" else None
    if not options:
        return nullcontext()
    from prefect_ray.context import remote_options

    return remote_options(**options)


def stage_submitter(runner: Any, ctx: RunContext, engines: list[str]) -> Callable[[Batch], StageFuture]:
    """`submit(batch)`: run the batch's current stage as its Prefect task (the run's retry policy, an
    `engine:<name>` tag on generation) on `runner`, inside the stage's submission context."""
    orch = ctx.settings.orchestration
    stage_tasks: dict[str, Task] = {name: with_run_retries(t, orch) for name, t in STAGE_TASKS.items()}
    per_engine = {e: with_run_retries(generate_task, orch, extra_tags={f"engine:{e}"}) for e in engines}
    # quote(): Prefect would otherwise walk every nested record of the batch looking for futures (several
    # ms per item); the task still receives the plain values. Only in-process: Dask/process runners
    # serialise parameters, and a quote does not survive that.
    wrap = quote if isinstance(runner, ThreadPoolTaskRunner) else (lambda value: value)

    def submit(batch: Batch) -> StageFuture:
        task = stage_tasks[batch.stage]
        if batch.stage == "generate":
            task = per_engine.get(batch.states[0].item.engine, task)
        with submission_context(orch, batch.stage):  # e.g. the Ray resources this stage asks for
            return runner.submit(
                task, parameters={"states": wrap(batch.states), "ctx": wrap(ctx), "batch": batch.label}
            )

    return submit
