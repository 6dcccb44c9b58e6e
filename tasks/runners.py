"""The Prefect task runner a run uses (OrchestrationSettings.task_runner), and how a batch's stage is
handed to it (`stage_submitter`, the `submit` of pipeline.driver.BatchDriver)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prefect import Task
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from catalog_motion.errors import ConfigError
from catalog_motion.settings import OrchestrationSettings
from generation.registry import get_engine
from pipeline.driver import Batch, StageFuture
from pipeline.state import RunContext
from tasks.prefect_tasks import STAGE_TASKS, generate_task, with_run_retries


def warm_engines(engines: list[tuple[str, dict[str, Any]]], isolation: str | None = None) -> None:
    """Process initializer: build each engine once per worker process, so weights load once (identity() is
    the cheap call that makes the engine build, and a process-isolated engine's worker start and load its
    model, here rather than on the first item); `isolation` is orchestration.engine_isolation (None: what
    each engine registered)."""
    for name, settings in engines:
        get_engine(name, settings, isolation=isolation).identity()


class RecoveringProcessPoolTaskRunner(ProcessPoolTaskRunner):
    """Prefect's process pool, rebuilt when a worker dies.

    concurrent.futures marks a whole pool broken once one worker process dies (OOM kill, segfault,
    os._exit): every later submission raises BrokenProcessPool, so one dead worker would fail every batch
    after it. Here the next submission replaces the broken pool with a fresh one (same initializer: engines
    warm again); the tasks that were running in the old pool still fail, and their items record why.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._rebuild_lock = threading.Lock()
        self.rebuilds = 0

    def _resolve_futures_and_submit(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._resolve_futures_and_submit(*args, **kwargs)
        except BrokenProcessPool:
            self._replace_broken_pool()
            return super()._resolve_futures_and_submit(*args, **kwargs)

    def _replace_broken_pool(self) -> None:
        from prefect.task_runners import _initialize_process_pool_worker

        with self._rebuild_lock:
            broken = self._executor
            if broken is None or not getattr(broken, "_broken", False):
                return  # another thread replaced it already
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = ProcessPoolExecutor(
                max_workers=self._max_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_initialize_process_pool_worker,
                initargs=(self._subprocess_message_queue, self._initializer, self._initargs),
            )
            self.rebuilds += 1


WORKER_LOST_ERRORS = {"BrokenProcessPool", "KilledWorker", "WorkerCrashedError", "NodeDiedError", "ActorDiedError"}
"""Errors the process pool, Dask (distributed) and Ray raise for a task whose worker process or node died."""


def worker_lost(exc: BaseException) -> bool:
    """True when a stage run failed because the worker running it died, not because of its own code (by
    class name along the exception's chain: Dask and Ray are optional imports)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(cls.__name__ in WORKER_LOST_ERRORS for cls in type(exc).__mro__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def build_task_runner(orch: OrchestrationSettings, engines: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """A fresh Prefect task runner for `orch.task_runner` (threads, processes, dask or ray)."""
    if orch.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=orch.max_workers)
    if orch.task_runner == "processes":
        if engines:
            return RecoveringProcessPoolTaskRunner(
                max_workers=orch.max_workers, initializer=warm_engines, initargs=(engines, orch.engine_isolation)
            )
        return RecoveringProcessPoolTaskRunner(max_workers=orch.max_workers)
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
