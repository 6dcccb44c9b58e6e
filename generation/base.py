"""The engine interface every generator implements (the camera engine and the diffusion models), and
the request an engine renders.

An engine turns one source photo plus a preset into a lossless master clip on disk at the preset's
delivery size. Engines are created from validated settings once per worker process and reused for
every item that process generates (`generation.registry.get_engine` caches them), so model weights
load once. This module names no engine: the registry does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel, Field

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
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Longest this one clip may generate. Only an engine with `enforces_timeouts` acts on it "
        "(a process-isolated engine kills its worker past it); None: no limit",
    )


class Engine(ABC):
    """Base class of generation engines."""

    name: str = "engine"
    enforces_timeouts: bool = False
    """True when the engine itself ends a request at its `timeout_s` and returns an exception in place for
    it (`generate_batch`), so the caller needs no timer of its own (generation.worker.ProcessEngine)."""

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
