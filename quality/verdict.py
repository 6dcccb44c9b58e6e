"""What a QC verdict means for a clip: publish it, ask the engine for less, hold it for review, or reject it.

"Ask for less" is the known fix for subject drift and flicker: the next attempt gets smaller motion
(`AskForLessPolicy.motion_factor`), optionally a shorter clip (`duration_factor`) and a new seed. Only
the checks in REGENERATE_CHECKS are worth it; a black, frozen or non-conformant clip is rejected at once.

A passed clip is *borderline* when a judgement score (BORDERLINE_SCORES) is within `qc.borderline_margin`
of its limit; the preset's `review.borderline_policy` publishes it, holds it for a person (docs/REVIEW.md)
or rejects it. Photosensitivity is never borderline: WCAG 2.3.1 is a rule, not a matter of taste.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from catalog_motion.planning import seed_for
from catalog_motion.presets import AskForLessPolicy, ReviewPolicy
from catalog_motion.types import QCReport

REGENERATE_CHECKS = frozenset({"drift", "detail", "flicker", "warp_error", "framing", "cut", "glitch", "boiling"})
"""failed_checks names (quality.gate) that a gentler, shorter generation can fix."""

BORDERLINE_SCORES = ("drift", "detail", "flicker", "warp_error", "cut", "glitch", "boiling", "loop_seam")
"""Scores held to a maximum (QCReport.limits) that a person can judge by eye: how close calls are found."""

PHOTOSENSITIVITY_CHECK = "photosensitivity"
"""failed_checks name of the WCAG 2.3.1 flash check: a clip that failed it can never be approved."""

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
    decision: Literal["publish", "retry", "hold", "reject"]
    reason: str = ""
    retry: Attempt | None = None


def is_regeneratable(report: QCReport) -> bool:
    """True when the clip failed and every failed check is one that asking for less can fix."""
    return bool(report.failed_checks) and set(report.failed_checks) <= REGENERATE_CHECKS


def borderline_reasons(report: QCReport, margin: float) -> list[str]:
    """Why a passed clip is a close call: each judgement score within `margin` (a fraction) of its limit."""
    if not report.passed or margin <= 0:
        return []
    reasons = []
    for name in BORDERLINE_SCORES:
        value, limit = report.scores.get(name), report.limits.get(name)
        if value is None or limit is None or limit <= 0:
            continue
        if limit * (1.0 - margin) <= value <= limit:
            reasons.append(f"{name} {value:.4g} within {margin:.0%} of limit {limit:.4g}")
    return reasons


def judge(
    report: QCReport,
    policy: AskForLessPolicy,
    attempt: Attempt,
    *,
    sku: str,
    preset: str,
    margin: float = 0.0,
    review: ReviewPolicy | None = None,
) -> Verdict:
    """Publish a passed clip (a borderline one, within `margin` of a limit, as `review.borderline_policy`
    says); retry a fixable failure with less while attempts remain; else reject."""
    if report.passed:
        close = borderline_reasons(report, margin)
        rule = review.borderline_policy if review is not None else "publish"
        if not close or rule == "publish":
            return Verdict("publish", f"borderline: {'; '.join(close)}" if close else "")
        verb = "held for review" if rule == "hold" else "rejected"
        return Verdict("hold" if rule == "hold" else "reject", f"borderline, {verb}: {'; '.join(close)}")
    attempts_used = attempt.number + 1
    reason = "; ".join(report.reasons) or "failed QC"
    if is_regeneratable(report) and attempts_used < policy.max_attempts:
        retry = next_attempt(policy, attempt, sku=sku, preset=preset)
        return Verdict("retry", f"attempt {attempts_used}: {reason}", retry)
    return Verdict("reject", f"failed QC after {attempts_used} attempt(s): {reason}")


def next_attempt(policy: AskForLessPolicy, attempt: Attempt, *, sku: str, preset: str) -> Attempt:
    """The attempt after `attempt`, asking for less as `policy` says (also a reviewer's
    regenerate-with-less, whatever attempts the automatic policy has left)."""
    number = attempt.number + 1
    return Attempt(
        number=number,
        seed=seed_for(sku, preset, number) if policy.new_seed else attempt.seed,
        motion_scale=max(MIN_SCALE, attempt.motion_scale * policy.motion_factor),
        duration_scale=max(MIN_SCALE, attempt.duration_scale * policy.duration_factor),
    )
