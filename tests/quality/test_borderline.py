"""Borderline verdicts: a passed clip within `qc.borderline_margin` of a limit, handled per preset."""

from __future__ import annotations

import pytest
import yaml

from catalog_motion.errors import ConfigError
from catalog_motion.presets import AskForLessPolicy, Preset, ReviewPolicy, load_presets
from catalog_motion.types import QCReport
from quality.verdict import Attempt, borderline_reasons, judge

FIRST = Attempt(number=0, seed=7)
LIMITS = {"drift": 0.25, "flicker": 0.02, "flashes_per_s": 3.0}


def _passed(**scores: float) -> QCReport:
    return QCReport(passed=True, scores={"drift": 0.05, "flicker": 0.001, **scores}, limits=LIMITS)


def _judge(report: QCReport, policy: str, margin: float = 0.1):
    return judge(
        report,
        AskForLessPolicy(),
        FIRST,
        sku="A",
        preset="product-page",
        margin=margin,
        review=ReviewPolicy(borderline_policy=policy),
    )


def test_a_score_within_the_margin_of_its_limit_is_borderline():
    assert borderline_reasons(_passed(drift=0.24), 0.1) == ["drift 0.24 within 10% of limit 0.25"]
    assert borderline_reasons(_passed(drift=0.22), 0.1) == []  # 12 % below the limit: a clear pass
    assert borderline_reasons(_passed(drift=0.24), 0.0) == []  # margin 0 turns borderline off
    # a failed clip is not a close call of a passed one, and flashes are never a matter of taste
    assert borderline_reasons(QCReport(passed=False, scores={"drift": 0.24}, limits=LIMITS), 0.1) == []
    assert borderline_reasons(_passed(flashes_per_s=3.0), 0.5) == []


@pytest.mark.parametrize(("policy", "decision"), [("publish", "publish"), ("hold", "hold"), ("reject", "reject")])
def test_the_preset_policy_decides_a_borderline_clip(policy, decision):
    verdict = _judge(_passed(flicker=0.0195), policy)
    assert verdict.decision == decision
    assert "flicker 0.0195 within 10% of limit 0.02" in verdict.reason
    # a clear pass publishes whatever the policy
    assert _judge(_passed(), policy).decision == "publish"


def test_defaults_keep_todays_behaviour():
    preset = Preset(name="p", aspect="1:1", width=64, height=64, duration_s=1, fps=12)
    assert preset.review.borderline_policy == "publish" and preset.qc.borderline_margin == 0.1
    # judge without a review policy (callers before review existed) publishes borderline clips
    verdict = judge(_passed(drift=0.249), AskForLessPolicy(), FIRST, sku="A", preset="p", margin=0.1)
    assert verdict.decision == "publish" and verdict.reason.startswith("borderline:")


def test_presets_file_review_block_is_validated(tmp_path):
    body = {"aspect": "1:1", "width": 64, "height": 64, "duration_s": 1, "fps": 12}
    good = tmp_path / "good.yaml"
    good.write_text(
        yaml.safe_dump(
            {"presets": {"p": {**body, "review": {"borderline_policy": "hold"}, "qc": {"borderline_margin": 0.2}}}}
        )
    )
    preset = load_presets(good)["p"]
    assert preset.review.borderline_policy == "hold" and preset.qc.borderline_margin == 0.2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"presets": {"p": {**body, "review": {"borderline_policy": "maybe"}}}}))
    with pytest.raises(ConfigError, match=r"invalid preset field 'presets\.p\.review\.borderline_policy'"):
        load_presets(bad)
