"""Planning: grouping of photo-sharing variants, seeds, content keys, incremental skipping."""

from __future__ import annotations

import pytest

from catalog_motion.planning import UNCHANGED, content_key, key_item, plan_items, seed_for, select_photo
from catalog_motion.presets import load_presets
from catalog_motion.types import Asset, CatalogRow, ManifestRow
from publishing.rows import item_rows

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


HASHES = {
    "images/tee-red.png": "a" * 64,
    "images/hoodie.jpg": "b" * 64,
    "copy/hoodie-same-bytes.jpg": "b" * 64,
    "life/hoodie.jpg": "c" * 64,
}


def _plan(rows, presets, *, previous=(), full=False, ids=IDS, hashes=HASHES):
    """Both planning steps as a run takes them: plan_items, then key_item once each photo is fetched.
    Returns (items to generate, the skipped items' manifest rows)."""
    items, _ = plan_items(rows, list(presets.values()))
    by_key = {(row.sku, row.preset): row for row in previous}
    planned, skipped = [], []
    for item in items:
        standing = [by_key[(sku, item.preset)] for sku in item.skus if (sku, item.preset) in by_key]
        if key_item(item, hashes[item.image], presets[item.preset], ids[item.engine], previous=standing, full=full):
            skipped += item_rows(
                item,
                "skipped",
                UNCHANGED,
                clip=None,
                qc=None,
                assets={},
                sku_failures={},
                previous=standing,
                timings={},
            )
        else:
            planned.append(item)
    return planned, skipped


def _published(items) -> list[ManifestRow]:
    return [
        ManifestRow(
            sku=sku,
            preset=item.preset,
            status="published",
            key=item.key,
            seed=item.seed,
            video=f"s3://b/{sku}/{item.preset}/clip.mp4",
            assets=[
                Asset(
                    kind="video",
                    uri=f"s3://b/{sku}/{item.preset}/clip.mp4",
                    size=1,
                    sha256="0" * 64,
                    content_type="video/mp4",
                )
            ],
        )
        for item in items
        for sku in item.skus
    ]


def test_seed_is_deterministic_and_distinct() -> None:
    assert seed_for("A", "social", 0) == seed_for("A", "social", 0)
    seeds = {seed_for(s, p, a) for s in ("A", "B") for p in ("social", "close-up") for a in (0, 1, 2)}
    assert len(seeds) == 12 and all(0 <= s < 2**31 for s in seeds)
    # stable across processes and Python versions: sha256 based, not hash()
    import hashlib

    expected = int.from_bytes(hashlib.sha256(b"A\x00social\x000").digest()[:4], "big") & 0x7FFFFFFF
    assert seed_for("A", "social", 0) == expected


def test_items_group_rows_by_photo_reference(presets) -> None:
    items, refused = plan_items(_rows(), list(presets.values()))
    assert refused == []
    assert len(items) == 3 * len(presets)  # tee (2 skus), hoodie, hoodie copy
    tee = [i for i in items if i.preset == "social" and i.image == "images/tee-red.png"]
    assert len(tee) == 1 and tee[0].skus == ["TEE-RED-S", "TEE-RED-M"] and tee[0].sku == "TEE-RED-S"
    assert tee[0].seed == seed_for("TEE-RED-S", "social", 0) and tee[0].key is None
    refs = list(dict.fromkeys(i.image for i in items))
    assert refs == ["images/tee-red.png", "images/hoodie.jpg", "copy/hoodie-same-bytes.jpg"]


def test_fetched_items_get_their_content_keys(presets) -> None:
    items, _ = _plan(_rows(), presets)
    assert len(items) == 3 * len(presets)
    tee = next(i for i in items if i.preset == "product-page" and i.image == "images/tee-red.png")
    assert tee.source_sha256 == "a" * 64
    assert tee.key == content_key("a" * 64, presets["product-page"], "camera/1")
    # preset and photo content both enter the key: only byte-identical photos of one preset share a key
    keys = {(i.source_sha256, i.preset): i.key for i in items}
    assert len(set(keys.values())) == len(keys) == 2 * len(presets)


def test_key_changes_with_engine_and_preset_but_not_description(presets) -> None:
    p = presets["social"]
    base = content_key("a" * 64, p, "camera/1")
    assert content_key("a" * 64, p, "camera/2") != base
    assert content_key("a" * 64, p.model_copy(update={"fps": 24}), "camera/1") != base
    assert content_key("a" * 64, p.model_copy(update={"description": "reworded"}), "camera/1") == base


