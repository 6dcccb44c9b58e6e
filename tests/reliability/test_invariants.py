"""check_run_invariants on hand-built manifests over a real local sink: each invariant can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_connectors.models import CatalogLoad
from catalog_motion.invariants import InvariantError, check_run_invariants, qc_problems
from catalog_motion.presets import Preset
from catalog_motion.settings import SinkSettings
from catalog_motion.types import CatalogRow, ManifestRow, RowOutcome
from publishing.sinks import make_sink

PRESETS = [
    Preset(name="pp", aspect="4:5", width=96, height=120, duration_s=1, fps=8),
    Preset(name="cu", aspect="1:1", width=96, height=96, duration_s=1, fps=8),
]
GOOD_QC = {"drift": 0.05, "flicker": 0.004, "warp_error": 0.001, "flashes_per_s": 0.0, "black_frames": 0.0}


@pytest.fixture
def inv_sink(tmp_path: Path):
    return make_sink(SinkSettings(uri=str(tmp_path / "out")))


def _load() -> CatalogLoad:
    rows = [CatalogRow(row_index=0, sku="A", image="a.png"), CatalogRow(row_index=1, sku="B", image="b.png")]
    refused = [
        RowOutcome(row_index=2, sku="A", reason="duplicate sku"),
        RowOutcome(row_index=3, sku=None, reason="empty row"),
    ]
    return CatalogLoad(source="c.csv", kind="csv", rows=rows, refused=refused)


def _published(sink, tmp_path: Path, sku: str, preset: str, payload: bytes = b"video") -> ManifestRow:
    local = tmp_path / f"{sku}-{preset}.mp4"
    local.write_bytes(payload + sku.encode() + preset.encode())
    asset = sink.put(local, f"{sku}/{preset}/video.mp4", "video/mp4", kind="video")
    return ManifestRow(sku=sku, preset=preset, status="published", video=asset.uri, assets=[asset], qc=dict(GOOD_QC))


def _good_rows(sink, tmp_path: Path) -> list[ManifestRow]:
    rows = [_published(sink, tmp_path, sku, p.name) for sku in ("A", "B") for p in PRESETS]
    rows += [ManifestRow(sku="<row 3>", preset=p.name, status="invalid", reason="empty") for p in PRESETS]
    return rows


def test_consistent_manifest_holds(inv_sink, tmp_path):
    report = check_run_invariants(_load(), PRESETS, _good_rows(inv_sink, tmp_path), inv_sink, deep=True)
    assert report.ok, report.violations
    assert report.expected_rows == 6 and report.manifest_rows == 6 and report.objects_checked == 4
    assert "invariants hold" in report.message()


def test_missing_duplicate_and_unexpected_rows_are_violations(inv_sink, tmp_path):
    rows = _good_rows(inv_sink, tmp_path)
    rows = [r for r in rows if not (r.sku == "B" and r.preset == "cu")]  # lost item
    rows.append(rows[0].model_copy())  # published twice
    rows.append(ManifestRow(sku="GHOST", preset="pp", status="failed", reason="?"))  # from nowhere
    report = check_run_invariants(_load(), PRESETS, rows, inv_sink)
    assert not report.ok
    assert report.counts["missing"] == 1 and report.counts["unexpected"] == 1
    assert report.counts["duplicate"] >= 1
    kinds = {(v.kind, v.sku, v.preset) for v in report.violations}
    assert ("missing", "B", "cu") in kinds and ("unexpected", "GHOST", "pp") in kinds
    with pytest.raises(InvariantError, match="run invariants violated"):
        raise InvariantError(report)


def test_refused_row_must_end_invalid(inv_sink, tmp_path):
    rows = _good_rows(inv_sink, tmp_path)
    rows = [r for r in rows if not (r.sku == "<row 3>" and r.preset == "pp")]
    rows.append(ManifestRow(sku="<row 3>", preset="pp", status="failed", reason="?"))
    report = check_run_invariants(_load(), PRESETS, rows, inv_sink)
    assert report.counts == {"not_invalid": 1}


def test_object_missing_or_tampered_is_a_violation(inv_sink, tmp_path):
    rows = _good_rows(inv_sink, tmp_path)
    Path(rows[0].assets[0].uri).unlink()  # object gone
    Path(rows[1].assets[0].uri).write_bytes(b"tampered content!!!!")  # object changed
    report = check_run_invariants(_load(), PRESETS, rows, inv_sink)
    assert report.counts == {"object": 2}, report.violations
    # verify_objects=False skips the sink (e.g. a dry check), everything else still holds
    assert check_run_invariants(_load(), PRESETS, rows, inv_sink, verify_objects=False).ok


def test_published_clip_failing_qc_or_with_nan_is_a_violation(inv_sink, tmp_path):
    rows = _good_rows(inv_sink, tmp_path)
    rows[0] = rows[0].model_copy(update={"qc": {**GOOD_QC, "drift": 0.9}})
    rows[1] = rows[1].model_copy(update={"qc": {**GOOD_QC, "flicker": float("nan")}})
    rows[2] = rows[2].model_copy(update={"qc": {}})
    report = check_run_invariants(_load(), PRESETS, rows, inv_sink)
    assert report.counts == {"qc": 3}
    assert qc_problems(GOOD_QC, PRESETS[0].qc) == []


def test_failed_row_naming_assets_and_carried_rows(inv_sink, tmp_path):
    rows = _good_rows(inv_sink, tmp_path)
    stray = rows[0].model_copy(update={"status": "failed"})
    rows[0] = stray
    report = check_run_invariants(_load(), PRESETS, rows, inv_sink)
    assert report.counts == {"stray_assets": 1}
    # a partial run's carried rows are not catalog rows, but their objects are still verified
    good = _good_rows(inv_sink, tmp_path)
    carried = _published(inv_sink, tmp_path, "OLD", "pp").model_copy(update={"status": "skipped"})
    ok = check_run_invariants(_load(), PRESETS, good + [carried], inv_sink, carried=[("OLD", "pp")])
    assert ok.ok, ok.violations
    Path(carried.assets[0].uri).unlink()
    bad = check_run_invariants(_load(), PRESETS, good + [carried], inv_sink, carried=[("OLD", "pp")])
    assert bad.counts == {"object": 1}


def test_repeated_sku_is_one_row_not_two(inv_sink, tmp_path):
    """A refused repeat of a valid SKU must not add a second row for the same (sku, preset)."""
    rows = _good_rows(inv_sink, tmp_path)
    rows.append(ManifestRow(sku="A", preset="pp", status="invalid", reason="duplicate sku"))
    report = check_run_invariants(_load(), PRESETS, rows, inv_sink)
    assert report.counts == {"duplicate": 1}, report.violations
