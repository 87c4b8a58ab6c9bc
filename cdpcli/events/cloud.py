"""Where an object store is and who we are to it, from each cloud's **standard** environment and
files (PRODUCT.md §3.1), never from cdpcli's config.

The client library (obstore) reads most of it itself: AWS `AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`), web identity,
the container and instance metadata services; Google `GOOGLE_APPLICATION_CREDENTIALS`, the gcloud
application-default credentials file and the metadata server. Two things it does not read are
mapped here, with the standard library only:

- `AWS_PROFILE` (default `default`) with `~/.aws/credentials` and `~/.aws/config`
  (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`): a profile's static keys, region and
  `endpoint_url`. Variables win over the profile, as in the AWS SDKs. A profile that names a role,
  SSO or a credential process is refused with the command that exports its credentials.
- `STORAGE_EMULATOR_HOST` (the Google emulators' variable): the emulator's URL, unsigned requests.

An endpoint (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, a profile's `endpoint_url`) may be plain
http only on loopback, unless `AWS_ALLOW_HTTP=true` says otherwise (obstore's own variable).

Without any credentials configured the library asks the cloud's metadata service (about a second
when it is not there), and `ObjectStores` then tries anonymous access, which a public bucket
allows; `AWS_SKIP_SIGNATURE=true` / `GOOGLE_SKIP_SIGNATURE=true` go anonymous at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cdpcli.errors import CredentialsError, UsageError
from cdpcli.hosts import is_loopback

if TYPE_CHECKING:
    import configparser

S3, GS = "s3", "gs"

# Every request: connect within 5 s; a body may take an hour (a paced send reads an object as
# slowly as it delivers it), and a stall of a minute between two reads is an error. Errors are
# retried by `cdpcli.events.objects` (reads resume at the byte they stopped), never by the
# library itself: one retry policy, the deliveries' backoff.
CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": timedelta(seconds=5),
    "read_timeout": timedelta(seconds=60),
    "timeout": timedelta(hours=1),
}
LIBRARY_RETRIES: dict[str, Any] = {"max_retries": 0, "retry_timeout": timedelta(seconds=60)}

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE with "
    "~/.aws/credentials and ~/.aws/config"
)
GOOGLE_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS (a service-account key file), or the credentials of "
    "`gcloud auth application-default login`"
)
_AWS_KEY_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_GOOGLE_KEY_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)
_UNRESOLVED_PROFILE_KEYS = ("role_arn", "credential_process", "sso_session", "sso_start_url")


def variables(scheme: str) -> str:
    """The credential variables a cloud reads, for messages."""
    return AWS_VARIABLES if scheme == S3 else GOOGLE_VARIABLES


def make_store(scheme: str, bucket: str, environ: Mapping[str, str], *, anonymous: bool) -> Any:
    """An obstore store for `bucket`, configured from the standard environment; `anonymous`
    sends unsigned requests (a public bucket)."""
    if scheme == S3:
        return _s3_store(bucket, environ, anonymous=anonymous)
    return _gcs_store(bucket, environ, anonymous=anonymous)


def credentials_configured(scheme: str, environ: Mapping[str, str]) -> bool:
    """Whether the environment names credentials (so that failing to get them is an error, not
    a reason to try anonymous access)."""
    if scheme == S3:
        if any(environ.get(name) for name in _AWS_KEY_VARIABLES):
            return True
        return bool(aws_profile_settings(environ).get("access_key_id"))
    if environ.get("STORAGE_EMULATOR_HOST"):
        return True
    if any(environ.get(name) for name in _GOOGLE_KEY_VARIABLES):
        return True
    return _gcloud_adc_file(environ).is_file()


def skips_signature(scheme: str, environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for unsigned requests."""
    name = "AWS_SKIP_SIGNATURE" if scheme == S3 else "GOOGLE_SKIP_SIGNATURE"
    return environ.get(name, "").lower() in ("true", "1")


def _s3_store(bucket: str, environ: Mapping[str, str], *, anonymous: bool) -> Any:
    from obstore.store import S3Store

    s3_store: Any = S3Store  # its options are TypedDicts: built here as plain dicts
    settings: dict[str, Any] = dict(aws_profile_settings(environ))
    profile_endpoint = settings.pop("endpoint", None)
    endpoint = (
        environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or profile_endpoint
    )
    if anonymous:
        for key in ("access_key_id", "secret_access_key", "session_token"):
            settings.pop(key, None)
    options = dict(CLIENT_OPTIONS)
    if endpoint:
        settings["endpoint"] = endpoint
        options["allow_http"] = _plain_http_allowed(endpoint, "AWS_ENDPOINT_URL", environ)
    if anonymous:
        settings["skip_signature"] = True
    return s3_store.from_url(
        f"s3://{bucket}", client_options=options, retry_config=LIBRARY_RETRIES, **settings
    )


