"""Worker-process entry points for the multiprocessing tests (importable by spawned children)."""

from __future__ import annotations

import os
from typing import Any


def generate_in_worker(job: tuple[str, dict[str, Any], dict[str, Any]]) -> tuple[int, int, str]:
    """Generate one item through the process-wide engine cache; report pid and load count."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    engine_name, settings, request = job
    from generation.base import GenerationRequest
    from generation.registry import LOAD_COUNTS, get_engine

    engine = get_engine(engine_name, settings)
    ref = engine.generate(GenerationRequest.model_validate(request))
    return os.getpid(), LOAD_COUNTS[engine_name], ref.path
