"""Mixpanel endpoints, requests and responses: reference/mixpanel.md §1, §3g, M15, M16."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cdpcli import jsonio
from cdpcli.destinations.base import Endpoint, Verdict
from cdpcli.destinations.mixpanel import answers, http
from cdpcli.destinations.mixpanel.answers import SIMPLIFIED_HINT
from cdpcli.destinations.mixpanel.settings import MixpanelOptions
from cdpcli.errors import CredentialsError

SA = MixpanelOptions(project_id="3141592")
SA_SECRETS = {"service_account_username": "sa.user", "service_account_secret": "s3cret"}
NOW = 1_700_000_000.0


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---------------------------------------------------------------- M15: hosts and auth


@pytest.mark.parametrize(
    ("options", "import_url", "engage_url", "groups_url"),
    [
        (
            SA,
            "https://api.mixpanel.com/import?strict=1&project_id=3141592",
            "https://api.mixpanel.com/engage?verbose=1",
            "https://api.mixpanel.com/groups?verbose=1",
        ),
        (
            MixpanelOptions(project_id="3141592", region="eu"),
            "https://api-eu.mixpanel.com/import?strict=1&project_id=3141592",
            "https://api-eu.mixpanel.com/engage?verbose=1",
            "https://api-eu.mixpanel.com/groups?verbose=1",
        ),
        (
            MixpanelOptions(project_id="3141592", region="in"),
            "https://api-in.mixpanel.com/import?strict=1&project_id=3141592",
            "https://api-in.mixpanel.com/engage?verbose=1",
            "https://api-in.mixpanel.com/groups?verbose=1",
        ),
        (
            MixpanelOptions(auth="api_secret"),
            "https://api.mixpanel.com/import?strict=1",
            "https://api.mixpanel.com/engage?verbose=1",
            "https://api.mixpanel.com/groups?verbose=1",
        ),
        (
            MixpanelOptions(project_id="3141592", region="eu", api_url="http://127.0.0.1:8765/"),
            "http://127.0.0.1:8765/import?strict=1&project_id=3141592",
            "http://127.0.0.1:8765/engage?verbose=1",
            "http://127.0.0.1:8765/groups?verbose=1",
        ),
    ],
)
def test_m15_endpoint_urls(
    options: MixpanelOptions, import_url: str, engage_url: str, groups_url: str
) -> None:
    eps = http.endpoints(options)
    assert {name: ep.url for name, ep in eps.items()} == {
        "import": import_url,
        "engage": engage_url,
        "groups": groups_url,
    }


def test_endpoint_limits() -> None:
    eps = http.endpoints(SA)
    mb = 1024 * 1024
    assert eps["import"] == Endpoint("import", eps["import"].url, 2000, 10 * mb, 1 * mb, gzip=True)
    for name in ("engage", "groups"):
        assert eps[name] == Endpoint(name, eps[name].url, 2000, 10 * mb, 1 * mb, gzip=False)


ITEMS = [{"event": "E", "properties": {"time": 1, "distinct_id": "u", "$insert_id": "a"}}]


@pytest.mark.parametrize(
    ("options", "secrets", "authorization"),
    [
        (SA, SA_SECRETS, basic("sa.user", "s3cret")),
        (MixpanelOptions(auth="api_secret"), {"api_secret": "abc123"}, basic("abc123", "")),
        (SA, None, "***"),
        (MixpanelOptions(auth="api_secret"), None, "***"),
    ],
)
def test_m15_import_request(
    options: MixpanelOptions, secrets: dict[str, str] | None, authorization: str
) -> None:
    for endpoint in ("import", http.endpoints(options)["import"]):
        request = http.build_request(options, endpoint, jsonio.dumps_bytes(ITEMS), secrets)
        assert request.method == "POST"
        assert request.url == http.endpoints(options)["import"].url
        assert request.headers == {
            "Authorization": authorization,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        assert request.content == jsonio.dumps_bytes(ITEMS)
        assert request.gzip is True


@pytest.mark.parametrize("endpoint", ["engage", "groups"])
@pytest.mark.parametrize("secrets", [None, {"project_token": "tok"}])
def test_m15_profile_requests_have_no_authorization(
    endpoint: str, secrets: dict[str, str] | None
) -> None:
    items = [{"$token": "***", "$distinct_id": "u", "$set": {"a": 1}}]
    request = http.build_request(SA, endpoint, jsonio.dumps_bytes(items), secrets)
    assert request.url == f"https://api.mixpanel.com/{endpoint}?verbose=1"
    assert request.headers == {"Content-Type": "application/json"}
    assert request.content == jsonio.dumps_bytes(items)
    assert request.gzip is False


@pytest.mark.parametrize(
    ("options", "secrets", "field"),
    [
        (SA, {}, "service_account_username"),
        (SA, {"service_account_username": "u"}, "service_account_secret"),
        (MixpanelOptions(auth="api_secret"), {"api_secret": ""}, "api_secret"),
    ],
)
def test_missing_secret_is_a_credentials_error(
    options: MixpanelOptions, secrets: dict[str, str], field: str
) -> None:
    with pytest.raises(CredentialsError) as info:
        http.build_request(options, "import", jsonio.dumps_bytes(ITEMS), secrets)
    assert f"`{field}`" in info.value.message


def test_secret_never_in_dry_run_request() -> None:
    request = http.build_request(SA, "import", jsonio.dumps_bytes(ITEMS), None)
    assert "s3cret" not in jsonio.dumps(request.headers)


# ---------------------------------------------------------------- M16 and /import responses


def records(n: int) -> list[dict[str, Any]]:
    return [
        {"event": "E", "properties": {"time": 1, "distinct_id": "u", "$insert_id": f"x{i}"}}
        for i in range(n)
    ]


def body(value: Any) -> bytes:
    return jsonio.dumps(value).encode()


M16_PARTIAL = body(
    {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {
                "index": 1,
                "$insert_id": "x1",
                "field": "properties.time",
                "message": "'properties.time' is invalid: "
                "must not be more than 1 hour in the future",
            },
            {
                "index": 3,
                "insert_id": "x3",
                "field": "properties.utm_source",
                "message": "properties.utm_source is invalid: string should be valid utf8",
            },
        ],
        "num_records_imported": 2,
        "status": "Bad Request",
    }
)
SIMPLIFIED_MSG = (
    "identity events are not allowed when project is using simplified identity management"
)


def failed(entries: list[Any], imported: int | None) -> bytes:
    data: dict[str, Any] = {"code": 400, "error": "…", "failed_records": entries}
    if imported is not None:
        data["num_records_imported"] = imported
    data["status"] = "Bad Request"
    return body(data)


def test_m16_partial_success_index_keyed_both_spellings() -> None:
    verdict = answers.parse_response("import", records(4), 400, {}, M16_PARTIAL)
    assert verdict == Verdict(
        "settled",
        items={
            1: (
                "rejected",
                "properties.time: 'properties.time' is invalid: "
                "must not be more than 1 hour in the future",
            ),
            3: (
                "rejected",
                "properties.utm_source: properties.utm_source is invalid: "
                "string should be valid utf8",
            ),
        },
    )


def test_m16_plain_string_with_nothing_imported_rejects_all_with_hint() -> None:
    verdict = answers.parse_response("import", records(4), 400, {}, failed([SIMPLIFIED_MSG], 0))
    expected = ("rejected", f"{SIMPLIFIED_MSG} (hint: {SIMPLIFIED_HINT})")
    assert verdict == Verdict("settled", items=dict.fromkeys(range(4), expected))
    assert "identity: simplified" in SIMPLIFIED_HINT


@pytest.mark.parametrize(
    ("entries", "imported", "expected"),
    [
        # No index, but an insert id of the batch (either spelling): attributed.
        (
            [{"$insert_id": "x2", "field": "f", "message": "m"}],
            3,
            {2: ("rejected", "f: m")},
        ),
        (
            [{"insert_id": "x0", "message": "m"}],
            3,
            {0: ("rejected", "m")},
        ),
        # Index out of range and unknown insert id: unattributable; some were imported.
        (
            [{"index": 9, "insert_id": "zz", "field": "f", "message": "m"}],
            2,
            dict.fromkeys(range(3), ("rejected", "f: m (Mixpanel may have imported it)")),
        ),
        # A string plus an attributed record: the attributed one keeps its own reason.
        (
            [{"index": 0, "field": "f", "message": "bad"}, "odd"],
            1,
            {
                0: ("rejected", "f: bad"),
                1: ("rejected", "odd (Mixpanel may have imported it)"),
                2: ("rejected", "odd (Mixpanel may have imported it)"),
            },
        ),
        # Strings and nothing imported: every record rejected with those messages.
        (
            ["a", "b", "a"],
            0,
            dict.fromkeys(range(3), ("rejected", "a; b")),
        ),
        # No num_records_imported at all: cannot know, so "may have imported".
        (["a"], None, dict.fromkeys(range(3), ("rejected", "a (Mixpanel may have imported it)"))),
    ],
)
def test_unattributable_failed_records(
    entries: list[Any], imported: int | None, expected: dict[int, tuple[str, str]]
) -> None:
    verdict = answers.parse_response("import", records(3), 400, {}, failed(entries, imported))
    assert verdict.kind == "settled"
    assert dict(verdict.items) == expected


@pytest.mark.parametrize(
    ("status", "headers", "raw", "expected"),
    [
        (200, {}, body({"code": 200, "num_records_imported": 3}), Verdict("settled")),
        (200, {}, b"<html>ok</html>", Verdict("settled")),
        (
            401,
            {},
            body({"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}),
            Verdict(
                "auth", message="Mixpanel refused the credentials (HTTP 401): Invalid credentials"
            ),
        ),
        (
            403,
            {},
            b"",
            Verdict("auth", message="Mixpanel refused the credentials (HTTP 403): HTTP 403"),
        ),
        (
            413,
            {},
            body({"code": 413, "error": "request exceeds max limit of 2097152 bytes"}),
            Verdict("split", message="request exceeds max limit of 2097152 bytes"),
        ),
        (
            429,
            {"Retry-After": "7"},
            body({"code": 429, "error": "Project exceeded rate limits. Please retry"}),
            Verdict("retry", message="Project exceeded rate limits. Please retry", retry_after=7.0),
        ),
        (502, {}, b"Bad Gateway", Verdict("retry", message="Bad Gateway")),
        (
            503,
            {"x-ratelimit-reset": "12"},
            b"",
            Verdict("retry", message="HTTP 503", retry_after=12.0),
        ),
        (
            400,
            {},
            body({"code": 400, "error": "unable to parse body", "status": "Bad Request"}),
            Verdict(
                "reject_all",
                message="Mixpanel refused the request (HTTP 400): unable to parse body",
            ),
        ),
        (
            404,
            {},
            b"not found",
            Verdict("reject_all", message="Mixpanel refused the request (HTTP 404): not found"),
        ),
    ],
)  # fmt: skip
def test_import_responses(
    status: int, headers: dict[str, str], raw: bytes, expected: Verdict
) -> None:
    assert answers.parse_response("import", records(3), status, headers, raw, now=NOW) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),  # NOW + 30 s
        ({"Retry-After": "Tue, 14 Nov 2023 22:12:00 GMT"}, 0.0),  # in the past
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "soon", "X-RateLimit-Reset": "4"}, 4.0),
        ({"X-RateLimit-Reset": "1700000045"}, 45.0),  # an epoch time
        ({"Retry-After": "-3"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    verdict = answers.parse_response("import", records(3), 429, headers, b"", now=NOW)
    assert verdict.kind == "retry"
    assert verdict.retry_after == expected


# ---------------------------------------------------------------- /engage and /groups responses

PROFILE_ITEMS = [{"$token": "t", "$distinct_id": "u", "$set": {}}] * 2


@pytest.mark.parametrize("endpoint", ["engage", "groups"])
@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        (200, b'{"status":1,"error":null}', Verdict("settled")),
        (200, b"1", Verdict("settled")),
        (200, b"", Verdict("settled")),
        (
            200,
            b'{"status":0,"error":"$token is invalid"}',
            Verdict("reject_all", message="Mixpanel rejected the updates: $token is invalid"),
        ),
        (
            200,
            b"0",
            Verdict(
                "reject_all",
                message="Mixpanel rejected the updates: no update was valid (response 0)",
            ),
        ),
        (
            401,
            b'{"error":"bad","status":"error"}',
            Verdict("auth", message="Mixpanel refused the credentials (HTTP 401): bad"),
        ),
        (413, b"too big", Verdict("split", message="too big")),
        (500, b"", Verdict("retry", message="HTTP 500")),
        (
            400,
            b'{"error":"invalid data","status":"error"}',
            Verdict("reject_all", message="Mixpanel refused the request (HTTP 400): invalid data"),
        ),
    ],
)  # fmt: skip
def test_profile_responses(endpoint: str, status: int, raw: bytes, expected: Verdict) -> None:
    assert answers.parse_response(endpoint, PROFILE_ITEMS, status, {}, raw, now=NOW) == expected
