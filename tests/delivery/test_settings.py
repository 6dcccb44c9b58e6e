"""Delivery settings: off by default, validated with one clear line per mistake."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from catalog_motion.delivery_settings import DeliverySettings, FeedDeliverySettings, ShopifyDeliverySettings
from delivery.shopify import endpoint_url


def test_delivery_is_off_by_default_and_every_field_is_described():
    assert not DeliverySettings().enabled
    for model in (DeliverySettings, ShopifyDeliverySettings, FeedDeliverySettings):
        assert all(field.description for field in model.model_fields.values()), model.__name__


def test_endpoint_is_versioned_for_a_shop_name_or_a_full_url():
    assert endpoint_url(ShopifyDeliverySettings(shop="brand.myshopify.com")) == (
        "https://brand.myshopify.com/admin/api/2025-10/graphql.json"
    )
    assert endpoint_url(ShopifyDeliverySettings(shop="http://127.0.0.1:9/", api_version="2026-01")) == (
        "http://127.0.0.1:9/admin/api/2026-01/graphql.json"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"shopify": {"shop": "x", "video_cap": -1}}, "greater than or equal to 0"),
        ({"shopify": {"shop": "x", "api_version": "latest"}}, "should match pattern"),
        ({"merchant": {"base_url": "cdn.example.com"}}, "must be a public http(s):// URL prefix"),
        ({"merchant": {"max_url_chars": 5000}}, "less than or equal to 2000"),
        ({"tiktok": {}}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_settings_are_refused_naming_the_problem(settings, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DeliverySettings(**settings)


def test_targets_are_checked_and_gmc_names_the_merchant_feed(tmp_path):
    from pathlib import Path

    from catalog_motion.errors import ConfigError
    from delivery.api import deliver

    settings = DeliverySettings(merchant={"base_url": "https://cdn.example.com"})
    with pytest.raises(ConfigError, match="unknown delivery target 'tiktok': use one of shopify, merchant, meta"):
        deliver([], settings, run_id="r", state_dir=tmp_path, open_asset=Path, targets={"tiktok"})
    with pytest.raises(ConfigError, match="delivery target 'meta' is not configured"):
        deliver([], settings, run_id="r", state_dir=tmp_path, open_asset=Path, targets={"meta"})

    assert deliver([], settings, run_id="r", state_dir=tmp_path, open_asset=Path, targets={"gmc"}) == []
    assert (tmp_path / "merchant-videos.xml").exists() and not (tmp_path / "meta-videos.csv").exists()
