"""Shopify Admin GraphQL as a catalog source: products -> variants -> media, one row per variant.

Source: ``shopify://STORE.myshopify.com`` (https, API version from settings) or, for a local endpoint,
``shopify+http://HOST:PORT/PATH``. The token comes from the env var `shopify_token_env` or, when
`shopify_token_block` is set, from the `SecretResolver` the caller passes in (the orchestration layer
supplies one backed by its secret store); it is sent only in the X-Shopify-Access-Token header and never
appears in a message or log line. Pagination follows `pageInfo.endCursor`. Throttling: a THROTTLED error
waits until enough cost budget is restored (``(requested - available) / restoreRate``); HTTP 429 honours
Retry-After; 5xx backs off exponentially - all within `max_retries`. Before each page the client also
waits when the last response said the bucket is lower than the last page's cost.

Row mapping: sku = variant.sku; image = the variant's first image, else the product's featured/first
image; additional_images = the product's other images (<= 10); item_group_id = product handle; color =
the variant's Color/Colour option; updated_at = variant.updatedAt or product.updatedAt.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from catalog_connectors import net
from catalog_connectors.models import CatalogLoad
from catalog_connectors.rows import MAX_ADDITIONAL, RowBuilder
from catalog_motion.errors import IntakeError, TransientError
from catalog_motion.settings import IntakeSettings

log = logging.getLogger(__name__)

SecretResolver = Callable[[str], str]
"""Returns the secret stored under a name (e.g. a Prefect Secret block); raises when it cannot."""

PRODUCTS_QUERY = """
query CatalogProducts($first: Int!, $after: String) {
  products(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id handle title updatedAt
      featuredMedia { ... on MediaImage { image { url width height } } }
      media(first: 20) { nodes { ... on MediaImage { image { url width height } } } }
      variants(first: 100) {
        nodes {
          id sku title updatedAt
          selectedOptions { name value }
          media(first: 1) { nodes { ... on MediaImage { image { url width height } } } }
        }
      }
    }
  }
}
"""
COLOR_OPTIONS = {"color", "colour"}


def endpoint_for(source: str, settings: IntakeSettings) -> str:
    scheme, _, rest = source.partition("://")
    scheme = scheme.lower()
    if scheme == "shopify":
        store = rest.strip("/").split("/", 1)[0]
        if not store:
            raise IntakeError("shopify source needs a store, e.g. shopify://my-shop.myshopify.com")
        return f"https://{store}/admin/api/{settings.shopify_api_version}/graphql.json"
    if scheme in ("shopify+http", "shopify+https"):
        return f"{scheme.split('+', 1)[1]}://{rest}"
    raise IntakeError(f"not a Shopify source: {source[:100]}")


def resolve_token(settings: IntakeSettings, secrets: SecretResolver | None = None) -> str:
    """The access token: from `secrets` when `shopify_token_block` names one, else from the env var."""
    name = settings.shopify_token_block
    if name:
        if secrets is None:
            raise IntakeError(
                f"intake.shopify_token_block '{name}' is set but no secret resolver was passed to "
                "load_catalog(secrets=...): pass one, or unset the block and set "
                f"${settings.shopify_token_env}"
            )
        try:
            return secrets(name)
        except IntakeError:
            raise
        except Exception as exc:  # noqa: BLE001 - message must not carry the secret; type name is enough
            raise IntakeError(f"cannot resolve secret '{name}': {type(exc).__name__}") from None
    token = os.environ.get(settings.shopify_token_env)
    if not token:
        raise IntakeError(f"Shopify token missing: set ${settings.shopify_token_env} or intake.shopify_token_block")
    return token


class ShopifyClient:
    """Posts GraphQL queries with throttle handling. `waits` records each pause (seconds, why)."""

    def __init__(
        self, endpoint: str, token: str, settings: IntakeSettings, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.endpoint, self._token, self.settings, self._sleep = endpoint, token, settings, sleep
        self.waits: list[tuple[float, str]] = []
        self.requests = 0
        self._available: float | None = None
        self._restore: float | None = None
        self._last_cost: float | None = None

    def __repr__(self) -> str:  # never show the token
        return f"ShopifyClient({self.endpoint!r})"

    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(0.0, min(seconds, 60.0))
        self.waits.append((seconds, why))
        log.info("shopify: waiting %.2f s (%s)", seconds, why)
        self._sleep(seconds)

    def query(self, query: str, variables: dict) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Shopify-Access-Token": self._token,
        }
        # Pace ourselves: if the bucket is lower than what the last page cost, wait for it to refill.
        if self._available is not None and self._last_cost and self._restore and self._available < self._last_cost:
            self._wait((self._last_cost - self._available) / self._restore, "cost budget low")
        attempt = 0
        while True:
            self.requests += 1
            try:
                resp = net.request(
                    self.endpoint,
                    self.settings,
                    method="POST",
                    body=body,
                    headers=headers,
                    limit=self.settings.max_catalog_bytes,
                    what="Shopify response",
                    follow_redirects=False,
                    raw_status=True,
                )
            except TransientError as exc:
                if attempt >= self.settings.max_retries:
                    raise
                self._wait(self._backoff(attempt), f"network: {exc}")
                attempt += 1
                continue
            if resp.status in (401, 403):
                raise IntakeError(f"Shopify refused the access token (HTTP {resp.status})")
            if resp.status == 429 or resp.status >= 500:
                if attempt >= self.settings.max_retries:
                    raise TransientError(f"Shopify answered HTTP {resp.status} after {attempt + 1} tries")
                retry_after = resp.headers.get("retry-after", "")
                try:
                    delay = float(retry_after)
                except ValueError:
                    delay = self._backoff(attempt)
                self._wait(delay, f"HTTP {resp.status}")
                attempt += 1
                continue
            if resp.status != 200:
                raise IntakeError(f"Shopify answered HTTP {resp.status}")
            try:
                payload = json.loads(resp.body)
            except ValueError:
                raise IntakeError("Shopify answered with something that is not JSON") from None
            cost = (payload.get("extensions") or {}).get("cost") or {}
            status = cost.get("throttleStatus") or {}
            if status:
                self._available = float(status.get("currentlyAvailable", 0))
                self._restore = float(status.get("restoreRate", 0)) or None
            errors = payload.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)):
                if attempt >= self.settings.max_retries:
                    raise TransientError(f"Shopify kept throttling after {attempt + 1} tries")
                requested = float(cost.get("requestedQueryCost", 1))
                if self._restore:
                    delay = max(0.0, requested - (self._available or 0)) / self._restore
                else:
                    delay = self._backoff(attempt)
                self._wait(delay, "THROTTLED")
                attempt += 1
                continue
            if errors:
                first = errors[0].get("message", "error") if isinstance(errors[0], dict) else str(errors[0])
                raise IntakeError(f"Shopify GraphQL error: {str(first)[:200]}")
            self._last_cost = float(cost.get("actualQueryCost") or cost.get("requestedQueryCost") or 0) or None
            return payload.get("data") or {}

    def _backoff(self, attempt: int) -> float:
        return min(30.0, self.settings.backoff_s * (2**attempt))


def _image_urls(media: dict | None) -> list[str]:
    urls = []
    for node in (media or {}).get("nodes") or []:
        url = ((node or {}).get("image") or {}).get("url")
        if url:
            urls.append(url)
    return urls


def iter_products(client: ShopifyClient, page_size: int) -> Iterator[dict[str, Any]]:
    after = None
    while True:
        data = client.query(PRODUCTS_QUERY, {"first": page_size, "after": after})
        products = data.get("products") or {}
        yield from products.get("nodes") or []
        info = products.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return
        after = info.get("endCursor")
        if not after:
            raise IntakeError("Shopify said there is a next page but gave no cursor")


def load_shopify(
    source: str, settings: IntakeSettings, *, client: ShopifyClient | None = None, secrets: SecretResolver | None = None
) -> CatalogLoad:
    """One row per variant; `secrets` resolves `shopify_token_block` (unused when `client` is given)."""
    endpoint = endpoint_for(source, settings)
    if client is None:
        client = ShopifyClient(endpoint, resolve_token(settings, secrets), settings)
    builder = RowBuilder(
        [
            "sku",
            "image",
            "title",
            "color",
            "item_group_id",
            "updated_at",
            "additional_images",
            "product_id",
            "variant_id",
            "handle",
            "variant_title",
        ],
        remote=True,
        base_uri=endpoint,
    )
    index = 0
    for product in iter_products(client, settings.shopify_page_size):
        featured = ((product.get("featuredMedia") or {}).get("image") or {}).get("url")
        product_images = _image_urls(product.get("media"))
        main = featured or (product_images[0] if product_images else None)
        for variant in (product.get("variants") or {}).get("nodes") or []:
            own = _image_urls(variant.get("media"))
            image = own[0] if own else main
            color = next(
                (
                    o.get("value")
                    for o in variant.get("selectedOptions") or []
                    if str(o.get("name", "")).lower() in COLOR_OPTIONS
                ),
                None,
            )
            additional = [u for u in product_images if u != image][:MAX_ADDITIONAL]
            builder.add(
                index,
                {
                    "sku": variant.get("sku"),
                    "image": image,
                    "title": product.get("title"),
                    "color": color,
                    "item_group_id": product.get("handle") or product.get("id"),
                    "updated_at": variant.get("updatedAt") or product.get("updatedAt"),
                    "additional_images": additional,
                    "product_id": product.get("id"),
                    "variant_id": variant.get("id"),
                    "handle": product.get("handle"),
                    "variant_title": variant.get("title"),
                },
            )
            index += 1
    return CatalogLoad(source=source, kind="shopify", rows=builder.rows, refused=builder.refused)
