"""One end-to-end run at the packaged (full) preset sizes, on two SKUs of the sample catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_motion.media import mp4_top_level_atoms, probe
from catalog_motion.presets import load_presets
from tests.flows.conftest import read_rows
from tests.flows.helpers import manifest_rows, run_flow


@pytest.mark.slow
def test_full_size_presets_on_two_skus(prefect_api, sample_catalog, tmp_path):
    skus = [row["sku"] for row in read_rows(sample_catalog)][:2]
    out = tmp_path / "out"
    summary, _ = run_flow(catalog=str(sample_catalog), out=str(out), skus=skus)
    presets = load_presets()
    rows = manifest_rows(out, summary["run_id"])
    assert sorted((r.sku, r.preset) for r in rows) == sorted((s, p) for s in skus for p in presets)
    published = [r for r in rows if r.status == "published"]
    assert len(published) >= 4, [(r.sku, r.preset, r.status, r.reason) for r in rows]
    for row in published:
        preset = presets[row.preset]
        facts = probe(row.video)
        assert (facts.codec, facts.pix_fmt, facts.width, facts.height) == (
            "h264",
            "yuv420p",
            preset.width,
            preset.height,
        )
        assert float(facts.fps) == preset.fps and not facts.has_audio
        assert abs(facts.duration_s - preset.duration_s) <= 1.0 / preset.fps + 1e-6
        atoms = mp4_top_level_atoms(row.video)
        assert atoms.index("moov") < atoms.index("mdat")
        assert Path(row.poster).stat().st_size > 1000
