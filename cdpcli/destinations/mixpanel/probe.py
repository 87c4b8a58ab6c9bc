"""The probes of `config check --connect` for Mixpanel (PRODUCT.md §6.1): `/import?strict=1` of
one record that strict validation refuses, so that the answer proves the credentials and nothing
is imported. Pure: no I/O.

- The /import credentials (a service account with `project_id`, or the API secret): the probe
  goes to the endpoint a send uses, with the same headers. A 400 whose `failed_records` names the
  record means "authenticated, record refused by validation" (reference/mixpanel.md §1.3);
  401/403 mean the credentials were refused.
- The project token, when identify or group events are routed here: `/engage` and `/groups`
  cannot be probed harmlessly. They answer 200 to anything, and `1` only says that some record
  was valid, not that the token is right (reference §1.4); the one way to learn whether they take
  a token is an update that applies, which writes a profile. So the token is checked where it is
  also a credential: `/import` takes `Basic <token>:` (reference §1.1), and the same refused
  record answered 400 proves that Mixpanel knows the token as a project token. (That it is the
  token of the same project as `project_id` cannot be told from outside.)
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final

from cdpcli.destinations.base import REDACTED, HttpRequest, Probe, ProbeVerdict
from cdpcli.destinations.mixpanel import http
from cdpcli.destinations.mixpanel.answers import error_text
from cdpcli.destinations.mixpanel.mapping import IMPORT
from cdpcli.destinations.mixpanel.settings import MixpanelOptions
from cdpcli.jsonio import dumps_bytes, loads_or_none

IMPORT_PROBE: Final = "import"
TOKEN_PROBE: Final = "project_token"

PROBE_RECORD: Final[dict[str, Any]] = {
    "event": "cdpcli connection check",
    "properties": {
        # Strict mode refuses a time before 1971-01-01 (reference §1.2): 86400 is
        # 1970-01-02T00:00:00Z in seconds. Not 0, which a server could read as "no time".
        "time": 86_400,
        # And an `$insert_id` outside 1-36 characters of [A-Za-z0-9-] (spaces, a colon, 40
        # characters): a second refusal, independent of the first, should one rule ever change.
        "$insert_id": "cdpcli connection check: never imported",
        # No user: were the record ever kept, no profile or identity would be touched.
        "distinct_id": "",
    },
}
"""The one record a probe sends. Each of two strict-validation rules refuses it on its own, so
Mixpanel imports nothing and says why in `failed_records`."""

PROBE_BODY: Final = dumps_bytes([PROBE_RECORD])


def _basic_token(secrets: Mapping[str, str] | None, field: str) -> str:
    if secrets is None:
        return REDACTED
    token = secrets.get(field, "")
    return "Basic " + base64.b64encode(f"{token}:".encode()).decode("ascii")


def import_probe(options: MixpanelOptions, secrets: Mapping[str, str] | None) -> Probe:
    """The probe of the /import credentials: exactly a send's request, with the probe record."""
    fields = (
        ("service_account_username", "service_account_secret")
        if options.auth == "service_account"
        else ("api_secret",)
    )
    return Probe(
        name=IMPORT_PROBE,
        checks="the /import credentials",
        fields=fields,
        request=http.build_request(options, IMPORT, PROBE_BODY, secrets),
        note="and `project_id` in the config" if options.auth == "service_account" else None,
    )


def token_probe(
    options: MixpanelOptions, secrets: Mapping[str, str] | None, token_field: str
) -> Probe:
    """The probe of the project token: /import with `Basic <token>:` and no `project_id`."""
    return Probe(
        name=TOKEN_PROBE,
        checks="the project token (for /engage and /groups)",
        fields=(token_field,),
        request=HttpRequest(
            method="POST",
            url=f"{http.host(options)}/import?strict=1",
            headers={
                "Authorization": _basic_token(secrets, token_field),
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            content=PROBE_BODY,
            gzip=True,
        ),
    )


def _first_failure(failed: list[Any]) -> str:
    first = failed[0]
    if isinstance(first, Mapping):
        message = first.get("message")
        field = first.get("field")
        if isinstance(message, str) and message:
            return f"{field}: {message}" if isinstance(field, str) and field else message
    return str(first)[:200]


def probe_verdict(probe_name: str, status: int, body: bytes) -> ProbeVerdict:
    """A 400 naming the probe record in `failed_records`: accepted (and nothing imported); 401
    or 403: refused; a 200 also proves the credentials, though the record should not have been
    imported; anything else: unexpected."""
    what = "the credentials" if probe_name == IMPORT_PROBE else "the project token"
    parsed = loads_or_none(body)
    if status == 400 and isinstance(parsed, Mapping):
        failed = parsed.get("failed_records")
        if isinstance(failed, list) and failed:
            imported = parsed.get("num_records_imported")
            if imported in (0, None):
                return ProbeVerdict(
                    "accepted",
                    f"Mixpanel accepted {what} and refused the probe record by validation, as "
                    f"intended ({_first_failure(failed)})",
                )
            return ProbeVerdict(
                "accepted",
                f"Mixpanel accepted {what}, but reports {imported} record(s) imported",
            )
    if status in (401, 403):
        return ProbeVerdict(
            "refused", f"Mixpanel refused {what} (HTTP {status}): {error_text(status, body)}"
        )
    if 200 <= status < 300:
        imported = parsed.get("num_records_imported") if isinstance(parsed, Mapping) else None
        return ProbeVerdict(
            "accepted",
            f"Mixpanel accepted {what}, but answered HTTP {status} to the probe record, which "
            f"strict validation should refuse (num_records_imported: {imported})",
        )
    return ProbeVerdict(
        "unexpected",
        f"Mixpanel answered HTTP {status} ({error_text(status, body)}), not the validation "
        "refusal of the probe record that proves the credentials",
    )
