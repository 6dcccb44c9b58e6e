"""The shared S3 error translation (catalog_motion.s3): real botocore errors, and real calls against moto."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from catalog_motion.errors import IntakeError, PermanentError, TransientError
from catalog_motion.s3 import REFUSALS, S3Failure, describe, make_client, s3_errors
from catalog_motion.settings import SinkSettings
from publishing.sinks import make_sink


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


@pytest.mark.parametrize(
    ("exc", "fault", "code"),
    [
        (_client_error("NoSuchKey", 404), "missing", "NoSuchKey"),
        (_client_error("404", 404), "missing", "404"),
        (_client_error("NoSuchBucket", 404), "no-bucket", "NoSuchBucket"),
        (_client_error("SlowDown", 503), "unavailable", "SlowDown"),
        (_client_error("", 502), "unavailable", "502"),
        (_client_error("AccessDenied", 403), "denied", "AccessDenied"),
        (_client_error("403", 403), "denied", "403"),
        (_client_error("InvalidArgument", 400), "rejected", "InvalidArgument"),
        (NoCredentialsError(), "no-credentials", "NoCredentialsError"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "network", "EndpointConnectionError"),
    ],
)
def test_describe_names_the_fault(exc: Exception, fault: str, code: str) -> None:
    assert describe(exc) == S3Failure(fault, code)  # type: ignore[arg-type]


def test_describe_looks_inside_upload_failures_and_ignores_other_errors() -> None:
    try:
        try:
            raise _client_error("SlowDown", 503)
        except ClientError as inner:
            raise S3UploadFailedError(f"Failed to upload /tmp/x to b/k: {inner}")  # noqa: B904 - as boto3 does
    except S3UploadFailedError as exc:
        assert describe(exc) == S3Failure("unavailable", "SlowDown")
    assert describe(S3UploadFailedError("no cause")) == S3Failure("network", "S3UploadFailedError")
    assert describe(ValueError("not S3")) is None


def test_wording_and_class_follow_the_callers_policy() -> None:
    uri = "s3://b/k.png"
    intake = {"what": "photo", "uri": uri, "permanent": IntakeError}
    cases = {
        "missing": (IntakeError, "photo not found in S3: s3://b/k.png"),
        "denied": (IntakeError, "S3 refused photo s3://b/k.png: AccessDenied"),
        "unavailable": (TransientError, "S3 SlowDown reading photo s3://b/k.png"),
        "no-credentials": (IntakeError, "no S3 credentials configured (AWS_ACCESS_KEY_ID / profile)"),
        "network": (TransientError, "S3 error reading photo s3://b/k.png: ReadTimeoutError"),
    }
    codes = {
        "missing": "NoSuchKey",
        "denied": "AccessDenied",
        "unavailable": "SlowDown",
        "no-credentials": "NoCredentialsError",
        "network": "ReadTimeoutError",
    }
    for fault, (cls, message) in cases.items():
        error = S3Failure(fault, codes[fault]).error(**intake)  # type: ignore[arg-type]
        assert type(error) is cls and str(error) == message, fault
    # A sink keeps retrying what intake refuses, except the faults it names.
    denied = S3Failure("denied", "403")
    assert type(denied.error(what="object", uri=uri, permanent_faults=())) is TransientError
    assert type(denied.error(what="object", uri=uri, permanent_faults={"denied"})) is PermanentError
    assert "no-credentials" in REFUSALS and "unavailable" not in REFUSALS


def test_s3_errors_translates_only_s3_errors() -> None:
    with (
        pytest.raises(TransientError, match="S3 503 uploading object s3://b/k") as info,
        s3_errors(what="object", uri="s3://b/k", verb="uploading", permanent_faults=()),
    ):
        raise _client_error("", 503)
    assert info.value.__suppress_context__  # the botocore traceback is not chained into the one-line error
    with pytest.raises(KeyError), s3_errors(what="object", uri="s3://b/k"):
        raise KeyError("not S3")


def test_real_calls_against_moto(s3_server: str, s3_bucket: str) -> None:
    client = make_client(endpoint_url=s3_server, region=None, connect_timeout_s=5, read_timeout_s=10, path_style=True)
    assert client.meta.region_name == "us-east-1" and client.meta.config.s3["addressing_style"] == "path"
    with (
        pytest.raises(PermanentError, match=f"object not found in S3: s3://{s3_bucket}/absent"),
        s3_errors(what="object", uri=f"s3://{s3_bucket}/absent"),
    ):
        client.get_object(Bucket=s3_bucket, Key="absent")
    # The sink: a missing key is "not there" for HEAD and permanent for GET; a missing bucket is refused.
    sink = make_sink(SinkSettings(uri=f"s3://{s3_bucket}/core-s3", endpoint_url=s3_server))
    assert sink.stat("a/b.json") is None
    with pytest.raises(PermanentError, match=f"object not found in S3: s3://{s3_bucket}/core-s3/a/b.json"):
        sink.get_bytes("a/b.json")
    nobucket = make_sink(SinkSettings(uri="s3://no-such-bucket-core/p", endpoint_url=s3_server))
    with pytest.raises(PermanentError, match="objects not found in S3: s3://no-such-bucket-core/p/runs/"):
        nobucket.list_keys("runs/")
