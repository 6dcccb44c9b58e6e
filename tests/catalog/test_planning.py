"""plan_work_items: grouping of photo-sharing variants, seeds, content keys, incremental skipping."""

from __future__ import annotations

import pytest

from catalog_motion.errors import ConfigError
from catalog_motion.planning import content_key, plan_work_items, seed_for, select_photo
from catalog_motion.presets import load_presets
from catalog_motion.types import Asset, CatalogRow, ManifestRow

IDS = {"camera": "camera/1"}


@pytest.fixture()
def presets():
    return load_presets()


def _rows() -> list[CatalogRow]:
    return [
        CatalogRow(row_index=0, sku="TEE-RED-S", image="images/tee-red.png"),
        CatalogRow(row_index=1, sku="TEE-RED-M", image="images/tee-red.png"),
        CatalogRow(row_index=2, sku="HOOD-L", image="images/hoodie.jpg", lifestyle_image="life/hoodie.jpg"),
        CatalogRow(row_index=3, sku="HOOD-XL", image="copy/hoodie-same-bytes.jpg"),
    ]


HASHES = {"images/tee-red.png": "a" * 64, "images/hoodie.jpg": "b" * 64, "copy/hoodie-same-bytes.jpg": "b" * 64,
          "life/hoodie.jpg": "c" * 64}


def _published(plan) -> list[ManifestRow]:
    return [
        ManifestRow(sku=sku, preset=item.preset, status="published", key=item.key, seed=item.seed,
                    video=f"s3://b/{sku}/{item.preset}/clip.mp4",
                    assets=[Asset(kind="video", uri=f"s3://b/{sku}/{item.preset}/clip.mp4", size=1, sha256="0" * 64,
                                  content_type="video/mp4")])
        for item in plan.items for sku in item.skus
    ]


def test_seed_is_deterministic_and_distinct() -> None:
    assert seed_for("A", "social", 0) == seed_for("A", "social", 0)
    seeds = {seed_for(s, p, a) for s in ("A", "B") for p in ("social", "close-up") for a in (0, 1, 2)}
    assert len(seeds) == 12 and all(0 <= s < 2**31 for s in seeds)
    # stable across processes and Python versions: sha256 based, not hash()
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"A\x00social\x000").digest()[:4], "big") & 0x7FFFFFFF
    assert seed_for("A", "social", 0) == expected


def test_phase_one_groups_by_reference(presets) -> None:
    plan = plan_work_items(_rows(), presets, engine_identities=IDS)
    assert not plan.keyed and plan.skipped == []
    assert len(plan.items) == 3 * len(presets)  # tee (2 skus), hoodie, hoodie copy
    tee = [i for i in plan.items if i.preset == "social" and i.image == "images/tee-red.png"]
    assert len(tee) == 1 and tee[0].skus == ["TEE-RED-S", "TEE-RED-M"] and tee[0].sku == "TEE-RED-S"
    assert tee[0].seed == seed_for("TEE-RED-S", "social", 0) and tee[0].key is None
    assert plan.photo_refs == ["images/tee-red.png", "images/hoodie.jpg", "copy/hoodie-same-bytes.jpg"]


def test_phase_two_groups_by_content_and_keys(presets) -> None:
    plan = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES,
                           photo_paths={"images/tee-red.png": "/w/a.png"})
    assert plan.keyed and len(plan.items) == 2 * len(presets)
    hood = next(i for i in plan.items if i.preset == "product-page" and i.source_sha256 == "b" * 64)
    assert hood.skus == ["HOOD-L", "HOOD-XL"]
    tee = next(i for i in plan.items if i.preset == "product-page" and i.source_sha256 == "a" * 64)
    assert tee.source_path == "/w/a.png" and hood.source_path is None
    assert tee.key == content_key("a" * 64, presets["product-page"], "camera/1")
    keys = {i.key for i in plan.items}
    assert len(keys) == len(plan.items)  # preset and photo both enter the key
    assert plan.sku_presets() == {(r.sku, p) for r in _rows() for p in presets}


def test_key_changes_with_engine_and_preset_but_not_description(presets) -> None:
    p = presets["social"]
    base = content_key("a" * 64, p, "camera/1")
    assert content_key("a" * 64, p, "camera/2") != base
    assert content_key("a" * 64, p.model_copy(update={"fps": 24}), "camera/1") != base
    assert content_key("a" * 64, p.model_copy(update={"description": "reworded"}), "camera/1") == base


