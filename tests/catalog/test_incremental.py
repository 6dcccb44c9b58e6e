"""Incremental planning with real fetches: plan -> fetch step (content keys) -> skip what is unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from catalog_connectors import IntakeSettings, load_catalog
from catalog_motion.planning import plan_items
from catalog_motion.presets import load_presets
from catalog_motion.settings import RunSettings
from catalog_motion.types import ManifestRow
from pipeline.batching import batch_states
from pipeline.state import ItemState, RunContext
from pipeline.steps import fetch_batch


def _fetch(catalog: Path, work: Path, previous: list[ManifestRow] | None = None) -> list[ItemState]:
    """Every item of the catalog through the run's fetch step; its states (skipped ones have an outcome)."""
    settings = RunSettings(intake=IntakeSettings(min_long_side=64), work_dir=str(work))
    presets = load_presets()
    load = load_catalog(str(catalog), settings.intake)
    items, _ = plan_items(load.rows, list(presets.values()))
    ctx = RunContext(
        run_id="r",
        catalog=str(catalog),
        out=str(work / "out"),
        work_dir=str(work),
        settings=settings,
        presets=presets,
        catalog_dir=load.base_dir,
    )
    by_key = {(row.sku, row.preset): row for row in previous or []}
    return [state for batch in batch_states(items, 100, by_key) for state in fetch_batch(batch, ctx)]


def test_unchanged_catalog_plans_nothing_and_one_changed_photo_replans_its_sku(
    small_sample_catalog: Path, tmp_path: Path
) -> None:
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(small_sample_catalog.parent, catalog_dir)
    catalog = catalog_dir / "catalog.csv"
    first = _fetch(catalog, tmp_path / "work")
    n_presets = len(load_presets())
    assert len(first) == 2 * n_presets  # the two red sizes share one item per preset
    assert all(s.status is None and Path(s.item.source_path).is_file() and s.item.key for s in first)
    published = [
        ManifestRow(sku=sku, preset=s.item.preset, status="published", key=s.item.key)
        for s in first
        for sku in s.item.skus
    ]
    again = _fetch(catalog, tmp_path / "work", previous=published)
    assert {s.status for s in again} == {"skipped"} and sum(len(s.item.skus) for s in again) == 3 * n_presets

    photo = catalog_dir / "images" / "hoodie-logo.jpg"
    pixels = np.asarray(Image.open(photo).convert("RGB")).copy()
    pixels[10:20, 10:20] = 0  # a retouched photo
    Image.fromarray(pixels).save(photo, quality=92)
    changed = _fetch(catalog, tmp_path / "work", previous=published)
    assert sorted((s.item.preset, tuple(s.item.skus)) for s in changed if s.status is None) == sorted(
        (p, ("HOOD-LOGO-L",)) for p in load_presets()
    )
    assert {sku for s in changed if s.status == "skipped" for sku in s.item.skus} == {"TEE-RED-S", "TEE-RED-M"}
