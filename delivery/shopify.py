"""Delivery stage: a Shopify Admin GraphQL client for product media (versioned endpoint, throttling, userErrors).

Mutations used (Admin API 2024-10 and later, incl. the default 2025-10; `productCreateMedia`,
`productDeleteMedia` and `productUpdateMedia` are deprecated there):
  stagedUploadsCreate (resource VIDEO, exact fileSize) -> POST/PUT to the returned target ->
  productUpdate(product, media: [CreateMediaInput]) attaches it -> nodes(ids) polls Video.status until READY ->
  productReorderMedia sets its position -> fileUpdate(referencesToRemove / referencesToAdd) takes a video off a
  product or puts it back (the file stays in the store's Files: the rollback point) -> fileDelete removes a file.

The token travels only in the `X-Shopify-Access-Token` header: never in a URL, a log line or an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from catalog_motion.delivery_settings import ShopifyDeliverySettings
from catalog_motion.errors import PermanentError, TransientError

MAX_THROTTLE_WAITS = 100  # THROTTLED answers are waited out (the bucket refills), but not forever
MAX_WAIT_S = 30.0


class ShopifyError(PermanentError):
    """Shopify answered, and said no (userErrors, GraphQL errors, 4xx): retrying the same call cannot help."""


class ShopifyUnavailable(TransientError):
    """Shopify or the upload target did not answer usably after every retry (5xx, reset, timeout)."""


@dataclass
class MediaInfo:
    id: str
    alt: str
    content_type: str
    status: str


@dataclass
class StagedTarget:
    url: str
    resource_url: str
    parameters: list[tuple[str, str]]
    method: str = "POST"


@dataclass
class CallStats:
    """What the client spent: calls, retries and seconds waited on throttling (benchmarks, tests)."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0
    waited_s: float = 0.0
    uploads: int = 0
    upload_s: float = 0.0
    upload_cpu_s: float = 0.0  # this thread's CPU inside uploads (the benchmark leaves it out)
    cost: list[float] = field(default_factory=list)


def endpoint_url(settings: ShopifyDeliverySettings) -> str:
    base = settings.shop if settings.shop.startswith(("http://", "https://")) else f"https://{settings.shop}"
    return f"{base}/admin/api/{settings.api_version}/graphql.json"