def test_incremental_unchanged_catalog_plans_nothing(presets) -> None:
    first = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES)
    previous = _published(first)
    second = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES, previous=previous)
    assert second.items == []
    assert len(second.skipped) == len(_rows()) * len(presets)
    assert {r.status for r in second.skipped} == {"skipped"}
    assert all(r.assets and r.video for r in second.skipped)  # old assets carried forward
    # A run after a run of skips still skips (skipped rows keep standing).
    third = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES, previous=second.skipped)
    assert third.items == []
    # full=True forces everything.
    forced = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES, previous=previous, full=True)
    assert len(forced.items) == len(first.items) and forced.skipped == []


def test_changing_one_photo_replans_exactly_that_sku(presets) -> None:
    first = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES)
    previous = _published(first)
    rows = _rows()
    rows[3] = rows[3].model_copy(update={"image": "copy/hoodie-new.jpg"})
    hashes = {**HASHES, "copy/hoodie-new.jpg": "d" * 64}
    plan = plan_work_items(rows, presets, engine_identities=IDS, photo_hashes=hashes, previous=previous)
    assert {(i.preset, tuple(i.skus)) for i in plan.items} == {(p, ("HOOD-XL",)) for p in presets}
    assert len(plan.skipped) == 3 * len(presets)


def test_failed_or_rejected_previous_rows_are_replanned(presets) -> None:
    first = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES)
    previous = [r.model_copy(update={"status": "rejected"}) if r.sku == "TEE-RED-M" and r.preset == "social" else r
                for r in _published(first)]
    plan = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES, previous=previous)
    assert [(i.preset, i.skus) for i in plan.items] == [("social", ["TEE-RED-S", "TEE-RED-M"])]


def test_new_engine_identity_replans_everything(presets) -> None:
    first = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=HASHES)
    plan = plan_work_items(_rows(), presets, engine_identities={"camera": "camera/2"}, photo_hashes=HASHES,
                           previous=_published(first))
    assert len(plan.items) == len(first.items)


def test_unfetched_photos_are_unplanned(presets) -> None:
    hashes = {k: v for k, v in HASHES.items() if k != "images/hoodie.jpg"}
    plan = plan_work_items(_rows(), presets, engine_identities=IDS, photo_hashes=hashes)
    assert {(o.sku, o.row_index) for o in plan.unplanned} == {("HOOD-L", 2)}
    assert len(plan.unplanned) == len(presets)


def test_source_image_rule_and_missing_identity(presets) -> None:
    row = _rows()[2]
    life = presets["social"].model_copy(update={"source_image": "lifestyle"})
    extra = presets["social"].model_copy(update={"source_image": "additional"})
    assert select_photo(row, life) == "life/hoodie.jpg"
    assert select_photo(row, extra) == "images/hoodie.jpg"  # no additional photo: falls back to main
    assert select_photo(row.model_copy(update={"additional_images": ["add.jpg"]}), extra) == "add.jpg"
    assert select_photo(_rows()[0].model_copy(update={"additional_images": ["add.jpg"]}), life) == "add.jpg"
    plan = plan_work_items([row], [life], engine_identities=IDS)
    assert plan.photo_refs == ["life/hoodie.jpg"]
    with pytest.raises(ConfigError, match="engine 'wan'"):
        plan_work_items([row], [presets["social"].model_copy(update={"engine": "wan"})], engine_identities=IDS)


def test_fold_refusals_keeps_one_outcome_per_sku():
    from catalog_motion.planning import fold_refusals
    from catalog_motion.types import RowOutcome

    refused = [
        RowOutcome(row_index=4, sku="A", reason="duplicate sku 'A'"),      # A also has a valid row
        RowOutcome(row_index=5, sku="B", reason="photo not found"),        # B only refused, twice
        RowOutcome(row_index=6, sku="B", reason="duplicate sku 'B'"),
        RowOutcome(row_index=7, sku=None, reason="empty row"),
        RowOutcome(row_index=8, sku=None, reason="empty row"),
    ]
    standalone, notes = fold_refusals(refused, ["A", "C"])
    assert [(o.row_index, o.sku) for o in standalone] == [(5, "B"), (7, None), (8, None)]
    assert standalone[0].reason == "photo not found; also refused: row 6: duplicate sku 'B'"
    assert notes == {"A": ["row 4: duplicate sku 'A'"]}
    # folding a folded list changes nothing (the flow and the invariants both apply it)
    assert fold_refusals(standalone, ["A", "C"]) == (standalone, {})
