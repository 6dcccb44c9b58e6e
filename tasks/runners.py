"""The task runner is configuration (OrchestrationSettings.task_runner)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from catalog_motion.errors import ConfigError
from catalog_motion.settings import OrchestrationSettings


def warm_engines(engines: list[tuple[str, dict[str, Any]]]) -> None:
    """Process initializer: build each engine once per worker process, so weights load once."""
    from generation.base import get_engine

    for name, settings in engines:
        get_engine(name, settings)


def build_task_runner(orch: OrchestrationSettings, engines: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """A fresh Prefect task runner for `orch.task_runner` (threads, processes, dask or ray)."""
    if orch.task_runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

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
                "n_workers": orch.max_workers, "threads_per_worker": orch.dask_threads_per_worker,
                "processes": True, "dashboard_address": None,
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
        return RayTaskRunner(init_kwargs={"num_cpus": orch.max_workers, "include_dashboard": False,
                                          "object_store_memory": 256 * 1024 * 1024})
    raise ConfigError(f"unknown task_runner {orch.task_runner!r}")



def submission_context(orch: OrchestrationSettings, stage: str) -> AbstractContextManager:
    """Context to submit one stage's task in: Ray resource requests for that stage (e.g. num_gpus for
    generate), nothing for other runners."""
    options = orch.ray_remote_options.get(stage) if orch.task_runner == "ray" else None
    if not options:
        return nullcontext()
    from prefect_ray.context import remote_options

    return remote_options(**options)
