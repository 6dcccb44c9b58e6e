"""What the gate hands the rest of the run: the QC table, its great-expectations suite, the visual report,
the `qc` command, and clear outcomes for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from quality.expectations import validate_qc_table
from quality.gate import check_clip
from quality.io import QCInputError
from quality.synthetic import camera_frames
from quality.table import CORE_SCORES, qc_rows, read_qc_table, write_qc_table
from tests.fixtures.quality_clips import QC_H, QC_N, QC_W

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def qc_two_reports(tmp_path_factory, qc_photo_path, qc_photo_array, qc_presets):
    """A passing and a failing report on real clips (module scope: computed once)."""
    from catalog_motion.media import write_master

    tmp = tmp_path_factory.mktemp("qc_outputs")
    base = qc_presets["product-page"]
    push_in = base.motion.model_copy(update={"path": "push_in", "amount": 0.5})  # the clips zoom by 8 %
    preset = base.model_copy(update={"loop": False, "motion": push_in})
    good = write_master(camera_frames(qc_photo_array, QC_W, QC_H, QC_N, zoom=0.08), tmp / "good.mkv", 24)
    frames = camera_frames(qc_photo_array, QC_W, QC_H, QC_N, zoom=0.08)
    frames[5] = np.zeros_like(frames[5])
    bad = write_master(frames, tmp / "bad.mkv", 24)
    return preset, [(good, check_clip(qc_photo_path, good, preset)), (bad, check_clip(qc_photo_path, bad, preset))]


def test_qc_table_round_trips_scores_and_curves(tmp_path, qc_two_reports):
    _, pairs = qc_two_reports
    rows = qc_rows([({"sku": f"S{i}", "preset": "product-page", "attempt": 0}, r) for i, (_, r) in enumerate(pairs)])
    path = write_qc_table(rows, tmp_path / "qc" / "qc.parquet")
    table = read_qc_table(path)
    assert list(table["sku"]) == ["S0", "S1"]
    assert list(table["passed"]) == [True, False]
    assert table.loc[1, "failed_checks"] == "black_frames"
    for name in CORE_SCORES:
        assert table[name].notna().all(), name
    assert len(table.loc[0, "curve_flicker"]) == QC_N - 1
    assert table.loc[0, "drift"] == pytest.approx(pairs[0][1].scores["drift"])


def test_gx_suite_passes_a_healthy_table_and_writes_data_docs(tmp_path, qc_two_reports):
    _, pairs = qc_two_reports
    table = pd.DataFrame(qc_rows([({"sku": f"S{i}"}, r) for i, (_, r) in enumerate(pairs)]))
    result = validate_qc_table(table, tmp_path / "docs", min_pass_rate=0.5)
    assert result.success, result.failed_expectations
    assert result.statistics["rows"] == 2 and result.statistics["pass_rate"] == 0.5
    assert result.docs_index_path is not None and result.docs_index_path.exists()
    assert list((tmp_path / "docs").rglob("*.html"))


def test_gx_suite_fails_on_missing_scores_out_of_bounds_and_low_pass_rate(tmp_path, qc_two_reports):
    _, pairs = qc_two_reports
    table = pd.DataFrame(qc_rows([({"sku": f"S{i}"}, r) for i, (_, r) in enumerate(pairs)]))
    table.loc[0, "flicker"] = None
    table.loc[1, "drift"] = 1.7
    result = validate_qc_table(table, tmp_path / "docs", min_pass_rate=0.9)
    assert not result.success
    assert "expect_column_values_to_not_be_null(flicker)" in result.failed_expectations
    assert "expect_column_values_to_be_between(drift)" in result.failed_expectations
    assert "expect_column_mean_to_be_between(passed_rate)" in result.failed_expectations
    assert result.docs_index_path is not None


def test_qc_spool_becomes_the_same_table_as_write_qc_table(tmp_path, qc_two_reports):
    """Chunked conversion (types unified across chunks) gives what pandas gives for the whole table."""
    from quality.table import QCSpool

    _, pairs = qc_two_reports
    rows = []
    for n in range(11):
        row = qc_rows([({"sku": f"S{n}", "preset": "p", "attempt": n % 3, "seed": n}, pairs[n % 2][1])])[0]
        row["black_frames"] = n if n < 5 else n + 0.5  # ints in early chunks, floats later
        row["flicker"] = None if n == 2 else row["flicker"]
        row["curve_extra"] = [] if n < 4 else [0.5, float(n)]  # empty lists first
        if n == 7:
            row["late_column"] = "x"
        rows.append(row)
    spool = QCSpool(tmp_path / "qc.jsonl")
    for start in range(0, len(rows), 3):
        spool.append(rows[start : start + 3])
    new = read_qc_table(spool.write_parquet(tmp_path / "new.parquet", chunk_rows=4))
    old = read_qc_table(write_qc_table(rows, tmp_path / "old.parquet"))
    pd.testing.assert_frame_equal(new, old)
    assert new["black_frames"].dtype == "float64" and list(new.columns)[-1] == "late_column"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "qc", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_qc_json_and_exit_codes(tmp_path, qc_photo_path, qc_two_reports):
    _, pairs = qc_two_reports
    (good, _), (bad, _) = pairs
    # the small clips need a preset of their size: pass a presets file, as a user would
    presets_file = tmp_path / "presets.yaml"
    presets_file.write_text(
        "presets:\n  small:\n    aspect: '4:5'\n    width: 192\n    height: 240\n    duration_s: 1.0\n    fps: 24\n"
        "    motion: {path: push_in, amount: 0.5}\n",
        encoding="utf-8",
    )
    ok = _cli(
        "--source",
        str(qc_photo_path),
        "--video",
        str(good),
        "--preset",
        "small",
        "--presets-file",
        str(presets_file),
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    body = json.loads(ok.stdout)
    assert body["passed"] is True and body["reasons"] == [] and 0 <= body["scores"]["drift"] <= 1
    fail = _cli(
        "--source",
        str(qc_photo_path),
        "--video",
        str(bad),
        "--preset",
        "small",
        "--presets-file",
        str(presets_file),
        "--json",
    )
    assert fail.returncode == 1
    assert json.loads(fail.stdout)["passed"] is False
    text = _cli(
        "--source", str(qc_photo_path), "--video", str(bad), "--preset", "small", "--presets-file", str(presets_file)
    )
    assert text.returncode == 1 and text.stdout.startswith("FAIL") and "black" in text.stdout
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for args in (["--video", str(empty)], ["--video", str(tmp_path / "missing.mp4")]):
        bad_input = _cli("--source", str(qc_photo_path), *args)
        assert bad_input.returncode == 2
        assert bad_input.stdout == "" and len(bad_input.stderr.strip().splitlines()) == 1
        assert "Traceback" not in bad_input.stderr


def test_grayscale_and_alpha_photos_are_scored(tmp_path, qc_photo_array, qc_two_reports):
    preset, pairs = qc_two_reports
    good = pairs[0][0]
    gray = tmp_path / "gray.png"
    Image.fromarray(qc_photo_array).convert("L").save(gray)
    report = check_clip(gray, good, preset)
    # a grayscale source of a coloured clip: the structure agrees, the colour does not
    assert report.scores["drift_structure"] < 0.1 and report.scores["drift_colour"] > 0.25
    rgba = np.dstack([qc_photo_array, np.full(qc_photo_array.shape[:2], 255, np.uint8)])
    rgba[:20, :20, 3] = 0  # a transparent corner laid on the preset's background colour
    alpha = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(alpha)
    assert check_clip(alpha, good, preset).passed


def test_source_of_another_aspect_is_aligned_not_rejected(tmp_path, qc_photo_array, qc_two_reports):
    preset, pairs = qc_two_reports
    good = pairs[0][0]
    # the same photo with extra studio floor: a 4:6 source for a 4:5 clip (engines cover-crop)
    tall = np.concatenate([qc_photo_array, np.repeat(qc_photo_array[-1:], 96, axis=0)], axis=0)
    path = tmp_path / "tall.png"
    Image.fromarray(tall).save(path)
    report = check_clip(path, good, preset)
    assert report.scores["aspect_mismatch"] > 0.1
    assert report.passed, report.reasons


def test_source_of_another_product_fails(tmp_path, qc_two_reports):
    from quality.synthetic import draw_garment_photo

    preset, pairs = qc_two_reports
    other = tmp_path / "other.png"
    Image.fromarray(draw_garment_photo(384, 480, seed=21)).save(other)
    report = check_clip(other, pairs[0][0], preset)
    assert "drift" in report.failed_checks


def test_unreadable_video_is_a_permanent_error(tmp_path, qc_photo_path, qc_two_reports):
    from catalog_motion.errors import PermanentError

    preset, _ = qc_two_reports
    text = tmp_path / "notes.mkv"
    text.write_text("not a video")
    with pytest.raises(PermanentError, match="cannot decode clip notes.mkv"):
        check_clip(qc_photo_path, text, preset)
    assert issubclass(QCInputError, PermanentError)
