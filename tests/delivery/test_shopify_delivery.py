"""Shopify product media delivery against a fake store whose staged uploads land on moto's S3 over HTTP.

Every claim is checked through the store's own state (its products' media, its video files, what it saw
uploaded and attached), not only through the outcomes delivery reports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catalog_motion.delivery_settings import DeliverySettings
from delivery.api import deliver, rollback
from delivery.shopify import ShopifyClient
from delivery.table import DeliveryTable
from tests.delivery.conftest import SAMPLE_SKUS, make_clip, published_row
from tests.fixtures.fake_shopify import TOKEN, FakeShopify


def store_for_sample(fake_shop, *, merchant_video: bool = True, **options) -> FakeShopify:
    store = fake_shop(**options)
    groups: dict[str, list[str]] = {}
    for sku, group in SAMPLE_SKUS.items():
        groups.setdefault(group, []).append(sku)
    for group, skus in groups.items():
        product_id = store.add_product(skus)
        if merchant_video and group == "DRS-FLORAL":
            store.add_merchant_video(product_id)
    return store


def settings_for(store: FakeShopify, **shopify) -> DeliverySettings:
    shopify = {"shop": store.url, "poll_interval_s": 0.01, "poll_timeout_s": 5.0, "backoff_s": 0.01, **shopify}
    return DeliverySettings(shopify=shopify)


def run(rows, settings, state_dir: Path, run_id: str, **kwargs):
    return deliver(rows, settings, run_id=run_id, state_dir=state_dir, open_asset=Path, token=TOKEN, **kwargs)


def snapshot(store: FakeShopify) -> dict[str, list[tuple[str, str]]]:
    return {pid: [(f.id, f.alt) for f in store.media_of(pid)] for pid in store.products}


def by_sku(outcomes) -> dict[str, object]:
    return {outcome.sku: outcome for outcome in outcomes}


def test_sample_clips_all_delivered_then_second_run_uploads_nothing(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    store = store_for_sample(fake_shop)
    settings = settings_for(store)

    first = by_sku(run(rows, settings, tmp_path, "run-1"))

    assert {sku: o.status for sku, o in first.items()} == dict.fromkeys(SAMPLE_SKUS, "delivered")
    assert store.versions == {"2025-10"}
    for product in store.products.values():
        ours = store.app_videos(product.id)
        assert len(ours) == 1, product.skus  # one video per product, however many variants
        winner = next(row for row in rows if row.sku == product.skus[0])
        assert ours[0].alt == f"catalog-motion:product-page:{winner.assets[0].sha256[:16]}"
        assert ours[0].status == "READY"
        assert product.media.index(ours[0].id) == 1  # media_position: after the main photo
        assert ours[0].size == winner.assets[0].size
    dress = store.product_of("DRS-FLORAL-M")
    assert [f.alt for f in store.media_of(dress.id) if f.owner == "merchant" and f.media_type == "VIDEO"] == [
        "Runway walk"
    ]
    assert "shared with SKU TEE-RED-S" in first["TEE-NAVY-M"].reason
    assert len(store.attached) == 6 and store.calls.count("stagedUploadsCreate") == 6
    assert len(DeliveryTable(tmp_path).of_run("run-1", "shopify")) == 8

    before = snapshot(store)
    second = run(rows, settings, tmp_path, "run-2")

    assert {o.status for o in second} == {"unchanged"}
    assert store.calls.count("stagedUploadsCreate") == 6 and len(store.attached) == 6  # uploaded 0
    assert snapshot(store) == before


def test_changed_clip_replaces_only_that_products_media_and_rollback_restores_it(fake_shop, sample_rows, tmp_path):
    root, rows = sample_rows
    store = store_for_sample(fake_shop)
    settings = settings_for(store)
    run(rows, settings, tmp_path, "run-1")
    dress = store.product_of("DRS-FLORAL-M")
    old_video = store.app_videos(dress.id)[0]
    before = snapshot(store)

    changed = make_clip(root / "DRS-FLORAL-M-v2" / "product-page" / "video.mp4", "orange")
    rows2 = [published_row(r.sku, r.preset, changed, root) if r.sku == "DRS-FLORAL-M" else r for r in rows]
    outcomes = by_sku(run(rows2, settings, tmp_path, "run-2"))

    assert outcomes["DRS-FLORAL-M"].status == "delivered"
    assert {o.status for sku, o in outcomes.items() if sku != "DRS-FLORAL-M"} == {"unchanged"}
    after = snapshot(store)
    assert {pid: media for pid, media in after.items() if pid != dress.id} == {
        pid: media for pid, media in before.items() if pid != dress.id
    }
    ours = store.app_videos(dress.id)
    assert len(ours) == 1 and ours[0].id != old_video.id
    assert ours[0].alt.endswith(rows2[3].assets[0].sha256[:16])
    assert any(f.alt == "Runway walk" for f in store.media_of(dress.id))  # the merchant's video stays
    assert old_video.id in store.files  # kept in Files: the rollback point

    rolled = by_sku(rollback("run-2", settings, state_dir=tmp_path, token=TOKEN))

    assert rolled == {"DRS-FLORAL-M": rolled["DRS-FLORAL-M"]}
    assert rolled["DRS-FLORAL-M"].status == "rolled_back"
    assert rolled["DRS-FLORAL-M"].media_id == old_video.id
    assert snapshot(store) == before
    assert ours[0].id not in store.files  # the rolled-back video is gone from the store

    # After a rollback, the same content is delivered again on the next run, once.
    again = by_sku(run(rows2, settings, tmp_path, "run-3"))
    assert again["DRS-FLORAL-M"].status == "delivered"
    assert len(store.app_videos(dress.id)) == 1


def test_cap_delivers_highest_priority_first_and_defers_the_rest(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    store = store_for_sample(fake_shop, merchant_video=False)
    settings = settings_for(store, video_cap=3)
    priorities = {"BAG-TOTE-TAN": 9, "SCF-KNIT-OS": 8, "HOOD-LOGO-L": 7, "JEAN-INDIGO-32": 1}

    outcomes = run(rows, settings, tmp_path, "run-1", priorities=priorities)

    delivered = {o.sku for o in outcomes if o.status == "delivered"}
    assert delivered == {"BAG-TOTE-TAN", "SCF-KNIT-OS", "HOOD-LOGO-L"}
    deferred = [o for o in outcomes if o.status == "deferred"]
    assert {o.sku for o in deferred} == set(SAMPLE_SKUS) - delivered
    assert all("store video cap 3 reached" in o.reason for o in deferred)
    assert len(store.video_files()) == 3
    assert {sku for f in store.video_files() for p in store.products.values() if f.id in p.media for sku in p.skus} == (
        delivered
    )


def test_upload_target_5xx_and_reset_are_outcomes_and_nothing_is_attached(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    one = [r for r in rows if r.sku == "HOOD-LOGO-L"]
    store = store_for_sample(fake_shop)
    settings = settings_for(store, max_retries=2)

    store.upload_5xx = 100
    failed = run(one, settings, tmp_path, "run-1")
    store.upload_5xx = 0
    store.upload_reset = 100
    reset = run(one, settings, tmp_path, "run-2")
    store.upload_reset = 0

    assert [o.status for o in failed + reset] == ["failed", "failed"]
    assert "HTTP 503" in failed[0].reason and "3 times" in failed[0].reason
    # a reset mid-upload reaches the client as a reset or as a closed answer, depending on timing
    assert re.search(r"failed 3 times \(connection (reset|closed mid-answer)\)", reset[0].reason), reset[0].reason
    assert store.upload_attempts == 6 and store.stored_uploads == 0
    assert store.attached == [] and [f for f in store.video_files() if f.owner == "app"] == []
    assert store.app_videos(store.product_of("HOOD-LOGO-L").id) == []

    store.upload_5xx = 1  # a transient 5xx is retried, and the video attached once
    recovered = run(one, settings, tmp_path, "run-3")
    assert recovered[0].status == "delivered" and store.stored_uploads == 1
    assert len(store.attached) == 1 and len(store.app_videos(store.product_of("HOOD-LOGO-L").id)) == 1


def test_media_stuck_in_processing_is_failed_and_removed_after_the_timeout(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    one = [r for r in rows if r.sku == "JEAN-INDIGO-32"]
    store = store_for_sample(fake_shop)
    store.stuck_processing = True
    settings = settings_for(store, poll_timeout_s=0.3)

    outcome = run(one, settings, tmp_path, "run-1")[0]

    product = store.product_of("JEAN-INDIGO-32")
    assert outcome.status == "failed" and "still PROCESSING after 0.3 s" in outcome.reason
    assert store.app_videos(product.id) == [] and [f for f in store.video_files() if f.owner == "app"] == []
    assert store.calls.count("mediaStatus") >= 2

    store.stuck_processing = False
    assert run(one, settings, tmp_path, "run-2")[0].status == "delivered"
    assert len(store.app_videos(product.id)) == 1 and len([f for f in store.video_files() if f.owner == "app"]) == 1


def test_user_errors_answer_is_that_items_outcome_only(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    store = store_for_sample(fake_shop)
    store.user_errors["productUpdate"] = "Media processing failed: unsupported codec"
    settings = settings_for(store)

    outcomes = run(rows, settings, tmp_path, "run-1")

    failed = [o for o in outcomes if o.status == "failed"]
    assert len({o.product_id for o in failed}) == 1
    assert "productUpdate refused: Media processing failed: unsupported codec" in failed[0].reason
    assert sum(o.status == "delivered" for o in outcomes) == len(outcomes) - len(failed)
    attached_products = [pid for pid, _ in store.attached]
    assert len(attached_products) == len(set(attached_products)) == 5  # nothing attached twice
    assert store.app_videos(failed[0].product_id) == []


def test_throttling_by_cost_and_429_is_waited_out(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    store = store_for_sample(fake_shop, bucket_max=25.0, restore_rate=400.0)
    store.http_429, store.retry_after = 2, "0.05"

    outcomes = run(rows, settings_for(store), tmp_path, "run-1")

    assert {o.status for o in outcomes} == {"delivered"}
    # Only the two 429s were refused: the client paced itself by extensions.cost, never THROTTLED.
    assert store.throttled == 2
    assert len(store.attached) == 6


def test_throttled_answer_waits_for_the_bucket_to_refill(fake_shop):
    store = fake_shop(bucket_max=50.0, restore_rate=100.0, query_cost=40.0)
    store.add_product(["A-1"])
    settings = settings_for(store).shopify
    store.drain_bucket()  # another app of the store used it up

    with ShopifyClient(settings, TOKEN) as client:
        found = client.products_by_sku(["A-1"])

    assert set(found) == {"A-1"}
    assert store.throttled >= 1 and client.stats.throttled == store.throttled
    assert client.stats.waited_s >= 0.3  # (40 needed - ~0 available) / 100 per second


def test_token_is_never_in_outcomes_or_the_table(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    store = store_for_sample(fake_shop)
    store.token = "shpat_the_real_one_is_different"

    outcomes = run(rows, settings_for(store), tmp_path, "run-1")

    assert {o.status for o in outcomes} == {"failed"}
    assert "Shopify refused the Admin token (HTTP 401)" in outcomes[0].reason
    text = (tmp_path / "delivery.jsonl").read_text() + json.dumps([o.as_dict() for o in outcomes])
    assert TOKEN not in text


def test_missing_token_and_unknown_sku_are_outcomes(fake_shop, sample_rows, tmp_path, monkeypatch):
    _, rows = sample_rows
    store = fake_shop()
    store.add_product(["SOMETHING-ELSE"])
    settings = settings_for(store)
    monkeypatch.delenv("SHOPIFY_ADMIN_TOKEN", raising=False)

    no_token = deliver(rows[:1], settings, run_id="r", state_dir=tmp_path, open_asset=Path)
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", TOKEN)
    unknown = deliver(rows[:1], settings, run_id="r2", state_dir=tmp_path, open_asset=Path)

    assert no_token[0].status == "failed" and "Shopify token missing: set $SHOPIFY_ADMIN_TOKEN" in no_token[0].reason
    assert unknown[0].status == "failed" and "no product variant in the store has SKU 'TEE-RED-S'" in unknown[0].reason


def test_rollback_of_a_run_that_delivered_nothing_is_one_clear_error(tmp_path):
    from catalog_motion.errors import PermanentError

    settings = DeliverySettings(shopify={"shop": "brand.myshopify.com"})
    with pytest.raises(PermanentError, match="run nope delivered nothing to Shopify"):
        rollback("nope", settings, state_dir=tmp_path, token=TOKEN)


def test_video_left_processing_by_a_stopped_run_is_adopted_not_attached_again(fake_shop, sample_rows, tmp_path):
    _, rows = sample_rows
    one = [r for r in rows if r.sku == "SCF-KNIT-OS"]
    store = store_for_sample(fake_shop)
    settings = settings_for(store)
    product = store.product_of("SCF-KNIT-OS")
    asset = one[0].assets[0]
    with ShopifyClient(settings.shopify, TOKEN) as client:  # a run that was killed right after attaching
        target = client.staged_upload("video.mp4", "video/mp4", asset.size)
        client.upload(target, Path(asset.uri), "video.mp4", "video/mp4")
        media_id = client.attach_video(
            product.id, target.resource_url, f"catalog-motion:product-page:{asset.sha256[:16]}"
        )

    outcome = run(one, settings, tmp_path, "run-2")[0]

    assert outcome.status == "delivered" and outcome.media_id == media_id
    assert store.calls.count("stagedUploadsCreate") == 1 and store.attached == [(product.id, media_id)]
    assert [f.id for f in store.app_videos(product.id)] == [media_id] and store.files[media_id].status == "READY"


def test_each_preset_owns_one_video_and_only_one_spare_is_kept(fake_shop, sample_rows, tmp_path):
    root, rows = sample_rows
    store = store_for_sample(fake_shop)
    settings = settings_for(store, presets=["product-page", "close-up"], media_position=0)
    bag = [r for r in rows if r.sku == "BAG-TOTE-TAN"]
    close = make_clip(root / "BAG-close" / "close-up" / "video.mp4", "brown")
    product = store.product_of("BAG-TOTE-TAN")

    first = run([*bag, published_row("BAG-TOTE-TAN", "close-up", close, root)], settings, tmp_path, "run-1")

    assert [o.status for o in first] == ["delivered", "delivered"]
    alts = sorted(f.alt.rsplit(":", 1)[0] for f in store.app_videos(product.id))
    assert alts == ["catalog-motion:close-up", "catalog-motion:product-page"]
    assert store.media_of(product.id)[0].owner == "app"  # media_position 0: first

    generations = []
    for index, colour in enumerate(["olive", "maroon"], start=2):
        clip = make_clip(root / f"BAG-v{index}" / "product-page" / "video.mp4", colour)
        generations.append(
            run([published_row("BAG-TOTE-TAN", "product-page", clip, root)], settings, tmp_path, f"run-{index}")[0]
        )

    original = first[0].media_id
    assert original not in store.files  # two generations back: deleted
    assert generations[0].media_id in store.files  # the spare (rollback point), off the product
    assert generations[0].media_id not in product.media and generations[1].media_id in product.media
    assert len([f for f in store.app_videos(product.id) if ":product-page:" in f.alt]) == 1
