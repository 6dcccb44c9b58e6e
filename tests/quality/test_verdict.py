"""What a QC verdict means: publish, ask for less (next attempt's seed and scales), or reject."""

from __future__ import annotations

import pytest

from catalog_motion.planning import seed_for
from catalog_motion.presets import AskForLessPolicy
from catalog_motion.types import QCReport
from quality.verdict import Attempt, is_regeneratable, judge

FIRST = Attempt(number=0, seed=seed_for("A", "social", 0))


def _failed(*checks: str) -> QCReport:
    return QCReport(passed=False, reasons=[f"{c} too high" for c in checks], failed_checks=list(checks))


def test_a_passed_clip_is_published() -> None:
    assert judge(QCReport(passed=True), AskForLessPolicy(), FIRST, sku="A", preset="social").decision == "publish"


def test_drift_asks_for_less_motion_a_shorter_clip_and_a_new_seed() -> None:
    policy = AskForLessPolicy(max_attempts=3, motion_factor=0.5, duration_factor=0.75, new_seed=True)
    verdict = judge(_failed("drift", "flicker"), policy, FIRST, sku="A", preset="social")
    assert verdict.decision == "retry" and verdict.reason == "attempt 1: drift too high; flicker too high"
    assert verdict.retry == Attempt(number=1, seed=seed_for("A", "social", 1), motion_scale=0.5, duration_scale=0.75)
    again = judge(_failed("warp_error"), policy, verdict.retry, sku="A", preset="social")
    assert again.retry.motion_scale == pytest.approx(0.25) and again.retry.duration_scale == pytest.approx(0.5625)
    last = judge(_failed("drift"), policy, again.retry, sku="A", preset="social")
    assert last.decision == "reject" and last.reason == "failed QC after 3 attempt(s): drift too high"


def test_the_seed_is_kept_when_the_policy_says_so() -> None:
    verdict = judge(_failed("drift"), AskForLessPolicy(new_seed=False), FIRST, sku="A", preset="social")
    assert verdict.retry.seed == FIRST.seed and verdict.retry.number == 1


def test_defects_less_motion_cannot_fix_are_rejected_at_once() -> None:
    for report in (
        _failed("black_frames"),
        _failed("drift", "conformance"),
        QCReport(passed=False, reasons=["subject drift 0.4"]),
    ):  # no check names: nothing to retry
        assert not is_regeneratable(report)
        verdict = judge(report, AskForLessPolicy(max_attempts=5), FIRST, sku="A", preset="social")
        assert verdict.decision == "reject" and verdict.reason.startswith("failed QC after 1 attempt(s)")