def test_incremental_unchanged_catalog_plans_nothing(presets) -> None:
    first, _ = _plan(_rows(), presets)
    previous = _published(first)
    second, skipped = _plan(_rows(), presets, previous=previous)
    assert second == []
    assert len(skipped) == len(_rows()) * len(presets)
    assert {r.status for r in skipped} == {"published"} and {r.outcome for r in skipped} == {"skipped"}
    assert all(r.unchanged and r.reason.startswith("unchanged since run") for r in skipped)
    assert all(r.assets and r.video for r in skipped)  # old assets carried forward
    # A run after a run of skips still skips (skipped rows keep standing).
    third, _ = _plan(_rows(), presets, previous=skipped)
    assert third == []
    # full=True forces everything.
    forced, forced_skipped = _plan(_rows(), presets, previous=previous, full=True)
    assert len(forced) == len(first) and forced_skipped == []


def test_changing_one_photo_replans_exactly_that_sku(presets) -> None:
    first, _ = _plan(_rows(), presets)
    previous = _published(first)
    rows = _rows()
    rows[3] = rows[3].model_copy(update={"image": "copy/hoodie-new.jpg"})
    hashes = {**HASHES, "copy/hoodie-new.jpg": "d" * 64}
    planned, skipped = _plan(rows, presets, previous=previous, hashes=hashes)
    assert {(i.preset, tuple(i.skus)) for i in planned} == {(p, ("HOOD-XL",)) for p in presets}
    assert len(skipped) == 3 * len(presets)


def test_failed_or_rejected_previous_rows_are_replanned(presets) -> None:
    first, _ = _plan(_rows(), presets)
    previous = [
        r.model_copy(update={"status": "rejected"}) if r.sku == "TEE-RED-M" and r.preset == "social" else r
        for r in _published(first)
    ]
    planned, _ = _plan(_rows(), presets, previous=previous)
    assert [(i.preset, i.skus) for i in planned] == [("social", ["TEE-RED-S", "TEE-RED-M"])]


def test_new_engine_identity_replans_everything(presets) -> None:
    first, _ = _plan(_rows(), presets)
    planned, _ = _plan(_rows(), presets, ids={"camera": "camera/2"}, previous=_published(first))
    assert len(planned) == len(first)


def test_source_image_rule(presets) -> None:
    row = _rows()[2]
    life = presets["social"].model_copy(update={"source_image": "lifestyle"})
    extra = presets["social"].model_copy(update={"source_image": "additional"})
    assert select_photo(row, life) == "life/hoodie.jpg"
    assert select_photo(row, extra) == "images/hoodie.jpg"  # no additional photo: falls back to main
    assert select_photo(row.model_copy(update={"additional_images": ["add.jpg"]}), extra) == "add.jpg"
    assert select_photo(_rows()[0].model_copy(update={"additional_images": ["add.jpg"]}), life) == "add.jpg"
    items, _ = plan_items([row], [life])
    assert [i.image for i in items] == ["life/hoodie.jpg"]


def test_fold_refusals_keeps_one_outcome_per_sku():
    from catalog_motion.planning import fold_refusals
    from catalog_motion.types import RowOutcome

    refused = [
        RowOutcome(row_index=4, sku="A", reason="duplicate sku 'A'"),  # A also has a valid row
        RowOutcome(row_index=5, sku="B", reason="photo not found"),  # B only refused, twice
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


def test_select_skus_keeps_the_named_skus_and_refuses_unknown_ones() -> None:
    from catalog_motion.planning import select_skus
    from catalog_motion.types import RowOutcome

    rows, refused = _rows(), [RowOutcome(row_index=7, sku="BAD-1", reason="photo not found")]
    assert select_skus(rows, refused, None) == (rows, refused)
    kept, kept_refused = select_skus(rows, refused, ["HOOD-L", "BAD-1", "NOPE", "HOOD-L"])
    assert [r.sku for r in kept] == ["HOOD-L"]
    assert [(o.row_index, o.sku, o.reason) for o in kept_refused] == [
        (7, "BAD-1", "photo not found"),
        (-1, "NOPE", "sku not found in the catalog"),
    ]
