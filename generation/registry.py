"""The engine registry: engine names and their factories (the built-in `camera` and diffusers engines,
plus any a plugin registers), and the process-wide cache of built engines (`get_engine`).

Other layers build engines only through `get_engine`, so a model loads once per worker process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from catalog_motion.errors import EngineError
from generation.base import Engine
from generation.camera import make_camera_engine
from generation.diffusion.engine import make_factory
from generation.diffusion.engines import ENGINE_CLASSES

EngineFactory = Callable[[dict[str, Any]], Engine]
_REGISTRY: dict[str, EngineFactory] = {}
_CACHE: dict[tuple[str, str], Engine] = {}
_LOCK = threading.Lock()
LOAD_COUNTS: dict[str, int] = {}
"""How many times each engine was constructed in this process (tests prove models load once)."""


def register_engine(name: str) -> Callable[[EngineFactory], EngineFactory]:
    """Decorator: register `factory` (settings dict -> Engine) as engine `name`, replacing any before it."""

    def decorator(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def get_engine(name: str, settings: dict[str, Any] | None = None) -> Engine:
    """The process-wide engine instance for (name, settings); built on first use, then reused.

    The factory runs under the registry lock (one build per key even when threads race), so a factory
    must not call `get_engine` itself; an engine that delegates to another fetches it when it renders."""
    if name not in _REGISTRY:
        raise EngineError(
            f"engine '{name}' is not registered; known engines: {', '.join(sorted(_REGISTRY))}"
            + ("" if name in {"camera"} else " (diffusion engines need: pip install 'catalog-motion[diffusion]')")
        )
    settings = settings or {}
    cache_key = (name, json.dumps(settings, sort_keys=True, default=str))
    with _LOCK:
        engine = _CACHE.get(cache_key)
        if engine is None:
            engine = _REGISTRY[name](settings)
            _CACHE[cache_key] = engine
            LOAD_COUNTS[name] = LOAD_COUNTS.get(name, 0) + 1
    return engine


def clear_engine_cache() -> None:
    """Forget every built engine (tests and benchmarks measure fresh loads)."""
    with _LOCK:
        _CACHE.clear()


# Built-in engines, registered on import: a plugin importing this module registers after them, so it can
# replace one. Registering a diffusers engine is cheap (torch loads when the engine is first built).
register_engine("camera")(make_camera_engine)
for _name, _cls in ENGINE_CLASSES.items():
    register_engine(_name)(make_factory(_cls))
