"""S3 access for catalog files, photo folders (prefixes) and photos (`s3://bucket/key`).

The endpoint comes from `IntakeSettings.s3_endpoint_url` or `$AWS_ENDPOINT_URL` (MinIO, moto), the
credentials from boto3's usual chain. S3 is configured by the operator, so the private-address guard for
untrusted URLs does not apply to it; byte limits do. Clients are cached per endpoint (thread-safe).
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

from catalog_motion.settings import IntakeSettings
from catalog_motion.errors import IntakeError, TransientError

_CLIENTS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    rest = uri[5:] if uri.lower().startswith("s3://") else uri
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise IntakeError(f"S3 URI has no bucket: {uri[:200]}")
    return bucket, key


def s3_client(settings: IntakeSettings):
    import boto3
    from botocore.config import Config

    endpoint = settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    region = settings.s3_region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    key = (endpoint, region, settings.connect_timeout_s, settings.read_timeout_s)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            config = Config(connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s,
                            retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
            client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, config=config)
            _CLIENTS[key] = client
    return client


def _translate(exc: Exception, uri: str, what: str) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
            return IntakeError(f"{what} not found in S3: {uri}")
        if status == 503 or status >= 500 or code in ("SlowDown", "InternalError", "ServiceUnavailable"):
            return TransientError(f"S3 {code or status} reading {what} {uri}")
        return IntakeError(f"S3 refused {what} {uri}: {code or status}")
    if isinstance(exc, NoCredentialsError):
        return IntakeError("no S3 credentials configured (AWS_ACCESS_KEY_ID / profile)")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"S3 error reading {what} {uri}: {type(exc).__name__}")
    return exc


def download_object(uri: str, sink: BinaryIO, settings: IntakeSettings, *, limit: int, what: str = "photo") -> int:
    """Stream one object into `sink`, refusing it when it is larger than `limit`; returns its size."""
    bucket, key = parse_s3_uri(uri)
    if not key:
        raise IntakeError(f"S3 URI has no key: {uri[:200]}")
    try:
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
    except (IntakeError, TransientError):
        raise
    except Exception as exc:  # noqa: BLE001 - botocore errors are translated to one-line outcomes
        raise _translate(exc, uri, what) from None


def get_bytes(uri: str, settings: IntakeSettings, *, limit: int, what: str) -> bytes:
    import io

    buffer = io.BytesIO()
    download_object(uri, buffer, settings, limit=limit, what=what)
    return buffer.getvalue()


def list_keys(bucket: str, prefix: str, settings: IntakeSettings) -> list[tuple[str, int]]:
    """(key, size) of every object under the prefix, in key order."""
    out: list[tuple[str, int]] = []
    try:
        paginator = s3_client(settings).get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.extend((o["Key"], int(o.get("Size", 0))) for o in page.get("Contents", []))
    except Exception as exc:  # noqa: BLE001
        raise _translate(exc, f"s3://{bucket}/{prefix}", "catalog folder") from None
    return sorted(out)


def load_s3_source(uri: str, settings: IntakeSettings):
    """`s3://bucket/prefix/` -> a photo folder; `s3://bucket/key` -> a catalog file."""
    from catalog_connectors.sources import parse_catalog_bytes

    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        from catalog_connectors.folder import load_s3_folder

        return load_s3_folder(bucket, key, settings)
    data = get_bytes(uri, settings, limit=settings.max_catalog_bytes, what="catalog")
    return parse_catalog_bytes(data, uri, settings, name=key.rsplit("/", 1)[-1], remote=True)
