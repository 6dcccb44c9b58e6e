"""The engine registry: engine names and their factories (the built-in `camera` and diffusers engines,
plus any a plugin registers), and the process-wide cache of built engines (`get_engine`).

Other layers build engines only through `get_engine`, so a model loads once per worker process. An
engine registered with isolation="process" (the diffusers engines) is served by a worker process that
owns the model (`generation.worker.ProcessEngine`): a hung generation there can be killed, GPU memory
and all; isolation="inline" engines (the camera engine) run in the caller's process.
"""

from __future__ import annotations

import functools
import importlib
import json
import pickle
import threading
from collections.abc import Callable
from typing import Any, Literal

from catalog_motion.errors import ConfigError, EngineError
from generation.base import Engine
from generation.camera import make_camera_engine
from generation.diffusion.engine import make_factory, make_identity
from generation.diffusion.engines import ENGINE_CLASSES
from generation.worker import ProcessEngine, current_process_can_start_workers

EngineFactory = Callable[[dict[str, Any]], Engine]
IdentityFunction = Callable[[dict[str, Any]], str]
Isolation = Literal["process", "inline"]
_REGISTRY: dict[str, EngineFactory] = {}
_ISOLATION: dict[str, Isolation] = {}
_IDENTITY: dict[str, IdentityFunction] = {}
_CACHE: dict[tuple[str, str, str], Engine] = {}
_LOCK = threading.Lock()
LOAD_COUNTS: dict[str, int] = {}
"""How many times each engine was constructed in this process (tests prove models load once). A
process-isolated engine is constructed, and counted, in its worker process, not in the caller's."""


def register_engine(
    name: str, *, isolation: Isolation = "inline", identity: IdentityFunction | None = None
) -> Callable[[EngineFactory], EngineFactory]:
    """Decorator: register `factory` (settings dict -> Engine) as engine `name`, replacing any before it.

    isolation "process": by default the engine runs in a worker process of its own (the worker imports
    the factory's module, so an engine registered at import time of a plugin or test module exists there
    too); "inline": in the caller's process. `identity` (settings dict -> the engine's identity string)
    lets `engine_identity` answer without building the engine; without it the engine is built once."""
    if isolation not in ("process", "inline"):
        raise ConfigError(f"engine '{name}': isolation must be 'process' or 'inline', not {isolation!r}")

    def decorator(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = factory
        _ISOLATION[name] = isolation
        if identity is None:
            _IDENTITY.pop(name, None)
        else:
            _IDENTITY[name] = identity
        return factory

    return decorator


def _resolve_isolation(name: str, isolation: str | None) -> Isolation:
    if isolation in (None, "auto"):
        mode = _ISOLATION.get(name, "inline")
        # A daemonic process (multiprocessing.Pool, Dask worker) may not start children: run inline there.
        return mode if mode == "inline" or current_process_can_start_workers() else "inline"
    if isolation == "inline":
        return "inline"
    if isolation == "process":
        if not current_process_can_start_workers():
            raise ConfigError(
                f"engine '{name}': engine_isolation 'process' cannot start a worker inside a daemonic process "
                "(a multiprocessing.Pool or Dask worker); set orchestration.engine_isolation to 'auto' or 'inline'"
            )
        return "process"
    raise ConfigError(f"engine_isolation must be 'auto', 'process' or 'inline', not {isolation!r}")


def get_engine(name: str, settings: dict[str, Any] | None = None, isolation: str | None = None) -> Engine:
    """The process-wide engine instance for (name, settings); built on first use, then reused.

    `isolation` (OrchestrationSettings.engine_isolation): None or "auto" uses what the engine registered,
    "process" or "inline" overrides it. For "process" the instance is a `ProcessEngine` proxy whose worker
    starts and builds the real engine on first use (identity() or a generation), raising its errors then.

    The factory runs under the registry lock (one build per key even when threads race), so a factory
    must not call `get_engine` itself; an engine that delegates to another fetches it when it renders."""
    if name not in _REGISTRY:
        raise EngineError(
            f"engine '{name}' is not registered; known engines: {', '.join(sorted(_REGISTRY))}"
            + ("" if name in {"camera"} else " (diffusion engines need: pip install 'catalog-motion[diffusion]')")
        )
    mode = _resolve_isolation(name, isolation)
    settings = settings or {}
    settings_key = json.dumps(settings, sort_keys=True, default=str)
    cache_key = (name, settings_key, mode)
    with _LOCK:
        engine = _CACHE.get(cache_key)
        if engine is None:
            if mode == "process":
                engine = ProcessEngine(name, _worker_build(name, settings))
            else:
                engine = _REGISTRY[name](settings)
                LOAD_COUNTS[name] = LOAD_COUNTS.get(name, 0) + 1
            _CACHE[cache_key] = engine
    return engine


def engine_identity(name: str, settings: dict[str, Any] | None = None, isolation: str | None = None) -> str:
    """Engine `name`'s identity for `settings` (part of each item's content key). The diffusion engines
    compute it from settings alone: no model loads, so a CPU node can key items for GPU workers. An
    engine registered without an identity function is built (once, cached) and asked."""
    if name in _IDENTITY:
        return _IDENTITY[name](dict(settings or {}))
    return get_engine(name, settings, isolation=isolation).identity()


def _worker_build(name: str, settings: dict[str, Any]) -> Callable[[], Engine]:
    """What a worker process calls to build engine `name`: the factory itself when it pickles (a
    module-level class or function), else its module's name (imported there, registering it again)."""
    factory = _REGISTRY[name]
    module = getattr(factory, "__module__", None)
    try:
        shipped: EngineFactory | None = factory
        pickle.dumps(factory)
    except Exception:  # noqa: BLE001 - lambdas and closures: the worker imports the module instead
        shipped = None
    return functools.partial(_build_in_worker, name, dict(settings), module, shipped)


def _build_in_worker(name: str, settings: dict[str, Any], module: str | None, factory: EngineFactory | None) -> Engine:
    """Runs in the worker process: register the engine as in the parent, build it inline (counted there)."""
    if module and module != "__main__":
        importlib.import_module(module)
    if factory is not None:
        register_engine(name, isolation="inline")(factory)
    return get_engine(name, settings, isolation="inline")


def clear_engine_cache() -> None:
    """Forget every built engine (tests and benchmarks measure fresh loads); stops process workers."""
    with _LOCK:
        engines = list(_CACHE.values())
        _CACHE.clear()
    for engine in engines:
        if isinstance(engine, ProcessEngine):
            engine.close()


# Built-in engines, registered on import: a plugin importing this module registers after them, so it can
# replace one. Registering a diffusers engine is cheap (torch loads when the engine is first built).
register_engine("camera", isolation="inline")(make_camera_engine)
for _name, _cls in ENGINE_CLASSES.items():
    register_engine(_name, isolation="process", identity=make_identity(_cls))(make_factory(_cls))
