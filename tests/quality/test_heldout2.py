"""Held-out set v2 (benchmarks/heldout2/), blind: made by code of its own, never used to choose a threshold.

`test_heldout2_is_scored_once_and_adds_up` scores every recipe once with the packaged thresholds through
the gate's public entry points and checks the result file accounts for every clip. Floors come after the
first score: the lead sets FLOOR_GOOD_PASSED and FLOOR_VISIBLE_REJECTED from it (measured less one clip of
slack), so a change that makes the gate worse on clips it was never tuned on fails here. Slow: minutes on
an idle 2-core machine (91 real 1080p clips). The builder itself is checked by pixel comparison with each
defect's good scene, never by the gate: `python -m benchmarks.heldout2 --validate` (`make qc-heldout2` runs it
first; benchmarks/results/qc_heldout2_validation.json)."""

from __future__ import annotations

import json

import pytest

from benchmarks.heldout2.recipes import recipes
from benchmarks.heldout2.score import RESULTS, main, markdown_table

# From the first score of the landed gate (benchmarks/results/qc_heldout2.json, 2 Dec 2026), less one clip of slack
# for encoder differences between machines. Issue #15 asks for 97 %: not met (82 % / 95 %).
FLOOR_GOOD_PASSED = 27  # of 34 good clips (first score with the landed gate: 28)
FLOOR_VISIBLE_REJECTED = 40  # of 43 visible defects (first score: 41)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~6 min idle; far longer when the 2 cores are shared
def test_heldout2_is_scored_once_and_adds_up():
    labelled = recipes()
    summary = main()
    stored = json.loads(RESULTS.read_text(encoding="utf-8"))
    print(markdown_table(summary))
    rows = stored["clips"]
    assert [r["name"] for r in rows] == [r.name for r in labelled], "every recipe scored, in order"
    assert all(r["reasons"] for r in rows if r["rejected"]), "every rejection names its reason"
    good = [r for r in rows if r["label"] == "good"]
    bad = [r for r in rows if r["label"] == "defect"]
    assert summary["good_clips"] + summary["defective_clips"] == len(rows) == summary["clips"]
    assert len(good) >= 30 and len(bad) >= 50
    assert summary["good_passed"] == sum(not r["rejected"] and not r["crashes"] for r in good)

    fams = summary["families"].values()
    assert sum(f["clips"] for f in fams) == len(bad)
    assert sum(f["rejected"] for f in fams) == summary["defective_rejected"]
    strengths = [s for f in fams for s in f["strengths"].values()]
    assert sum(s["clips"] for s in strengths) == len(bad)
    assert sum(s["clips"] for s in strengths if s["visible"]) == summary["visible_defective_clips"]
    assert sum(s["rejected"] for s in strengths if s["visible"]) == summary["visible_rejected"]
    for group, counts in summary["confusion"].items():
        members = good if group == "good" else [r for r in bad if r["visible"] == (group == "defect, visible")]
        assert counts["passed"] + counts["rejected"] + counts["crashed"] == len(members), group

    assert (summary["good_clips"], summary["visible_defective_clips"]) == (34, 43), "the set changed: re-measure floors"
    assert summary["good_passed"] >= FLOOR_GOOD_PASSED, f"false rejects: {summary['false_rejects']}"
    assert summary["visible_rejected"] >= FLOOR_VISIBLE_REJECTED, f"missed: {summary['missed_visible']}"
