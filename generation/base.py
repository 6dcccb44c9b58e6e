"""The engine interface every generator implements (the camera engine and the diffusion models).

An engine turns one source photo plus a preset into a lossless master clip on disk at the preset's
delivery size. Engines are created from validated settings once per worker process and reused for
every item that process generates (``get_engine`` caches them), so model weights load once.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from catalog_motion.errors import EngineError
from catalog_motion.presets import Preset
from catalog_motion.types import ClipRef


class GenerationRequest(BaseModel):
    """Everything an engine needs for one clip. `motion_scale`/`duration_scale` carry 'ask for less'."""

    source_path: str = Field(description="Local normalised sRGB photo (PNG)")
    preset: Preset
    seed: int
    out_path: str = Field(description="Where to write the master clip (.mkv)")
    attempt: int = 0
    motion_scale: float = Field(default=1.0, gt=0.0, le=1.0)
    duration_scale: float = Field(default=1.0, gt=0.0, le=1.0)


class Engine(ABC):
    """Base class of generation engines."""

    name: str = "engine"

    @abstractmethod
    def identity(self) -> str:
        """Stable string naming the engine, its model and revision: part of each work item's content key."""

    @abstractmethod
    def generate(self, request: GenerationRequest) -> ClipRef:
        """Render one clip for `request` to `request.out_path` and describe it."""

    def generate_batch(self, requests: list[GenerationRequest]) -> list[ClipRef | Exception]:
        """Generate several clips; engines that can batch a forward pass override this.

        One item's failure must not fail its neighbours: failures come back as exceptions in place.
        """
        results: list[ClipRef | Exception] = []
        for request in requests:
            try:
                results.append(self.generate(request))
            except Exception as exc:  # noqa: BLE001 - recorded per item by the caller
                results.append(exc)
        return results


EngineFactory = Callable[[dict[str, Any]], Engine]
_REGISTRY: dict[str, EngineFactory] = {}
_CACHE: dict[tuple[str, str], Engine] = {}
_LOCK = threading.Lock()
LOAD_COUNTS: dict[str, int] = {}
"""How many times each engine was constructed in this process (tests prove models load once)."""


def register_engine(name: str) -> Callable[[EngineFactory], EngineFactory]:
    def decorator(factory: EngineFactory) -> EngineFactory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def registered_engines() -> list[str]:
    _import_builtin_engines()
    return sorted(_REGISTRY)


def _import_builtin_engines() -> None:
    import generation.camera  # noqa: F401  (registers "camera")

    try:
        import generation.diffusion  # noqa: F401  (registers the diffusers engines)
    except ImportError:  # torch/diffusers are an optional extra
        pass


def get_engine(name: str, settings: dict[str, Any] | None = None) -> Engine:
    """The process-wide engine instance for (name, settings); built on first use, then reused."""
    import json

    _import_builtin_engines()
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
    with _LOCK:
        _CACHE.clear()
