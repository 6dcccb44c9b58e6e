"""A plugin engine for the Ray test: renders with `camera` and logs the Ray resources its task was given.

Loaded through `orchestration.plugins` in every worker process; its settings name the log file."""

from __future__ import annotations

import json
import os
from typing import Any

from generation.base import Engine, GenerationRequest
from generation.registry import get_engine, register_engine


class RayProbeEngine(Engine):
    name = "ray-probe"

    def __init__(self, settings: dict[str, Any]):
        self.log = settings["log"]

    def identity(self) -> str:
        return "ray-probe/" + get_engine("camera", {}).identity()

    def generate(self, request: GenerationRequest):
        return get_engine("camera", {}).generate(request)

    def generate_batch(self, requests):
        import ray

        assigned = ray.get_runtime_context().get_assigned_resources()
        with open(self.log, "a", encoding="utf-8") as handle:  # O_APPEND: one short line per batch
            handle.write(json.dumps({"pid": os.getpid(), "resources": assigned}) + "\n")
        return super().generate_batch(requests)


register_engine("ray-probe")(RayProbeEngine)
