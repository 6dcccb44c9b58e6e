"""The task runner is configuration (OrchestrationSettings.task_runner)."""

from __future__ import annotations

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
            raise ConfigError("task_runner 'ray' needs prefect-ray: pip install prefect-ray (see docs/OPERATIONS.md)") from None
        return RayTaskRunner(address=orch.ray_address) if orch.ray_address else RayTaskRunner()
    raise ConfigError(f"unknown task_runner {orch.task_runner!r}")