def _gcs_store(bucket: str, environ: Mapping[str, str], *, anonymous: bool) -> Any:
    from obstore.store import GCSStore

    gcs_store: Any = GCSStore
    settings: dict[str, Any] = {}
    options = dict(CLIENT_OPTIONS)
    emulator = environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        # The Google libraries' emulator switch: its URL, plain http allowed, unsigned requests.
        base = emulator if "://" in emulator else f"http://{emulator}"
        settings["base_url"] = base.rstrip("/")
        settings["skip_signature"] = True
        options["allow_http"] = base.startswith("http://")
    if anonymous:
        settings["skip_signature"] = True
    return gcs_store.from_url(
        f"gs://{bucket}", client_options=options, retry_config=LIBRARY_RETRIES, **settings
    )


def _plain_http_allowed(endpoint: str, variable: str, environ: Mapping[str, str]) -> bool:
    parts = urlsplit(endpoint)
    if parts.scheme != "http":
        return False
    if is_loopback(parts.hostname or "") or environ.get("AWS_ALLOW_HTTP", "").lower() == "true":
        return True
    raise UsageError(
        f"{variable}={endpoint}: plain http is used only for a loopback endpoint",
        hint="use https, or set AWS_ALLOW_HTTP=true to send requests in the clear",
    )


def aws_profile_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """obstore settings from an AWS profile (`AWS_PROFILE`, else `default`): `access_key_id`,
    `secret_access_key`, `session_token` when no key is in the environment, `region` when no
    region is, and `endpoint` (its `endpoint_url`). {} when there is no such profile and none
    was asked for."""
    named = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE")
    profile = named or "default"
    credentials = _aws_file(environ, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
    config = _aws_file(environ, "AWS_CONFIG_FILE", ".aws/config")
    section: dict[str, str] = {}
    config_section = "default" if profile == "default" else f"profile {profile}"
    if config.has_section(config_section):
        section.update(config[config_section])
    if credentials.has_section(profile):
        section.update(credentials[profile])
    if not section:
        if named:
            raise CredentialsError(
                f"AWS_PROFILE={profile}: no such profile in ~/.aws/credentials or ~/.aws/config",
                hint="name a profile of those files (`aws configure list-profiles`), or unset "
                "AWS_PROFILE",
            )
        return {}
    settings: dict[str, str] = {}
    if not environ.get("AWS_ACCESS_KEY_ID"):
        if "aws_access_key_id" not in section:
            unresolved = [key for key in _UNRESOLVED_PROFILE_KEYS if key in section]
            if unresolved:
                raise CredentialsError(
                    f"AWS profile {profile} uses {', '.join(unresolved)}, which cdpcli does not "
                    "resolve itself",
                    hint='export its credentials first: eval "$(aws configure '
                    f'export-credentials --profile {profile} --format env)"',
                )
        for source, target in (
            ("aws_access_key_id", "access_key_id"),
            ("aws_secret_access_key", "secret_access_key"),
            ("aws_session_token", "session_token"),
        ):
            if section.get(source):
                settings[target] = section[source]
    if section.get("region") and not (
        environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    ):
        settings["region"] = section["region"]
    if section.get("endpoint_url"):
        settings["endpoint"] = section["endpoint_url"]
    return settings


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or environ.get("USERPROFILE")
    return Path(home) if home else Path.home()


def _aws_file(
    environ: Mapping[str, str], variable: str, default: str
) -> configparser.RawConfigParser:
    import configparser  # only when an object store is used

    parser = configparser.RawConfigParser()
    named = environ.get(variable)
    path = Path(named).expanduser() if named else _home(environ) / default
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as error:
        raise CredentialsError(
            f"{path}: cannot read this AWS file: {error}".splitlines()[0],
            hint="fix the file (`aws configure`), or give the credentials as variables",
        ) from error
    return parser


def _gcloud_adc_file(environ: Mapping[str, str]) -> Path:
    config = environ.get("CLOUDSDK_CONFIG")
    if config:
        return Path(config) / "application_default_credentials.json"
    if os.name == "nt" and environ.get("APPDATA"):
        return Path(environ["APPDATA"]) / "gcloud" / "application_default_credentials.json"
    return _home(environ) / ".config" / "gcloud" / "application_default_credentials.json"