class ShopifyClient:
    """One store's Admin GraphQL API. Queries are retried on throttling, 429, 5xx and connection errors;
    a mutation is retried only when Shopify surely did not run it (throttled, 429)."""

    def __init__(self, settings: ShopifyDeliverySettings, token: str, *, sleep=time.sleep):
        self.settings = settings
        self.url = endpoint_url(settings)
        self._http = httpx.Client(
            timeout=settings.request_timeout_s,
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
            follow_redirects=False,
        )
        self._uploader = httpx.Client(timeout=settings.upload_timeout_s, follow_redirects=False)
        self._sleep = sleep
        self.stats = CallStats()

    def close(self) -> None:
        self._http.close()
        self._uploader.close()

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------------------

    def execute(self, query: str, variables: dict[str, Any] | None = None, *, mutation: bool = False) -> dict:
        """The `data` of one GraphQL call; raises ShopifyError (refused) or ShopifyUnavailable (gave up)."""
        failures = throttles = 0
        while True:
            self.stats.calls += 1
            try:
                response = self._http.post(self.url, json={"query": query, "variables": variables or {}})
            except httpx.TransportError as exc:
                if mutation:  # it may have run: the caller checks the store before trying again
                    raise ShopifyUnavailable(f"Shopify did not answer a mutation ({type(exc).__name__})") from None
                failures += 1
                if failures > self.settings.max_retries:
                    raise ShopifyUnavailable(
                        f"Shopify did not answer after {_tries(failures)} ({_describe_transport(exc)})"
                    ) from None
                self._wait(self._backoff(failures))
                continue
            if response.status_code == 429:
                throttles += 1
                self.stats.throttled += 1
                if throttles > MAX_THROTTLE_WAITS:
                    raise ShopifyUnavailable("Shopify kept answering 429 Too Many Requests; try again later")
                self._wait(_retry_after(response) or self._backoff(throttles))
                continue
            if response.status_code >= 500:
                failures += 1
                if mutation or failures > self.settings.max_retries:
                    raise ShopifyUnavailable(f"Shopify answered HTTP {response.status_code} after {_tries(failures)}")
                self._wait(_retry_after(response) or self._backoff(failures))
                continue
            if response.status_code in (401, 403):
                raise ShopifyError(
                    f"Shopify refused the Admin token (HTTP {response.status_code}): check the token and its "
                    "write_products/write_files scopes"
                )
            if response.status_code != 200:
                raise ShopifyError(f"Shopify answered HTTP {response.status_code} at {self.url}")
            try:
                payload = response.json()
            except ValueError:
                raise ShopifyError(f"Shopify answered something that is not JSON at {self.url}") from None
            cost = (payload.get("extensions") or {}).get("cost") or {}
            errors = payload.get("errors") or []
            if any((error.get("extensions") or {}).get("code") == "THROTTLED" for error in errors):
                throttles += 1
                self.stats.throttled += 1
                if throttles > MAX_THROTTLE_WAITS:
                    raise ShopifyUnavailable("Shopify kept throttling (THROTTLED); try again later")
                self._wait(_refill_wait(cost) or self._backoff(throttles))
                continue
            if errors:
                raise ShopifyError(f"Shopify refused the request: {errors[0].get('message', 'GraphQL error')}")
            self._pace(cost)
            return payload.get("data") or {}

    def _pace(self, cost: dict) -> None:
        """Wait before the next call when the cost bucket could not pay for another like this one."""
        if cost.get("actualQueryCost") is not None:
            self.stats.cost.append(float(cost["actualQueryCost"]))
        wait = _refill_wait(cost)
        if wait:
            self._wait(wait)

    def _backoff(self, attempt: int) -> float:
        return min(MAX_WAIT_S, self.settings.backoff_s * 2 ** (attempt - 1))

    def _wait(self, seconds: float) -> None:
        self.stats.retries += 1
        self.stats.waited_s += seconds
        self._sleep(seconds)

    # --- store operations --------------------------------------------------------------------------------

    def products_by_sku(self, skus: list[str]) -> dict[str, str]:
        """Product id of each SKU found on a variant (SKUs no variant has are absent)."""
        found: dict[str, str] = {}
        for start in range(0, len(skus), 25):
            chunk = skus[start : start + 25]
            search = " OR ".join(f'sku:"{_quote_search(sku)}"' for sku in chunk)
            cursor = None
            while True:
                data = self.execute(QUERY_VARIANTS, {"query": search, "after": cursor})
                variants = data["productVariants"]
                for node in variants["nodes"]:
                    if node.get("sku") in chunk and node.get("product"):
                        found.setdefault(node["sku"], node["product"]["id"])
                if not variants["pageInfo"]["hasNextPage"]:
                    break
                cursor = variants["pageInfo"]["endCursor"]
        return found

    def product_media(self, product_ids: list[str]) -> dict[str, list[MediaInfo]]:
        media: dict[str, list[MediaInfo]] = {}
        for start in range(0, len(product_ids), 25):
            data = self.execute(QUERY_PRODUCT_MEDIA, {"ids": product_ids[start : start + 25]})
            for node in data["nodes"]:
                if node and node.get("id"):
                    media[node["id"]] = [_media(item) for item in node["media"]["nodes"]]
        return media

    def hosted_video_count(self) -> int:
        """Videos the store hosts (its Files, attached to a product or not): what the plan's cap counts."""
        count, cursor = 0, None
        while True:
            data = self.execute(QUERY_VIDEO_FILES, {"after": cursor})
            count += len(data["files"]["nodes"])
            if not data["files"]["pageInfo"]["hasNextPage"]:
                return count
            cursor = data["files"]["pageInfo"]["endCursor"]

    def staged_upload(self, filename: str, mime_type: str, size: int) -> StagedTarget:
        data = self.execute(
            MUTATION_STAGED_UPLOADS,
            {
                "input": [
                    {
                        "resource": "VIDEO",
                        "filename": filename,
                        "mimeType": mime_type,
                        "fileSize": str(size),
                        "httpMethod": "POST",
                    }
                ]
            },
            mutation=True,
        )
        result = data["stagedUploadsCreate"]
        _raise_user_errors("stagedUploadsCreate", result)
        target = result["stagedTargets"][0]
        return StagedTarget(
            url=target["url"],
            resource_url=target["resourceUrl"],
            parameters=[(p["name"], p["value"]) for p in target.get("parameters") or []],
        )

    def upload(self, target: StagedTarget, content: bytes | Path, filename: str, mime_type: str) -> None:
        """Send the file to the staged target, retrying 5xx and resets (an upload is safe to repeat)."""
        host = httpx.URL(target.url).host
        failures = 0
        while True:
            started, started_cpu = time.perf_counter(), time.thread_time()
            # A file is streamed from disk (videos may be up to 1 GB), reopened for every attempt.
            body = content.open("rb") if isinstance(content, Path) else content
            try:
                if target.method == "PUT":
                    response = self._uploader.put(target.url, content=body, headers=dict(target.parameters))
                else:
                    response = self._uploader.post(
                        target.url, data=dict(target.parameters), files={"file": (filename, body, mime_type)}
                    )
                problem = None if response.status_code < 300 else f"HTTP {response.status_code}"
                permanent = 400 <= response.status_code < 500
            except httpx.TransportError as exc:
                problem, permanent = _describe_transport(exc), False
            finally:
                if not isinstance(body, bytes):
                    body.close()
                self.stats.uploads += 1
                self.stats.upload_s += time.perf_counter() - started
                self.stats.upload_cpu_s += time.thread_time() - started_cpu
            if problem is None:
                return
            failures += 1
            if permanent:
                raise ShopifyError(f"the staged upload target {host} refused the video ({problem})")
            if failures > self.settings.max_retries:
                raise ShopifyUnavailable(f"upload to the staged target {host} failed {failures} times ({problem})")
            self._wait(self._backoff(failures))

    def attach_video(self, product_id: str, resource_url: str, alt: str) -> str:
        """Attach an uploaded video to a product; returns the new media's id (found by its alt text)."""
        data = self.execute(
            MUTATION_PRODUCT_UPDATE,
            {
                "product": {"id": product_id},
                "media": [{"originalSource": resource_url, "alt": alt, "mediaContentType": "VIDEO"}],
            },
            mutation=True,
        )
        result = data["productUpdate"]
        _raise_user_errors("productUpdate", result)
        nodes = ((result.get("product") or {}).get("media") or {}).get("nodes") or []
        matches = [node["id"] for node in nodes if node.get("alt") == alt]
        if not matches:
            raise ShopifyError(f"productUpdate did not return the new video on {product_id}")
        return matches[-1]

    def media_status(self, media_ids: list[str]) -> dict[str, str]:
        statuses: dict[str, str] = {}
        for start in range(0, len(media_ids), 50):
            data = self.execute(QUERY_MEDIA_STATUS, {"ids": media_ids[start : start + 50]})
            for node in data["nodes"]:
                if node and node.get("id"):
                    statuses[node["id"]] = node.get("status") or "UNKNOWN"
        return statuses

    def move_media(self, product_id: str, media_id: str, position: int) -> None:
        data = self.execute(
            MUTATION_REORDER, {"id": product_id, "moves": [{"id": media_id, "newPosition": str(position)}]}
        )
        _raise_user_errors("productReorderMedia", data["productReorderMedia"], key="mediaUserErrors")

    def detach(self, media_id: str, product_id: str) -> None:
        """Take a video off a product; the file stays in the store's Files (the rollback point)."""
        self._file_update({"id": media_id, "referencesToRemove": [product_id]})

    def reattach(self, media_id: str, product_id: str) -> None:
        self._file_update({"id": media_id, "referencesToAdd": [product_id]})

    def delete_files(self, media_ids: list[str]) -> None:
        if media_ids:
            data = self.execute(MUTATION_FILE_DELETE, {"fileIds": media_ids})
            _raise_user_errors("fileDelete", data["fileDelete"])

    def _file_update(self, file: dict) -> None:
        data = self.execute(MUTATION_FILE_UPDATE, {"files": [file]})
        _raise_user_errors("fileUpdate", data["fileUpdate"])


