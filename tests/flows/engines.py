"""Test engines registered through the real engine registry: they delegate to `camera` but misbehave
in controlled ways (a transient whole-batch failure, a permanent per-item failure)."""

from __future__ import annotations

import threading
from typing import Any

from catalog_motion.errors import EngineError, TransientError
from generation.base import Engine, GenerationRequest
from generation.registry import get_engine, register_engine

CALLS: dict[str, int] = {"flaky_batches": 0, "broken_items": 0}
_LOCK = threading.Lock()


class FlakyEngine(Engine):
    """Fails the first batch it sees with a TransientError (like CUDA OOM), then renders with camera."""

    name = "flaky"

    def __init__(self, settings: dict[str, Any]):
        pass  # get_engine holds the registry lock while building: fetch camera lazily

    @property
    def camera(self) -> Engine:
        return get_engine("camera", {})

    def identity(self) -> str:
        return "flaky/" + self.camera.identity()

    def generate(self, request: GenerationRequest):
        return self.camera.generate(request)

    def generate_batch(self, requests):
        with _LOCK:
            CALLS["flaky_batches"] += 1
            first = CALLS["flaky_batches"] == 1
        if first:
            raise TransientError("CUDA out of memory (simulated)")
        return super().generate_batch(requests)


class BrokenEngine(Engine):
    """Every item fails permanently (e.g. an unsupported parameter)."""

    name = "broken"

    def __init__(self, settings: dict[str, Any]):
        pass

    def identity(self) -> str:
        return "broken/1"

    def generate(self, request: GenerationRequest):
        with _LOCK:
            CALLS["broken_items"] += 1
        raise EngineError("engine 'broken' cannot render this preset (simulated)")


class SlowEngine(Engine):
    """Camera clips, slowly, logging each generation (settings: sleep_s, log): the kill-and-resume test."""

    name = "slow"

    def __init__(self, settings: dict[str, Any]):
        self.sleep_s = float(settings.get("sleep_s", 1.0))
        self.log = settings.get("log")

    def identity(self) -> str:
        return "slow/" + get_engine("camera", {}).identity()

    def generate(self, request: GenerationRequest):
        import time

        time.sleep(self.sleep_s)
        clip = get_engine("camera", {}).generate(request)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(request.out_path + "\n")
        return clip


register_engine("flaky")(FlakyEngine)
register_engine("slow")(SlowEngine)
register_engine("broken")(BrokenEngine)
