"""Two-phase planning with real fetches: load -> plan refs -> fetch -> plan keys -> incremental re-plan."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from catalog_connectors import IntakeSettings, fetch_photos, load_catalog
from catalog_motion.planning import plan_work_items
from catalog_motion.presets import load_presets
from catalog_motion.types import ManifestRow

IDS = {"camera": "camera/test"}


def _plan(catalog: Path, work: Path, previous=None):
    settings = IntakeSettings(min_long_side=64)
    presets = load_presets()
    load = load_catalog(str(catalog), settings)
    refs = plan_work_items(load.rows, presets, engine_identities=IDS)
    photos = fetch_photos(refs.photo_refs, work, settings, base_dir=Path(load.base_dir))
    hashes = {ref: p.sha256 for ref, p in photos.items()}
    paths = {ref: p.path for ref, p in photos.items()}
    return plan_work_items(load.rows, presets, engine_identities=IDS, previous=previous, photo_hashes=hashes,
                           photo_paths=paths)


def test_unchanged_catalog_plans_nothing_and_one_changed_photo_replans_its_sku(small_sample_catalog: Path,
                                                                                tmp_path: Path) -> None:
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(small_sample_catalog.parent, catalog_dir)
    catalog = catalog_dir / "catalog.csv"
    first = _plan(catalog, tmp_path / "work")
    n_presets = len(load_presets())
    assert len(first.items) == 2 * n_presets  # the two red sizes share one item per preset
    assert all(Path(i.source_path).is_file() for i in first.items)
    published = [ManifestRow(sku=sku, preset=i.preset, status="published", key=i.key) for i in first.items
                 for sku in i.skus]
    again = _plan(catalog, tmp_path / "work", previous=published)
    assert again.items == [] and len(again.skipped) == 3 * n_presets

    photo = catalog_dir / "images" / "hoodie-logo.jpg"
    pixels = np.asarray(Image.open(photo).convert("RGB")).copy()
    pixels[10:20, 10:20] = 0  # a retouched photo
    Image.fromarray(pixels).save(photo, quality=92)
    changed = _plan(catalog, tmp_path / "work", previous=published)
    assert sorted((i.preset, tuple(i.skus)) for i in changed.items) == sorted(
        (p, ("HOOD-LOGO-L",)) for p in load_presets())
    assert {r.sku for r in changed.skipped} == {"TEE-RED-S", "TEE-RED-M"}
