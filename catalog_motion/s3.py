"""S3 plumbing every stage shares: building a boto3 client, and turning botocore errors into catalog-motion errors.

`describe(exc)` is the one place that reads botocore's error shapes (error codes, HTTP status, exception
types) and names the fault; `S3Failure.error(...)` words it and picks the class. Callers differ only in
which faults they treat as permanent (intake refuses most 4xx; a sink retries all but a few) and in
the nouns of the message, so both are parameters. boto3/botocore are imported lazily: `import
catalog_connectors` must not pay for them when no S3 URI is used.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from catalog_motion.errors import CatalogMotionError, PermanentError, TransientError

Fault = Literal["missing", "no-bucket", "denied", "unavailable", "rejected", "no-credentials", "network"]
"""missing: no such key; no-bucket: no such bucket; denied: 403; unavailable: 5xx or throttling;
rejected: any other 4xx; no-credentials: none configured; network: connection, timeout, protocol."""

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset({"403", "AccessDenied"})
UNAVAILABLE_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable"})

REFUSALS: frozenset[Fault] = frozenset({"missing", "no-bucket", "denied", "rejected", "no-credentials"})
"""Faults a retry cannot fix; the default set of permanent faults."""

NO_CREDENTIALS = "no S3 credentials configured (AWS_ACCESS_KEY_ID / profile)"


@dataclass(frozen=True)
class S3Failure:
    """What went wrong with one S3 call: the fault and a short code (S3 error code, HTTP status or
    exception type). Never the exception text: it can name local paths and is not needed to act."""

    fault: Fault
    code: str

    def error(
        self,
        *,
        what: str,
        uri: str,
        verb: str = "reading",
        permanent: type[CatalogMotionError] = PermanentError,
        permanent_faults: Collection[Fault] = REFUSALS,
    ) -> CatalogMotionError:
        """The error to raise: `permanent` for a fault in `permanent_faults`, else `TransientError`.

        `what` names the object ("photo", "catalog", "object"), `verb` the action ("reading", "uploading").
        """
        if self.fault in ("missing", "no-bucket"):
            message = f"{what} not found in S3: {uri}"
        elif self.fault in ("denied", "rejected"):
            message = f"S3 refused {what} {uri}: {self.code}"
        elif self.fault == "unavailable":
            message = f"S3 {self.code} {verb} {what} {uri}"
        elif self.fault == "no-credentials":
            message = NO_CREDENTIALS
        else:
            message = f"S3 error {verb} {what} {uri}: {self.code}"
        return (permanent if self.fault in permanent_faults else TransientError)(message)


def describe(exc: BaseException) -> S3Failure | None:
    """The fault behind a boto3/botocore exception, or None when `exc` is not one."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, S3UploadFailedError):
        # boto3 re-raises the part upload's ClientError as this type; judge the original.
        inner = exc.__cause__ or exc.__context__
        if isinstance(inner, (ClientError, BotoCoreError)):
            return describe(inner)
        return S3Failure("network", type(exc).__name__)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        label = code or str(status)
        if code in MISSING_CODES:
            return S3Failure("missing", label)
        if code == "NoSuchBucket":
            return S3Failure("no-bucket", label)
        if status >= 500 or code in UNAVAILABLE_CODES:
            return S3Failure("unavailable", label)
        if code in DENIED_CODES:
            return S3Failure("denied", label)
        return S3Failure("rejected", label)
    if isinstance(exc, NoCredentialsError):
        return S3Failure("no-credentials", type(exc).__name__)
    if isinstance(exc, BotoCoreError):
        return S3Failure("network", type(exc).__name__)
    return None


@contextmanager
def s3_errors(
    *,
    what: str,
    uri: str,
    verb: str = "reading",
    permanent: type[CatalogMotionError] = PermanentError,
    permanent_faults: Collection[Fault] = REFUSALS,
) -> Iterator[None]:
    """Raise boto3/botocore errors of the block as `S3Failure.error(...)`; other exceptions pass unchanged."""
    try:
        yield
    except Exception as exc:
        failure = describe(exc)
        if failure is None:
            raise
        raise failure.error(
            what=what, uri=uri, verb=verb, permanent=permanent, permanent_faults=permanent_faults
        ) from None


def make_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    connect_timeout_s: float,
    read_timeout_s: float,
    path_style: bool = False,
) -> Any:
    """A boto3 S3 client: standard retry mode (3 attempts), the given timeouts, region default us-east-1.

    Each client gets its own boto3 Session: creating clients from the shared default session is not
    thread-safe. `path_style` forces ``endpoint/bucket/key`` URLs (MinIO, moto behind a plain host name).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if path_style else None,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config
    )
