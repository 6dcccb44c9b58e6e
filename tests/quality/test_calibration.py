"""The packaged thresholds on the calibration set (quality/calibration.py): every good clip passes,
every visible defect is rejected by the check named for it, and the report's counts add up. A reduced
set (two photos, small clips) keeps this under two minutes; the benchmark runs the whole set, with the
clips at the presets' real sizes (benchmarks/bench_qc_calibration.py --full)."""

from __future__ import annotations

import pytest

from benchmarks.bench_qc_calibration import render_with_camera
from catalog_motion.presets import load_presets
from quality.calibration import (
    DEFECT_CHECK,
    STRENGTHS,
    PhotoBank,
    expected_check,
    markdown_table,
    motion_clips,
    run_calibration,
    summarise,
)

FULL_ONLY = {"detail_loss"}  # smeared fine print exists only in the full-resolution clips


@pytest.fixture(scope="module")
def qc_calibration_outcomes(tmp_path_factory):
    presets = load_presets()
    cam = {
        name: presets[name].model_copy(update={"width": w, "height": h, "duration_s": 1.0})
        # the size the gate scores a delivery-size clip at (work_long_side 320)
        for name, (w, h) in (("product-page", (256, 320)), ("social", (180, 320)), ("close-up", (320, 320)))
    }
    return run_calibration(
        presets["product-page"],
        n=24,
        photos=["drawn-garment", "astronaut"],
        camera_presets=cam,
        camera_motion_scales=(1.0, 0.4),
        camera_renderer=render_with_camera,
        work_dir=tmp_path_factory.mktemp("qc_calibration"),
    )


def test_every_good_clip_passes(qc_calibration_outcomes):
    good = [o for o in qc_calibration_outcomes if o.defect is None]
    names = " ".join(o.name for o in good)
    # the motions of a real image-to-video model are part of the good set, for every preset
    for part in ("camera-", "full-garment", "crf26", "crf20", "breathing", "social-", "close-up-"):
        assert part in names, f"no good clip with {part}"
    rejected = [(o.name, o.failed_checks) for o in good if not o.passed]
    assert rejected == []


def test_every_visible_defect_is_rejected_by_its_check(qc_calibration_outcomes):
    visible = [o for o in qc_calibration_outcomes if o.visible]
    assert {o.defect for o in visible} == set(DEFECT_CHECK) - FULL_ONLY
    missed = [o.name for o in visible if o.passed]
    wrong_check = [
        (o.name, o.failed_checks) for o in visible if expected_check(o.defect, o.strength) not in o.failed_checks
    ]
    assert (missed, wrong_check) == ([], [])


def test_report_counts_add_up(qc_calibration_outcomes):
    outcomes = qc_calibration_outcomes
    summary = summarise(outcomes)
    good = [o for o in outcomes if o.defect is None]
    assert summary["good"]["clips"] == len(good)
    assert summary["good"]["false_rejects"] == sum(not o.passed for o in good)
    for defect, entry in summary["defects"].items():
        assert sum(row["clips"] for row in entry["strengths"].values()) == sum(o.defect == defect for o in outcomes)
        for label, row in entry["strengths"].items():
            at = [o for o in outcomes if o.defect == defect and o.strength == label]
            assert row["recall"] == pytest.approx(sum(not o.passed for o in at) / len(at))
            assert row["recall_by_check"] <= row["recall"]
    conf = summary["confusion"]
    assert sum(row["clips"] for row in conf["rows"].values()) == len(outcomes)
    for family, row in conf["rows"].items():
        assert row["passed"] + row["rejected"] == row["clips"], family
        checks = [row[c] for c in conf["columns"] if c != "passed"]
        assert row["rejected"] <= sum(checks) and max(checks, default=0) <= row["rejected"], family
    table = markdown_table(summary)
    assert table.count("\n| good |") == 1 and "| passed |" in table


def test_subtle_strengths_mostly_pass(qc_calibration_outcomes):
    # the invisible strengths are what separates a gate from a reject-everything rule
    subtle = [o for o in qc_calibration_outcomes if o.defect and not o.visible]
    assert len(subtle) >= 10
    assert sum(o.passed for o in subtle) >= len(subtle) // 2


def test_full_set_clips_have_the_presets_real_sizes_durations_and_rates():
    presets = load_presets()
    clips = list(motion_clips(presets, full=True, photos=["drawn-garment", "astronaut"], bank=PhotoBank()))
    assert {c.defect for c in clips} >= {None, "detail_loss", "boiling", "framing", "half_length"}
    for c in clips:
        preset = presets[c.preset]
        assert c.size == (preset.width, preset.height) and c.fps == preset.fps, c.name
        assert c.render is not None and c.frames == []  # streamed, never held in memory
        if c.defect != "half_length":
            assert c.duration_s == pytest.approx(preset.duration_s), c.name
    half = next(c for c in clips if c.defect == "half_length" and c.preset == "social")
    assert half.duration_s == pytest.approx(6.0)
    # the strengths table names every family, and each clip's strength is one of its family's
    for c in clips:
        if c.defect:
            assert c.strength in {label for label, _, _ in STRENGTHS[c.defect]}
