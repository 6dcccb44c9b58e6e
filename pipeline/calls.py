"""Calling stage code from a step: per-item retries with backoff and jitter, timeouts, failure wording,
and the one place an exception becomes an item's outcome (`item_failure`, `batch_failure`)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, TypeVar

from catalog_motion.errors import PermanentError, TransientError
from catalog_motion.settings import OrchestrationSettings

if TYPE_CHECKING:
    from catalog_motion.presets import Preset
    from pipeline.state import ItemState

T = TypeVar("T")


class StageTimeout(PermanentError):
    """A stage's call ran past its orchestration.*_timeout_s limit (not retried: it would hang again)."""


GenerationTimeout = StageTimeout  # its name from when only generation had a limit


def timeout_text(stage: str, seconds: float, setting: str) -> str:
    """E.g. 'quality check timed out after 300 s (orchestration.check_timeout_s)'."""
    return f"{stage} timed out after {seconds:g} s (orchestration.{setting})"


def call_with_timeout(
    fn: Callable[[], T],
    seconds: float | None,
    *,
    stage: str = "generation",
    setting: str = "generation_timeout_s",
) -> T:
    """`fn()`, or StageTimeout naming `stage` and `setting` after `seconds` (None: no limit).

    Python code cannot be killed from outside: a timed-out call keeps running in its abandoned daemon
    thread until it returns on its own; its result is dropped. Stages that run a subprocess (ffmpeg)
    or an engine in a worker process kill it instead.
    """
    if not seconds:
        return fn()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name=f"{stage.replace(' ', '-')}-with-timeout")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise StageTimeout(timeout_text(stage, seconds, setting))
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def generation_timeout(orch: OrchestrationSettings, preset: Preset, duration_scale: float = 1.0) -> float:
    """Seconds one clip of `preset` may take to generate: the fixed orchestration.generation_timeout_s when
    set, else generation_timeout_per_mpx_s per megapixel-second of the clip, at least generation_timeout_min_s."""
    if orch.generation_timeout_s:
        return orch.generation_timeout_s
    mpx_s = preset.width * preset.height / 1e6 * preset.duration_s * duration_scale
    return max(orch.generation_timeout_min_s, orch.generation_timeout_per_mpx_s * mpx_s)


def generation_timeout_setting(orch: OrchestrationSettings) -> str:
    """The setting(s) a generation timeout came from, for its message."""
    if orch.generation_timeout_s:
        return "generation_timeout_s"
    return "generation_timeout_per_mpx_s, generation_timeout_min_s"


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


def failure_reason(what: str, exc: BaseException) -> str:
    """An item's reason for `exc`: a timeout's own words (they name the stage and the setting), else
    `what` (e.g. 'encoding failed') and the error's."""
    text = failure_text(exc)
    return text if isinstance(exc, StageTimeout) else f"{what}: {text}"


@contextmanager
def item_failure(state: ItemState, what: str, cleanup: Callable[[], None] | None = None) -> Iterator[None]:
    """Any Exception out of the block becomes this item's `failed` outcome (`failure_reason(what, exc)`) and
    the step goes on with the next item; `cleanup` (e.g. removing the item's master) runs after it.

    An outcome the item had before the block stands. The caller checks `state.done` after the block."""
    had_outcome = state.done
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - one item's failure is that item's outcome, never the batch's
        if not had_outcome:
            state.finish("failed", failure_reason(what, exc))
        if cleanup is not None:
            with suppress(Exception):  # best effort: the outcome is already recorded
                cleanup()


@contextmanager
def batch_failure(states: list[ItemState], what: str) -> Iterator[None]:
    """Work for a whole batch (loading plugins, building the engine). A TransientError propagates, so the
    task's own retry policy applies; any other Exception becomes the `failed` outcome of every item of
    `states` still without one (items with an outcome keep it) and the step returns normally."""
    try:
        yield
    except TransientError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on each pending item
        reason = failure_reason(what, exc)
        for state in states:
            if not state.done:
                state.finish("failed", reason)