def _media(node: dict) -> MediaInfo:
    return MediaInfo(
        id=node["id"],
        alt=node.get("alt") or "",
        content_type=node.get("mediaContentType") or "",
        status=node.get("status") or "",
    )


def _raise_user_errors(name: str, result: dict, key: str = "userErrors") -> None:
    errors = result.get(key) or []
    if errors:
        first = errors[0]
        where = ".".join(str(part) for part in first.get("field") or [])
        raise ShopifyError(f"{name} refused: {first.get('message', 'user error')}" + (f" ({where})" if where else ""))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(MAX_WAIT_S, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return None


def _refill_wait(cost: dict) -> float:
    """Seconds until the bucket holds another request of this cost (0 when it already does)."""
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost.get("requestedQueryCost") or 0)
        available = float(status["currentlyAvailable"])
        rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if available >= needed or rate <= 0:
        return 0.0
    return min(MAX_WAIT_S, (needed - available) / rate)


def _describe_transport(exc: httpx.TransportError) -> str:
    # The class name, never str(exc): httpx puts the request URL in messages, and URLs may carry signatures.
    return {
        "ConnectError": "connection refused",
        "ReadError": "connection reset",
        "RemoteProtocolError": "connection closed mid-answer",
        "WriteError": "connection reset mid-upload",
        "ConnectTimeout": "connect timeout",
        "ReadTimeout": "read timeout",
        "WriteTimeout": "write timeout",
    }.get(type(exc).__name__, "network error")


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _quote_search(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


QUERY_VARIANTS = """
query Variants($query: String!, $after: String) {
  productVariants(first: 250, query: $query, after: $after) {
    nodes { sku product { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""

QUERY_PRODUCT_MEDIA = """
query ProductMedia($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Product { id media(first: 250) { nodes { id alt mediaContentType status } } }
  }
}"""

QUERY_VIDEO_FILES = """
query VideoFiles($after: String) {
  files(first: 250, after: $after, query: "media_type:VIDEO") {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}"""

QUERY_MEDIA_STATUS = """
query MediaStatus($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Video { id status duration } }
}"""

MUTATION_STAGED_UPLOADS = """
mutation Staged($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}"""

MUTATION_PRODUCT_UPDATE = """
mutation Attach($product: ProductUpdateInput!, $media: [CreateMediaInput!]) {
  productUpdate(product: $product, media: $media) {
    product { id media(first: 250) { nodes { id alt mediaContentType status } } }
    userErrors { field message }
  }
}"""

MUTATION_REORDER = """
mutation Reorder($id: ID!, $moves: [MoveInput!]!) {
  productReorderMedia(id: $id, moves: $moves) { job { id } mediaUserErrors { field message } }
}"""

MUTATION_FILE_UPDATE = """
mutation FileUpdate($files: [FileUpdateInput!]!) {
  fileUpdate(files: $files) { files { id } userErrors { field message code } }
}"""

MUTATION_FILE_DELETE = """
mutation FileDelete($fileIds: [ID!]!) {
  fileDelete(fileIds: $fileIds) { deletedFileIds userErrors { field message code } }
}"""
