"""Shopify Admin GraphQL source against a local Shopify-shaped server: pages, throttling, 429, token."""

from __future__ import annotations

import logging

import pytest

from catalog_connectors import IntakeSettings, load_catalog
from catalog_connectors.shopify import ShopifyClient, endpoint_for, load_shopify
from catalog_motion.errors import IntakeError, TransientError
from tests.fixtures.http_servers import shopify_product

TOKEN = "shpat_test_secret_token_123"


def _settings(**kw) -> IntakeSettings:
    return IntakeSettings(allow_hosts=["127.0.0.1"], shopify_page_size=2, backoff_s=0.05, **kw)


def _source(fake) -> str:
    return "shopify+" + fake.endpoint


def test_products_variants_media_with_pagination(shopify_fake, monkeypatch) -> None:
    products = [shopify_product(i, "https://cdn.shopify.example/files") for i in range(5)]
    products[4]["variants"]["nodes"][0]["sku"] = ""  # a variant with no SKU
    products[3]["variants"]["nodes"][1]["sku"] = "P0-RED-S"  # a SKU repeated across products
    for v in products[2]["variants"]["nodes"]:
        v["media"] = {"nodes": []}  # variant without media: product image
    fake = shopify_fake(products, token=TOKEN)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    load = load_catalog(_source(fake), _settings())
    assert load.kind == "shopify"
    assert len(fake.queries) == 3  # 5 products, 2 per page
    assert [q["variables"].get("after") for q in fake.queries] == [None, fake.cursor(1), fake.cursor(3)]
    assert len(load.rows) + len(load.refused) == 5 * 4
    first = load.rows[0]
    assert (first.sku, first.color, first.item_group_id, first.title) == ("P0-RED-S", "Red", "product-0", "Product 0")
    assert first.image == "https://cdn.shopify.example/files/product-0-red.jpg"
    assert first.additional_images == ["https://cdn.shopify.example/files/product-0-blue.jpg"]
    assert first.extra["variant_id"] == "gid://shopify/ProductVariant/00S"
    blue = next(r for r in load.rows if r.sku == "P0-BLU-M")
    assert blue.image.endswith("product-0-blue.jpg") and blue.color == "Blue"
    assert all(r.image.endswith("product-2-red.jpg") for r in load.rows if r.sku.startswith("P2-"))
    reasons = sorted(o.reason.split(" (")[0] for o in load.refused)
    assert reasons == ["duplicate sku 'P0-RED-S'", "missing sku"]


def test_throttled_and_429_are_waited_out(shopify_fake, monkeypatch) -> None:
    products = [shopify_product(i, "https://cdn.shopify.example/f") for i in range(3)]
    fake = shopify_fake(
        products, token=TOKEN, throttle_first=1, status_429_first=1, retry_after="1", restore_rate=100.0
    )
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    settings = _settings()
    client = ShopifyClient(endpoint_for(_source(fake), settings), TOKEN, settings)
    load = load_shopify(_source(fake), settings, client=client)
    assert len(load.rows) == 12
    whys = [why for _, why in client.waits]
    assert whys[:2] == ["THROTTLED", "HTTP 429"]
    # THROTTLED waits (requested - available) / restoreRate = 10 / 100 s; 429 waits Retry-After = 1 s.
    assert client.waits[0][0] == pytest.approx(0.1) and client.waits[1][0] == pytest.approx(1.0)
    assert fake.times[2] - fake.times[1] >= 0.95  # the server really saw the pause
    assert client.requests == len(fake.queries) + 0 and len(fake.queries) == 4  # 2 refused + 2 pages


def test_retries_are_bounded(shopify_fake, monkeypatch) -> None:
    fake = shopify_fake([shopify_product(0, "https://c/f")], token=TOKEN, status_429_first=10, retry_after="0")
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    with pytest.raises(TransientError, match="HTTP 429 after 3 tries"):
        load_catalog(_source(fake), _settings(max_retries=2))


def test_token_never_leaks(shopify_fake, monkeypatch, caplog) -> None:
    fake = shopify_fake([shopify_product(0, "https://c/f")], token=TOKEN)
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", "shpat_wrong_token_999")
    with pytest.raises(IntakeError) as info:
        load_catalog(_source(fake), _settings())
    assert str(info.value) == "Shopify refused the access token (HTTP 401)"
    assert "shpat_wrong_token_999" not in caplog.text
    monkeypatch.delenv("SHOPIFY_ACCESS_TOKEN")
    with pytest.raises(IntakeError, match=r"Shopify token missing: set \$SHOPIFY_ACCESS_TOKEN"):
        load_catalog(_source(fake), _settings())
    client = ShopifyClient(fake.endpoint, TOKEN, _settings())
    assert TOKEN not in repr(client) and TOKEN not in str(vars(client).get("endpoint"))
    # The token travels only in its header.
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    load_catalog(_source(fake), _settings())
    request = fake.server.requests[-1]
    assert request.headers["x-shopify-access-token"] == TOKEN and TOKEN.encode() not in request.body
    assert TOKEN not in caplog.text


def test_shopify_endpoint_guarded_and_named() -> None:
    settings = IntakeSettings()
    assert (
        endpoint_for("shopify://my-shop.myshopify.com", settings)
        == "https://my-shop.myshopify.com/admin/api/2025-10/graphql.json"
    )
    with pytest.raises(IntakeError, match="needs a store"):
        endpoint_for("shopify://", settings)
    with pytest.raises(IntakeError, match="loopback"):
        ShopifyClient("http://127.0.0.1:1/graphql.json", "t", settings).query("{shop{name}}", {})


def test_token_block_is_read_through_the_injected_resolver(shopify_fake, monkeypatch, tmp_path) -> None:
    fake = shopify_fake([shopify_product(0, "https://c/f")], token=TOKEN)
    monkeypatch.delenv("SHOPIFY_ACCESS_TOKEN", raising=False)  # the token must come from the resolver
    asked: list[str] = []

    def vault(name: str) -> str:
        asked.append(name)
        return {"shop-prod": TOKEN}[name]

    settings = _settings(shopify_token_block="shop-prod")
    load = load_catalog(_source(fake), settings, secrets=vault)
    assert asked == ["shop-prod"] and len(load.rows) == 4
    assert fake.server.requests[-1].headers["x-shopify-access-token"] == TOKEN
    # A source block naming the secret block passes the resolver on to the source it names.
    block = tmp_path / "shop.yaml"
    block.write_text(f"catalog:\n  uri: {_source(fake)}\n  intake: {{shopify_token_block: shop-prod}}\n")
    assert len(load_catalog(str(block), _settings(), secrets=vault).rows) == 4 and asked == ["shop-prod"] * 2


def test_token_block_without_resolver_or_with_failing_one_is_refused(shopify_fake, monkeypatch) -> None:
    fake = shopify_fake([shopify_product(0, "https://c/f")], token=TOKEN)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)  # never used instead of the named block
    settings = _settings(shopify_token_block="shop-prod")
    with pytest.raises(IntakeError, match=r"shopify_token_block 'shop-prod' is set but no secret resolver"):
        load_catalog(_source(fake), settings)

    def broken(name: str) -> str:
        raise KeyError(f"{name} -> {TOKEN}")  # a resolver's own message may carry anything

    with pytest.raises(IntakeError, match="cannot resolve secret 'shop-prod': KeyError") as info:
        load_catalog(_source(fake), settings, secrets=broken)
    assert TOKEN not in str(info.value)
    assert fake.queries == []
