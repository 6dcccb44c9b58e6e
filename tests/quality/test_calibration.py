"""The packaged thresholds on the labelled set: every good clip passes, every visible defect is rejected
(and by the check named for it). A reduced set (two photos, one real) keeps this under a minute."""

from __future__ import annotations

import pytest

from benchmarks.bench_qc_calibration import render_with_camera
from catalog_motion.presets import load_presets
from quality.calibration import DEFECT_CHECK, STRENGTHS, expected_check, run_calibration, summarise


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
    assert len(good) >= 10
    assert any("camera-" in o.name for o in good), "the real camera engine's clips are part of the good set"
    rejected = [(o.name, o.failed_checks) for o in good if not o.passed]
    assert rejected == []


def test_every_visible_defect_is_rejected_by_its_check(qc_calibration_outcomes):
    visible = [o for o in qc_calibration_outcomes if o.visible]
    assert {o.defect for o in visible} == set(DEFECT_CHECK)
    missed = [o.name for o in visible if o.passed]
    assert missed == []
    wrong_check = [
        (o.name, o.failed_checks) for o in visible if expected_check(o.defect, o.strength) not in o.failed_checks
    ]
    assert wrong_check == []


def test_summary_reports_rates_per_defect_and_strength(qc_calibration_outcomes):
    summary = summarise(qc_calibration_outcomes)
    assert summary["good"]["false_reject_rate"] == 0.0
    for defect, entry in summary["defects"].items():
        assert 0.0 <= entry["precision"] <= 1.0
        for label, _, visible in STRENGTHS[defect]:
            if label in entry["strengths"] and visible:
                assert entry["strengths"][label]["recall"] == 1.0
    # the invisible strengths are what separates a gate from a reject-everything rule
    subtle = [o for o in qc_calibration_outcomes if o.defect and not o.visible]
    assert sum(o.passed for o in subtle) >= len(subtle) // 2
