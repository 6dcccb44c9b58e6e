"""What a QC verdict means for a clip: publish it, ask the engine for less, or reject it.

"Ask for less" is the known fix for subject drift and flicker: the next attempt gets smaller motion
(`AskForLessPolicy.motion_factor`), optionally a shorter clip (`duration_factor`) and a new seed. Only
the checks in REGENERATE_CHECKS are worth it; a black, frozen or non-conformant clip is rejected at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from catalog_motion.planning import seed_for
from catalog_motion.presets import AskForLessPolicy
from catalog_motion.types import QCReport

REGENERATE_CHECKS = frozenset({"drift", "detail", "flicker", "warp_error", "framing", "cut", "glitch", "boiling"})
"""failed_checks names (quality.gate) that a gentler, shorter generation can fix."""

# Scales never reach zero: an engine asked for no motion at all would render a still.
MIN_SCALE = 1e-3


@dataclass(frozen=True)
class Attempt:
    """One generation attempt of a work item: its number (0 = first), seed and motion/duration scales."""

    number: int
    seed: int
    motion_scale: float = 1.0
    duration_scale: float = 1.0


@dataclass(frozen=True)
class Verdict:
    decision: Literal["publish", "retry", "reject"]
    reason: str = ""
    retry: Attempt | None = None


def is_regeneratable(report: QCReport) -> bool:
    """True when the clip failed and every failed check is one that asking for less can fix."""
    return bool(report.failed_checks) and set(report.failed_checks) <= REGENERATE_CHECKS


def judge(report: QCReport, policy: AskForLessPolicy, attempt: Attempt, *, sku: str, preset: str) -> Verdict:
    """Publish a passed clip; retry a fixable failure with less while attempts remain; else reject."""
    if report.passed:
        return Verdict("publish")
    attempts_used = attempt.number + 1
    reason = "; ".join(report.reasons) or "failed QC"
    if is_regeneratable(report) and attempts_used < policy.max_attempts:
        number = attempt.number + 1
        retry = Attempt(
            number=number,
            seed=seed_for(sku, preset, number) if policy.new_seed else attempt.seed,
            motion_scale=max(MIN_SCALE, attempt.motion_scale * policy.motion_factor),
            duration_scale=max(MIN_SCALE, attempt.duration_scale * policy.duration_factor),
        )
        return Verdict("retry", f"attempt {attempts_used}: {reason}", retry)
    return Verdict("reject", f"failed QC after {attempts_used} attempt(s): {reason}")
