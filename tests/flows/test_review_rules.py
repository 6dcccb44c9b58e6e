"""Which review decisions are refused, and why (pipeline/review.py; no server needed)."""

from __future__ import annotations

import pytest

from catalog_motion.types import ManifestRow
from pipeline.review import Decision, ReviewEntry, ReviewError, decision_problems, split_item


def _entry(sku: str, checks: list[str] | None = None, key: str = "k1") -> ReviewEntry:
    return ReviewEntry(
        entry=f"e-{sku}",
        sku=sku,
        preset="social",
        failed_checks=checks or [],
        scores={"flashes_per_s": 6.0},
        limits={"flashes_per_s": 3.0},
        source="/q/source.png",
        clip="/q/clip.mkv",
        key=key,
    )


def test_refusals_name_the_item_and_what_to_do():
    entries = [_entry("A"), _entry("FLASH", ["photosensitivity"]), _entry("OLD", key="k-old")]
    latest = [ManifestRow(sku="OLD", preset="social", status="published", key="k-new", published_run="night-2")]
    decisions = [
        Decision(item="A/social", decision="approve"),
        Decision(item="A/social", decision="reject"),
        Decision(item="FLASH/social", decision="approve"),
        Decision(item="NOPE/social", decision="reject"),
        Decision(item="OLD/social", decision="approve"),
    ]
    problems = decision_problems(entries, decisions, latest)
    assert problems == {
        "A/social": "A/social is decided twice in one review; give one decision per item",
        "FLASH/social": "cannot approve FLASH/social: it failed the photosensitivity check (WCAG 2.3.1) "
        "(6 flashes in one second > limit 3); reject it or regenerate it with less",
        "NOPE/social": "NOPE/social is not an open review item (`catalog-motion review list` shows them)",
        "OLD/social": "cannot approve OLD/social: run night-2 has published another video for it since this clip "
        "was queued",
    }
    # the flashing clip may still be rejected or regenerated
    for kind in ("reject", "regenerate"):
        assert decision_problems(entries, [Decision(item="FLASH/social", decision=kind)]) == {}


def test_items_are_sku_slash_preset():
    assert split_item("TEE/RED/S/product-page") == ("TEE/RED/S", "product-page")
    with pytest.raises(ReviewError, match="must be written sku/preset"):
        split_item("TEE-RED-S")
