"""Calling stage code from a step: per-item retries with backoff and jitter, timeouts, failure wording."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from catalog_motion.errors import PermanentError, TransientError
from catalog_motion.settings import OrchestrationSettings

T = TypeVar("T")


class GenerationTimeout(PermanentError):
    """An engine call ran past OrchestrationSettings.generation_timeout_s (not retried: it would hang again)."""


def call_with_timeout(fn: Callable[[], T], seconds: float | None) -> T:
    """`fn()`, or GenerationTimeout after `seconds`; the call keeps running in an abandoned daemon thread."""
    if not seconds:
        return fn()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="generate-with-timeout")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise GenerationTimeout(f"timed out after {seconds:g} s (orchestration.generation_timeout_s)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def backoff_delays(retries: int, first: float, jitter: float, rng: random.Random | None = None) -> list[float]:
    """Exponential delays first, 2*first, 4*first... each stretched by up to `jitter` at random."""
    rng = rng or random.Random()
    return [first * (2**n) * (1.0 + jitter * rng.random()) for n in range(retries)]


def call_with_retries(fn: Callable[[], T], orch: OrchestrationSettings) -> T:
    """Run `fn`, retrying TransientError with backoff (the run's retry settings); anything else propagates."""
    for delay in [*backoff_delays(orch.retries, orch.retry_delay_s, orch.retry_jitter_factor), None]:
        try:
            return fn()
        except TransientError:
            if delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def failure_text(exc: BaseException) -> str:
    """An item's failure reason: our errors' own words; the class name too for anything unforeseen."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, PermanentError | TransientError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
