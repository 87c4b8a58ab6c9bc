"""The pieces of object-storage input that need no server: URLs, the AWS profile files, and what
each error of the client library means (its messages, as obstore 0.12 words them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from obstore import exceptions

from cdpcli.errors import CredentialsError, UsageError
from cdpcli.events.cloud import aws_profile_settings, credentials_configured
from cdpcli.events.object_errors import Kind, classify, short
from cdpcli.events.objects import ObjectURL, is_object_url


@pytest.mark.parametrize(
    ("text", "bucket", "key", "prefix"),
    [
        ("s3://archive", "archive", "", True),
        ("s3://archive/", "archive", "", True),
        ("s3://archive/segment-logs/", "archive", "segment-logs/", True),
        ("gs://archive/segment-logs", "archive", "segment-logs", False),
        ("gs://a.b-c/x/1714521600000/f.gz", "a.b-c", "x/1714521600000/f.gz", False),
    ],
)
def test_urls_name_a_bucket_and_a_key_or_prefix(
    text: str, bucket: str, key: str, prefix: bool
) -> None:
    assert is_object_url(text)
    location = ObjectURL.parse(text)
    assert (location.bucket, location.key, location.is_prefix) == (bucket, key, prefix)
    assert location.url() == f"{text[:2]}://{bucket}/{key}"


@pytest.mark.parametrize("text", ["s3://", "gs:///key", "s3://b/a//c.gz", "s3://b//a"])
def test_a_url_without_bucket_or_with_an_empty_segment_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=re.escape(text)):
        ObjectURL.parse(text)


def test_local_paths_are_not_urls() -> None:
    assert not any(map(is_object_url, ["archive/", "-", "S3://x", "s3:/x", "./s3://x"]))


def aws_files(home: Path, credentials: str, config: str = "") -> None:
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / "credentials").write_text(credentials)
    (home / ".aws" / "config").write_text(config)


def test_a_profile_gives_keys_region_and_endpoint_and_variables_win(tmp_path: Path) -> None:
    aws_files(
        tmp_path,
        "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s0\n"
        "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = s1\naws_session_token = t\n",
        "[profile dev]\nregion = eu-west-1\nendpoint_url = https://s3.example.com\n",
    )
    home = {"HOME": str(tmp_path)}
    assert aws_profile_settings(home) == {"access_key_id": "AKDEFAULT", "secret_access_key": "s0"}
    assert aws_profile_settings({**home, "AWS_PROFILE": "dev"}) == {
        "access_key_id": "AKDEV",
        "secret_access_key": "s1",
        "session_token": "t",
        "region": "eu-west-1",
        "endpoint": "https://s3.example.com",
    }
    variables = {**home, "AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": "AKENV", "AWS_REGION": "x"}
    assert aws_profile_settings(variables) == {"endpoint": "https://s3.example.com"}
    assert credentials_configured("s3", home)
    assert not credentials_configured("s3", {"HOME": str(tmp_path / "nowhere")})


def test_a_named_profile_that_is_missing_or_needs_a_role_is_a_credentials_error(
    tmp_path: Path,
) -> None:
    aws_files(tmp_path, "", "[profile ops]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = a\n")
    home = {"HOME": str(tmp_path)}
    with pytest.raises(CredentialsError, match="AWS_PROFILE=nope: no such profile"):
        aws_profile_settings({**home, "AWS_PROFILE": "nope"})
    with pytest.raises(CredentialsError, match="uses role_arn") as raised:
        aws_profile_settings({**home, "AWS_PROFILE": "ops"})
    assert "aws configure export-credentials --profile ops" in str(raised.value.hint)
    assert aws_profile_settings({"HOME": str(tmp_path / "none")}) == {}


def test_google_credentials_are_configured_by_variable_emulator_or_gcloud_file(
    tmp_path: Path,
) -> None:
    assert not credentials_configured("gs", {"HOME": str(tmp_path)})
    assert credentials_configured("gs", {"GOOGLE_APPLICATION_CREDENTIALS": "/k.json"})
    assert credentials_configured("gs", {"STORAGE_EMULATOR_HOST": "localhost:4443"})
    adc = tmp_path / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    assert credentials_configured("gs", {"HOME": str(tmp_path)})


LIST_404 = (
    "Generic S3 error: Error performing list request: Error performing GET "
    "http://127.0.0.1:5/nob?list-type=2 in 4ms - Server returned non-2xx status code: 404 Not "
    "Found: <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist"
    "</Message></Error>\n\nDebug source:\nGeneric {...}"
)
REFUSED = (
    "Generic S3 error: Error performing GET http://127.0.0.1:9/arch/x in 216µs - HTTP error: "
    "error sending request\n\nDebug source: ..."
)
IMDS = (
    "Generic S3 error: Error performing PUT http://169.254.169.254/latest/api/token in 1s - "
    "HTTP error: error sending request"
)
GCE = (
    "Generic GCS error: Error performing token request: Error performing GET "
    "http://127.0.0.1/computeMetadata/v1/instance/service-accounts/default/token in 92µs - "
    "HTTP error: error sending request"
)


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (FileNotFoundError("Object at location x not found"), Kind.NOT_FOUND, "404"),
        (exceptions.GenericError(LIST_404), Kind.NO_BUCKET, "NoSuchBucket"),
        (exceptions.PermissionDeniedError("denied"), Kind.DENIED, "403"),
        (
            exceptions.GenericError("status code: 403 Forbidden: <Code>AccessDenied</Code>"),
            Kind.DENIED,
            "AccessDenied",
        ),
        (exceptions.PreconditionError("Request precondition failure"), Kind.CHANGED, "412"),
        (exceptions.GenericError(REFUSED), Kind.TRANSIENT, "error sending request"),
        (
            exceptions.GenericError("non-2xx status code: 503 Service Unavailable"),
            Kind.TRANSIENT,
            "503",
        ),
        (exceptions.GenericError(IMDS), Kind.NO_CREDENTIALS, IMDS),
        (exceptions.GenericError(GCE), Kind.NO_CREDENTIALS, short(GCE)),
        (
            exceptions.GenericError("non-2xx status code: 301 <Code>PermanentRedirect</Code>"),
            Kind.REDIRECT,
            "PermanentRedirect",
        ),
    ],
)
def test_what_each_error_means(error: BaseException, kind: Kind, reason: str) -> None:
    assert classify(error) == (kind, reason)
