"""The held-out set (benchmarks/heldout/), scored once with the packaged thresholds.

Its clips are made by code of their own, at the presets' real sizes, durations and frame rates, and are
never used to choose a threshold. Slow (minutes, real 1080p clips); `make test` runs it. It writes
benchmarks/results/qc_heldout.json, whose numbers the README shows.

Issue #15's targets (good clips passed >= 97 %, visible defects rejected >= 97 % overall and in every
family) are NOT met yet: the README and docs/QUALITY.md say by how much. This test holds the gate to what
it measured when the set was first scored after the gate landed (19 of 23 good clips passed, 32 of 36
visible defects rejected), less one clip of slack for encoder differences between machines, so a change
that makes the gate worse on clips it was never tuned on fails here."""

from __future__ import annotations

import json

import pytest

from benchmarks.heldout.recipes import recipes
from benchmarks.heldout.score import RESULTS, main, markdown_table

FLOOR_GOOD_PASSED = 18  # of 23 (measured: 19)
FLOOR_VISIBLE_REJECTED = 31  # of 36 (measured: 32)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~4 min on an idle 2-core machine; much longer when the cores are shared
def test_heldout_set_is_scored_and_no_worse_than_measured():
    labelled = recipes()
    summary = main()
    stored = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert len(stored["clips"]) == len(labelled) == summary["good_clips"] + summary["defective_clips"]
    print(markdown_table(summary))

    good_passed = round(summary["good_passed"] * summary["good_clips"])
    strengths = [row for f in summary["families"].values() for row in f["strengths"].values()]
    visible = sum(row["clips"] for row in strengths if row["visible"])
    visible_rejected = sum(row["rejected"] for row in strengths if row["visible"])
    assert summary["good_clips"] == 23 and visible == summary["visible_defective_clips"] == 36, "re-measure floors"
    assert visible_rejected == round(summary["visible_rejected"] * visible)  # the report adds up
    assert good_passed >= FLOOR_GOOD_PASSED, f"false rejects: {summary['false_rejects']}"
    assert visible_rejected >= FLOOR_VISIBLE_REJECTED, f"visible defects missed: {summary['missed_visible']}"
