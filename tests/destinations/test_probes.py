"""The probes of `config check --connect` as each kind declares them (`Destination.probes`,
`Destination.probe_verdict`): which requests, with which secrets, and what each answer means.
Pure: no server (tests/send/test_connect.py makes the requests to the fakes)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from cdpcli.destinations import registry
from cdpcli.destinations.base import REDACTED
from cdpcli.destinations.lago.destination import LagoDestination
from cdpcli.destinations.mixpanel.destination import MixpanelDestination
from cdpcli.destinations.mixpanel.probe import PROBE_RECORD

SA = {"service_account_username": "sa-user", "service_account_secret": "sa-secret"}
TOKEN = {"project_token": "tok-123"}
EVERY_TYPE = frozenset({"track", "page", "screen", "identify", "group", "alias"})


def where(key: str) -> str:
    return f"c.yaml:1: key `{key}`"


def mixpanel(secrets: dict[str, str] | None, **raw: Any) -> MixpanelDestination:
    options = MixpanelDestination.parse_options({"project_id": "42", **raw}, where)
    return MixpanelDestination("mp", options, secrets)


def lago(secrets: dict[str, str] | None) -> LagoDestination:
    return LagoDestination("billing", LagoDestination.parse_options({}, where), secrets)


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("types", "names"),
    [
        (frozenset({"track"}), ["import"]),
        (frozenset({"identify"}), ["project_token"]),
        (frozenset({"group", "page"}), ["import", "project_token"]),
        (frozenset(), ["import", "project_token"]),  # no types: any type
    ],
)
def test_mixpanel_probes_every_secret_the_routed_types_need(
    types: frozenset[str], names: list[str]
) -> None:
    destination = mixpanel({**SA, **TOKEN})
    probes = destination.probes(types)
    assert [p.name for p in probes] == names
    needed = {s.field for s in MixpanelDestination.secret_fields(destination.options, types)}
    assert {field for p in probes for field in p.fields} == needed


def test_the_mixpanel_import_probe_is_a_sends_request_with_the_probe_record() -> None:
    destination = mixpanel({**SA, **TOKEN})
    (probe,) = destination.probes(frozenset({"track"}))
    request = probe.request
    send = destination.build_request("import", b"[]")
    assert (request.method, request.url) == ("POST", send.url)
    assert request.url == "https://api.mixpanel.com/import?strict=1&project_id=42"
    assert request.headers == send.headers
    assert request.headers["Authorization"] == basic("sa-user", "sa-secret")
    assert request.gzip
    assert json.loads(request.content) == [PROBE_RECORD]
    assert probe.note == "and `project_id` in the config"


def test_the_mixpanel_token_probe_authenticates_import_with_the_token() -> None:
    destination = mixpanel({**SA, **TOKEN}, region="eu")
    (probe,) = destination.probes(frozenset({"identify"}))
    assert probe.fields == ("project_token",)
    assert probe.request.url == "https://api-eu.mixpanel.com/import?strict=1"  # no project_id
    assert probe.request.headers["Authorization"] == basic("tok-123")
    assert json.loads(probe.request.content) == [PROBE_RECORD]


def test_an_api_secret_probe_uses_the_api_secret() -> None:
    destination = mixpanel({"api_secret": "s3cr3t"}, auth="api_secret")
    (probe,) = destination.probes(frozenset({"track"}))
    assert probe.fields == ("api_secret",)
    assert probe.request.headers["Authorization"] == basic("s3cr3t")
    assert probe.note is None


def test_the_probe_record_breaks_two_strict_rules_of_the_reference() -> None:
    """reference/mixpanel.md §1.2: a time before 1971-01-01 and an `$insert_id` outside 1-36
    characters of [A-Za-z0-9-] are each refused by strict validation."""
    props = PROBE_RECORD["properties"]
    assert 0 < props["time"] < 31_536_000  # seconds, 1970
    assert re.fullmatch(r"[A-Za-z0-9-]{1,36}", props["$insert_id"]) is None
    assert props["distinct_id"] == ""  # no user


def test_lago_probes_a_read_of_billable_metrics_with_the_bearer_key() -> None:
    (probe,) = lago({"api_key": "key-1"}).probes(frozenset({"track"}))
    assert probe.request.method == "GET"
    assert probe.request.url == "https://api.getlago.com/api/v1/billable_metrics?per_page=1"
    assert probe.request.headers["Authorization"] == "Bearer key-1"
    assert probe.request.content == b""
    assert probe.fields == ("api_key",)


@pytest.mark.parametrize("kind", registry.KINDS)
def test_probes_without_secrets_show_none(kind: str) -> None:
    """A destination built for a dry run (`secrets=None`) declares the same probes, with `***`
    where a secret goes: nothing needs a secret to know where a probe goes."""
    cls = registry.get_kind(kind)
    raw = {"project_id": "42"} if kind == "mixpanel" else {}
    destination = cls("d", cls.parse_options(raw, where), None)
    for probe in destination.probes(EVERY_TYPE):
        assert probe.request.headers["Authorization"] == REDACTED


# --- verdicts --------------------------------------------------------------------------------

MP_FAILED = json.dumps(
    {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {
                "index": 0,
                "$insert_id": "x",
                "field": "properties.time",
                "message": "'properties.time' is before 1971-01-01",
            }
        ],
        "num_records_imported": 0,
        "status": "Bad Request",
    }
).encode()


@pytest.mark.parametrize("name", ["import", "project_token"])
def test_mixpanel_a_validation_refusal_of_the_record_means_accepted(name: str) -> None:
    verdict = mixpanel(None).probe_verdict(name, 400, {}, MP_FAILED)
    assert verdict.outcome == "accepted"
    assert "properties.time: 'properties.time' is before 1971-01-01" in verdict.message


@pytest.mark.parametrize("status", [401, 403])
def test_mixpanel_401_and_403_mean_refused(status: int) -> None:
    body = b'{"code":401,"error":"Invalid credentials","status":"Unauthorized"}'
    verdict = mixpanel(None).probe_verdict("import", status, {}, body)
    assert verdict.outcome == "refused"
    assert f"HTTP {status}" in verdict.message
    assert "Invalid credentials" in verdict.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, b'{"code":400,"error":"unable to parse request body"}'),  # no failed_records
        (404, b"not found"),
        (429, b'{"code":429,"error":"Project exceeded rate limits."}'),
        (503, b""),
    ],
)
def test_mixpanel_other_answers_prove_nothing(status: int, body: bytes) -> None:
    verdict = mixpanel(None).probe_verdict("import", status, {}, body)
    assert verdict.outcome == "unexpected"
    assert f"HTTP {status}" in verdict.message


def test_mixpanel_a_200_still_proves_the_credentials_and_says_what_was_imported() -> None:
    body = b'{"code":200,"num_records_imported":1,"status":"OK"}'
    verdict = mixpanel(None).probe_verdict("import", 200, {}, body)
    assert verdict.outcome == "accepted"
    assert "num_records_imported: 1" in verdict.message


def test_lago_verdicts() -> None:
    destination = lago(None)
    ok = b'{"billable_metrics":[],"meta":{"total_count":3}}'
    accepted = destination.probe_verdict("billable_metrics", 200, {}, ok)
    assert (accepted.outcome, accepted.message) == (
        "accepted",
        "Lago accepted the API key; 3 billable metric(s) defined",
    )
    unknown = destination.probe_verdict(
        "billable_metrics", 401, {}, b'{"status":401,"error":"Unauthorized"}'
    )
    assert unknown.outcome == "refused"
    assert unknown.message == "Lago does not know this API key (HTTP 401: Unauthorized)"
    scoped = destination.probe_verdict(
        "billable_metrics",
        403,
        {},
        b'{"status":403,"error":"Forbidden","code":"read_action_not_allowed_for_billable_metric"}',
    )
    assert scoped.outcome == "refused"
    assert "read_action_not_allowed_for_billable_metric" in scoped.message
    assert "write on events for a send" in scoped.message
    for status in (404, 429, 500):
        assert destination.probe_verdict("billable_metrics", status, {}, b"").outcome == (
            "unexpected"
        )
