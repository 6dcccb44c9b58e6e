"""Low-level S3 access for intake: the cached client, one object's bytes, a prefix's keys.

The endpoint comes from `IntakeSettings.s3_endpoint_url` or `$AWS_ENDPOINT_URL` (MinIO, moto), the
credentials from boto3's usual chain. S3 is configured by the operator, so the private-address guard for
untrusted URLs does not apply to it; byte limits do. Clients are cached per endpoint (thread-safe).
Which loader reads an ``s3://`` catalog is decided in `sources.load_catalog`, not here.
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any, BinaryIO

from catalog_motion.errors import IntakeError
from catalog_motion.s3 import make_client, s3_errors
from catalog_motion.settings import IntakeSettings

_CLIENTS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key``; the key may be empty or a prefix ending in '/'."""
    rest = uri[5:] if uri.lower().startswith("s3://") else uri
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise IntakeError(f"S3 URI has no bucket: {uri[:200]}")
    return bucket, key


def s3_client(settings: IntakeSettings) -> Any:
    """The shared client for these settings' endpoint, region and timeouts."""
    endpoint = settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    region = settings.s3_region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    key = (endpoint, region, settings.connect_timeout_s, settings.read_timeout_s)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = make_client(
                endpoint_url=endpoint,
                region=region,
                connect_timeout_s=settings.connect_timeout_s,
                read_timeout_s=settings.read_timeout_s,
                path_style=True,
            )
            _CLIENTS[key] = client
    return client


def download_object(uri: str, sink: BinaryIO, settings: IntakeSettings, *, limit: int, what: str = "photo") -> int:
    """Stream one object into `sink`, refusing it when it is larger than `limit`; returns its size."""
    bucket, key = parse_s3_uri(uri)
    if not key:
        raise IntakeError(f"S3 URI has no key: {uri[:200]}")
    with s3_errors(what=what, uri=uri, permanent=IntakeError):
        response = s3_client(settings).get_object(Bucket=bucket, Key=key)
        declared = int(response.get("ContentLength") or 0)
        if declared > limit:
            response["Body"].close()
            raise IntakeError(f"{what} is {declared} bytes, over the limit of {limit} bytes (not downloaded)")
        size = 0
        for chunk in response["Body"].iter_chunks(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise IntakeError(f"{what} is larger than the limit of {limit} bytes (download stopped)")
            sink.write(chunk)
        return size


def get_bytes(uri: str, settings: IntakeSettings, *, limit: int, what: str) -> bytes:
    """One object's bytes (a catalog file, a sidecar), bounded by `limit`."""
    buffer = io.BytesIO()
    download_object(uri, buffer, settings, limit=limit, what=what)
    return buffer.getvalue()


def list_keys(bucket: str, prefix: str, settings: IntakeSettings) -> list[tuple[str, int]]:
    """(key, size) of every object under the prefix, in key order."""
    out: list[tuple[str, int]] = []
    with s3_errors(what="catalog folder", uri=f"s3://{bucket}/{prefix}", permanent=IntakeError):
        paginator = s3_client(settings).get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.extend((o["Key"], int(o.get("Size", 0))) for o in page.get("Contents", []))
    return sorted(out)
